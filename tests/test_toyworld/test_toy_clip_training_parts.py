"""The tiny CLIP's training shortcuts: the compact token table gives the table dense AdamW
training gives; the image tower's bfloat16 stages keep float32 outputs close to float32's."""
import open_clip
import torch

from ovdkit.text import register_model_configs
from ovdkit.toyworld.toy_clip import (TOY_CLIP_MODEL, WEIGHT_DECAY, CompactTokenTable,
                                      _forward_bfloat16_trunk)


def test_compact_training_equals_dense_training():
    torch.manual_seed(0)
    dense = torch.nn.Embedding(50, 8)
    initial = dense.weight.detach().clone()
    compact = CompactTokenTable(torch.nn.Embedding.from_pretrained(dense.weight.clone(),
                                                                   freeze=False),
                                torch.tensor([[49, 3, 7, 0], [49, 7, 0, 0]]))
    assert compact.weight.shape == (4, 8)  # tokens 0, 3, 7, 49
    target = torch.randn(2, 4, 8)
    optimizers = [torch.optim.AdamW([m.weight], lr=0.0, weight_decay=WEIGHT_DECAY)
                  for m in (dense, compact)]
    tokens = torch.tensor([[49, 3, 7, 0], [49, 7, 0, 0]])
    for step, lr in enumerate((0.1, 0.05, 0.02)):
        for module, opt in zip((dense, compact), optimizers):
            opt.param_groups[0]['lr'] = lr
            opt.zero_grad()
            ((module(tokens) - target) ** 2).sum().backward()
            opt.step()
        compact.decay *= 1 - lr * WEIGHT_DECAY
        torch.testing.assert_close(compact(tokens), dense(tokens), rtol=0, atol=0)
    merged = compact.merged()
    assert isinstance(merged, torch.nn.Embedding) and merged.weight.shape == (50, 8)
    torch.testing.assert_close(merged.weight, dense.weight, rtol=1e-6, atol=1e-7)
    # The unused rows only decayed (0.99 x 0.995 x 0.998 here); the used ones learnt.
    assert abs(compact.decay - 0.98308) < 1e-5
    torch.testing.assert_close(merged.weight[5], initial[5] * compact.decay)
    assert (merged.weight[3] - initial[3] * compact.decay).abs().max() > 0.01


def test_bfloat16_image_stages_float32_pool():
    register_model_configs()
    torch.manual_seed(0)
    visual = open_clip.create_model(TOY_CLIP_MODEL).visual.eval()
    crops = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        exact, low = visual(crops), _forward_bfloat16_trunk(visual, crops)
    assert low.dtype == torch.float32 and low.shape == exact.shape == (4, 128)
    assert not torch.equal(low, exact)
    cosine = torch.nn.functional.cosine_similarity(low, exact, dim=1)
    assert cosine.min() > 0.99, cosine


def test_training_uses_both_and_saves_the_full_table(tmp_path, monkeypatch):
    from ovdkit.toyworld import ToyWorldSpec, generate_world, toy_clip
    spec = ToyWorldSpec(seed=2, shapes=('circle', 'star'), colors=('red', 'blue'), num_train=2,
                        num_val=2, num_clip_train=6, num_clip_val=2, novel_shapes=('star',))
    generate_world(spec, str(tmp_path / 'world'), progress=False)
    calls = {'trunk': 0, 'merged': 0}
    trunk, merged = toy_clip._forward_bfloat16_trunk, CompactTokenTable.merged

    def counted_trunk(visual, x):
        calls['trunk'] += 1
        return trunk(visual, x)

    def counted_merged(self):
        calls['merged'] += 1
        return merged(self)
    monkeypatch.setattr(toy_clip, '_forward_bfloat16_trunk', counted_trunk)
    monkeypatch.setattr(CompactTokenTable, 'merged', counted_merged)
    toy_clip.train_toy_clip(str(tmp_path / 'world'), str(tmp_path / 'clip.pt'), steps=2,
                            batch_size=4, progress=False, device='cpu')
    assert calls == {'trunk': 2, 'merged': 1}
    state = torch.load(tmp_path / 'clip.pt')
    assert state['token_embedding.weight'].shape == (49408, 128)
    assert not any(k.startswith('token_embedding.table') for k in state)
