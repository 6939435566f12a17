#!/usr/bin/env python
"""Tests a checkpoint: mmdet's ``tools/test.py`` (same CLI), with OVDKit registered first.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}] [--partial-checkpoint]

The checkpoint loads strictly: a missing, unexpected or mis-shaped weight is an error naming
the first keys (``--partial-checkpoint`` loads what fits, mmengine's behaviour, and logs the
rest). The inputs are checked before anything is built (checkpoint complete, data folders,
annotation and vocabulary files, CLIP weights, embeddings of the head's dimension and CLIP).
A test vocabulary with classes given by example boxes (file lines ``name := IMAGE
[x1,y1,x2,y2]``, docs/exemplars.md) is embedded before the first image; its
``exemplar_crop_scales`` key sets the crop scales (the region store's).
Exit status 2 with one ``error:`` line for bad input; 1 with one ``error:`` line when the
evaluation computed no metric (no detection at all, for example).
"""
import sys

from ovdkit.datasets import ExemplarError
from ovdkit.engine.test_run_checks import checked_test_runs
from ovdkit.engine.tool_input_checks import check_tool_inputs
from ovdkit.text import CLIPWeightsError, EmbeddingMismatchError
from ovdkit.utils.mmdet_tools import run_mmdet_tool

PARTIAL = '--partial-checkpoint'

if __name__ == '__main__':
    argv = [a for a in sys.argv[1:] if a != PARTIAL]
    run_mmdet_tool('test.py', argv, check_inputs=check_tool_inputs,
                   context=checked_test_runs(partial_checkpoint=PARTIAL in sys.argv[1:]),
                   user_errors=(CLIPWeightsError, EmbeddingMismatchError, ExemplarError))
