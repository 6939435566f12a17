#!/usr/bin/env python
"""Trains a detector: mmdet's ``tools/train.py`` (same CLI), with OVDKit registered first.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

Before anything is built, the inputs are checked (data folders, annotation files, vocabulary
files, CLIP weights: a file that exists, or a tag in the local cache or downloadable now,
stored embeddings of the head's dimension and CLIP, ``load_from`` / ``--resume`` checkpoints).
A bad one ends the run with one ``error:`` line naming it, exit status 2. ``load_from``
loads non-strictly, as mmengine does (fine-tuning from another model's weights).
"""
import sys

from ovdkit.engine.tool_input_checks import check_tool_inputs
from ovdkit.text import CLIPWeightsError, EmbeddingMismatchError
from ovdkit.utils.mmdet_tools import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('train.py', sys.argv[1:], check_inputs=check_tool_inputs,
                   user_errors=(CLIPWeightsError, EmbeddingMismatchError))
