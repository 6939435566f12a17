#!/usr/bin/env python
"""Serves a web page to detect the names you type in an image you pick (open-vocabulary demo).

    python tools/webdemo.py [--config C --checkpoint K] [--device cpu] [--host 127.0.0.1]
        [--port 7860] [--vocab "zebra,traffic cone"] [--examples DIR] [--max-names 1203] ...

Without --config / --checkpoint it serves the toy world's ViLD-ensemble model that
``make demo`` trained (in --toyworld-dir), with the world's validation images as examples.

The page: upload or pick an image, type comma-separated names, set the score threshold, press
Detect: the image with boxes, names and scores, a table of the detections and their JSON to
download. One model is loaded; each vocabulary is swapped in through the embedding cache.
Detections run one at a time on one worker thread; at most --max-pending requests are
admitted at once, more are answered "busy". Bad input (not an image, an empty or duplicate
vocabulary, too many names, a too large image) is a message on the page. The embedding cache
keeps the files of at most --max-cached-vocabularies typed vocabularies (the least recently
used one's are deleted), so visitors cannot fill the disk. The page names the model by its
config (no server paths). Ctrl-C stops it.
"""
import argparse
import re
import signal
import sys
from pathlib import Path
from typing import Dict, List, Optional

from mmengine.config import DictAction

