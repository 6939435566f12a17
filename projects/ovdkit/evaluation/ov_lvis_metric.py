"""mmdet's LVISMetric, runnable with numpy >= 1.24 (the pinned lvis 0.5.3 calls ``np.float``)."""
import contextlib
import types
from typing import Dict, Iterator

from mmdet.evaluation import LVISMetric
from mmdet.registry import METRICS


@contextlib.contextmanager
def lvis_numpy_compat() -> Iterator[None]:
    """Lets ``lvis.eval`` (lvis 0.5.3, its only release) run on numpy 2, for one block.

    ``LVISEval.accumulate`` casts with ``astype(dtype=np.float)``; ``np.float`` was the
    builtin ``float`` under another name, deprecated in numpy 1.20 and removed in 1.24. Inside
    the block, the name ``np`` *of the module lvis.eval only* is a view of numpy that also has
    ``float = float``; numpy itself and every other module are untouched, and the original
    binding is restored on exit (also on an error).
    """
    import lvis.eval as lvis_eval
    original = lvis_eval.np
    if hasattr(original, 'float'):  # numpy < 1.24 (or an outer block): nothing to do
        yield
        return
    view = types.ModuleType('numpy', doc='numpy plus np.float, for lvis.eval only')
    view.__dict__.update(original.__dict__)
    view.float = float
    lvis_eval.np = view
    try:
        yield
    finally:
        lvis_eval.np = original


@METRICS.register_module()
class OVLVISMetric(LVISMetric):
    """``LVISMetric`` (bbox / segm AP, APr / APc / APf, ...) that works on numpy 2.

    Same arguments and results as mmdet's ``LVISMetric`` (``lvis/bbox_APr``, ...); the lvis
    API's evaluation runs inside :func:`lvis_numpy_compat`. On OV-LVIS, ``APr`` is the AP of
    the 337 rare categories, the novel ones.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Computes mmdet's LVIS metrics with lvis' numpy-2 incompatibility bridged."""
        with lvis_numpy_compat():
            return super().compute_metrics(results)

