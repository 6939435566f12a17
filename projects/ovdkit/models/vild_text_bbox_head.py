"""ViLD-text: mmdet's Shared2FCBBoxHead classified by frozen CLIP text embeddings."""
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor

from ..datasets.negative_names import is_negative, kept_names
from ..datasets.vocabularies import resolve_vocabulary_entries
from ..text.vocabulary_embeddings import vocabulary_embeddings
from .competing_names import (TRAINING_VOCABULARY, ScoredRows, drop_competing_detections,
                              encode_rows, with_references)
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
    model needs neither CLIP nor the vocabulary files (:class:`OpenVocabularyHeadMixin`).

    Args:
        vocabulary: Training vocabulary config (``classes`` and ``model`` / ``pretrained`` /
            ``templates`` / ``cache_dir``, or ``path``). Its classes are the dataset's labels.
        embed_dim: CLIP embedding dimension ``D``.
        test_vocabulary: Evaluation vocabulary config; keys it lacks are taken from
            ``vocabulary``. Defaults to the training vocabulary.
        temperature: Logit temperature (ViLD: 0.01).
        reference_vocabulary: Names that always take part in the test-time softmax and are
            never reported (:mod:`ovdkit.models.competing_names`): ``'train'`` (the training
            vocabulary; default), any vocabulary spec, or ``None`` (only the names asked for,
            ViLD's scoring). Negative names (``'-zebra'``) of a vocabulary compete the same way.
        **kwargs: ``Shared2FCBBoxHead`` arguments. ``num_classes`` is ignored (inherited
            mmdet configs say 80; the vocabularies decide) and ``reg_class_agnostic`` is
            always True.
    """

    def __init__(self, vocabulary: Mapping, embed_dim: int,
                 test_vocabulary: Optional[Mapping] = None, temperature: float = 0.01,
                 reference_vocabulary: Optional[Union[str, Sequence[str]]] = TRAINING_VOCABULARY,
                 **kwargs) -> None:
        kwargs['cls_predictor_cfg'] = dict(type='TextEmbeddingClassifier', embed_dim=embed_dim,
                                           temperature=temperature)
        super().__init__(**self._mmdet_kwargs(kwargs))
        self._init_vocabularies(vocabulary, test_vocabulary)
        self.set_reference_vocabulary(reference_vocabulary)

    def set_reference_vocabulary(self, spec: Optional[Union[str, Sequence[str]]]) -> None:
        """Sets the names that always compete at test time (``'train'``, a spec or None)."""
        self.reference_vocabulary = spec
        self._reference_names: Optional[Tuple[str, ...]] = None
        self._references: Optional[Tuple[Tuple[str, ...], Tensor]] = None
        self.scored_names: Tuple[str, ...] = ()
        self._installed = None

    def _reference_cfg(self) -> Dict:
        """The reference vocabulary's config: the training vocabulary's, or the spec with the
        test vocabulary's CLIP settings (without its ``path``)."""
        if self.reference_vocabulary == TRAINING_VOCABULARY:
            return dict(self.vocabulary_cfg)
        cfg = {k: v for k, v in self.test_vocabulary_cfg.items() if k != 'path'}
        cfg['classes'] = self.reference_vocabulary
        return cfg

    def _reference_entries(self) -> Tuple[str, ...]:
        """The reference vocabulary's entries, resolved from the names alone (nothing is
        encoded)."""
        if self._references is not None:
            return self._references[0]
        if self._reference_names is None:
            self._reference_names = resolve_vocabulary_entries(self._reference_cfg()['classes'])
        return self._reference_names

    def _reference_embeddings(self) -> Tensor:
        """The reference vocabulary's ``(K, D)`` embeddings (encoded once, on first need)."""
        if self._references is None:
            cfg = self._reference_cfg()
            _, embeddings = vocabulary_embeddings(cfg)
            self._references = (resolve_vocabulary_entries(cfg['classes']), embeddings)
        return self._references[1]

    def encode_vocabulary(self, cfg: Mapping) -> Tuple[Tuple[str, ...], Tensor]:
        """Row names and ``(C + N, D)`` text embeddings, through
        :func:`ovdkit.text.vocabulary_embeddings.vocabulary_embeddings`: the names asked for,
        then the N negative ones (``'-zebra'``)."""
        return encode_rows(cfg, vocabulary_embeddings)

    def prepare_vocabulary(self, names: Sequence[str], embeddings: Tensor,
                           source: str) -> ScoredRows:
        """Checks the embeddings' count and dimension against the names and the head; rows of
        negative names (``'-zebra'``) go after the others."""
        if len(names) != len(embeddings):
            raise ValueError(f'{len(names)} class names but {len(embeddings)} embeddings')
        if embeddings.ndim != 2 or embeddings.shape[1] != self.fc_cls.projection.out_features:
            raise ValueError(
                f'{type(self).__name__}: text embeddings of dimension {embeddings.shape[-1]} '
                f'({source}) do not match the head\'s embed_dim '
                f'{self.fc_cls.projection.out_features}')
        # the names asked for first: their labels are their indices among themselves
        order = sorted(range(len(names)), key=lambda i: is_negative(names[i]))
        return ScoredRows(tuple(names[i] for i in order), embeddings[order])

    def install_vocabulary(self, rows: ScoredRows) -> None:
        """Installs the rows' text embeddings in the classifier; at test time the reference
        names that compete with them come after them."""
        if self.training and len(kept_names(rows.names)) != len(rows.names):
            raise ValueError(f'{type(self).__name__}: the training vocabulary '
                             f'{self.vocabulary_cfg.get("classes")!r} has negative names '
                             f'({[n for n in rows.names if is_negative(n)][:3]}); its names are '
                             f'the dataset\'s labels, give negative names at test time only')
        if not self.training and self.reference_vocabulary is not None:
            # the references are encoded only when one of them competes
            rows = with_references(rows, resolve_vocabulary_entries(
                self.test_vocabulary_cfg['classes']), self._reference_entries(),
                self._reference_embeddings)
        self.scored_names = rows.names
        self.fc_cls.set_class_embeddings(rows.embeddings)

    def label_columns(self, num_classes: int) -> Tensor:
        """``(C, C + 1)``: class ``c`` owns logit column ``c`` (the last is background)."""
        return torch.eye(num_classes, num_classes + 1,
                         device=self.fc_cls.class_embeddings.device)

    def _predict_by_feat_single(self, roi: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                                img_meta: dict, rescale: bool = False,
                                rcnn_test_cfg=None) -> InstanceData:
        """The mixin's post-processing; without NMS (``rcnn_test_cfg=None``) the competing
        rows' probabilities are added to the background's."""
        results = super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta, rescale,
                                                  rcnn_test_cfg)
        return drop_competing_detections(results, self.num_classes)

    def reported_scores(self, scores: Tensor) -> Tensor:
        """The names asked for and the background: the competing rows' pairs (negative and
        reference names) never enter the NMS; the names' probabilities are the softmax over
        every scored row."""
        return drop_competing_detections(InstanceData(scores=scores), self.num_classes).scores
