"""The web demo's HTTP server: one page, a JSON API, and every detection run by one worker.

Routes:
    ``GET /``: the page (``page.html``, one static file with its script).
    ``GET /api/info``: the model, the initial vocabulary, the example images and the limits.
    ``GET /api/example/<name>``: an example image (only the names ``/api/info`` lists).
    ``POST /api/detect``: JSON ``{"image": base64 file | "example": name, "filename",
    "vocabulary", "score_thr", "exemplars"}`` -> the :meth:`DemoSession.detect` result; an error is
    ``{"error": message}`` with status 400 (bad input), 413 (too large), 503 (busy, or the
    server stopping), 504 (waited too long) or 500 (a failure of the server, logged with its
    traceback).
"""
import base64
import binascii
import json
import mimetypes
import re
import sys
import time
import traceback
from concurrent.futures import CancelledError
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Mapping, Optional
from urllib.parse import unquote

from ..detection_records import one_line
from .serial_worker import BusyError, SerialWorker
from .session import DemoInputError, DemoSession

PAGE = Path(__file__).with_name('page.html')
#: Room in a request body beyond the base64 image: vocabulary, threshold, names.
BODY_MARGIN = 2 ** 20
#: An absolute file path in a message (after its start, a blank, a quote, a bracket, ``=`` or
#: ``:``): the server's folders are not the visitor's business.
_ABSOLUTE_PATH = re.compile(r'(?:(?<=^)|(?<=[\s\'"(\[=:]))(?:/[^\s\'"/)\],;]+)+/?')


def hide_server_paths(message: str) -> str:
    """``message`` with every absolute path cut to its last part (``.../name``): error answers
    name the file at fault without showing where the server keeps it."""
    return _ABSOLUTE_PATH.sub(lambda m: '.../' + m.group(0).rstrip('/').rsplit('/', 1)[-1],
                              message)


class WebDemoServer(ThreadingHTTPServer):
    """Serves a :class:`DemoSession` to browsers.

    Connections are handled by threads (reading a request and writing its answer never
    wait for a detection), detections by one :class:`SerialWorker` thread, one at a time.

    Args:
        session: The detector and its limits.
        host: Address to bind. ``127.0.0.1`` (the default) serves this machine only;
            ``0.0.0.0`` serves every network this machine is on.
        port: Port to bind; 0 picks a free one (see :attr:`url`).
        info: What ``/api/info`` tells the page (model name, initial vocabulary and
            threshold); ``examples`` and ``limits`` are added here.
        examples: Example images offered on the page, ``{name: path}``.
        max_pending: Requests admitted at once; more are refused as busy.
        request_timeout: Seconds a request waits for its detection before a 504.
        log: Write one line per request to stderr.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: a burst of connections is not dropped

    def __init__(self, session: DemoSession, host: str = '127.0.0.1', port: int = 7860,
                 info: Optional[Dict] = None, examples: Optional[Mapping[str, Path]] = None,
                 max_pending: int = 32, request_timeout: float = 300.0,
                 log: bool = False) -> None:
        self.session = session
        self.examples = {name: Path(path) for name, path in (examples or {}).items()}
        self.request_timeout = request_timeout
        self.log = log
        limits = session.limits
        self.info = dict(info or {}, examples=list(self.examples), limits=dict(
            max_names=limits.max_names, max_image_side=limits.max_image_side,
            max_image_pixels=limits.max_image_pixels,
            max_upload_bytes=limits.max_upload_bytes, max_pending=max_pending))
        self.worker = SerialWorker(max_pending)
        super().__init__((host, port), WebDemoHandler)

    @property
    def url(self) -> str:
        """The page's address."""
        host, port = self.server_address[:2]
        return f'http://{host}:{port}/'

    def server_close(self) -> None:
        """Closes the socket and stops the worker (the running detection ends, the waiting
        ones are answered 503)."""
        super().server_close()
        self.worker.close(timeout=self.request_timeout)


