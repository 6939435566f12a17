#!/usr/bin/env python
"""LVIS v1 train -> OV-LVIS train: rare-category annotations removed, 1203 categories kept.

    python tools/dataset_converters/lvis2ovlvis.py data/lvis/annotations/lvis_v1_train.json \
        --out data/lvis/annotations/lvis_v1_train_norare.json

Images left without annotations are kept. The input is never modified; the output is written
atomically.
"""
import argparse
import json

from ovdkit.datasets.converters import lvis_to_ov_lvis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('train_json', help='LVIS v1 lvis_v1_train.json')
    parser.add_argument('--out', required=True, help='output json')
    args = parser.parse_args()
    print(json.dumps(lvis_to_ov_lvis(args.train_json, args.out)))


if __name__ == '__main__':
    main()
