"""OV-LVIS: LVIS v1 with the rare categories marked novel, optionally labelled base-only."""
from typing import List

from mmdet.datasets import LVISV1Dataset
from mmdet.registry import DATASETS
from mmdet.visualization.palette import get_palette

from .ov_splits import lvis_split


@DATASETS.register_module()
class OVLVISV1Dataset(LVISV1Dataset):
    """LVIS v1 whose ``metainfo`` also carries ``base_classes`` (common + frequent, 866) and
    ``novel_classes`` (rare, 337), read from the annotation file's category frequencies when
    the annotations are loaded.

    Args:
        classes_split: ``'all'`` (labels index the 1203 categories, as mmdet's dataset) or
            ``'base'``: labels index the 866 base categories in id order (what a training
            vocabulary of base names expects) and any rare-category box is dropped; the
            ``palette`` then holds the base categories' colours, each the colour its category
            has in ``'all'`` (mmdet's seeded palette for LVIS, which has none of its own).
        **kwargs: ``LVISV1Dataset`` arguments.
    """

    def __init__(self, *args, classes_split: str = 'all', **kwargs) -> None:
        if classes_split not in ('base', 'all'):
            raise ValueError(f"OVLVISV1Dataset: classes_split must be 'base' or 'all', got "
                             f'{classes_split!r}')
        self.classes_split = classes_split
        super().__init__(*args, **kwargs)

    # mmdet's load_data_list deletes its LVIS api object when done; keep its categories
    # (with their frequencies) as it goes, instead of reading a 1 GB json a second time.
    @property
    def lvis(self):
        """The LVIS api object while mmdet loads the annotations."""
        return self._lvis_api

    @lvis.setter
    def lvis(self, api) -> None:
        self._lvis_api = api
        self._lvis_categories = list(api.cats.values())

    @lvis.deleter
    def lvis(self) -> None:
        del self._lvis_api

    def load_data_list(self) -> List[dict]:
        """Loads the annotations (mmdet), records the split, relabels for ``'base'``."""
        data_list = super().load_data_list()
        split = lvis_split(dict(categories=self._lvis_categories))
        self._metainfo['base_classes'] = split['base_classes']
        self._metainfo['novel_classes'] = split['novel_classes']
        if self.classes_split == 'all':
            return data_list
        novel = set(split['novel_category_ids'])
        base_ids = [cid for cid in self.cat_ids if cid not in novel]
        old_to_new = {self.cat2label[cid]: i for i, cid in enumerate(base_ids)}
        full_palette = self._metainfo.get('palette') or get_palette(
            None, max(len(self._metainfo['classes']), len(self.cat_ids)))
        self._metainfo['palette'] = [tuple(full_palette[self.cat2label[cid]])
                                     for cid in base_ids]
        for info in data_list:
            info['instances'] = [dict(inst, bbox_label=old_to_new[inst['bbox_label']])
                                 for inst in info['instances']
                                 if inst['bbox_label'] in old_to_new]
        self.cat_ids = base_ids
        self.cat2label = {cid: i for i, cid in enumerate(base_ids)}
        self._metainfo['classes'] = split['base_classes']
        return data_list
