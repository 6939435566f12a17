"""The web demo behind ``tools/webdemo.py``: a page to pick an image, type names and see the
detections, served by a small stdlib HTTP server with one detection worker."""
from .serial_worker import BusyError, SerialWorker
from .server import WebDemoServer
from .session import DemoInputError, DemoLimits, DemoSession

__all__ = ['BusyError', 'DemoInputError', 'DemoLimits', 'DemoSession', 'SerialWorker',
           'WebDemoServer']
