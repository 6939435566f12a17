"""Embeddings of example boxes, cut and embedded as the region store cuts and embeds regions.

An example box is cut from its image the way :mod:`ovdkit.regions.region_precompute` cuts a
proposal: the image goes through the detector's test pipeline (``prepare``; the store cuts
from the packed, resized image), the box is scaled with it, and
:class:`~ovdkit.regions.CLIPRegionEmbedder` embeds its square crops at the store's scales
(normalised per scale, averaged, normalised). A class's image embedding is the normalised mean
of its examples' embeddings: a ViLD head maps regions into this space (that is what its
distillation trains), so the mean is a classifier row like a name's text embedding.

Each class's rows are cached (:mod:`ovdkit.regions.exemplar_cache`) under a key of the CLIP
weights, the crop scales, the images' sha256 and the boxes; the image tower is built once per
process and weights, and only on a cache miss.
"""
import hashlib
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets.exemplar_classes import Exemplar, ExemplarError, VisualClass
from ..text.clip_weights import register_model_configs
from ..utils.hashing import file_sha256, weights_id
from .clip_region_embedder import CLIPRegionEmbedder
from .exemplar_cache import (EXEMPLARS, exemplar_cache_path, load_exemplar_embeddings,
                             save_exemplar_embeddings)

#: At most this many example boxes per class by default: each example image is held decoded
#: (and resized) at once while its class is embedded.
MAX_EXAMPLES_PER_CLASS = 64
#: ``prepare(image)``: a BGR ``(H, W, 3)`` uint8 image -> the ``(3, h, w)`` float RGB image in
#: [0, 1] the crops are cut from and the ``(sx, sy)`` scale from input pixels to it.
Prepare = Callable[[np.ndarray], Tuple[Tensor, Tuple[float, float]]]
_TOWERS: Dict[tuple, CLIPRegionEmbedder] = {}


def unscaled_image(image: np.ndarray) -> Tuple[Tensor, Tuple[float, float]]:
    """The :data:`Prepare` of a detector that does not resize: the image itself."""
    return torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1) \
        .float() / 255, (1.0, 1.0)


def packed_image(results: Dict) -> Tuple[Tensor, Tuple[float, float]]:
    """The image and scale of an mmdet test pipeline's packed output, as the store takes them.

    Args:
        results: ``{'inputs': (3, h, w) uint8 BGR, 'data_samples': DetDataSample}``.

    Returns:
        ``(3, h, w)`` float RGB in [0, 1] and ``(sx, sy)``.
    """
    sample = results['data_samples']
    h, w = sample.img_shape[:2]
    sx, sy = sample.scale_factor
    return results['inputs'][[2, 1, 0], :h, :w].float() / 255, (float(sx), float(sy))


def pipeline_prepare(pipeline: Sequence[Mapping]) -> Prepare:
    """A detector's test pipeline config as a :data:`Prepare` (the image given as an array,
    annotations not loaded), as the region store's data loader runs it.

    Args:
        pipeline: The transforms of ``test_dataloader.dataset.pipeline`` (first: a loader).
    """
    from mmcv.transforms import Compose
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    steps = [dict(step) for step in pipeline if 'LoadAnnotations' not in step['type']]
    steps[0] = dict(type='mmdet.LoadImageFromNDArray')
    compose = Compose(steps)
    return lambda image: packed_image(compose(dict(img=image, img_id=0)))


def image_tower(model: str, pretrained: str, crop_scales: Sequence[float],
                device: Union[str, torch.device] = 'cpu') -> CLIPRegionEmbedder:
    """The process's (memoised) frozen image tower for these weights and crop scales."""
    key = (model, str(pretrained), tuple(float(s) for s in crop_scales), str(device))
    if key not in _TOWERS:
        _TOWERS[key] = CLIPRegionEmbedder(model, pretrained, key[2], device)
    return _TOWERS[key]


