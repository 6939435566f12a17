"""Every config in configs/ parses and its model builds (no CLIP, no data needed)."""
from pathlib import Path

import pytest
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config, ConfigDict

import ovdkit  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def test_there_are_configs():
    assert len(CONFIGS) >= 2


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config):
    register_all_modules()
    cfg = Config.fromfile(str(REPO / config))
    assert cfg.custom_imports == dict(imports=['ovdkit'], allow_failed_imports=False)
    model = MODELS.build(ConfigDict(cfg.model))
    assert sum(p.numel() for p in model.parameters()) > 0
