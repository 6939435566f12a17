"""tools/toyworld.py's presets and option errors, the detector jobs' schedule and plumbing."""
import ast
import importlib.util
import inspect

import pytest
from mmengine.config import Config

from ovdkit.testing import REPO
from ovdkit.toyworld import DetectorJob, detector_runs, pipeline, run_jobs
from ovdkit.toyworld.detector_runs import method_config, set_max_iters

CONFIG_DIR = REPO / 'configs' / 'toyworld'


def load_tool():
    spec = importlib.util.spec_from_file_location('ovdkit_toyworld_tool',
                                                  REPO / 'tools' / 'toyworld.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_presets_and_explicit_flags():
    tool = load_tool()
    default = tool.parse_args([])
    assert default.methods == ['vild-text', 'vild', 'vild-ensemble']
    assert (default.max_objects, default.object_size, default.clip_steps, default.base_iters,
            default.det_iters) == (4, (24, 44), 900, 1500, 300)
    assert tool.parse_args(['--methods', 'all']).methods == [
        'vild-text', 'vild', 'vild-ensemble', 'grounding']
    hard = tool.parse_args(['--hard', '--methods', 'vild-text,vild'])
    assert hard.methods == ['vild-text', 'vild']
    # the harder world: every method from scratch
    assert (hard.max_objects, hard.object_size, hard.clip_steps, hard.base_iters,
            hard.det_iters) == (6, (16, 40), 900, 0, 800)
    mixed = tool.parse_args(['--hard', '--det-iters', '7', '--object-size', '20,30'])
    assert (mixed.det_iters, mixed.object_size, mixed.max_objects) == (7, (20, 30), 6)


@pytest.mark.parametrize('argv, named', [
    (['--methods', 'vild,detr'], '--methods'), (['--object-size', '20'], '--object-size'),
    (['--det-iters', '0'], '--det-iters'), (['--clip-steps', '-1'], '--clip-steps'),
    (['--base-iters', '-1'], '--base-iters'),
    (['--novel', 'red star', '--novel-shapes', 'star'], '--novel-shapes')])
def test_bad_options_are_named(argv, named, capsys):
    with pytest.raises(SystemExit) as exc:
        load_tool().parse_args(argv)
    assert exc.value.code == 2
    assert named in capsys.readouterr().err


def test_schedule_is_stretched_or_shrunk_in_proportion():
    cfg = Config.fromfile(method_config(str(CONFIG_DIR), 'vild-text'))
    assert cfg.train_cfg.max_iters == 300  # the shipped schedule the proportions come from
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cosine.end, cosine.T_max) == (19, 19, 300, 281)
    set_max_iters(cfg, 300)  # the default demo's 300 iterations leave the file's schedule as is
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end, cosine.begin, cosine.end, cosine.T_max) == \
        (0, 19, 19, 300, 281)
    set_max_iters(cfg, 400)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end, cosine.begin, cosine.end, cosine.T_max) == \
        (0, 25, 25, 400, 375)
    assert cfg.train_cfg.max_iters == cfg.default_hooks.checkpoint.interval == 400
    set_max_iters(cfg, 3)  # a tiny test schedule stays valid: every scheduler ends after it begins
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end, cosine.begin, cosine.end, cosine.T_max) == (0, 1, 0, 3, 3)


def test_pipeline_and_detector_runs_import_one_way():
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(detector_runs))):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or '')
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not [m for m in imported if m.split('.')[-1] == 'pipeline'], imported
    assert 'parents[' not in inspect.getsource(detector_runs)
    assert 'detector_runs' in inspect.getsource(pipeline)


def test_missing_config_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'config_dir {tmp_path}: no vild_r18'):
        method_config(str(tmp_path), 'vild')
    with pytest.raises(ValueError, match="unknown toy-world method 'detr'"):
        method_config(str(CONFIG_DIR), 'detr')


def test_a_failed_job_is_named_with_its_log(tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text('train_cfg = dict(max_iters=5)\nthis is not python\n')
    job = DetectorJob('vild', str(broken), {}, str(tmp_path / 'vild'))
    with pytest.raises(RuntimeError, match=r'toy-world detector vild failed \(exit 1, log '):
        run_jobs([job], threads=1, progress=False)
    assert "NameError: name 'this' is not defined" in (tmp_path / 'vild' / 'run.log').read_text()


def test_snapshot_checkpoint_is_kept_and_checked():
    config = method_config(str(CONFIG_DIR), 'base-detector')
    cfg = detector_runs.load_job_config(config, {}, max_iters=1500, snapshot_iter=1000)
    # saved at 1000 and at the end (mmengine's save_last), both kept
    assert (cfg.default_hooks.checkpoint.interval, cfg.default_hooks.checkpoint.max_keep_ckpts,
            cfg.train_cfg.max_iters) == (1000, 2, 1500)
    plain = detector_runs.load_job_config(config, {}, max_iters=1500)
    assert plain.default_hooks.checkpoint.interval == 1500
    for bad in (1500, -1):
        with pytest.raises(ValueError, match=rf'{config}: snapshot_iter must be in \[1, 1499\] '
                                             rf'\(max_iters 1500\), got {bad}'):
            detector_runs.load_job_config(config, {}, max_iters=1500, snapshot_iter=bad)


def test_pipeline_proposes_regions_at_two_thirds_of_the_base_schedule(tmp_path):
    from ovdkit.toyworld.world_spec import ToyWorldSpec

    def proposal_iter(base_iters):
        return pipeline.ToyWorldPipeline(ToyWorldSpec(), str(tmp_path), str(CONFIG_DIR),
                                         base_iters=base_iters).proposal_iter
    assert [proposal_iter(n) for n in (1500, 1200, 2, 1, 0)] == [1000, 800, 1, None, None]


def test_waiting_for_a_checkpoint_the_job_never_saved(tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text('train_cfg = dict(max_iters=5)\nthis is not python\n')
    out = tmp_path / 'base'
    out.mkdir()
    # a rerun's old files do not pass for this run's
    (out / 'iter_3.pth').write_bytes(b'old')
    (out / 'last_checkpoint').write_text(str(out / 'iter_5.pth'))
    running = detector_runs.start_jobs([DetectorJob('base', str(broken), {}, str(out))],
                                       threads=1, progress=False)
    with pytest.raises(RuntimeError, match=rf'toy-world detector base has no checkpoint of '
                                           rf'iteration 3 \({out}/iter_3.pth missing, log '):
        running.wait_for_checkpoint('base', 3)
    with pytest.raises(RuntimeError, match='toy-world detector base failed'):
        running.wait()


def test_job_digest_follows_the_resolved_config():
    config = method_config(str(CONFIG_DIR), 'base-detector')

    def digest(options=None, **kwargs):
        return DetectorJob('base', config, dict(options or {}), '/tmp/out', 1500, ['world'],
                           **kwargs).digest()
    same = digest()
    assert same == digest() and len(same) == 16
    assert digest({'optim_wrapper.optimizer.lr': 1e-3}) != same  # a config value
    assert digest(snapshot_iter=1000) != same  # the kept checkpoint changes the checkpoint hook
    assert DetectorJob('base', config, {}, '/tmp/out', 1500, ['other world']).digest() != same
