"""tools/benchmark/exemplar_prompts.py on two fixture runs: its JSON line, examples drawn from
training scenes only (novel ones from instances the training annotations leave unboxed), the
paired intervals, nothing written into the runs, and tools/test.py giving the same AP50 from the
vocabulary file it writes (the test vocabulary path with example boxes)."""
import json
import math
import re
import statistics

import pytest

from ovdkit.datasets import VisualClass, resolve_vocabulary_classes
from ovdkit.testing import run_tool
from ovdkit.testing.toyworld_runs import make_toyworld_run

HEAD = 'model.roi_head.bbox_head.'
METHODS = ('vild-text', 'vild-ensemble')


@pytest.fixture(scope='module')
def benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp('exemplar_prompts')
    runs = [make_toyworld_run(root / f'run{seed}', seed) for seed in (0, 1)]
    before = {p: p.stat().st_mtime_ns for run in runs for p in run.rglob('*') if p.is_file()}
    proc = run_tool(['tools/benchmark/exemplar_prompts.py', *runs, '--out-dir', root / 'out',
                     '--methods', *METHODS, '--picture', root / 'picture.png'])
    after = {p: p.stat().st_mtime_ns for run in runs for p in run.rglob('*') if p.is_file()}
    return dict(root=root, runs=runs, flat=json.loads(proc.stdout.strip().splitlines()[-1]),
                log=proc.log, untouched=before == after)


def test_json_line_figures_and_paired_intervals(benchmark):
    flat = benchmark['flat']
    assert flat['runs'] == 'run0,run1' and flat['num_runs'] == 2
    assert benchmark['untouched'], 'the benchmark wrote into a run folder'
    for method in METHODS:
        for condition in ('name', 'exemplars1', 'exemplars5', 'name_exemplars5'):
            for split in ('novel', 'base', 'all'):
                key = f'{method}/{split}_ap50_{condition}'
                values = [flat[f'{key}_run0'], flat[f'{key}_run1']]
                assert all(0 <= v <= 100 for v in values)
                assert flat[f'{key}_mean'] == pytest.approx(statistics.mean(values), abs=0.01)
                if condition == 'name':
                    continue
                diffs = [v - flat[f'{method}/{split}_ap50_name_run{i}']
                         for i, v in enumerate(values)]
                half = 12.7062 * statistics.stdev(diffs) / math.sqrt(2)  # t(0.975, 1)
                diff = f'{key}_minus_name'
                assert flat[f'{diff}_mean'] == pytest.approx(statistics.mean(diffs), abs=0.01)
                assert flat[f'{diff}_ci95_low'] == pytest.approx(statistics.mean(diffs) - half,
                                                                 abs=0.02)
    # the rows of names are the text rows themselves; example rows are other unit vectors
    assert flat['vild-text/rows_name_own_text_cosine_mean'] == pytest.approx(1.0, abs=1e-4)
    assert flat['vild-text/rows_name_nearest_text_is_own_mean'] == 1.0
    assert -1 <= flat['vild-text/rows_exemplars1_own_text_cosine_mean'] < 0.9999
    results = json.loads((benchmark['root'] / 'out' / 'run0' / 'results.json').read_text())
    assert results['vild-text']['exemplars1']['novel'] == \
        flat['vild-text/novel_ap50_exemplars1_run0']
    assert (benchmark['root'] / 'picture.png').stat().st_size > 1000
    assert re.search(r'picture: .*picture.png \(red circle: \d+ detections\)', benchmark['log'])


def test_examples_come_from_training_scenes_and_novel_ones_are_unboxed_there(benchmark):
    run = benchmark['runs'][0]
    train = json.loads((run / 'world' / 'annotations' / 'train.json').read_text())
    boxed = {(a['image_id'], a['category_id']) for a in train['annotations']}
    novel = set(json.loads((run / 'world' / 'world.json').read_text())['novel_classes'])
    out = benchmark['root'] / 'out' / 'run0'
    five = resolve_vocabulary_classes(str(out / 'vocab_exemplars5.txt'))
    one = resolve_vocabulary_classes(str(out / 'vocab_exemplars1.txt'))
    both = resolve_vocabulary_classes(str(out / 'vocab_name_exemplars5.txt'))
    vocab = run / 'world' / 'annotations' / 'all_classes.txt'
    classes = [n for n in vocab.read_text().split('\n') if n]
    assert [c.label for c in five] == [c.label for c in one] == classes
    assert all(isinstance(c, VisualClass) and not c.use_name for c in five + one)
    assert all(c.use_name for c in both)
    for few, many in zip(one, five):
        assert 1 <= len(many.examples()) <= 5 and len(few.examples()) == 1
        assert few.examples()[0][0].image == many.examples()[0][0].image  # 1 is the first of 5
        for exemplar, box in many.examples():
            assert '/world/images/train/' in exemplar.image
            image_id = int(exemplar.image.rsplit('/', 1)[1].split('.')[0])
            category = next(c['id'] for c in train['categories'] + [
                dict(id=-1, name=n) for n in novel] if c['name'] == many.label)
            assert ((image_id, category) in boxed) == (many.label not in novel)
            assert 0 <= box[0] < box[2] <= 128 and 0 <= box[1] < box[3] <= 128


def test_tools_test_gives_the_same_ap50_from_the_vocabulary_file(benchmark):
    run, out = benchmark['runs'][0], benchmark['root'] / 'out' / 'run0'
    proc = run_tool(['tools/test.py', run / 'vild-text' / 'vild-text.py',
                     run / 'vild-text' / 'iter_1.pth', '--work-dir', out / 'tool_test',
                     '--cfg-options',
                     f'{HEAD}test_vocabulary.classes={out / "vocab_exemplars5.txt"}',
                     f'{HEAD}test_vocabulary.exemplar_crop_scales=[1.25]',
                     f'{HEAD}test_vocabulary.cache_dir={out / "tool_cache"}'])
    novel = float(re.findall(r'coco/novel_ap50: ([0-9.]+)', proc.log)[-1])
    assert round(100 * novel, 1) == benchmark['flat']['vild-text/novel_ap50_exemplars5_run0']
    assert 'given by example boxes' in proc.log
    # a bad example in the test vocabulary stops the tool before the model, naming it
    bad = out / 'bad.txt'
    text = (out / 'vocab_exemplars1.txt').read_text()
    bad.write_text(re.sub(r'\[[0-9,]+\]', '[0,0,200,20]', text, count=1))
    proc = run_tool(['tools/test.py', run / 'vild-text' / 'vild-text.py',
                     run / 'vild-text' / 'iter_1.pth', '--cfg-options',
                     f'{HEAD}test_vocabulary.classes={bad}'], check=False)
    assert proc.returncode == 2
    assert re.search(r"error: .*test_vocabulary.classes: class 'red circle', example 1 "
                     r'\(.*/train/.*png \[0, 0, 200, 20\]\): the box is outside the image',
                     proc.stderr), proc.stderr
