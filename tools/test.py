#!/usr/bin/env python
"""Tests a checkpoint: mmdet's ``tools/test.py`` (same CLI), with OVDKit registered first.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import sys

from ovdkit.utils.mmdet_tools import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('test.py', sys.argv[1:])
