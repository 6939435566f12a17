"""Headless Chromium for page tests and screenshots: Debian's ``chromium`` and
``chromium-driver`` found on PATH or installed with apt, driven by selenium."""
import os
import shutil
import subprocess
from typing import Optional, Tuple

BROWSERS = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
DRIVERS = ('chromedriver', 'chromium-driver')
APT_PACKAGES = ('chromium', 'chromium-driver')


class BrowserUnavailable(RuntimeError):
    """No headless Chromium here, and none could be installed; the message says why."""


def find_chromium() -> Tuple[Optional[str], Optional[str]]:
    """Paths of a Chromium browser and its chromedriver on PATH (``None`` where missing)."""
    browser = next((shutil.which(n) for n in BROWSERS if shutil.which(n)), None)
    driver = next((shutil.which(n) for n in DRIVERS if shutil.which(n)), None)
    return browser, driver


def install_chromium(timeout: float = 900) -> None:
    """``apt-get update`` then ``apt-get install -y chromium chromium-driver``.

    Raises:
        BrowserUnavailable: not root, no apt-get, or apt failed (its last output lines).
    """
    if os.name != 'posix' or os.geteuid() != 0:
        raise BrowserUnavailable('chromium / chromedriver are not on PATH and installing them '
                                 '(apt-get install chromium chromium-driver) needs root')
    if shutil.which('apt-get') is None:
        raise BrowserUnavailable('chromium / chromedriver are not on PATH and there is no '
                                 'apt-get to install them')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for cmd in (['apt-get', 'update', '-q'],
                ['apt-get', 'install', '-y', '-q', *APT_PACKAGES]):
        try:
            proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BrowserUnavailable(f'{" ".join(cmd)} took more than {timeout:g} s') from None
        if proc.returncode != 0:
            tail = ' | '.join(proc.stdout.strip().splitlines()[-3:])
            raise BrowserUnavailable(f'{" ".join(cmd)} failed ({proc.returncode}): {tail}')


def ensure_chromium(install: bool = True) -> Tuple[str, str]:
    """Chromium and chromedriver paths, installing them with apt when missing and allowed.

    Raises:
        BrowserUnavailable: they are missing and cannot be installed (or ``install`` is
            false), or selenium is not installed.
    """
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserUnavailable('selenium is not installed (requirements/tests.txt)') from None
    browser, driver = find_chromium()
    if (browser is None or driver is None) and install:
        install_chromium()
        browser, driver = find_chromium()
    if browser is None or driver is None:
        missing = [n for n, p in (('chromium', browser), ('chromedriver', driver)) if p is None]
        raise BrowserUnavailable(f'{" and ".join(missing)} not found on PATH (Debian packages '
                                 f'chromium and chromium-driver)')
    return browser, driver


def start_chromium(width: int = 1280, height: int = 900, install: bool = True):
    """A headless Chromium driven by selenium (call ``.quit()`` when done).

    Args:
        width: Window width in CSS pixels (screenshots have this size).
        height: Window height.
        install: Install Chromium with apt when it is missing (root only).

    Raises:
        BrowserUnavailable: see :func:`ensure_chromium`; or the browser did not start.
    """
    browser, driver = ensure_chromium(install)
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