def read_example_image(item: VisualClass, index: int, exemplar: Exemplar) -> np.ndarray:
    """The BGR ``(H, W, 3)`` uint8 image of an example.

    Raises:
        ExemplarError: the file is missing or not an image, or the array is not ``(H, W, 3)``
            uint8; the message names the class and the example.
    """
    where = f'class {item.label!r}, {item.describe_example(index)}'
    if isinstance(exemplar.image, np.ndarray):
        image = exemplar.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ExemplarError(f'{where}: an image array must be (H, W, 3) uint8 BGR, got '
                                f'{image.shape} {image.dtype}')
        return image
    try:
        image = mmcv.imread(str(exemplar.image), flag='color')
    except Exception as exc:  # mmcv raises FileNotFoundError, TypeError, cv2.error...
        raise ExemplarError(f'{where}: cannot read the image: {exc}') from None
    if image is None:
        raise ExemplarError(f'{where}: cannot read the image (not an image file)')
    return image


def image_sha256(exemplar: Exemplar) -> str:
    """sha256 of the image file's bytes, or of an array's shape, dtype and bytes."""
    if not isinstance(exemplar.image, np.ndarray):
        return file_sha256(exemplar.image)
    digest = hashlib.sha256(f'{exemplar.image.shape}{exemplar.image.dtype}'.encode())
    digest.update(np.ascontiguousarray(exemplar.image).tobytes())
    return 'array-' + digest.hexdigest()


def check_example_box(item: VisualClass, index: int, box: Sequence[float],
                      height: int, width: int) -> None:
    """Refuses a box of zero size or not inside its ``height x width`` image.

    Raises:
        ExemplarError: naming the class, the example and the image size.
    """
    x1, y1, x2, y2 = box
    where = f'class {item.label!r}, {item.describe_example(index)}'
    if x2 <= x1 or y2 <= y1:
        raise ExemplarError(f'{where}: the box has zero size (x2 <= x1 or y2 <= y1); draw '
                            f'[x1, y1, x2, y2] around the object')
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise ExemplarError(f'{where}: the box is outside the image ({width} x {height} '
                            f'pixels)')


def check_visual_class(item: VisualClass,
                       max_examples: int = MAX_EXAMPLES_PER_CLASS) -> List[np.ndarray]:
    """Checks a class's examples and reads their images (nothing is embedded).

    Returns:
        The BGR ``(H, W, 3)`` uint8 image of each of its exemplars.

    Raises:
        ExemplarError: more example boxes than ``max_examples``, an unreadable image, a box
            of zero size or outside its image; the message names the class and the example.
    """
    examples = item.examples()
    if len(examples) > max_examples:
        raise ExemplarError(
            f'class {item.label!r} has {len(examples)} example boxes, over the bound of '
            f'{max_examples} per class (each example image is held in memory while its class '
            f'is embedded): {item.describe_example(max_examples)} is the first over it; give '
            f'fewer, or raise max_examples')
    images, index = [], 0
    for exemplar in item.exemplars:
        image = read_example_image(item, index, exemplar)
        for k, box in enumerate(exemplar.boxes):
            check_example_box(item, index + k, box, *image.shape[:2])
        images.append(image)
        index += len(exemplar.boxes)
    return images


