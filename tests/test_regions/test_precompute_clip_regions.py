"""tools/precompute_clip_regions.py: store contents, kill -9 + restart, refusal of other settings;
the distributed job (2-3 ranks on CPU): kill -9 of one rank, rerun on other ranks, rank failure."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ovdkit.testing import REPO, run_tool

SMOKE = 'configs/smoke/faster-rcnn_r18_fpn_1xb4-40i_coco-fixture.py'
NUM_TRAIN = 40


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A 40-image fixture, a random detector checkpoint and a random test-CLIP weights file."""
    import open_clip
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config, ConfigDict

    from ovdkit.testing import make_coco_fixture
    from ovdkit.text import register_model_configs
    root = tmp_path_factory.mktemp('regions')
    make_coco_fixture(str(root / 'data'), num_train=NUM_TRAIN, num_val=2)
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(Config.fromfile(str(REPO / SMOKE)).model))
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, root / 'detector.pth')
    register_model_configs()
    for seed in (0, 1):
        torch.manual_seed(seed)
        clip = open_clip.create_model('OVD-TestCLIP-RN', pretrained=None)
        torch.save(clip.state_dict(), root / f'clip{seed}.pt')
    return root


def _args(inputs, out, clip='clip0.pt', num_regions=20):
    return ['tools/precompute_clip_regions.py', SMOKE, inputs / 'detector.pth',
            '--clip-model', 'OVD-TestCLIP-RN', '--clip-pretrained', inputs / clip,
            '--out', out, '--num-regions', num_regions, '--shard-size', 2, '--batch-size', 2,
            '--workers', 0, '--cfg-options',
            f'train_dataloader.dataset.data_root={inputs / "data"}/']


