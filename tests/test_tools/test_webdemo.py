"""The web demo's server (tools/webdemo.py) in this process: results equal the inferencer's,
vocabularies swapped without rebuilding, the score threshold applied, bad input answered with
a message while the server stays up, a burst of concurrent requests served one at a time
within bounded memory, and the embedding cache of typed vocabularies bounded. Every wait has
a timeout and fails with a message saying what it waited for."""
import base64
import gc
import json
import struct
import threading
import time
import zlib
from concurrent.futures import CancelledError

import cv2
import numpy as np
import pytest
from mmdet.registry import MODELS

from ovdkit.apis.webdemo import DemoLimits, SerialWorker
from ovdkit.apis.webdemo.session import parse_vocabulary
from ovdkit.testing.webdemo_fixtures import (VOCABULARY, demo_model, detect, expected_detections,
                                             request, rss_bytes, serving)
from ovdkit.text import CLIPTextEncoder


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return demo_model(tmp_path_factory.mktemp('webdemo'))


def wait_for(condition, what: str, timeout: float = 30) -> None:
    """Polls ``condition()`` until true; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(0.01)


def joined(thread: threading.Thread, what: str, timeout: float = 30) -> None:
    """Joins ``thread``; fails naming ``what`` if it is still running after ``timeout``."""
    thread.join(timeout)
    assert not thread.is_alive(), f'{what} still running after {timeout:g} s'


def set_within(event: threading.Event, what: str, timeout: float = 30) -> None:
    assert event.wait(timeout), f'timed out after {timeout:g} s waiting for {what}'


def test_page_info_and_examples(model):
    with serving(model['inferencer'], model['images']) as server:
        assert server.server_address[0] == '127.0.0.1'
        status, page = request(server.url)
        assert status == 200
        for element in (b'id="file"', b'id="vocabulary"', b'id="score-thr"', b'id="detect"',
                        b'id="detections"', b'id="download"', b'id="result-image"'):
            assert element in page
        status, info = request(server.url + 'api/info')
        assert status == 200 and info['examples'] == ['scene0.png', 'scene1.png', 'scene2.png']
        assert info['vocabulary'] == VOCABULARY and info['limits']['max_names'] == 1203
        status, data = request(server.url + 'api/example/scene1.png')
        assert status == 200 and data == (model['images'] / 'scene1.png').read_bytes()
        for name in ('..%2Fconfig.py', 'nope.png'):
            status, answer = request(server.url + 'api/example/' + name)
            assert status == 404 and 'no example image named' in answer['error']


def test_detections_equal_the_inferencer_and_vocabularies_swap_in_place(model, monkeypatch):
    inferencer, image = model['inferencer'], model['images'] / 'scene0.png'
    other = 'green cross, red star'
    expected = {v: expected_detections(inferencer, image, v, 0.2) for v in (VOCABULARY, other)}
    built, builds = [], []
    original_init = CLIPTextEncoder.__init__

    def counting_init(self, *args, **kwargs):
        built.append(args)
        original_init(self, *args, **kwargs)
    monkeypatch.setattr(CLIPTextEncoder, '__init__', counting_init)
    monkeypatch.setattr(MODELS, 'build', lambda *a, **k: builds.append(a))
    model_object = inferencer.model
    with serving(inferencer, model['images']) as server:
        for vocabulary in (VOCABULARY, other, VOCABULARY, other):
            status, result = detect(server, image, vocabulary, 0.2, filename='scene0.png')
            assert status == 200, result
            assert result['detections'] == expected[vocabulary]
            assert result['vocabulary'] == [n.strip() for n in vocabulary.split(',')]
            assert result['image'] == 'scene0.png' and result['notices'] == []
            assert (result['width'], result['height']) == (128, 128)
            drawing = cv2.imdecode(np.frombuffer(base64.b64decode(result['drawing']), np.uint8),
                                   cv2.IMREAD_COLOR)
            assert drawing.shape == (512, 512, 3)  # 128 px enlarged 4 times
        # an example picked on the page is the same file
        status, result = detect(server, None, VOCABULARY, 0.2, example='scene0.png')
        assert status == 200 and result['detections'] == expected[VOCABULARY]
    # both vocabularies were cache hits: CLIP never built, the detector never rebuilt
    assert built == [] and builds == [] and inferencer.model is model_object


def test_the_score_threshold_drops_the_detections_below_it(model):
    """A threshold between the detections' scores keeps exactly those at or above it (the
    fixture model scores every detection at 0.37 or more: thresholds of 0.2 or 0 keep all)."""
    image = model['images'] / 'scene0.png'
    with serving(model['inferencer'], model['images']) as server:
        status, everything = detect(server, image, VOCABULARY, 0.0)
        assert status == 200, everything
        scores = sorted({d['score'] for d in everything['detections']})
        assert len(scores) >= 4, scores
        # midway between listed (rounded) scores: no detection sits on the threshold
        for k in (0, len(scores) // 2, len(scores) - 2):
            thr = (scores[k] + scores[k + 1]) / 2
            status, result = detect(server, image, VOCABULARY, thr)
            assert status == 200, result
            kept = [d for d in everything['detections'] if d['score'] >= thr]
            assert 0 < len(kept) < len(everything['detections'])
            assert result['score_thr'] == thr and result['detections'] == kept


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_typed_vocabularies_keep_a_bounded_embedding_cache(model):
    """200 distinct vocabularies typed on the page, every other one with a negative name: the
    cache keeps the files of the 5 most recently used typed ones (a .pt and its sidecar each)
    beside the files that were there before, which are never deleted; a vocabulary typed again
    is moved to the front, and an evicted one is embedded again."""
    inferencer, image = model['inferencer'], model['images'] / 'scene0.png'
    cache = next(iter({h.test_vocabulary_cfg['cache_dir'] for _, h in inferencer.heads}))
    cache = type(model['images'])(cache)
    assert set(cache_files(cache))  # the fixture's vocabularies, embedded before the server
    vocabularies = [f'red star, thing {i}, {"-" * (i % 2)}zebra' for i in range(200)]
    with serving(inferencer, model['images'], max_vocabularies=5) as server:
        session = server.session
        # the training names, which compete at test time, are embedded once (at the first
        # detection with a vocabulary that leaves one out), never evicted
        status, result = detect(server, image, 'zebra', 0.5)
        assert status == 200, result
        session.cached.clear()
        before = set(cache_files(cache))
        for i, vocabulary in enumerate(vocabularies):
            if i % 40 == 0:  # through the page's API (what typing on the page sends); the
                # others through the session's same vocabulary step, without a detection each
                status, result = detect(server, image, vocabulary, 0.5)
                assert status == 200, result
                assert result['vocabulary'] == ['red star', f'thing {i}', 'zebra']
            else:
                session.use_vocabulary(parse_vocabulary(vocabulary, 1203))
            files = set(cache_files(cache))
            assert before <= files, 'a file that was there before was deleted'
            assert len(files - before) == 2 * min(i + 1, 5), (i, sorted(files - before))
            assert len(session.cached) == min(i + 1, 5)
        assert [', '.join(k) for k in session.cached] == vocabularies[-5:]
        # every file of the last five lists one of their vocabularies; the others' are gone
        listed = [json.loads((cache / f).read_text())['classes']
                  for f in set(cache_files(cache)) - before if f.endswith('.json')]
        assert sorted(map(tuple, listed)) == sorted(
            tuple(n.strip().lstrip('-') for n in v.split(',')) for v in vocabularies[-5:])
        # typed again: the oldest of the five becomes the newest (nothing embedded again)
        session.use_vocabulary(parse_vocabulary(vocabularies[-5], 1203))
        assert [', '.join(k) for k in session.cached][-1] == vocabularies[-5]
        assert len(set(cache_files(cache)) - before) == 10
        # an evicted vocabulary works again (embedded anew, another one evicted)
        status, result = detect(server, image, vocabularies[0], 0.5)
        assert status == 200, result
        assert [', '.join(k) for k in session.cached][0] == vocabularies[-3]
        assert len(set(cache_files(cache)) - before) == 10
    # the files of the session's vocabularies stay for the next start (the cache is shared)
    assert len(set(cache_files(cache)) - before) == 10
    for name in set(cache_files(cache)) - before:
        (cache / name).unlink()


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` pixels (what a decompression bomb shows
    before decoding), with no pixel data."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2,
                                                              0, 0, 0)) + chunk(b'IEND', b''))


def test_bad_input_is_a_message_and_the_next_request_works(model, tmp_path):
    images = model['images']
    wide = np.zeros((120, 300, 3), np.uint8)
    wide[20:100, 30:110] = (0, 0, 255)
    limits = DemoLimits(max_names=5, max_image_side=150, max_image_pixels=100_000,
                        max_upload_bytes=200_000)
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
    big_file = cv2.imencode('.png', noise)[1].tobytes()  # 300 x 300 noise: 270 kB
    cases = [
        (dict(image=b'this is not an image', filename='notes.txt'), 400,
         'image notes.txt: not an image file'),
        (dict(image=images.joinpath('scene1.png').read_bytes()[:200], filename='cut.png'), 400,
         'image cut.png: corrupt image file'),
        (dict(image=b'', filename='empty.png'), 400, 'image: no image given'),
        (dict(image=images / 'scene1.png', vocabulary=''), 400,
         'vocabulary: empty vocabulary (no class names given)'),
        (dict(image=images / 'scene1.png', vocabulary=' , ,'), 400,
         'vocabulary: empty vocabulary'),
        (dict(image=images / 'scene1.png', vocabulary='zebra, red star, zebra'), 400,
         "vocabulary: duplicate class names ['zebra']"),
        (dict(image=images / 'scene1.png', vocabulary='zebra,,red star'), 400,
         'vocabulary: blank class name at index 1'),
        (dict(image=images / 'scene1.png', vocabulary=','.join('abcdef')), 400,
         'vocabulary: 6 names, more than the limit of 5 (--max-names)'),
        (dict(image=images / 'scene1.png', vocabulary='coco'), 400,
         'vocabulary: 80 names, more than the limit of 5'),
        (dict(image=images / 'scene1.png', score_thr='high'), 400,
         "score threshold: 'high' is not a number"),
        (dict(image=bomb_png(30000, 30000), filename='bomb.png'), 413,
         'image bomb.png: 900000000 pixels, larger than the limit of 100000 pixels '
         '(--max-image-pixels)'),
        (dict(image=bomb_png(400, 300), filename='header.png'), 413,
         'image header.png: 400 x 300 = 120000 pixels, larger than the limit of 100000 '
         'pixels (--max-image-pixels)'),
        (dict(image=np.zeros((400, 400, 3), np.uint8), filename='big.png'), 413,
         'image big.png: 400 x 400 = 160000 pixels, larger than the limit'),
        (dict(image=big_file, filename='noise.png'), 413,
         'image noise.png: 0.3 MB, larger than the limit of 0.190735 MB (--max-upload-mb)'),
        (dict(example='../config.py'), 400, "image: no example image named '../config.py'"),
    ]
    with serving(model['inferencer'], images, limits) as server:
        for case, status, message in cases:
            got, answer = detect(server, **dict(dict(vocabulary=VOCABULARY), **case))
            assert (got, answer['error'][:len(message)]) == (status, message), answer
            # the next request works
            got, answer = detect(server, images / 'scene2.png', 'red star, zebra')
            assert got == 200 and answer['vocabulary'] == ['red star', 'zebra'], answer
        body = b'{"image": "' + b'A' * (2 ** 21) + b'"}'  # 2 MiB: read, dropped, refused
        got, answer = request(server.url + 'api/detect', body)
        assert got == 413 and answer['error'] == (
            'request: 2.0 MB, larger than the upload limit of 0.190735 MB (--max-upload-mb)')
        for body in (b'{not json', b'[1, 2]', b'{"image": "%%%"}'):
            got, answer = request(server.url + 'api/detect', body)
            assert got == 400 and answer['error'].startswith(('request: the body is not',
                                                              'image: the upload is not')), answer
        # a too wide image is downscaled first; boxes are in its own pixels
        got, answer = detect(server, wide, 'red square', 0.0, filename='wide.png')
        assert got == 200 and (answer['width'], answer['height']) == (300, 120)
        assert answer['notices'] == [
            "image resized from 300 x 120 to 150 x 60 pixels (--max-image-side 150); boxes "
            "are given in the original image's pixels"]
        boxes = np.array([d['bbox'] for d in answer['detections']])
        assert len(boxes) and boxes[:, 2].max() > 150 and boxes[:, 2].max() <= 300.01
        assert request(server.url + 'nowhere')[0] == 404
        assert server.worker.pending == 0


def test_burst_of_20_concurrent_requests(model):
    """20 clients at once: all answered, each with the right result, detections run one at a
    time; resident memory after the burst within 10% of before."""
    inferencer, images = model['inferencer'], sorted(model['images'].glob('*.png'))
    expected = [expected_detections(inferencer, p, VOCABULARY, 0.1) for p in images]
    running, most = [0], [0]
    lock = threading.Lock()

    with serving(inferencer, model['images']) as server:
        session_detect = server.session.detect

        def counted(*args, **kwargs):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                return session_detect(*args, **kwargs)
            finally:
                with lock:
                    running[0] -= 1
        server.session.detect = counted
        for image in images:  # warm-up: the first requests allocate the drawing buffers
            assert detect(server, image, VOCABULARY, 0.1)[0] == 200
        gc.collect()
        before = rss_bytes()
        answers = [None] * 20
        barrier = threading.Barrier(20)

        def client(i):
            try:
                barrier.wait(60)
            except threading.BrokenBarrierError:
                answers[i] = (None, f'client {i}: the 20 clients did not all start within 60 s')
                return
            answers[i] = detect(server, images[i % 3], VOCABULARY, 0.1,
                                filename=images[i % 3].name)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for i, thread in enumerate(threads):
            joined(thread, f'client {i} of the burst', timeout=300)
        seconds = time.perf_counter() - start
        gc.collect()
        after = rss_bytes()
        for i, (status, answer) in enumerate(answers):
            assert status == 200, answer
            assert answer['image'] == images[i % 3].name
            assert answer['detections'] == expected[i % 3]
        assert most[0] == 1  # never two detections at once
        assert server.worker.pending == 0 and server.worker.jobs_done == 23
    print(f'\nburst: 20 concurrent requests answered in {seconds:.2f} s; resident memory '
          f'{before / 2 ** 20:.1f} MiB before, {after / 2 ** 20:.1f} MiB after '
          f'({100 * (after - before) / before:+.1f}%)')
    assert abs(after - before) <= 0.10 * before


def test_more_requests_than_slots_are_refused_as_busy(model):
    images = model['images']
    with serving(model['inferencer'], images, max_pending=1) as server:
        release = threading.Event()
        # hold the only slot with a job that waits, as a long detection would
        started = threading.Event()

        def hold():
            with server.worker.slot():
                server.worker.run(lambda: (started.set(), release.wait(30)))
        holder = threading.Thread(target=hold)
        holder.start()
        set_within(started, 'the job holding the only slot to start')
        status, answer = detect(server, images / 'scene0.png')
        assert status == 503 and answer['error'].startswith(
            'busy: 1 requests are already being served or waiting; try again')
        release.set()
        joined(holder, 'the job holding the only slot')
        status, answer = detect(server, images / 'scene0.png')
        assert status == 200, answer


def test_requests_time_out_and_failures_keep_the_server_up(model, monkeypatch):
    images = model['images']
    with serving(model['inferencer'], images, request_timeout=0.2) as server:
        release = threading.Event()
        slow = threading.Thread(target=lambda: server.worker.run(lambda: release.wait(30)))
        slow.start()
        status, answer = detect(server, images / 'scene0.png')
        assert status == 504 and answer['error'].startswith('no result within 0.2 s')
        release.set()
        joined(slow, 'the slow job')
        server.request_timeout = 300

        def broken(*args, **kwargs):
            raise RuntimeError('out of memory\nin the forward pass')
        with monkeypatch.context() as patch:
            patch.setattr(type(model['inferencer']), '__call__', broken)
            status, answer = detect(server, images / 'scene0.png')
        assert status == 500
        assert answer['error'] == 'server error: RuntimeError: out of memory in the forward pass'
        assert detect(server, images / 'scene0.png')[0] == 200

        def missing_file(*args, **kwargs):
            raise FileNotFoundError(f"no such file: '{images}/weights/model.pth' (cache "
                                    f"dir={images}/cache/)")
        with monkeypatch.context() as patch:  # the server's folders stay on the server
            patch.setattr(type(model['inferencer']), '__call__', missing_file)
            status, answer = detect(server, images / 'scene0.png')
        assert status == 500 and str(images) not in answer['error']
        assert answer['error'] == ("server error: FileNotFoundError: no such file: "
                                   "'.../model.pth' (cache dir=.../cache)")


def test_closing_the_worker_cancels_waiting_jobs_and_ends_the_running_one():
    worker = SerialWorker(4)
    started, release, outcomes = threading.Event(), threading.Event(), []

    def submit(fn):
        try:
            outcomes.append(worker.run(fn))
        except CancelledError:
            outcomes.append('cancelled')
    running = threading.Thread(target=submit, args=(lambda: (started.set(), release.wait(30),
                                                             'ran')[-1],))
    running.start()
    set_within(started, 'the first job to start')
    waiting = threading.Thread(target=submit, args=(lambda: 'never',))
    waiting.start()
    wait_for(lambda: worker.waiting == 1, 'the second job to wait in the queue')
    closer = threading.Thread(target=worker.close, kwargs=dict(timeout=30))
    closer.start()
    joined(waiting, 'the waiting job (close() cancels it)')
    release.set()
    joined(running, 'the running job')
    joined(closer, 'close()')
    assert outcomes == ['cancelled', 'ran'] and worker.jobs_done == 1
    assert not worker._thread.is_alive()
