#!/usr/bin/env python
"""COCO instances -> OV-COCO (48 base / 17 novel) annotation files.

    python tools/dataset_converters/coco2ovcoco.py \
        data/coco/annotations/instances_train2017.json \
        data/coco/annotations/instances_val2017.json --out-dir data/coco/annotations

Writes instances_train2017_seen_2.json (base annotations only; images without a base box are
dropped, as mmdet's coco2ovd.py does) and instances_val2017_all_2.json (all 65 categories).
The inputs are never modified; outputs are written atomically, and only after every input
has been read and checked. Exit status 2 (one line naming the file) for an input that is not
JSON, not COCO-format, an LVIS file or without OV-COCO's categories, and for an --out-dir that
cannot be written.
"""
import argparse
import json
import os
import sys

from ovdkit.datasets.converters import ConverterInputError, coco_to_ov_coco


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__),
                                     description=__doc__.splitlines()[0])
    parser.add_argument('train_json', help='COCO instances_train2017.json')
    parser.add_argument('val_json', help='COCO instances_val2017.json')
    parser.add_argument('--out-dir', required=True, help='folder for the two OV-COCO files')
    args = parser.parse_args(argv)
    try:
        counts = coco_to_ov_coco(args.train_json, args.val_json, args.out_dir)
        print(json.dumps(counts))
    except ConverterInputError as exc:
        print(f'{parser.prog}: error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
