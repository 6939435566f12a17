"""The frozen CLIP text encoder: tokenizer, pooled ensembles, token features, weight loading."""
import open_clip
import pytest
import torch
import torch.nn.functional as F

from ovdkit.text import VILD_TEMPLATES, CLIPTextEncoder, CLIPWeightsError

MODEL = 'OVD-TestCLIP-RN'
NAMES = ['cat', 'traffic light', 'aerosol_can']


@pytest.fixture(scope='module')
def encoder():
    torch.manual_seed(0)
    return CLIPTextEncoder(MODEL, None)


def test_tokenizer_works_offline(encoder):
    tokens = encoder.tokenize(['a photo of a cat.', 'dog'])
    assert tokens.shape == (2, 77)
    assert tokens[0, 0] == 49406  # start of text
    assert tokens[1, :3].tolist() == [49406, encoder.tokenizer.encode('dog')[0], 49407]


def test_class_embeddings_have_unit_norm(encoder):
    emb = encoder.embed_classes(NAMES, VILD_TEMPLATES)
    assert emb.shape == (3, 32)
    assert emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))


def test_ensemble_is_normalised_mean_of_single_templates(encoder):
    templates = VILD_TEMPLATES[:7]
    singles = torch.stack([encoder.embed_classes(NAMES, [t]) for t in templates])  # (T, C, D)
    expected = F.normalize(F.normalize(singles, dim=-1).mean(0), dim=-1)
    torch.testing.assert_close(encoder.embed_classes(NAMES, templates), expected)
    # and the ensemble really differs from a single template
    assert not torch.allclose(expected, singles[0], atol=1e-3)


def test_underscores_become_spaces_in_prompts(encoder):
    torch.testing.assert_close(encoder.embed_classes(['aerosol_can'], ['a {}.']),
                               encoder.embed_classes(['aerosol can'], ['a {}.']))


def test_batching_does_not_change_embeddings(encoder):
    prompts = [f'a photo of a {n}.' for n in NAMES * 5]
    torch.testing.assert_close(encoder.encode_prompts(prompts, batch_size=1),
                               encoder.encode_prompts(prompts, batch_size=64),
                               atol=1e-5, rtol=1e-5)


