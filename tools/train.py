#!/usr/bin/env python
"""Trains a detector: mmdet's ``tools/train.py`` (same CLI), with OVDKit registered first.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import sys

from ovdkit.utils.mmdet_tools import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('train.py', sys.argv[1:])
