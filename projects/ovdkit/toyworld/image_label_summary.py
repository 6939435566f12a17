"""The statistics of image-label studies on several seeds (``tools/benchmark/toyworld_seeds.py
--weak-scenes``): per method, AP50 without and with each number of weak scenes, and the paired
differences with - without (same seed: same world, CLIP and base detector) with 95%
t-intervals."""
import re
from typing import Dict, List, Tuple

from .seed_summary import KEYS, mean_std, paired_difference

_WEAK = re.compile(r'^(?P<method>[a-z-]+)\+weak(?P<num>\d+)/novel_ap50$')


def summarise_image_label_runs(runs: Dict[int, Dict]) -> Tuple[List[str], Dict]:
    """The tables and flat figures of :class:`ovdkit.toyworld.ImageLabelStudy` runs.

    Args:
        runs: Seed -> the study's flat figures (``'<m>/novel_ap50'``,
            ``'<m>+weak<N>/novel_ap50'``...); at least 2 seeds.

    Returns:
        Markdown lines and flat figures (``'<m>+weak<N>/<key>_mean'`` / ``_std``,
        ``'<m>+weak<N>-minus-<m>/<key>_mean'`` / ``_ci95_low`` / ``_ci95_high``...).
    """
    seeds = list(runs)
    found = sorted({(m['method'], int(m['num'])) for r in runs.values() for k in r
                    for m in [_WEAK.match(k)] if m})
    rows = [(method, num) for method, num in found
            if all(f'{method}+weak{num}/novel_ap50' in r and f'{method}/novel_ap50' in r
                   for r in runs.values())]
    flat: Dict = dict(seeds=','.join(map(str, seeds)), num_seeds=len(seeds))
    lines = [f'AP50 (%) over seeds {flat["seeds"]}: mean +- std', '',
             '| method | weak scenes | novel | base | all |', '|---|---|---|---|---|']
    for method in dict.fromkeys(m for m, _ in rows):
        for name, num in [(method, 0)] + [(f'{method}+weak{n}', n) for m, n in rows
                                          if m == method]:
            cells = []
            for key in KEYS:
                mean, std = mean_std([runs[s][f'{name}/{key}'] for s in seeds])
                flat[f'{name}/{key}_mean'], flat[f'{name}/{key}_std'] = (round(mean, 2),
                                                                          round(std, 2))
                cells.append(f'{mean:.1f} +- {std:.1f}')
            lines.append(f'| {method} | {num} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Paired differences, with weak scenes - without (same seed), mean and 95% '
              'interval (t, n - 1 dof)', '', '| difference | novel | base | all |',
              '|---|---|---|---|']
    for method, num in rows:
        name = f'{method}+weak{num}'
        cells = [paired_difference(flat, f'{name}-minus-{method}/{key}',
                                   [runs[s][f'{name}/{key}'] - runs[s][f'{method}/{key}']
                                    for s in seeds]) for key in KEYS]
        lines.append(f'| {name} - {method} | ' + ' | '.join(cells) + ' |')
    for method, num in rows:
        if method == 'grounding' and all('vild-text/novel_ap50' in r for r in runs.values()):
            name = f'grounding+weak{num}'
            diffs = [runs[s][f'{name}/novel_ap50'] - runs[s]['vild-text/novel_ap50']
                     for s in seeds]
            cell = paired_difference(flat, f'{name}-minus-vild-text/novel_ap50', diffs)
            lines.append(f'| {name} - vild-text (novel) | {cell} | | |')
    lines.append('\nper seed (novel AP50): ' + '; '.join(
        f'{s}: ' + ', '.join(f'{k[:-len("/novel_ap50")]} {v}' for k, v in runs[s].items()
                             if k.endswith('/novel_ap50')) for s in seeds))
    return lines, flat
