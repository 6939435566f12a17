"""The statistics of toy-world demo runs on several seeds: per method, novel / base / all AP50
as mean and sample standard deviation, the base detector's base AP50, and paired differences
between methods (same seed: same world and CLIP) with a 95% interval from the t-distribution and
the number of seeds whose interval would resolve the difference
(``tools/benchmark/toyworld_seeds.py`` prints them)."""
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


#: A difference is resolved when its 95% interval excludes 0 or is at most this wide either side.
RESOLVED_HALF_WIDTH = 5.0
#: The most seeds :func:`seeds_to_resolve` looks at.
MAX_SEEDS = 1000


def seeds_to_resolve(mean: float, std: float, half_width: float = RESOLVED_HALF_WIDTH,
                     level: float = 0.95) -> int:
    """The fewest seeds ``n >= 2`` whose ``level`` t-interval of a paired difference with this
    mean and sample standard deviation excludes 0 or has a half-width of at most
    ``half_width``, assuming both stay as measured; :data:`MAX_SEEDS` + 1 if none up to it."""
    from scipy.stats import t
    for n in range(2, MAX_SEEDS + 1):
        half = t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)
        if half < abs(mean) or half <= half_width:
            return n
    return MAX_SEEDS + 1


def paired_difference(flat: Dict, name: str, diffs: Sequence[float]) -> str:
    """Adds ``name``'s mean, 95% interval, half-width, whether the interval resolves the
    difference (excludes 0 or half-width <= :data:`RESOLVED_HALF_WIDTH`) and the seeds that
    would resolve it to ``flat``; returns its table cell."""
    mean, low, high = t_interval(diffs)
    half = (high - low) / 2
    flat[f'{name}_mean'] = round(mean, 2)
    flat[f'{name}_ci95_low'], flat[f'{name}_ci95_high'] = round(low, 2), round(high, 2)
    flat[f'{name}_ci95_half'] = round(half, 2)
    resolved = bool(low > 0 or high < 0 or half <= RESOLVED_HALF_WIDTH)
    flat[f'{name}_resolved'] = resolved
    flat[f'{name}_seeds_to_resolve'] = seeds_to_resolve(mean, statistics.stdev(diffs))
    return f'{mean:+.1f} [{low:+.1f}, {high:+.1f}]' + ('' if resolved else ' *')


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
    base_key = 'base-detector/base_ap50'
    if all(base_key in r for r in runs.values()):
        mean, std = mean_std([runs[s][base_key] for s in seeds])
        flat[f'{base_key}_mean'], flat[f'{base_key}_std'] = round(mean, 2), round(std, 2)
        lines.append(f'| base detector (start of every method) | | {mean:.1f} +- {std:.1f} | |')
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
    unresolved = [f'{k[:-len("_resolved")]} ({flat[k[:-len("resolved")] + "seeds_to_resolve"]})'
                  for k, v in flat.items() if k.endswith('_resolved') and not v]
    if unresolved:
        lines.append(f'\n* unresolved (the interval holds 0 and is wider than '
                     f'+-{RESOLVED_HALF_WIDTH:g}); seeds that would resolve it at this mean and '
                     f'spread: ' + ', '.join(unresolved))
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
                             for m in methods)
        + (f', base detector {runs[s][base_key]}' if base_key in runs[s] else '')
        + f' ({runs[s]["seconds"]} s)' for s in seeds) + ' (novel/base AP50)')
    return lines, flat
