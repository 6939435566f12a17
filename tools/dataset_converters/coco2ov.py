#!/usr/bin/env python
"""Any COCO-format dataset -> an open-vocabulary split with your base / novel categories.

    python tools/dataset_converters/coco2ov.py data/mine/annotations/instances.json \
        [--val VAL_JSON] --novel "zebra,giraffe" | --novel-file novel.txt \
        --out-dir data/mine/annotations

Writes train_base.json (base annotations only; images without a base box dropped),
val_all.json (all categories; from --val, or the same file), base_classes.txt,
novel_classes.txt and all_classes.txt (category-id order), which
configs/custom/vild-text_r50_fpn_8xb2-90k_ov-custom.py reads. The inputs are never modified;
outputs are written atomically, and only after every input has been read and checked. Exit
status 2 (one line naming the file or the name) for an input that is not JSON or not
COCO-format, a novel name the file lacks, a split without base categories, or an --out-dir
that cannot be written.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from ovdkit.datasets.converters import ConverterInputError, check_output_folder
from ovdkit.datasets.custom_split import coco_to_ov_split


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__),
                                     description=__doc__.splitlines()[0])
    parser.add_argument('annotations', help='COCO-format annotations to train on')
    parser.add_argument('--val', help='COCO-format annotations to evaluate on (default: the '
                                      'same file)')
    novel = parser.add_mutually_exclusive_group(required=True)
    novel.add_argument('--novel', help='comma-separated novel category names')
    novel.add_argument('--novel-file', help='file of novel category names, one a line')
    parser.add_argument('--out-dir', required=True, help='folder for the output files')
    args = parser.parse_args(argv)
    try:
        check_output_folder(args.out_dir, '--out-dir')
        if args.novel_file:
            try:
                lines = Path(args.novel_file).read_text(encoding='utf-8').splitlines()
            except OSError as exc:
                raise ConverterInputError(f'{args.novel_file}: cannot read it '
                                          f'({exc.strerror})') from exc
            names = [n for n in lines if n.strip() and not n.startswith('#')]
        else:
            names = args.novel.split(',')
        counts = coco_to_ov_split(args.annotations, names, args.out_dir, args.val)
        print(json.dumps(counts))
    except ConverterInputError as exc:
        print(f'{parser.prog}: error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
