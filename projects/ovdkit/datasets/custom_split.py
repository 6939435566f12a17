"""Your own COCO-format dataset with your own base / novel split.

:func:`coco_to_ov_split` writes what the ``configs/custom`` configs read: a base-only training
file (images without a base box dropped, as mmdet's ``coco2ovd.py`` does for OV-COCO), an
all-class validation file and the class lists (``base_classes.txt``, ``novel_classes.txt``,
``all_classes.txt``, in category-id order). Every input is read and checked before anything is
written, with the OV-COCO converter's helpers; an error names the file.
"""
import copy
from pathlib import Path
from typing import Dict, List, Sequence, Union

from ..utils.atomic_io import write_json_atomic, write_text_atomic
from .converters import ConverterInputError, _check_output, _load

#: Files written into the output folder.
OUTPUT_NAMES = dict(train='train_base.json', val='val_all.json', base='base_classes.txt',
                    novel='novel_classes.txt', all='all_classes.txt')


def _category_names(data: Dict, path: Path) -> List[str]:
    """Category names in id order; checks they are usable as class names."""
    cats = sorted(data['categories'], key=lambda c: c.get('id', 0))
    names = [c.get('name') for c in cats]
    bad = [n for n in names if not isinstance(n, str) or not n.strip() or '|' in n]
    if not names or bad:
        raise ConverterInputError(f'{path}: {"no categories" if not names else "category names "}'
                                  f'{bad[:3] if bad else ""} (names must be non-empty and '
                                  f'without "|")')
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ConverterInputError(f'{path}: category names used by several ids: {dups}')
    return names


def _filter(data: Dict, keep_names: Sequence[str], novel: Sequence[str],
            drop_empty_images: bool) -> Dict:
    keep_ids = {c['id'] for c in data['categories'] if c['name'] in keep_names}
    out = {k: v for k, v in data.items() if k not in ('images', 'annotations', 'categories')}
    out['categories'] = [dict(copy.deepcopy(c), split='unseen' if c['name'] in novel else
                              'seen') for c in data['categories'] if c['id'] in keep_ids]
    out['annotations'] = [a for a in data['annotations'] if a.get('category_id') in keep_ids]
    with_box = {a['image_id'] for a in out['annotations']}
    out['images'] = [im for im in data['images']
                     if not drop_empty_images or im.get('id') in with_box]
    return out


def coco_to_ov_split(train_json: Union[str, Path], novel: Sequence[str],
                     out_dir: Union[str, Path],
                     val_json: Union[str, Path, None] = None) -> Dict[str, Dict]:
    """A COCO-format dataset -> base-only train file, all-class val file and class lists.

    Args:
        train_json: COCO-format annotations to train on (only base boxes are kept).
        novel: Names of the novel categories (no box of theirs is trained on).
        out_dir: Output folder (created).
        val_json: COCO-format annotations to evaluate on; ``None``: ``train_json`` again.

    Returns:
        ``train`` / ``val``: ``images``, ``annotations``, ``categories``, ``path``; and
        ``classes``: the ``base`` / ``novel`` / ``all`` names and their files.

    Raises:
        ConverterInputError: an input is unreadable, not COCO-format, has a duplicate or
            unusable category name, lacks a novel name, or the split leaves no base class,
            or the two files list different categories; nothing is written then.
    """
    train_path = Path(train_json)
    val_path = Path(val_json) if val_json is not None else train_path
    out = Path(out_dir)
    novel = [n.strip() for n in novel if n.strip()]
    for src in {train_path, val_path}:
        for name in OUTPUT_NAMES.values():
            _check_output(src, out / name)
    train = _load(train_path)
    val = _load(val_path) if val_path != train_path else train
    names = _category_names(train, train_path)
    if val is not train:
        val_names = _category_names(val, val_path)
        if sorted(val_names) != sorted(names):
            raise ConverterInputError(
                f'{val_path}: its categories differ from those of {train_path} (only in '
                f'one: {sorted(set(names) ^ set(val_names))[:5]})')
    if not novel:
        raise ConverterInputError('no novel category given (--novel "a,b" or --novel-file)')
    unknown = [n for n in novel if n not in names]
    if unknown:
        raise ConverterInputError(f'{train_path}: no category named {unknown} (its categories: '
                                  f'{names[:10]}{"..." if len(names) > 10 else ""})')
    dups = sorted({n for n in novel if novel.count(n) > 1})
    if dups:
        raise ConverterInputError(f'novel category named twice: {dups}')
    base = [n for n in names if n not in novel]
    if not base:
        raise ConverterInputError(f'{train_path}: every category is novel; nothing to train on')
    novel_sorted = [n for n in names if n in novel]
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, data, keep, drop in (('train', train, base, True), ('val', val, names, False)):
        result = _filter(data, keep, novel_sorted, drop)
        path = out / OUTPUT_NAMES[split]
        write_json_atomic(result, path)
        counts[split] = dict(images=len(result['images']),
                             annotations=len(result['annotations']),
                             categories=len(result['categories']), path=str(path))
    classes = {}
    for split, split_names in (('base', base), ('novel', novel_sorted), ('all', names)):
        path = out / OUTPUT_NAMES[split]
        write_text_atomic(''.join(f'{n}\n' for n in split_names), path)
        classes[split] = dict(names=split_names, path=str(path))
    counts['classes'] = classes
    return counts
