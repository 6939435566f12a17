#!/usr/bin/env python
"""The toy-world demo on several seeds: AP50 per method as mean +- std, paired differences.

    python tools/benchmark/toyworld_seeds.py --seeds 0,1,2 [--work-dir work_dirs/toyworld_seeds]
        [any tools/toyworld.py option but --seed and --work-dir, e.g. --methods all --hard]

Runs ``tools/toyworld.py --seed S`` for every seed, one after the other (each run uses the
machine as the demo does), in ``<work-dir>/seed<S>`` (finished steps are skipped on a rerun).
A seed changes everything random: the scenes, which two shapes are novel, the CLIP's and the
detectors' initialisation and sampling. Prints, per method, novel / base / all AP50 as mean and
sample standard deviation over seeds, then the paired differences ViLD - ViLD-text,
ViLD-ensemble - ViLD and grounding - ViLD-text (per seed, same world and CLIP) with a 95%
interval from the t-distribution (n - 1 degrees of freedom). With ``--shape-synonyms`` each
method is also tested on the vocabulary with those synonyms: its novel AP50 there and the paired
difference synonyms - one name per class (same detector). Last line: one flat JSON object.
Not part of the test suite: three seeds of the default demo take about three demos of time.
"""
import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
KEYS = ('novel_ap50', 'base_ap50', 'all_ap50')
#: (minuend, subtrahend) of each paired difference reported.
PAIRS = (('vild', 'vild-text'), ('vild-ensemble', 'vild'), ('grounding', 'vild-text'))


def parse_seeds(text: str) -> List[int]:
    try:
        seeds = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'--seeds: expected integers like 0,1,2, got {text!r}')
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f'--seeds: need at least 2 distinct seeds, got {text!r}')
    return seeds


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (n - 1)."""
    return statistics.fmean(values), statistics.stdev(values)


def t_interval(values: Sequence[float], level: float = 0.95) -> Tuple[float, float, float]:
    """Mean and two-sided ``level`` interval of the mean from the t-distribution."""
    from scipy.stats import t
    mean, std = mean_std(values)
    half = t.ppf(0.5 + level / 2, len(values) - 1) * std / math.sqrt(len(values))
    return mean, mean - half, mean + half


def run_seed(seed: int, work_dir: Path, options: List[str]) -> Dict:
    """One demo run; its progress goes to stderr, its JSON line is returned."""
    cmd = [sys.executable, str(REPO / 'tools' / 'toyworld.py'), '--seed', str(seed),
           '--work-dir', str(work_dir / f'seed{seed}'), *options]
    print(f'seed {seed}: {" ".join(cmd[1:])}', file=sys.stderr, flush=True)
    last = ''
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:  # the demo's progress lines, shown as they come
            sys.stderr.write(line)
            sys.stderr.flush()
            last = line if line.strip() else last
    if proc.returncode != 0:
        raise SystemExit(f'seed {seed}: tools/toyworld.py exited {proc.returncode}')
    return json.loads(last)


def paired_difference(flat: Dict, name: str, diffs: Sequence[float]) -> str:
    """Adds ``name``'s mean and 95% interval to ``flat``; returns its table cell."""
    mean, low, high = t_interval(diffs)
    flat[f'{name}_mean'] = round(mean, 2)
    flat[f'{name}_ci95_low'], flat[f'{name}_ci95_high'] = round(low, 2), round(high, 2)
    return f'{mean:+.1f} [{low:+.1f}, {high:+.1f}]'


