"""OV-COCO / OV-LVIS splits, vocabularies, dataset metainfo and the annotation converters."""
import hashlib
import json

import pytest

from ovdkit.datasets import (COCO_CATEGORY_IDS, COCO_CLASSES, LVIS_V1_CLASSES, OV_COCO_BASE_CLASSES,
                             OV_COCO_CLASSES, OV_COCO_NOVEL_CLASSES, OVCocoDataset, lvis_split,
                             resolve_vocabulary)
from ovdkit.datasets.converters import _mmdet_coco2ovd
from ovdkit.testing import run_tool


def test_ov_coco_split():
    assert len(OV_COCO_BASE_CLASSES) == 48 and len(OV_COCO_NOVEL_CLASSES) == 17
    assert not set(OV_COCO_BASE_CLASSES) & set(OV_COCO_NOVEL_CLASSES)
    assert len(OV_COCO_CLASSES) == 65 and set(OV_COCO_CLASSES) <= set(COCO_CLASSES)
    assert len(COCO_CLASSES) == len(COCO_CATEGORY_IDS) == 80
    assert COCO_CATEGORY_IDS[COCO_CLASSES.index('toothbrush')] == 90
    # the same split as mmdet's own converter
    mmdet_tool = _mmdet_coco2ovd()
    assert set(mmdet_tool.base_classes) == set(OV_COCO_BASE_CLASSES)
    assert set(mmdet_tool.novel_classes) == set(OV_COCO_NOVEL_CLASSES)


def test_ov_coco_dataset_metainfo():
    meta = OVCocoDataset.METAINFO
    assert meta['classes'] == OV_COCO_CLASSES
    assert len(meta['base_classes']) == 48 and len(meta['novel_classes']) == 17
    assert len(meta['palette']) == 65


def test_resolve_vocabulary(tmp_path):
    assert len(resolve_vocabulary('coco')) == 80
    assert len(resolve_vocabulary('lvis')) == 1203 == len(LVIS_V1_CLASSES)
    assert resolve_vocabulary('ov-coco') == OV_COCO_CLASSES
    assert resolve_vocabulary('zebra, traffic cone') == ('zebra', 'traffic cone')
    f = tmp_path / 'vocab.txt'
    f.write_text('# animals\nzebra\n\nokapi\n')
    assert resolve_vocabulary(str(f)) == ('zebra', 'okapi')
    with pytest.raises(ValueError, match=r"duplicate class names \['cat'\]"):
        resolve_vocabulary('cat,dog,cat')
    with pytest.raises(ValueError, match='empty vocabulary'):
        resolve_vocabulary([])
    with pytest.raises(ValueError, match='blank class name at index 1'):
        resolve_vocabulary('cat,,dog')
    with pytest.raises(FileNotFoundError, match='missing.txt does not exist'):
        resolve_vocabulary(str(tmp_path / 'missing.txt'))


def _coco_json(images):
    """images: list of lists of category names (one list per image)."""
    cats = [dict(id=i, name=n, supercategory='x') for i, n in zip(COCO_CATEGORY_IDS,
                                                                  COCO_CLASSES)]
    ids = dict(zip(COCO_CLASSES, COCO_CATEGORY_IDS))
    data = dict(images=[], annotations=[], categories=cats)
    for img_id, names in enumerate(images, 1):
        data['images'].append(dict(id=img_id, file_name=f'{img_id:012d}.jpg', width=64,
                                   height=64))
        for name in names:
            data['annotations'].append(dict(id=len(data['annotations']) + 1, image_id=img_id,
                                            category_id=ids[name], bbox=[1, 1, 10, 10],
                                            area=100, iscrowd=0))
    return data


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_coco_to_ov_coco(tmp_path):
    train, val = tmp_path / 'train.json', tmp_path / 'val.json'
    # person/tv/car base; cat, dog, cup novel; traffic light/hair drier in neither split
    train.write_text(json.dumps(_coco_json([['person', 'cat'], ['dog'], ['traffic light'],
                                            ['tv', 'cup', 'car'], []])))
    val.write_text(json.dumps(_coco_json([['person', 'cat'], ['dog'], ['traffic light'],
                                          ['tv', 'cup', 'hair drier']])))
    before = _sha(train), _sha(val)
    proc = run_tool(['tools/dataset_converters/coco2ovcoco.py', train, val,
                     '--out-dir', tmp_path / 'out'])
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (_sha(train), _sha(val)) == before
    out_train = json.loads((tmp_path / 'out/instances_train2017_seen_2.json').read_text())
    out_val = json.loads((tmp_path / 'out/instances_val2017_all_2.json').read_text())
    assert len(out_train['categories']) == 48
    assert [im['id'] for im in out_train['images']] == [1, 4]  # images with a base box
    assert sorted(a['category_id'] for a in out_train['annotations']) == [1, 3, 72]
    assert len(out_val['categories']) == 65
    assert [im['id'] for im in out_val['images']] == [1, 2, 4]
    assert len(out_val['annotations']) == 5
    assert counts['train']['annotations'] == 3 and counts['val']['images'] == 3
    assert not list((tmp_path / 'out').glob('.*tmp'))


