"""Precomputes ViLD's region targets: RPN proposals of every training image, embedded by CLIP.

Used by ``tools/precompute_clip_regions.py`` and the toy-world pipeline. Shard by shard (see
:mod:`ovdkit.datasets.region_store`): a DataLoader feeds the detector's test pipeline, the
detector's RPN gives the top-M class-agnostic proposals after NMS, and
:class:`CLIPRegionEmbedder` embeds their 1x and 1.5x crops from the same image tensor. Batches
never straddle shards, so a restart recomputes whole shards exactly as they were first computed.

Distributed (torch.distributed initialised, e.g. by ``tools/dist_precompute_clip_regions.sh``):
rank ``r`` of ``W`` computes the pending shards ``s`` with ``s % W == r``. The assignment depends
on nothing but the shard number, so no two ranks ever write the same shard, whenever each one
looks at which shards are pending. Store-wide files are rank 0's alone: it writes ``meta.json``
and clears stale temporary files before the others open the store (a barrier), and rebuilds
``index.json`` from the shard markers once every rank is done (another barrier). A rank killed
at any moment leaves only whole shards (marker last) and unmarked ones that the next run, with
any number of ranks, recomputes to the same bytes.
"""
import copy
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine import dist
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from ..datasets.region_store import CLIPRegionStore
from ..utils.config_variables import merge_cfg_options
from ..utils.hashing import file_sha256
from .clip_region_embedder import CLIPRegionEmbedder

_WRAPPERS = ('RepeatDataset', 'ClassBalancedDataset', 'ConcatDataset', 'MultiImageMixDataset')


def _image_dataset_cfg(cfg: Config) -> Dict:
    """The training dataset of ``cfg`` with the test pipeline (no annotations, no flip)."""
    dataset = cfg.train_dataloader.dataset
    while dataset.get('type') in _WRAPPERS:
        if 'datasets' in dataset:
            raise ValueError(f'{dataset["type"]} of several datasets: precompute each dataset '
                             f'with its own config')
        dataset = dataset.dataset
    pipeline = [t for t in cfg.test_dataloader.dataset.pipeline
                if t['type'] not in ('LoadAnnotations', 'mmdet.LoadAnnotations')]
    return dict(dataset, pipeline=pipeline, test_mode=True)


def _load_detector(cfg: Config, checkpoint: str, num_regions: int, device: str):
    """The proposal detector of ``cfg`` (its RPN keeping ``num_regions``), built by mmdet's
    registry and loaded by mmengine's ``load_checkpoint``; ``cfg`` is left as it was.

    Raises:
        ValueError: the checkpoint lacks backbone, neck or rpn_head weights of the model (the
            RoI head may be missing: only proposals are used).
    """
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint

    model_cfg = copy.deepcopy(cfg.model)
    rpn_cfg = model_cfg.test_cfg.rpn
    rpn_cfg.max_per_img = num_regions
    rpn_cfg.nms_pre = max(int(rpn_cfg.get('nms_pre', 1000)), num_regions)
    model = MODELS.build(model_cfg)
    state = load_checkpoint(model, checkpoint, map_location='cpu', strict=False,
                            logger='silent')
    state = state.get('state_dict', state)
    needed = [k for k in model.state_dict()
              if k.split('.')[0] in ('backbone', 'neck', 'rpn_head')]
    missing = [k for k in needed if k not in state]
    if missing:
        raise ValueError(f'checkpoint {checkpoint} does not fit the proposal config: '
                         f'{len(missing)} backbone/neck/rpn_head weights missing, e.g. '
                         f'{missing[:3]}')
    return model.to(device).eval()


