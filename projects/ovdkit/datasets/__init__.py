"""Open-vocabulary splits, vocabularies and datasets (registered in mmdet's DATASETS)."""
from .caption_labels import caption_label_names
from .checked_multi_source_sampler import (CheckedGroupMultiSourceSampler,
                                           CheckedMultiSourceSampler, check_images_per_source)
from .exemplar_classes import (Exemplar, ExemplarError, VisualClass, has_exemplars,
                               resolve_vocabulary_classes)
from .image_label_concat_dataset import ImageLabelConcatDataset
from .image_label_dataset import IMAGE_LABELS_KEY, ImageLabelDataset
from .ov_coco_dataset import OVCocoDataset
from .ov_custom_dataset import OVCustomDataset
from .ov_lvis_dataset import OVLVISV1Dataset
from .ov_splits import (COCO_CATEGORY_IDS, COCO_CLASSES, LVIS_V1_CLASSES, OV_COCO_BASE_CLASSES,
                        OV_COCO_CLASSES, OV_COCO_NOVEL_CLASSES, lvis_split,
                        ov_coco_split_of_category_ids)
from .region_store import CLIPRegionStore, RegionStoreError
from .transforms import LoadCLIPRegions, PackDetInputsWithRegions, PackImageLabelInputs
from .vocabularies import (BUILTIN_VOCABULARIES, check_class_names, first_names,
                           per_image_vocabularies, resolve_vocabulary, resolve_vocabulary_entries,
                           resolve_vocabulary_synonyms)

__all__ = [
    'OVCocoDataset', 'OVCustomDataset', 'OVLVISV1Dataset', 'CLIPRegionStore', 'RegionStoreError',
    'LoadCLIPRegions',
    'PackDetInputsWithRegions', 'COCO_CATEGORY_IDS', 'COCO_CLASSES', 'LVIS_V1_CLASSES',
    'OV_COCO_BASE_CLASSES', 'OV_COCO_CLASSES', 'OV_COCO_NOVEL_CLASSES', 'lvis_split',
    'ov_coco_split_of_category_ids', 'BUILTIN_VOCABULARIES', 'check_class_names',
    'resolve_vocabulary', 'resolve_vocabulary_entries', 'resolve_vocabulary_synonyms',
    'first_names', 'per_image_vocabularies', 'Exemplar', 'ExemplarError', 'VisualClass',
    'has_exemplars', 'resolve_vocabulary_classes', 'caption_label_names',
    'CheckedGroupMultiSourceSampler', 'CheckedMultiSourceSampler', 'check_images_per_source',
    'ImageLabelConcatDataset', 'IMAGE_LABELS_KEY', 'ImageLabelDataset', 'PackImageLabelInputs'
]
