"""What ``tools/test.py`` adds to mmdet's test run: a strict checkpoint and a non-empty result.

mmengine's Runner loads the checkpoint of ``tools/test.py`` non-strictly (missing, unexpected
or mis-shaped weights are logged and left random) and an evaluation without a single detection
logs "The testing results of the whole dataset is empty", prints no metric and exits 0. In a
run inside :func:`checked_test_runs`, :class:`TestRunChecksHook` makes both errors.
"""
import contextlib
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.dist import all_reduce
from mmengine.evaluator import DumpResults
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from ..utils.mmdet_tools import ToolRunError
from ..utils.strict_checkpoint import (CheckpointMismatchError, checkpoint_state_dict,
                                       state_dict_differences)
from .exemplar_vocabulary_hook import ExemplarVocabularyHook


class EmptyEvaluationError(ToolRunError):
    """An evaluation that produced no metric (no detections, or nothing it could match)."""


def evaluated_metrics(evaluator) -> List:
    """The metrics of an evaluator that compute figures (not dumps, not ``format_only``)."""
    return [m for m in evaluator.metrics
            if not isinstance(m, DumpResults) and not getattr(m, 'format_only', False)]


class TestRunChecksHook(Hook):
    """Refuses a checkpoint that does not fit the model and an evaluation with no result.

    Args:
        partial_checkpoint: Load a checkpoint that does not fit anyway (mmengine's non-strict
            loading), logging the differences.
    """

    priority = 'VERY_LOW'

    def __init__(self, partial_checkpoint: bool = False) -> None:
        self.partial_checkpoint = partial_checkpoint
        self.images = 0
        self.detections = 0

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        """Compares the checkpoint with the model before mmengine loads it."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        problems = state_dict_differences(checkpoint_state_dict(checkpoint), model)
        if not problems:
            return
        message = (f'checkpoint {runner._load_from} does not match config '
                   f'{runner.cfg.filename}: ' + '; '.join(problems))
        if not self.partial_checkpoint:
            raise CheckpointMismatchError(
                message + ' (is it the checkpoint of this config? --partial-checkpoint loads '
                'what fits and leaves the rest at its initialisation)')
        runner.logger.warning(f'[ovdkit] --partial-checkpoint: {message}')

    def before_test(self, runner) -> None:
        self.images, self.detections = 0, 0

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for sample in outputs or ():
            self.images += 1
            instances = getattr(sample, 'pred_instances', None)
            self.detections += 0 if instances is None else len(instances)

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        """Raises :class:`EmptyEvaluationError` for a metric that reported nothing."""
        counts = torch.tensor([self.images, self.detections], dtype=torch.int64)
        all_reduce(counts)  # every rank's images (a no-op in one process)
        images, detections = counts.tolist()
        keys = list(metrics or {})
        for metric in evaluated_metrics(runner.test_evaluator):
            prefix = (metric.prefix or metric.default_prefix or '') + '/'
            if any(k.startswith(prefix) for k in keys) or (prefix == '/' and keys):
                continue
            if detections == 0:
                thr = runner.cfg.get('model', {}).get('test_cfg', {}).get('rcnn', {}) or {}
                why = (f'the model made no detection on the {images} test images (score '
                       f'threshold model.test_cfg.rcnn.score_thr={thr.get("score_thr")})')
            else:
                why = f'it matched none of the {detections} detections on {images} test images'
            raise EmptyEvaluationError(
                f'{type(metric).__name__} computed no metric: {why}. Check that the checkpoint '
                f'was trained with this config and its CLIP weights / text embeddings, and '
                f'the score threshold')


@contextlib.contextmanager
def checked_test_runs(partial_checkpoint: bool = False) -> Iterator[None]:
    """Within the block, every ``Runner.test()`` runs with :class:`TestRunChecksHook` and
    :class:`~ovdkit.engine.exemplar_vocabulary_hook.ExemplarVocabularyHook`.

    ``tools/test.py`` is mmdet's own tool, which builds the runner itself: the hook is added
    when the test starts (mmengine's ``Runner.test``, also what ``OVDRunner`` runs), and
    ``Runner.test`` is restored on leaving the block.
    """
    original = Runner.test

    def test(runner):
        runner.register_hook(TestRunChecksHook(partial_checkpoint))
        runner.register_hook(ExemplarVocabularyHook())
        return original(runner)

    Runner.test = test
    try:
        yield
    finally:
        Runner.test = original
