"""Class embeddings of synonyms: normalised mean over synonyms x templates, first names in
outputs, the cache key and sidecar holding the synonyms, bounded batches of names."""
import json

import pytest
import torch
import torch.nn.functional as F

from ovdkit.text import CLIPTextEncoder, TextEmbeddingCache
from ovdkit.text.vocabulary_embeddings import vocabulary_embeddings

MODEL = 'OVD-TestCLIP-RN'
TEMPLATES = ['a photo of a {}.', 'a drawing of the {}.']


@pytest.fixture(scope='module')
def encoder():
    torch.manual_seed(0)
    return CLIPTextEncoder(MODEL, None)


def test_embedding_is_normalised_mean_over_synonyms_and_templates(encoder):
    emb = encoder.embed_classes(['television|tv|monitor', 'zebra'], TEMPLATES)
    prompts = [t.format(n) for n in ('television', 'tv', 'monitor') for t in TEMPLATES]
    expected_tv = F.normalize(encoder.encode_prompts(prompts).mean(0), dim=-1)
    expected_zebra = F.normalize(encoder.encode_prompts(
        [t.format('zebra') for t in TEMPLATES]).mean(0), dim=-1)
    assert emb.shape == (2, encoder.embed_dim)
    torch.testing.assert_close(emb[0], expected_tv)
    torch.testing.assert_close(emb[1], expected_zebra)
    # the synonyms change the embedding: it is not the first name's alone
    assert not torch.allclose(emb[0], encoder.embed_classes(['television'], TEMPLATES)[0])


def test_names_encoded_in_bounded_steps_give_the_same_embeddings(encoder):
    entries = ['television|tv|monitor', 'zebra', 'traffic cone|cone', 'cat']
    whole = encoder.embed_classes(entries, TEMPLATES)
    steps = encoder.embed_classes(entries, TEMPLATES, batch_size=3, names_per_step=2)
    torch.testing.assert_close(steps, whole)


def test_cache_key_and_sidecar_hold_the_synonyms(tmp_path):
    torch.manual_seed(0)
    cfg = dict(model=MODEL, pretrained=None, templates='single', cache_dir=str(tmp_path))
    names, plain = vocabulary_embeddings(dict(cfg, classes='television,zebra'))
    names_syn, syn = vocabulary_embeddings(dict(cfg, classes='television|tv,zebra'))
    assert names == names_syn == ('television', 'zebra')  # first names in outputs
    assert not torch.allclose(plain[0], syn[0])
    torch.testing.assert_close(plain[1], syn[1])
    sidecars = sorted(tmp_path.glob('*.json'))
    assert len(sidecars) == 2  # two entries: the synonyms are part of the key
    metas = [json.loads(p.read_text()) for p in sidecars]
    assert sorted(m['classes'][0] for m in metas) == ['television', 'television|tv']
    assert len({m['key'] for m in metas}) == 2
    # a stored file is checked against the whole entries
    syn_meta = next(m for m in metas if m['classes'][0] == 'television|tv')
    path = TextEmbeddingCache(tmp_path).path_for(syn_meta)
    _, loaded = vocabulary_embeddings(dict(classes='television|tv,zebra', path=str(path)))
    torch.testing.assert_close(loaded, syn)
    with pytest.raises(ValueError, match="'classes' differs: index 0: file has "
                                         "'television|tv', expected 'television'"):
        vocabulary_embeddings(dict(classes='television,zebra', path=str(path)))
