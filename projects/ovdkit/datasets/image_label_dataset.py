"""Images with class labels and no boxes (Detic's ImageNet-21k and COCO-caption data)."""
import json
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Union

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from .caption_labels import caption_label_names
from .vocabularies import first_names, resolve_vocabulary_entries

#: The data-info and metainfo key of an image's label names; its presence marks an
#: image-labelled sample for the models.
IMAGE_LABELS_KEY = 'image_labels'
#: Where an image's labels come from.
LABEL_SOURCES = ('pos_category_ids', 'captions')


@DATASETS.register_module()
class ImageLabelDataset(BaseDetDataset):
    """A COCO-format file whose images carry class labels, not boxes (Detic's format).

    Each image of ``ann_file`` carries ``pos_category_ids`` (ids of its ``categories``) or
    ``captions`` (a list of strings); ``annotations`` may be empty or absent. An image's labels
    are its categories' names (``label_source='pos_category_ids'``) or the classes its
    captions name (``'captions'``: :func:`ovdkit.datasets.caption_labels.caption_label_names`
    with the vocabulary's names and synonyms, Detic's COCO-caption protocol). Each data info
    holds ``image_labels`` (the names, in vocabulary order) and no instances;
    :class:`PackImageLabelInputs` puts them in the sample's metainfo.

    Images are dropped, counted and logged by reason: no labels in the file, labels whose
    names are not in the vocabulary (their names are logged), captions that name nothing. A
    file left with no image is an error.

    Args:
        ann_file: The annotation file.
        classes: Vocabulary spec of the labels (names, ``'a|b'`` synonyms, a file, a builtin
            name); default: the file's category names. It is ``metainfo['classes']``.
        label_source: ``'pos_category_ids'`` or ``'captions'``.
        **kwargs: ``BaseDetDataset`` arguments (``data_root``, ``data_prefix``, ``pipeline``).
    """

    def __init__(self, *args, classes: Optional[Union[str, Sequence[str]]] = None,
                 label_source: str = 'pos_category_ids', **kwargs) -> None:
        if label_source not in LABEL_SOURCES:
            raise ValueError(f'{type(self).__name__}: label_source must be one of '
                             f'{LABEL_SOURCES}, got {label_source!r}')
        self.label_source = label_source
        self.entries = None if classes is None else resolve_vocabulary_entries(classes)
        self.drop_counts: Dict[str, int] = {}
        kwargs.setdefault('filter_cfg', None)
        if self.entries is not None:  # known before the file is read (lazy_init)
            kwargs['metainfo'] = dict(kwargs.get('metainfo') or {},
                                      classes=first_names(self.entries))
        super().__init__(*args, **kwargs)

    def _read(self) -> Dict:
        with get_local_path(self.ann_file, backend_args=self.backend_args) as path:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        if not isinstance(data, dict) or not isinstance(data.get('images'), list) or \
                not isinstance(data.get('categories'), list):
            raise ValueError(f'{self.ann_file}: not an image-label file (a COCO-format dict '
                             f'with "images" and "categories" lists)')
        return data

    def load_data_list(self) -> List[dict]:
        """Reads the images and their labels; logs the dropped ones by reason.

        Raises:
            ValueError: the file is not an image-label file, or no image is left.
        """
        data = self._read()
        id_to_name = {c['id']: c['name'] for c in data['categories']}
        entries = self.entries if self.entries is not None else \
            tuple(c['name'] for c in data['categories'])
        classes = first_names(entries)
        self._metainfo['classes'] = classes
        order = {name: i for i, name in enumerate(classes)}
        drops: Counter = Counter()
        unknown: Counter = Counter()
        data_list = []
        for image in data['images']:
            if self.label_source == 'captions':
                names = caption_label_names(image.get('captions') or [], entries)
                if not names:
                    drops['captions naming no class of the vocabulary'] += 1
                    continue
            else:
                ids = image.get('pos_category_ids') or []
                if not ids:
                    drops['no labels'] += 1
                    continue
                given = [id_to_name.get(i, f'category id {i}') for i in ids]
                missing = [n for n in given if n not in order]
                unknown.update(missing)
                names = tuple(sorted({n for n in given if n in order}, key=order.get))
                if not names:
                    drops['labels not in the vocabulary'] += 1
                    continue
            data_list.append(dict(
                img_path=osp.join(self.data_prefix.get('img', ''), image['file_name']),
                img_id=image['id'], width=image.get('width'), height=image.get('height'),
                instances=[], **{IMAGE_LABELS_KEY: names}))
        self.drop_counts = dict(drops)
        total = len(data['images'])
        reasons = ', '.join(f'{n} ({reason})' for reason, n in sorted(drops.items())) or 'none'
        message = (f'[ovdkit] {type(self).__name__} {self.ann_file}: kept {len(data_list)} of '
                   f'{total} images; dropped: {reasons}')
        if unknown:
            message += (f'; {sum(unknown.values())} labels of {len(unknown)} names not in the '
                        f'vocabulary, e.g. {[n for n, _ in unknown.most_common(5)]}')
        print_log(message, logger='current')
        if not data_list:
            raise ValueError(f'{self.ann_file}: no image left with labels '
                             f'({total} images; dropped: {reasons}): an image-label dataset '
                             f'would give empty batches')
        return data_list

    def filter_data(self) -> List[dict]:
        """Every image is kept: it has labels, not boxes (see :meth:`load_data_list`)."""
        return self.data_list
