"""Class embeddings of a vocabulary whose classes may be given by example boxes.

Each class becomes one row of the classifier's class embeddings, whatever gave it:

- a name (``'red star'``, ``'tv|television'``): its text embedding, through the vocabulary
  cache (:func:`ovdkit.text.vocabulary_embeddings.vocabulary_embeddings`);
- example boxes only (``VisualClass(name, exemplars)``): the normalised mean of the examples'
  CLIP image embeddings (:class:`~ovdkit.regions.exemplar_embeddings.ExemplarEmbedder`);
- names and examples (``use_name=True``): the fusion
  ``normalize(text_weight * t + (1 - text_weight) * e)`` of the unit text embedding ``t``
  and the unit example embedding ``e``; ``text_weight=0.5`` is their plain normalised mean.

Negative names (``'-zebra'``) become rows after the classes asked for, as
:func:`ovdkit.models.competing_names.encode_rows` orders them.
"""
from typing import Callable, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets.exemplar_classes import VisualClass, VocabularyClass
from ..datasets.negative_names import NEGATIVE_PREFIX, is_negative
from ..text.vocabulary_embeddings import vocabulary_embeddings
from .exemplar_embeddings import ExemplarEmbedder

#: Text weight of the name + examples fusion by default: the plain normalised mean.
DEFAULT_TEXT_WEIGHT = 0.5


def fuse_text_and_examples(text: Tensor, examples: Tensor,
                           text_weight: float = DEFAULT_TEXT_WEIGHT) -> Tensor:
    """The class embedding of a class given by names and example boxes.

    Args:
        text: ``(D,)`` unit text embedding of its names.
        examples: ``(D,)`` unit mean embedding of its example boxes.
        text_weight: Weight of the text, in [0, 1] (0.5: the plain normalised mean).

    Returns:
        ``(D,)`` unit embedding.
    """
    if not 0.0 <= text_weight <= 1.0:
        raise ValueError(f'text_weight must be in [0, 1], got {text_weight}')
    return F.normalize(text_weight * F.normalize(text, dim=0)
                       + (1 - text_weight) * F.normalize(examples, dim=0), dim=0)


def vocabulary_class_embeddings(classes: Sequence[VocabularyClass], cfg: Mapping,
                                embedder: ExemplarEmbedder,
                                text_weight: float = DEFAULT_TEXT_WEIGHT
                                ) -> Tuple[Tuple[str, ...], Tensor]:
    """Row names and class embeddings of resolved vocabulary classes.

    Args:
        classes: C classes (:func:`~ovdkit.datasets.exemplar_classes.
            resolve_vocabulary_classes`): name entries (``'-name'`` negative) and
            :class:`VisualClass` items.
        cfg: The head's vocabulary config for the names (``model``, ``pretrained``,
            ``templates``, ``cache_dir``); ``classes`` and ``path`` in it are ignored.
        embedder: Embeds example boxes, with the same CLIP weights as ``cfg``.
        text_weight: Text weight of classes given by names and examples.

    Returns:
        Row names (the classes asked for in order, each its first name; then ``'-name'`` for
        each negative entry) and ``(R, D)`` float32 unit rows.

    Raises:
        ValueError: the embedder's CLIP is not the config's.
        ExemplarError: a bad example (see :meth:`ExemplarEmbedder.example_embeddings`).
    """
    if (cfg.get('model'), str(cfg.get('pretrained'))) != (embedder.model, embedder.pretrained):
        raise ValueError(f'example boxes embedded with CLIP {embedder.model!r} '
                         f'{embedder.pretrained!r}, names with {cfg.get("model")!r} '
                         f'{cfg.get("pretrained")!r}: one classifier needs one CLIP')
    asked = [c for c in classes if isinstance(c, VisualClass) or not is_negative(c)]
    negatives = [c[len(NEGATIVE_PREFIX):] for c in classes
                 if isinstance(c, str) and is_negative(c)]
    texts = [c.name if isinstance(c, VisualClass) else c for c in asked
             if not isinstance(c, VisualClass) or c.use_name] + negatives
    text_cfg = {k: v for k, v in cfg.items() if k != 'path'}
    text_rows = iter(vocabulary_embeddings(dict(text_cfg, classes=texts))[1]) if texts \
        else iter(())
    rows, names = [], []
    for item in asked:
        if isinstance(item, VisualClass):
            examples = embedder.class_embedding(item)
            rows.append(fuse_text_and_examples(next(text_rows), examples, text_weight)
                        if item.use_name else examples)
            names.append(item.label)
        else:
            rows.append(next(text_rows))
            names.append(item.split('|', 1)[0])
    for entry in negatives:
        rows.append(next(text_rows))
        names.append(NEGATIVE_PREFIX + entry.split('|', 1)[0])
    return tuple(names), torch.stack(rows).float()


def install_vocabulary_classes(heads: Sequence[Tuple[str, object]],
                               classes: Sequence[VocabularyClass],
                               make_embedder: Callable[[Mapping], ExemplarEmbedder],
                               text_weight: float = DEFAULT_TEXT_WEIGHT) -> Tuple[str, ...]:
    """Installs a vocabulary with classes given by example boxes in open-vocabulary heads.

    Every head gets rows made with its own test vocabulary's CLIP (its ``set_test_vocabulary``
    takes them as it takes text embeddings).

    Args:
        heads: ``(name, head)`` pairs (:func:`ovdkit.models.open_vocabulary_heads`).
        classes: Resolved classes (names and :class:`VisualClass` items).
        make_embedder: A head's test vocabulary config -> the embedder of its CLIP.
        text_weight: Text weight of classes given by names and examples.

    Returns:
        The names of the classes asked for, in label order.

    Raises:
        TypeError: a grounding head (it scores token features of a text prompt, which an
            example box does not have).
    """
    for head_name, head in heads:
        if callable(getattr(head, 'use_caption', None)):
            raise TypeError(
                f'{type(head).__name__} ({head_name}) cannot take classes given by example '
                f'boxes: it scores each region against the token features of a text prompt '
                f'("cat. dog. ..."), a class being the span of its name\'s tokens, and an '
                f'example box gives one pooled CLIP image embedding, no tokens of any prompt; '
                f'use a ViLD or ViLD-text detector, whose classes are embedding rows')
    names: Tuple[str, ...] = ()
    for _, head in heads:
        cfg = head.test_vocabulary_cfg
        rows, embeddings = vocabulary_class_embeddings(classes, cfg, make_embedder(cfg),
                                                       text_weight)
        head.set_test_vocabulary(rows, embeddings)
        names = tuple(n for n in rows if not is_negative(n))
    return names
