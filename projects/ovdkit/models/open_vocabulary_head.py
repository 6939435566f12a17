"""The vocabulary mechanism shared by OVDKit's open-vocabulary box heads."""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..datasets.negative_names import is_negative, kept_names
from ..datasets.vocabularies import first_names, resolve_vocabulary, resolve_vocabulary_entries
from .bbox_nms import shared_box_multiclass_nms


class OpenVocabularyHeadMixin:
    """Training / test vocabularies of a box head whose classifier is text, not weights.

    Put it before mmdet's head class (``class H(OpenVocabularyHeadMixin, Shared2FCBBoxHead)``),
    pass mmdet's arguments through :meth:`_mmdet_kwargs` to ``super().__init__`` and call
    :meth:`_init_vocabularies` after it. A head then supplies only how a vocabulary is encoded
    and installed:

    - :meth:`encode_vocabulary`: a vocabulary config -> (names, what CLIP makes of them);
    - :meth:`prepare_vocabulary`: checks that against the head and puts it in the form the
      classifier takes (errors name the head and ``source``);
    - :meth:`install_vocabulary`: puts it into the classifier.

    The rest is here once: the vocabularies are resolved on first use (building a model needs
    no CLIP and no vocabulary file), ``train()`` mode uses the training vocabulary (the
    dataset's labels) and ``eval()`` mode the test vocabulary, which :meth:`use_vocabulary`
    and :meth:`set_test_vocabulary` swap in place. ``num_classes`` follows the vocabulary in
    use; mmdet reads it to place the background label and size predictions. Post-processing
    runs :func:`~ovdkit.models.bbox_nms.shared_box_multiclass_nms`, so its cost hardly grows
    with the vocabulary (class-agnostic boxes are not repeated per class).
    """

    @staticmethod
    def _mmdet_kwargs(kwargs: Mapping) -> Dict:
        """mmdet's head arguments with those the vocabularies decide fixed: ``num_classes``
        is a placeholder of one (inherited mmdet configs say 80) and box regression is
        class-agnostic (the classes are open)."""
        return dict(kwargs, num_classes=1, reg_class_agnostic=True)

    def _init_vocabularies(self, vocabulary: Mapping,
                           test_vocabulary: Optional[Mapping] = None) -> None:
        """Records the vocabulary configs (after mmdet has built the head).

        The test vocabulary inherits the training one's keys (CLIP model, weights, templates,
        cache) except its ``path`` when it names its own ``classes``.
        """
        self.vocabulary_cfg = dict(vocabulary)
        test_vocabulary = dict(test_vocabulary or {})
        inherited = dict(vocabulary)
        if 'classes' in test_vocabulary and 'path' not in test_vocabulary:
            # A `path` file holds the embeddings of the training names: test names given
            # without their own file come through the CLIP weights, never from that file.
            inherited.pop('path', None)
        self.test_vocabulary_cfg = dict(inherited, **test_vocabulary)
        self._classes: Dict[str, Tuple[str, ...]] = {}
        self._encoded: Dict[str, Any] = {}
        self._installed: Optional[str] = None

    # --- what a head supplies ---------------------------------------------------------------

    def encode_vocabulary(self, cfg: Mapping) -> Tuple[Tuple[str, ...], Any]:
        """The ordered names of a vocabulary config and what CLIP makes of them."""
        raise NotImplementedError

    def prepare_vocabulary(self, names: Sequence[str], encoded: Any, source: str) -> Any:
        """Checks ``encoded`` against the head (``source`` names it in errors) and returns it in
        the form :meth:`install_vocabulary` takes."""
        return encoded

    def install_vocabulary(self, prepared: Any) -> None:
        """Puts a prepared vocabulary into the classifier."""
        raise NotImplementedError

    # --- the mechanism ------------------------------------------------------------------

    def _mode(self) -> str:
        return 'train' if self.training else 'test'

    def _cfg_of(self, mode: str) -> Dict:
        return self.vocabulary_cfg if mode == 'train' else self.test_vocabulary_cfg

    def _classes_of(self, mode: str) -> Tuple[str, ...]:
        if mode not in self._classes:
            self._classes[mode] = kept_names(resolve_vocabulary(self._cfg_of(mode)['classes']))
        return self._classes[mode]

    @property
    def train_classes(self) -> Tuple[str, ...]:
        """Names of the training vocabulary (the dataset's labels)."""
        return self._classes_of('train')

    @property
    def test_classes(self) -> Tuple[str, ...]:
        """Names of the evaluation vocabulary."""
        return self._classes_of('test')

    @property
    def num_classes(self) -> int:
        """Classes of the vocabulary in use (training or test), background excluded.

        mmdet's ``BBoxHead.__init__`` assigns ``num_classes`` and sizes its layers from it, so
        the property needs a setter: it records mmdet's placeholder (one class), which stands
        while mmdet builds the head; once the vocabularies are recorded they decide.
        """
        if 'vocabulary_cfg' not in self.__dict__:
            return self.__dict__['_mmdet_num_classes']
        return len(self._classes_of(self._mode()))

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self.__dict__['_mmdet_num_classes'] = value

    def _set_vocabulary(self, mode: str, names: Sequence[str], prepared: Any) -> None:
        self._classes[mode] = kept_names(names)  # negative names are scored, never reported
        self._encoded[mode] = prepared
        if self._installed == mode:
            self._installed = None

    def set_test_vocabulary(self, classes: Sequence[str], encoded: Any) -> None:
        """Swaps the evaluation vocabulary in place.

        Args:
            classes: C names.
            encoded: What :meth:`encode_vocabulary` returns for them (text embeddings
                ``(C, D)`` for ViLD; token features for grounding), in the same order.
        """
        prepared = self.prepare_vocabulary(classes, encoded, 'set_test_vocabulary')
        self._set_vocabulary('test', classes, prepared)
        self.test_vocabulary_cfg = dict(self.test_vocabulary_cfg, classes=tuple(classes))

    def use_vocabulary(self, classes) -> Tuple[str, ...]:
        """Makes ``classes`` the evaluation vocabulary, encoded like ``test_vocabulary``.

        The encoding comes through the sidecar cache with the test vocabulary's model,
        weights and cache folder (CLIP's text tower is built at most once per process).
        :class:`ovdkit.apis.OVDInferencer` calls this on every open-vocabulary head.

        Args:
            classes: Anything :func:`ovdkit.datasets.resolve_vocabulary` takes.

        Returns:
            The resolved names, in order.

        Raises:
            ValueError: the encoding's dimension differs from the head's ``embed_dim``.
        """
        cfg = {k: v for k, v in self.test_vocabulary_cfg.items() if k != 'path'}
        names, encoded = self.encode_vocabulary(dict(cfg, classes=classes))
        self._set_vocabulary('test', names, self.prepare_vocabulary(
            names, encoded, str(cfg.get('model'))))
        # keeps the synonyms: the config re-resolves to the same encoding
        self.test_vocabulary_cfg = dict(self.test_vocabulary_cfg,
                                        classes=resolve_vocabulary_entries(classes))
        return kept_names(names)

    #: Attributes besides the test vocabulary's names and encoding that describe it (a head
    #: that keeps more, such as a caption in use, adds their names).
    test_vocabulary_attributes: Tuple[str, ...] = ('test_vocabulary_cfg', )

    def test_vocabulary_state(self) -> Dict[str, Any]:
        """The evaluation vocabulary in use, as :meth:`restore_test_vocabulary_state` takes it
        back: a swap that re-encodes nothing (one batch, a vocabulary per image)."""
        state = {name: getattr(self, name, None) for name in self.test_vocabulary_attributes}
        state['_classes'] = self._classes.get('test')
        state['_encoded'] = self._encoded.get('test')
        return state

    def restore_test_vocabulary_state(self, state: Mapping[str, Any]) -> None:
        """Makes a vocabulary saved by :meth:`test_vocabulary_state` the evaluation one again;
        it is installed in the classifier on the next eval forward."""
        for name in self.test_vocabulary_attributes:
            setattr(self, name, state[name])
        for store in ('_classes', '_encoded'):
            if state[store] is None:
                getattr(self, store).pop('test', None)
            else:
                getattr(self, store)['test'] = state[store]
        if self._installed == 'test':
            self._installed = None

    def _ensure_vocabulary(self) -> None:
        """Installs the vocabulary of the current mode, encoding it on first use."""
        mode = self._mode()
        if self._installed == mode:
            return
        if mode not in self._encoded:
            cfg = self._cfg_of(mode)
            names, encoded = self.encode_vocabulary(cfg)
            source = str(cfg.get('path') or cfg.get('model'))
            self._set_vocabulary(mode, names, self.prepare_vocabulary(names, encoded, source))
        self.install_vocabulary(self._encoded[mode])
        self._installed = mode

    def label_columns(self, num_classes: int) -> Tensor:
        """``(C, K)`` binary map of the installed vocabulary: the columns of ``cls_score``
        that class ``c`` owns (a softmax head: column ``c``; grounding: its tokens)."""
        raise NotImplementedError

    def image_label_logits(self, x: Tensor, vocabulary: Mapping
                           ) -> Tuple[Tuple[str, ...], Tensor, Tensor]:
        """Training-mode logits of RoI features against an image-label vocabulary.

        The vocabulary (Detic trains image labels against every class, novel ones included)
        inherits the training vocabulary's CLIP keys except its ``path``; it is encoded on
        first use and kept. It is installed only for this call: the next forward installs
        the vocabulary of its mode again.

        Args:
            x: ``(N, in_channels, roi_size, roi_size)`` RoI features.
            vocabulary: Vocabulary config (``classes``; other keys override the training
                vocabulary's).

        Returns:
            The C class names (each entry's first name), ``(N, K)`` logits and the ``(C, K)``
            map of the columns each class owns (:meth:`label_columns`).

        Raises:
            ValueError: negative names in the vocabulary.
        """
        cfg = {k: v for k, v in self.vocabulary_cfg.items() if k != 'path'}
        cfg.update(vocabulary)
        key = repr(sorted((k, repr(v)) for k, v in cfg.items()))
        cache = self.__dict__.setdefault('_image_label_vocabularies', {})
        if key not in cache:
            names, encoded = self.encode_vocabulary(cfg)
            negative = [n for n in names if is_negative(n)]
            if negative:
                raise ValueError(f'{type(self).__name__}: the image-label vocabulary has '
                                 f'negative names ({negative[:3]}); image labels name classes')
            cache[key] = (first_names(names), self.prepare_vocabulary(
                names, encoded, f'image-label vocabulary {cfg.get("classes")!r}'))
        names, prepared = cache[key]
        self.install_vocabulary(prepared)
        self._installed = None
        # mmdet's forward of the head class below the mixin, with this vocabulary installed
        cls_score, _ = super(OpenVocabularyHeadMixin, self).forward(x)
        return names, cls_score, self.label_columns(len(names))

    def forward(self, x: Tensor) -> tuple:
        """mmdet's forward with the vocabulary in use installed first."""
        self._ensure_vocabulary()
        return super().forward(x)

    def reported_scores(self, scores: Tensor) -> Tensor:
        """The ``(N, C + 1)`` probabilities the NMS picks detections from, of ``(N, R + 1)``
        scored rows (``R = C`` unless a head scores rows it never reports)."""
        return scores

    def _predict_by_feat_single(self, roi: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                                img_meta: dict, rescale: bool = False,
                                rcnn_test_cfg=None) -> InstanceData:
        """mmdet's post-processing with :func:`shared_box_multiclass_nms` as the NMS.

        mmdet decodes and rescales the class-agnostic boxes (its path without NMS, asked for
        with ``rcnn_test_cfg=None``); the NMS then costs about the same for 65 or 1203 names.

        Returns:
            ``bboxes (K, 4)``, ``scores (K,)``, ``labels (K,)``, as mmdet's.
        """
        if rcnn_test_cfg is None or roi.shape[0] == 0:
            return super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta,
                                                   rescale, rcnn_test_cfg)
        results = super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta,
                                                  rescale, None)
        dets, labels = shared_box_multiclass_nms(results.bboxes,
                                                 self.reported_scores(results.scores),
                                                 rcnn_test_cfg.score_thr, rcnn_test_cfg.nms,
                                                 rcnn_test_cfg.max_per_img)
        out = InstanceData()
        out.bboxes, out.scores, out.labels = dets[:, :-1], dets[:, -1], labels
        return out


def open_vocabulary_heads(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The outermost modules of ``model`` with a ``use_vocabulary(classes)`` method.

    That method is the contract of every OVDKit open-vocabulary head (ViLD-text, ViLD,
    grounding); a head nested inside another one is reached through its parent.

    Returns:
        ``(name, module)`` pairs in module order.
    """
    heads: List[Tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if callable(getattr(module, 'use_vocabulary', None)) and not any(
                name.startswith(parent + '.') for parent, _ in heads):
            heads.append((name, module))
    return heads
