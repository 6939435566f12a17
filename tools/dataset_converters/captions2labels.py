#!/usr/bin/env python
"""COCO captions -> an image-label file: the categories each image's captions name.

    python tools/dataset_converters/captions2labels.py \
        data/coco/annotations/captions_train2017.json \
        --categories data/coco/annotations/instances_train2017_seen_2.json \
        --out data/coco/annotations/captions_train2017_ov-coco_labels.json [--keep-unnamed]

Detic's COCO-caption protocol: an image's captions joined and lower-cased name a category when
its name or one of its "synonyms" occurs as whole words. --categories is any COCO-format file
whose categories are the vocabulary (OV-COCO's converted train file: the 65 names). Images
whose captions name nothing are left out (counted in the printed JSON) unless --keep-unnamed.
Exit status 2 (one line naming the file) for an unreadable, non-JSON or non-captions input or
an --out that cannot be written; nothing is written then.
"""
import argparse
import json
import os
import sys

from ovdkit.datasets.converters import ConverterInputError
from ovdkit.datasets.image_label_converters import captions_to_image_labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__),
                                     description=__doc__.splitlines()[0])
    parser.add_argument('captions', help='COCO captions json')
    parser.add_argument('--categories', required=True,
                        help='COCO-format json whose categories are the vocabulary')
    parser.add_argument('--out', required=True, help='the image-label json to write')
    parser.add_argument('--keep-unnamed', action='store_true',
                        help='keep images whose captions name no category')
    args = parser.parse_args(argv)
    try:
        print(json.dumps(captions_to_image_labels(args.captions, args.categories, args.out,
                                                  args.keep_unnamed)))
    except ConverterInputError as exc:
        print(f'{parser.prog}: error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
