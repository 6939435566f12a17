"""Vocabulary specs: builtin names, text files, or comma-separated names -> class entries.

A class entry is one name or several synonyms joined by ``|`` (``'television|tv|monitor'``), in
Python lists, text files (one entry a line) and comma-separated strings alike. The first name is
the class's name in every output; the text embedding averages over all of them.
"""
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .ov_splits import (COCO_CLASSES, LVIS_V1_CLASSES, OV_COCO_BASE_CLASSES, OV_COCO_CLASSES,
                        OV_COCO_NOVEL_CLASSES)

BUILTIN_VOCABULARIES = {
    'coco': COCO_CLASSES,
    'lvis': LVIS_V1_CLASSES,
    'ov-coco': OV_COCO_CLASSES,
    'ov-coco-base': tuple(c for c in COCO_CLASSES if c in OV_COCO_BASE_CLASSES),
    'ov-coco-novel': tuple(c for c in COCO_CLASSES if c in OV_COCO_NOVEL_CLASSES),
}
#: Separator of a class's synonyms in a vocabulary entry.
SYNONYM_SEPARATOR = '|'
#: Prefix of the LVIS vocabulary with the synonyms of a user-given LVIS annotation file.
LVIS_SYNONYMS_PREFIX = 'lvis-synonyms:'
#: What marks a vocabulary file line giving a class by example boxes (``ovdkit.datasets.
#: exemplar_classes``): ``name := IMAGE [x1,y1,x2,y2]`` or ``name += ...``.
EXEMPLAR_MARKERS = (':=', '+=')
#: Where classes given by example boxes are embedded (docs/exemplars.md).
EXEMPLAR_CONSUMERS = ('OVDInferencer, ONNXDetector, tools/demo.py and tools/test.py embed them '
                      '(docs/exemplars.md)')


def split_synonyms(entry: str, source: str = 'vocabulary') -> Tuple[str, ...]:
    """The names of one vocabulary entry, first name first.

    Args:
        entry: ``'television|tv|monitor'`` or a single name.
        source: What to name in errors (a file, a spec).

    Raises:
        ValueError: a synonym is empty (``'tv||monitor'``, ``'|tv'``); names ``source`` and
            the entry.
    """
    names = tuple(n.strip() for n in entry.split(SYNONYM_SEPARATOR))
    if any(not n for n in names):
        raise ValueError(f'{source}: empty synonym in class entry {entry.strip()!r} '
                         f'(synonyms are separated by a single {SYNONYM_SEPARATOR!r})')
    return names


def check_class_names(names: Sequence[str], source: str = 'vocabulary') -> Tuple[str, ...]:
    """The one check of a vocabulary's class entries, used by every entry point (heads, caches,
    inferencers, the demos): non-empty, no blank entry or synonym, no name used twice.

    Args:
        names: C entries, each a name or ``'name|synonym|...'``.
        source: What to name in errors (a file, a spec, ``'vocabulary'``).

    Returns:
        The C entries, stripped (around each synonym too).

    Raises:
        ValueError: naming ``source`` and the offending entries or names: no entry, or only
            blank ones, is an empty vocabulary; a name repeated within or across classes is
            named with the classes that use it.
    """
    if isinstance(names, str):
        raise TypeError(f'{source}: class names must be a sequence of names, not the string '
                        f'{names!r}')
    for index, name in enumerate(names):
        if not isinstance(name, str):
            what = getattr(name, 'name', type(name).__name__)
            raise TypeError(f'{source}: class {index} ({what!r}) is not a name; classes given '
                            f'by example boxes need CLIP\'s image tower, which this path does '
                            f'not have: {EXEMPLAR_CONSUMERS}')
    names = tuple(n.strip() for n in names)
    if not any(names):
        raise ValueError(f'{source}: empty vocabulary (no class names given)')
    if any(not n for n in names):
        raise ValueError(f'{source}: blank class name at index {names.index("")}')
    groups = [split_synonyms(n, source) for n in names]
    entries = tuple(SYNONYM_SEPARATOR.join(g) for g in groups)
    dups = sorted(n for n, k in Counter(entries).items() if k > 1)
    if dups:
        raise ValueError(f'{source}: duplicate class names {dups}')
    users: Dict[str, List[int]] = {}
    for c, group in enumerate(groups):
        for name in group:
            users.setdefault(name, []).append(c)
    repeated = {n: cs for n, cs in users.items() if len(cs) > 1}
    if repeated:
        name, classes = next(iter(repeated.items()))
        raise ValueError(f'{source}: name {name!r} is used more than once, by classes '
                         f'{[entries[c] for c in classes]} (indices {classes}); a name may '
                         f'belong to one class only')
    return entries


