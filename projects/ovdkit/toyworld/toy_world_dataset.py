"""A toy-world split as an mmdet dataset whose classes come from the world's own files."""
import json
from pathlib import Path
from typing import List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .shapes import COLORS


@DATASETS.register_module()
class ToyWorldDataset(CocoDataset):
    """COCO-format toy-world split; ``classes``, ``base_classes``, ``novel_classes`` and
    ``palette`` (each category drawn in its own colour) are read from
    ``<data_root>/annotations/categories.json`` when the annotations are loaded.

    Args:
        classes_split: ``'base'`` (labels index the base categories: training) or ``'all'``
            (labels index every category: evaluation).
        **kwargs: ``CocoDataset`` arguments.
    """

    def __init__(self, *args, classes_split: str = 'all', **kwargs) -> None:
        if classes_split not in ('base', 'all'):
            raise ValueError(f"ToyWorldDataset: classes_split must be 'base' or 'all', got "
                             f'{classes_split!r}')
        self.classes_split = classes_split
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Sets the split's metainfo from categories.json, then loads the COCO annotations."""
        path = Path(self.data_root or '') / 'annotations' / 'categories.json'
        if not path.is_file():
            raise FileNotFoundError(f'ToyWorldDataset: {path} not found; generate the world '
                                    f'first (python tools/toyworld.py)')
        cats = json.loads(path.read_text())
        chosen = [c for c in cats if self.classes_split == 'all' or c['split'] == 'base']
        self._metainfo.update(
            classes=tuple(c['name'] for c in chosen),
            base_classes=tuple(c['name'] for c in cats if c['split'] == 'base'),
            novel_classes=tuple(c['name'] for c in cats if c['split'] == 'novel'),
            palette=[COLORS[c['color']] for c in chosen])
        return super().load_data_list()
