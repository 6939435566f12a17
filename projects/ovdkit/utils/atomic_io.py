"""Writes that never leave a half file under the final name: temporary name, then rename."""
import json
import os
from pathlib import Path
from typing import Callable, Union

PathLike = Union[str, Path]


def atomic_write(path: PathLike, write: Callable[[Path], None]) -> Path:
    """Calls ``write(tmp)`` for a temporary file beside ``path``, then renames it to ``path``.

    The temporary file is removed if ``write`` fails, so a crash leaves either the old file or
    none, never a truncated one under the final name.

    Returns:
        ``path`` as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text_atomic(text: str, path: PathLike) -> Path:
    """Writes ``text`` (utf-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding='utf-8'))


def write_json_atomic(obj, path: PathLike, indent=None) -> Path:
    """Writes ``obj`` as json to ``path`` atomically."""
    return write_text_atomic(json.dumps(obj, indent=indent), path)
