"""The one sidecar cache: every kind shares one encoder pool, earlier files keep their names and
load, other formats and kinds are refused with what to do."""
import json

import open_clip
import pytest
import torch

import ovdkit.text.clip_text_encoder as encoder_module
from ovdkit.testing.detectors import GROUNDING_CONFIG, VILD_TEXT_CONFIG, build_toy_detector
from ovdkit.text import (EmbeddingMismatchError, TextEmbeddingCache, TokenFeatureCache,
                         load_text_embeddings, make_meta, save_text_embeddings)
from ovdkit.text.token_feature_cache import make_token_meta

MODEL = 'OVD-TestCLIP-RN'
NAMES = ['red star', 'blue circle']


def test_entries_keep_the_names_and_keys_files_were_made_with():
    """Key and file name of an entry as OVDKit wrote them before the caches were one (values
    recorded from that code): a cache folder made then is still found and loaded."""
    pooled = make_meta(MODEL, 'openai', 'tag:openai', 'single', ['a photo of a {}.'], NAMES, 32)
    assert pooled['key'] == 'cbbff1faceb6e6987dfae97735da46524486a9edcfe3f367420aaad4f52b0bfc'
    assert TextEmbeddingCache('c').path_for(pooled).name == \
        'OVD-TestCLIP-RN_openai_single_2c_cbbff1faceb6e698.pt'
    tokens = make_token_meta(MODEL, 'openai', 'tag:openai', 16, NAMES, 32, 1)
    assert tokens['key'] == '856a04dc23c93c1b87a2b4ef65b5a10f65aeaa662ceb07a5a1000005d3af0c62'
    assert TokenFeatureCache('c').path_for(tokens).name == \
        'OVD-TestCLIP-RN_openai_tokens1_2c_856a04dc23c93c1b.pt'


def test_other_formats_and_kinds_are_refused_with_what_to_do(tmp_path):
    meta = make_meta(MODEL, 'openai', 'tag:openai', 'single', ['{}'], NAMES, 4)
    path = save_text_embeddings(tmp_path / 'e.pt', torch.eye(2, 4), meta)
    sidecar = path.with_suffix('.json')
    old = json.loads(sidecar.read_text())
    del old['kind'], old['format']  # as the first files were written: format 1, pooled
    sidecar.write_text(json.dumps(old))
    torch.testing.assert_close(load_text_embeddings(path)[0], torch.eye(2, 4))
    sidecar.write_text(json.dumps(dict(old, format=2)))
    with pytest.raises(EmbeddingMismatchError,
                       match=r'sidecar format 2, this OVDKit reads format 1: delete e\.pt and '
                             r'its \.json and let the cache build it again'):
        load_text_embeddings(path)
    sidecar.write_text(json.dumps(dict(old, kind='tokens')))
    with pytest.raises(EmbeddingMismatchError, match="says kind 'tokens', not 'pooled'"):
        load_text_embeddings(path)


def test_a_vild_and_a_grounding_head_on_the_same_weights_build_the_tower_once(
        tmp_path, monkeypatch):
    torch.manual_seed(0)
    checkpoint = str(tmp_path / 'clip.pt')
    torch.save(open_clip.create_model(MODEL).state_dict(), checkpoint)
    built = []
    original = encoder_module.CLIPTextEncoder

    def counting(*args, **kwargs):
        built.append(args[:2])
        return original(*args, **kwargs)
    monkeypatch.setattr(encoder_module, 'CLIPTextEncoder', counting)
    heads = []
    for config, folder in ((VILD_TEXT_CONFIG, 'pooled'), (GROUNDING_CONFIG, 'tokens')):
        vocabulary = dict(classes=NAMES, model=MODEL, pretrained=checkpoint, templates='single',
                          cache_dir=str(tmp_path / folder))
        model = build_toy_detector(config, embed_dim=32, vocabulary=vocabulary,
                                   test_vocabulary=dict(classes=NAMES + ['green cross']))
        model.eval()
        with torch.no_grad():
            model.roi_head.bbox_head(torch.randn(2, 64, 7, 7))  # resolves the vocabulary
        heads.append(model.roi_head.bbox_head)
    assert [h.num_classes for h in heads] == [3, 3]
    assert built == [(MODEL, checkpoint)]
    assert list((tmp_path / 'pooled').glob('*.json')) and list((tmp_path / 'tokens').glob('*.json'))
