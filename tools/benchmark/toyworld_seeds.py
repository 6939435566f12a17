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
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

from ovdkit.toyworld import summarise_seed_runs

REPO = Path(__file__).resolve().parents[2]


def parse_seeds(text: str) -> List[int]:
    try:
        seeds = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'--seeds: expected integers like 0,1,2, got {text!r}')
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f'--seeds: need at least 2 distinct seeds, got {text!r}')
    return seeds


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
    lines, flat = summarise_seed_runs(runs)
    flat['seconds'] = round(time.perf_counter() - start, 1)
    flat['demo_seconds_mean'] = round(statistics.fmean(r['seconds'] for r in runs.values()), 1)
    print('\n'.join(lines))
    print(json.dumps(flat))


if __name__ == '__main__':
    main()
