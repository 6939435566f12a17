"""tools/benchmark/toyworld_seeds.py: the statistics of its table (on hand-made demo results),
its runs of the demo in its own process, and its argument errors."""
import importlib.util
import json
import math
import statistics

import pytest

from ovdkit.testing import REPO, run_tool
from ovdkit.toyworld import summarise_seed_runs


def demo_json(vild_text, vild, ensemble, clip=0.95):
    """A demo's last line: (novel, base, all) AP50 of three methods (no grounding run)."""
    out = dict(clip_zero_shot_acc=clip, clip_novel_acc=clip - 0.05, seconds=480.0)
    for method, figures in (('vild-text', vild_text), ('vild', vild),
                            ('vild-ensemble', ensemble)):
        out.update({f'{method}/{k}_ap50': v for k, v in zip(('novel', 'base', 'all'), figures)})
    return out


def test_means_stds_and_paired_intervals():
    runs = {0: demo_json((20, 80, 60), (60, 78, 74), (66, 80, 77)),
            1: demo_json((30, 84, 70), (64, 83, 78), (64, 85, 80)),
            2: demo_json((25, 76, 62), (71, 75, 74), (80, 77, 78))}
    lines, flat = summarise_seed_runs(runs)
    assert flat['seeds'] == '0,1,2' and flat['num_seeds'] == 3
    assert flat['vild-text/novel_ap50_mean'] == 25.0
    assert flat['vild-text/novel_ap50_std'] == 5.0  # sample std of 20, 30, 25
    assert flat['vild/base_ap50_std'] == round(math.sqrt(((78 - 78.667) ** 2 + (83 - 78.667) ** 2
                                                         + (75 - 78.667) ** 2) / 2), 2)
    # ViLD - ViLD-text on novel: 40, 34, 46 -> mean 40, std 6, t(0.975, 2) = 4.3027
    half = 4.302653 * 6 / math.sqrt(3)
    assert flat['vild-minus-vild-text/novel_ap50_mean'] == 40.0
    assert flat['vild-minus-vild-text/novel_ap50_ci95_low'] == pytest.approx(40 - half, abs=0.01)
    assert flat['vild-minus-vild-text/novel_ap50_ci95_high'] == pytest.approx(40 + half,
                                                                              abs=0.01)
    # ViLD-ensemble - ViLD on novel: 6, 0, 9
    assert flat['vild-ensemble-minus-vild/novel_ap50_mean'] == 5.0
    assert not any(k.startswith('grounding') for k in flat)  # not run, not reported
    assert '| vild-text | 25.0 +- 5.0 |' in '\n'.join(lines)
    assert '| vild - vild-text | +40.0 [' in '\n'.join(lines)


def test_unresolved_differences_and_the_seeds_that_would_resolve_them():
    runs = {0: demo_json((20, 80, 60), (60, 78, 74), (66, 80, 77)),
            1: demo_json((30, 84, 70), (64, 83, 78), (64, 85, 80)),
            2: demo_json((25, 76, 62), (71, 75, 74), (80, 77, 78))}
    for seed, base in zip(runs, (70.0, 74.0, 72.0)):
        runs[seed]['base-detector/base_ap50'] = base
    lines, flat = summarise_seed_runs(runs)
    text = '\n'.join(lines)
    assert flat['base-detector/base_ap50_mean'] == 72.0
    assert flat['base-detector/base_ap50_std'] == 2.0
    assert '| base detector (start of every method) | | 72.0 +- 2.0 | |' in text
    assert '0: vild-text 20/80, vild 60/78, vild-ensemble 66/80, base detector 70.0' in text
    # ViLD - ViLD-text on novel (40, 34, 46; std 6) excludes 0: resolved by these 3 seeds, not
    # by 2 (half-width 12.71 * 6 / sqrt(2) = 53.9 > 40)
    assert flat['vild-minus-vild-text/novel_ap50_resolved'] is True
    assert flat['vild-minus-vild-text/novel_ap50_seeds_to_resolve'] == 3
    # ViLD-ensemble - ViLD on novel: 6, 0, 9 (mean 5, std 4.58): half-width 11.4 on 3 seeds;
    # t(0.975, n - 1) * 4.58 / sqrt(n) is 7.29 at n = 4, 5.69 at 5, 4.81 at 6
    assert flat['vild-ensemble-minus-vild/novel_ap50_ci95_half'] == pytest.approx(
        4.302653 * statistics.stdev([6, 0, 9]) / math.sqrt(3), abs=0.01)
    assert flat['vild-ensemble-minus-vild/novel_ap50_resolved'] is False
    assert flat['vild-ensemble-minus-vild/novel_ap50_seeds_to_resolve'] == 6
    assert '| vild-ensemble - vild | +5.0 [-6.4, +16.4] *' in text
    assert 'vild-ensemble-minus-vild/novel_ap50 (6)' in text
    # base: ensemble - vild 2, 2, 2: no spread, resolved at any n
    assert flat['vild-ensemble-minus-vild/base_ap50_seeds_to_resolve'] == 2


