"""The inputs of ``tools/train.py`` / ``tools/test.py``, checked before any work is done.

Without these checks a missing data folder, CLIP file, vocabulary file or checkpoint, a
truncated annotation or checkpoint file, an unreachable CLIP tag or text embeddings of another
dimension than the head's surface as a library traceback, some of them minutes into the run.
Each check here reads only what it must (a sidecar, a zip directory, the ends of a large JSON
file) and raises :class:`~ovdkit.utils.config_variables.OVDConfigError` naming the config key
or argument, the file and what to do; the tool prints it as one ``error:`` line.
"""
import argparse
import json
import os
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from ..datasets.exemplar_classes import VisualClass, resolve_vocabulary_classes
from ..datasets.negative_names import is_negative, split_negative_entries
from ..regions.exemplar_embeddings import check_visual_class
from ..text.clip_weights import CLIPWeightsError, check_clip_weights_available
from ..text.sidecar_cache import EmbeddingMismatchError, read_sidecar
from ..text.vocabulary_embeddings import check_stored_clip_weights
from ..utils.config_variables import OVDConfigError, check_cfg_options, resolve_config_variables
from ..utils.strict_checkpoint import check_checkpoint_file

#: JSON files up to this size are parsed whole; larger ones are checked at both ends only.
FULL_JSON_CHECK_BYTES = 64 << 20
_WRAPPERS = ('dataset', 'datasets')


def check_json_file(path: str, what: str) -> None:
    """Checks that ``path`` is a readable, complete JSON document.

    Raises:
        OVDConfigError: naming ``what`` and the file.
    """
    file = Path(path)
    if not file.is_file():
        raise OVDConfigError(f'{what}: {path} does not exist')
    try:
        size = file.stat().st_size
        with open(file, 'rb') as f:
            if size <= FULL_JSON_CHECK_BYTES:
                json.loads(f.read().decode('utf-8'))
                return
            head = f.read(64).lstrip()
            f.seek(-64, os.SEEK_END)
            tail = f.read().rstrip()
    except OSError as exc:
        raise OVDConfigError(f'{what}: cannot read {path} ({exc.strerror})') from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise OVDConfigError(f'{what}: {path} is not valid JSON ({exc}); truncated copy? '
                             f'copy or download it again') from exc
    if head[:1] not in (b'{', b'[') or tail[-1:] not in (b'}', b']'):
        raise OVDConfigError(f'{what}: {path} is not a complete JSON document (it does not end '
                             f'like one); truncated copy? copy or download it again')


def _datasets(node: Mapping, key: str) -> Iterator[Tuple[str, Mapping]]:
    """``(dotted key, dataset config)`` of a dataset config and the ones it wraps."""
    yield key, node
    if isinstance(node.get('dataset'), Mapping):
        yield from _datasets(node['dataset'], key + '.dataset')
    for i, sub in enumerate(node.get('datasets') or ()):
        if isinstance(sub, Mapping):
            yield from _datasets(sub, f'{key}.datasets.{i}')


def _joined(root: Optional[str], path: str) -> str:
    return path if root is None or os.path.isabs(path) else os.path.join(root, path)


def check_dataset(cfg: Mapping, key: str) -> None:
    """``data_root`` a folder, ``ann_file`` complete JSON, the image folder a folder."""
    for where, dataset in _datasets(cfg, key):
        root = dataset.get('data_root')
        if root and not Path(root).is_dir():
            raise OVDConfigError(f'{where}.data_root: folder {root} does not exist; point '
                                 f'data_root at your dataset')
        ann_file = dataset.get('ann_file')
        if isinstance(ann_file, str) and ann_file:
            path = _joined(root, ann_file)
            if path.endswith('.json'):
                check_json_file(path, f'{where}.ann_file')
            elif not Path(path).is_file():
                raise OVDConfigError(f'{where}.ann_file: {path} does not exist')
        prefix = dataset.get('data_prefix') or {}
        image_dir = prefix.get('img') if isinstance(prefix, Mapping) else None
        if isinstance(image_dir, str) and image_dir and root is not None:
            folder = _joined(root, image_dir)
            if not Path(folder).is_dir():
                raise OVDConfigError(f'{where}.data_prefix.img: image folder {folder} does '
                                     f'not exist')


def check_evaluator(cfg, key: str) -> None:
    """Every ``ann_file`` of an evaluator (or list of them) is complete JSON."""
    evaluators = cfg if isinstance(cfg, (list, tuple)) else [cfg]
    for i, evaluator in enumerate(evaluators):
        where = key if len(evaluators) == 1 else f'{key}.{i}'
        ann_file = evaluator.get('ann_file') if isinstance(evaluator, Mapping) else None
        if isinstance(ann_file, str) and ann_file:
            check_json_file(ann_file, f'{where}.ann_file')


