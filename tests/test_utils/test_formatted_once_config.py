"""FormattedOnceConfig: mmengine's config text, formatted with yapf once per content (the
runner reads it several times in every run)."""
import mmengine.config.config as mmengine_config
import pytest
from mmengine.config import Config
from mmengine.model import BaseModel
from torch import nn

from ovdkit.engine import OVDRunner
from ovdkit.utils.formatted_once_config import FormattedOnceConfig


@pytest.fixture
def yapf_calls(monkeypatch):
    calls = []
    real = mmengine_config.FormatCode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mmengine_config, 'FormatCode', counting)
    return calls


def config(**extra) -> Config:
    return Config(dict(model=dict(type='Toy', depth=18), names=['a', 'b'], **extra))


def test_same_text_as_mmengine_formatted_once(yapf_calls):
    expected = config().pretty_text
    assert len(yapf_calls) == 1
    cfg = FormattedOnceConfig.of(config())
    assert cfg.pretty_text == expected and "depth=18" in expected
    assert cfg.pretty_text == expected
    assert cfg.dump() == expected
    assert len(yapf_calls) == 2  # its first read formatted; the others were cached


def test_a_changed_config_is_formatted_again(yapf_calls):
    cfg = FormattedOnceConfig.of(config(seed=1))
    first = cfg.pretty_text
    cfg.model.depth = 50
    second = cfg.pretty_text
    assert 'depth=18' in first and 'depth=50' in second and 'depth=18' not in second
    assert second == config(seed=1).pretty_text.replace('depth=18', 'depth=50')
    assert len(yapf_calls) == 3


def test_of_copies_and_checks_its_argument():
    original = config()
    cfg = FormattedOnceConfig.of(original)
    assert type(original) is Config and type(cfg) is FormattedOnceConfig
    cfg.names = ['c']
    assert original.names == ['a', 'b']
    assert cfg.model is original.model  # a shallow copy: the runner deep-copies it anyway
    with pytest.raises(TypeError, match='FormattedOnceConfig.of expects an mmengine Config, '
                                        'got dict'):
        FormattedOnceConfig.of(dict(a=1))


class TinyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, *args, **kwargs):
        return {}


def test_ovd_runner_formats_its_config_once(tmp_path, yapf_calls):
    cfg = config(marker='ovd-runner-test')
    runner = OVDRunner(model=TinyModel(), work_dir=str(tmp_path), cfg=cfg)
    assert isinstance(runner.cfg, FormattedOnceConfig)
    logged = len(yapf_calls)
    assert logged == 1  # the "Config:" log line
    runner.cfg.dump(tmp_path / 'dumped.py')
    assert "marker = 'ovd-runner-test'" in (tmp_path / 'dumped.py').read_text()
    assert len(yapf_calls) == logged
