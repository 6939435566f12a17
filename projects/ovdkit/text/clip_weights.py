"""CLIP models and weights: OVDKit's own open_clip model configs, and whether the weights a
config names can be loaded here (a local file, or a tag open_clip has cached or can download)."""
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

import open_clip

MODEL_CONFIG_DIR = Path(__file__).parent / 'model_configs'
_CONFIGS_REGISTERED = False


def register_model_configs() -> None:
    """Registers OVDKit's own open_clip model configs (``OVD-*``) with open_clip (idempotent).

    open_clip only knows a custom config after ``add_model_config``; without it
    ``create_model`` fails and ``get_tokenizer`` silently falls back to a 77-token context.
    """
    global _CONFIGS_REGISTERED
    if not _CONFIGS_REGISTERED:
        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _CONFIGS_REGISTERED = True


class CLIPWeightsError(RuntimeError):
    """The requested CLIP model or weights could not be loaded."""


def looks_like_file(pretrained: str) -> bool:
    """Whether a ``pretrained`` value names a file rather than an open_clip tag."""
    return bool(Path(pretrained).suffix) or '/' in pretrained


def _hub_cached_file(repo_file: str) -> Optional[str]:
    """The local copy of an open_clip ``hf_hub`` entry (``org/repo/`` or ``org/repo/file``),
    safetensors first as open_clip looks for it, or ``None``."""
    from huggingface_hub import constants, try_to_load_from_cache

    repo_id, filename = os.path.split(repo_file)
    filename = filename or 'open_clip_pytorch_model.bin'
    candidates = [filename]
    if filename.endswith(('.bin', '.pth')):
        candidates.insert(0, ('open_clip_model.safetensors'
                              if filename == 'open_clip_pytorch_model.bin'
                              else filename[:-4] + '.safetensors'))
    cache_dir = os.environ.get('HF_HUB_CACHE') or constants.HF_HUB_CACHE
    for name in candidates:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
        if isinstance(found, str):
            return found
    return None


def _unreachable(url: str, timeout: float) -> Optional[str]:
    """Why ``url``'s server cannot be reached within ``timeout`` s, or ``None`` if it answers
    (any HTTP status counts as an answer)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method='HEAD'), timeout=timeout)
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, 'reason', exc)
        return ' '.join(str(reason).split()) or type(exc).__name__
    return None


def check_clip_weights_available(model_name: str, pretrained: Optional[str],
                                 timeout: float = 5.0) -> None:
    """Checks, in seconds, that :func:`create_clip_model` can get these weights.

    A file must exist; a tag must be one of the model's and be either in the local cache
    (Hugging Face hub cache, or ``~/.cache/clip`` for URL downloads) or downloadable: not with
    ``HF_HUB_OFFLINE=1``, and only when its server answers within ``timeout`` (open_clip itself
    retries for over a minute before failing).

    Raises:
        CLIPWeightsError: naming the model, the weights and what to do.
    """
    register_model_configs()
    if model_name not in open_clip.list_models():
        raise CLIPWeightsError(f'unknown open_clip model {model_name!r} '
                               f'(see open_clip.list_models())')
    if pretrained is None:
        return
    pretrained = str(pretrained)
    if looks_like_file(pretrained):
        if not Path(pretrained).is_file():
            raise CLIPWeightsError(f'CLIP weights for model {model_name!r}: file {pretrained} '
                                   f'does not exist; give the path of an open_clip checkpoint '
                                   f'file')
        return
    source = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not source:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise CLIPWeightsError(f'cannot load CLIP weights for model {model_name!r} from '
                               f'pretrained tag {pretrained!r}: not one of its tags '
                               f'({", ".join(tags) or "none"}); give a tag or a local file')
    if source.get('file'):
        return
    hub = source.get('hf_hub', '')
    if hub:
        if _hub_cached_file(hub):
            return
        where = hub.rstrip('/')
        endpoint = os.environ.get('HF_ENDPOINT', 'https://huggingface.co').rstrip('/')
        offline = os.environ.get('HF_HUB_OFFLINE', '').lower() in ('1', 'true', 'yes', 'on')
        why = ('HF_HUB_OFFLINE is set' if offline else
               _unreachable(f'{endpoint}/', timeout))
        place = f'the Hugging Face hub ({endpoint}, {where})'
    else:
        url = source.get('url', '')
        if (Path('~/.cache/clip').expanduser() / os.path.basename(url)).is_file():
            return
        parts = urllib.parse.urlsplit(url)
        why = _unreachable(f'{parts.scheme}://{parts.netloc}/', timeout)
        place = url
    if why is not None:
        raise CLIPWeightsError(
            f'CLIP weights {model_name!r} pretrained={pretrained!r} are not in the local cache '
            f'and cannot be downloaded from {place} ({why}): pass a local open_clip checkpoint '
            f'file instead (e.g. --cfg-options clip_pretrained=/path/to/clip.bin), or download '
            f'them where the hub is reachable')
