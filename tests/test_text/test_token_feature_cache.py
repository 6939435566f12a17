"""Token-feature cache: built once, read back without CLIP, checked against its sidecar."""
import json

import open_clip
import pytest
import torch

import ovdkit.text.token_feature_cache as token_cache
from ovdkit.text import (CLIPTextEncoder, EmbeddingMismatchError, TokenFeatureCache,
                         load_token_features, vocabulary_token_features)
from ovdkit.utils.config_variables import OVDConfigError

MODEL = 'OVD-TestCLIP-RN'
NAMES = ['traffic light', 'hot dog', 'dog']


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """Random test-CLIP weights in a local file, loaded like real weights (pretrained=PATH)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('clip') / 'clip.pt'
    torch.save(open_clip.create_model(MODEL).state_dict(), path)
    return str(path)


def test_miss_builds_hit_loads_without_clip(tmp_path, checkpoint, monkeypatch):
    built = TokenFeatureCache(tmp_path).get(NAMES, MODEL, checkpoint)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].endswith('.json') and files[1].endswith('.pt')
    assert not list(tmp_path.glob('.*tmp'))  # atomic writes leave no temporary file
    meta = json.loads((tmp_path / files[0]).read_text())
    assert meta['kind'] == 'tokens' and meta['classes'] == NAMES and meta['num_classes'] == 3
    assert meta['context_length'] == 77 and meta['dim'] == 32
    assert meta['names_per_prompt'] is None
    assert meta['prompts'] == ['traffic light. hot dog. dog.']
    assert meta['weights_id'].startswith('sha256:')
    assert built['features'].shape == (1, 10, 32) and built['spans'].shape == (3, 3)

    def no_clip(*args, **kwargs):
        raise AssertionError('a cache hit must not build CLIP')
    monkeypatch.setattr(token_cache, 'CLIPTextEncoder', no_clip)
    hit = TokenFeatureCache(tmp_path).get(NAMES, MODEL, checkpoint)
    for key in built:
        assert torch.equal(hit[key], built[key]), key
    # the stored file is plain tensors: it loads with weights_only=True
    raw = torch.load(tmp_path / files[1], weights_only=True)
    assert sorted(raw) == ['attention_mask', 'features', 'spans', 'token_ids']


def test_features_are_the_encoders_token_features(tmp_path, checkpoint):
    tensors = TokenFeatureCache(tmp_path).get(NAMES, MODEL, checkpoint)
    encoder = CLIPTextEncoder(MODEL, checkpoint)
    direct = encoder.encode_tokens('traffic light. hot dog. dog.')
    torch.testing.assert_close(tensors['features'][0], direct['features'][0, :10])
    assert torch.equal(tensors['attention_mask'][0], direct['attention_mask'][0, :10])


def test_other_names_or_weights_are_refused(tmp_path, checkpoint):
    cache = TokenFeatureCache(tmp_path)
    cache.get(NAMES, MODEL, checkpoint)
    path = next(tmp_path.glob('*.pt'))
    with pytest.raises(EmbeddingMismatchError,
                       match="'classes' differs: same names in another order"):
        load_token_features(path, expected=dict(classes=['dog', 'hot dog', 'traffic light']))
    with pytest.raises(EmbeddingMismatchError, match="'weights_id' differs"):
        load_token_features(path, expected=dict(weights_id='sha256:0'))
    # a different vocabulary or prompt layout is a different entry, never the old file
    cache.get(['dog', 'cat'], MODEL, checkpoint)
    single = cache.get(NAMES, MODEL, checkpoint, names_per_prompt=1)
    assert len(list(tmp_path.glob('*.pt'))) == 3
    assert single['features'].shape[0] == 3 and single['spans'].tolist() == [
        [0, 1, 3], [1, 1, 3], [2, 1, 2]]


def test_truncated_entry_is_refused(tmp_path, checkpoint):
    TokenFeatureCache(tmp_path).get(NAMES, MODEL, checkpoint)
    path = next(tmp_path.glob('*.pt'))
    data = torch.load(path, weights_only=True)
    data['spans'] = data['spans'][:2]
    torch.save(data, path)
    with pytest.raises(EmbeddingMismatchError, match='disagree with the sidecar'):
        load_token_features(path)


def test_vocabulary_config_forms(tmp_path, checkpoint):
    names, tensors = vocabulary_token_features(dict(
        classes='traffic light,hot dog,dog', model=MODEL, pretrained=checkpoint,
        templates='vild', cache_dir=str(tmp_path)))
    assert names == tuple(NAMES) and tensors['spans'].shape == (3, 3)
    path = str(next(tmp_path.glob('*.pt')))
    names, from_file = vocabulary_token_features(dict(classes=NAMES, path=path))
    assert torch.equal(from_file['features'], tensors['features'])
    with pytest.raises(EmbeddingMismatchError, match="'classes' differs"):
        vocabulary_token_features(dict(classes=['cat', 'dog', 'cow'], path=path))
    with pytest.raises(OVDConfigError, match='needs `path`, or `model` and `pretrained`') as err:
        vocabulary_token_features(dict(classes=NAMES, model=MODEL))
    assert str(err.value).startswith('vocabulary config {')  # printed as is, not quoted
