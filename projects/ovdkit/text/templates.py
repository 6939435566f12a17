"""Prompt templates: named sets, user files, and how class names enter a prompt."""
import hashlib
from pathlib import Path
from typing import Tuple

from open_clip import OPENAI_IMAGENET_TEMPLATES

#: CLIP's 80 ImageNet prompts ("a bad photo of a {}.", ...), the ensemble ViLD uses.
VILD_TEMPLATES: Tuple[str, ...] = tuple(t('{}') for t in OPENAI_IMAGENET_TEMPLATES)
#: The single prompt of CLIP's zero-shot examples.
SINGLE_TEMPLATES: Tuple[str, ...] = ('a photo of a {}.',)

TEMPLATE_SETS = {'vild': VILD_TEMPLATES, 'single': SINGLE_TEMPLATES}


def load_templates(spec: str) -> Tuple[str, Tuple[str, ...]]:
    """Resolves a template spec to ``(set name, templates)``.

    Args:
        spec: ``'vild'``, ``'single'``, or the path of a text file with one template per line
            (``{}`` marks the class name; blank lines and lines starting with ``#`` are skipped).

    Returns:
        The name recorded in embedding sidecars (``'file:<sha256[:12]>'`` for files, so two
        different files never share a name) and the templates.

    Raises:
        FileNotFoundError: if ``spec`` is neither a set name nor an existing file.
        ValueError: if a template line does not contain exactly one ``{}``, or the file is empty.
    """
    if spec in TEMPLATE_SETS:
        return spec, TEMPLATE_SETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"templates {spec!r}: not a template set "
                                f"({', '.join(TEMPLATE_SETS)}) nor an existing file")
    text = path.read_text(encoding='utf-8')
    templates = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.count('{}') != 1:
            raise ValueError(f'{path}:{lineno}: a template needs exactly one "{{}}" for the '
                             f'class name, got {line!r}')
        templates.append(line)
    if not templates:
        raise ValueError(f'{path}: no templates in file')
    digest = hashlib.sha256('\n'.join(templates).encode()).hexdigest()[:12]
    return f'file:{digest}', tuple(templates)


def name_for_prompt(name: str) -> str:
    """Class name as it is put into a prompt: LVIS-style underscores become spaces."""
    return name.replace('_', ' ').strip()
