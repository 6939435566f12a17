"""Trains the toy world's tiny CLIP (an open_clip model) on the world's caption set.

The model is open_clip's own CLIP built from the registered ``OVD-TinyCLIP-RN`` config
(ModifiedResNet image tower, 3-layer text transformer), trained with open_clip's ``ClipLoss``
on object crops and their captions, and saved as a plain state dict, the kind of file that
``open_clip.create_model(name, pretrained=PATH)`` loads. Everything downstream loads it only
that way, exactly as it would load real CLIP weights.
"""
import json
import math
import sys
import time
import types
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import open_clip
import torch
from mmengine.utils import ProgressBar
from open_clip.modified_resnet import ModifiedResNet
from PIL import Image

from ..regions.clip_region_embedder import CLIPRegionEmbedder
from ..regions.crops import crop_and_normalize, square_crop_boxes
from ..text import CLIPTextEncoder, create_clip_model, register_model_configs
from ..text.templates import SINGLE_TEMPLATES
from ..utils.atomic_io import atomic_write

TOY_CLIP_MODEL = 'OVD-TinyCLIP-RN'
#: AdamW weight decay of the tiny CLIP's matrices (not of norms, biases, the logit scale).
WEIGHT_DECAY = 0.1


def load_caption_set(world_dir: str, split: str) -> Tuple[torch.Tensor, Dict]:
    """Loads a caption split's images (uint8 ``(N, 3, H, W)``) and its annotation dict."""
    root = Path(world_dir)
    data = json.loads((root / 'annotations' / f'{split}.json').read_text())
    images = np.stack([np.asarray(Image.open(root / 'images' / im['file_name']).convert('RGB'))
                       for im in data['images']])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), data


def _object_table(data: Dict) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    index = {im['id']: i for i, im in enumerate(data['images'])}
    cat_index = {c['id']: i for i, c in enumerate(data['categories'])}
    img = torch.tensor([index[a['image_id']] for a in data['annotations']])
    xywh = torch.tensor([a['bbox'] for a in data['annotations']], dtype=torch.float32)
    boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)
    labels = torch.tensor([cat_index[a['category_id']] for a in data['annotations']])
    return img, boxes, labels