def summarise(runs: Dict[int, Dict]) -> Tuple[List[str], Dict]:
    """Table lines and the flat figures of the runs (seed -> demo JSON)."""
    seeds = list(runs)
    methods = [m for m in ('vild-text', 'vild', 'vild-ensemble', 'grounding')
               if all(f'{m}/novel_ap50' in r for r in runs.values())]
    flat: Dict = dict(seeds=','.join(map(str, seeds)), num_seeds=len(seeds))
    lines = [f'AP50 (%) over seeds {flat["seeds"]}: mean +- std', '',
             '| method | novel | base | all |', '|---|---|---|---|']
    for method in methods:
        cells = []
        for key in KEYS:
            mean, std = mean_std([runs[s][f'{method}/{key}'] for s in seeds])
            flat[f'{method}/{key}_mean'] = round(mean, 2)
            flat[f'{method}/{key}_std'] = round(std, 2)
            cells.append(f'{mean:.1f} +- {std:.1f}')
        lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    for key, label in (('clip_zero_shot_acc', 'tiny CLIP zero-shot (as the detector uses it)'),
                       ('clip_novel_acc', 'tiny CLIP zero-shot, novel categories')):
        mean, std = mean_std([runs[s][key] for s in seeds])
        flat[f'{key}_mean'], flat[f'{key}_std'] = round(mean, 4), round(std, 4)
        lines.append(f'\n{label}: {mean:.3f} +- {std:.3f}')
    lines += ['', 'Paired differences (same seed: same world and CLIP), mean and 95% interval '
              '(t, n - 1 dof)', '', '| difference | novel | base | all |', '|---|---|---|---|']
    for a, b in PAIRS:
        if a not in methods or b not in methods:
            continue
        cells = [paired_difference(flat, f'{a}-minus-{b}/{key}',
                                   [runs[s][f'{a}/{key}'] - runs[s][f'{b}/{key}'] for s in seeds])
                 for key in KEYS]
        lines.append(f'| {a} - {b} | ' + ' | '.join(cells) + ' |')
    synonym_methods = [m for m in methods
                       if all(f'{m}/novel_ap50_synonyms' in r for r in runs.values())]
    if synonym_methods:  # --shape-synonyms: each method also tested on the synonym vocabulary
        lines += ['', 'Tested on the vocabulary with synonyms, paired with one name per class '
                  '(same detector), mean and 95% interval', '',
                  '| method | novel, synonyms | synonyms - one name: novel | base | all |',
                  '|---|---|---|---|---|']
        for method in synonym_methods:
            values = [runs[s][f'{method}/novel_ap50_synonyms'] for s in seeds]
            mean, std = mean_std(values)
            flat[f'{method}/novel_ap50_synonyms_mean'] = round(mean, 2)
            flat[f'{method}/novel_ap50_synonyms_std'] = round(std, 2)
            cells = [f'{mean:.1f} +- {std:.1f}']
            cells += [paired_difference(
                flat, f'{method}-synonyms-minus-one-name/{key}',
                [runs[s][f'{method}/{key}_synonyms'] - runs[s][f'{method}/{key}'] for s in seeds])
                for key in KEYS]
            lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    lines.append('\nper seed: ' + '; '.join(
        f'{s}: ' + ', '.join(f'{m} {runs[s][f"{m}/novel_ap50"]}/{runs[s][f"{m}/base_ap50"]}'
                             for m in methods) + f' ({runs[s]["seconds"]} s)' for s in seeds)
        + ' (novel/base AP50)')
    return lines, flat


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=parse_seeds, default=parse_seeds('0,1,2'))
    parser.add_argument('--work-dir', default='work_dirs/toyworld_seeds')
    args, options = parser.parse_known_args(argv)
    for banned in ('--seed', '--work-dir'):
        if any(o == banned or o.startswith(banned + '=') for o in options):
            parser.error(f'{banned}: set by this tool (use --seeds / --work-dir)')
    start = time.perf_counter()
    runs = {seed: run_seed(seed, Path(args.work_dir), options) for seed in args.seeds}
    lines, flat = summarise(runs)
    flat['seconds'] = round(time.perf_counter() - start, 1)
    flat['demo_seconds_mean'] = round(statistics.fmean(r['seconds'] for r in runs.values()), 1)
    print('\n'.join(lines))
    print(json.dumps(flat))


if __name__ == '__main__':
    main()
