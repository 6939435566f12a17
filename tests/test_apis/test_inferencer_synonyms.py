"""Synonyms through OVDInferencer: the heads get the whole entries (their embeddings average
the synonyms), outputs keep the first names."""
import torch

from ovdkit.apis import OVDInferencer
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_checkpoint, toy_scenes
from ovdkit.text.vocabulary_embeddings import vocabulary_embeddings


def test_synonyms_reach_the_head_and_outputs_keep_first_names(tmp_path):
    config, checkpoint = build_checkpoint(VILD_TEXT_CONFIG, tmp_path)
    inferencer = OVDInferencer(config, checkpoint, device='cpu',
                               cfg_options={'model.test_cfg.rcnn.score_thr': 0.0})
    assert inferencer.set_vocabulary('red star|star|pentagram,blue circle') == \
        ('red star', 'blue circle')
    out = inferencer(toy_scenes(1))
    head = inferencer.model.roi_head.bbox_head
    assert head.test_vocabulary_cfg['classes'] == ('red star|star|pentagram', 'blue circle')
    vocab = {k: v for k, v in head.test_vocabulary_cfg.items() if k != 'path'}
    _, expected = vocabulary_embeddings(dict(vocab, classes='red star|star|pentagram,blue circle'))
    _, plain = vocabulary_embeddings(dict(vocab, classes='red star,blue circle'))
    torch.testing.assert_close(head.fc_cls.class_embeddings, expected)
    assert not torch.allclose(head.fc_cls.class_embeddings[0], plain[0])
    assert set(out['predictions'][0]['label_names']) <= {'red star', 'blue circle'}
    assert inferencer.model.dataset_meta['classes'] == ('red star', 'blue circle')
    # the same first names with other synonyms are another vocabulary: installed, not skipped
    inferencer.set_vocabulary('red star,blue circle')
    inferencer(toy_scenes(1))
    torch.testing.assert_close(head.fc_cls.class_embeddings, plain)
