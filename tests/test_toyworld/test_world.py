"""The toy world generator: determinism, exact annotation counts, the two kinds of split."""
import hashlib
import json

import pytest

from ovdkit.toyworld import ToyWorldSpec, generate_world, render_scene
from ovdkit.toyworld.world_writer import scene_rng

TINY = dict(num_train=10, num_val=6, num_clip_train=4, num_clip_val=3)


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob('*')):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    spec = ToyWorldSpec(seed=3, **TINY)
    root = tmp_path_factory.mktemp('world')
    return spec, root, generate_world(spec, str(root), progress=False)


def test_same_seed_same_world_other_seed_other_world(world, tmp_path):
    spec, root, _ = world
    # Drawn by two processes: the same files as one.
    generate_world(spec, str(tmp_path / 'again'), progress=False, workers=2)
    assert _digest(tmp_path / 'again') == _digest(root)
    generate_world(ToyWorldSpec(seed=4, **TINY), str(tmp_path / 'other'), progress=False)
    assert json.loads((tmp_path / 'other/annotations/val.json').read_text()) != \
        json.loads((root / 'annotations/val.json').read_text())


def test_novel_objects_unannotated_in_train_and_all_annotated_in_val(world):
    spec, root, summary = world
    cats = spec.categories()
    novel_ids = {c['id'] for c in cats if c['split'] == 'novel'}
    expected = {}
    for split, n in (('train', spec.num_train), ('val', spec.num_val)):
        objects = [o for i in range(n) for o in render_scene(
            scene_rng(spec.seed, split, i), cats, spec.image_size, spec.max_objects,
            spec.min_object_size, spec.max_object_size)[1]]
        expected[split] = objects
    train = json.loads((root / 'annotations/train.json').read_text())
    val = json.loads((root / 'annotations/val.json').read_text())
    drawn_novel_in_train = sum(o['category_id'] in novel_ids for o in expected['train'])
    assert drawn_novel_in_train > 0  # novel objects are in the training images...
    assert not any(a['category_id'] in novel_ids for a in train['annotations'])  # ...unboxed
    assert len(train['annotations']) == len(expected['train']) - drawn_novel_in_train
    assert len(val['annotations']) == len(expected['val'])
    assert {c['id'] for c in train['categories']} == {c['id'] for c in cats} - novel_ids
    assert len(val['categories']) == len(cats) == 48
    assert summary['counts']['val']['annotations'] == len(expected['val'])
    assert (root / 'samples.png').stat().st_size > 1000


def test_rerun_keeps_a_complete_world(world):
    spec, root, _ = world
    before = (root / 'world.json').stat().st_mtime_ns
    generate_world(spec, str(root), progress=False)
    assert (root / 'world.json').stat().st_mtime_ns == before


def test_concepts_split_makes_whole_shapes_novel():
    spec = ToyWorldSpec(novel_shapes=('star', 'heart'))
    assert spec.split_kind == 'concepts'
    assert set(spec.novel_names()) == {f'{c} {s}' for c in spec.colors for s in ('star', 'heart')}
    default = ToyWorldSpec(seed=5)
    shapes = {name.split()[1] for name in default.novel_names()}
    assert len(shapes) == 2 and len(default.novel_names()) == 12


@pytest.mark.parametrize('seed', range(6))
def test_combinations_split_keeps_every_colour_and_shape_among_base(seed):
    spec = ToyWorldSpec(seed=seed, novel_fraction=0.25)
    cats = spec.categories()
    base = [c for c in cats if c['split'] == 'base']
    assert spec.split_kind == 'combinations'
    assert len(cats) - len(base) == 12
    assert {c['shape'] for c in base} == set(spec.shapes)
    assert {c['color'] for c in base} == set(spec.colors)


def test_named_combinations_and_bad_specs():
    spec = ToyWorldSpec(novel=('red star', 'blue circle'))
    assert spec.novel_names() == ('blue circle', 'red star')
    with pytest.raises(KeyError, match="unknown toy-world shape 'blob'"):
        ToyWorldSpec(shapes=('circle', 'blob'))
    with pytest.raises(ValueError, match='not colour-shape names'):
        ToyWorldSpec(novel=('red blob',))
    with pytest.raises(ValueError, match='at most one of'):
        ToyWorldSpec(novel_shapes=('star',), novel_fraction=0.2)
    with pytest.raises(ValueError, match='proper subset'):
        ToyWorldSpec(shapes=('star', 'heart'), novel_shapes=('star', 'heart'))
