"""Captions -> image labels by matching a vocabulary's names and synonyms (Detic's COCO-caption
protocol, ``tools/get_cc_tags.py``)."""
from typing import Sequence, Tuple

from .vocabularies import split_synonyms


def caption_label_names(captions: Sequence[str], entries: Sequence[str]) -> Tuple[str, ...]:
    """The classes a caption names: each class with a name or synonym in the text.

    Detic's rule: the captions are joined by spaces and lower-cased; a name matches when
    ``' ' + name + ' '`` occurs in the text, or the text starts with ``name + ' '`` or ends
    with ``' ' + name``. A sentence-final period therefore hides a name (``"a dog."`` names
    no ``dog``), as in Detic; here the text's ``.``, ``,``, ``;``, ``!`` and ``?`` are read
    as spaces first, so ``"a dog."`` names ``dog``.

    Args:
        captions: One image's captions (Detic's ``--allcaps``: all of them).
        entries: Vocabulary entries, ``'name'`` or ``'name|synonym|...'``.

    Returns:
        The first names of the classes named, in vocabulary order.
    """
    text = ' '.join(captions).lower()
    for mark in '.,;!?':
        text = text.replace(mark, ' ')
    text = ' '.join(text.split())
    found = []
    for entry in entries:
        names = split_synonyms(entry)
        for name in names:
            name = ' '.join(name.lower().split())
            if f' {name} ' in text or text.startswith(f'{name} ') or \
                    text.endswith(f' {name}') or text == name:
                found.append(names[0])
                break
    return tuple(found)