class CompactTokenTable(torch.nn.Module):
    """The rows of a token table that a training set's tokens use, trained in its place.

    The captions of a world use a few dozen of the 49408 tokens, but a dense table is
    zero-filled, back-propagated and updated whole every step. The other rows get no
    gradient, so AdamW only decays them: :meth:`merged` writes the trained rows back and
    scales the rest by the same decay, giving the table dense training would have given.
    Tokens keep their ids (open_clip pools the text at the largest id, its end token).

    Args:
        table: The model's ``nn.Embedding`` (``(vocab, width)``).
        token_ids: Every token the training will look up (any shape).
    """

    def __init__(self, table: torch.nn.Embedding, token_ids: torch.Tensor) -> None:
        super().__init__()
        used = torch.unique(token_ids.flatten())
        lookup = torch.full((table.num_embeddings,), -1, dtype=torch.long, device=used.device)
        lookup[used] = torch.arange(len(used), device=used.device)
        self.register_buffer('lookup', lookup, persistent=False)
        self.register_buffer('used', used, persistent=False)
        self.weight = torch.nn.Parameter(table.weight.detach()[used].clone())
        self.table = table  # never in the forward: no gradient, so AdamW skips it
        self.decay = 1.0  # product of AdamW's (1 - lr * weight_decay) over the steps

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` token ids -> ``(B, L, width)`` embeddings."""
        return torch.nn.functional.embedding(self.lookup[tokens], self.weight)

    def merged(self) -> torch.nn.Embedding:
        """The full table: the trained rows, the others decayed."""
        with torch.no_grad():
            self.table.weight.mul_(self.decay)
            self.table.weight[self.used] = self.weight.detach()
        return self.table


def _forward_bfloat16_trunk(visual: ModifiedResNet, x: torch.Tensor) -> torch.Tensor:
    """``ModifiedResNet.forward`` with the stem and the four stages in bfloat16 autocast and
    the attention pool in float32 (its output is normalised and scaled by up to 100)."""
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
        x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(x)))))
    return visual.attnpool(x.float())


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim < 2 or 'logit_scale' in name or 'bn' in name or 'ln' in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [dict(params=decay, weight_decay=weight_decay),
            dict(params=no_decay, weight_decay=0.0)]


def train_toy_clip(world_dir: str, out_path: str, steps: int = 900, batch_size: int = 128,
                   lr: float = 2e-3, seed: int = 0, progress: bool = True,
                   scale_range: Tuple[float, float] = (1.0, 2.0),
                   max_shift: float = 0.1, device: Optional[str] = None) -> Dict:
    """Trains the tiny CLIP on ``clip_train`` and writes its state dict to ``out_path``.

    Crops are taken at a random scale in ``scale_range`` times the object with jitter of up
    to ``max_shift`` of the side, so the image tower also works on imperfect proposal crops.
    Captions are the caption set's own ("a photo of a red star."): on this world, sampling
    CLIP's ImageNet templates for captions learns more slowly and does not help the template
    ensemble used at test time.

    Args:
        world_dir: A generated world.
        out_path: Where the checkpoint goes (written atomically).
        steps: Optimiser steps.
        batch_size: Crops per step.
        lr: AdamW peak learning rate (5% warm-up, cosine decay).
        seed: Seed of the initialisation and sampling.
        progress: Show a progress bar.
        device: Torch device; ``None``: the GPU when there is one, else the CPU.

    Returns:
        Training statistics (steps, seconds, crops/s, final loss).
    """
    register_model_configs()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    # trained from scratch here
    model = create_clip_model(TOY_CLIP_MODEL, pretrained=None, device=device)
    model.train()
    # channels_last: oneDNN's convolutions on CPU take this layout, a faster image-tower step.
    model.visual.to(memory_format=torch.channels_last)
    # The convolution stages train in bfloat16 autocast (AMX / AVX-512 BF16 on CPU, tensor
    # cores on GPUs). Weights and optimiser stay float32, and the saved model runs in float32
    # wherever it is loaded.
    if isinstance(model.visual, ModifiedResNet) and (
            device == 'cpu' or torch.cuda.is_bf16_supported()):
        model.visual.forward = types.MethodType(_forward_bfloat16_trunk, model.visual)
    cfg = open_clip.get_model_config(TOY_CLIP_MODEL)
    size = cfg['vision_cfg']['image_size']
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    tokenizer = open_clip.get_tokenizer(TOY_CLIP_MODEL)
    images, data = load_caption_set(world_dir, 'clip_train')
    images = images.to(device)
    img_idx, boxes, labels = _object_table(data)
    # A world has one caption per category: each step encodes each caption in the batch once
    # (the text tower is per-sequence, so the features are the same as encoding every row).
    distinct = sorted({a['caption'] for a in data['annotations']})
    caption_index = torch.tensor([distinct.index(a['caption']) for a in data['annotations']])
    tokens = tokenizer(distinct).to(device)
    model.token_embedding = CompactTokenTable(model.token_embedding, tokens)
    loss_fn = open_clip.ClipLoss()
    # fused: one kernel for the whole AdamW update, faster on CPU than foreach and than
    # torch's CPU default (a per-tensor loop).
    optimizer = torch.optim.AdamW(_param_groups(model, WEIGHT_DECAY), lr=lr, betas=(0.9, 0.98),
                                  eps=1e-6, fused=True)
    warmup = max(1, int(0.05 * steps))
    bar = ProgressBar(steps, file=sys.stderr) if progress else None
    start, loss_value = time.perf_counter(), float('nan')
    for step in range(steps):
        scale = lr * (step + 1) / warmup if step < warmup else \
            lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for group in optimizer.param_groups:
            group['lr'] = scale
        model.token_embedding.decay *= 1 - scale * WEIGHT_DECAY
        pick = torch.from_numpy(rng.integers(0, len(labels), batch_size))
        box = square_crop_boxes(boxes[pick], 1.0)
        side = (box[:, 2] - box[:, 0]).unsqueeze(1)
        factor = torch.from_numpy(rng.uniform(*scale_range, (batch_size, 1))).float()
        shift = torch.from_numpy(rng.uniform(-max_shift, max_shift, (batch_size, 2))).float() \
            * side
        centre = (box[:, :2] + box[:, 2:]) / 2 + shift
        half = side * factor / 2
        rois = torch.cat([torch.arange(batch_size).unsqueeze(1).float(), centre - half,
                          centre + half], dim=1).to(device)
        batch_images = images[img_idx[pick].to(device)].float() / 255
        crops = crop_and_normalize(batch_images, rois, size, mean, std).contiguous(
            memory_format=torch.channels_last)
        used, rows = torch.unique(caption_index[pick], return_inverse=True)
        image_f = model.encode_image(crops, normalize=True)
        text_f = model.encode_text(tokens[used.to(device)], normalize=True)[rows.to(device)]
        loss = loss_fn(image_f, text_f, model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        loss_value = loss.item()
        if bar:
            bar.update()
    seconds = time.perf_counter() - start
    model.token_embedding = model.token_embedding.merged()
    state = {k: v.cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out_path, lambda tmp: torch.save(state, tmp))
    return dict(steps=steps, batch_size=batch_size, seconds=round(seconds, 1),
                crops_per_s=round(steps * batch_size / seconds, 1),
                final_loss=round(loss_value, 4))


@torch.no_grad()
def zero_shot_accuracy(world_dir: str, checkpoint: str, templates: Sequence[str] = SINGLE_TEMPLATES,
                       crop_scales: Sequence[float] = (1.0,),
                       novel_names: Optional[Sequence[str]] = None,
                       images_per_batch: int = 64) -> Dict[str, float]:
    """Zero-shot classification of the held-out ``clip_val`` object crops over all categories.

    Crops are embedded by :class:`~ovdkit.regions.CLIPRegionEmbedder`, the code that makes
    ViLD's targets (square crops at every scale of ``crop_scales``, embeddings averaged), and
    compared with class embeddings over ``templates``: with the configs' templates and the
    region precompute's scales this is CLIP as the detector sees it. The checkpoint is loaded
    only through ``pretrained=PATH``.

    Returns:
        ``acc`` over every crop, ``novel_acc`` over crops of ``novel_names`` (still classified
        among all categories) and the crop counts.
    """
    images, data = load_caption_set(world_dir, 'clip_val')
    img_idx, boxes, labels = _object_table(data)
    names = [c['name'] for c in data['categories']]
    text = CLIPTextEncoder(TOY_CLIP_MODEL, checkpoint).embed_classes(names, templates)
    embedder = CLIPRegionEmbedder(TOY_CLIP_MODEL, checkpoint, crop_scales)
    feats = torch.zeros(len(labels), text.shape[1])
    for s in range(0, len(images), images_per_batch):
        ids = list(range(s, min(s + images_per_batch, len(images))))
        rows = [torch.nonzero(img_idx == i).flatten() for i in ids]
        out = embedder([images[i].float() / 255 for i in ids], [boxes[r] for r in rows])
        for r, emb in zip(rows, out):
            feats[r] = emb.cpu()
    pred = (feats @ text.cpu().T).argmax(dim=1)
    correct = pred == labels
    novel_set = set(novel_names or ())
    novel = torch.tensor([names[int(i)] in novel_set for i in labels])
    return dict(acc=float(correct.float().mean()),
                novel_acc=float(correct[novel].float().mean()) if novel.any() else float('nan'),
                crops=int(len(labels)), novel_crops=int(novel.sum()))
