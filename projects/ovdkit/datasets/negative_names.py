"""Negative names: vocabulary entries that compete in the scoring and are never reported.

An entry written with a leading ``-`` (``'-zebra'``, a line ``-zebra`` of a vocabulary file,
``'red star,-zebra'``) is a *negative name*: the detector scores it like any other name, so a
region that looks more like a zebra than like the names asked for loses its score to it, and
its own detections are dropped. Synonyms work as for other entries (``'-zebra|okapi'``).
"""
from typing import Sequence, Tuple

from .vocabularies import SYNONYM_SEPARATOR, split_synonyms

#: Prefix of a negative name in a vocabulary entry.
NEGATIVE_PREFIX = '-'


def is_negative(entry: str) -> bool:
    """Whether a vocabulary entry (or a row name) is a negative name."""
    return entry.startswith(NEGATIVE_PREFIX)


def split_negative_entries(entries: Sequence[str], source: str = 'vocabulary'
                           ) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """Separates the entries asked for from the negative ones.

    Args:
        entries: Checked vocabulary entries (``'name'``, ``'name|synonym'``, ``'-name'``).
        source: What to name in errors.

    Returns:
        The positive entries in their order and the negative entries in theirs, without the
        prefix (``'-zebra|okapi'`` -> ``'zebra|okapi'``).

    Raises:
        ValueError: a negative entry has no name after the prefix, a name is both asked for and
            negative, or every entry is negative (nothing would be detected); names ``source``.
    """
    positives, negatives = [], []
    for entry in entries:
        if not is_negative(entry):
            positives.append(entry)
            continue
        rest = entry[len(NEGATIVE_PREFIX):]
        if not rest.strip():
            raise ValueError(f'{source}: negative entry {entry!r} has no name after '
                             f'{NEGATIVE_PREFIX!r}')
        negatives.append(SYNONYM_SEPARATOR.join(split_synonyms(rest, source)))
    asked = {n for e in positives for n in split_synonyms(e, source)}
    both = sorted(asked & {n for e in negatives for n in split_synonyms(e, source)})
    if both:
        raise ValueError(f'{source}: {both} are both asked for and negative '
                         f'({NEGATIVE_PREFIX}name); give each name one role')
    if negatives and not positives:
        raise ValueError(f'{source}: only negative names ({NEGATIVE_PREFIX}name) were given; '
                         f'name at least one class to detect')
    return tuple(positives), tuple(negatives)


def kept_names(names: Sequence[str]) -> Tuple[str, ...]:
    """The names whose detections are reported: ``names`` without the negative ones."""
    return tuple(n for n in names if not is_negative(n))