LVIS_FREQ = {1: 'c', 2: 'f', 3: 'f', 13: 'r', 14: 'r', 20: 'c'}  # ids of real LVIS v1 names


def _lvis_json():
    cats = [dict(id=i, name=LVIS_V1_CLASSES[i - 1], frequency=f, synset='x.n.01')
            for i, f in LVIS_FREQ.items()]
    anns = []
    images = []
    for img_id, cat_ids in enumerate([[1, 13], [14], [2, 3, 20, 13], [3]], 1):
        images.append(dict(id=img_id, width=64, height=64, neg_category_ids=[],
                           not_exhaustive_category_ids=[],
                           coco_url=f'http://images.cocodataset.org/train2017/{img_id:012d}.jpg'))
        for cid in cat_ids:
            anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=cid,
                             bbox=[1, 1, 8, 8], area=64, segmentation=[[1, 1, 9, 1, 9, 9]]))
    return dict(images=images, annotations=anns, categories=cats)


def test_lvis_split_and_converter(tmp_path):
    src = tmp_path / 'lvis_v1_train.json'
    src.write_text(json.dumps(_lvis_json()))
    before = _sha(src)
    split = lvis_split(str(src))
    assert split['novel_classes'] == (LVIS_V1_CLASSES[12], LVIS_V1_CLASSES[13])
    assert len(split['base_classes']) == 4
    proc = run_tool(['tools/dataset_converters/lvis2ovlvis.py', src,
                     '--out', tmp_path / 'norare.json'])
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    out = json.loads((tmp_path / 'norare.json').read_text())
    assert _sha(src) == before
    assert len(out['categories']) == 6 and len(out['images']) == 4
    assert sorted(a['category_id'] for a in out['annotations']) == [1, 2, 3, 3, 20]
    assert counts['removed_annotations'] == 3
    assert (tmp_path / 'lvis_v1_rare_classes.txt').read_text().split('\n')[:2] == \
        [LVIS_V1_CLASSES[12], LVIS_V1_CLASSES[13]]


def test_lvis_split_needs_frequencies(tmp_path):
    path = tmp_path / 'coco_like.json'
    path.write_text(json.dumps(dict(categories=[dict(id=1, name='cat')])))
    with pytest.raises(KeyError, match='coco_like.json: categories without an LVIS'):
        lvis_split(str(path))


def test_ov_coco_dataset_base_split_labels_index_base_classes(tmp_path):
    ann = tmp_path / 'seen.json'
    ann.write_text(json.dumps(_coco_json([['person', 'toothbrush']])))
    ds = OVCocoDataset(classes_split='base', ann_file=str(ann), data_prefix=dict(img=''),
                       pipeline=[])
    assert ds.metainfo['classes'] == resolve_vocabulary('ov-coco-base')
    assert len(ds.metainfo['novel_classes']) == 17
    labels = sorted(i['bbox_label'] for i in ds[0]['instances'])
    assert labels == [0, 47]  # person first, toothbrush last of the 48 base names


def test_ov_lvis_dataset_base_split_relabels(tmp_path):
    from ovdkit.datasets import OVLVISV1Dataset
    ann = tmp_path / 'lvis.json'
    ann.write_text(json.dumps(_lvis_json()))
    full = OVLVISV1Dataset(ann_file=str(ann), data_prefix=dict(img=''), pipeline=[])
    base = OVLVISV1Dataset(classes_split='base', ann_file=str(ann), data_prefix=dict(img=''),
                           pipeline=[])
    assert len(full.metainfo['novel_classes']) == 2 and len(base.metainfo['classes']) == 4
    # image 3 holds ids 2, 3, 20 (base) and 13 (rare): base labels 1, 2, 3; rare dropped
    assert sorted(i['bbox_label'] for i in base[2]['instances']) == [1, 2, 3]
    assert sorted(i['bbox_label'] for i in full[2]['instances']) == [1, 2, 3, 5]


def test_ov_lvis_dataset_base_split_palette_has_a_colour_per_base_class(tmp_path):
    """Base mode: one colour per base class, each the colour mmdet's visualizer gives that
    category in 'all' mode (LVIS has no palette of its own: mmdet seeds a random one)."""
    from mmdet.visualization.palette import get_palette

    from ovdkit.datasets import OVLVISV1Dataset
    ann = tmp_path / 'lvis.json'
    ann.write_text(json.dumps(_lvis_json()))
    full = OVLVISV1Dataset(ann_file=str(ann), data_prefix=dict(img=''), pipeline=[])
    base = OVLVISV1Dataset(classes_split='base', ann_file=str(ann), data_prefix=dict(img=''),
                           pipeline=[])
    assert len(base.metainfo['palette']) == len(base.metainfo['classes']) == 4
    all_colours = get_palette(None, len(full.metainfo['classes']))
    assert base.metainfo['palette'] == [tuple(all_colours[full.cat2label[cid]])
                                        for cid in base.cat_ids]
