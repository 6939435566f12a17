"""OVDInferencer: vocabulary swaps in place, names in outputs, strict checkpoints, errors."""
import json
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS

from ovdkit.apis import OVDInferencer, open_vocabulary_heads
from ovdkit.testing import REPO
from ovdkit.testing.detectors import HEAD, VILD_TEXT_CONFIG, build_checkpoint, toy_scenes
from ovdkit.text import CLIPTextEncoder
from ovdkit.utils.strict_checkpoint import CheckpointMismatchError


@pytest.fixture(scope='module')
def vild_text(tmp_path_factory):
    return build_checkpoint(VILD_TEXT_CONFIG, tmp_path_factory.mktemp('vild_text'))


def test_vocabulary_swaps_in_place_with_clip_built_once(vild_text, tmp_path, monkeypatch):
    config, checkpoint = vild_text
    # a fresh cache folder: every vocabulary below is a miss, embedded by CLIP
    built = []
    original_init = CLIPTextEncoder.__init__

    def counting_init(self, *args, **kwargs):
        built.append(args)
        original_init(self, *args, **kwargs)
    monkeypatch.setattr(CLIPTextEncoder, '__init__', counting_init)
    inferencer = OVDInferencer(config, checkpoint, cfg_options={
        HEAD + 'test_vocabulary.cache_dir': str(tmp_path / 'cache')})
    model, head = inferencer.model, inferencer.model.roi_head.bbox_head
    builds = []
    monkeypatch.setattr(MODELS, 'build', lambda *a, **k: builds.append(a))
    vocab_file = tmp_path / 'names.txt'
    vocab_file.write_text('# toy names\nred star\nyellow heart\n\npurple cross\n')
    images = toy_scenes(2)
    for vocabulary, names in (
            (['zebra', 'traffic cone'], ('zebra', 'traffic cone')),
            ('red star,blue circle, green cross', ('red star', 'blue circle', 'green cross')),
            (str(vocab_file), ('red star', 'yellow heart', 'purple cross')),
            (['zebra', 'traffic cone'], ('zebra', 'traffic cone'))):
        out = inferencer(images, vocabulary=vocabulary, batch_size=2)
        assert inferencer.classes == names
        assert head.num_classes == len(names)
        assert model.dataset_meta['classes'] == names
        assert inferencer.visualizer.dataset_meta['classes'] == names
        assert len(inferencer.visualizer.dataset_meta['palette']) == len(names)
        assert len(out['predictions']) == 2
        for pred in out['predictions']:
            assert len(pred['bboxes']) == len(pred['scores']) == len(pred['labels']) > 0
            assert pred['label_names'] == [names[i] for i in pred['labels']]
            assert pred['scores'] == sorted(pred['scores'], reverse=True)
    assert inferencer.model is model and builds == []   # the detector was never rebuilt
    assert len(built) == 1                              # one CLIP text tower for 3 misses
    assert len(list((tmp_path / 'cache').glob('*.pt'))) == 3


def test_builtin_vocabulary_and_exact_round_trip(vild_text):
    config, checkpoint = vild_text
    inferencer = OVDInferencer(config, checkpoint, vocabulary=['person', 'bicycle'])
    image = toy_scenes(1)
    first = inferencer(image, return_datasamples=True)['predictions'][0].pred_instances
    coco = inferencer(image, vocabulary='coco', return_datasamples=True)
    assert len(inferencer.classes) == 80 and inferencer.classes[:2] == ('person', 'bicycle')
    assert int(coco['predictions'][0].pred_instances.labels.max()) >= 2
    # back to two names: exactly the first results, nothing of the 80-name state is left
    again = inferencer(image, vocabulary='person,bicycle',
                       return_datasamples=True)['predictions'][0].pred_instances
    assert len(first) > 0 and int(first.labels.max()) < 2
    for key in ('bboxes', 'scores', 'labels'):
        torch.testing.assert_close(again[key], first[key])


def test_outputs_drawn_and_written_atomically(vild_text, tmp_path):
    config, checkpoint = vild_text
    inferencer = OVDInferencer(config, checkpoint, vocabulary=['red star', 'blue circle'])
    import mmcv
    paths = []
    for i, image in enumerate(toy_scenes(3)):
        paths.append(str(tmp_path / f'scene{i}.png'))
        mmcv.imwrite(image, paths[-1])
    out = inferencer(paths, batch_size=2, out_dir=str(tmp_path / 'out'), no_save_pred=False,
                     pred_score_thr=0.0, zoom=3, return_vis=True)
    for path, pred, vis in zip(paths, out['predictions'], out['visualization']):
        name = Path(path).name
        drawn = mmcv.imread(str(tmp_path / 'out' / 'vis' / name))
        assert drawn.shape == (384, 384, 3) and vis.shape == (384, 384, 3)
        saved = json.loads((tmp_path / 'out' / 'preds' / f'{Path(path).stem}.json').read_text())
        assert saved['label_names'] == pred['label_names']
        assert saved['img_path'] == path
        # zoom enlarges the drawing only: boxes stay in input pixels
        assert max(max(b) for b in pred['bboxes']) <= 128 + 1e-3
    leftovers = [p for p in (tmp_path / 'out').rglob('*') if p.name.endswith('.tmp')]
    assert leftovers == []


