"""Classes given by example boxes ("more like this"), alone or with their names.

A vocabulary is a list of classes; a class is a name (``'red star'``, ``'tv|television'``) or a
:class:`VisualClass`: a name that labels its detections plus one or more :class:`Exemplar`
(an image and boxes drawn on it). Its embedding is made from CLIP image embeddings of the
example crops (:mod:`ovdkit.regions.exemplar_embeddings`); with ``use_name=True`` the text
embedding of its name is fused in.

In a vocabulary file, one class a line::

    red star                                   # by its name
    hexagon := shots/a.png [10,12,40,44] [60,8,90,40]; shots/b.png [5,5,30,30]
    circle|disk += shots/c.png [1,2,30,40]     # by its name(s) and example boxes

``:=`` gives a class by example boxes only, ``+=`` by its names and example boxes; images are
separated by ``;``, each followed by its boxes ``[x1,y1,x2,y2]`` in the image's pixels; a
relative path is relative to the vocabulary file's folder.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np

from .vocabularies import (EXEMPLAR_MARKERS, SYNONYM_SEPARATOR, check_class_names,
                           resolve_vocabulary_entries, split_synonyms)

ImageType = Union[str, Path, np.ndarray]
Box = Tuple[float, float, float, float]
#: The separator of a file line that gives a class by example boxes only.
EXEMPLARS_ONLY = ':='
#: The separator of a file line that gives a class by its names and example boxes.
NAMES_AND_EXEMPLARS = '+='


class ExemplarError(ValueError):
    """An example box that cannot be used; the message names its class and the example."""


def _as_boxes(boxes) -> Tuple[Box, ...]:
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4 or not len(array):
        raise ValueError(f'boxes must be one [x1, y1, x2, y2] or a list of them, got shape '
                         f'{tuple(np.shape(boxes))}')
    if not np.isfinite(array).all():
        raise ValueError(f'boxes must be finite numbers, got {array.tolist()}')
    return tuple(tuple(float(v) for v in box) for box in array)


@dataclass(frozen=True, eq=False)
class Exemplar:
    """An image and one or more boxes drawn on it, each an example of a class.

    Args:
        image: Image file path, or an ``(H, W, 3)`` uint8 BGR array (as the inferencers take
            in-memory images).
        boxes: ``[x1, y1, x2, y2]`` or ``(K, 4)`` boxes in the image's pixels.
    """

    image: ImageType
    boxes: Tuple[Box, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.image, (str, Path, np.ndarray)):
            raise TypeError(f'Exemplar image must be a path or an (H, W, 3) array, not '
                            f'{type(self.image).__name__}')
        object.__setattr__(self, 'boxes', _as_boxes(self.boxes))

    def image_label(self) -> str:
        """The image as messages name it (its path, or the array's shape)."""
        if isinstance(self.image, np.ndarray):
            return f'<array {"x".join(str(s) for s in self.image.shape)}>'
        return str(self.image)


@dataclass(frozen=True, eq=False)
class VisualClass:
    """A vocabulary class given by example boxes, alone or with its names.

    Args:
        name: The class's name in every output; with ``use_name`` also its text (synonyms
            allowed: ``'circle|disk'``, named by the first).
        exemplars: One or more :class:`Exemplar` (or one).
        use_name: Fuse the text embedding of the name(s) with the example embedding;
            ``False``: the examples alone, the name only labels the detections.

    Raises:
        ValueError: blank or negative name, synonyms without ``use_name``, or no example.
    """

    name: str
    exemplars: Tuple[Exemplar, ...]
    use_name: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f'VisualClass needs a name to label its detections, got '
                             f'{self.name!r}')
        names = split_synonyms(self.name.strip(), f'VisualClass {self.name!r}')
        object.__setattr__(self, 'name', SYNONYM_SEPARATOR.join(names))
        if self.name.startswith('-'):
            raise ValueError(f'VisualClass {self.name!r}: a class given by examples cannot be a '
                             f'negative name')
        if len(names) > 1 and not self.use_name:
            raise ValueError(f'VisualClass {self.name!r}: synonyms are names to embed; pass '
                             f'use_name=True, or give one name')
        exemplars = (self.exemplars,) if isinstance(self.exemplars, Exemplar) \
            else tuple(self.exemplars)
        if not exemplars or not all(isinstance(e, Exemplar) for e in exemplars):
            raise ValueError(f'VisualClass {self.name!r}: exemplars must be one or more '
                             f'Exemplar(image, boxes)')
        object.__setattr__(self, 'exemplars', exemplars)

    @property
    def label(self) -> str:
        """The name its detections carry (the first name)."""
        return self.name.split(SYNONYM_SEPARATOR, 1)[0]

    def examples(self) -> List[Tuple[Exemplar, Box]]:
        """Every (exemplar, box) pair, in order."""
        return [(e, box) for e in self.exemplars for box in e.boxes]

    def describe_example(self, index: int) -> str:
        """``"example 2 (a.png [1, 2, 30, 40])"`` for the 0-based ``index`` of :meth:`examples`."""
        exemplar, box = self.examples()[index]
        return (f'example {index + 1} ({exemplar.image_label()} '
                f'[{", ".join(f"{v:g}" for v in box)}])')


