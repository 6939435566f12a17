"""What a toy world is made of: categories (colour x shape), sizes, and its base/novel split."""
import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..datasets.vocabularies import SYNONYM_SEPARATOR, split_synonyms
from .shapes import COLORS, DEFAULT_COLORS, SHAPE_NAMES, shape_polygon


@dataclasses.dataclass(frozen=True)
class ToyWorldSpec:
    """Parameters of a toy open-vocabulary world; the same spec always draws the same world.

    The novel split has two kinds. *concepts* (default): every colour of ``novel_shapes`` is
    novel, so the detector never gets a box of those shapes (2 shapes chosen by the seed when
    none are named). *combinations*: ``novel`` names the novel categories, or
    ``novel_fraction`` picks them by seed so that every colour and every shape still occurs
    among the base categories.

    ``shape_synonyms`` lets the CLIP captions name a shape in more than one way: entries in
    the vocabulary syntax, ``('square|box', 'circle|disk|ring')``, each starting with a shape
    of the world. A caption of a red square then says "a photo of a red square." or "... red
    box.", each name equally often (chosen by the scene's seed, apart from the scene's own
    draws: the images are those of the same world without synonyms). Category names stay
    the shape's first name; :meth:`vocabulary_entries` gives the classes with their synonyms.
    """

    seed: int = 0
    shapes: Tuple[str, ...] = SHAPE_NAMES
    colors: Tuple[str, ...] = DEFAULT_COLORS
    image_size: int = 128
    num_train: int = 2000
    num_val: int = 300
    num_clip_train: int = 2500
    num_clip_val: int = 400
    max_objects: int = 4
    min_object_size: int = 24
    max_object_size: int = 44
    novel_shapes: Optional[Tuple[str, ...]] = None
    novel: Optional[Tuple[str, ...]] = None
    novel_fraction: Optional[float] = None
    shape_synonyms: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for shape in self.shapes:
            shape_polygon(shape)  # raises on unknown names
        unknown = [c for c in self.colors if c not in COLORS]
        if unknown:
            raise KeyError(f'unknown toy-world colours {unknown}; known: {", ".join(COLORS)}')
        chosen = [x is not None for x in (self.novel_shapes, self.novel, self.novel_fraction)]
        if sum(chosen) > 1:
            raise ValueError('give at most one of novel_shapes (concepts), novel or '
                             'novel_fraction (combinations)')
        if self.novel_shapes is not None:
            bad = [s for s in self.novel_shapes if s not in self.shapes]
            if bad or len(self.novel_shapes) >= len(self.shapes):
                raise ValueError(f'novel_shapes {list(self.novel_shapes)} must be a proper '
                                 f'subset of shapes {list(self.shapes)}')
        if self.novel is not None:
            names = {c['name'] for c in self.category_list()}
            bad = [n for n in self.novel if n not in names]
            if bad:
                raise ValueError(f'novel categories {bad} are not colour-shape names of this '
                                 f'world (e.g. {self.category_list()[0]["name"]!r})')
        if self.novel_fraction is not None and not 0 < self.novel_fraction < 1:
            raise ValueError(f'novel_fraction must be in (0, 1), got {self.novel_fraction}')
        if self.image_size % 32:
            raise ValueError(f'image_size must be divisible by 32, got {self.image_size}')
        self._check_shape_synonyms()

    def _check_shape_synonyms(self) -> None:
        """Each entry starts with a shape of the world and adds names no other shape, entry or
        colour uses."""
        where = 'ToyWorldSpec.shape_synonyms'
        used = {**{c: f'colour {c!r}' for c in COLORS}, **{s: f'shape {s!r}' for s in self.shapes}}
        with_entry = set()
        for entry in self.shape_synonyms:
            names = split_synonyms(entry, where)
            if names[0] not in self.shapes:
                raise ValueError(f'{where}: entry {entry!r} does not start with a shape of '
                                 f'this world ({", ".join(self.shapes)})')
            if names[0] in with_entry:
                raise ValueError(f'{where}: {names[0]!r} has two entries; give its synonyms '
                                 f'in one')
            if len(names) < 2:
                raise ValueError(f'{where}: entry {entry!r} gives no other name for '
                                 f'{names[0]!r} (write {names[0] + "|another name"!r})')
            with_entry.add(names[0])
            for name in names[1:]:
                if name in used:
                    raise ValueError(f'{where}: {name!r} (entry {entry!r}) is already the '
                                     f'name of {used[name]}')
                used[name] = f'a synonym of {names[0]!r}'

    def shape_names(self, shape: str) -> Tuple[str, ...]:
        """The names captions use for ``shape``: the shape's own first, then its synonyms."""
        for entry in self.shape_synonyms:
            names = split_synonyms(entry)
            if names[0] == shape:
                return names
        return (shape,)

    def caption_names(self, category: Dict) -> Tuple[str, ...]:
        """``'red square'``, ``'red box'``...: the names of a category captions may use."""
        return tuple(f'{category["color"]} {name}' for name in self.shape_names(
            category['shape']))

    def vocabulary_entries(self, categories: Optional[List[Dict]] = None) -> List[str]:
        """One vocabulary entry per category (default: all), ``'red square|red box'`` for a
        shape with synonyms, the plain name otherwise."""
        return [SYNONYM_SEPARATOR.join(self.caption_names(c))
                for c in (self.category_list() if categories is None else categories)]

    @property
    def split_kind(self) -> str:
        """``'concepts'`` or ``'combinations'``."""
        return 'combinations' if self.novel is not None or self.novel_fraction is not None \
            else 'concepts'

    def category_list(self) -> List[Dict]:
        """Categories without split flags: ids 1..N, shape-major order."""
        cats = []
        for shape in self.shapes:
            for color in self.colors:
                cats.append(dict(id=len(cats) + 1, name=f'{color} {shape}', shape=shape,
                                 color=color))
        return cats

    def novel_names(self) -> Tuple[str, ...]:
        """Names of the novel categories, in category order."""
        cats = self.category_list()
        rng = np.random.default_rng([self.seed, 7])
        if self.split_kind == 'concepts':
            shapes = self.novel_shapes
            if shapes is None:
                shapes = tuple(rng.choice(self.shapes, size=2, replace=False).tolist())
            return tuple(c['name'] for c in cats if c['shape'] in shapes)
        if self.novel is not None:
            return tuple(c['name'] for c in cats if c['name'] in self.novel)
        target = max(1, round(self.novel_fraction * len(cats)))
        novel = set()
        for i in rng.permutation(len(cats)):
            cand = novel | {cats[i]['name']}
            base = [c for c in cats if c['name'] not in cand]
            if {c['shape'] for c in base} == set(self.shapes) and \
                    {c['color'] for c in base} == set(self.colors):
                novel = cand
            if len(novel) == target:
                break
        return tuple(c['name'] for c in cats if c['name'] in novel)

    def categories(self) -> List[Dict]:
        """Categories with ``split`` = ``'base'`` or ``'novel'``."""
        novel = set(self.novel_names())
        return [dict(c, split='novel' if c['name'] in novel else 'base')
                for c in self.category_list()]

    def to_dict(self) -> Dict:
        """JSON-ready dict (tuples as lists). Without synonyms, ``shape_synonyms`` is left out:
        the record of a world without them (and the digests of the pipeline's steps) does not
        depend on the option."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()
                if k != 'shape_synonyms' or v}
