"""One place to point a config at your data and weights: its top-level variables.

mmengine resolves a config's variables when it reads the file: in ::

    data_root = 'data/coco/'
    train_dataloader = dict(dataset=dict(data_root=data_root, ...))

``--cfg-options data_root=/elsewhere/`` (or a config that inherits this one and sets
``data_root``) changes the variable, while the dataloader keeps ``'data/coco/'`` and reads the
old folder without a word. OVDKit's shipped configs therefore record the values their settings
were built from::

    ovdkit_variables = dict(data_root=data_root, clip_model=clip_model, ...)

and :func:`resolve_config_variables` (run by ``OVDRunner``, ``OVDInferencer`` and the
region precompute) re-points every setting built from a variable whose value changed.
:func:`check_cfg_options` refuses the other case: a ``--cfg-options`` key that is a plain
top-level variable of a config *without* such a record, whose value other settings copied.
"""
from typing import Any, Dict, List, Mapping, Optional, Tuple

from mmengine.config import Config

#: The config key holding the recorded variables.
RECORD_KEY = 'ovdkit_variables'


class OVDConfigError(ValueError):
    """A config or its overrides cannot work as asked; the message says what to set."""


def _derived(value: Any, old: Any) -> bool:
    """Whether ``value`` was built from a variable whose value was ``old``."""
    if isinstance(value, bool) or isinstance(old, bool) or old is None or value is None:
        return False
    if isinstance(old, str):
        # a folder variable ('data/coco/') also derives the paths under it
        return isinstance(value, str) and (value == old or (
            old.endswith('/') and value.startswith(old)))
    return isinstance(old, (int, float)) and type(value) is type(old) and value == old


def _places(node: Any, old: Any, prefix: str, skip: Tuple[str, ...]) -> List[str]:
    """Dotted keys of the settings under ``node`` derived from ``old``."""
    found = []
    items = (node.items() if isinstance(node, Mapping) else
             enumerate(node) if isinstance(node, (list, tuple)) else ())
    for key, value in items:
        path = f'{prefix}{key}'
        if path in skip:
            continue
        if _derived(value, old):
            found.append(path)
        else:
            found += _places(value, old, path + '.', skip)
    return found


def _replace(node: Any, old: Any, new: Any, skip: Tuple[str, ...], prefix: str = '') -> Any:
    """``node`` with every setting derived from ``old`` re-pointed at ``new`` (in place for
    dicts and lists). A ``Pretrained`` init config whose checkpoint becomes ``None`` becomes
    ``None`` itself: no checkpoint means random initialisation."""
    if isinstance(node, Mapping):
        if (new is None and node.get('type') == 'Pretrained'
                and _derived(node.get('checkpoint'), old)):
            return None
        for key in list(node.keys()):
            path = f'{prefix}{key}'
            if path not in skip:
                node[key] = _replace(node[key], old, new, skip, path + '.')
        return node
    if isinstance(node, (list, tuple)):
        items = [_replace(v, old, new, skip, f'{prefix}{i}.') for i, v in enumerate(node)]
        if isinstance(node, tuple):
            return type(node)(items)
        node[:] = items
        return node
    if _derived(node, old):
        return new if (node == old or new is None) else str(new).rstrip('/') + '/' + \
            node[len(old):]
    return node


def resolve_config_variables(cfg: Config) -> List[str]:
    """Re-points every setting built from a recorded variable whose value changed.

    Variables are handled shortest old value first, so that with ``data_root`` and
    ``region_store`` (under it) both changed, the store ends where ``region_store`` says. The
    record is updated, so a second call changes nothing.

    Args:
        cfg: A loaded config, modified in place. Without ``ovdkit_variables`` nothing happens.

    Returns:
        One line per changed variable: its old and new value and the settings re-pointed.
    """
    record = cfg.get(RECORD_KEY)
    if not record:
        return []
    changed = sorted((name for name in record if name in cfg and cfg[name] != record[name]),
                     key=lambda n: len(str(record[n])))
    notes = []
    for name in changed:
        old, new = cfg[RECORD_KEY][name], cfg[name]  # the record as earlier passes left it
        # inputs are never rewritten: the variables the user set, and this record entry
        skip = tuple(changed) + (f'{RECORD_KEY}.{name}',)
        places = [p for p in _places(cfg._cfg_dict, old, '', skip)
                  if not p.startswith(RECORD_KEY + '.')]
        for key in list(cfg.keys()):
            if key not in skip:
                cfg[key] = _replace(cfg[key], old, new, skip, key + '.')
        cfg[RECORD_KEY][name] = new
        notes.append(f'{name}: {old!r} -> {new!r} in {", ".join(places) or "no setting"}')
    return notes


def check_cfg_options(cfg: Config, options: Optional[Mapping]) -> None:
    """Refuses ``--cfg-options`` of a top-level variable that other settings only copied.

    Call it on the config as read, before merging ``options``. A key naming a recorded
    variable (``ovdkit_variables``) is fine: :func:`resolve_config_variables` re-points it.

    Raises:
        OVDConfigError: naming the key, the config and the settings to set instead.
    """
    record = cfg.get(RECORD_KEY) or {}
    for key, value in (options or {}).items():
        if '.' in key or key in record or key == RECORD_KEY or key not in cfg:
            continue
        old = cfg[key]
        places = _places(cfg._cfg_dict, old, '', (key, RECORD_KEY))
        if places:
            raise OVDConfigError(
                f'--cfg-options {key}={value}: {key!r} is only a variable of '
                f'{cfg.filename}; the settings built from it when the file was read '
                f'({", ".join(places)}) would keep {old!r}. Set those keys instead')


def merge_cfg_options(cfg: Config, options: Optional[Dict]) -> List[str]:
    """:func:`check_cfg_options`, merge, then :func:`resolve_config_variables`.

    Returns:
        The notes of :func:`resolve_config_variables`.
    """
    check_cfg_options(cfg, options)
    if options:
        cfg.merge_from_dict(options)
    return resolve_config_variables(cfg)
