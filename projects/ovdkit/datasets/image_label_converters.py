"""Converters to image-label files (tools/dataset_converters/imagenet2labels.py and
captions2labels.py): ImageNet-21k folders of LVIS classes, COCO captions.

Both write Detic's format, a COCO-format file whose images carry ``pos_category_ids`` (and,
from captions, their ``captions``) and no annotations, which
:class:`ovdkit.datasets.ImageLabelDataset` reads. They follow the rules of
:mod:`ovdkit.datasets.converters`: every input is read and checked before anything is
written; an unreadable, non-JSON or wrong-kind input, or an output place that cannot be
written, is a :class:`ConverterInputError` naming it; outputs are written atomically.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, List, Union

from ..utils.atomic_io import write_json_atomic
from .caption_labels import caption_label_names
from .converters import (ConverterInputError, _check_lvis_categories, _check_output, _load,
                         check_output_folder)

#: Files taken as images in an ImageNet class folder.
IMAGE_SUFFIXES = ('.jpeg', '.jpg', '.png')


def _check_out_file(out_json: Path, inputs: List[Path]) -> None:
    check_output_folder(out_json.parent, f'--out {out_json}: folder')
    if out_json.is_dir():
        raise ConverterInputError(f'--out {out_json} is a folder: give the path of the json '
                                  f'file to write')
    for src in inputs:
        _check_output(src, out_json)


def read_synset_mapping(path: Union[str, Path]) -> Dict[str, str]:
    """An LVIS-synset -> ImageNet-folder mapping file: ``synset folder`` a line (``#`` starts
    a comment), e.g. ``dog.n.01 n02084071``.

    Returns:
        synset -> folder name.

    Raises:
        ConverterInputError: unreadable, a line without two fields, a synset given twice,
            or no line at all; names the file and the line.
    """
    try:
        lines = Path(path).read_text(encoding='utf-8').splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConverterInputError(f'{path}: cannot read it ({exc})') from exc
    mapping: Dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ConverterInputError(f'{path}:{number}: expected "SYNSET FOLDER", got '
                                      f'{line!r}')
        if fields[0] in mapping:
            raise ConverterInputError(f'{path}:{number}: synset {fields[0]!r} is mapped twice')
        mapping[fields[0]] = fields[1]
    if not mapping:
        raise ConverterInputError(f'{path}: no "SYNSET FOLDER" line')
    return mapping


def imagenet_to_image_labels(image_root: Union[str, Path], mapping_file: Union[str, Path],
                             lvis_json: Union[str, Path], out_json: Union[str, Path]) -> Dict:
    """ImageNet-21k class folders of LVIS classes -> an image-label file (Detic's IN-L).

    Each mapped folder ``image_root/FOLDER`` gives its images (``FOLDER/NAME.JPEG``) the
    label of the LVIS category with that synset. The categories are the LVIS file's (all of
    them: the labels index LVIS ids).

    Returns:
        Counts: ``images``, ``classes`` (with images), ``missing_folders`` (mapped folders
        that are absent, e.g. ``['n0000']``, at most 10 listed), ``path``.

    Raises:
        ConverterInputError: as the module says; a mapped synset that is no LVIS category's;
            no mapped folder exists; the output cannot be written.
    """
    root, out = Path(image_root), Path(out_json)
    _check_out_file(out, [Path(mapping_file), Path(lvis_json)])
    if not root.is_dir():
        raise ConverterInputError(f'{image_root}: not a folder of ImageNet class folders')
    mapping = read_synset_mapping(mapping_file)
    lvis = _load(lvis_json)
    _check_lvis_categories(lvis, Path(lvis_json))
    by_synset = {c.get('synset'): c for c in lvis['categories']}
    unknown = [s for s in mapping if s not in by_synset]
    if unknown:
        raise ConverterInputError(f'{mapping_file}: {len(unknown)} synsets are no category of '
                                  f'{lvis_json}, e.g. {unknown[:3]}')
    images, missing, per_class = [], [], Counter()
    for synset, folder in mapping.items():
        path = root / folder
        if not path.is_dir():
            missing.append(folder)
            continue
        for file in sorted(path.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(dict(id=len(images) + 1, file_name=f'{folder}/{file.name}',
                                   pos_category_ids=[by_synset[synset]['id']]))
                per_class[synset] += 1
    if not images:
        raise ConverterInputError(f'{image_root}: none of the {len(mapping)} mapped folders '
                                  f'holds an image (missing: {missing[:3]})')
    write_json_atomic(dict(images=images, annotations=[], categories=lvis['categories']), out)
    return dict(images=len(images), classes=len(per_class), missing_folders=len(missing),
                missing_examples=missing[:10], path=str(out))


def captions_to_image_labels(captions_json: Union[str, Path], categories_json: Union[str, Path],
                             out_json: Union[str, Path], keep_unnamed: bool = False) -> Dict:
    """COCO captions -> an image-label file: each image's captions and the categories they
    name (Detic's COCO-caption protocol, :func:`ovdkit.datasets.caption_label_names`).

    Args:
        captions_json: COCO captions (``captions_train2017.json``: ``images`` and
            ``annotations`` with ``image_id`` / ``caption``).
        categories_json: A COCO-format file whose ``categories`` are the vocabulary (e.g.
            OV-COCO's converted train file); a category's ``synonyms`` list, if any, also
            matches.
        out_json: The file to write.
        keep_unnamed: Keep images whose captions name no category (with no labels; the
            dataset drops them, counted).

    Returns:
        Counts: ``images`` written, ``unnamed`` (images whose captions name nothing),
        ``labels``, ``path``.

    Raises:
        ConverterInputError: as the module says; an annotation without a caption string.
    """
    out = Path(out_json)
    _check_out_file(out, [Path(captions_json), Path(categories_json)])
    captions = _load(captions_json, ('images', 'annotations'))
    vocab = _load(categories_json)
    bad = [a for a in captions['annotations'] if not isinstance(a.get('caption'), str)]
    if bad:
        raise ConverterInputError(f'{captions_json}: {len(bad)} annotations have no "caption" '
                                  f'string (e.g. id {bad[0].get("id")}): not a captions file')
    categories = vocab['categories']
    entries = ['|'.join([c['name']] + [s for s in c.get('synonyms', []) if s != c['name']])
               for c in categories]
    id_of = {c['name']: c['id'] for c in categories}
    texts: Dict[int, List[str]] = {}
    for ann in captions['annotations']:
        texts.setdefault(ann['image_id'], []).append(ann['caption'])
    images, unnamed, labels = [], 0, 0
    for image in captions['images']:
        own = texts.get(image['id'], [])
        names = caption_label_names(own, entries)
        unnamed += not names
        if names or keep_unnamed:
            labels += len(names)
            images.append(dict(image, captions=own,
                               pos_category_ids=[id_of[n] for n in names]))
    write_json_atomic(dict(images=images, annotations=[], categories=categories), out)
    return dict(images=len(images), unnamed=unnamed, labels=labels, path=str(out))
