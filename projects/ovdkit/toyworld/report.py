"""report.md / report.json of a toy-world run, and its AP table as a picture."""
import json
import os
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
                 summary: Dict, regions: Optional[Dict] = None,
                 cpu_timings: Optional[Dict] = None, base: Optional[Dict] = None) -> None:
    """Writes ``report.json`` (everything) and ``report.md`` (for people) into ``work_dir``.

    ``regions`` are the figures of the CLIP region precompute, when a ViLD method ran;
    ``cpu_timings`` the CPU seconds of each step (this process and its detector processes);
    ``base`` the result of the shared base detector every method started from, if any.
    """
    cpu_timings = cpu_timings or {}
    work_dir = Path(work_dir)
    write_json_atomic(dict(summary=summary, world=world, clip=clip, methods=results,
                           base_detector=base, clip_regions=regions, timings_s=timings,
                           cpu_timings_s=cpu_timings), work_dir / 'report.json')
    zs, zs1 = clip['zero_shot'], clip['zero_shot_1x_single']
    num_classes = len(world['base_classes']) + len(world['novel_classes'])
    lines = [
        '# Toy open-vocabulary world: report', '',
        f"Split kind: **{world['split_kind']}**; {len(world['base_classes'])} base and "
        f"{len(world['novel_classes'])} novel categories.", '',
        f"Novel categories: {', '.join(world['novel_classes'])}", '',
        'Images: ' + ', '.join(f"{k} {v['images']}" for k, v in world['counts'].items()), '',
        '![sample scenes (novel boxes in white)](world/samples.png)', '',
        '## Tiny CLIP', '',
        f"{clip['steps']} steps of batch {clip['batch_size']} in {clip['seconds']} s "
        f"({clip['crops_per_s']} crops/s). Zero-shot accuracy over all {num_classes} "
        f"categories on {zs['crops']} held-out crops, as the detector uses CLIP (templates "
        f"`{zs['templates']}`, crops at {' + '.join(f'{s:g}x' for s in zs['crop_scales'])}): "
        f"**{zs['acc']:.4f}**; on the {zs['novel_crops']} novel-category crops: "
        f"**{zs['novel_acc']:.4f}**. With one template on 1x crops: {zs1['acc']:.4f} "
        f"(novel {zs1['novel_acc']:.4f}).", '']
    if regions:
        lines += ['## CLIP regions (ViLD-image targets)', '',
                  f"{regions['images']} training images, {regions['crops']} crops ("
                  f"{' + '.join(f'{s:g}x' for s in regions['crop_scales'])} "
                  f"of the top proposals) embedded at {regions['crops_per_s']} crops/s "
                  f"({regions['seconds']} s) into `{regions['store']}`.", '']
    if base:
        lines += ['## Base detector', '',
                  f"Every method below starts from one base detector: mmdet's Faster R-CNN with "
                  f"a cosine classifier over the base categories, trained {base['iterations']} "
                  f"iterations on base boxes ({base['train_s']} s, beside the CLIP)"
                  + (f"; its RPN at `{Path(base['proposal_checkpoint']).name}` proposed the "
                     f"CLIP regions" if base.get('proposal_checkpoint') else '')
                  + f". Its AP50 on the base categories: "
                  f"{base['base_ap50']:.1f}. The iterations below come after it.", '']
    if results:
        lines += ['## Detectors (AP50, %)', '',
                  '| method | novel | base | all | iterations | train s | s / iter |',
                  '|---|---|---|---|---|---|---|']
        for method, res in results.items():
            lines.append(f"| {method} | {res['novel_ap50']:.1f} | {res['base_ap50']:.1f} | "
                         f"{res['all_ap50']:.1f} | {res['iterations']} | "
                         f"{res.get('train_s', '')} | {res.get('s_per_iter', '')} |")
        with_synonyms = {m: r for m, r in results.items() if 'novel_ap50_synonyms' in r}
        if with_synonyms:
            lines += ['', 'The same detectors tested on the vocabulary whose classes carry the '
                      "captions' shape synonyms (`world/annotations/all_classes_synonyms.txt`, "
                      'embedding = mean over synonyms x templates), against one name per class:',
                      '', '| method | novel | base | all | novel, one name |',
                      '|---|---|---|---|---|']
            for method, res in with_synonyms.items():
                lines.append(f"| {method} | {res['novel_ap50_synonyms']:.1f} | "
                             f"{res['base_ap50_synonyms']:.1f} | {res['all_ap50_synonyms']:.1f} | "
                             f"{res['novel_ap50']:.1f} |")
        lines += ['', '![AP50 per method](ap50.png)', '']
        _ap_table_image(results, work_dir / 'ap50.png')
        for method, res in results.items():
            for picture in res.get('pictures', []):
                rel = Path(os.path.relpath(picture, work_dir)).as_posix()
                lines.append(f'![{method} detections]({rel})')
        lines.append('')
    else:
        lines += ['## Detectors', '', 'No detector method was run.', '']
    lines += ['## Step times (s)', '', '| step | wall seconds | CPU seconds |', '|---|---|---|']
    lines += [f'| {k} | {v} | {cpu_timings.get(k, "")} |' for k, v in timings.items()]
    lines += ['', '```json', json.dumps(summary), '```', '']
    write_text_atomic('\n'.join(lines), work_dir / 'report.md')
