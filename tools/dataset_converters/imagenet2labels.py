#!/usr/bin/env python
"""ImageNet-21k class folders of LVIS classes -> an image-label file (Detic's IN-L).

    python tools/dataset_converters/imagenet2labels.py data/imagenet21k \
        --mapping lvis_synset_folders.txt --lvis data/lvis/annotations/lvis_v1_train.json \
        --out data/imagenet21k/annotations/imagenet_lvis_image_labels.json

--mapping lists "SYNSET FOLDER" a line (an LVIS category's synset, the ImageNet-21k folder of
its images, e.g. "dog.n.01 n02084071"). Each image of a mapped folder is labelled with its
category; the categories are the LVIS file's. Folders that are missing are counted in the
printed JSON. Exit status 2 (one line naming the file) for an unreadable or malformed input, a
synset that is no LVIS category, no image at all, or an --out that cannot be written; nothing
is written then.
"""
import argparse
import json
import os
import sys

from ovdkit.datasets.converters import ConverterInputError
from ovdkit.datasets.image_label_converters import imagenet_to_image_labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=os.path.basename(__file__),
                                     description=__doc__.splitlines()[0])
    parser.add_argument('image_root', help='folder of ImageNet-21k class folders')
    parser.add_argument('--mapping', required=True, help='"SYNSET FOLDER" lines')
    parser.add_argument('--lvis', required=True, help='LVIS v1 annotations (its categories)')
    parser.add_argument('--out', required=True, help='the image-label json to write')
    args = parser.parse_args(argv)
    try:
        print(json.dumps(imagenet_to_image_labels(args.image_root, args.mapping, args.lvis,
                                                  args.out)))
    except ConverterInputError as exc:
        print(f'{parser.prog}: error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
