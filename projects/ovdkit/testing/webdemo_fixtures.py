"""What the web demo's tests share (tests/test_tools/test_webdemo*.py): a fixture-scale demo
model, a server in this process on a free port, and a client."""
import base64
import contextlib
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Tuple

import cv2
import numpy as np

from ..apis import OVDInferencer
from ..apis.detection_records import detection_records
from ..apis.webdemo import DemoLimits, DemoSession, WebDemoServer
from .detectors import VILD_TEXT_CONFIG, build_checkpoint, toy_scenes

#: The fixture model's training vocabulary is ['red star', 'blue circle'] (build_checkpoint):
#: 'zebra' is a name it never saw.
VOCABULARY = 'red star, blue circle, zebra'


def demo_model(work: Path) -> Dict:
    """A random-init toy ViLD-text detector (:func:`build_checkpoint`), three scenes written
    as PNG files, and the inferencer; the vocabulary :data:`VOCABULARY` is embedded once so
    that requests for it are cache hits."""
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, work)
    images = work / 'images'
    images.mkdir(exist_ok=True)
    for i, image in enumerate(toy_scenes(3)):
        cv2.imwrite(str(images / f'scene{i}.png'), image)
    inferencer = OVDInferencer(config, checkpoint, vocabulary=VOCABULARY.split(','))
    return dict(config=config, checkpoint=checkpoint, images=images, inferencer=inferencer)


def expected_detections(inferencer: OVDInferencer, image: Path, vocabulary: str,
                        score_thr: float):
    """What a direct inferencer call finds, as the demo lists it."""
    bgr = cv2.imread(str(image))
    pred = inferencer(bgr, vocabulary=vocabulary.split(','), pred_score_thr=score_thr,
                      no_save_pred=True)['predictions'][0]
    return detection_records(pred, score_thr)


@contextlib.contextmanager
def serving(inferencer: OVDInferencer, examples: Path = None,
            limits: DemoLimits = DemoLimits(), max_vocabularies: int = 32,
            **kwargs) -> Iterator[WebDemoServer]:
    """A :class:`WebDemoServer` on 127.0.0.1 and a free port, served by a thread
    (``max_vocabularies``: the session's bound on typed vocabularies kept in the cache)."""
    example_files = {p.name: p for p in sorted(examples.glob('*.png'))} if examples else {}
    session = DemoSession(inferencer, limits, max_vocabularies=max_vocabularies)
    server = WebDemoServer(session, '127.0.0.1', 0,
                           info=dict(model='fixture', vocabulary=VOCABULARY, score_thr=0.3),
                           examples=example_files, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05),
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        assert not thread.is_alive(), 'the web demo server thread did not stop within 10 s'


def request(url: str, body=None, timeout: float = 120) -> Tuple[int, object]:
    """GET (``body`` None) or POST JSON; returns (status, decoded JSON or bytes)."""
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw, kind = response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        status, raw, kind = err.code, err.read(), err.headers
    if kind.get('Content-Type', '').startswith('application/json'):
        return status, json.loads(raw)
    return status, raw


def detect(server: WebDemoServer, image=None, vocabulary: str = VOCABULARY,
           score_thr: float = 0.0, filename: str = 'upload.png', **extra):
    """POSTs a detection request (``image``: a file path, bytes or a BGR array)."""
    body = dict(vocabulary=vocabulary, score_thr=score_thr, filename=filename, **extra)
    if isinstance(image, np.ndarray):
        image = cv2.imencode('.png', image)[1].tobytes()
    elif isinstance(image, (str, Path)):
        image = Path(image).read_bytes()
    if image is not None:
        body['image'] = base64.b64encode(image).decode()
    return request(server.url + 'api/detect', body)


def rss_bytes() -> int:
    """Resident memory of this process (``VmRSS``)."""
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
    raise RuntimeError('no VmRSS in /proc/self/status')
