"""The web demo's detector: one request's image, vocabulary and threshold in, detections and a
drawing out; every bad input a :class:`DemoInputError` whose message the page shows."""
import base64
import io
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Set, Tuple, Union

import cv2
import numpy as np

from ...datasets.exemplar_classes import VisualClass, resolve_vocabulary_classes
from ...datasets.negative_names import split_negative_entries
from ...datasets.vocabularies import BUILTIN_VOCABULARIES, SYNONYM_SEPARATOR, check_class_names
from ...regions.exemplar_cache import EXEMPLARS
from ...regions.exemplar_embeddings import image_sha256
from ...text.vocabulary_embeddings import cache_dir_of
from ..detection_records import detection_records, one_line
from .drawn_examples import drawn_classes

#: Drawings of small images are enlarged (nearest neighbour) to about this longer side.
DRAWING_SIDE = 512


class DemoInputError(ValueError):
    """A request the demo refuses; the message says why, for the person who sent it.

    Args:
        message: What is wrong, naming the input (``image``, ``vocabulary``...).
        status: The HTTP status to answer with (400; 413 for a too large input).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DemoLimits:
    """What one request may ask for.

    Args:
        max_names: Most names in a vocabulary (``--max-names``). 1203 by default: LVIS, the
            largest vocabulary detectors are evaluated on, fits; a new vocabulary of N names
            costs N x templates text-tower passes before the first image is detected.
        max_image_side: Longer image side above which an image is downscaled to it first
            (``--max-image-side``); boxes are still given in the original image's pixels.
        max_image_pixels: Images with more pixels are refused before decoding
            (``--max-image-pixels``): a small compressed file can decode to gigabytes.
        max_upload_bytes: Largest image file (``--max-upload-mb``).
    """

    max_names: int = 1203
    max_image_side: int = 2048
    max_image_pixels: int = 40_000_000
    max_upload_bytes: int = 20 * 2 ** 20


def parse_vocabulary(text: str, max_names: int) -> Union[str, List[str]]:
    """The vocabulary typed on the page as an :meth:`OVDInferencer.set_vocabulary` spec.

    Names are separated by commas or new lines (``'television|tv'`` is one class with a
    synonym); a builtin vocabulary's name (``coco``, ``lvis``, ``ov-coco``...) alone is that
    vocabulary. Nothing typed is ever taken as a file name.

    Args:
        text: The vocabulary box's text.
        max_names: Most names allowed.

    Returns:
        A builtin vocabulary's name, or the list of entries (checked:
        :func:`~ovdkit.datasets.vocabularies.check_class_names`).

    Raises:
        DemoInputError: no text, no name, a blank or repeated name, or more than
            ``max_names`` names.
    """
    if not isinstance(text, str):
        raise DemoInputError('vocabulary: expected text (comma-separated names)')
    text = text.strip()
    if text in BUILTIN_VOCABULARIES:
        spec, count = text, len(BUILTIN_VOCABULARIES[text])
    else:
        spec = re.split(r'[,\n]', text)
        count = len(spec)
        try:
            check_class_names(spec, 'vocabulary')
        except ValueError as exc:
            raise DemoInputError(one_line(exc)) from None
    if count > max_names:
        raise DemoInputError(f'vocabulary: {count} names, more than the limit of {max_names} '
                             f'(--max-names)')
    return spec


def check_score_thr(value) -> float:
    """The score threshold of a request, a number in [0, 1].

    Raises:
        DemoInputError: anything else.
    """
    try:
        thr = float(value)
    except (TypeError, ValueError):
        raise DemoInputError(f'score threshold: {value!r} is not a number') from None
    if not 0.0 <= thr <= 1.0:
        raise DemoInputError(f'score threshold: {thr} is outside [0, 1]')
    return thr


def decode_image(data: bytes, name: str, limits: DemoLimits) -> Tuple[np.ndarray, float,
                                                                       List[str]]:
    """Decodes an uploaded image file, refusing or downscaling large ones.

    Args:
        data: The file's bytes.
        name: Its name, for messages.
        limits: Size limits.

    Returns:
        ``(image, scale, notices)``: the ``(H, W, 3)`` BGR image (what mmdet's inferencer
        takes), the factor it was scaled by (1.0 when not) and notices for the page.

    Raises:
        DemoInputError: empty, not an image, corrupt, or more pixels than allowed.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError
    if not data:
        raise DemoInputError(f'image {name}: empty file')
    if len(data) > limits.max_upload_bytes:
        raise DemoInputError(f'image {name}: {len(data) / 2 ** 20:.1f} MB, larger than the '
                             f'limit of {limits.max_upload_bytes / 2 ** 20:g} MB '
                             f'(--max-upload-mb)', 413)
    too_large = (f'larger than the limit of {limits.max_image_pixels} pixels '
                 f'(--max-image-pixels); send a smaller image')
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as exc:  # PIL's own limit, far above ours
        pixels = re.search(r'\((\d+) pixels\)', str(exc))
        size = f'{pixels.group(1)} pixels, ' if pixels else ''
        raise DemoInputError(f'image {name}: {size}{too_large}', 413) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise DemoInputError(f'image {name}: not an image file (cannot be decoded as PNG, '
                             f'JPEG, BMP, WebP, TIFF...)') from None
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise DemoInputError(f'image {name}: {width} x {height} = {width * height} pixels, '
                             f'{too_large}', 413)
    try:
        image = ImageOps.exif_transpose(image).convert('RGB')  # as cv2 / mmcv.imread do
    except (OSError, ValueError, SyntaxError) as exc:
        raise DemoInputError(f'image {name}: corrupt image file ({one_line(exc)})') from None
    notices = []
    scale = 1.0
    side = max(image.size)
    if side > limits.max_image_side:
        scale = limits.max_image_side / side
        size = tuple(max(1, round(v * scale)) for v in image.size)
        notices.append(f'image resized from {image.size[0]} x {image.size[1]} to {size[0]} x '
                       f'{size[1]} pixels (--max-image-side {limits.max_image_side}); boxes are '
                       f'given in the original image\'s pixels')
        image = image.resize(size, Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(image)[..., ::-1]), scale, notices


