"""The statistics of toy-world demo runs on several seeds: per method, novel / base / all AP50
as mean and sample standard deviation, and paired differences between methods (same seed: same
world and CLIP) with a 95% interval from the t-distribution (``tools/benchmark/toyworld_seeds.py``
prints them)."""
import math
import statistics
from typing import Dict, List, Sequence, Tuple

KEYS = ('novel_ap50', 'base_ap50', 'all_ap50')
#: (minuend, subtrahend) of each paired difference reported.
PAIRS = (('vild', 'vild-text'), ('vild-ensemble', 'vild'), ('grounding', 'vild-text'))


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (n - 1)."""
    return statistics.fmean(values), statistics.stdev(values)


def t_interval(values: Sequence[float], level: float = 0.95) -> Tuple[float, float, float]:
    """Mean and two-sided ``level`` interval of the mean from the t-distribution."""
    from scipy.stats import t
    mean, std = mean_std(values)
    half = t.ppf(0.5 + level / 2, len(values) - 1) * std / math.sqrt(len(values))
    return mean, mean - half, mean + half


def paired_difference(flat: Dict, name: str, diffs: Sequence[float]) -> str:
    """Adds ``name``'s mean and 95% interval to ``flat``; returns its table cell."""
    mean, low, high = t_interval(diffs)
    flat[f'{name}_mean'] = round(mean, 2)
    flat[f'{name}_ci95_low'], flat[f'{name}_ci95_high'] = round(low, 2), round(high, 2)
    return f'{mean:+.1f} [{low:+.1f}, {high:+.1f}]'


def summarise_seed_runs(runs: Dict[int, Dict]) -> Tuple[List[str], Dict]:
    """The table and the flat figures of demo runs on several seeds.

    Args:
        runs: Seed -> the demo's JSON figures (``'<method>/novel_ap50'``, ``.../base_ap50``,
            ``.../all_ap50`` per method run, optionally ``..._synonyms`` of each,
            ``clip_zero_shot_acc``, ``clip_novel_acc``, ``seconds``); at least 2 seeds.

    Returns:
        The Markdown table lines, and the flat figures (``'<method>/<key>_mean'`` / ``_std``,
        ``'<a>-minus-<b>/<key>_mean'`` / ``_ci95_low`` / ``_ci95_high`` ...).
    """
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
