"""Negative names and reference names: scored in the softmax, never reported.

The fixture detector embeds every region to the same unit vector ``r`` (its projection's
weight is zero, its bias ``r``), so every region's class probabilities are known in closed
form: ``softmax([cos(r, t_c) / T ..., cos(r, bg) / T])`` over the scored rows. Expected values
are computed here from that formula with plain math, never by OVDKit's code.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.testing import demo_mm_inputs

from ovdkit.datasets.negative_names import kept_names, split_negative_entries
from ovdkit.models.competing_names import encode_rows, reference_rows
from ovdkit.testing.detectors import VILD_TEXT_CONFIG, build_toy_detector, random_embedding_file

ENSEMBLE_CONFIG = 'configs/toyworld/vild-ensemble_r18_fpn_1xb8-300i_toyworld.py'
BASE = ['red star', 'blue circle']
DIM = 128
T = 0.5  # a temperature at which every probability below is well above score_thr
E = torch.eye(DIM)
RED_STAR = F.normalize(E[0] + E[2], dim=0)  # cos with r = 1 / sqrt(2)
BLUE_CIRCLE = E[1]                          # cos 0
ZEBRA = E[2]                                # cos 1: the regions *are* zebras
GREEN_CROSS = -E[2]                         # cos -1
REGION = E[2]
COS = {'red star': 1 / math.sqrt(2), 'blue circle': 0.0, 'zebra': 1.0, 'green cross': -1.0,
       'background': -1.0}


def expected_probabilities(scored):
    """softmax over the scored names' cos / T and the background's."""
    exps = {n: math.exp(COS[n] / T) for n in list(scored) + ['background']}
    total = sum(exps.values())
    return {n: exps[n] / total for n in scored}


@pytest.fixture()
def detector(tmp_path):
    base_path, _ = random_embedding_file(tmp_path, BASE, 0, DIM)
    model = build_toy_detector(VILD_TEXT_CONFIG, vocabulary=dict(classes=BASE, path=base_path),
                               test_vocabulary=dict(classes=BASE, path=base_path))
    head = model.roi_head.bbox_head
    with torch.no_grad():  # the training vocabulary's embeddings: red star, blue circle
        head.fc_cls.projection.weight.zero_()
        head.fc_cls.projection.bias.copy_(REGION)
        head.fc_cls.background_embedding.copy_(-REGION)
    head.fc_cls.temperature = T
    head._references = (tuple(BASE), torch.stack([RED_STAR, BLUE_CIRCLE]))
    model.roi_head.test_cfg.max_per_img = 1000  # every name's detections kept, none crowded out
    model.eval()
    return model


EMBEDDINGS = {'red star': RED_STAR, 'blue circle': BLUE_CIRCLE, 'zebra': ZEBRA,
              'green cross': GREEN_CROSS}


def _predict(model, rows):
    head = model.roi_head.bbox_head
    head.set_test_vocabulary(rows, torch.stack([EMBEDDINGS[r.lstrip('-')] for r in rows]))
    data = model.data_preprocessor(demo_mm_inputs(batch_size=1, image_shapes=(3, 128, 128),
                                                  num_items=[1], num_classes=2), False)
    with torch.no_grad():
        return model(**data, mode='predict')[0].pred_instances


def _scores_by_label(pred):
    return {int(k): pred.scores[pred.labels == k] for k in pred.labels.unique()}


def test_without_references_an_absent_name_takes_the_score(detector):
    detector.roi_head.bbox_head.set_reference_vocabulary(None)
    pred = _predict(detector, ['red star', 'zebra'])
    expected = expected_probabilities(['red star', 'zebra'])
    by_label = _scores_by_label(pred)
    assert set(by_label) == {0, 1}
    torch.testing.assert_close(by_label[0], torch.full_like(by_label[0], expected['red star']))
    torch.testing.assert_close(by_label[1], torch.full_like(by_label[1], expected['zebra']))


def test_a_negative_name_equal_to_the_regions_removes_its_detections(detector):
    head = detector.roi_head.bbox_head
    head.set_reference_vocabulary(None)
    asked = _predict(detector, ['red star', 'zebra'])
    pred = _predict(detector, ['red star', '-zebra'])
    assert head.test_classes == ('red star',) and head.num_classes == 1
    assert pred.labels.tolist() == [0] * len(pred)  # no zebra, and labels index the names asked
    # zebra still competes: red star's score is the same as when zebra was asked for
    expected = expected_probabilities(['red star', 'zebra'])['red star']
    torch.testing.assert_close(pred.scores, torch.full_like(pred.scores, expected))
    assert len(pred) > 0 and (asked.labels == 1).any()  # zebra fired when asked for
    # and the negative's place in the vocabulary does not matter
    first = _predict(detector, ['-zebra', 'red star'])
    torch.testing.assert_close(first.scores, pred.scores)
    assert first.labels.tolist() == [0] * len(first)


def test_reference_names_compete_and_are_dropped(detector):
    """Default: the training names not asked for (blue circle) join the softmax."""
    head = detector.roi_head.bbox_head
    pred = _predict(detector, ['green cross', 'zebra'])
    assert head.scored_names == ('green cross', 'zebra', '-red star', '-blue circle')
    expected = expected_probabilities(['green cross', 'zebra', 'red star', 'blue circle'])
    by_label = _scores_by_label(pred)
    assert set(by_label) <= {0, 1} and 1 in by_label
    torch.testing.assert_close(by_label[1], torch.full_like(by_label[1], expected['zebra']))
    # a reference asked for is scored once, as the name asked for
    pred = _predict(detector, ['red star', 'zebra'])
    assert head.scored_names == ('red star', 'zebra', '-blue circle')
    expected = expected_probabilities(['red star', 'zebra', 'blue circle'])
    by_label = _scores_by_label(pred)
    torch.testing.assert_close(by_label[0], torch.full_like(by_label[0], expected['red star']))


def test_ensemble_scores_every_scored_row_with_its_text_weight(tmp_path):
    """ViLD-ensemble: ``text^w * image^(1 - w)`` over the names asked for, the negative and
    the references; ``w`` = 2/3 for training names (red star, the reference blue circle),
    1/3 for the others; the image branch's softmax has no background."""
    base_path, _ = random_embedding_file(tmp_path, BASE, 0, DIM)
    model = build_toy_detector(ENSEMBLE_CONFIG, vocabulary=dict(classes=BASE, path=base_path),
                               test_vocabulary=dict(classes=BASE, path=base_path))
    head = model.roi_head.bbox_head
    image_region = E[0]  # the image branch sees a red-star-like region
    with torch.no_grad():
        for proj, direction in ((head.fc_cls.projection, REGION),
                                (head.image_projection, image_region)):
            proj.weight.zero_()
            proj.bias.copy_(direction)
        head.fc_cls.background_embedding.copy_(-REGION)
    head.fc_cls.temperature = T
    head.ensemble['image_temperature'] = T
    head._references = (tuple(BASE), torch.stack([RED_STAR, BLUE_CIRCLE]))
    model.eval()
    rows = ['zebra', 'green cross', '-red star']  # + reference blue circle
    scored = ['zebra', 'green cross', 'red star', 'blue circle']
    head.set_test_vocabulary(rows, torch.stack([EMBEDDINGS[r.lstrip('-')] for r in rows]))
    with torch.no_grad():
        scores = head(torch.randn(3, 64, 7, 7))[0].softmax(-1)
    text = expected_probabilities(scored)
    image_cos = {n: float(EMBEDDINGS[n] @ image_region) for n in scored}
    total = sum(math.exp(c / T) for c in image_cos.values())
    weight = {n: 2 / 3 if n in BASE else 1 / 3 for n in scored}
    expected = torch.tensor([text[n] ** weight[n] * (math.exp(image_cos[n] / T) / total) **
                             (1 - weight[n]) for n in scored])
    assert head.scored_names == ('zebra', 'green cross', '-red star', '-blue circle')
    torch.testing.assert_close(scores[:, :-1], expected.expand(3, -1), rtol=1e-4, atol=1e-6)