def _digest(folder):
    """sha256 of every visible file of a folder (temporary files of killed runs excluded)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if not p.name.startswith('.')}


def test_store_contents_and_loading(inputs):
    from ovdkit.regions import CLIPRegionStore
    out = inputs / 'full'
    proc = run_tool(_args(inputs, out))
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures['images'] == NUM_TRAIN and figures['complete'] is True
    assert figures['shards_written'] == NUM_TRAIN // 2
    assert figures['crops'] > 0 and figures['crops_per_s'] > 0
    assert 'img/s' in proc.stderr and 'crops_s' in proc.stderr  # the progress bar
    store = CLIPRegionStore(out)
    assert len(store) == NUM_TRAIN and store.complete
    meta = store.meta
    assert meta['clip_model'] == 'OVD-TestCLIP-RN'
    assert meta['clip_weights_id'].startswith('sha256:')
    assert meta['num_regions'] == 20 and meta['crop_scales'] == [1.0, 1.5]
    assert meta['embed_dim'] == 32
    images = json.loads((inputs / 'data' / 'annotations' / 'instances_train.json').read_text())
    first = images['images'][0]
    boxes, emb = store.get(first['id'])
    assert boxes.dtype == np.float32 and emb.dtype == np.float16
    assert 0 < len(boxes) <= 20 and emb.shape == (len(boxes), 32)
    assert np.allclose(np.linalg.norm(emb.astype(np.float32), axis=1), 1, atol=2e-3)
    assert (boxes[:, 2] <= first['width'] + 1e-3).all() and (boxes[:, :2] >= 0).all()
    with pytest.raises(KeyError, match=f'image 999999 .*not in the CLIP region store {out}'):
        store.get(999999)


def _wait_for(path, proc, timeout=120):
    start = time.time()
    while not path.exists():
        assert proc.poll() is None, 'the run ended before it could be interrupted'
        assert time.time() - start < timeout
        time.sleep(0.005)


@pytest.mark.slow
def test_kill_9_and_restart_gives_the_uninterrupted_result(inputs):
    full = inputs / 'full'
    if not (full / 'index.json').exists():
        run_tool(_args(inputs, full))
    out = inputs / 'killed'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    cmd = [sys.executable] + [str(a) for a in _args(inputs, out)]
    for stop_after in ('shard_00001.json', 'shard_00006.json'):
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        _wait_for(out / stop_after, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        index = json.loads((out / 'index.json').read_text())
        assert not index['complete']
        # Every shard the index lists has its arrays and marker; none is half there.
        for shard in index['shards']:
            for suffix in ('boxes.npy', 'embeddings.npy', 'json'):
                assert (out / f'shard_{shard:05d}.{suffix}').is_file()
    proc = run_tool(_args(inputs, out))
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures['shards_already_done'] >= 7
    assert figures['shards_already_done'] + figures['shards_written'] == NUM_TRAIN // 2
    assert _digest(out) == _digest(full)


@pytest.mark.parametrize('change, field', [(dict(clip='clip1.pt'), 'clip_weights_id'),
                                           (dict(num_regions=10), 'num_regions')])
def test_refuses_a_store_made_otherwise(inputs, change, field):
    full = inputs / 'full'
    if not (full / 'index.json').exists():
        run_tool(_args(inputs, full))
    before = _digest(full)
    proc = run_tool(_args(inputs, full, **change), check=False)
    assert proc.returncode == 2
    assert f"refusing to add to the region store {full}: it was made with another " \
           f"'{field}'" in proc.stderr
    assert _digest(full) == before


def test_missing_clip_weights_file_is_an_error(inputs, tmp_path):
    proc = run_tool(_args(inputs, tmp_path / 'x', clip='missing.pt'), check=False)
    assert proc.returncode == 2
    assert "OVD-TestCLIP-RN" in proc.stderr and 'missing.pt' in proc.stderr
    assert not (tmp_path / 'x' / 'meta.json').exists()


# -- distributed: tools/dist_precompute_clip_regions.sh (torchrun, gloo on CPU) ----------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_args(inputs, out, nproc, data=None):
    args = _args(inputs, out)
    if data is not None:
        args[-1] = f'train_dataloader.dataset.data_root={data}/'
    return ['tools/dist_precompute_clip_regions.sh', *args[1:3], nproc, *args[3:]]


def _dist_env():
    return dict(PORT=str(_free_port()), OMP_NUM_THREADS='1')


def _rank_pid(launcher_pid: int, rank: int, timeout: float = 60) -> int:
    """pid of the worker process of ``rank`` that torchrun ``launcher_pid`` started."""
    start = time.time()
    while time.time() - start < timeout:
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                stat = open(f'/proc/{entry}/stat').read()
                environ = open(f'/proc/{entry}/environ', 'rb').read().split(b'\0')
            except OSError:
                continue
            ppid = int(stat.rsplit(')', 1)[1].split()[1])
            if ppid == launcher_pid and f'RANK={rank}'.encode() in environ:
                return int(entry)
        time.sleep(0.05)
    raise AssertionError(f'no rank {rank} process under {launcher_pid}')


@pytest.mark.slow
def test_distributed_kill_9_of_one_rank_then_rerun_with_other_ranks(inputs):
    """2 ranks, rank 1 killed with SIGKILL after its second shard: the job exits non-zero,
    leaves only whole shards; a rerun on 3 ranks finishes exactly the missing shards and the
    store is byte-identical to the 1-process one."""
    full = inputs / 'full'
    if not (full / 'index.json').exists():
        run_tool(_args(inputs, full))
    out = inputs / 'dist_killed'
    env = dict(os.environ, PYTHON=sys.executable, PYTHONWARNINGS='ignore', **_dist_env())
    cmd = ['bash'] + [str(a) for a in _dist_args(inputs, out, 2)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    rank1 = _rank_pid(proc.pid, 1)
    _wait_for(out / 'shard_00003.json', proc)  # rank 1 owns the odd shards
    os.kill(rank1, signal.SIGKILL)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, log[-3000:]
    markers = sorted(out.glob('shard_*.json'))
    assert 2 <= len(markers) < NUM_TRAIN // 2
    for marker in markers:  # every marked shard is whole
        stem = marker.name[:-len('.json')]
        assert (out / f'{stem}.boxes.npy').is_file() and (out / f'{stem}.embeddings.npy').is_file()

    proc = run_tool(_dist_args(inputs, out, 3), env=_dist_env())
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures['ranks'] == 3 and figures['complete'] is True
    assert figures['shards_already_done'] == len(markers)
    assert figures['shards_written'] == NUM_TRAIN // 2 - len(markers)
    assert figures['images'] == 2 * figures['shards_written']
    assert _digest(out) == _digest(full)


@pytest.mark.slow
def test_distributed_rank_failure_exits_non_zero_with_its_error(inputs, tmp_path):
    """An unreadable image in a shard of rank 1: the job ends (no hang) with a non-zero exit
    and rank 1's error naming the image, and rank 0 writes no index of a finished store."""
    data = tmp_path / 'data'
    shutil.copytree(inputs / 'data', data)
    train = json.loads((data / 'annotations' / 'instances_train.json').read_text())
    bad = train['images'][2]['file_name']  # image 2 -> shard 1 -> rank 1 of 2
    bad_path = next(data.rglob(Path(bad).name))
    bad_path.write_bytes(b'not an image')
    out = tmp_path / 'store'
    proc = run_tool(_dist_args(inputs, out, 2, data=data), env=_dist_env(), check=False,
                    timeout=300)  # a hang fails here
    assert proc.returncode != 0
    assert Path(bad).name in proc.log
    assert not (out / 'shard_00001.json').exists()
    assert not (out / 'index.json').exists() or \
        not json.loads((out / 'index.json').read_text())['complete']


