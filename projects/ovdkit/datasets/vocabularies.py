"""Vocabulary specs: builtin names, text files, or comma-separated names -> class names."""
from collections import Counter
from pathlib import Path
from typing import Sequence, Tuple, Union

from .ov_splits import (COCO_CLASSES, LVIS_V1_CLASSES, OV_COCO_BASE_CLASSES, OV_COCO_CLASSES,
                        OV_COCO_NOVEL_CLASSES)

BUILTIN_VOCABULARIES = {
    'coco': COCO_CLASSES,
    'lvis': LVIS_V1_CLASSES,
    'ov-coco': OV_COCO_CLASSES,
    'ov-coco-base': tuple(c for c in COCO_CLASSES if c in OV_COCO_BASE_CLASSES),
    'ov-coco-novel': tuple(c for c in COCO_CLASSES if c in OV_COCO_NOVEL_CLASSES),
}


def check_vocabulary(names: Sequence[str], source: str = 'vocabulary') -> Tuple[str, ...]:
    """Validates class names: non-empty, no blank name, no duplicate.

    Raises:
        ValueError: naming ``source`` and the offending names.
    """
    names = tuple(n.strip() for n in names)
    if not names:
        raise ValueError(f'{source}: empty vocabulary')
    if any(not n for n in names):
        raise ValueError(f'{source}: blank class name at index {names.index("")}')
    dups = sorted(n for n, k in Counter(names).items() if k > 1)
    if dups:
        raise ValueError(f'{source}: duplicate class names {dups}')
    return names


def resolve_vocabulary(spec: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """Turns a vocabulary spec into an ordered tuple of class names.

    Args:
        spec: A builtin name (``'coco'``, ``'lvis'``, ``'ov-coco'``, ``'ov-coco-base'``,
            ``'ov-coco-novel'``), the path of a text file (one name per line, ``#`` comments),
            a comma-separated string (``'zebra,traffic cone'``), or a sequence of names.

    Raises:
        FileNotFoundError: ``spec`` looks like a file (ends in ``.txt``) that does not exist.
        ValueError: the vocabulary is empty or has duplicates.
    """
    if not isinstance(spec, str):
        return check_vocabulary(list(spec))
    if spec in BUILTIN_VOCABULARIES:
        return BUILTIN_VOCABULARIES[spec]
    path = Path(spec)
    if path.is_file():
        lines = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
        return check_vocabulary([n for n in lines if n and not n.startswith('#')], str(path))
    if path.suffix == '.txt':
        raise FileNotFoundError(f'vocabulary file {spec} does not exist')
    return check_vocabulary([n for n in spec.split(',')], f'vocabulary {spec!r}')
