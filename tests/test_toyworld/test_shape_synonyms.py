"""Toy worlds whose CLIP captions name a shape in more than one way (``shape_synonyms``): the
same images and boxes as without, captions spread over the names, and class files with the
synonyms in the vocabulary syntax."""
import json
from collections import Counter

import pytest

from ovdkit.datasets.vocabularies import resolve_vocabulary_entries
from ovdkit.toyworld import ToyWorldSpec, generate_world

WORLD = dict(seed=3, shapes=('circle', 'square', 'star'), colors=('red', 'blue'),
             num_train=4, num_val=3, num_clip_train=24, num_clip_val=3,
             novel_shapes=('star',))
SYNONYMS = ('square|box|block', 'star|pentagram')


@pytest.fixture(scope='module')
def worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp('synonyms')
    plain, synonyms = ToyWorldSpec(**WORLD), ToyWorldSpec(**WORLD, shape_synonyms=SYNONYMS)
    generate_world(plain, str(root / 'plain'), progress=False)
    generate_world(synonyms, str(root / 'synonyms'), progress=False)
    return root / 'plain', root / 'synonyms'


def _annotations(root, split):
    return json.loads((root / 'annotations' / f'{split}.json').read_text())


def test_same_images_and_boxes_captions_spread_over_the_names(worlds):
    plain, synonyms = worlds
    for image in sorted((plain / 'images').rglob('*.png')):
        assert image.read_bytes() == (synonyms / image.relative_to(plain)).read_bytes()
    for split in ('train', 'val'):
        assert _annotations(plain, split) == _annotations(synonyms, split)
    cats = {c['id']: c for c in json.loads(
        (synonyms / 'annotations' / 'categories.json').read_text())}
    said = Counter()
    for split in ('clip_train', 'clip_val'):
        before, after = _annotations(plain, split), _annotations(synonyms, split)
        assert [a['bbox'] for a in before['annotations']] == \
            [a['bbox'] for a in after['annotations']]
        for old, new in zip(before['annotations'], after['annotations']):
            cat = cats[new['category_id']]
            assert old['caption'] == f'a photo of a {cat["name"]}.'
            name = new['caption'][len('a photo of a '):-1]
            color, shape = name.split(' ', 1)
            assert color == cat['color']
            allowed = dict(square=('square', 'box', 'block'), star=('star', 'pentagram'),
                           circle=('circle',))[cat['shape']]
            assert shape in allowed, new['caption']
            said[shape] += 1
    # 24 + 3 scenes of 1-4 objects: every name of a shape with synonyms is used
    assert all(said[name] > 0 for name in ('square', 'box', 'block', 'star', 'pentagram'))
    assert not (plain / 'annotations' / 'all_classes_synonyms.txt').exists()


def test_class_files_with_synonyms(worlds):
    _, synonyms = worlds
    annotations = synonyms / 'annotations'
    entries = {name: (annotations / f'{name}_classes_synonyms.txt').read_text().splitlines()
               for name in ('all', 'base', 'novel')}
    assert entries['all'] == ['red circle', 'blue circle', 'red square|red box|red block',
                              'blue square|blue box|blue block', 'red star|red pentagram',
                              'blue star|blue pentagram']
    assert entries['novel'] == ['red star|red pentagram', 'blue star|blue pentagram']
    assert entries['base'] == entries['all'][:4]
    for name, lines in entries.items():
        # first names: the plain class files, in order; the files load as vocabularies
        plain = (annotations / f'{name}_classes.txt').read_text().splitlines()
        assert [line.split('|')[0] for line in lines] == plain
        assert resolve_vocabulary_entries(
            str(annotations / f'{name}_classes_synonyms.txt')) == tuple(lines)


def test_spec_record_and_names():
    plain = ToyWorldSpec(**WORLD)
    assert 'shape_synonyms' not in plain.to_dict()  # worlds drawn before keep their record
    spec = ToyWorldSpec(**WORLD, shape_synonyms=SYNONYMS)
    assert spec.to_dict()['shape_synonyms'] == list(SYNONYMS)
    assert spec.shape_names('square') == ('square', 'box', 'block')
    assert spec.shape_names('circle') == ('circle',)
    assert spec.caption_names(dict(color='blue', shape='star')) == ('blue star',
                                                                     'blue pentagram')


@pytest.mark.parametrize('entries,message', [
    (('blob|thing',), "entry 'blob|thing' does not start with a shape of this world"),
    (('square',), "entry 'square' gives no other name for 'square'"),
    (('square|circle',), "'circle' \\(entry 'square\\|circle'\\) is already the name of "
                         "shape 'circle'"),
    (('square|red',), "'red' \\(entry 'square\\|red'\\) is already the name of colour 'red'"),
    (('square|box', 'star|box'), "'box' \\(entry 'star\\|box'\\) is already the name of a "
                                 "synonym of 'square'"),
    (('square|box', 'square|block'), "'square' has two entries"),
    (('square||box',), 'ToyWorldSpec.shape_synonyms: empty synonym'),
])
def test_bad_synonyms_are_errors_naming_the_entry(entries, message):
    with pytest.raises(ValueError, match=message):
        ToyWorldSpec(**WORLD, shape_synonyms=entries)