FAKE_SRUN = '''#!{python}
"""srun stand-in: starts --ntasks copies of the command with Slurm's per-task variables."""
import os, subprocess, sys
args, ntasks = sys.argv[1:], 1
while args and args[0].startswith('-'):
    opt = args.pop(0)
    if opt.startswith('--ntasks='):
        ntasks = int(opt.split('=', 1)[1])
    elif opt in ('-p', '-n', '-N'):
        args.pop(0)
procs = [subprocess.Popen(args, env=dict(
    os.environ, SLURM_PROCID=str(i), SLURM_NTASKS=str(ntasks), SLURM_LOCALID=str(i),
    SLURM_NODELIST='localhost', MASTER_ADDR='127.0.0.1')) for i in range(ntasks)]
sys.exit(max(p.wait() for p in procs))
'''


@pytest.mark.slow
def test_slurm_launcher_gives_the_one_process_store(inputs, tmp_path):
    """tools/slurm_precompute_clip_regions.sh with GPUS=2 under an srun stand-in (2 tasks with
    SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID): mmengine's slurm set-up on CPU, same bytes."""
    full = inputs / 'full'
    if not (full / 'index.json').exists():
        run_tool(_args(inputs, full))
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(FAKE_SRUN.format(python=sys.executable))
    (bin_dir / 'srun').chmod(0o755)
    out = tmp_path / 'slurm_store'
    args = _args(inputs, out)
    proc = run_tool(['tools/slurm_precompute_clip_regions.sh', 'partition', 'regions',
                     *args[1:3], *args[3:]],
                    env=dict(GPUS='2', GPUS_PER_NODE='2', MASTER_PORT=str(_free_port()),
                             PATH=f'{bin_dir}:{os.environ["PATH"]}'))
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures['ranks'] == 2 and figures['shards_written'] == NUM_TRAIN // 2
    assert _digest(out) == _digest(full)


