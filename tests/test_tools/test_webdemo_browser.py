"""The web demo's page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, installed by the project's set-up: `OVDKIT_BROWSER=1 bash tools/setup_env.sh`
as root, which .ci/run does) driven by selenium. In CI (``CI=1``, exported by .ci/run) a
missing browser fails these tests; elsewhere they are skipped, saying how to install it.

A person's steps: upload a toy-world image, type a vocabulary with a name the model never
trained on, move the threshold, press Detect, read the table; then a file that is not an
image (a message, and the next request works); then "find more like this": drag boxes on the
image, name their class, type names, read the table (a class without a name is a message, and
a new image clears the boxes). The model is the fixture-scale random one of
the other web demo tests, so "expected" is what a direct inferencer call finds.
"""
import json
import os

import cv2
import pytest

from ovdkit.apis.detection_records import detection_records
from ovdkit.datasets import Exemplar, VisualClass
from ovdkit.testing import BrowserUnavailable, start_chromium
from ovdkit.testing.webdemo_fixtures import demo_model, expected_detections, serving
from ovdkit.testing.webdemo_page import WebDemoPage

NOVEL = 'zebra'  # never in the fixture model's training vocabulary (red star, blue circle)
VOCABULARY = f'red star, blue circle, {NOVEL}'


def browser_required() -> bool:
    """In CI (``CI=1``, as .ci/run exports) the browser must be there."""
    return os.environ.get('CI', '').lower() in ('1', 'true')


def open_browser():
    """A headless Chromium; without one, fails the test in CI and skips it elsewhere, with
    the reason and how to install it."""
    try:
        return start_chromium(1280, 900)
    except BrowserUnavailable as exc:
        if browser_required():
            pytest.fail(f'no headless Chromium in CI (CI=1): {exc}', pytrace=False)
        pytest.skip(f'no headless Chromium: {exc}')


@pytest.fixture(scope='module')
def browser():
    driver = open_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    model = demo_model(tmp_path_factory.mktemp('webdemo_browser'))
    with serving(model['inferencer'], model['images']) as server:
        yield model, server


def test_upload_name_a_novel_category_and_read_the_table(browser, served):
    model, server = served
    image = model['images'] / 'scene1.png'
    expected = expected_detections(model['inferencer'], image, VOCABULARY, 0.0)
    assert NOVEL in {d['name'] for d in expected}  # this image and model: zebra is found

    page = WebDemoPage(browser, server.url)
    assert page.state == 'idle'
    page.upload(image)
    page.set_vocabulary(VOCABULARY)
    page.set_score_thr(0.0)
    assert page.detect() == 'done', page.message()
    rows = page.detections()
    assert [r['name'] for r in rows] == [d['name'] for d in expected]
    assert NOVEL in {r['name'] for r in rows}
    # shown with 3 decimals (JavaScript's toFixed: ties go up, Python's round to even)
    assert all(abs(r['score'] - d['score']) <= 5e-4 + 1e-9 for r, d in zip(rows, expected))
    assert page.element('result-image').is_displayed()
    # the JSON offered for download is the result
    link = page.element('download')
    assert link.is_displayed() and link.get_attribute('download') == 'scene1.json'
    text = browser.execute_async_script(
        'const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done);',
        link.get_attribute('href'))
    record = json.loads(text)
    assert record['image'] == 'scene1.png' and record['vocabulary'] == [
        'red star', 'blue circle', NOVEL]
    assert record['detections'] == expected


