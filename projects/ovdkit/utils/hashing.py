"""Content hashes that identify files and weights in sidecars (caches, region stores, reports)."""
import hashlib
import os
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch

_FILE_HASHES: Dict[Tuple[str, int, int], str] = {}


def file_sha256(path: Union[str, Path]) -> str:
    """sha256 of a file's bytes, memoised on (path, size, mtime)."""
    stat = os.stat(path)
    memo = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        _FILE_HASHES[memo] = digest.hexdigest()
    return _FILE_HASHES[memo]


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over a module's tensors (names, shapes and values), for random-weight models."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def weights_id(pretrained: Optional[str], module: Optional[torch.nn.Module] = None) -> str:
    """Identifies CLIP weights: ``tag:<tag>``, ``sha256:<file hash>`` or ``random-sha256:<...>``.

    Args:
        pretrained: Tag, checkpoint path, or ``None`` (random weights; needs ``module``).
        module: The built model (e.g. a text encoder), hashed when the weights are random.
    """
    if pretrained is None:
        if module is None:
            raise ValueError('random CLIP weights (pretrained=None) are identified by hashing '
                             'the built model: pass it as module=')
        return 'random-sha256:' + state_dict_sha256(module)
    if os.path.isfile(pretrained):
        return 'sha256:' + file_sha256(pretrained)
    return 'tag:' + pretrained
