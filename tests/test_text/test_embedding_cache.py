"""The text-embedding cache: hits without CLIP, sidecar checks, templates, the build tool."""
import hashlib
import json
from pathlib import Path

import open_clip
import pytest
import torch

import ovdkit.text.clip_text_encoder as encoder_module
from ovdkit.testing import run_tool
from ovdkit.text import (EmbeddingMismatchError, TextEmbeddingCache, TextEncoderPool,
                         load_templates, load_text_embeddings)

MODEL = 'OVD-TestCLIP-RN'
NAMES = ['red star', 'blue circle', 'green heart']


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    torch.manual_seed(2)
    path = tmp_path_factory.mktemp('clip') / 'test_clip.pt'
    torch.save(open_clip.create_model(MODEL).state_dict(), path)
    return str(path)


@pytest.fixture()
def stored(tmp_path, checkpoint):
    """A cache folder with one entry; returns (cache, embeddings, path)."""
    cache = TextEmbeddingCache(tmp_path, batch_size=16, pool=TextEncoderPool())
    emb = cache.get(NAMES, MODEL, checkpoint, 'single')
    path = cache.path_for(cache.meta_for(NAMES, MODEL, checkpoint, 'single'))
    return cache, emb, path


def test_sidecar_records_provenance(stored, checkpoint):
    _, emb, path = stored
    meta = json.loads(path.with_suffix('.json').read_text())
    assert meta['model'] == MODEL
    assert meta['weights_id'] == 'sha256:' + hashlib.sha256(
        Path(checkpoint).read_bytes()).hexdigest()
    assert meta['templates'] == 'single'
    assert meta['template_list'] == ['a photo of a {}.']
    assert meta['classes'] == NAMES and meta['num_classes'] == 3 and meta['dim'] == 32
    assert meta['ovdkit_version'] and len(meta['key']) == 64
    assert meta['key'][:16] in path.name
    assert emb.shape == (3, 32)


def test_cache_hit_loads_without_building_the_encoder(stored, checkpoint, monkeypatch):
    _, emb, _ = stored

    def no_encoder(*args, **kwargs):
        raise AssertionError('the encoder was built on a cache hit')
    monkeypatch.setattr(encoder_module, 'CLIPTextEncoder', no_encoder)
    fresh = TextEmbeddingCache(stored[0].cache_dir, pool=TextEncoderPool())
    assert torch.equal(fresh.get(NAMES, MODEL, checkpoint, 'single'), emb)


def test_other_names_or_templates_are_other_entries(stored, checkpoint):
    cache, emb, path = stored
    other = cache.get(list(reversed(NAMES)), MODEL, checkpoint, 'single')
    torch.testing.assert_close(other, emb.flip(0))
    cache.get(NAMES, MODEL, checkpoint, 'vild')
    assert len(list(cache.cache_dir.glob('*.json'))) == 3
    assert cache._encoders.keys() == {(MODEL, checkpoint)}  # CLIP built once for all


@pytest.mark.parametrize('expected, message', [
    (dict(num_classes=4), r"'num_classes' differs: file has 3, expected 4"),
    (dict(dim=512), r"'dim' differs: file has 32, expected 512"),
    (dict(model='ViT-B-32'), r"'model' differs: file has 'OVD-TestCLIP-RN'"),
    (dict(templates='vild'), r"'templates' differs: file has 'single', expected 'vild'"),
    (dict(weights_id='tag:openai'), r"'weights_id' differs"),
    (dict(classes=['red star', 'blue circle', 'yellow heart']),
     r"'classes' differs: index 2: file has 'green heart', expected 'yellow heart'"),
    (dict(classes=['blue circle', 'red star', 'green heart']),
     r"'classes' differs: same names in another order \(index 0"),
])
def test_each_sidecar_mismatch_names_its_field(stored, expected, message):
    _, _, path = stored
    with pytest.raises(EmbeddingMismatchError, match=message):
        load_text_embeddings(path, expected=expected)


def test_tensor_that_disagrees_with_its_sidecar(stored):
    _, emb, path = stored
    torch.save({'embeddings': emb[:2]}, path)
    with pytest.raises(EmbeddingMismatchError, match=r'tensor shape \(2, 32\) disagrees'):
        load_text_embeddings(path)


def test_missing_sidecar(stored):
    _, _, path = stored
    path.with_suffix('.json').unlink()
    with pytest.raises(FileNotFoundError, match='.json does not exist'):
        load_text_embeddings(path)


def test_template_file(tmp_path):
    good = tmp_path / 'templates.txt'
    good.write_text('# mine\na {} in the wild.\n\nthe {}.\n')
    name, templates = load_templates(str(good))
    assert templates == ('a {} in the wild.', 'the {}.') and name.startswith('file:')
    bad = tmp_path / 'bad.txt'
    bad.write_text('a {} and {}.\n')
    with pytest.raises(ValueError, match=r'bad.txt:1: a template needs exactly one'):
        load_templates(str(bad))
    with pytest.raises(FileNotFoundError, match='nor an existing file'):
        load_templates('no-such-set')


def test_build_tool_writes_embeddings_and_sidecar(tmp_path, checkpoint):
    out = tmp_path / 'out' / 'three.pt'
    proc = run_tool(['tools/build_text_embeddings.py', '--vocab', 'red star,blue circle,cat',
                     '--model', MODEL, '--pretrained', checkpoint, '--templates', 'single',
                     '--out', out, '--cache-dir', tmp_path / 'cache'])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['path'] == str(out) and result['num_classes'] == 3
    emb, meta = load_text_embeddings(out, expected=dict(classes=['red star', 'blue circle',
                                                                 'cat']))
    assert emb.shape == (3, 32)
    cached = TextEmbeddingCache(tmp_path / 'cache').get(['red star', 'blue circle', 'cat'],
                                                        MODEL, checkpoint, 'single')
    assert torch.equal(cached, emb)
