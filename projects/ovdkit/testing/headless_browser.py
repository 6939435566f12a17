"""Headless Chromium for page tests and screenshots: Debian's ``chromium`` and
``chromium-driver`` found on PATH, driven by selenium.

Nothing here installs them: the project's set-up does (``tools/setup_env.sh`` as root with
``CI=1`` or ``OVDKIT_BROWSER=1``, as ``.ci/run`` runs it).
"""
import shutil
from typing import Optional, Tuple

BROWSERS = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
DRIVERS = ('chromedriver', 'chromium-driver')
#: How to install them, for messages.
INSTALL_HINT = ('install them as root with `OVDKIT_BROWSER=1 bash tools/setup_env.sh` (or '
                '`apt-get install chromium chromium-driver`)')


class BrowserUnavailable(RuntimeError):
    """No headless Chromium here; the message says why and how to install it."""


def find_chromium() -> Tuple[Optional[str], Optional[str]]:
    """Paths of a Chromium browser and its chromedriver on PATH (``None`` where missing)."""
    browser = next((shutil.which(n) for n in BROWSERS if shutil.which(n)), None)
    driver = next((shutil.which(n) for n in DRIVERS if shutil.which(n)), None)
    return browser, driver


def ensure_chromium() -> Tuple[str, str]:
    """Chromium and chromedriver paths.

    Raises:
        BrowserUnavailable: they are not on PATH (the message says how to install them), or
            selenium is not installed.
    """
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserUnavailable('selenium is not installed (requirements/tests.txt)') from None
    browser, driver = find_chromium()
    if browser is None or driver is None:
        missing = [n for n, p in (('chromium', browser), ('chromedriver', driver)) if p is None]
        raise BrowserUnavailable(f'{" and ".join(missing)} not found on PATH (Debian packages '
                                 f'chromium and chromium-driver): {INSTALL_HINT}')
    return browser, driver


def start_chromium(width: int = 1280, height: int = 900):
    """A headless Chromium driven by selenium (call ``.quit()`` when done).

    Args:
        width: Window width in CSS pixels (screenshots have this size).
        height: Window height.

    Raises:
        BrowserUnavailable: see :func:`ensure_chromium`; or the browser did not start.
    """
    browser, driver = ensure_chromium()
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                '--disable-extensions', '--no-first-run', '--hide-scrollbars',
                f'--window-size={width},{height}'):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except WebDriverException as exc:
        first = (exc.msg or str(exc)).strip().splitlines()[0]
        raise BrowserUnavailable(f'{browser} with {driver} did not start: {first}') from None