def lvis_synonym_entries(path: Union[str, Path]) -> Tuple[str, ...]:
    """LVIS vocabulary entries with the synonyms of an LVIS annotation file.

    Categories are taken in id order; each entry is the category's name followed by its
    ``synonyms`` (the name itself and repeats left out). With the 1203 LVIS v1 categories the
    first name is mmdet's spelling (:data:`LVIS_V1_CLASSES`, which fixes one typo of the
    official files), so outputs keep mmdet's LVIS class names. A synonym that several
    categories list is ambiguous and kept by none of them (LVIS itself does not repeat one).

    Args:
        path: An LVIS annotation file (``lvis_v1_val.json`` / ``lvis_v1_train.json``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not JSON with ``categories`` carrying ``name`` and
            ``synonyms``; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{LVIS_SYNONYMS_PREFIX} LVIS annotation file {path} does not '
                                f'exist')
    try:
        categories = sorted(json.loads(path.read_text(encoding='utf-8'))['categories'],
                            key=lambda c: c['id'])
        groups = [[c['name'], *c['synonyms']] for c in categories]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f'{LVIS_SYNONYMS_PREFIX} {path} is not an LVIS annotation file with '
                         f'categories (name, synonyms): {type(err).__name__}: {err}') from None
    if len(groups) == len(LVIS_V1_CLASSES):
        groups = [[mmdet_name, *g] for mmdet_name, g in zip(LVIS_V1_CLASSES, groups)]
    counts = Counter(n for g in groups for n in dict.fromkeys(g[1:]) if n != g[0])
    firsts = {g[0] for g in groups}
    entries = []
    for group in groups:
        names = [group[0]] + [n for n in dict.fromkeys(group[1:])
                              if n != group[0] and counts[n] == 1 and n not in firsts]
        entries.append(SYNONYM_SEPARATOR.join(n.replace(SYNONYM_SEPARATOR, ' ') for n in names))
    return check_class_names(entries, str(path))


def resolve_vocabulary_entries(spec: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """Turns a vocabulary spec into ordered class entries (``'name|synonym|...'`` strings).

    Args:
        spec: A builtin name (``'coco'``, ``'lvis'``, ``'ov-coco'``, ``'ov-coco-base'``,
            ``'ov-coco-novel'``), ``'lvis-synonyms:/path/lvis_v1_val.json'`` (LVIS with the
            synonyms of that file), the path of a text file (one entry per line, ``#``
            comments), a comma-separated string (``'television|tv,zebra'``), or a sequence of
            entries.

    Raises:
        FileNotFoundError: ``spec`` looks like a file (ends in ``.txt``) that does not exist.
        ValueError: the vocabulary is empty, has an empty synonym or a repeated name.
    """
    if not isinstance(spec, str):
        return check_class_names(list(spec))
    if spec in BUILTIN_VOCABULARIES:
        return BUILTIN_VOCABULARIES[spec]
    if spec.startswith(LVIS_SYNONYMS_PREFIX):
        return lvis_synonym_entries(spec[len(LVIS_SYNONYMS_PREFIX):])
    path = Path(spec)
    if path.is_file():
        lines = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
        lines = [n for n in lines if n and not n.startswith('#')]
        visual = [n for n in lines if any(m in n for m in EXEMPLAR_MARKERS)]
        if visual:
            raise ValueError(f'{path}: line {visual[0]!r} gives a class by example boxes, which '
                             f'need CLIP\'s image tower; this path takes names only: '
                             f'{EXEMPLAR_CONSUMERS}')
        return check_class_names(lines, str(path))
    if path.suffix == '.txt':
        raise FileNotFoundError(f'vocabulary file {spec} does not exist')
    source = f'vocabulary {spec!r}' if spec.strip() else 'vocabulary'
    if any(m in spec for m in EXEMPLAR_MARKERS):
        raise ValueError(f'{source}: example boxes cannot be given in a comma-separated '
                         f'vocabulary (boxes hold commas): write the class in a vocabulary file '
                         f'line, or use tools/demo.py --exemplar, or a VisualClass')
    return check_class_names(spec.split(','), source)


def first_names(entries: Sequence[str]) -> Tuple[str, ...]:
    """The class names of entries: the first name of each (``'tv|monitor'`` -> ``'tv'``)."""
    return tuple(e.split(SYNONYM_SEPARATOR, 1)[0] for e in entries)


def resolve_vocabulary(spec: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """Turns a vocabulary spec into ordered class names (each entry's first name).

    Takes everything :func:`resolve_vocabulary_entries` takes.
    """
    return first_names(resolve_vocabulary_entries(spec))


def resolve_vocabulary_synonyms(spec: Union[str, Sequence[str]]) -> Tuple[Tuple[str, ...], ...]:
    """The names of every class of a spec, ``((first, synonym, ...), ...)`` in class order."""
    return tuple(split_synonyms(e) for e in resolve_vocabulary_entries(spec))


def per_image_vocabularies(vocabulary, num_images: Optional[int] = None
                           ) -> Optional[List[Sequence[str]]]:
    """The vocabularies of a per-image vocabulary argument, or None for one shared vocabulary.

    A list (or tuple) whose items are all lists or tuples is one vocabulary per image (each
    item anything :func:`resolve_vocabulary_entries` takes as a list: names, synonyms
    ``'tv|monitor'``, negative names ``'-zebra'``); a string or a list of strings is one
    vocabulary for every image.

    Args:
        vocabulary: The argument as given.
        num_images: The number of images, to check the list's length against.

    Returns:
        The per-image vocabularies, or None.

    Raises:
        ValueError: a list that mixes names and lists, or whose length is not the number of
            images (the message names both counts).
    """
    if isinstance(vocabulary, str) or not isinstance(vocabulary, (list, tuple)) or \
            not vocabulary:
        return None
    nested = [isinstance(item, (list, tuple)) for item in vocabulary]
    if not any(nested):
        return None
    if not all(nested):
        first = nested.index(False)
        raise ValueError(
            f'vocabulary: item {first} ({vocabulary[first]!r}) is a name but other items are '
            f'lists; give a list of names (one vocabulary for every image) or a list of lists '
            f'(one vocabulary per image)')
    if num_images is not None and len(vocabulary) != num_images:
        raise ValueError(f'vocabulary: {len(vocabulary)} per-image vocabularies for '
                         f'{num_images} images; give exactly one vocabulary per image')
    return list(vocabulary)
