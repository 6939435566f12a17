"""OVDRunner: mmengine's Runner plus OVDKit's config variables and training checks."""
import copy
from urllib.error import URLError

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..utils.config_variables import OVDConfigError, resolve_config_variables
from ..utils.formatted_once_config import FormattedOnceConfig
from .training_vocabulary_hook import TrainingVocabularyHook


@RUNNERS.register_module()
class OVDRunner(Runner):
    """mmengine's ``Runner`` (``runner_type = 'OVDRunner'`` in a config), which also

    - re-points every setting built from a top-level variable (``data_root``,
      ``clip_pretrained``, ``backbone_checkpoint``...) whose value was changed by
      ``--cfg-options`` or by an inheriting config (:mod:`ovdkit.utils.config_variables`),
      and logs what it re-pointed;
    - registers :class:`TrainingVocabularyHook` (vocabulary = dataset classes, checked
      before the first step);
    - formats its config text once (:class:`FormattedOnceConfig`), not at every log,
      dump and checkpoint;
    - turns a backbone checkpoint that cannot be fetched (no network, missing file) into one
      :class:`OVDConfigError` saying how to give a local file.
    """

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'OVDRunner':
        """Builds the runner from a config whose variables are resolved first."""
        cfg = copy.deepcopy(cfg)
        notes = resolve_config_variables(cfg)
        runner = super().from_cfg(cfg)
        for note in notes:
            runner.logger.info(f'[ovdkit] config variable {note}')
        return runner

    def __init__(self, *args, **kwargs) -> None:
        if isinstance(kwargs.get('cfg'), Config):  # how from_cfg passes it
            kwargs['cfg'] = FormattedOnceConfig.of(kwargs['cfg'])
        super().__init__(*args, **kwargs)
        self.register_hook(TrainingVocabularyHook())

    def _init_model_weights(self) -> None:
        """mmengine's weight initialisation; a backbone download failure becomes one line."""
        model = self.model.module if is_model_wrapper(self.model) else self.model
        init_cfg = getattr(getattr(model, 'backbone', None), 'init_cfg', None) or {}
        checkpoint = init_cfg.get('checkpoint') if isinstance(init_cfg, dict) else None
        try:
            super()._init_model_weights()
        except (URLError, OSError) as exc:
            if checkpoint is None:
                raise
            reason = ' '.join(str(exc).split())
            raise OVDConfigError(
                f'cannot load the backbone checkpoint {checkpoint!r} ({type(exc).__name__}: '
                f'{reason}); give a local file with --cfg-options '
                f'backbone_checkpoint=/path/to/resnet50.pth (torchvision\'s '
                f'resnet50-0676ba61.pth), or backbone_checkpoint=None to start from random '
                f'weights') from exc
