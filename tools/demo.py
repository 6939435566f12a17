#!/usr/bin/env python
"""Detects the classes you name in an image or a folder of images.

    python tools/demo.py IMAGE_OR_DIR [...] (--config C --checkpoint K | --onnx M.onnx)
        (--vocab "zebra,traffic cone" | --vocab-file F | --caption TEXT [--phrases P ...])
        [--exemplar "NAME := IMAGE [x1,y1,x2,y2] ..." ...] [--exemplar-crop-scales 1.0 1.5]
        [--exemplar-text-weight 0.5] [--score-thr 0.3] [--out-dir D] [--device cpu]
        [--batch-size 4] [--zoom 1] [--cfg-options KEY=VALUE ...]

``--onnx`` runs a graph of tools/deploy/export_onnx.py with onnxruntime instead of the PyTorch
model (same vocabularies through the same embedding cache, same outputs).

``--caption`` (grounding models) grounds the phrases of a free-form caption instead of a class
list: ``--phrases`` names them as substrings of the caption (``--caption "the red star next to a
blue heart" --phrases "the red star" "a blue heart"``); without it the caption's phrases are
separated by " . " (GLIP: ``--caption "red star . blue heart"``). Each detection carries its
phrase and the phrase's ``char_span`` in the caption. A caption longer than the text tower's
context is refused, naming the limit.

``--exemplar`` adds a class given by example boxes ("find more like this"), written as a line of
a vocabulary file (docs/exemplars.md): ``--exemplar "part := shots/a.png [10,12,40,44]"`` (the
examples alone; the name labels the detections) or ``--exemplar "zebra += shots/b.png
[5,5,60,40]"`` (the name's text and the examples, fused); repeat it for more classes, alone or
after ``--vocab`` / ``--vocab-file`` names (a name given both ways is refused). Crops are cut at
``--exemplar-crop-scales``: give your region store's (its ``meta.json``), ViLD's 1.0 1.5 by
default. A bad example (box outside its image or of zero size, unreadable image, too many) stops
before any image, naming its class and the example.

``--vocab`` also takes a builtin vocabulary (``coco``, ``lvis``, ``ov-coco``...). For each image
the drawing (boxes, names, scores) goes to ``D/vis/<image name>`` and its detections to
``D/preds/<image stem>.json``; ``D/summary.json`` lists every image with its count or error.
Every file is written atomically. Folders (their image files, not recursive) are processed in
batches with a progress bar on stderr.

A bad image (missing, unreadable) is reported on one line naming it and the other images are
still processed. Bad arguments (``--score-thr`` outside [0, 1], ``--batch-size`` or ``--zoom``
below 1, an ``--out-dir`` that cannot be created or written) and setup errors (config,
checkpoint that does not fit the config, empty or duplicate vocabulary names, text embeddings
of another dimension than the model's) stop before any image, with one ``error:`` line naming
the culprit. Exit status: 0 all images done, 1 some images failed, 2 bad arguments or setup
failed. The last stdout line is a JSON summary.

The work is done by :class:`ovdkit.apis.FolderDemo` over an :class:`ovdkit.apis.OVDInferencer`
(or, with ``--onnx``, an :class:`ovdkit.apis.ONNXInferencer`): the same from Python.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('inputs', nargs='+', metavar='IMAGE_OR_DIR')
    p.add_argument('--config', help='model config (with --checkpoint)')
    p.add_argument('--checkpoint', help='trained checkpoint (with --config)')
    p.add_argument('--onnx', help='exported graph (tools/deploy/export_onnx.py) to run with '
                                  'onnxruntime instead of --config/--checkpoint')
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument('--vocab', help='"name,name|synonym,-negative,..." or a builtin '
                                       'vocabulary (coco, lvis, ov-coco, ...); a -name is '
                                       'scored and never reported (a vocabulary that starts '
                                       'with one: --vocab=-zebra,cat)')
    vocab.add_argument('--vocab-file', help='text file, one class name per line')
    vocab.add_argument('--caption', help='free-form caption whose phrases to ground (grounding '
                                         'models)')
    p.add_argument('--exemplar', action='append', default=[], metavar='"NAME := IMAGE [BOX]"',
                   help='a class given by example boxes: "NAME := IMAGE [x1,y1,x2,y2] ...; '
                        'IMAGE [...]" (examples only) or "NAME += ..." (name and examples); '
                        'repeatable')
    p.add_argument('--exemplar-crop-scales', nargs='+', type=float, default=[1.0, 1.5],
                   help='crop scales of example boxes: those of the region store (default '
                        '1.0 1.5, ViLD\'s)')
    p.add_argument('--exemplar-text-weight', type=float, default=0.5,
                   help='text weight of NAME += classes, in [0, 1] (0.5: the plain mean)')
    p.add_argument('--phrases', nargs='+', metavar='PHRASE',
                   help='with --caption: the phrases to ground, substrings of the caption '
                        '(default: its " . "-separated phrases)')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='lowest score drawn and written, in [0, 1] (default 0.3)')
    p.add_argument('--out-dir', default='outputs/demo')
    p.add_argument('--device', default='cpu')
    p.add_argument('--batch-size', type=int, default=4, help='images per forward pass (>= 1, '
                                                             'default 4)')
    p.add_argument('--zoom', type=int, default=1,
                   help='enlarge drawings this many times (nearest neighbour, >= 1), for small '
                        'images')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides, as in tools/test.py')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--debug', action='store_true', help='full tracebacks instead of one line')
    args = p.parse_args(argv)
    if (args.onnx is None) == (args.config is None or args.checkpoint is None) or \
            (args.onnx is not None and (args.config or args.checkpoint)):
        p.error('give either --config and --checkpoint, or --onnx')
    if args.vocab is None and args.vocab_file is None and args.caption is None and \
            not args.exemplar:
        p.error('give --vocab, --vocab-file, --caption or --exemplar')
    if args.exemplar and args.caption is not None:
        p.error('--exemplar gives classes; --caption grounds phrases: give one of them')
    if args.phrases is not None and args.caption is None:
        p.error('--phrases needs --caption')
    if args.caption is not None and args.onnx is not None:
        p.error('--caption needs a grounding model (--config/--checkpoint); ONNX graphs take '
                'class vocabularies only')
    return args


def argument_error(args) -> Optional[str]:
    """What is wrong with an argument's value, naming it and what to give instead; ``None``
    when every value is usable (checked before anything is loaded)."""
    if not 0.0 <= args.score_thr <= 1.0:  # also refuses nan
        return (f'--score-thr {args.score_thr:g} is outside [0, 1]: scores are probabilities; '
                f'give a threshold between 0 and 1 (e.g. 0.3)')
    if args.batch_size < 1:
        return f'--batch-size {args.batch_size} must be at least 1 (images per forward pass)'
    if not 0.0 <= args.exemplar_text_weight <= 1.0:
        return (f'--exemplar-text-weight {args.exemplar_text_weight:g} is outside [0, 1] (the '
                f'text\'s share of a NAME += class\'s embedding)')
    if any(not s > 0 for s in args.exemplar_crop_scales):
        return (f'--exemplar-crop-scales {args.exemplar_crop_scales} must be positive (crop '
                f'side / box side)')
    if args.zoom < 1:
        return (f'--zoom {args.zoom} must be at least 1 (an integer enlargement of the '
                f'drawings; 1 draws at the image\'s size)')
    return None


def setup(args):
    """Builds the inferencer and installs the vocabulary; raises on any setup problem."""
    from ovdkit.apis import ONNXInferencer, OVDInferencer, check_out_dir
    check_out_dir(args.out_dir)  # before the model: a minute of work lost otherwise
    if args.vocab_file is not None and not Path(args.vocab_file).is_file():
        raise FileNotFoundError(f'vocabulary file {args.vocab_file} does not exist')
    if args.onnx is not None:
        from ovdkit.deploy import ONNXDetector
        inferencer = ONNXInferencer(ONNXDetector(
            args.onnx, exemplar_crop_scales=args.exemplar_crop_scales,
            exemplar_text_weight=args.exemplar_text_weight))
    else:
        inferencer = OVDInferencer(args.config, args.checkpoint, device=args.device,
                                   cfg_options=args.cfg_options,
                                   exemplar_crop_scales=args.exemplar_crop_scales,
                                   exemplar_text_weight=args.exemplar_text_weight)
    if args.caption is not None:
        return inferencer, inferencer.set_caption(args.caption, args.phrases).phrases
    names = inferencer.set_vocabulary(demo_vocabulary(args))
    return inferencer, names


def demo_vocabulary(args):
    """The vocabulary of ``--vocab`` / ``--vocab-file`` and the classes of ``--exemplar``."""
    spec = args.vocab_file if args.vocab_file is not None else args.vocab
    if not args.exemplar:
        return spec
    from ovdkit.datasets import resolve_vocabulary_classes
    from ovdkit.datasets.exemplar_classes import EXEMPLAR_MARKERS, parse_exemplar_line
    classes = list(resolve_vocabulary_classes(spec)) if spec is not None else []
    for line in args.exemplar:
        if not any(m in line for m in EXEMPLAR_MARKERS):
            raise ValueError(f'--exemplar {line!r}: write "NAME := IMAGE [x1,y1,x2,y2]" '
                             f'(examples only) or "NAME += IMAGE [x1,y1,x2,y2]" (name and '
                             f'examples)')
        classes.append(parse_exemplar_line(line, '.', '--exemplar'))
    return classes


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    problem = argument_error(args)
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    import ovdkit  # noqa: F401  (registers OVDKit's modules)
    from ovdkit.apis import FolderDemo, list_images
    from ovdkit.apis.detection_records import one_line
    from ovdkit.utils.atomic_io import write_json_atomic
    try:
        inferencer, names = setup(args)
    except Exception as exc:  # noqa: BLE001  (reported as one line naming the culprit)
        if args.debug:
            raise
        print(f'error: {one_line(exc)}', file=sys.stderr)
        return 2
    images = list_images(args.inputs)
    if not images:
        print(f'error: no image files in {", ".join(args.inputs)}', file=sys.stderr)
        return 1
    demo = FolderDemo(inferencer, args.out_dir, score_thr=args.score_thr,
                      batch_size=args.batch_size, zoom=args.zoom,
                      progress=not args.no_progress, debug=args.debug)
    records = demo.run(images)
    failed = [r['image'] for r in records if 'error' in r]
    summary = dict(images=len(images), failed=len(failed), out_dir=str(args.out_dir),
                   vocabulary=list(names), score_thr=args.score_thr)
    if args.caption is not None:
        summary['caption'] = args.caption
    write_json_atomic(dict(summary, results=records), Path(args.out_dir) / 'summary.json',
                      indent=1)
    if failed:
        print(f'{len(failed)} of {len(images)} images failed: {", ".join(failed)}',
              file=sys.stderr)
    summary.pop('vocabulary')
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