def test_a_file_that_is_not_an_image_is_a_message_then_the_next_request_works(
        browser, served, tmp_path):
    model, server = served
    page = WebDemoPage(browser, server.url)
    notes = tmp_path / 'notes.txt'
    notes.write_text('not an image')
    page.upload(notes)
    page.set_vocabulary(VOCABULARY)
    assert page.detect() == 'error'
    assert page.message() == ('image notes.txt: not an image file (cannot be decoded as PNG, '
                              'JPEG, BMP, WebP, TIFF...)')
    assert page.detections() == []
    page.pick_example('scene2.png')
    page.set_vocabulary('red star, red star')
    assert page.detect() == 'error'
    assert page.message() == "vocabulary: duplicate class names ['red star']"
    page.set_vocabulary(VOCABULARY)
    page.set_score_thr(0.0)
    assert page.detect() == 'done' and page.message() == ''
    expected = expected_detections(model['inferencer'], model['images'] / 'scene2.png',
                                   VOCABULARY, 0.0)
    assert [r['name'] for r in page.detections()] == [d['name'] for d in expected]


def with_drawn_class(inferencer, image, names, boxes, name):
    vocabulary = list(names) + [VisualClass(name, [Exemplar(image, boxes)])]
    pred = inferencer(image, vocabulary=vocabulary, pred_score_thr=0.0,
                      no_save_pred=True)['predictions'][0]
    return detection_records(pred, 0.0)


def test_draw_a_box_and_find_more_like_it_with_typed_names(browser, served):
    model, server = served
    path = model['images'] / 'scene1.png'
    page = WebDemoPage(browser, server.url)
    page.upload(path)
    assert not page.element('find-more').is_enabled()   # nothing drawn yet
    page.draw_box(20, 24, 60, 70)
    page.draw_box(70, 60, 110, 100)
    boxes = page.drawn_boxes()
    assert len(boxes) == 2 and all(abs(a - b) <= 1 for a, b in zip(boxes[0], [20, 24, 60, 70]))
    assert page.element('example-boxes').text.startswith('2 example boxes: [')
    page.set_example_name('thing')
    page.set_vocabulary('red star, zebra')
    page.set_score_thr(0.0)
    assert page.detect('find-more') == 'done', page.message()
    rows = page.detections()
    want = with_drawn_class(model['inferencer'], cv2.imread(str(path)), ['red star', 'zebra'],
                            boxes, 'thing')
    assert [r['name'] for r in rows] == [d['name'] for d in want]
    assert 'thing' in {r['name'] for r in rows}
    assert all(abs(r['score'] - d['score']) <= 5e-4 + 1e-9 for r, d in zip(rows, want))
    # a class without a name: the page says why, and the next request works
    page.set_example_name('')
    assert page.detect('find-more') == 'error'
    assert page.message().startswith('example boxes: give the class of the boxes you drew a '
                                      'name')
    page.set_example_name('thing')
    assert page.detect('find-more') == 'done' and page.message() == ''
    # another image: the boxes were the old image's
    page.pick_example('scene2.png')
    assert page.drawn_boxes() == [] and not page.element('find-more').is_enabled()
    assert page.detect() == 'done'
    assert {r['name'] for r in page.detections()} <= {'red star', 'zebra'}


def test_a_missing_browser_is_a_clear_reason_and_fails_in_ci(monkeypatch):
    from ovdkit.testing import headless_browser
    monkeypatch.setattr(headless_browser.shutil, 'which', lambda name: None)
    reason = ('chromium and chromedriver not found on PATH (Debian packages chromium and '
              'chromium-driver): install them as root with `OVDKIT_BROWSER=1 bash '
              'tools/setup_env.sh` (or `apt-get install chromium chromium-driver`)')
    with pytest.raises(BrowserUnavailable) as error:
        headless_browser.ensure_chromium()
    assert str(error.value) == reason
    for ci, outcome in (('1', pytest.fail.Exception), ('true', pytest.fail.Exception),
                        ('', pytest.skip.Exception), ('0', pytest.skip.Exception)):
        monkeypatch.setenv('CI', ci)
        with pytest.raises(outcome) as error:
            open_browser()
        assert str(error.value).endswith(reason), str(error.value)
    monkeypatch.delenv('CI')
    with pytest.raises(pytest.skip.Exception):
        open_browser()
