"""A Config whose ``pretty_text`` is formatted once per content.

mmengine formats the whole config with yapf each time ``Config.pretty_text`` is read: the
runner reads it to log the config, to dump it into the work dir, into every checkpoint's
meta and into the runtime info. A call costs up to seconds of CPU on a large config (an
OV-LVIS config's vocabulary resolves to a list of 866 names), and even a short run reads it
several times. The text is a pure function of the config's content, so it is cached by a digest
of that content: a config changed in between is formatted again.
"""
import copy
import hashlib
from collections import OrderedDict

from mmengine.config import Config

#: digest of a config's content -> its formatted text (the few configs of one process).
_FORMATTED: 'OrderedDict[str, str]' = OrderedDict()
_MAX_CACHED = 8


class FormattedOnceConfig(Config):
    """mmengine's :class:`~mmengine.config.Config`, formatting ``pretty_text`` once per
    content (same text as mmengine's)."""

    @classmethod
    def of(cls, cfg: Config) -> 'FormattedOnceConfig':
        """A shallow copy of ``cfg`` (its ``_cfg_dict`` copied, values shared) of this
        class; ``cfg`` is left as it is."""
        if not isinstance(cfg, Config):
            raise TypeError(f'FormattedOnceConfig.of expects an mmengine Config, got '
                            f'{type(cfg).__name__}')
        other = copy.copy(cfg)
        object.__setattr__(other, '__class__', cls)  # Config.__setattr__ writes to its dict
        return other

    @property
    def pretty_text(self) -> str:
        content = repr((self._cfg_dict.to_dict(), self._format_python_code))
        key = hashlib.sha256(content.encode()).hexdigest()
        if key in _FORMATTED:
            _FORMATTED.move_to_end(key)
        else:
            _FORMATTED[key] = Config.pretty_text.fget(self)
            while len(_FORMATTED) > _MAX_CACHED:
                _FORMATTED.popitem(last=False)
        return _FORMATTED[key]