def encode_png(rgb: np.ndarray) -> str:
    """An ``(H, W, 3)`` RGB drawing as base64 PNG text."""
    ok, encoded = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]),
                               [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError('cannot encode the drawing as PNG')
    return base64.b64encode(encoded.tobytes()).decode('ascii')


class DemoSession:
    """Runs an :class:`~ovdkit.apis.OVDInferencer` on the web demo's requests.

    Not thread-safe, like the inferencer: the server calls :meth:`detect` from one worker
    thread. The vocabulary of each request is installed with ``set_vocabulary`` (text
    embeddings through the embedding cache; nothing is rebuilt, and an unchanged vocabulary
    costs nothing).

    The embedding cache is bounded for the vocabularies visitors type: the files a typed
    vocabulary adds to the heads' cache folders are remembered, and beyond
    ``max_vocabularies`` such vocabularies the least recently used one's files are deleted
    (typed again, it is embedded again). Files that were there before, and those of a
    vocabulary installed with ``evictable=False`` (the initial one), are never deleted.

    Args:
        inferencer: The detector, loaded once.
        limits: What a request may ask for.
        max_vocabularies: Typed vocabularies whose cache files are kept (>= 1).
    """

    def __init__(self, inferencer, limits: DemoLimits = DemoLimits(),
                 max_vocabularies: int = 32) -> None:
        if max_vocabularies < 1:
            raise ValueError(f'max_vocabularies must be at least 1, got {max_vocabularies}')
        self.inferencer = inferencer
        self.limits = limits
        self.max_vocabularies = max_vocabularies
        #: Typed vocabularies (their entries), least recently used first, with the cache
        #: files each one added.
        self.cached: 'OrderedDict[Tuple[str, ...], Set[Path]]' = OrderedDict()

    @property
    def cache_dirs(self) -> List[Path]:
        """The cache folders the heads embed vocabularies in."""
        folders = []
        for _, head in getattr(self.inferencer, 'heads', ()):
            cfg = getattr(head, 'test_vocabulary_cfg', {})
            if 'model' in cfg and 'pretrained' in cfg:
                folder = Path(cache_dir_of(cfg))
                if folder not in folders:
                    folders.append(folder)
        return folders

    def detect(self, image: bytes, vocabulary: str, score_thr=0.3,
               image_name: str = 'image', exemplars=None) -> Dict:
        """Detects the vocabulary's names in an image file.

        Args:
            image: The image file's bytes (PNG, JPEG...).
            vocabulary: Comma-separated names or a builtin vocabulary's name (may be empty
                when ``exemplars`` gives classes).
            score_thr: Lowest score drawn and listed, in [0, 1].
            image_name: The file's name, for messages and the result.
            exemplars: Classes given by boxes drawn on this image ("find more like this"),
                after the names: ``[{"name", "boxes": [[x1, y1, x2, y2], ...],
                "use_name"}]``, boxes in the image's pixels
                (:func:`~ovdkit.apis.webdemo.drawn_examples.drawn_classes`).

        Returns:
            ``{'image', 'width', 'height', 'score_thr', 'vocabulary', 'detections',
            'drawing', 'notices'}``: ``detections`` as ``tools/demo.py`` writes them
            (``bbox`` x1, y1, x2, y2 in the image's pixels, ``score``, ``label``, ``name``),
            best first; ``drawing`` the image with boxes, names and scores as base64 PNG.

        Raises:
            DemoInputError: the image, vocabulary or threshold cannot be used (the message
                says which and why).
        """
        thr = check_score_thr(score_thr)
        drawn = exemplars is not None and exemplars != []
        typed = isinstance(vocabulary, str) and vocabulary.strip()
        spec = parse_vocabulary(vocabulary, self.limits.max_names) if typed or not drawn else []
        bgr, scale, notices = decode_image(image, image_name, self.limits)
        if drawn:
            try:
                classes = drawn_classes(exemplars, bgr, scale)
            except ValueError as exc:
                raise DemoInputError(one_line(exc)) from None
            spec = list(BUILTIN_VOCABULARIES[spec] if isinstance(spec, str) else spec) + classes
        names = self.use_vocabulary(spec)
        height, width = bgr.shape[:2]
        zoom = max(1, min(4, DRAWING_SIDE // max(height, width)))
        out = self.inferencer(bgr, pred_score_thr=thr, return_vis=True, no_save_pred=True,
                              zoom=zoom)
        prediction = out['predictions'][0]
        if scale != 1.0:
            prediction['bboxes'] = [[v / scale for v in box] for box in prediction['bboxes']]
        return dict(image=image_name, width=round(width / scale), height=round(height / scale),
                    score_thr=thr, vocabulary=list(names),
                    detections=detection_records(prediction, thr),
                    drawing=encode_png(out['visualization'][0]), notices=notices)

    def use_vocabulary(self, spec: Union[str, Sequence[str]],
                       evictable: bool = True) -> Tuple[str, ...]:
        """Installs a vocabulary; its problems (blank or duplicate names) as
        :class:`DemoInputError`.

        Args:
            spec: A builtin vocabulary's name or a list of entries.
            evictable: Count it among the typed vocabularies whose cache files are deleted
                when they are the least recently used beyond ``max_vocabularies``.
        """
        try:
            classes = resolve_vocabulary_classes(spec)
            before = self._cache_files()
            names = self.inferencer.set_vocabulary(spec)
        except (ValueError, FileNotFoundError, TypeError) as exc:
            raise DemoInputError(one_line(exc)) from None
        visual = [c for c in classes if isinstance(c, VisualClass)]
        # the names embedded as text: typed ones and those of drawn classes with use_name
        texts = tuple(c if isinstance(c, str) else c.name for c in classes
                      if isinstance(c, str) or c.use_name)
        # drawn boxes make a vocabulary of their own, kept under their boxes
        entries = texts + tuple(f'{c.name} := {image_sha256(c.exemplars[0])} '
                                f'{[list(box) for _, box in c.examples()]}' for c in visual)
        if evictable:
            new = self._cache_files() - before
            added = (self._files_of(texts, new) if texts else set()) | \
                self._exemplar_files(visual, new)
            self.cached.setdefault(entries, set()).update(added)
            self.cached.move_to_end(entries)
            while len(self.cached) > self.max_vocabularies:
                _, files = self.cached.popitem(last=False)
                for file in files:
                    file.unlink(missing_ok=True)
        return names

    @staticmethod
    def _exemplar_files(visual: Sequence[VisualClass], files: Set[Path]) -> Set[Path]:
        """Of new cache files, the example-box entries made for these classes."""
        labels = [[c.label] for c in visual]
        found = set()
        for sidecar in (f for f in files if f.suffix == '.json'):
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError):
                continue
            if meta.get('kind') == EXEMPLARS.name and meta.get('classes') in labels:
                found |= {sidecar, sidecar.with_suffix('.pt')}
        return found

    def _cache_files(self) -> Set[Path]:
        return {p for folder in self.cache_dirs if folder.is_dir() for p in folder.iterdir()}

    @staticmethod
    def _files_of(entries: Tuple[str, ...], files: Set[Path]) -> Set[Path]:
        """Of new cache files, the entries (``.pt`` and sidecar) made for these class entries
        (a pooled entry lists the entries, a token entry their synonyms): a file another
        process wrote meanwhile is not this vocabulary's to delete."""
        # negative entries are embedded after the names asked for, without their prefix
        positives, negatives = split_negative_entries(entries)
        rows = positives + negatives
        listings = [list(entries), list(rows),
                    [n for e in entries for n in e.split(SYNONYM_SEPARATOR)],
                    [n for e in rows for n in e.split(SYNONYM_SEPARATOR)]]
        found = set()
        for sidecar in (f for f in files if f.suffix == '.json'):
            try:
                classes = json.loads(sidecar.read_text()).get('classes')
            except (OSError, ValueError):
                continue
            if classes in listings:
                found |= {sidecar, sidecar.with_suffix('.pt')}
        return found