class ExemplarEmbedder:
    """Turns a :class:`VisualClass`'s example boxes into ``(K, D)`` CLIP image embeddings.

    Args:
        model: open_clip model name (the head's vocabulary model: the text embeddings' CLIP).
        pretrained: Its weights, a tag or a file (random weights are refused: an image tower
            built apart from the text tower would have other random weights).
        crop_scales: Crop side multipliers; use the region store's (its ``meta.json``
            ``crop_scales``), ViLD's are (1.0, 1.5).
        cache_dir: Folder of the cache entries.
        prepare: The detector's test pipeline as a :data:`Prepare` (default: no resize).
        max_examples: At most this many example boxes per class.
        device: Device of the image tower.

    Raises:
        ValueError: ``pretrained`` is ``None``.
    """

    def __init__(self, model: str, pretrained: Optional[str],
                 crop_scales: Sequence[float] = (1.0, 1.5),
                 cache_dir: str = 'data/embeddings', prepare: Prepare = unscaled_image,
                 max_examples: int = MAX_EXAMPLES_PER_CLASS,
                 device: Union[str, torch.device] = 'cpu') -> None:
        if pretrained is None:
            raise ValueError(f'example boxes need the CLIP weights the text embeddings come '
                             f'from; CLIP {model!r} has random weights (pretrained=None), drawn '
                             f'apart for the image tower: save them to a file and name it')
        if not crop_scales or any(float(s) <= 0 for s in crop_scales):
            raise ValueError(f'crop_scales must be positive numbers, got {crop_scales!r}')
        self.model, self.pretrained = model, str(pretrained)
        self.crop_scales = tuple(float(s) for s in crop_scales)
        self.cache_dir, self.prepare, self.device = cache_dir, prepare, device
        self.max_examples = int(max_examples)

    def _tower(self) -> CLIPRegionEmbedder:
        return image_tower(self.model, self.pretrained, self.crop_scales, self.device)

    def _load(self, item: VisualClass) -> Tuple[List[Tensor], List[Tensor], List[Dict]]:
        """Checks and prepares the class's examples: per image, the image the crops are cut
        from, its boxes there, and the sidecar record of each example."""
        images, boxes, records = [], [], []
        for exemplar, image in zip(item.exemplars, check_visual_class(item, self.max_examples)):
            prepared, (sx, sy) = self.prepare(image)
            scale = torch.tensor([sx, sy, sx, sy], dtype=torch.float32)
            images.append(prepared)
            boxes.append(torch.tensor(exemplar.boxes, dtype=torch.float32) * scale)
            sha = image_sha256(exemplar)
            records += [dict(image_sha256=sha, box=list(box), input_hw=list(image.shape[:2]),
                             crop_image_hw=list(prepared.shape[1:])) for box in exemplar.boxes]
        return images, boxes, records

    def meta_for(self, records: List[Dict]) -> Dict:
        """The sidecar of an entry for these example records (builds no tower)."""
        import open_clip
        register_model_configs()
        config = open_clip.get_model_config(self.model)
        if config is None:
            raise ValueError(f'unknown open_clip model {self.model!r}')
        size = config['vision_cfg'].get('image_size', 224)
        size = int(size[0] if isinstance(size, (list, tuple)) else size)
        return EXEMPLARS.make_meta(self.model, self.pretrained, weights_id(self.pretrained),
                                   [], config['embed_dim'], crop_scales=list(self.crop_scales),
                                   crop_size=size, examples=records)

    def example_embeddings(self, item: VisualClass) -> Tensor:
        """The class's example embeddings, from the cache or built and stored.

        Returns:
            ``(K, D)`` float32 unit rows, one per example box in :meth:`VisualClass.examples`
            order.

        Raises:
            ExemplarError: too many examples, an unreadable image, a box of zero size or
                outside its image (naming the class and the example).
        """
        images, boxes, records = self._load(item)
        meta = dict(self.meta_for(records), classes=[item.label], num_classes=1)
        path = exemplar_cache_path(self.cache_dir, meta)
        if path.with_suffix('.json').is_file():
            rows, _ = load_exemplar_embeddings(path, expected={
                k: meta[k] for k in EXEMPLARS.checked_fields})
            return rows
        tower = self._tower()
        rows = torch.cat(tower(images, boxes)).float().cpu()
        save_exemplar_embeddings(path, rows, meta)
        return rows

    def class_embedding(self, item: VisualClass) -> Tensor:
        """``(D,)``: the normalised mean of the class's example embeddings."""
        return F.normalize(self.example_embeddings(item).mean(dim=0), dim=0)