def test_encoder_is_frozen(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not encoder.tower.training
    assert encoder.device == torch.device('cpu')


def test_token_features_pool_to_the_prompt_embedding(encoder):
    out = encoder.encode_tokens('cat. traffic light.')
    n = encoder.num_tokens('cat. traffic light.')
    assert out['features'].shape == (1, 77, 32)
    assert out['attention_mask'].shape == (1, 77)
    assert int(out['attention_mask'].sum()) == n
    assert out['token_ids'][0, n - 1] == 49407
    pooled = F.normalize(out['features'][0, n - 1], dim=-1)
    torch.testing.assert_close(pooled, encoder.encode_prompts(['cat. traffic light.'])[0])


def test_prompt_longer_than_context_is_refused(encoder):
    with pytest.raises(ValueError, match='more than the context length 77'):
        encoder.tokenize([' '.join(['word'] * 100)])


def test_local_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = open_clip.create_model(MODEL).eval()
    path = tmp_path / 'clip.pt'
    torch.save(model.state_dict(), path)
    loaded = CLIPTextEncoder(MODEL, str(path))
    tokens = open_clip.get_tokenizer(MODEL)(['a photo of a cat.'])
    expected = F.normalize(model.encode_text(tokens), dim=-1)
    torch.testing.assert_close(loaded.encode_prompts(['a photo of a cat.']), expected)


def test_unknown_tag_is_an_error_naming_model_and_tag():
    with pytest.raises(CLIPWeightsError, match=r"'RN50'.*tag 'no-such-tag'"):
        CLIPTextEncoder('RN50', 'no-such-tag')


def test_missing_file_is_an_error_naming_the_path(tmp_path):
    missing = str(tmp_path / 'missing' / 'clip.pt')
    with pytest.raises(CLIPWeightsError, match=f"'{MODEL}'.*{missing}"):
        CLIPTextEncoder(MODEL, missing)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    other = open_clip.create_model('OVD-TinyCLIP-RN')
    path = tmp_path / 'other.pt'
    torch.save(other.state_dict(), path)
    with pytest.raises(CLIPWeightsError, match='other.pt'):
        CLIPTextEncoder(MODEL, str(path))


@pytest.mark.parametrize('env', [dict(HF_HUB_OFFLINE='1'), dict(HF_ENDPOINT='http://127.0.0.1:9')],
                         ids=['HF_HUB_OFFLINE', 'unreachable-endpoint'])
def test_a_tag_neither_cached_nor_downloadable_fails_at_once(monkeypatch, tmp_path, env):
    """ViT-B-32 'openai' with an empty hub cache and no hub: refused before open_clip tries
    (it retries for over a minute), saying to pass a local file."""
    import time

    from ovdkit.text import check_clip_weights_available
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'hub'))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    start = time.monotonic()
    with pytest.raises(CLIPWeightsError) as info:
        CLIPTextEncoder('ViT-B-32', 'openai')
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert message.startswith("CLIP weights 'ViT-B-32' pretrained='openai' are not in the local "
                              "cache and cannot be downloaded from the Hugging Face hub (")
    assert ('HF_HUB_OFFLINE is set' if 'HF_HUB_OFFLINE' in env else 'Connection refused') \
        in message
    assert 'pass a local open_clip checkpoint file instead' in message
    # the same tag in the local hub cache is accepted (offline or not): nothing to download
    snapshot = tmp_path / 'hub' / 'models--timm--vit_base_patch32_clip_224.openai'
    (snapshot / 'refs').mkdir(parents=True)
    (snapshot / 'refs' / 'main').write_text('abc123')
    (snapshot / 'snapshots' / 'abc123').mkdir(parents=True)
    (snapshot / 'snapshots' / 'abc123' / 'open_clip_model.safetensors').write_bytes(b'x')
    check_clip_weights_available('ViT-B-32', 'openai')


def test_unknown_model_name():
    with pytest.raises(CLIPWeightsError, match="unknown open_clip model 'ViT-Nope'"):
        CLIPTextEncoder('ViT-Nope', None)


def test_composed_class_prompt_tokens_equal_whole_prompt_tokens(encoder):
    from ovdkit.datasets import LVIS_V1_CLASSES
    from ovdkit.text import name_for_prompt
    names = list(LVIS_V1_CLASSES[::6]) + ['bolt_(for_a_door)', "baby's breath", 'a&w root beer',
                                          '3d glasses', 'traffic light']
    templates = list(VILD_TEMPLATES) + ['{}', '({}).', "{}'s photo", 'x{}y']
    fast = encoder.class_prompt_tokens(names, templates)
    whole = open_clip.get_tokenizer(MODEL)(
        [t.format(name_for_prompt(n)) for n in names for t in templates])
    assert fast.shape == (len(names) * len(templates), 77)
    assert torch.equal(fast, whole)


def test_token_features_in_batches_equal_one_pass_and_keep_length_positions(encoder):
    prompts = ['cat.', 'traffic light. hot dog.', 'dog.', 'a red star. blue heart.', 'x.']
    whole = encoder.encode_tokens(prompts, batch_size=len(prompts))
    batched = encoder.encode_tokens(prompts, length=9, batch_size=2)
    assert batched['features'].shape == (5, 9, 32) and batched['token_ids'].shape == (5, 9)
    torch.testing.assert_close(batched['features'], whole['features'][:, :9])
    assert torch.equal(batched['attention_mask'], whole['attention_mask'][:, :9])
    assert not whole['features'][~whole['attention_mask']].any()  # padding: zeros
    with pytest.raises(ValueError, match='length 3 cuts prompts of up to 9 tokens'):
        encoder.encode_tokens(prompts, length=3)
