"""report.md / report.json of a toy-world run, and its AP table as a picture."""
import json
from pathlib import Path
from typing import Dict, Optional

from ..utils.atomic_io import write_json_atomic, write_text_atomic


def _ap_table_image(results: Dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    methods = list(results)
    keys = ('novel_ap50', 'base_ap50', 'all_ap50')
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(methods), 3))
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        values = [results[m][key] for m in methods]
        bars = ax.bar([i + k * width for i in range(len(methods))], values, width,
                      label=key.replace('_ap50', ''))
        ax.bar_label(bars, fmt='%.1f', fontsize=7)
    ax.set_xticks([i + width for i in range(len(methods))], methods)
    ax.set_ylabel('AP50 (%)')
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncols=3, loc='upper center')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(work_dir: Path, world: Dict, clip: Dict, results: Dict, timings: Dict,
                 summary: Dict, regions: Optional[Dict] = None) -> None:
    """Writes ``report.json`` (everything) and ``report.md`` (for people) into ``work_dir``.

    ``regions`` are the figures of the CLIP region precompute, when a ViLD method ran.
    """
    work_dir = Path(work_dir)
    write_json_atomic(dict(summary=summary, world=world, clip=clip, methods=results,
                           clip_regions=regions, timings_s=timings), work_dir / 'report.json')
    zs = clip['zero_shot']
    lines = [
        '# Toy open-vocabulary world: report', '',
        f"Split kind: **{world['split_kind']}**; {len(world['base_classes'])} base and "
        f"{len(world['novel_classes'])} novel categories.", '',
        f"Novel categories: {', '.join(world['novel_classes'])}", '',
        'Images: ' + ', '.join(f"{k} {v['images']}" for k, v in world['counts'].items()), '',
        '![sample scenes (novel boxes in white)](world/samples.png)', '',
        '## Tiny CLIP', '',
        f"{clip['steps']} steps of batch {clip['batch_size']} in {clip['seconds']} s "
        f"({clip['crops_per_s']} crops/s). Zero-shot accuracy over all "
        f"{len(world['base_classes']) + len(world['novel_classes'])} categories on "
        f"{zs['crops']} held-out crops: **{zs['acc']:.4f}**; on the {zs['novel_crops']} "
        f"novel-category crops: **{zs['novel_acc']:.4f}**.", '']
    if regions:
        lines += ['## CLIP regions (ViLD-image targets)', '',
                  f"{regions['images']} training images, {regions['crops']} crops (1x and 1.5x "
                  f"of the top proposals) embedded at {regions['crops_per_s']} crops/s "
                  f"({regions['seconds']} s) into `{regions['store']}`.", '']
    if results:
        lines += ['## Detectors (AP50, %)', '', '| method | novel | base | all |',
                  '|---|---|---|---|']
        for method, res in results.items():
            lines.append(f"| {method} | {res['novel_ap50']:.1f} | {res['base_ap50']:.1f} | "
                         f"{res['all_ap50']:.1f} |")
        lines += ['', '![AP50 per method](ap50.png)', '']
        _ap_table_image(results, work_dir / 'ap50.png')
        for method, res in results.items():
            for picture in res.get('pictures', []):
                lines.append(f'![{method} detections]({picture})')
        lines.append('')
    else:
        lines += ['## Detectors', '', 'No detector method was run.', '']
    lines += ['## Step times (s)', '', '| step | seconds |', '|---|---|']
    lines += [f'| {k} | {v} |' for k, v in timings.items()]
    lines += ['', '```json', json.dumps(summary), '```', '']
    write_text_atomic('\n'.join(lines), work_dir / 'report.md')
