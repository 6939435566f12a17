"""Annotation converters for the open-vocabulary splits (used by tools/dataset_converters/).

OV-COCO reuses mmdet's own ``coco2ovd.filter_annotation`` (shipped in mmdet's ``.mim/tools``):
the split it applies is OVDKit's (:mod:`ovdkit.datasets.ov_splits`), the filtering is mmdet's.
Like mmdet's tool (and OVR-CNN's files), images left without any kept box are dropped and the
category list keeps only the kept split(s), each category gaining a ``split`` field.

OV-LVIS does not reuse mmdet's ``lvis2ovd.py``: that one filters ODVG json-lines files, not LVIS
jsons. Here the rare annotations are removed from an LVIS v1 json, all 1203 categories stay in
the category list, and images left without annotations are kept (as Detic's
``remove_lvis_rare.py`` does; LVIS's federated negatives still describe them).

Both converters read and check every input before they write anything: a file that is not
JSON, lacks the COCO keys, or is the other dataset's (an LVIS file given to the OV-COCO
converter lacks COCO's category names and carries LVIS ``frequency`` fields; a COCO file given
to the OV-LVIS one lacks them) is a :class:`ConverterInputError` naming the file, and so is an
output place that cannot be written (a file where a folder should be, no permission); no
output is touched then.
"""
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Dict, Sequence, Union

from mmengine.utils import ProgressBar

from ..utils.atomic_io import write_json_atomic, write_text_atomic
from ..utils.mmdet_tools import mmdet_tool_path
from .ov_splits import (OV_COCO_BASE_CLASSES, OV_COCO_NOVEL_CLASSES, lvis_split,
                        ov_coco_split_of_category_ids)


