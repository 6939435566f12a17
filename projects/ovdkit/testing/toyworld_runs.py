"""A toy-world run folder as ``tools/toyworld.py`` leaves it (world, CLIP, region store meta,
one folder per method with its config and checkpoint), with random weights and a tiny world:
for tests of the tools that read finished runs."""
import json
from pathlib import Path
from typing import Sequence

from ..toyworld import ToyWorldSpec, generate_world
from ..toyworld.detector_runs import load_job_config, method_config, toyworld_cfg_options
from .benchmark_models import build_random_detector, save_detector_checkpoint, save_random_clip
from .tools import REPO


def make_toyworld_run(run_dir: Path, seed: int,
                      methods: Sequence[str] = ('vild-text', 'vild-ensemble'),
                      crop_scales: Sequence[float] = (1.25,)) -> Path:
    """Writes a run of a 2-colour, 3-shape world (circles novel) with random detectors.

    Args:
        run_dir: The folder to write.
        seed: The world's seed, the CLIP's and the detectors'.
        methods: Toy-world methods (``configs/toyworld``) to give a checkpoint.
        crop_scales: What ``regions/meta.json`` records.

    Returns:
        ``run_dir``.
    """
    import torch
    run_dir = Path(run_dir)
    spec = ToyWorldSpec(seed=seed, shapes=('circle', 'square', 'star'), colors=('red', 'blue'),
                        num_train=24, num_val=8, num_clip_train=2, num_clip_val=2,
                        novel_shapes=('circle',))
    generate_world(spec, str(run_dir / 'world'), progress=False)
    (run_dir / 'clip').mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    clip = save_random_clip(run_dir / 'clip' / 'toyclip.pt', 'OVD-TinyCLIP-RN')
    (run_dir / 'regions').mkdir(exist_ok=True)
    (run_dir / 'regions' / 'meta.json').write_text(json.dumps(dict(
        crop_scales=list(crop_scales))))
    for method in methods:
        out = run_dir / method
        out.mkdir(exist_ok=True)
        options = toyworld_cfg_options(str(run_dir / 'world'), str(clip),
                                       str(run_dir / 'embeddings'), str(out))
        cfg = load_job_config(method_config(str(REPO / 'configs' / 'toyworld'), method), options)
        save_detector_checkpoint(build_random_detector(cfg, seed), out / 'iter_1.pth')
        cfg.dump(str(out / f'{method}.py'))
    return run_dir
