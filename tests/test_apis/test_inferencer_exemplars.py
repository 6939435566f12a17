"""OVDInferencer with classes given by example boxes: rows installed as class embeddings, names
in outputs, a swap back to names, bad examples refused with the inferencer still usable, and
grounding heads refused with the reason."""
import pytest
import torch
import torch.nn.functional as F

from ovdkit.apis import OVDInferencer
from ovdkit.datasets.exemplar_classes import Exemplar, ExemplarError, VisualClass
from ovdkit.regions.exemplar_embeddings import ExemplarEmbedder, packed_image
from ovdkit.testing.detectors import (GROUNDING_CONFIG, VILD_TEXT_CONFIG, build_checkpoint,
                                      toy_scenes)


@pytest.fixture(scope='module')
def inferencer(tmp_path_factory):
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, tmp_path_factory.mktemp('vild_text'))
    return OVDInferencer(config, checkpoint, exemplar_crop_scales=(1.25,))


def test_exemplar_rows_are_the_class_embeddings(inferencer):
    scenes = toy_scenes(3)
    thing = VisualClass('thing', [Exemplar(scenes[0], [[10, 12, 50, 60], [70, 64, 120, 100]])])
    star = VisualClass('red star', [Exemplar(scenes[1], [4, 4, 30, 44])], use_name=True)
    names = inferencer.set_vocabulary(['blue circle', thing, star, '-green cross'])
    assert names == inferencer.classes == ('blue circle', 'thing', 'red star')
    head = inferencer.model.roi_head.bbox_head
    assert head.num_classes == 3
    cfg = head.test_vocabulary_cfg
    embedder = ExemplarEmbedder(cfg['model'], cfg['pretrained'], (1.25,), cfg['cache_dir'],
                                lambda image: packed_image(inferencer.pipeline(image)))
    out = inferencer(scenes[2:], pred_score_thr=0.0)
    rows = head.fc_cls.class_embeddings  # installed at the forward
    assert head.scored_names[:4] == ('blue circle', 'thing', 'red star', '-green cross')
    torch.testing.assert_close(rows[1], embedder.class_embedding(thing))
    assert not torch.allclose(rows[2], embedder.class_embedding(star))  # fused with the name
    assert F.cosine_similarity(rows[2], embedder.class_embedding(star), dim=0) > 0.3
    pred = out['predictions'][0]
    assert len(pred['labels']) > 0
    assert pred['label_names'] == [names[i] for i in pred['labels']]
    # back to names: the text path, as before
    assert inferencer.set_vocabulary('red star,blue circle') == ('red star', 'blue circle')
    assert head.num_classes == 2


def test_a_bad_example_is_refused_and_the_vocabulary_in_use_stays(inferencer):
    scenes = toy_scenes(1)
    inferencer.set_vocabulary(['red star', 'blue circle'])
    bad = VisualClass('thing', [Exemplar(scenes[0], [[10, 10, 40, 40], [120, 0, 140, 20]])])
    with pytest.raises(ExemplarError, match="class 'thing', example 2 .*outside the image"):
        inferencer.set_vocabulary(['red star', bad])
    assert inferencer.classes == ('red star', 'blue circle')
    pred = inferencer(scenes, pred_score_thr=0.0)['predictions'][0]
    assert set(pred['label_names']) <= {'red star', 'blue circle'}


def test_grounding_heads_refuse_examples_and_say_why(tmp_path):
    config, checkpoint = build_checkpoint(GROUNDING_CONFIG, tmp_path)
    inferencer = OVDInferencer(config, checkpoint)
    thing = VisualClass('thing', [Exemplar(toy_scenes(1)[0], [10, 12, 50, 60])])
    with pytest.raises(TypeError, match='GroundingBBoxHead .*token features of a text prompt.*'
                                        'no tokens'):
        inferencer.set_vocabulary(['red star', thing])