def test_negative_entries_are_split_and_checked():
    assert split_negative_entries(['red star', '-zebra|okapi', 'tv|monitor', '- cone']) == (
        ('red star', 'tv|monitor'), ('zebra|okapi', 'cone'))
    assert kept_names(['red star', '-zebra']) == ('red star',)
    with pytest.raises(ValueError, match=r"vocabulary: negative entry '-' has no name"):
        split_negative_entries(['red star', '-'])
    with pytest.raises(ValueError, match=r"\['zebra'\] are both asked for and negative"):
        split_negative_entries(['zebra', '-zebra'])
    with pytest.raises(ValueError, match='only negative names'):
        split_negative_entries(['-zebra', '-cone'])


def test_rows_put_negatives_after_the_names_asked_for():
    seen = []

    def encode(cfg):
        seen.append(cfg['classes'])
        entries = cfg['classes'].split(',') if isinstance(cfg['classes'], str) else \
            cfg['classes']
        names = tuple(e.split('|')[0] for e in entries)
        return names, torch.arange(len(names), dtype=torch.float32)[:, None]

    names, emb = encode_rows(dict(classes='-zebra,red star,-cone|traffic cone,blue circle'),
                             encode)
    assert seen == [('red star', 'blue circle', 'zebra', 'cone|traffic cone')]
    assert names == ('red star', 'blue circle', '-zebra', '-cone') and emb.shape == (4, 1)
    # no negative entry: the spec goes to the encoder untouched (same cache key as before)
    assert encode_rows(dict(classes='red star,blue circle'), encode)[0] == ('red star',
                                                                            'blue circle')
    assert seen[-1] == 'red star,blue circle'


