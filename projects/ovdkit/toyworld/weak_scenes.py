"""The toy world's weakly labelled split: scenes that carry image labels and a caption naming
every object in them (novel ones included), and no boxes."""
import json
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from ..utils.atomic_io import write_json_atomic
from .scene_renderer import render_scene
from .world_spec import ToyWorldSpec

#: The weak split's scene generators are salted apart from the world's four splits.
WEAK_SALT = 4


def weak_scene_caption(names: Sequence[str]) -> str:
    """``['red star', 'blue circle', 'red star']`` -> ``'a red star, a blue circle and a red
    star.'`` (one phrase an object, in drawing order)."""
    phrases = [f'a {n}' for n in names]
    text = phrases[0] if len(phrases) == 1 else \
        ', '.join(phrases[:-1]) + ' and ' + phrases[-1]
    return text + '.'


def weak_labels_file(out_dir: str, num: int) -> Path:
    """The image-label file of the first ``num`` weak scenes."""
    return Path(out_dir) / 'annotations' / f'weak_{num}.json'


def generate_weak_scenes(spec: ToyWorldSpec, out_dir: str, sizes: Sequence[int]) -> Dict:
    """Draws ``max(sizes)`` weak scenes of ``spec``'s world and writes their label files.

    Layout under ``out_dir``: ``images/weak/NNNNNN.png`` and, for each size ``n``,
    ``annotations/weak_<n>.json`` (the first ``n`` scenes): a COCO-format image-label file
    (:class:`ovdkit.datasets.ImageLabelDataset`) whose images carry ``pos_category_ids`` (the
    categories of every object, base and novel) and ``captions`` (one caption naming every
    object, with the shape names the CLIP's captions use), no annotations, and every
    category. A scene is drawn like a training scene, from its own seeded generator; files
    already written for the same spec are kept.

    Returns:
        ``images`` (drawn), ``objects``, ``novel_objects`` and the files by size.
    """
    root = Path(out_dir)
    stamp = root / 'weak.json'
    sizes = sorted(set(int(n) for n in sizes))
    if not sizes or sizes[0] < 1:
        raise ValueError(f'weak scene counts must be >= 1, got {sizes}')
    wanted = dict(spec=spec.to_dict(), images=sizes[-1])
    if stamp.is_file() and json.loads(stamp.read_text()).get('made_from') == wanted and \
            all(weak_labels_file(out_dir, n).is_file() for n in sizes):
        return json.loads(stamp.read_text())
    categories = spec.categories()
    novel = {c['id'] for c in categories if c['split'] == 'novel'}
    (root / 'images' / 'weak').mkdir(parents=True, exist_ok=True)
    images: List[Dict] = []
    objects = novel_objects = 0
    for index in range(sizes[-1]):
        rng = np.random.default_rng([spec.seed, WEAK_SALT, index])
        image, drawn = render_scene(rng, categories, spec.image_size, spec.max_objects,
                                    spec.min_object_size, spec.max_object_size)
        file_name = f'weak/{index + 1:06d}.png'
        image.save(root / 'images' / file_name)
        names_rng = np.random.default_rng([spec.seed, WEAK_SALT, index, 1])
        names = []
        for obj in drawn:
            options = spec.caption_names(next(c for c in categories
                                              if c['id'] == obj['category_id']))
            names.append(options[names_rng.integers(len(options))])
        objects += len(drawn)
        novel_objects += sum(obj['category_id'] in novel for obj in drawn)
        images.append(dict(id=index + 1, file_name=file_name, width=spec.image_size,
                           height=spec.image_size,
                           pos_category_ids=sorted({o['category_id'] for o in drawn}),
                           captions=[weak_scene_caption(names)] if names else []))
    files = {}
    for n in sizes:
        path = weak_labels_file(out_dir, n)
        write_json_atomic(dict(images=images[:n], annotations=[], categories=categories), path)
        files[n] = str(path)
    summary = dict(made_from=wanted, images=len(images), objects=objects,
                   novel_objects=novel_objects, files=files)
    write_json_atomic(summary, stamp)
    return summary