def _mmdet_coco2ovd():
    path = mmdet_tool_path('dataset_converters/coco2ovd.py')
    spec = importlib.util.spec_from_file_location('mmdet_coco2ovd', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ConverterInputError(ValueError):
    """An input annotation file the converter cannot use; the message names it."""


def _load(path: Union[str, Path],
          keys: Sequence[str] = ('images', 'annotations', 'categories')) -> Dict:
    """Reads a COCO-format json; checks it is one (a dict with the lists ``keys``: COCO's
    three by default; a captions file has no ``categories``).

    Raises:
        ConverterInputError: naming the file and what is wrong.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except OSError as exc:
        raise ConverterInputError(f'{path}: cannot read it ({exc.strerror})') from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConverterInputError(f'{path}: not valid JSON ({exc}); truncated download?') \
            from exc
    missing = [k for k in keys
               if not isinstance(data, dict) or not isinstance(data.get(k), list)]
    if missing:
        raise ConverterInputError(f'{path}: not a COCO-format annotation file (no '
                                  f'{", ".join(repr(k) for k in missing)} list)')
    return data


def _check_ov_coco_categories(data: Dict, path: Path) -> None:
    cats = data['categories']
    if not ov_coco_split_of_category_ids(cats):
        names = [c.get('name') for c in cats[:3]]
        raise ConverterInputError(
            f'{path}: none of its {len(cats)} categories (e.g. {names}) is one '
            f'of the 65 OV-COCO names: not a COCO instances file')
    lvis = [c.get('name') for c in cats if 'frequency' in c]
    if lvis:
        raise ConverterInputError(
            f'{path}: {len(lvis)} of its {len(cats)} categories have an LVIS "frequency" field '
            f'(e.g. {lvis[:3]}): an LVIS file, not COCO instances; use lvis2ovlvis.py')
    names = {c.get('name') for c in cats}
    missing = [n for n in (*OV_COCO_BASE_CLASSES, *OV_COCO_NOVEL_CLASSES) if n not in names]
    if missing:
        raise ConverterInputError(
            f'{path}: {len(missing)} of the 65 OV-COCO names are not among its {len(cats)} '
            f'categories (e.g. {missing[:3]}): not a COCO 2017 instances file (for your own '
            f'categories use coco2ov.py)')


def check_output_folder(folder: Union[str, Path], what: str) -> None:
    """Checks that ``folder`` is, or can be created as, a writable folder; creates nothing.

    Raises:
        ConverterInputError: naming ``what`` (the argument), the folder and why.
    """
    path = Path(folder).absolute()
    existing = next(p for p in [path, *path.parents] if p.exists())
    if not existing.is_dir():
        why = f'{existing} is a file'
    elif not os.access(existing, os.W_OK | os.X_OK):
        why = f'no permission to write in {existing}'
    else:
        return
    raise ConverterInputError(f'{what} {folder} cannot be written ({why}): give a folder '
                              f'that exists or can be created')


def _check_lvis_categories(data: Dict, path: Path) -> None:
    missing = [c.get('name') for c in data['categories'] if 'frequency' not in c]
    if missing or not data['categories']:
        raise ConverterInputError(
            f'{path}: {len(missing)} of its {len(data["categories"])} categories have no '
            f'LVIS "frequency" field (e.g. {missing[:3]}): not an LVIS v1 annotation file')


def _check_output(src: Path, dst: Path) -> None:
    if src.resolve() == dst.resolve():
        raise ConverterInputError(f'output {dst} is the input file: the input is never '
                                  f'overwritten')


def coco_to_ov_coco(train_json: Union[str, Path], val_json: Union[str, Path],
                    out_dir: Union[str, Path], progress: bool = True) -> Dict[str, Dict]:
    """COCO instances -> OV-COCO train (48 base only) and val (all 65 categories).

    Writes ``instances_train2017_seen_2.json`` and ``instances_val2017_all_2.json`` (the names
    mmdet's OV-COCO configs use) into ``out_dir``.

    Returns:
        Counts per split: ``images``, ``annotations``, ``categories`` and the output ``path``.

    Raises:
        ConverterInputError: ``out_dir`` cannot be written, or an input is unreadable, not
            JSON, not COCO-format, an LVIS file or lacks OV-COCO categories; nothing is
            written then.
    """
    coco2ovd = _mmdet_coco2ovd()
    jobs = [(Path(train_json), ['seen'], 'instances_train2017_seen_2.json'),
            (Path(val_json), ['seen', 'unseen'], 'instances_val2017_all_2.json')]
    check_output_folder(out_dir, '--out-dir')
    inputs = []
    for src, _, name in jobs:  # every input is read and checked before anything is written
        _check_output(src, Path(out_dir) / name)
        data = _load(src)
        _check_ov_coco_categories(data, src)
        inputs.append(data)
    bar = ProgressBar(2 * len(jobs), file=sys.stderr) if progress else None
    counts = {}
    for (src, splits, name), data in zip(jobs, inputs):
        dst = Path(out_dir) / name
        coco2ovd.filter_annotation(data, splits, ov_coco_split_of_category_ids(
            data['categories']))
        if bar:
            bar.update()
        write_json_atomic(data, dst)
        if bar:
            bar.update()
        counts['train' if splits == ['seen'] else 'val'] = dict(
            images=len(data['images']), annotations=len(data['annotations']),
            categories=len(data['categories']), path=str(dst))
    return counts


def lvis_to_ov_lvis(train_json: Union[str, Path], out_json: Union[str, Path],
                    progress: bool = True) -> Dict:
    """LVIS v1 train -> the same without annotations of rare (novel) categories.

    Also writes the vocabulary files ``lvis_v1_base_classes.txt`` (866 names, id order: the
    labels of ``OVLVISV1Dataset(classes_split='base')``) and ``lvis_v1_rare_classes.txt``
    beside the output.

    Returns:
        Counts: ``images``, ``annotations``, ``removed_annotations``, ``categories``, ``path``.

    Raises:
        ConverterInputError: the output cannot be written, or the input is unreadable, not
            JSON, not COCO-format, or a category has no LVIS ``frequency`` (a COCO file);
            nothing is written then.
    """
    src, dst = Path(train_json), Path(out_json)
    check_output_folder(dst.parent, f'--out {out_json}: folder')
    if dst.is_dir():
        raise ConverterInputError(f'--out {out_json} is a folder: give the path of the json '
                                  f'file to write')
    _check_output(src, dst)
    data = _load(src)
    _check_lvis_categories(data, src)
    novel = set(lvis_split(data)['novel_category_ids'])
    out = {k: v for k, v in data.items() if k != 'annotations'}
    kept = []
    bar = ProgressBar(len(data["annotations"]), file=sys.stderr) if progress else None
    for ann in data['annotations']:
        if ann['category_id'] not in novel:
            kept.append(ann)
        if bar:
            bar.update()
    out['annotations'] = kept
    write_json_atomic(out, dst)
    split = lvis_split(data)
    vocab_files = {}
    for name, names in (('base', split['base_classes']), ('rare', split['novel_classes'])):
        path = dst.parent / f'lvis_v1_{name}_classes.txt'
        write_text_atomic(''.join(f'{n}\n' for n in names), path)
        vocab_files[name] = str(path)
    return dict(images=len(out['images']), annotations=len(kept),
                removed_annotations=len(data['annotations']) - len(kept),
                categories=len(out['categories']), path=str(dst), vocabularies=vocab_files)