def test_stored_embedding_is_recomputed_from_square_crops_with_open_clip(inputs):
    """One stored region embedding = normalised mean of CLIP's normalised embeddings of the
    1x and 1.5x square crops around the box (ViLD), recomputed with open_clip directly."""
    import open_clip
    from PIL import Image
    from torchvision.ops import roi_align

    from ovdkit.regions import CLIPRegionStore
    full = inputs / 'full'
    if not (full / 'index.json').exists():
        run_tool(_args(inputs, full))
    info = json.loads((inputs / 'data' / 'annotations' / 'instances_train.json').read_text())
    first = info['images'][3]
    assert (first['width'], first['height']) == (96, 96)  # the smoke test scale: no resize
    boxes, stored = CLIPRegionStore(full).get(first['id'])
    image = np.array(Image.open(inputs / 'data' / 'images' / first['file_name']).convert('RGB'))
    image = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    model = open_clip.create_model('OVD-TestCLIP-RN', pretrained=str(inputs / 'clip0.pt'))
    model.eval()
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg['size'] if isinstance(cfg['size'], int) else cfg['size'][0]
    mean = torch.tensor(cfg['mean']).view(1, 3, 1, 1)
    std = torch.tensor(cfg['std']).view(1, 3, 1, 1)

    def crop_embeddings(scale):
        box = torch.from_numpy(boxes)
        centre = (box[:, :2] + box[:, 2:]) / 2
        half = (box[:, 2:] - box[:, :2]).max(dim=1, keepdim=True).values * scale / 2
        rois = torch.cat([torch.zeros(len(box), 1), centre - half, centre + half], dim=1)
        crops = roi_align(image, rois, output_size=(size, size), spatial_scale=1.0,
                          sampling_ratio=2, aligned=True)
        with torch.no_grad():
            emb = model.encode_image((crops - mean) / std)
        return emb / emb.norm(dim=1, keepdim=True)

    one_x = crop_embeddings(1.0)
    both = one_x + crop_embeddings(1.5)
    expected = (both / both.norm(dim=1, keepdim=True)).numpy()
    # A random tiny CLIP maps every crop near one direction, so the tolerance is fp16's
    # rounding (about 1.2e-4 at these values) and the check below shows it discriminates.
    tolerance = 2.5e-4
    assert len(boxes) > 5
    np.testing.assert_allclose(stored.astype(np.float32), expected, atol=tolerance)
    assert np.abs(one_x.numpy() - expected).max() > 3 * tolerance  # a 1x-only store fails


@pytest.mark.parametrize('field', ['proposal_checkpoint_sha256', 'crop_scales', 'batch_size',
                                   'image_keys'])
def test_refuses_other_proposals_crops_batches_or_images(inputs, tmp_path, field):
    """The other recorded settings, checked in-process (refused before any detector runs)."""
    from ovdkit.regions import RegionStoreError, precompute_clip_regions
    full = inputs / 'full'
    if not (full / 'index.json').exists():
        run_tool(_args(inputs, full))
    before = _digest(full)
    checkpoint = inputs / 'detector.pth'
    options = dict(num_regions=20, crop_scales=(1.0, 1.5), batch_size=2, workers=0,
                   shard_size=2, progress=False,
                   cfg_options={'train_dataloader.dataset.data_root': f'{inputs / "data"}/'})
    if field == 'proposal_checkpoint_sha256':  # same weights, another file: other bytes
        state = torch.load(checkpoint, map_location='cpu', weights_only=True)
        state['meta'] = dict(note='resaved')
        checkpoint = tmp_path / 'other.pth'
        torch.save(state, checkpoint)
    elif field == 'crop_scales':
        options['crop_scales'] = (1.0, 2.0)
    elif field == 'batch_size':
        options['batch_size'] = 4
    else:  # the validation images instead of the training ones
        options['cfg_options']['train_dataloader.dataset.ann_file'] = \
            'annotations/instances_val.json'
    with pytest.raises(RegionStoreError, match=f"refusing to add to the region store {full}: "
                                               f"it was made with another '{field}'"):
        precompute_clip_regions(SMOKE, str(checkpoint), 'OVD-TestCLIP-RN',
                                str(inputs / 'clip0.pt'), str(full), **options)
    assert _digest(full) == before


