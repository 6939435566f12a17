#!/usr/bin/env python
"""The toy-world demo on several seeds: AP50 per method as mean +- std, paired differences.

    python tools/benchmark/toyworld_seeds.py [--seeds 0,1,2,3,4]
        [--work-dir work_dirs/toyworld_seeds]
        [any tools/toyworld.py option but --seed and --work-dir, e.g. --methods all --hard]

Runs ``tools/toyworld.py --seed S`` for every seed, one after the other in this one process
(each run uses the machine as the demo does; the imports are paid once), in
``<work-dir>/seed<S>`` (finished steps are skipped on a rerun). A seed changes everything
random: the scenes, which two shapes are novel, the CLIP's and the detectors' initialisation
and sampling. Prints, per method, novel / base / all AP50 as mean and sample standard deviation
over seeds, the base detector's base AP50, then the paired differences ViLD - ViLD-text,
ViLD-ensemble - ViLD and grounding - ViLD-text (per seed, same world and CLIP) with a 95%
interval from the t-distribution (n - 1 degrees of freedom), marking those the interval does
not resolve (it holds 0 and is wider than +-5) with the seeds that would. With
``--shape-synonyms`` each method is also tested on the vocabulary with those synonyms: its
novel AP50 there and the paired difference synonyms - one name per class (same detector). The
demos' progress goes to stderr; the last line is one flat JSON object. With ``--weak-scenes``
(tools/toyworld.py's image-label study) it prints each method's AP50 without and with each
number of weak scenes and the paired differences with - without; ``--reuse-from-root ROOT``
runs only the study, on the finished runs ``ROOT/seed<S>``.
Not part of the test suite: five seeds of the default demo take about five demos of time.
"""
import argparse
import contextlib
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from ovdkit.toyworld import summarise_image_label_runs, summarise_seed_runs

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SEEDS = '0,1,2,3,4'


def parse_seeds(text: str) -> List[int]:
    try:
        seeds = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'--seeds: expected integers like 0,1,2, got {text!r}')
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f'--seeds: need at least 2 distinct seeds, got {text!r}')
    return seeds


def load_demo():
    """``tools/toyworld.py`` as a module (its ``parse_args`` and ``run``)."""
    spec = importlib.util.spec_from_file_location('toyworld_demo', REPO / 'tools' / 'toyworld.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_seed(demo, seed: int, work_dir: Path, options: List[str],
             reuse_root: Optional[str] = None) -> Dict:
    """One demo run in this process, its progress on stderr; returns its figures."""
    argv = ['--seed', str(seed), '--work-dir', str(work_dir / f'seed{seed}'), *options]
    if reuse_root:
        argv += ['--reuse-from', str(Path(reuse_root) / f'seed{seed}')]
    print(f'seed {seed}: tools/toyworld.py {" ".join(argv)}', file=sys.stderr, flush=True)
    with contextlib.redirect_stdout(sys.stderr):
        return demo.run(argv)[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=parse_seeds, default=parse_seeds(DEFAULT_SEEDS))
    parser.add_argument('--work-dir', default='work_dirs/toyworld_seeds')
    parser.add_argument('--reuse-from-root',
                        help='with --weak-scenes: ROOT/seed<S> is each seed\'s finished run '
                             '(tools/toyworld.py --reuse-from)')
    args, options = parser.parse_known_args(argv)
    for banned in ('--seed', '--work-dir', '--reuse-from'):
        if any(o == banned or o.startswith(banned + '=') for o in options):
            parser.error(f'{banned}: set by this tool (use --seeds / --work-dir)')
    demo = load_demo()
    parsed = demo.parse_args(options)  # the demo's argument errors before any seed's work
    if args.reuse_from_root and not parsed.weak_scenes:
        parser.error('--reuse-from-root needs --weak-scenes')
    start = time.perf_counter()
    runs = {seed: run_seed(demo, seed, Path(args.work_dir), options, args.reuse_from_root)
            for seed in args.seeds}
    if parsed.weak_scenes:
        lines, flat = summarise_image_label_runs(runs)
        if not args.reuse_from_root:
            more, demo_flat = summarise_seed_runs(runs)
            lines, flat = more + [''] + lines, dict(demo_flat, **flat)
    else:
        lines, flat = summarise_seed_runs(runs)
    flat['seconds'] = round(time.perf_counter() - start, 1)
    if all('seconds' in r for r in runs.values()):
        flat['demo_seconds_mean'] = round(statistics.fmean(r['seconds'] for r in runs.values()),
                                          1)
    print('\n'.join(lines))
    print(json.dumps(flat))


if __name__ == '__main__':
    main()
