"""OVDRunner: a backbone checkpoint that cannot be fetched is one OVDConfigError saying how to
give a local file (the real-config runs cover the rest: variables, TrainingVocabularyHook)."""
import pytest
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from torch import nn

from ovdkit.engine import OVDRunner
from ovdkit.utils.config_variables import OVDConfigError


class Detector(nn.Module):
    def __init__(self, checkpoint):
        super().__init__()
        register_all_modules()
        self.backbone = MODELS.build(dict(type='ResNet', depth=18, init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint)))

    def init_weights(self):
        self.backbone.init_weights()


def runner_with(model):
    runner = object.__new__(OVDRunner)  # the weight init alone, without data or a work dir
    runner.model = model
    return runner


@pytest.mark.parametrize('checkpoint, cause', [
    ('/nonexistent/resnet50.pth', 'FileNotFoundError: /nonexistent/resnet50.pth can not be '
                                  'found.'),
    # port 9 (discard) refuses: what an offline machine gives for torchvision://resnet50
    ('http://127.0.0.1:9/resnet50.pth', 'URLError: <urlopen error [Errno 111] Connection '
                                        'refused>'),
])
def test_unreachable_backbone_checkpoint_is_one_line_with_the_fix(checkpoint, cause):
    with pytest.raises(OVDConfigError) as info:
        runner_with(Detector(checkpoint))._init_model_weights()
    assert str(info.value) == (
        f"cannot load the backbone checkpoint {checkpoint!r} ({cause}); give a local file "
        f"with --cfg-options backbone_checkpoint=/path/to/resnet50.pth (torchvision's "
        f"resnet50-0676ba61.pth), or backbone_checkpoint=None to start from random weights")