VocabularyClass = Union[str, VisualClass]


def _parse_box(text: str) -> List[float]:
    try:
        values = [float(v) for v in text.split(',')]
    except ValueError:
        values = []
    if len(values) != 4:
        raise ValueError(f'box [{text}] is not four numbers x1,y1,x2,y2')
    return values


def parse_exemplar_line(line: str, base_dir: Union[str, Path] = '.',
                        source: str = 'vocabulary') -> VisualClass:
    """A :class:`VisualClass` from a vocabulary file line (syntax in the module docstring).

    Raises:
        ValueError: naming ``source``, the class and what is malformed.
    """
    marker = min((m for m in (EXEMPLARS_ONLY, NAMES_AND_EXEMPLARS) if m in line),
                 key=line.index)
    name, rest = (part.strip() for part in line.split(marker, 1))
    exemplars = []
    for group in filter(None, (g.strip() for g in rest.split(';'))):
        path = group.split('[', 1)[0].strip()
        boxes = re.findall(r'\[([^\]]*)\]', group)
        if not path or not boxes:
            raise ValueError(f'{source}: class {name!r}: {group!r} is not "IMAGE [x1,y1,x2,y2] '
                             f'..." (an image path followed by its boxes)')
        try:
            parsed = [_parse_box(box) for box in boxes]
            image = Path(path) if Path(path).is_absolute() else Path(base_dir) / path
            exemplars.append(Exemplar(str(image), parsed))
        except ValueError as err:
            raise ValueError(f'{source}: class {name!r}, image {path}: {err}') from None
    if not exemplars:
        raise ValueError(f'{source}: class {name!r} has {marker!r} but no example image')
    try:
        return VisualClass(name, exemplars, use_name=marker == NAMES_AND_EXEMPLARS)
    except ValueError as err:
        raise ValueError(f'{source}: {err}') from None


def _check_no_name_twice(classes: Sequence[VocabularyClass], source: str) -> None:
    """Refuses a name that a class given by examples shares with another class."""
    owners = {}
    for index, item in enumerate(classes):
        entry = item.name if isinstance(item, VisualClass) else item.strip()
        for name in split_synonyms(entry.lstrip('-') or entry, source):
            owners.setdefault(name, []).append(index)
    for name, indices in owners.items():
        visual = [i for i in indices if isinstance(classes[i], VisualClass)]
        if len(indices) > 1 and visual:
            item = classes[visual[0]]
            raise ExemplarError(
                f'{source}: class name {name!r} is used twice (classes {indices}); '
                f'{item.describe_example(0)} of class {item.label!r} must belong to one class: '
                f'give the class once, as VisualClass({name!r}, exemplars, use_name=True) (a '
                f'file line "{name} += IMAGE [x1,y1,x2,y2]") to combine its name and examples')


def resolve_vocabulary_classes(spec) -> Tuple[VocabularyClass, ...]:
    """A vocabulary spec whose classes may be given by example boxes, resolved.

    Args:
        spec: Anything :func:`~ovdkit.datasets.resolve_vocabulary_entries` takes, a vocabulary
            file with exemplar lines (module docstring), or a sequence of names and
            :class:`VisualClass` items.

    Returns:
        The classes in order: name entries as :func:`resolve_vocabulary_entries` gives them,
        and :class:`VisualClass` items.

    Raises:
        ExemplarError: a name used by a class given by examples and by another class.
        ValueError: what :func:`resolve_vocabulary_entries` raises; a malformed exemplar line.
    """
    if isinstance(spec, (str, Path)) and Path(spec).is_file():
        path = Path(spec)
        lines = [ln.strip() for ln in path.read_text(encoding='utf-8').splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith('#')]
        if not any(m in ln for ln in lines for m in EXEMPLAR_MARKERS):
            return resolve_vocabulary_entries(str(spec))
        classes = [parse_exemplar_line(ln, path.parent, str(path))
                   if any(m in ln for m in EXEMPLAR_MARKERS) else ln for ln in lines]
        source = str(path)
    elif isinstance(spec, str) or not any(isinstance(c, VisualClass) for c in spec):
        return resolve_vocabulary_entries(spec)
    else:
        classes, source = list(spec), 'vocabulary'
    for index, item in enumerate(classes):
        if not isinstance(item, (str, VisualClass)):
            raise TypeError(f'{source}: class {index} is a {type(item).__name__}; a class is '
                            f'a name or a VisualClass')
    _check_no_name_twice(classes, source)
    texts = [c for c in classes if isinstance(c, str)]
    it = iter(check_class_names(texts, source) if texts else ())
    return tuple(c if isinstance(c, VisualClass) else next(it) for c in classes)


def has_exemplars(classes: Sequence[VocabularyClass]) -> bool:
    """Whether any class of a resolved vocabulary is given by example boxes."""
    return any(isinstance(c, VisualClass) for c in classes)
