#!/usr/bin/env python
"""Writes the tiny COCO-format fixture used by the smoke config and the tests.

    python tools/make_coco_fixture.py data/fixture [--train 24] [--val 8] [--seed 0]
"""
import argparse

from ovdkit.testing import make_coco_fixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='folder for images/ and annotations/')
    parser.add_argument('--train', type=int, default=24, help='number of training images')
    parser.add_argument('--val', type=int, default=8, help='number of validation images')
    parser.add_argument('--image-size', type=int, default=96, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    paths = make_coco_fixture(args.out_dir, args.train, args.val, args.image_size, args.seed)
    for split, path in paths.items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    main()