def test_the_proposal_detector_loads_through_mmengine_and_leaves_the_config_alone(inputs,
                                                                                  tmp_path):
    """``_load_detector`` builds with mmdet's registry and loads with mmengine's
    ``load_checkpoint`` into a copy of the config (the RPN's ``max_per_img`` is set there),
    and refuses a checkpoint without the backbone / neck / RPN weights."""
    import copy

    from mmengine.config import Config

    from ovdkit.regions.region_precompute import _load_detector
    cfg = Config.fromfile(str(REPO / SMOKE))
    before = copy.deepcopy(cfg.to_dict())
    detector = _load_detector(cfg, str(inputs / 'detector.pth'), 7, 'cpu')
    assert cfg.to_dict() == before
    assert detector.rpn_head.test_cfg.max_per_img == 7 and not detector.training
    state = torch.load(inputs / 'detector.pth', weights_only=True)['state_dict']
    for key, value in detector.state_dict().items():
        assert torch.equal(value, state[key]), key
    partial = {k: v for k, v in state.items() if not k.startswith('neck.')}
    torch.save({'state_dict': partial}, tmp_path / 'no_neck.pth')
    with pytest.raises(ValueError, match=r'does not fit the proposal config: \d+ '
                                         r'backbone/neck/rpn_head weights missing, e\.g\. '
                                         r"\['neck\."):
        _load_detector(cfg, str(tmp_path / 'no_neck.pth'), 7, 'cpu')
    assert cfg.to_dict() == before


def test_stored_boxes_are_in_original_pixels_when_the_pipeline_resizes(inputs, tmp_path):
    """With the test pipeline's Resize at 2x (96 -> 192 px), the stored boxes are the RPN's
    proposals on the 192 px image divided by 2: recomputed here from the image, resized with
    OpenCV and fed to the detector's preprocessor and RPN directly."""
    import cv2
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmengine.config import Config

    from ovdkit.regions import CLIPRegionStore, precompute_clip_regions
    out, num_regions = tmp_path / 'x2', 20
    precompute_clip_regions(
        SMOKE, str(inputs / 'detector.pth'), 'OVD-TestCLIP-RN', str(inputs / 'clip0.pt'),
        str(out), num_regions=num_regions, crop_scales=(1.0,), batch_size=1, workers=0,
        shard_size=2, progress=False, cfg_options={
            'train_dataloader.dataset.data_root': f'{inputs / "data"}/',
            'train_dataloader.dataset.ann_file': 'annotations/instances_val.json',
            'test_dataloader.dataset.pipeline.1.scale': (192, 192)})
    info = json.loads((inputs / 'data' / 'annotations' / 'instances_val.json').read_text())

    cfg = Config.fromfile(str(REPO / SMOKE))
    cfg.model.test_cfg.rpn.max_per_img = num_regions
    model = MODELS.build(cfg.model).eval()
    state = torch.load(inputs / 'detector.pth', map_location='cpu', weights_only=True)
    model.load_state_dict(state['state_dict'])
    store = CLIPRegionStore(out)
    for image in info['images']:
        assert (image['width'], image['height']) == (96, 96)
        bgr = cv2.imread(str(inputs / 'data' / 'images' / image['file_name']))
        resized = cv2.resize(bgr, (192, 192), interpolation=cv2.INTER_LINEAR)
        sample = DetDataSample(metainfo=dict(img_shape=(192, 192), ori_shape=(96, 96),
                                             scale_factor=(2.0, 2.0)))
        data = model.data_preprocessor(dict(inputs=[torch.from_numpy(resized).permute(2, 0, 1)],
                                            data_samples=[sample]), False)
        with torch.no_grad():
            proposals = model.rpn_head.predict(model.extract_feat(data['inputs']),
                                               data['data_samples'], rescale=False)[0]
        on_resized = proposals.bboxes.clamp(min=0).numpy()
        stored, _ = store.get(image['id'])
        assert len(stored) == len(on_resized) > 5
        assert on_resized.max() > 100  # the proposals really are in 192 px coordinates
        np.testing.assert_allclose(stored, on_resized / 2, atol=1e-3)
