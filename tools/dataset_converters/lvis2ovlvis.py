#!/usr/bin/env python
"""LVIS v1 train -> OV-LVIS train: rare-category annotations removed, 1203 categories kept.

    python tools/dataset_converters/lvis2ovlvis.py data/lvis/annotations/lvis_v1_train.json \
        --out data/lvis/annotations/lvis_v1_train_norare.json

Images left without annotations are kept. The input is never modified; the output is written
atomically after the input was checked. Exit status 2 (one line naming the file) for an input
that is not JSON, not COCO-format or has categories without an LVIS frequency (a COCO
file), and for an --out whose folder cannot be written.
"""
import argparse
import json
import os
import sys

from ovdkit.datasets.converters import ConverterInputError, lvis_to_ov_lvis


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__),
                                     description=__doc__.splitlines()[0])
    parser.add_argument('train_json', help='LVIS v1 lvis_v1_train.json')
    parser.add_argument('--out', required=True, help='output json')
    args = parser.parse_args(argv)
    try:
        print(json.dumps(lvis_to_ov_lvis(args.train_json, args.out)))
    except ConverterInputError as exc:
        print(f'{parser.prog}: error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
