"""Loading a checkpoint into a model strictly: every weight present, nothing left over.

mmengine's ``load_checkpoint`` (what ``tools/test.py`` and ``init_detector`` use) only logs
missing or unexpected keys and size mismatches and leaves those weights at their random
initialisation: another model's checkpoint then gives the AP of random weights with exit status
0. Here any difference is a :class:`CheckpointMismatchError` naming the first few keys, the
checkpoint and the config, and a file that is not a complete checkpoint (a truncated download)
is a :class:`CheckpointFileError` naming it, checked before any model is built.
"""
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from .config_variables import OVDConfigError

#: mmengine's default key revision: a ``module.`` prefix (DDP-wrapped models) is stripped.
REVISE_KEYS = ((r'^module\.', ''),)


class CheckpointFileError(OVDConfigError):
    """A checkpoint file is missing, unreadable or not a complete checkpoint."""


class CheckpointMismatchError(OVDConfigError):
    """A checkpoint's weights do not fit the model built from a config."""


def is_local_checkpoint(path: str) -> bool:
    """Whether ``path`` names a local file (not ``http://``, ``torchvision://``...)."""
    return '://' not in str(path)


def check_checkpoint_file(path: str, what: str = 'checkpoint') -> None:
    """Checks, without loading it, that a local checkpoint exists and is complete.

    torch saves checkpoints as zip archives whose directory is at the end of the file, so a
    truncated file lacks it; reading the directory costs milliseconds whatever the size.
    Files in torch's legacy (non-zip) format are only checked for existence.

    Raises:
        CheckpointFileError: naming ``what``, the file and what to do.
    """
    if not is_local_checkpoint(path):
        return
    file = Path(path)
    if not file.is_file():
        why = 'is a folder' if file.is_dir() else 'does not exist'
        raise CheckpointFileError(f'{what} {path} {why}: give the .pth file written by '
                                  f'tools/train.py')
    try:
        with open(file, 'rb') as f:
            magic = f.read(4)
    except OSError as exc:
        raise CheckpointFileError(f'{what} {path}: cannot read it ({exc.strerror})') from exc
    if magic[:2] != b'PK':  # torch's legacy pickle format
        return
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointFileError(
            f'{what} {path} is not a complete checkpoint ({exc}; truncated or corrupt '
            f'copy?): copy or download it again') from exc
    if not any(name.endswith('data.pkl') for name in names):
        raise CheckpointFileError(f'{what} {path} is a zip archive without a PyTorch '
                                  f'checkpoint in it (no data.pkl)')


def read_checkpoint(path: str, what: str = 'checkpoint') -> Dict:
    """Reads a checkpoint with mmengine's loader (safe unpickling, URLs and prefixes).

    Raises:
        CheckpointFileError: the file is missing, incomplete or cannot be unpickled; the
            message names it.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    check_checkpoint_file(path, what)
    try:
        checkpoint = _load_checkpoint(str(path), map_location='cpu')
    except RuntimeError as exc:  # torch's zip reader on a damaged archive
        reason = ' '.join(str(exc).split())
        raise CheckpointFileError(f'{what} {path} cannot be read ({reason[:200]}): copy or '
                                  f'download it again') from exc
    if not isinstance(checkpoint, Mapping):
        raise CheckpointFileError(f'{what} {path} holds a {type(checkpoint).__name__}, not a '
                                  f'dict of weights')
    return checkpoint


def checkpoint_state_dict(checkpoint: Mapping,
                          revise_keys: Sequence[Tuple[str, str]] = REVISE_KEYS) -> Dict:
    """The checkpoint's ``state_dict`` (or the checkpoint itself) with the keys revised."""
    state = checkpoint.get('state_dict', checkpoint)
    for pattern, replacement in revise_keys:
        state = OrderedDict((re.sub(pattern, replacement, k), v) for k, v in state.items())
    return state


def _listed(items: List[str], what: str) -> str:
    more = ', ...' if len(items) > 3 else ''
    return f'{len(items)} {what} ({", ".join(items[:3])}{more})'


def state_dict_differences(state: Mapping, model: nn.Module) -> List[str]:
    """How ``state`` differs from ``model.state_dict()``: missing keys, unexpected keys and
    shape mismatches, each with its count and first three keys (empty if it fits)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}'
              for k, v in expected.items()
              if k in state and hasattr(state[k], 'shape')
              and tuple(state[k].shape) != tuple(v.shape)]
    return [_listed(items, what) for what, items in (
        ('missing keys', missing), ('unexpected keys', unexpected),
        ('shape mismatches (checkpoint vs model)', shapes)) if items]


def check_state_dict_fits(state: Mapping, model: nn.Module, checkpoint: str,
                          config: str) -> None:
    """Raises :class:`CheckpointMismatchError` unless ``state`` fits ``model`` exactly.

    Args:
        state: The checkpoint's state dict (keys revised).
        model: The model built from ``config``.
        checkpoint: The checkpoint's path, for the message.
        config: The config's path, for the message.
    """
    problems = state_dict_differences(state, model)
    if problems:
        raise CheckpointMismatchError(
            f'checkpoint {checkpoint} does not match config {config}: ' + '; '.join(problems)
            + ' (is it the checkpoint of this config?)')


def load_checkpoint_strictly(model: nn.Module, checkpoint: str, config: str,
                             loaded: Optional[Mapping] = None) -> Mapping:
    """Loads ``checkpoint`` into ``model``, refusing any difference.

    Args:
        model: The model built from ``config`` (unwrapped).
        checkpoint: Checkpoint path (or URL).
        config: The config's path, for messages.
        loaded: The checkpoint already read, if it was.

    Returns:
        The checkpoint dict.

    Raises:
        CheckpointFileError: the file cannot be read.
        CheckpointMismatchError: its weights do not fit the model.
    """
    loaded = read_checkpoint(checkpoint) if loaded is None else loaded
    state = checkpoint_state_dict(loaded)
    check_state_dict_fits(state, model, checkpoint, config)
    model.load_state_dict(state, strict=True)
    return loaded


def init_detector_strictly(config, checkpoint: str, device: str = 'cpu') -> nn.Module:
    """mmdet's ``init_detector`` with the checkpoint loaded by :func:`load_checkpoint_strictly`.

    The file is checked before the model is built; ``dataset_meta`` comes from the
    checkpoint's meta as ``init_detector`` takes it.

    Raises:
        CheckpointFileError, CheckpointMismatchError: see :func:`load_checkpoint_strictly`.
    """
    from mmdet.apis import init_detector

    check_checkpoint_file(checkpoint)
    name = str(getattr(config, 'filename', None) or config)
    # recorded, not shown: "checkpoint is None, use COCO classes by default" (init_detector
    # sets its own 'once' filter, so an 'ignore' filter would not hold)
    with warnings.catch_warnings(record=True):
        model = init_detector(config, None, device='cpu')
    loaded = load_checkpoint_strictly(model, checkpoint, name)
    meta = loaded.get('meta', {}) or {}
    if 'dataset_meta' in meta:
        model.dataset_meta = {k.lower(): v for k, v in meta['dataset_meta'].items()}
    return model.to(torch.device(device))