def test_no_vocabulary_empty_and_duplicate_names_are_errors(vild_text):
    config, checkpoint = vild_text
    inferencer = OVDInferencer(config, checkpoint)
    with pytest.raises(ValueError, match='no vocabulary'):
        inferencer(toy_scenes(1))
    for bad, message in (('', 'empty vocabulary'), (' , ', 'empty vocabulary'),
                         ([], 'empty vocabulary'), ('zebra,zebra', r"duplicate .*'zebra'"),
                         (['cat', 'dog', 'cat'], r"duplicate .*'cat'"),
                         ('zebra,,cone', 'blank class name')):
        with pytest.raises(ValueError, match=message):
            inferencer.set_vocabulary(bad)
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        inferencer.set_vocabulary('missing.txt')


def test_checkpoint_must_match_config(vild_text, tmp_path):
    config, checkpoint = vild_text
    with pytest.raises(FileNotFoundError, match='checkpoint .*nope.pth does not exist'):
        OVDInferencer(config, str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError, match='config .*nope.py does not exist'):
        OVDInferencer(str(tmp_path / 'nope.py'), checkpoint)
    with pytest.raises(CheckpointMismatchError,
                       match=r'checkpoint .*model.pth does not match config .*config.py: '
                             r'.*shape mismatches.*shared_fcs.0.weight \(256, 3136\) vs '
                             r'\(128, 3136\)'):
        OVDInferencer(config, checkpoint, cfg_options={HEAD + 'fc_out_channels': 128})
    state = torch.load(checkpoint)['state_dict']
    state.pop('roi_head.bbox_head.fc_cls.background_embedding')
    state['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(3, 256)
    torch.save(dict(state_dict=state), tmp_path / 'other.pth')
    with pytest.raises(CheckpointMismatchError,
                       match=r'1 missing keys \(roi_head.bbox_head.fc_cls.background_embedding\)'
                             r'; 1 unexpected keys \(roi_head.bbox_head.fc_cls.weight\)'):
        OVDInferencer(config, str(tmp_path / 'other.pth'))


def test_embedding_dimension_must_match_the_head(tmp_path):
    # a head of dimension 64 given the 128-dimensional embeddings of OVD-TinyCLIP-RN
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, tmp_path, embed_dim=64)
    inferencer = OVDInferencer(config, checkpoint)
    with pytest.raises(ValueError, match=r"ViLDTextBBoxHead: text embeddings of dimension "
                                         r"128 \(OVD-TinyCLIP-RN\) do not match the head's "
                                         r"embed_dim 64"):
        inferencer.set_vocabulary(['zebra'])


def test_open_vocabulary_heads_are_the_outermost():
    class Head(torch.nn.Module):
        def __init__(self, inner=None):
            super().__init__()
            self.inner = inner

        def use_vocabulary(self, classes):
            return tuple(classes)

    model = torch.nn.Module()
    model.a = Head(inner=Head())
    model.b = torch.nn.Sequential(torch.nn.Linear(1, 1), Head())
    model.c = torch.nn.Linear(1, 1)
    assert [name for name, _ in open_vocabulary_heads(model)] == ['a', 'b.1']


@pytest.mark.parametrize('config,head', [
    ('configs/toyworld/vild_r18_fpn_1xb8-300i_toyworld.py', 'ViLDBBoxHead'),
    ('configs/toyworld/vild-ensemble_r18_fpn_1xb8-300i_toyworld.py', 'ViLDBBoxHead'),
    ('configs/toyworld/grounding_r18_fpn_1xb8-300i_toyworld.py', 'GroundingBBoxHead'),
])
def test_vild_and_grounding_checkpoints(config, head, tmp_path):
    assert (REPO / config).is_file(), f'{config} is missing: a shipped config was deleted'
    config_path, checkpoint = build_checkpoint(config, tmp_path)
    inferencer = OVDInferencer(config_path, checkpoint)
    assert type(inferencer.model.roi_head.bbox_head).__name__ == head
    for names in (['red star', 'zebra'], ['traffic cone', 'red star', 'blue circle']):
        pred = inferencer(toy_scenes(1), vocabulary=names)['predictions'][0]
        assert inferencer.model.roi_head.bbox_head.num_classes == len(names)
        assert set(pred['label_names']) <= set(names)
        assert pred['label_names'] == [names[i] for i in pred['labels']]