def _store_settings(cfg_path: str, checkpoint: str, embedder: CLIPRegionEmbedder,
                    num_regions: int, batch_size: int, shard_size: int, image_keys: List[str],
                    nms_iou: float) -> Dict:
    return dict(
        clip_model=embedder.model_name,
        clip_pretrained=None if embedder.pretrained is None else str(embedder.pretrained),
        clip_weights_id=embedder.weights_id, embed_dim=embedder.embed_dim,
        crop_scales=list(embedder.crop_scales), crop_size=embedder.input_size,
        proposal_config=str(cfg_path).replace('\\', '/').split('/')[-1],
        proposal_checkpoint_sha256=file_sha256(checkpoint), proposal_nms_iou=nms_iou,
        num_regions=num_regions,
        # Padding to the batch's largest image moves proposals slightly, so the batch size is
        # part of what determines the result.
        batch_size=batch_size, shard_size=shard_size, image_keys=image_keys)


@torch.no_grad()
def precompute_clip_regions(config: str, checkpoint: str, clip_model: str,
                            clip_pretrained: Optional[str], out: str, num_regions: int = 300,
                            crop_scales: Sequence[float] = (1.0, 1.5), batch_size: int = 8,
                            workers: int = 2, shard_size: int = 256, device: str = 'cpu',
                            cfg_options: Optional[Dict] = None,
                            progress: bool = True) -> Dict:
    """Fills (or finishes) the region store ``out`` for the training images of ``config``.

    Args:
        config: Detector config whose RPN gives the proposals and whose
            ``train_dataloader.dataset`` lists the images (read with its test pipeline).
        checkpoint: Detector checkpoint (backbone, neck and rpn_head must be in it).
        clip_model: open_clip model name of the image tower.
        clip_pretrained: open_clip tag or local checkpoint file; ``None`` = random weights
            (explicit opt-in, tests only).
        out: Store folder; an existing store made with other settings is refused.
        num_regions: M, proposals kept per image after NMS (ViLD: 300).
        crop_scales: Crop side multipliers (ViLD: 1.0, 1.5).
        batch_size: Images per batch.
        workers: DataLoader worker processes.
        shard_size: Images per shard (the unit of restart).
        device: ``'cpu'`` or ``'cuda'`` (in a distributed run: the rank's ``LOCAL_RANK`` GPU).
        cfg_options: Overrides merged into the config first (like ``--cfg-options``).
        progress: Show a progress bar (stderr) with images/s and crops/s.

    Returns:
        Figures: images and crops computed in this run, shards written / already done,
        seconds, images/s, crops/s (summed over the ranks of a distributed run), ranks.
    """
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, cfg_options)  # re-points settings built from changed variables
    dataset = DATASETS.build(_image_dataset_cfg(cfg))
    image_keys = [str(dataset.get_data_info(i)['img_id']) for i in range(len(dataset))]
    if len(set(image_keys)) != len(image_keys):
        raise ValueError(f'{config}: image ids are not unique in the training dataset')
    rank, world = dist.get_dist_info()
    if world > 1 and device == 'cuda':
        device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    embedder = CLIPRegionEmbedder(clip_model, clip_pretrained, crop_scales, device)
    nms_iou = float(cfg.model.test_cfg.rpn.nms.get('iou_threshold', 0.7))
    settings = _store_settings(config, checkpoint, embedder, num_regions, batch_size,
                               shard_size, image_keys, nms_iou)
    if rank == 0:
        store = CLIPRegionStore.create(out, settings)
    dist.barrier()  # meta.json written, stale temporary files gone
    if rank != 0:
        store = CLIPRegionStore.create(out, settings, writer=False)
    mine = [s for s in range(store.num_shards) if s % world == rank]
    pending = [s for s in mine if not store.is_shard_complete(s)]
    figures = dict(images=0, crops=0, shards_written=0,
                   shards_already_done=len(mine) - len(pending))
    start = time.perf_counter()
    if pending:
        detector = _load_detector(cfg, checkpoint, num_regions, device)
        figures.update(_fill_shards(store, dataset, detector, embedder, pending, batch_size,
                                    workers, shard_size, progress and rank == 0,
                                    update_index=world == 1, rank=rank, world=world))
    if world > 1:
        totals = torch.tensor([figures[k] for k in _SUMMED], dtype=torch.int64)
        dist.all_reduce(totals)  # also waits for every rank's last shard
        figures.update(zip(_SUMMED, totals.tolist()))
    if rank == 0:
        store.write_index()
    dist.barrier()
    seconds = time.perf_counter() - start
    figures.update(seconds=round(seconds, 2), images_per_s=round(figures['images'] / seconds, 2)
                   if seconds > 0 else 0.0, crops_per_s=round(figures['crops'] / seconds, 1)
                   if seconds > 0 else 0.0, store=str(out), complete=store.complete,
                   ranks=world)
    return figures