def test_synonym_vocabulary_paired_with_one_name():
    runs = {0: demo_json((20, 80, 60), (60, 78, 74), (66, 80, 77)),
            1: demo_json((30, 84, 70), (64, 83, 78), (64, 85, 80)),
            2: demo_json((25, 76, 62), (71, 75, 74), (80, 77, 78))}
    # ViLD alone was also tested on the vocabulary with synonyms (--shape-synonyms)
    for seed, novel in zip(runs, (62, 63, 77)):
        runs[seed].update({'vild/novel_ap50_synonyms': novel, 'vild/base_ap50_synonyms': 78,
                           'vild/all_ap50_synonyms': 74})
    lines, flat = summarise_seed_runs(runs)
    assert flat['vild/novel_ap50_synonyms_mean'] == 67.33
    # novel differences 2, -1, 6: mean 2.33, std 3.51
    half = 4.302653 * statistics.stdev([2, -1, 6]) / math.sqrt(3)
    assert flat['vild-synonyms-minus-one-name/novel_ap50_mean'] == 2.33
    assert flat['vild-synonyms-minus-one-name/novel_ap50_ci95_low'] == pytest.approx(
        7 / 3 - half, abs=0.01)
    assert flat['vild-synonyms-minus-one-name/base_ap50_mean'] == -0.67  # 0, -5, +3
    assert not any(k.startswith('vild-text-synonyms') for k in flat)  # not tested that way
    assert '| vild | 67.3 +- 8.4 | +2.3 [' in '\n'.join(lines)


def test_seeds_run_in_this_process_progress_on_stderr_json_last(monkeypatch, capsys, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'toyworld_seeds', REPO / 'tools' / 'benchmark' / 'toyworld_seeds.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    demo = tool.load_demo()  # tools/toyworld.py as a module: its parse_args, a stand-in run
    calls = []
    figures = {0: demo_json((20, 80, 60), (60, 78, 74), (66, 80, 77)),
               3: demo_json((30, 84, 70), (64, 83, 78), (64, 85, 80))}

    def run(argv):
        calls.append(argv)
        print('training base-detector (1 thread)')  # the demo's progress
        return tmp_path / 'report.md', figures[int(argv[1])]
    monkeypatch.setattr(demo, 'run', run)
    monkeypatch.setattr(tool, 'load_demo', lambda: demo)
    tool.main(['--seeds', '0,3', '--work-dir', str(tmp_path), '--det-iters', '7'])
    out, err = capsys.readouterr()
    assert calls == [['--seed', '0', '--work-dir', str(tmp_path / 'seed0'), '--det-iters', '7'],
                     ['--seed', '3', '--work-dir', str(tmp_path / 'seed3'), '--det-iters', '7']]
    assert 'training base-detector' in err and 'training' not in out
    flat = json.loads(out.strip().splitlines()[-1])
    assert flat['seeds'] == '0,3' and flat['vild-text/novel_ap50_mean'] == 25.0
    assert flat['demo_seconds_mean'] == 480.0
    assert '| vild - vild-text |' in out


@pytest.mark.parametrize('argv, named', [(['--seeds', '0'], '--seeds'),
                                         (['--seeds', '0,x'], '--seeds'),
                                         (['--det-iters', '0'], '--det-iters'),
                                         (['--methods', 'vild,nope'], '--methods'),
                                         (['--seed', '3'], '--seed'),
                                         (['--seed=3'], '--seed')])
def test_bad_arguments_are_named(argv, named):
    proc = run_tool(['tools/benchmark/toyworld_seeds.py', *argv], check=False, timeout=120)
    assert proc.returncode == 2, proc.log
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('toyworld_seeds.py: error: ') and named in last, proc.stderr


def test_each_resolution_rule_on_its_own():
    from ovdkit.toyworld.seed_summary import paired_difference, seeds_to_resolve

    # half-width <= 5 alone: t(0.975, n - 1) * 4 / sqrt(n) is 6.36 at n = 4, 4.97 at n = 5
    assert seeds_to_resolve(0.5, 4.0) == 5
    # excluding 0 alone (no half-width bound): 35.9 at n = 2, 9.93 < 10 at n = 3
    assert seeds_to_resolve(10.0, 4.0, half_width=0.0) == 3
    flat = {}
    cell = paired_difference(flat, 'd', [-1.0, 0.0, 1.0])  # holds 0, half-width 2.48
    assert flat['d_resolved'] is True and not cell.endswith('*')


def test_image_label_study_on_finished_runs(monkeypatch, capsys, tmp_path):
    """--weak-scenes with --reuse-from-root: each seed's finished run, the study's summary."""
    spec = importlib.util.spec_from_file_location(
        'toyworld_seeds', REPO / 'tools' / 'benchmark' / 'toyworld_seeds.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    demo = tool.load_demo()
    calls = []

    def study(novel_without, novel_with):
        out = {}
        for name, novel in (('vild-text', novel_without), ('vild-text+weak9', novel_with)):
            out.update({f'{name}/novel_ap50': novel, f'{name}/base_ap50': 80.0,
                        f'{name}/all_ap50': 70.0})
        return out
    figures = {0: study(20.0, 30.0), 1: study(24.0, 36.0)}

    def run(argv):
        calls.append(argv)
        return tmp_path / 'image_labels.json', figures[int(argv[1])]
    monkeypatch.setattr(demo, 'run', run)
    monkeypatch.setattr(tool, 'load_demo', lambda: demo)
    tool.main(['--seeds', '0,1', '--work-dir', str(tmp_path), '--weak-scenes', '9',
               '--weak-methods', 'vild-text', '--reuse-from-root', '/runs'])
    assert calls[1] == ['--seed', '1', '--work-dir', str(tmp_path / 'seed1'), '--weak-scenes',
                        '9', '--weak-methods', 'vild-text', '--reuse-from', '/runs/seed1']
    out = capsys.readouterr().out
    flat = json.loads(out.strip().splitlines()[-1])
    assert flat['vild-text+weak9-minus-vild-text/novel_ap50_mean'] == 11.0
    assert '| vild-text+weak9 - vild-text |' in out
    with pytest.raises(SystemExit):
        tool.main(['--seeds', '0,1', '--reuse-from-root', '/runs'])
    assert '--reuse-from-root needs --weak-scenes' in capsys.readouterr().err
