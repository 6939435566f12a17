"""Lets torch's safe (``weights_only=True``) loader read mmengine's own checkpoints.

torch >= 2.6 unpickles with ``weights_only=True`` by default, and mmengine 0.10.7 calls
``torch.load`` without saying otherwise. The Runner's checkpoints hold, besides tensors, the
message hub's ``HistoryBuffer`` objects (numpy arrays of logged scalars) and numpy scalars in
their meta, so ``--resume`` and ``load_from`` fail. Rather than turning safe loading off, the
exact globals those checkpoints contain are allow-listed; any other pickled object still makes
``torch.load`` raise its ``UnpicklingError``.

One of those globals is ``builtins.getattr``: pickle protocol 2 stores the class-level
statistics functions of ``HistoryBuffer`` (``HistoryBuffer.min`` ...) as
``getattr(HistoryBuffer, 'min')``. A general ``getattr`` would open the door to arbitrary code,
so a restricted stand-in answers to that name and resolves only those functions.
"""
import pickle
from typing import List

import numpy as np
import torch

_REGISTERED = False


_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(owner: object, name: str) -> object:
    """Restricted ``getattr`` for unpickling: only ``HistoryBuffer.<min|max|current|mean>``.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint (OVDKit allows only '
        f'HistoryBuffer statistics: {", ".join(_HISTORY_BUFFER_STATISTICS)})')


def mmengine_checkpoint_globals() -> List[object]:
    """Returns the globals found in checkpoints written by mmengine's Runner.

    Returns:
        Classes and functions to pass to ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer

    # numpy pickles arrays as _reconstruct(ndarray, shape, dtype) and scalars as
    # scalar(dtype, bytes); each dtype pickles through its own DType class.
    multiarray = np._core.multiarray
    dtype_classes = [type(np.dtype(code)) for code in
                     ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                      'uint64', 'float16', 'float32', 'float64')]
    return [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
            *dtype_classes, (history_buffer_statistic, 'builtins.getattr')]


def register_mmengine_checkpoint_globals() -> None:
    """Allow-lists :func:`mmengine_checkpoint_globals` for ``torch.load`` (idempotent)."""
    global _REGISTERED
    if not _REGISTERED:
        torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
        _REGISTERED = True
