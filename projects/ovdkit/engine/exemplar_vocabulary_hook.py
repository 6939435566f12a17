"""Installs test vocabularies whose classes are given by example boxes, before a test runs."""
from typing import Mapping, Sequence

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..datasets.exemplar_classes import has_exemplars, resolve_vocabulary_classes
from ..models.open_vocabulary_head import open_vocabulary_heads
from ..regions.exemplar_embeddings import ExemplarEmbedder, pipeline_prepare
from ..regions.exemplar_vocabulary import DEFAULT_TEXT_WEIGHT, install_vocabulary_classes

#: Keys of a test vocabulary config that set how example boxes are embedded.
EXEMPLAR_KEYS = ('exemplar_crop_scales', 'exemplar_text_weight')


def exemplar_embedder(cfg: Mapping, pipeline: Sequence[Mapping]) -> ExemplarEmbedder:
    """The embedder of a head's test vocabulary config (its CLIP, cache folder and
    ``exemplar_crop_scales``, ViLD's (1.0, 1.5) if it names none), cutting crops from the
    images as the test pipeline gives them."""
    return ExemplarEmbedder(cfg.get('model'), cfg.get('pretrained'),
                            cfg.get('exemplar_crop_scales', (1.0, 1.5)),
                            cfg.get('cache_dir', 'data/embeddings'), pipeline_prepare(pipeline))


@HOOKS.register_module()
class ExemplarVocabularyHook(Hook):
    """Embeds the test vocabulary of each open-vocabulary head whose classes include ones given
    by example boxes (a vocabulary file with ``name := IMAGE [x1,y1,x2,y2]`` lines,
    docs/exemplars.md) and installs the rows, before the test's first image.

    A head embeds names through its own vocabulary cache; example boxes need CLIP's image
    tower and the test pipeline, which a runner has. The test vocabulary config may set
    ``exemplar_crop_scales`` (the region store's crop scales) and ``exemplar_text_weight``
    (0.5 by default). ``tools/test.py`` registers this hook; other runners can list it in
    ``custom_hooks``.
    """

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        """Installs every head's exemplar vocabulary (heads of names only are left alone).

        Raises:
            ExemplarError: a bad example (naming its class and the example).
            TypeError: a grounding head given example boxes.
        """
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        pipeline = runner.cfg.test_dataloader.dataset.pipeline
        for name, head in open_vocabulary_heads(model):
            cfg = head.test_vocabulary_cfg
            if 'classes' not in cfg:
                continue  # a stored embedding file of names
            classes = resolve_vocabulary_classes(cfg['classes'])
            if not has_exemplars(classes):
                continue
            names = install_vocabulary_classes(
                [(name, head)], classes, lambda c: exemplar_embedder(c, pipeline),
                cfg.get('exemplar_text_weight', DEFAULT_TEXT_WEIGHT))
            runner.logger.info(f'[ovdkit] test vocabulary of model.{name}: {len(names)} '
                               f'classes, {sum(1 for c in classes if not isinstance(c, str))} '
                               f'given by example boxes')