#: The toy-world method served with no --config / --checkpoint.
TOYWORLD_METHOD = 'vild-ensemble'
#: The toy-world configs, next to this tool in the repository (as tools/toyworld.py finds them).
CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'toyworld'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', help='model config (with --checkpoint); default: the toy '
                                    "world's ViLD-ensemble model of `make demo`")
    p.add_argument('--checkpoint', help='trained checkpoint (with --config)')
    p.add_argument('--device', default='cpu', help="the model's device (default cpu)")
    p.add_argument('--host', default='127.0.0.1',
                   help='address to bind: 127.0.0.1 serves this machine only; --host 0.0.0.0 '
                        'is an explicit choice that exposes the server (and the model) to '
                        'every network this machine is on, with no authentication '
                        '(default 127.0.0.1)')
    p.add_argument('--port', type=int, default=7860, help='port to bind (default 7860; 0: a '
                                                                 'free one)')
    p.add_argument('--vocab', help='initial names in the vocabulary box (default: the toy '
                                   "world's 48 names, or coco with --config)")
    p.add_argument('--examples', help='folder of example images listed on the page (default: '
                                      "the toy world's validation images)")
    p.add_argument('--num-examples', type=int, default=12, help='most examples listed (default 12)')
    p.add_argument('--toyworld-dir', default='work_dirs/toyworld',
                   help='work dir of `make demo` (tools/toyworld.py), used without --config '
                        '(default work_dirs/toyworld)')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='initial score threshold (default 0.3)')
    p.add_argument('--max-names', type=int, default=1203,
                   help='most names in a vocabulary (default 1203: LVIS fits)')
    p.add_argument('--max-image-side', type=int, default=2048,
                   help='larger images are downscaled to this longer side first (default '
                        '2048)')
    p.add_argument('--max-image-pixels', type=int, default=40_000_000,
                   help='images with more pixels are refused, before decoding (default '
                        '40000000)')
    p.add_argument('--max-upload-mb', type=float, default=20.0,
                   help='largest image file (default 20)')
    p.add_argument('--max-pending', type=int, default=32,
                   help='requests admitted at once (running or queued); more are refused as '
                        'busy (default 32)')
    p.add_argument('--request-timeout', type=float, default=300.0,
                   help='seconds a request waits for its turn and result (default 300)')
    p.add_argument('--max-cached-vocabularies', type=int, default=32,
                   help='typed vocabularies whose text embeddings stay in the embedding cache '
                        'on disk; beyond it the least recently used one\'s files are deleted '
                        '(default 32: about 80 MB for 32 LVIS-size vocabularies of 512-d '
                        'embeddings)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides, as in tools/test.py')
    p.add_argument('--quiet', action='store_true', help='no line per request on stderr')
    args = p.parse_args(argv)
    if (args.config is None) != (args.checkpoint is None):
        p.error('give both --config and --checkpoint, or neither (the toy world of '
                '`make demo`)')
    for name in ('max_names', 'max_image_side', 'max_image_pixels', 'max_pending',
                 'max_cached_vocabularies'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be at least 1')
    if not 0.0 <= args.score_thr <= 1.0:
        p.error('--score-thr must be in [0, 1]')
    return args


def latest_checkpoint(run_dir: Path) -> Optional[Path]:
    """The checkpoint a training run in ``run_dir`` ended with: the one mmengine's
    ``last_checkpoint`` file names (looked up in ``run_dir`` too, for a moved folder), else
    the ``iter_*.pth`` / ``epoch_*.pth`` of the highest count; ``None`` when there is none."""
    record = run_dir / 'last_checkpoint'
    if record.is_file():
        named = Path(record.read_text().strip())
        for candidate in (named, run_dir / named.name):
            if candidate.is_file():
                return candidate
    numbered = [(int(m.group(1)), p) for p in run_dir.glob('*_*.pth')
                if (m := re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', p.name))]
    return max(numbered)[1] if numbered else None


def list_examples(folder: Path, num: int) -> Dict[str, Path]:
    """The first ``num`` image files of ``folder`` by name (mmdet's ``IMG_EXTENSIONS``, as
    tools/demo.py lists a folder), ``{name: path}``."""
    from ovdkit.apis import list_images
    files = [Path(p) for p in list_images([str(folder)])]
    return {p.name: p for p in files[:num]}


def toyworld_model(toyworld_dir: str) -> Dict:
    """Config, checkpoint, overrides, names and examples of the toy world's served model.

    Raises:
        FileNotFoundError: no trained model in ``toyworld_dir``, saying to run ``make demo``.
    """
    work = Path(toyworld_dir)
    checkpoint = latest_checkpoint(work / TOYWORLD_METHOD) if work.is_dir() else None
    if checkpoint is None:
        raise FileNotFoundError(
            f'no trained toy-world {TOYWORLD_METHOD} model in {work / TOYWORLD_METHOD} '
            f'(--toyworld-dir {toyworld_dir}): run `make demo` first, or give --config and '
            f'--checkpoint')
    from ovdkit.toyworld.detector_runs import method_config, toyworld_cfg_options
    world_dir = work / 'world'
    names_file = world_dir / 'annotations' / 'all_classes.txt'
    val_images = world_dir / 'images' / 'val'
    return dict(config=method_config(str(CONFIG_DIR), TOYWORLD_METHOD),
                checkpoint=str(checkpoint),
                cfg_options=toyworld_cfg_options(
                    str(world_dir), str(work / 'clip' / 'toyclip.pt'), str(work / 'embeddings'),
                    str(work / TOYWORLD_METHOD)),
                vocab=', '.join(n.strip() for n in names_file.read_text().splitlines()
                                if n.strip()) if names_file.is_file() else None,
                examples=val_images if val_images.is_dir() else None,
                model=f'toy world {TOYWORLD_METHOD}')


def served_model(args) -> Dict:
    """What to serve: ``--config`` / ``--checkpoint``, or the toy world's model; ``model`` is
    the name visitors see (the config's stem: no server path).

    Raises:
        FileNotFoundError: no ``--config`` and no trained toy world.
    """
    if args.config is None:
        return toyworld_model(args.toyworld_dir)
    return dict(config=args.config, checkpoint=args.checkpoint, cfg_options=None,
                vocab='coco', examples=None, model=Path(args.config).stem)


def build_server(args, served: Dict):
    """The inferencer, its session and the server, from the parsed arguments."""
    import ovdkit  # noqa: F401  (registers OVDKit's modules)
    from ovdkit.apis import OVDInferencer
    from ovdkit.apis.webdemo import DemoLimits, DemoSession, WebDemoServer
    from ovdkit.apis.webdemo.session import parse_vocabulary
    if args.cfg_options:
        served['cfg_options'] = dict(served['cfg_options'] or {}, **args.cfg_options)
    examples: Dict[str, Path] = {}
    folder = Path(args.examples) if args.examples else served['examples']
    if folder is not None:
        if not folder.is_dir():
            raise FileNotFoundError(f'--examples {folder} is not a folder')
        examples = list_examples(folder, args.num_examples)
    inferencer = OVDInferencer(served['config'], served['checkpoint'], device=args.device,
                               cfg_options=served['cfg_options'])
    limits = DemoLimits(max_names=args.max_names, max_image_side=args.max_image_side,
                        max_image_pixels=args.max_image_pixels,
                        max_upload_bytes=int(args.max_upload_mb * 2 ** 20))
    session = DemoSession(inferencer, limits, max_vocabularies=args.max_cached_vocabularies)
    vocab = args.vocab if args.vocab is not None else served['vocab'] or 'coco'
    try:  # embedded now (the first request is a cache hit), never evicted; errors name --vocab
        session.use_vocabulary(parse_vocabulary(vocab, limits.max_names), evictable=False)
    except ValueError as exc:
        raise ValueError(f'--vocab: {exc}') from None
    info = dict(model=served['model'], vocabulary=vocab, score_thr=args.score_thr)
    return WebDemoServer(session, args.host, args.port, info=info, examples=examples,
                         max_pending=args.max_pending, request_timeout=args.request_timeout,
                         log=not args.quiet)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:  # before the imports: without a trained toy world, say so at once
        served = served_model(args)
    except FileNotFoundError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    try:
        server = build_server(args, served)
    except Exception as exc:  # noqa: BLE001  (one line naming the culprit)
        from ovdkit.apis.detection_records import one_line
        print(f'error: {one_line(exc)}', file=sys.stderr)
        return 2
    # Ctrl-C (even in a shell that started it in the background, which ignores SIGINT) and
    # SIGTERM end it the same way: the socket closed, the worker stopped.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    where = ('this machine only' if server.server_address[0] in ('127.0.0.1', 'localhost')
             else 'every network of this machine')
    print(f'serving {server.info["model"]} ({served["checkpoint"]}) on {server.url} ({where}); '
          f'Ctrl-C stops', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f'stopped after {server.worker.jobs_done} detections', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
