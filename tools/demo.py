#!/usr/bin/env python
"""Detects the classes you name in an image or a folder of images.

    python tools/demo.py IMAGE_OR_DIR [...] (--config C --checkpoint K | --onnx M.onnx)
        (--vocab "zebra,traffic cone" | --vocab-file F | --caption TEXT [--phrases P ...])
        [--score-thr 0.3] [--out-dir D] [--device cpu] [--batch-size 4] [--zoom 1]
        [--cfg-options KEY=VALUE ...]

``--onnx`` runs a graph of tools/deploy/export_onnx.py with onnxruntime instead of the PyTorch
model (same vocabularies through the same embedding cache, same outputs).

``--caption`` (grounding models) grounds the phrases of a free-form caption instead of a class
list: ``--phrases`` names them as substrings of the caption (``--caption "the red star next to a
blue heart" --phrases "the red star" "a blue heart"``); without it the caption's phrases are
separated by " . " (GLIP: ``--caption "red star . blue heart"``). Each detection carries its
phrase and the phrase's ``char_span`` in the caption. A caption longer than the text tower's
context is refused, naming the limit.

``--vocab`` also takes a builtin vocabulary (``coco``, ``lvis``, ``ov-coco``...). For each image
the drawing (boxes, names, scores) goes to ``D/vis/<image name>`` and its detections to
``D/preds/<image stem>.json``; ``D/summary.json`` lists every image with its count or error.
Every file is written atomically. Folders (their image files, not recursive) are processed in
batches with a progress bar on stderr.

A bad image (missing, unreadable) is reported on one line naming it and the other images are
still processed. Setup errors (config, checkpoint that does not fit the config, empty or
duplicate vocabulary names, text embeddings of another dimension than the model's, an
``--out-dir`` that cannot be written) stop before any image, with one line naming the culprit.
Exit status: 0 all images done, 1 some images failed, 2 setup failed. The last stdout line
is a JSON summary.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

from mmengine.config import DictAction

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('inputs', nargs='+', metavar='IMAGE_OR_DIR')
    p.add_argument('--config', help='model config (with --checkpoint)')
    p.add_argument('--checkpoint', help='trained checkpoint (with --config)')
    p.add_argument('--onnx', help='exported graph (tools/deploy/export_onnx.py) to run with '
                                  'onnxruntime instead of --config/--checkpoint')
    vocab = p.add_mutually_exclusive_group(required=True)
    vocab.add_argument('--vocab', help='"name,name,..." or a builtin vocabulary (coco, lvis, '
                                       'ov-coco, ...)')
    vocab.add_argument('--vocab-file', help='text file, one class name per line')
    vocab.add_argument('--caption', help='free-form caption whose phrases to ground (grounding '
                                         'models)')
    p.add_argument('--phrases', nargs='+', metavar='PHRASE',
                   help='with --caption: the phrases to ground, substrings of the caption '
                        '(default: its " . "-separated phrases)')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='lowest score drawn and written (default 0.3)')
    p.add_argument('--out-dir', default='outputs/demo')
    p.add_argument('--device', default='cpu')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--zoom', type=int, default=1,
                   help='enlarge drawings this many times (nearest neighbour), for small images')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides, as in tools/test.py')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--debug', action='store_true', help='full tracebacks instead of one line')
    args = p.parse_args(argv)
    if (args.onnx is None) == (args.config is None or args.checkpoint is None) or \
            (args.onnx is not None and (args.config or args.checkpoint)):
        p.error('give either --config and --checkpoint, or --onnx')
    if args.phrases is not None and args.caption is None:
        p.error('--phrases needs --caption')
    if args.caption is not None and args.onnx is not None:
        p.error('--caption needs a grounding model (--config/--checkpoint); ONNX graphs take '
                'class vocabularies only')
    return args


def list_images(inputs: List[str]) -> List[str]:
    """Image files of ``inputs``: files as given, folders expanded to their image files."""
    images = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            images += sorted(str(p) for p in path.iterdir()
                             if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        else:
            images.append(item)  # checked (and reported if missing) with the others
    return images


def check_image(path: str) -> Optional[str]:
    """``None`` when ``path`` decodes as an image, else why not."""
    import mmcv

    from ovdkit.apis.detection_records import one_line
    if not Path(path).is_file():
        return 'does not exist'
    try:
        image = mmcv.imread(path)
    except Exception as exc:  # noqa: BLE001  (any decoder failure means the same to a user)
        return f'cannot be read ({one_line(exc)})'
    if image is None or image.size == 0:
        return 'cannot be read (not an image, or a corrupt one)'
    return None


class Demo:
    """Runs an :class:`~ovdkit.apis.OVDInferencer` over images, isolating bad ones."""

    def __init__(self, inferencer, args) -> None:
        self.inferencer = inferencer
        self.args = args
        self.out_dir = Path(args.out_dir)
        self.records: Dict[str, Dict] = {}
        self.bar = None

    def error(self, image: str, reason: str) -> None:
        """Records and prints (one line, stderr) an image that could not be processed."""
        self.records[image] = dict(image=image, error=reason)
        prefix = '\n' if self.bar is not None else ''  # not glued to the progress bar
        print(f'{prefix}error: image {image}: {reason}', file=sys.stderr, flush=True)

    def run_batch(self, batch: List[str]) -> None:
        """Detects, draws and writes one batch; a failing batch is retried image by image."""
        from ovdkit.apis.detection_records import detection_records, one_line
        from ovdkit.utils.atomic_io import write_json_atomic
        try:
            out = self.inferencer(batch, batch_size=len(batch), out_dir=str(self.out_dir),
                                  pred_score_thr=self.args.score_thr, zoom=self.args.zoom)
        except Exception as exc:  # noqa: BLE001
            if len(batch) > 1:
                for image in batch:
                    self.run_batch([image])
                return
            if self.args.debug:
                raise
            self.error(batch[0], one_line(exc))
            return
        for image, prediction in zip(batch, out['predictions']):
            found = detection_records(prediction, self.args.score_thr)
            record = dict(image=image, score_thr=self.args.score_thr, detections=found)
            if 'caption' in prediction:
                record['caption'] = prediction['caption']
            write_json_atomic(record, self.out_dir / 'preds' / f'{Path(image).stem}.json',
                              indent=1)
            self.records[image] = dict(image=image, detections=len(found),
                                       vis=str(self.out_dir / 'vis' / Path(image).name))

    def run(self, images: List[str]) -> None:
        """Checks every image, then processes the readable ones in batches."""
        from mmengine.utils import ProgressBar
        if len(images) > 1 and not self.args.no_progress:
            self.bar = ProgressBar(len(images), file=sys.stderr)
        batch: List[str] = []
        for index, image in enumerate(images):
            problem = check_image(image)
            if problem:
                self.error(image, problem)
            else:
                batch.append(image)
            if batch and (len(batch) == self.args.batch_size or index == len(images) - 1):
                self.run_batch(batch)
                if self.bar is not None:
                    for _ in batch:
                        self.bar.update()
                batch = []
            if problem and self.bar is not None:
                self.bar.update()
        if self.bar is not None:
            sys.stderr.write('\n')


class ONNXDemoInferencer:
    """What :class:`Demo` needs of an inferencer, from an :class:`ovdkit.deploy.ONNXDetector`:
    the same prediction dicts, drawings and files as :class:`~ovdkit.apis.OVDInferencer`."""

    def __init__(self, onnx_path: str) -> None:
        from mmdet.visualization import DetLocalVisualizer

        from ovdkit.deploy import ONNXDetector
        self.detector = ONNXDetector(onnx_path)
        self.visualizer = DetLocalVisualizer(name=f'onnx-demo-{id(self)}')

    def set_vocabulary(self, vocabulary):
        from ovdkit.apis import name_palette
        if isinstance(vocabulary, str) and not any(n.strip() for n in vocabulary.split(',')):
            raise ValueError('vocabulary: empty vocabulary (no class names given)')
        names = self.detector.set_vocabulary(vocabulary)
        self.visualizer.dataset_meta = dict(classes=names, palette=name_palette(names))
        return names

    def __call__(self, images, batch_size=1, out_dir='', pred_score_thr=0.3, zoom=1):
        import mmcv
        import torch
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData

        from ovdkit.apis.ov_inferencer import draw_prediction, save_drawing
        predictions = []
        for image, pred in zip(images, self.detector(list(images))):
            sample = DetDataSample()
            sample.pred_instances = InstanceData(
                bboxes=torch.from_numpy(pred['bboxes']), scores=torch.from_numpy(pred['scores']),
                labels=torch.from_numpy(pred['labels']))
            drawn = draw_prediction(self.visualizer, mmcv.imread(image, channel_order='rgb'),
                                    sample, Path(image).name, zoom, pred_score_thr)
            if out_dir:
                save_drawing(drawn, Path(out_dir) / 'vis' / Path(image).name)
            predictions.append(dict(bboxes=pred['bboxes'].tolist(),
                                    scores=pred['scores'].tolist(),
                                    labels=pred['labels'].tolist(),
                                    label_names=pred['label_names'], img_path=image))
        return dict(predictions=predictions)


def check_out_dir(out_dir: str) -> None:
    """Checks that ``out_dir`` is, or can be created as, a writable folder; creates nothing
    (a setup error later must leave no trace).

    Raises:
        OSError: naming ``--out-dir`` and why (a parent is a file, no permission).
    """
    import os
    path = Path(out_dir).absolute()
    existing = next(p for p in [path, *path.parents] if p.exists())
    if not existing.is_dir():
        why = f'{existing} is a file'
    elif not os.access(existing, os.W_OK | os.X_OK):
        why = f'no permission to write in {existing}'
    else:
        return
    raise OSError(f'--out-dir {out_dir} is not a writable folder ({why})')


def setup(args):
    """Builds the inferencer and installs the vocabulary; raises on any setup problem."""
    from ovdkit.apis import OVDInferencer
    check_out_dir(args.out_dir)  # before the model: a minute of work lost otherwise
    if args.vocab_file is not None and not Path(args.vocab_file).is_file():
        raise FileNotFoundError(f'vocabulary file {args.vocab_file} does not exist')
    if args.onnx is not None:
        inferencer = ONNXDemoInferencer(args.onnx)
    else:
        inferencer = OVDInferencer(args.config, args.checkpoint, device=args.device,
                                   cfg_options=args.cfg_options)
    if args.caption is not None:
        return inferencer, inferencer.set_caption(args.caption, args.phrases).phrases
    names = inferencer.set_vocabulary(args.vocab_file if args.vocab_file is not None
                                      else args.vocab)
    return inferencer, names


def main(argv=None) -> int:
    args = parse_args(argv)
    import ovdkit  # noqa: F401  (registers OVDKit's modules)
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
    demo = Demo(inferencer, args)
    demo.run(images)
    records = [demo.records[image] for image in images]
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
