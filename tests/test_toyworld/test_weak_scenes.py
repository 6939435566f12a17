"""The toy world's weak scenes (labels and a caption naming every object, no boxes), the
image-label study's job options, tools/toyworld.py's study options and the seed summary of
with - without."""
import importlib.util
import json

import pytest

from ovdkit.datasets import ImageLabelDataset
from ovdkit.testing import REPO
from ovdkit.toyworld import ToyWorldSpec, generate_weak_scenes, summarise_image_label_runs
from ovdkit.toyworld.image_label_study import image_label_cfg_options
from ovdkit.toyworld.weak_scenes import weak_scene_caption

SPEC = ToyWorldSpec(seed=3, image_size=64, num_train=4, num_val=2, num_clip_train=2,
                    num_clip_val=2, min_object_size=12, max_object_size=20)


def test_weak_scenes_label_and_caption_every_object_novel_ones_included(tmp_path):
    summary = generate_weak_scenes(SPEC, str(tmp_path), [3, 6])
    assert summary['images'] == 6 and summary['objects'] >= 6
    small = json.loads((tmp_path / 'annotations' / 'weak_3.json').read_text())
    full = json.loads((tmp_path / 'annotations' / 'weak_6.json').read_text())
    assert full['images'][:3] == small['images'] and full['annotations'] == []
    names = {c['id']: c['name'] for c in full['categories']}
    assert {c['split'] for c in full['categories']} == {'base', 'novel'}
    for image in full['images']:
        assert (tmp_path / 'images' / image['file_name']).is_file()
        caption = image['captions'][0]
        for cat in image['pos_category_ids']:
            assert f'a {names[cat]}' in caption
        assert caption.count(' a ') + caption.startswith('a ') >= len(image['pos_category_ids'])
    # the captions give the same labels as the ids (Detic's caption protocol)
    by_ids = ImageLabelDataset(ann_file=str(tmp_path / 'annotations' / 'weak_6.json'),
                               pipeline=[])
    by_captions = ImageLabelDataset(ann_file=str(tmp_path / 'annotations' / 'weak_6.json'),
                                    label_source='captions', pipeline=[])
    assert [d['image_labels'] for d in by_ids] == [d['image_labels'] for d in by_captions]
    # a second call with the same spec keeps the files
    mtime = (tmp_path / 'images' / 'weak' / '000001.png').stat().st_mtime_ns
    generate_weak_scenes(SPEC, str(tmp_path), [3, 6])
    assert (tmp_path / 'images' / 'weak' / '000001.png').stat().st_mtime_ns == mtime


def test_caption_text():
    assert weak_scene_caption(['red star']) == 'a red star.'
    assert weak_scene_caption(['red star', 'blue circle', 'red star']) == \
        'a red star, a blue circle and a red star.'


def test_study_options_point_the_concatenation_at_world_and_weak_scenes(tmp_path):
    options = {'train_dataloader.dataset.data_root': 'W/', 'work_dir': 'X'}
    out = image_label_cfg_options(options, str(tmp_path), 250, 'W/annotations/all_classes.txt')
    assert out == {'work_dir': 'X', 'train_dataloader.dataset.datasets.0.data_root': 'W/',
                   'train_dataloader.dataset.datasets.1.data_root': f'{tmp_path}/',
                   'train_dataloader.dataset.datasets.1.ann_file': 'annotations/weak_250.json',
                   'model.roi_head.image_label_vocabulary.classes':
                       'W/annotations/all_classes.txt'}


def _demo():
    spec = importlib.util.spec_from_file_location('toyworld_demo', REPO / 'tools' / 'toyworld.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toyworld_study_options_are_off_by_default_and_checked(capsys):
    demo = _demo()
    assert demo.parse_args([]).weak_scenes is None
    args = demo.parse_args(['--weak-scenes', '250,1000', '--weak-methods', 'grounding'])
    assert args.weak_scenes == [250, 1000] and args.weak_methods == ['grounding']
    for argv, message in ((['--reuse-from', 'x'], '--reuse-from needs --weak-scenes'),
                          (['--weak-scenes', '0'], 'numbers must be >= 1'),
                          (['--weak-scenes', '5', '--weak-methods', 'vild-ensemble'],
                           "--weak-methods: unknown ['vild-ensemble']")):
        with pytest.raises(SystemExit):
            demo.parse_args(argv)
        assert message in capsys.readouterr().err


def test_summary_pairs_with_and_without_by_seed():
    runs = {0: {'vild-text/novel_ap50': 20.0, 'vild-text/base_ap50': 70.0,
                'vild-text/all_ap50': 60.0, 'vild-text+weak100/novel_ap50': 30.0,
                'vild-text+weak100/base_ap50': 70.0, 'vild-text+weak100/all_ap50': 62.0},
            1: {'vild-text/novel_ap50': 10.0, 'vild-text/base_ap50': 72.0,
                'vild-text/all_ap50': 58.0, 'vild-text+weak100/novel_ap50': 24.0,
                'vild-text+weak100/base_ap50': 71.0, 'vild-text+weak100/all_ap50': 61.0}}
    lines, flat = summarise_image_label_runs(runs)
    key = 'vild-text+weak100-minus-vild-text/novel_ap50'
    # differences 10 and 14: mean 12, std 2.828, t(0.975, 1) = 12.706 -> half 25.41
    assert flat[key + '_mean'] == 12.0
    assert flat[key + '_ci95_low'] == pytest.approx(12 - 25.41, abs=0.01)
    assert flat['vild-text+weak100/novel_ap50_mean'] == 27.0
    assert '| vild-text | 100 | 27.0 +- 4.2 | 70.5 +- 0.7 | 61.5 +- 0.7 |' in lines
