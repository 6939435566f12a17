"""Names that compete in a softmax classifier without being reported: negatives and references.

A ViLD-style classifier turns region-text similarities into a softmax over the vocabulary and
the background. With a handful of names the softmax has almost no competitors: a region gets
a score near 1 for whichever name is least unlike it, present in the image or not ("zebra"
on a blue cross). Two kinds of *competing rows* fix what a score means:

- **reference names**: by default the head's training vocabulary, which always takes part
  in the softmax, so that a name's score is its probability against everything the detector
  learnt to tell apart, whatever the size of the vocabulary asked for. A reference that
  shares a name (or synonym) with an entry of the vocabulary is left out: the entry speaks
  for it.
- **negative names** given by the user (``'-zebra'``): scored the same way, never reported.

Competing rows come after the vocabulary's names (labels of the names asked for keep their
indices) and take part in the softmax only: their (region, row) pairs never enter the NMS
(:meth:`OpenVocabularyHeadMixin.reported_scores`; the ONNX graph's ``report_mask`` input), so
they take none of the ``max_per_img`` detections. They are rows of the class embeddings, which
the ONNX graph takes as an input: a new vocabulary needs no re-export. A test vocabulary that
already holds every training name (the standard open-vocabulary evaluation) gets no
reference rows: its scores are unchanged.
"""
from typing import Callable, Mapping, NamedTuple, Sequence, Tuple, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from ..datasets.negative_names import NEGATIVE_PREFIX, is_negative, split_negative_entries
from ..datasets.vocabularies import resolve_vocabulary_entries, split_synonyms

#: ``reference_vocabulary`` value meaning "the head's training vocabulary".
TRAINING_VOCABULARY = 'train'


class ScoredRows(NamedTuple):
    """The rows a classifier scores: the names asked for first, then competing rows.

    Attributes:
        names: ``R`` row names; competing rows carry the negative prefix (``'-zebra'``).
        embeddings: ``(R, D)`` text embeddings, one row per name.
    """

    names: Tuple[str, ...]
    embeddings: Tensor


def entry_names(entry: str) -> Tuple[str, ...]:
    """Every name of a vocabulary entry or row name, negative prefix removed."""
    if is_negative(entry):
        entry = entry[len(NEGATIVE_PREFIX):]
    return split_synonyms(entry)


def encode_rows(cfg: Mapping, encode: Callable[[Mapping], Tuple[Tuple[str, ...], Tensor]]
                ) -> Tuple[Tuple[str, ...], Tensor]:
    """Names and embeddings of a vocabulary config whose entries may be negative.

    Args:
        cfg: Vocabulary config (``classes`` and how to embed them).
        encode: ``cfg -> (names, (C, D) embeddings)`` (the head's text encoder).

    Returns:
        Row names (the positive names in order, then ``'-name'`` for each negative entry) and
        their ``(C + N, D)`` embeddings; without negative entries, ``encode(cfg)`` itself.
    """
    entries = resolve_vocabulary_entries(cfg['classes'])
    positives, negatives = split_negative_entries(entries, f'vocabulary {cfg["classes"]!r}'
                                                  if isinstance(cfg['classes'], str)
                                                  else 'vocabulary')
    if not negatives:
        return encode(cfg)
    names, embeddings = encode(dict(cfg, classes=positives + negatives))
    rows = names[:len(positives)] + tuple(NEGATIVE_PREFIX + n for n in names[len(positives):])
    return rows, embeddings


def reference_rows(user_entries: Sequence[str], reference_entries: Sequence[str]
                   ) -> Tuple[int, ...]:
    """Indices of the reference entries that compete with a vocabulary.

    A reference sharing any name with an entry of the vocabulary (asked for or negative, any
    synonym) is left out: that entry already scores the concept.

    Args:
        user_entries: The vocabulary's entries or row names (``'-name'`` for negatives).
        reference_entries: The reference vocabulary's entries.

    Returns:
        The indices of the references kept, in order.
    """
    asked = {n for entry in user_entries for n in entry_names(entry)}
    return tuple(i for i, entry in enumerate(reference_entries)
                 if not asked.intersection(entry_names(entry)))


def with_references(rows: ScoredRows, user_entries: Sequence[str],
                    reference_entries: Sequence[str],
                    reference_embeddings: Union[Tensor, Callable[[], Tensor]]) -> ScoredRows:
    """``rows`` followed by the references that compete with them (see :func:`reference_rows`).

    Args:
        rows: The vocabulary's rows.
        user_entries: Its entries (with synonyms, so that a synonym also leaves a reference
            out); the row names are used as well.
        reference_entries: ``K`` reference entries.
        reference_embeddings: ``(K, D)`` their embeddings, or a function returning them,
            called only when some reference competes: a vocabulary that covers every
            reference gets its rows without encoding the references (no CLIP, no file read).
    """
    keep = reference_rows(tuple(user_entries) + rows.names, reference_entries)
    if not keep:
        return rows
    if callable(reference_embeddings):
        reference_embeddings = reference_embeddings()
    names = rows.names + tuple(NEGATIVE_PREFIX + split_synonyms(reference_entries[i])[0]
                               for i in keep)
    extra = reference_embeddings[list(keep)].to(rows.embeddings)
    return ScoredRows(names, torch.cat([rows.embeddings, extra]))


def drop_competing_detections(results: InstanceData, num_classes: int) -> InstanceData:
    """The detections of the first ``num_classes`` rows (the names asked for).

    Args:
        results: Post-processed detections (``labels (K,)``), or, from mmdet's path without
            NMS, ``scores (N, R + 1)`` of every row and the background.
        num_classes: ``C``, the names asked for.

    Returns:
        The detections whose label is below ``C``; without NMS, ``scores (N, C + 1)`` whose
        last column is the background's probability plus every competing row's.
    """
    if 'labels' in results:
        return results[results.labels < num_classes]
    scores = results.scores
    if scores.dim() == 2 and scores.shape[1] > num_classes + 1:
        results.scores = torch.cat([scores[:, :num_classes],
                                    scores[:, num_classes:].sum(1, keepdim=True)], dim=1)
    return results