class WebDemoHandler(BaseHTTPRequestHandler):
    """One HTTP request of a :class:`WebDemoServer`."""

    server: WebDemoServer
    server_version = 'OVDKitWebDemo'
    timeout = 60  # seconds a client may stall while sending its request

    # -- answers ---------------------------------------------------------------------------
    def send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.send_header('X-Content-Type-Options', 'nosniff')
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, obj) -> None:
        if status != 200 and isinstance(obj.get('error'), str):
            obj = dict(obj, error=hide_server_paths(obj['error']))
        self.send_bytes(status, json.dumps(obj).encode(), 'application/json')

    def send_error_json(self, status: int, message: str) -> None:
        self.send_json(status, dict(error=message))

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (the base's name)
        if self.server.log:
            super().log_message(format, *args)

    # -- routes ----------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        path = self.path.split('?', 1)[0]
        if path in ('/', '/index.html'):
            self.send_bytes(200, PAGE.read_bytes(), 'text/html; charset=utf-8')
        elif path == '/api/info':
            self.send_json(200, self.server.info)
        elif path.startswith('/api/example/'):
            name = unquote(path[len('/api/example/'):])
            file = self.server.examples.get(name)
            if file is None:
                self.send_error_json(404, f'no example image named {name!r}')
                return
            content_type = mimetypes.guess_type(file.name)[0] or 'application/octet-stream'
            self.send_bytes(200, file.read_bytes(), content_type)
        elif path == '/favicon.ico':
            self.send_response(204)
            self.end_headers()
        else:
            self.send_error_json(404, f'no page {path}')

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split('?', 1)[0] != '/api/detect':
            self.send_error_json(404, f'no API {self.path}')
            return
        start = time.perf_counter()
        try:
            with self.server.worker.slot():
                status, answer = self.detect()
        except BusyError as exc:
            self.drain_body()
            status, answer = 503, dict(error=str(exc))
        if status == 200:
            answer['seconds'] = round(time.perf_counter() - start, 3)
        self.send_json(status, answer)

    # -- detection ---------------------------------------------------------------------------
    def drain_body(self) -> None:
        """Reads and drops the request body (so the client can read the answer), or closes
        the connection after answering when the body is too large to bother."""
        length = self.content_length()
        if length is None or length > 4 * self.max_body():
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 2 ** 20))
            if not chunk:
                break
            length -= len(chunk)

    def content_length(self) -> Optional[int]:
        try:
            return int(self.headers.get('Content-Length', ''))
        except ValueError:
            return None

    def max_body(self) -> int:
        return self.server.session.limits.max_upload_bytes * 4 // 3 + BODY_MARGIN

    def read_request(self) -> Dict:
        """The request's JSON body, with its image file as ``bytes`` under ``data``.

        Raises:
            DemoInputError: no body, too large, not JSON, no image, unknown example.
        """
        length = self.content_length()
        if length is None:
            self.close_connection = True
            raise DemoInputError('request: no Content-Length')
        limit = self.server.session.limits.max_upload_bytes
        if length > self.max_body():
            self.drain_body()
            raise DemoInputError(f'request: {length / 2 ** 20:.1f} MB, larger than the upload '
                                 f'limit of {limit / 2 ** 20:g} MB (--max-upload-mb)', 413)
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            raise DemoInputError('request: the body is not JSON') from None
        if not isinstance(request, dict):
            raise DemoInputError('request: the body is not a JSON object')
        if request.get('example'):
            name = str(request['example'])
            if name not in self.server.examples:
                raise DemoInputError(f'image: no example image named {name!r}')
            request['filename'] = name
            request['data'] = self.server.examples[name].read_bytes()
        elif isinstance(request.get('image'), str) and request['image']:
            encoded = request['image']
            if encoded.startswith('data:'):
                encoded = encoded.split(',', 1)[-1]  # a data URL as FileReader gives it
            try:
                request['data'] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise DemoInputError('image: the upload is not base64 data') from None
        else:
            raise DemoInputError('image: no image given (upload one or pick an example)')
        return request

    def detect(self):
        """Runs one detection request; returns ``(status, answer)``."""
        try:
            request = self.read_request()
            name = str(request.get('filename') or 'upload')[:200]
            result = self.server.worker.run(
                self.server.session.detect, request['data'], request.get('vocabulary', ''),
                request.get('score_thr', 0.3), name, request.get('exemplars'),
                timeout=self.server.request_timeout)
            return 200, result
        except DemoInputError as exc:
            return exc.status, dict(error=str(exc))
        except CancelledError:
            return 503, dict(error='the server is stopping; this request was not run')
        except TimeoutError:
            return 504, dict(error=f'no result within {self.server.request_timeout:g} s '
                                   f'(--request-timeout); the server is overloaded')
        except Exception as exc:  # noqa: BLE001  (the server stays up; the page says why)
            traceback.print_exc(file=sys.stderr)
            return 500, dict(error=f'server error: {type(exc).__name__}: {one_line(exc)}')