def _heads(node, key: str = 'model') -> Iterator[Tuple[str, Mapping]]:
    """``(dotted key, head config)`` of every config dict under ``node`` with a
    ``vocabulary`` dict (OVDKit's open-vocabulary heads)."""
    if isinstance(node, Mapping):
        if isinstance(node.get('vocabulary'), Mapping):
            yield key, node
        for k, v in node.items():
            yield from _heads(v, f'{key}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _heads(v, f'{key}.{i}')


def head_vocabularies(head: Mapping) -> List[Tuple[str, Dict]]:
    """``('vocabulary' | 'test_vocabulary', config)`` as the head resolves them (the test
    vocabulary inherits the training one's keys, its ``path`` only without its own classes)."""
    train = dict(head['vocabulary'])
    test = dict(head.get('test_vocabulary') or {})
    inherited = dict(train)
    if 'classes' in test and 'path' not in test:
        inherited.pop('path', None)
    return [('vocabulary', train), ('test_vocabulary', dict(inherited, **test))]


def check_vocabulary_config(vocab: Mapping, key: str, embed_dim: Optional[int],
                            training: bool = False) -> None:
    """Class names readable (negative names only at test time, never all of them), CLIP
    weights available, stored embeddings of the head's size."""
    import open_clip

    try:
        if 'classes' in vocab:
            classes = resolve_vocabulary_classes(vocab['classes'])
            visual = [c for c in classes if isinstance(c, VisualClass)]
            if training and visual:
                raise ValueError(f'class {visual[0].label!r} is given by example boxes in a '
                                 f'training vocabulary: its names are the dataset\'s labels; '
                                 f'give example boxes in the test vocabulary')
            for item in visual:
                check_visual_class(item)
            entries = [c for c in classes if isinstance(c, str)]
            negatives = [e for e in entries if is_negative(e)]
            if training and negatives:
                raise ValueError(f'negative names {negatives[:3]} in a training vocabulary: its '
                                 f'names are the dataset\'s labels; give negative names in the '
                                 f'test vocabulary')
            split_negative_entries(entries, 'vocabulary')
    except (OSError, ValueError) as exc:
        raise OVDConfigError(f'{key}.classes: {exc}') from exc
    try:
        if 'model' in vocab:
            check_clip_weights_available(vocab['model'], vocab.get('pretrained'))
            dim = (open_clip.get_model_config(vocab['model']) or {}).get('embed_dim')
            if embed_dim is not None and dim is not None and dim != embed_dim:
                raise OVDConfigError(
                    f'{key}.model: CLIP {vocab["model"]!r} makes {dim}-d embeddings, the head '
                    f'takes embed_dim={embed_dim}: use a {embed_dim}-d CLIP or set embed_dim')
        if vocab.get('path'):
            _, meta = read_sidecar(vocab['path'], 'text embeddings')
            if embed_dim is not None and meta.get('dim') != embed_dim:
                raise OVDConfigError(
                    f'{key}.path: {vocab["path"]} holds {meta.get("dim")}-d embeddings (CLIP '
                    f'{meta.get("model")!r}), the head takes embed_dim={embed_dim}: use '
                    f'embeddings of a {embed_dim}-d CLIP')
            check_stored_clip_weights(vocab)
    except (FileNotFoundError, CLIPWeightsError, EmbeddingMismatchError) as exc:
        raise OVDConfigError(f'{key}: {exc}') from exc


def parse_tool_args(tool: str, argv: Sequence[str]) -> argparse.Namespace:
    """The arguments of mmdet's ``train.py`` / ``test.py`` these checks read."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('config', nargs='?')
    if tool == 'test.py':
        parser.add_argument('checkpoint', nargs='?')
    else:
        parser.add_argument('--resume', nargs='?', type=str, const='auto')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args, _ = parser.parse_known_args(list(argv))
    return args


def tool_config(config: str, cfg_options: Optional[Dict]) -> Config:
    """The config as the tool will run it: overrides merged and, for ``OVDRunner`` configs,
    the settings built from changed variables re-pointed (what ``OVDRunner`` does)."""
    cfg = Config.fromfile(config)
    check_cfg_options(cfg, cfg_options)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('runner_type') == 'OVDRunner':
        resolve_config_variables(cfg)
    return cfg


def check_tool_inputs(tool: str, argv: Sequence[str]) -> None:
    """Checks what ``tools/<tool>`` (``'train.py'`` or ``'test.py'``) will read.

    ``test.py``: the checkpoint (exists, complete), the test dataset and evaluator, the test
    vocabularies. ``train.py``: ``load_from`` / ``--resume PATH``, the training dataset (and
    validation ones when it validates), every vocabulary.

    Raises:
        OVDConfigError: naming the config key or argument, the file and what to do.
    """
    args = parse_tool_args(tool, argv)
    if not args.config:
        return  # mmdet's argparse reports the missing argument
    if not Path(args.config).is_file():
        raise OVDConfigError(f'config {args.config} does not exist')
    if tool == 'test.py' and args.checkpoint:
        check_checkpoint_file(args.checkpoint)
    cfg = tool_config(args.config, args.cfg_options)
    if tool == 'train.py':
        resume = args.resume if args.resume not in (None, 'auto') else None
        for what, path in (('--resume', resume), ('load_from', cfg.get('load_from'))):
            if path:
                check_checkpoint_file(str(path), what)
        loaders = ['train_dataloader'] + (['val_dataloader'] if cfg.get('val_cfg') else [])
        evaluators = ['val_evaluator'] if cfg.get('val_cfg') else []
    else:
        loaders, evaluators = ['test_dataloader'], ['test_evaluator']
    for name in loaders:
        if isinstance(cfg.get(name), Mapping) and isinstance(cfg[name].get('dataset'), Mapping):
            check_dataset(cfg[name]['dataset'], f'{name}.dataset')
    for name in evaluators:
        if cfg.get(name):
            check_evaluator(cfg[name], name)
    for key, head in _heads(cfg.get('model') or {}):
        embed_dim = head.get('embed_dim')
        # at test time the training vocabulary is read by ViLD-ensemble and, as the names
        # that compete with the test vocabulary's, by the ViLD heads' reference_vocabulary
        reads_training = head.get('ensemble') or (
            head.get('type') in ('ViLDTextBBoxHead', 'ViLDBBoxHead')
            and head.get('reference_vocabulary', 'train') == 'train')
        for which, vocab in head_vocabularies(head):
            if tool == 'test.py' and which == 'vocabulary' and not reads_training:
                continue
            check_vocabulary_config(vocab, f'{key}.{which}', embed_dim,
                                    training=which == 'vocabulary')
