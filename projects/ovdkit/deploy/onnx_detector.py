"""Runs an exported OVDKit detector with onnxruntime on any vocabulary of the same CLIP."""
import json
from pathlib import Path
from typing import Collection, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ..datasets.exemplar_classes import VisualClass, has_exemplars, resolve_vocabulary_classes
from ..datasets.negative_names import NEGATIVE_PREFIX, is_negative, split_negative_entries
from ..datasets.vocabularies import first_names, per_image_vocabularies, resolve_vocabulary_entries
from ..models.competing_names import TRAINING_VOCABULARY, ScoredRows, entry_names, with_references
from ..regions.exemplar_embeddings import ExemplarEmbedder, pipeline_prepare
from ..regions.exemplar_vocabulary import DEFAULT_TEXT_WEIGHT, vocabulary_class_embeddings
from ..text.embedding_cache import load_text_embeddings
from ..text.sidecar_cache import EmbeddingMismatchError
from ..text.vocabulary_embeddings import vocabulary_embeddings
from ..utils.hashing import file_sha256, weights_id
from .onnx_export import READABLE_FORMATS, SIDECAR_FORMAT, resolve_recorded_path, sidecar_path

ImageType = Union[str, np.ndarray]
#: ``reference_vocabulary`` default of :class:`ONNXDetector`: the setting the sidecar records.
SIDECAR = 'sidecar'


def default_reference_vocabulary(meta: Mapping, input_names: Collection[str]
                                 ) -> Optional[str]:
    """The ``reference_vocabulary`` of an :class:`ONNXDetector` not given one.

    The setting the sidecar records; if it records none, ``'train'`` for a graph with the
    ``report_mask`` input, and ``None`` (ViLD's scoring) for a graph without it: such a graph
    detects every row it is given, so reference rows would take NMS and ``max_per_img``
    detections from the names asked for before :meth:`ONNXDetector.__call__` drops theirs.

    Args:
        meta: The sidecar.
        input_names: The graph's input names.
    """
    if 'reference_vocabulary' in meta:
        return meta['reference_vocabulary']
    return TRAINING_VOCABULARY if 'report_mask' in input_names else None


class GraphVocabulary(NamedTuple):
    """A vocabulary's names and the graph inputs that score them (``R`` rows: the names
    asked for, then negative and reference names)."""

    classes: Tuple[str, ...]
    class_embeddings: np.ndarray  #: ``(R, D)`` float32
    base_mask: np.ndarray  #: ``(R,)`` 1 where the row's name is a training class
    report_mask: np.ndarray  #: ``(R,)`` 0 for rows that compete without being reported