_SUMMED = ('images', 'crops', 'shards_written', 'shards_already_done')


def _fill_shards(store: CLIPRegionStore, dataset, detector, embedder: CLIPRegionEmbedder,
                 pending: List[int], batch_size: int, workers: int, shard_size: int,
                 progress: bool, update_index: bool = True, rank: int = 0,
                 world: int = 1) -> Dict:
    from mmengine.utils import ProgressBar

    total = len(dataset)
    batches, shard_of_batch = [], []
    for shard in pending:
        lo, hi = shard * shard_size, min((shard + 1) * shard_size, total)
        for s in range(lo, hi, batch_size):
            batches.append(list(range(s, min(s + batch_size, hi))))
            shard_of_batch.append(shard)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                        collate_fn=pseudo_collate, persistent_workers=False)
    # mmengine's progress bar, as every other OVDKit tool; the rates follow when done.
    bar = ProgressBar(sum(len(b) for b in batches), file=sys.stderr) if progress else None
    done = dict(images=0, crops=0, shards_written=0)
    boxes_of_shard: List[np.ndarray] = []
    emb_of_shard: List[np.ndarray] = []
    start = time.perf_counter()
    for batch_no, data in enumerate(loader):
        boxes, embeddings = _embed_batch(detector, embedder, data)
        boxes_of_shard += boxes
        emb_of_shard += embeddings
        done['images'] += len(boxes)
        done['crops'] += sum(len(b) for b in boxes) * len(embedder.crop_scales)
        last_of_shard = batch_no + 1 == len(batches) or \
            shard_of_batch[batch_no + 1] != shard_of_batch[batch_no]
        if last_of_shard:
            store.write_shard(shard_of_batch[batch_no], boxes_of_shard, emb_of_shard,
                              update_index=update_index)
            boxes_of_shard, emb_of_shard = [], []
            done['shards_written'] += 1
        if bar is not None:
            bar.update(len(boxes))
    if bar is not None:
        elapsed = max(time.perf_counter() - start, 1e-9)
        where = f' (rank {rank} of {world})' if world > 1 else ''
        print(f'\nCLIP regions{where}: {done["images"]} images, '
              f'{done["images"] / elapsed:.1f} img/s, crops_s {done["crops"] / elapsed:.0f}',
              file=sys.stderr)
    return done


def _embed_batch(detector, embedder: CLIPRegionEmbedder, data: Dict):
    """Proposals (original pixels) and their CLIP embeddings for one batch of images."""
    inputs = detector.data_preprocessor(data, False)
    feats = detector.extract_feat(inputs['inputs'])
    proposals = detector.rpn_head.predict(feats, inputs['data_samples'], rescale=False)
    images, boxes = [], []
    for image, sample, result in zip(data['inputs'], inputs['data_samples'], proposals):
        h, w = sample.img_shape
        # The packed image is BGR uint8 at the detector's input size; CLIP wants RGB in [0, 1].
        images.append(image[[2, 1, 0], :h, :w].float() / 255)
        boxes.append(result.bboxes[:, :4].clamp(min=0).float())
    embeddings = embedder(images, boxes)
    out_boxes, out_emb = [], []
    for sample, image_boxes, emb in zip(inputs['data_samples'], boxes, embeddings):
        scale = image_boxes.new_tensor(sample.scale_factor).repeat(2)
        out_boxes.append((image_boxes / scale).cpu().numpy())
        out_emb.append(emb.cpu().numpy())
    return out_boxes, out_emb