def test_references_sharing_a_name_or_synonym_with_the_vocabulary_are_left_out():
    references = ['red star', 'blue circle|blue disk', 'tv|monitor', 'zebra']
    assert reference_rows(['monitor', '-zebra', 'blue disk|disk'], references) == (0,)
    assert reference_rows(['cat'], references) == (0, 1, 2, 3)


def test_a_test_vocabulary_file_with_negative_lines(tmp_path):
    """What tools/test.py reads: ``test_vocabulary.classes`` a file with a ``-zebra`` line."""
    names = tmp_path / 'names.txt'
    names.write_text('red star\n-zebra\ngreen cross\n')
    base_path, _ = random_embedding_file(tmp_path, BASE, 0, DIM)
    model = build_toy_detector(VILD_TEXT_CONFIG, vocabulary=dict(classes=BASE, path=base_path),
                               test_vocabulary=dict(classes=str(names), model='OVD-TinyCLIP-RN',
                                                    pretrained=None,
                                                    cache_dir=str(tmp_path / 'cache')))
    model.eval()
    head = model.roi_head.bbox_head
    with torch.no_grad():
        scores, _ = head(torch.randn(2, 64, 7, 7))
    assert head.test_classes == ('red star', 'green cross') and head.num_classes == 2
    assert head.scored_names == ('red star', 'green cross', '-zebra', '-blue circle')
    assert scores.shape == (2, 5)


def test_negative_names_in_the_training_vocabulary_are_refused(tmp_path):
    path, _ = random_embedding_file(tmp_path, ['red star', 'zebra'], 0, DIM)
    model = build_toy_detector(VILD_TEXT_CONFIG, vocabulary=dict(classes=['red star', '-zebra'],
                                                                 path=path))
    model.train()
    with pytest.raises(ValueError, match=r"training vocabulary .* has negative names "
                                         r"\(\['-zebra'\]\)"):
        model.roi_head.bbox_head(torch.randn(2, 64, 7, 7))
