"""GLIP-style grounding: mmdet's Shared2FCBBoxHead classified by region-word alignment."""
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS
from torch import Tensor

from ..datasets.negative_names import is_negative
from ..datasets.vocabularies import resolve_vocabulary_entries
from ..text.caption_phrases import (CaptionPhrases, PhraseType, caption_token_features,
                                    caption_tokens, parse_caption_phrases)
from ..text.sidecar_cache import shared_encoder_pool
from ..text.token_feature_cache import encode_vocabulary_tokens
from ..text.vocabulary_embeddings import vocabulary_token_features
from .grounding_positive_map import CLASS_TOKENS, flatten_prompt_tokens
from .grounding_region_word_aligner import RegionWordAligner
from .grounding_token_loss import GroundingTokenLoss
from .open_vocabulary_head import OpenVocabularyHeadMixin

#: GLIP's token loss.
DEFAULT_TOKEN_LOSS = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0)


@MODELS.register_module()
class GroundingBBoxHead(OpenVocabularyHeadMixin, Shared2FCBBoxHead):
    """Shared2FC box head that grounds regions in the words of a vocabulary prompt (GLIP).

    The vocabulary becomes the prompt ``"person. bicycle. traffic light. ..."`` (split into
    chunks that fit the text context), whose per-token features come from the frozen CLIP text
    tower and are cached on disk (:mod:`ovdkit.text.token_feature_cache`). Region features are
    projected to CLIP's space and normalised; a :class:`RegionWordAligner` scores every region
    against every token (``cos / temperature + bias``), optionally after a cross-attention in
    which regions attend to the tokens (``fusion``). Each class owns tokens of its prompt (the
    positive map), chosen by ``class_tokens``: every token of its name (GLIP), its last one,
    or its prompt's end-of-text token; other tokens are not scored. A class with synonyms
    (``'television|tv'``) owns one span per synonym. Training: a sigmoid focal loss (or BCE)
    over tokens, the positives of a foreground region being the tokens of its class (all its
    synonyms), normalised by the number of foreground regions. Evaluation: a span's score is
    the mean of its tokens' probabilities, a class's the best of its spans. Box regression is
    class-agnostic. :meth:`use_caption` grounds the phrases of a free-form caption instead.

    In ``train()`` mode the head uses the training vocabulary (the dataset's labels) and its
    ``cls_score`` is token logits ``(N, T)``; in ``eval()`` mode it uses the test vocabulary,
    swappable with :meth:`use_vocabulary`, and ``cls_score`` is class probabilities
    ``(N, C + 1)`` (last column: 1 - the best class probability, mmdet's background slot).
    Token features are non-persistent buffers: a checkpoint loads with any vocabulary.
    Vocabularies are resolved on first use, so building the model needs no CLIP.

    Args:
        vocabulary: Training vocabulary config (``classes`` and ``model`` / ``pretrained`` /
            ``cache_dir``, or ``path`` of a token-feature file); ``templates`` is accepted and
            unused (the prompt is the names themselves).
        embed_dim: CLIP embedding dimension ``D``.
        test_vocabulary: Evaluation vocabulary config; keys it lacks come from ``vocabulary``.
        temperature: Alignment logit temperature.
        prior_prob: Initial token probability (GLIP: 0.01).
        fusion: ``None`` (no deep fusion) or :class:`RegionWordFusion` arguments, e.g.
            ``dict(num_heads=4, layer_scale=0.1)``.
        names_per_prompt: At most this many names a prompt; ``1`` (the default, and every
            shipped config's) encodes every name alone; ``None``: one prompt holds as many
            names as fit (GLIP). CLIP's text tower is causal, so a name's token features depend
            on the names before it in its prompt: with joint prompts a base name reads
            differently in the training prompt (base names) and in the test prompt (all names;
            on the toy world that cost 11 novel AP50 points); one name a prompt makes its
            features vocabulary-independent.
        class_tokens: Which tokens carry a class's score (and are its training positives):
            ``'name'`` (GLIP: every token of the name, score = their mean), ``'last'`` (the
            name's last token, which in CLIP's causal tower has read the whole name) or
            ``'eot'`` (the prompt's end-of-text token, CLIP's pooled text token; needs
            ``names_per_prompt=1``). See :func:`flatten_prompt_tokens`.
        token_bias: Learn GLIP's token-dependent bias (see :class:`RegionWordAligner`).
        caption_context: How :meth:`use_caption` encodes a caption's phrases: ``'phrase'``
            (the default) encodes each phrase alone, like a class name; ``'caption'`` encodes
            the caption whole, so a phrase's tokens also read the words before it (GLIP, whose
            BERT reads both ways). CLIP's tower is causal: a later phrase reads the earlier
            ones, and on the toy world its boxes went to whichever phrase came later or
            earlier (assignment at chance), see docs/grounding.md.
        loss_cls: Token loss: a sigmoid loss (``FocalLoss`` or ``CrossEntropyLoss`` with
            ``use_sigmoid=True``). Inherited mmdet configs carry a softmax loss: replace it
            (``_delete_=True``).
        **kwargs: ``Shared2FCBBoxHead`` arguments. ``num_classes`` is ignored (the vocabularies
            decide) and ``reg_class_agnostic`` is always True.
    """

    test_vocabulary_attributes = ('test_vocabulary_cfg', 'caption')

    def __init__(self, vocabulary: Mapping, embed_dim: int,
                 test_vocabulary: Optional[Mapping] = None, temperature: float = 0.02,
                 prior_prob: float = 0.01, fusion: Optional[Mapping] = None,
                 names_per_prompt: Optional[int] = 1, class_tokens: str = 'name',
                 caption_context: str = 'phrase', token_bias: bool = True,
                 loss_cls: Mapping = DEFAULT_TOKEN_LOSS, **kwargs) -> None:
        if class_tokens not in CLASS_TOKENS:
            raise ValueError(f'{type(self).__name__}: class_tokens must be one of '
                             f'{CLASS_TOKENS}, got {class_tokens!r}')
        if class_tokens == 'eot' and names_per_prompt != 1:
            raise ValueError(f"{type(self).__name__}: class_tokens='eot' scores each prompt's "
                             f'end-of-text token, so it needs names_per_prompt=1, got '
                             f'{names_per_prompt}')
        kwargs['cls_predictor_cfg'] = dict(
            type=RegionWordAligner.__name__, embed_dim=embed_dim, temperature=temperature,
            prior_prob=prior_prob, fusion=dict(fusion) if fusion is not None else None,
            token_bias=token_bias)
        kwargs['loss_cls'] = dict(type=GroundingTokenLoss.__name__, loss=dict(loss_cls))
        super().__init__(**self._mmdet_kwargs(kwargs))
        self.names_per_prompt = names_per_prompt
        self.class_tokens = class_tokens
        if caption_context not in ('phrase', 'caption'):
            raise ValueError(f"{type(self).__name__}: caption_context must be 'phrase' or "
                             f"'caption', got {caption_context!r}")
        self.caption_context = caption_context
        #: The caption whose phrases are the test vocabulary (:meth:`use_caption`), or None.
        self.caption: Optional[CaptionPhrases] = None
        self._init_vocabularies(vocabulary, test_vocabulary)

    def encode_vocabulary(self, cfg: Mapping) -> Tuple[Tuple[str, ...], Dict[str, Tensor]]:
        """Names and their prompts' token features, through
        :func:`ovdkit.text.vocabulary_embeddings.vocabulary_token_features` (``features``
        ``(K, L, D)``, ``attention_mask`` ``(K, L)``, ``spans`` ``(S, 3)`` and optionally
        ``owners`` ``(S,)``, the class of each synonym's span; without it ``S = C``).

        Raises:
            ValueError: the vocabulary has negative names (``'-zebra'``): each name is scored
                on its own here, so a negative one would suppress nothing.
        """
        negatives = [e for e in resolve_vocabulary_entries(cfg['classes']) if is_negative(e)]
        if negatives:
            raise ValueError(f'{type(self).__name__}: negative names {negatives[:3]} need a '
                             f'ViLD head (a softmax over the names); a grounding head scores '
                             f'each name on its own, so they would suppress nothing')
        return vocabulary_token_features(cfg, self.names_per_prompt)

    def prepare_vocabulary(self, names: Sequence[str], tokens: Mapping[str, Tensor],
                           source: str, class_tokens: Optional[str] = None
                           ) -> Tuple[Tensor, Tensor, Tensor]:
        """Checks the token features against the names and the head; returns the flattened
        ``(T, D)`` features, the ``(S, T)`` span map and the ``(S,)`` span owners, the scored
        tokens chosen by ``class_tokens`` (default: the head's)."""
        dim = tokens['features'].shape[-1]
        if dim != self.fc_cls.embed_dim:
            raise ValueError(f'{type(self).__name__}: token features of dimension {dim} '
                             f'({source}) do not match the head\'s embed_dim '
                             f'{self.fc_cls.embed_dim}')
        owners = tokens.get('owners')
        if owners is None:
            owners = torch.arange(len(tokens['spans']))
        if len(tokens['spans']) != len(owners) or \
                torch.unique(owners).tolist() != list(range(len(names))):
            raise ValueError(f'{type(self).__name__}: {len(names)} class names but '
                             f'{len(tokens["spans"])} token spans owned by classes '
                             f'{sorted(set(owners.tolist()))[:10]} ({source})')
        features, span_map = flatten_prompt_tokens(tokens, class_tokens or self.class_tokens)
        return features, span_map, owners

    def use_vocabulary(self, classes) -> Tuple[str, ...]:
        """The mixin's :meth:`use_vocabulary`; a caption in use is dropped."""
        self.caption = None
        return super().use_vocabulary(classes)

    def use_caption(self, caption: str,
                    phrases: Optional[Sequence[PhraseType]] = None) -> CaptionPhrases:
        """Makes the phrases of a free-form caption the evaluation vocabulary (GLIP's
        caption + entities): class ``p`` is phrase ``p``.

        With ``caption_context='phrase'`` each phrase is encoded alone (``"the red star."``)
        and scored like a class name; with ``'caption'`` the caption is encoded once, whole,
        by the test vocabulary's CLIP text tower, so a phrase's tokens read the words before
        it, and a head that scores names by the end-of-text token (``'eot'``; a caption has
        one) scores a phrase by its last token. CLIP's text tower is built at most once per
        process.

        Args:
            caption: Free-form text, within the text tower's context.
            phrases: See :func:`ovdkit.text.caption_phrases.parse_caption_phrases` (substrings
                that occur once, ``(start, end)`` spans, or ``None``: ``" . "``-separated).

        Returns:
            The caption, its phrases and their character spans, in label order.

        Raises:
            ValueError: bad phrases, a caption longer than the context (names the limit), or
                a test vocabulary without a CLIP ``model``.
        """
        parsed = parse_caption_phrases(caption, phrases)
        cfg = self.test_vocabulary_cfg
        if not cfg.get('model'):
            raise ValueError(f'{type(self).__name__}: a caption is encoded by CLIP\'s text '
                             f'tower, but the test vocabulary names no CLIP model (only '
                             f'{sorted(cfg)})')
        encoder = shared_encoder_pool().encoder(cfg['model'], cfg.get('pretrained'))
        if self.caption_context == 'caption':
            tokens = caption_token_features(encoder, parsed)
            scored = 'last' if self.class_tokens == 'eot' else self.class_tokens
        else:
            caption_tokens(encoder, caption)  # the same captions are refused in both modes
            tokens, _ = encode_vocabulary_tokens(encoder, parsed.phrases, names_per_prompt=1)
            scored = self.class_tokens
        prepared = self.prepare_vocabulary(parsed.phrases, tokens, f'caption {caption!r}',
                                           scored)
        self._set_vocabulary('test', parsed.phrases, prepared)
        self.caption = parsed
        return parsed

    def install_vocabulary(self, prepared: Tuple[Tensor, Tensor, Tensor]) -> None:
        """Installs the flattened tokens, span map and owners in the aligner."""
        self.fc_cls.set_tokens(*prepared)

    def label_columns(self, num_classes: int) -> Tensor:
        """``(C, T)``: the prompt tokens of each class, every synonym's (the aligner's
        training positive map)."""
        return self.fc_cls.positive_map

    def _with_background(self, class_scores: Tensor) -> Tensor:
        """``(N, C)`` probabilities -> ``(N, C + 1)``, background = 1 - best class."""
        best = class_scores.max(dim=1, keepdim=True).values if class_scores.shape[0] else \
            class_scores.new_zeros(0, 1)
        return torch.cat([class_scores, 1 - best], dim=1)

    def forward(self, x: Tensor) -> tuple:
        """mmdet's forward with the vocabulary's tokens installed first (the mixin's).

        Args:
            x: ``(N, in_channels, roi_size, roi_size)`` RoI features.

        Returns:
            cls_score (training: token logits ``(N, T)``; evaluation: class probabilities
            ``(N, C + 1)``) and class-agnostic bbox_pred ``(N, 4)``.
        """
        cls_score, bbox_pred = super().forward(x)
        if not self.training:
            cls_score = self._with_background(self.fc_cls.class_scores(cls_score))
        return cls_score, bbox_pred

    def loss(self, cls_score: Tensor, bbox_pred: Tensor, rois: Tensor, labels: Tensor,
             label_weights: Tensor, bbox_targets: Tensor, bbox_weights: Tensor,
             reduction_override: Optional[str] = None) -> dict:
        """Token loss plus mmdet's class-agnostic box loss.

        Args:
            cls_score: ``(N, T)`` token logits.
            bbox_pred: ``(N, 4)`` box deltas.
            rois: ``(N, 5)`` RoIs.
            labels: ``(N,)`` labels in ``[0, C]``, ``C`` = background.
            label_weights: ``(N,)`` weights.
            bbox_targets: ``(N, 4)`` regression targets.
            bbox_weights: ``(N, 4)`` regression weights.
            reduction_override: ``'none'``, ``'mean'`` or ``'sum'``.

        Returns:
            ``loss_cls``, ``acc`` (percent of regions whose best class, or background when no
            class reaches 0.5, is right) and ``loss_bbox``.
        """
        losses = super().loss(None, bbox_pred, rois, labels, label_weights, bbox_targets,
                              bbox_weights, reduction_override=reduction_override)
        if cls_score is None or cls_score.numel() == 0:
            return losses
        positive_map = self.fc_cls.positive_map
        foreground = (labels >= 0) & (labels < self.num_classes)
        targets = cls_score.new_zeros(cls_score.shape)
        targets[foreground] = positive_map[labels[foreground]]
        # GLIP / RetinaNet: the summed token loss is normalised by the positives, so the many
        # background regions (all-negative rows) do not dilute the foreground signal.
        num_foreground = max(float(foreground.sum()), 1.0)
        losses['loss_cls'] = self.loss_cls(cls_score, targets, label_weights,
                                           avg_factor=num_foreground,
                                           reduction_override=reduction_override)
        with torch.no_grad():
            scores = self._with_background(self.fc_cls.class_scores(cls_score))
            losses.update(self.loss_cls.get_accuracy(scores, labels))
        return losses
