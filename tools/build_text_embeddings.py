#!/usr/bin/env python
"""Computes prompt-ensembled CLIP text embeddings of a vocabulary and stores them with a sidecar.

    python tools/build_text_embeddings.py --vocab ov-coco --model ViT-B-32 --pretrained openai \
        [--templates vild|single|FILE] [--out data/embeddings/ov-coco_vit-b-32.pt]

--vocab: coco | lvis | ov-coco | ov-coco-base | ov-coco-novel | FILE.txt | "a,b,c".
Without --out the file goes to the cache folder (--cache-dir) under its cache key, where
configs and the inferencer find it again without building CLIP. The last stdout line is a JSON
object (path, num_classes, dim, key); exit status 0. A vocabulary, template set, model name or
CLIP weights that cannot be used is one "build_text_embeddings: error: ..." line on stderr and
exit status 2, with nothing written.
"""
import argparse
import json
import sys
import time

from ovdkit.datasets import resolve_vocabulary_entries
from ovdkit.text import CLIPWeightsError, TextEmbeddingCache, save_text_embeddings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--vocab', required=True, help='vocabulary spec (see above)')
    parser.add_argument('--model', required=True, help='open_clip model name, e.g. ViT-B-32')
    parser.add_argument('--pretrained', required=True,
                        help="open_clip tag (e.g. openai) or a local checkpoint file; 'random' "
                             'for random weights (tests only)')
    parser.add_argument('--templates', default='vild', help='vild | single | template file')
    parser.add_argument('--out', help='output .pt path (a .json sidecar is written beside it)')
    parser.add_argument('--cache-dir', default='data/embeddings', help='embedding cache folder')
    parser.add_argument('--batch-size', type=int, default=256, help='prompts per forward pass')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        classes = resolve_vocabulary_entries(args.vocab)  # synonyms are part of the key
        pretrained = None if args.pretrained == 'random' else args.pretrained
        cache = TextEmbeddingCache(args.cache_dir, batch_size=args.batch_size, progress=True,
                                   device=args.device)
        embeddings = cache.get(classes, args.model, pretrained, args.templates)
        meta = cache.meta_for(classes, args.model, pretrained, args.templates)
        path = cache.path_for(meta)
        if args.out:
            path = save_text_embeddings(args.out, embeddings, meta)
    except (CLIPWeightsError, FileNotFoundError, ValueError) as exc:
        print(f'build_text_embeddings: error: {exc}', file=sys.stderr)
        return 2
    print(f'\n{len(classes)} classes x {len(meta["template_list"])} templates -> '
          f'{tuple(embeddings.shape)} in {time.perf_counter() - start:.2f} s: {path}',
          file=sys.stderr)
    print(json.dumps(dict(path=str(path), num_classes=len(classes), dim=meta['dim'],
                          key=meta['key'])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