class ONNXDetector:
    """An exported detector (``tools/deploy/export_onnx.py``) in an onnxruntime session.

    The vocabulary is an input of the graph: :meth:`set_vocabulary` swaps it through the same
    text-embedding cache as the PyTorch model (CLIP built only on a cache miss), for any
    number of names, without re-export. Images go through the config's test pipeline (from
    the sidecar) and the model's normalisation and padding, as mmdet's data preprocessor does.

    The CLIP weights file and the cache folder the sidecar records are found relative to the
    sidecar (or where they are, if recorded absolute): a folder holding the model, its CLIP
    file and cache runs wherever it is copied, from any working directory.

    Args:
        onnx_path: The ``.onnx`` file; its sidecar ``.json`` must sit beside it.
        clip_pretrained: Where the CLIP weights are here (a tag or a file) when embeddings
            must be computed; default: as recorded at export. Weights other than the ones the
            detector was trained against are refused.
        cache_dir: Text-embedding cache folder (default: as recorded at export).
        num_threads: onnxruntime intra-op threads (default: onnxruntime's choice).
        reference_vocabulary: Names that always compete in the softmax and are never
            reported (:mod:`ovdkit.models.competing_names`): ``'train'`` (the training
            vocabulary), a vocabulary spec, or ``None``; default: the exported head's setting
            (:func:`default_reference_vocabulary`: for a sidecar that does not say, ``'train'``
            if the graph has the ``report_mask`` input, else ``None``). ``'train'`` on a graph
            without ``report_mask`` scores the references, whose detections take part in the
            graph's NMS and ``max_per_img`` and are dropped afterwards.
        exemplar_crop_scales: Crop scales of example boxes (classes given by examples,
            docs/exemplars.md): the detector's region store's; ViLD's (1.0, 1.5) by default.
        exemplar_text_weight: Text weight of classes given by names and examples.

    Raises:
        FileNotFoundError: the graph or its sidecar is missing.
        ValueError: the sidecar does not describe this graph (other sha256, other format).
    """

    def __init__(self, onnx_path: Union[str, Path], clip_pretrained: Optional[str] = None,
                 cache_dir: Optional[str] = None, num_threads: Optional[int] = None,
                 reference_vocabulary=SIDECAR, exemplar_crop_scales=(1.0, 1.5),
                 exemplar_text_weight: float = DEFAULT_TEXT_WEIGHT) -> None:
        self.exemplar_crop_scales = tuple(exemplar_crop_scales)
        self.exemplar_text_weight = exemplar_text_weight
        import onnxruntime as ort
        self.onnx_path = Path(onnx_path)
        side = sidecar_path(self.onnx_path)
        for path in (self.onnx_path, side):
            if not path.is_file():
                raise FileNotFoundError(f'ONNX detector: {path} does not exist '
                                        f'(export with tools/deploy/export_onnx.py)')
        self.meta: Dict = json.loads(side.read_text())
        if self.meta.get('format') not in READABLE_FORMATS:
            raise ValueError(f'{side}: sidecar format {self.meta.get("format")!r}, expected '
                             f'{SIDECAR_FORMAT}; re-export the model')
        if self.meta['onnx_sha256'] != file_sha256(self.onnx_path):
            raise ValueError(f'{side} describes another graph than {self.onnx_path} '
                             f'(onnx_sha256 differs); re-export the model')
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = ort.InferenceSession(str(self.onnx_path), options,
                                            providers=['CPUExecutionProvider'])
        self.input_names = {i.name for i in self.session.get_inputs()}
        recorded = self.meta['clip_pretrained']
        if self.meta.get('clip_pretrained_is_file'):
            recorded = resolve_recorded_path(recorded, side, self.meta)
        self.clip_pretrained = clip_pretrained or recorded
        self._clip_given = bool(clip_pretrained)
        self.cache_dir = cache_dir or resolve_recorded_path(self.meta['cache_dir'], side,
                                                            self.meta)
        self._pipeline = None
        self.reference_vocabulary = default_reference_vocabulary(self.meta, self.input_names) \
            if reference_vocabulary == SIDECAR else reference_vocabulary
        self._reference_entries: Optional[Tuple[str, ...]] = None
        self._reference_embeddings = None
        self.classes: Tuple[str, ...] = ()
        self._vocabulary: Optional[GraphVocabulary] = None

    # -- vocabulary ------------------------------------------------------------------------
    def set_vocabulary(self, vocabulary, embeddings: Optional[str] = None) -> Tuple[str, ...]:
        """Installs a vocabulary (no re-export, no rebuild).

        Args:
            vocabulary: Anything :func:`ovdkit.datasets.resolve_vocabulary` takes; entries
                ``'-name'`` are negative names (scored, never reported). Negative and
                reference names are extra rows of the graph's class embeddings, marked 0 in
                its ``report_mask`` (a graph exported before that input existed detects them
                too, and :meth:`__call__` drops their detections; by default it has no
                reference names). The references are embedded only when one of them is not
                among the names asked for.
            embeddings: A stored embedding file (``tools/build_text_embeddings.py``) to use
                instead of the cache; its sidecar must list these names in this order (the
                names asked for, then the negative ones without their ``-``). Not with
                classes given by example boxes, whose rows are made here.

        Returns:
            The names in label order.

        Raises:
            EmbeddingMismatchError: the embeddings were made with another CLIP model or
                weights, or another dimension, than the detector's (the message names the
                field).
        """
        self._vocabulary = self._graph_vocabulary(vocabulary, embeddings)
        self.classes = self._vocabulary.classes
        return self.classes

    @property
    def vocabulary_inputs(self) -> Optional[GraphVocabulary]:
        """The graph inputs of the vocabulary in use (None before the first one is set)."""
        return self._vocabulary

    def _graph_vocabulary(self, vocabulary, embeddings: Optional[str] = None
                          ) -> GraphVocabulary:
        """The names of a vocabulary and the graph inputs that score them."""
        classes = resolve_vocabulary_classes(vocabulary)
        if has_exemplars(classes):
            if embeddings is not None:
                raise ValueError('ONNX detector: embeddings= holds text embeddings of names; '
                                 'classes given by example boxes are embedded here, drop it')
            rows = self._embed_classes(classes)
            names = tuple(n for n in rows.names if not is_negative(n))
            asked = tuple(c.name if isinstance(c, VisualClass) else c for c in classes)
        else:
            asked = classes
            positives, negatives = split_negative_entries(asked)
            entries = positives + negatives  # the names asked for keep their labels
            expected = dict(model=self.meta['clip_model'],
                            weights_id=self.meta['clip_weights_id'], dim=self.meta['embed_dim'],
                            classes=entries)
            if embeddings is not None:
                tensor, _ = load_text_embeddings(embeddings, expected=expected)
            else:
                tensor = self._embed(entries)
            names = first_names(positives)
            rows = ScoredRows(names + tuple(NEGATIVE_PREFIX + n for n in first_names(negatives)),
                              tensor.float())
        if self.reference_vocabulary is not None:
            # the references are embedded only when one of them competes
            rows = with_references(rows, asked, self._references(), self._reference_tensor)
        base = set(self.meta['train_classes'])
        return GraphVocabulary(
            tuple(names), rows.embeddings.numpy(),
            np.array([entry_names(n)[0] in base for n in rows.names], np.float32),
            np.array([not is_negative(n) for n in rows.names], np.float32))

    def _embed_classes(self, classes) -> ScoredRows:
        """Rows of a vocabulary with classes given by example boxes, with the detector's CLIP,
        cut from the images as the sidecar's test pipeline gives them."""
        self.check_clip_weights()
        cfg = dict(model=self.meta['clip_model'], pretrained=self.clip_pretrained,
                   templates=self.meta['templates'], cache_dir=self.cache_dir)
        embedder = ExemplarEmbedder(cfg['model'], self.clip_pretrained, self.exemplar_crop_scales,
                                    self.cache_dir, pipeline_prepare(self._steps()))
        names, tensor = vocabulary_class_embeddings(classes, cfg, embedder,
                                                    self.exemplar_text_weight)
        if tensor.shape[1] != self.meta['embed_dim']:
            raise EmbeddingMismatchError(
                f'ONNX detector {self.onnx_path}: \'dim\' of the class embeddings is '
                f'{tensor.shape[1]}, expected {self.meta["embed_dim"]}')
        return ScoredRows(names, tensor.float())

    def _references(self) -> Tuple[str, ...]:
        """The reference vocabulary's entries (from the sidecar or the spec: nothing is
        embedded)."""
        if self._reference_entries is None:
            spec = self.reference_vocabulary
            self._reference_entries = tuple(
                self.meta.get('train_entries', self.meta['train_classes'])) \
                if spec == TRAINING_VOCABULARY else resolve_vocabulary_entries(spec)
        return self._reference_entries

    def _reference_tensor(self):
        """The reference vocabulary's ``(K, D)`` embeddings (embedded once, on first need)."""
        if self._reference_embeddings is None:
            self._reference_embeddings = self._embed(self._references()).float()
        return self._reference_embeddings

    def check_clip_weights(self) -> None:
        """Checks that :attr:`clip_pretrained` holds the weights the detector was trained
        against.

        Raises:
            EmbeddingMismatchError: they differ, or the file the sidecar records is missing;
                the message says which weights it expected (the recorded file or tag and its
                ``weights_id``) and which it found.
        """
        expected = self.meta['clip_weights_id']
        found = weights_id(self.clip_pretrained)
        if found == expected:
            return
        wanted = f'{self.meta["clip_pretrained"]} (weights_id {expected})'
        if not self._clip_given and self.meta.get('clip_pretrained_is_file') and \
                not Path(self.clip_pretrained).is_file():
            where = ' (recorded relative to the sidecar)' if self.meta.get('paths') == \
                'relative' else ''
            raise EmbeddingMismatchError(
                f'ONNX detector {self.onnx_path}: CLIP weights file {self.clip_pretrained}'
                f'{where} does not exist; the detector expects {wanted}: put that file there, '
                f'or pass clip_pretrained= a file holding these weights')
        raise EmbeddingMismatchError(
            f'ONNX detector {self.onnx_path}: CLIP weights differ from the ones it was trained '
            f'against: expected {wanted}, found {self.clip_pretrained} (weights_id {found})')

    def _embed(self, entries: Sequence[str]):
        """``(C, D)`` embeddings of entries through the cache, with the detector's CLIP."""
        self.check_clip_weights()
        _, tensor = vocabulary_embeddings(dict(
            classes=entries, model=self.meta['clip_model'], pretrained=self.clip_pretrained,
            templates=self.meta['templates'], cache_dir=self.cache_dir))
        if tensor.shape[1] != self.meta['embed_dim']:
            raise EmbeddingMismatchError(
                f'ONNX detector {self.onnx_path}: \'dim\' of the text embeddings is '
                f'{tensor.shape[1]}, expected {self.meta["embed_dim"]}')
        return tensor

    # -- images ----------------------------------------------------------------------------
    @property
    def pipeline(self):
        """The config's test pipeline (loading and resizing), built on first use."""
        if self._pipeline is None:
            from mmcv.transforms import Compose
            from mmdet.utils import register_all_modules
            register_all_modules()
            self._pipeline = Compose(self._steps())
        return self._pipeline

    def _steps(self) -> List[Dict]:
        """The sidecar's pipeline with JSON's lists back as the tuples mmcv expects."""
        return [{k: tuple(v) if isinstance(v, list) else v for k, v in step.items()}
                for step in self.meta['test_pipeline']]

    def preprocess(self, image: ImageType, vocabulary: Optional[GraphVocabulary] = None
                   ) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
        """Graph inputs of one image and its ``(4,)`` box scale back to input pixels.

        Args:
            image: An image file or an ``(H, W, 3)`` BGR array.
            vocabulary: The vocabulary's graph inputs; default: the one in use.
        """
        vocabulary = vocabulary or self._vocabulary
        if isinstance(image, np.ndarray):
            steps = self._steps()
            steps[0] = dict(type='mmdet.LoadImageFromNDArray')
            from mmcv.transforms import Compose
            results = Compose(steps)(dict(img=image, img_id=0))
        else:
            results = self.pipeline(dict(img_path=str(image), img_id=0))
        img = results['inputs'].numpy() if 'inputs' in results else \
            results['img'].transpose(2, 0, 1)
        norm = self.meta['normalization']
        if norm['bgr_to_rgb']:
            img = img[[2, 1, 0]]
        img = (img.astype(np.float32) - np.float32(norm['mean'])[:, None, None]) / \
            np.float32(norm['std'])[:, None, None]
        h, w = img.shape[1:]
        div = norm['pad_size_divisor']
        padded = np.zeros((1, 3, -(-h // div) * div, -(-w // div) * div), np.float32)
        padded[0, :, :h, :w] = img
        sample = results.get('data_samples')
        meta = sample.metainfo if sample is not None else results
        img_h, img_w = meta['img_shape'][:2]
        sx, sy = meta['scale_factor']
        inputs = dict(image=padded, img_hw=np.array([img_h, img_w], np.float32),
                      class_embeddings=vocabulary.class_embeddings,
                      base_mask=vocabulary.base_mask, report_mask=vocabulary.report_mask)
        return ({k: v for k, v in inputs.items() if k in self.input_names},
                np.array([sx, sy, sx, sy], np.float32))

    def __call__(self, images: Union[ImageType, Sequence[ImageType]],
                 vocabulary=None) -> List[Dict]:
        """Detections of each image (all of them: the graph's ``score_thr`` applies).

        Args:
            images: An image (file or ``(H, W, 3)`` BGR array) or a list of them.
            vocabulary: The vocabulary to use from now on (``None``: the one in use); a list
                of lists is one vocabulary per image of the list
                (:func:`ovdkit.datasets.per_image_vocabularies`), each embedded once, and leaves
                the vocabulary in use as it was.

        Returns:
            Per image, ``bboxes`` (K, 4) in input pixels, ``scores`` (K,), ``labels`` (K,)
            and ``label_names``, best first.

        Raises:
            ValueError: no vocabulary, or per-image vocabularies whose number is not the
                number of images.
        """
        single = isinstance(images, (str, Path, np.ndarray))
        images = [images] if single else list(images)
        per_image = per_image_vocabularies(vocabulary, len(images))
        if per_image is not None:
            graphs: Dict[tuple, GraphVocabulary] = {}
            resolved = [resolve_vocabulary_classes(v) for v in per_image]
            for classes in resolved:
                graphs[classes] = graphs.get(classes) or self._graph_vocabulary(classes)
            vocabularies = [graphs[classes] for classes in resolved]
        else:
            if vocabulary is not None:
                self.set_vocabulary(vocabulary)
            if self._vocabulary is None:
                raise ValueError('ONNXDetector: no vocabulary; call set_vocabulary() first')
            vocabularies = [self._vocabulary] * len(images)
        out = []
        for image, vocab in zip(images, vocabularies):
            inputs, scale = self.preprocess(image, vocab)
            boxes, scores, labels = self.session.run(None, inputs)
            # graphs exported without report_mask detect every row: competing ones dropped here
            asked = labels < len(vocab.classes)
            boxes, scores, labels = boxes[asked], scores[asked], labels[asked]
            out.append(dict(bboxes=boxes / scale, scores=scores, labels=labels,
                            label_names=[vocab.classes[i] for i in labels]))
        return out[0] if single else out
