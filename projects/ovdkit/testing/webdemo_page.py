"""The web demo's page (``tools/webdemo.py``) as a person uses it, through selenium."""
from pathlib import Path
from typing import Dict, List, Union


class WebDemoPage:
    """Drives the web demo's page in a selenium browser.

    Args:
        driver: A selenium WebDriver (:func:`ovdkit.testing.start_chromium`).
        url: The page's address.
        timeout: Seconds to wait for the page to load and for each detection.
    """

    def __init__(self, driver, url: str, timeout: float = 60.0) -> None:
        self.driver = driver
        self.timeout = timeout
        driver.get(url)
        self.wait_for(lambda d: d.find_element('tag name', 'body').get_attribute('data-state')
                      != 'loading', 'the page to load')

    def wait_for(self, condition, what: str) -> None:
        """Waits for ``condition(driver)`` to be true.

        Raises:
            TimeoutError: not within ``timeout`` seconds, naming ``what``.
        """
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            WebDriverWait(self.driver, self.timeout, poll_frequency=0.05).until(condition)
        except TimeoutException:
            raise TimeoutError(f'waited {self.timeout:g} s for {what}') from None

    def element(self, element_id: str):
        return self.driver.find_element('id', element_id)

    @property
    def state(self) -> str:
        """``idle``, ``running``, ``done`` (a result shown) or ``error`` (a message shown)."""
        return self.driver.find_element('tag name', 'body').get_attribute('data-state')

    def upload(self, path: Union[str, Path]) -> None:
        """Chooses a file with the page's file input, as a person does."""
        self.element('file').send_keys(str(Path(path).resolve()))
        self.wait_for(lambda d: self.element('detect').is_enabled()
                      or self.message(), f'{path} to be read')

    def pick_example(self, name: str) -> None:
        """Clicks the example image ``name``."""
        self.driver.find_element('css selector', f'#examples button[data-name="{name}"]').click()

    def set_vocabulary(self, text: str) -> None:
        box = self.element('vocabulary')
        box.clear()
        box.send_keys(text)

    def set_score_thr(self, value: float) -> None:
        """Moves the threshold slider to ``value`` (``input`` event only: no new detection)."""
        self.driver.execute_script(
            "const s = document.getElementById('score-thr'); s.value = arguments[0]; "
            "s.dispatchEvent(new Event('input'));", value)

    def draw_box(self, x1: float, y1: float, x2: float, y2: float) -> None:
        """Drags the mouse over the image from ``(x1, y1)`` to ``(x2, y2)`` (image pixels), as
        a person draws an example box."""
        from selenium.webdriver import ActionChains
        self.wait_for(lambda d: d.execute_script(
            'const p = document.getElementById("preview"); return p.complete && '
            'p.naturalWidth > 0 && document.getElementById("draw").width > 0'),
            'the image to be shown')
        canvas = self.element('draw')
        scale = self.driver.execute_script(
            'const p = document.getElementById("preview"); return p.naturalWidth / p.clientWidth')
        size = canvas.size
        offset = lambda x, y: (round(x / scale - size['width'] / 2),  # noqa: E731
                               round(y / scale - size['height'] / 2))  # from the centre
        start, end = offset(x1, y1), offset(x2, y2)
        ActionChains(self.driver).move_to_element_with_offset(canvas, *start).click_and_hold() \
            .move_to_element_with_offset(canvas, *end).release().perform()

    def drawn_boxes(self) -> List[List[float]]:
        """The example boxes the page will send, in image pixels."""
        return self.driver.execute_script('return drawn;')

    def set_example_name(self, text: str) -> None:
        box = self.element('example-name')
        box.clear()
        box.send_keys(text)

    def detect(self, button: str = 'detect') -> str:
        """Clicks Detect (or ``'find-more'``) and waits for the answer; returns the new
        :attr:`state`."""
        before = int(self.driver.find_element('tag name', 'body').get_attribute('data-requests'))
        self.element(button).click()
        self.wait_for(lambda d: int(d.find_element('tag name', 'body')
                                    .get_attribute('data-requests')) > before,
                      'the detection result')
        return self.state

    def message(self) -> str:
        """The error message shown (empty when none)."""
        element = self.element('message')
        return element.text if element.is_displayed() else ''

    def detections(self) -> List[Dict]:
        """The detections table: ``[{'name', 'score', 'bbox'}, ...]`` as shown (rounded)."""
        rows = []
        for row in self.driver.find_elements('css selector', '#detections tbody tr'):
            cells = [c.text for c in row.find_elements('tag name', 'td')]
            rows.append(dict(name=cells[1], score=float(cells[2]),
                             bbox=[float(v) for v in cells[3].split(',')]))
        return rows

    def screenshot(self, path: Union[str, Path], full_page: bool = True) -> None:
        """Saves the page as PNG: all of it (the window made as tall as the page first) or
        the visible part."""
        if full_page:
            width = self.driver.get_window_size()['width']
            inner = self.driver.execute_script('return window.innerHeight')
            outer = self.driver.get_window_size()['height']
            page = self.driver.execute_script('return document.documentElement.scrollHeight')
            self.driver.set_window_size(width, page + outer - inner)
        self.driver.save_screenshot(str(path))
