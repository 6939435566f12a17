"""ViLD-text: mmdet's Shared2FCBBoxHead classified by frozen CLIP text embeddings."""
from typing import Mapping, Optional, Sequence, Tuple

from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS
from torch import Tensor

from ..datasets.vocabularies import resolve_vocabulary_entries
from ..text.vocabulary_embeddings import vocabulary_embeddings
from .open_vocabulary_head import OpenVocabularyHeadMixin


@MODELS.register_module()
class ViLDTextBBoxHead(OpenVocabularyHeadMixin, Shared2FCBBoxHead):
    """Shared2FC box head whose classifier is a :class:`TextEmbeddingClassifier`.

    Only the classification branch differs from mmdet's head: region features are projected to
    the CLIP space, normalised, and scored by cosine similarity with the vocabulary's text
    embeddings / temperature, plus a learned background embedding. Box regression is
    class-agnostic.

    Training runs the softmax over the *training* vocabulary (the base classes) + background
    only; novel classes are never targets. Evaluation (``eval()`` mode) uses the *test*
    vocabulary, which :meth:`set_test_vocabulary` swaps without rebuilding the model. Text
    embeddings are non-persistent buffers: checkpoints hold none, so a checkpoint trained with
    one vocabulary loads with any other. Class names and embeddings are resolved on first use
    (through :func:`ovdkit.text.vocabulary_embeddings.vocabulary_embeddings`), so building the
    model needs neither CLIP nor the vocabulary files.

    Args:
        vocabulary: Training vocabulary config (``classes`` and ``model`` / ``pretrained`` /
            ``templates`` / ``cache_dir``, or ``path``). Its classes are the dataset's labels.
        embed_dim: CLIP embedding dimension ``D``.
        test_vocabulary: Evaluation vocabulary config; keys it lacks are taken from
            ``vocabulary``. Defaults to the training vocabulary.
        temperature: Logit temperature (ViLD: 0.01).
        **kwargs: ``Shared2FCBBoxHead`` arguments. ``num_classes`` is ignored (inherited
            mmdet configs say 80; the vocabularies decide) and ``reg_class_agnostic`` is
            always True.
    """

    def __init__(self, vocabulary: Mapping, embed_dim: int,
                 test_vocabulary: Optional[Mapping] = None, temperature: float = 0.01,
                 **kwargs) -> None:
        self._init_vocabularies(vocabulary, test_vocabulary, kwargs)
        kwargs['cls_predictor_cfg'] = dict(type='TextEmbeddingClassifier', embed_dim=embed_dim,
                                           temperature=temperature)
        super().__init__(num_classes=1, **kwargs)
        self._building = False

    def set_test_vocabulary(self, classes: Sequence[str], embeddings: Tensor) -> None:
        """Swaps the evaluation vocabulary in place.

        Args:
            classes: C names.
            embeddings: ``(C, D)`` text embeddings in the same order.
        """
        if len(classes) != len(embeddings):
            raise ValueError(f'{len(classes)} class names but {len(embeddings)} embeddings')
        self._test_classes = tuple(classes)
        self._test_embeddings = embeddings
        self.test_vocabulary_cfg = dict(self.test_vocabulary_cfg, classes=tuple(classes))
        self._loaded = None

    def use_vocabulary(self, classes) -> Tuple[str, ...]:
        """Makes ``classes`` the evaluation vocabulary, embedded like ``test_vocabulary``.

        The text embeddings come through the vocabulary cache with the test vocabulary's
        model, weights, templates and cache folder (CLIP is built at most once per process).
        This is the method :class:`ovdkit.apis.OVDInferencer` calls on every open-vocabulary
        head.

        Args:
            classes: Anything :func:`ovdkit.datasets.resolve_vocabulary` takes.

        Returns:
            The resolved names, in order.

        Raises:
            ValueError: the embeddings' dimension differs from the head's ``embed_dim``.
        """
        cfg = {k: v for k, v in self.test_vocabulary_cfg.items() if k != 'path'}
        names, embeddings = vocabulary_embeddings(dict(cfg, classes=classes))
        if embeddings.shape[1] != self.fc_cls.projection.out_features:
            raise ValueError(
                f'{type(self).__name__}: text embeddings of dimension {embeddings.shape[1]} '
                f'({cfg.get("model")}) do not match the head\'s embed_dim '
                f'{self.fc_cls.projection.out_features}')
        self.set_test_vocabulary(names, embeddings)
        # keeps the synonyms: the config re-resolves to these embeddings
        self.test_vocabulary_cfg = dict(self.test_vocabulary_cfg,
                                        classes=resolve_vocabulary_entries(classes))
        return names

    def _ensure_embeddings(self) -> None:
        mode = 'train' if self.training else 'test'
        if self._loaded == mode:
            return
        if mode == 'train':
            if not hasattr(self, '_train_embeddings'):
                _, self._train_embeddings = vocabulary_embeddings(self.vocabulary_cfg)
            embeddings = self._train_embeddings
        else:
            if not hasattr(self, '_test_embeddings'):
                _, self._test_embeddings = vocabulary_embeddings(self.test_vocabulary_cfg)
            embeddings = self._test_embeddings
        self.fc_cls.set_class_embeddings(embeddings)
        self._loaded = mode

    def forward(self, x: Tuple[Tensor]) -> tuple:
        """mmdet's forward, with the vocabulary in use installed first.

        Returns:
            cls_score ``(N, C + 1)`` and class-agnostic bbox_pred ``(N, 4)``.
        """
        self._ensure_embeddings()
        return super().forward(x)
