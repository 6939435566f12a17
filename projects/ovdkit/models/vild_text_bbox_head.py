"""ViLD-text: mmdet's Shared2FCBBoxHead classified by frozen CLIP text embeddings."""
from typing import Mapping, Optional, Sequence, Tuple

from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS
from torch import Tensor

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
    model needs neither CLIP nor the vocabulary files (:class:`OpenVocabularyHeadMixin`).

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
        kwargs['cls_predictor_cfg'] = dict(type='TextEmbeddingClassifier', embed_dim=embed_dim,
                                           temperature=temperature)
        super().__init__(**self._mmdet_kwargs(kwargs))
        self._init_vocabularies(vocabulary, test_vocabulary)

    def encode_vocabulary(self, cfg: Mapping) -> Tuple[Tuple[str, ...], Tensor]:
        """Names and ``(C, D)`` text embeddings, through
        :func:`ovdkit.text.vocabulary_embeddings.vocabulary_embeddings`."""
        return vocabulary_embeddings(cfg)

    def prepare_vocabulary(self, names: Sequence[str], embeddings: Tensor,
                           source: str) -> Tensor:
        """Checks the embeddings' count and dimension against the names and the head."""
        if len(names) != len(embeddings):
            raise ValueError(f'{len(names)} class names but {len(embeddings)} embeddings')
        if embeddings.ndim != 2 or embeddings.shape[1] != self.fc_cls.projection.out_features:
            raise ValueError(
                f'{type(self).__name__}: text embeddings of dimension {embeddings.shape[-1]} '
                f'({source}) do not match the head\'s embed_dim '
                f'{self.fc_cls.projection.out_features}')
        return embeddings

    def install_vocabulary(self, embeddings: Tensor) -> None:
        """Installs ``(C, D)`` text embeddings in the classifier."""
        self.fc_cls.set_class_embeddings(embeddings)
