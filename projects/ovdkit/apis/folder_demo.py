"""FolderDemo: an inferencer run over images and folders, each image's drawing and detections
written to files, bad images reported and skipped (what ``tools/demo.py`` does)."""
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import mmcv
from mmdet.apis.det_inferencer import IMG_EXTENSIONS
from mmengine.utils import ProgressBar

from ..utils.atomic_io import write_json_atomic
from .detection_records import detection_records, one_line


def list_images(inputs: Sequence[str]) -> List[str]:
    """Image files of ``inputs``: files as given, folders expanded to their image files (by
    mmdet's ``IMG_EXTENSIONS``, not recursive, sorted)."""
    images = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            images += sorted(str(p) for p in path.iterdir()
                             if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        else:
            images.append(str(item))  # checked (and reported if missing) with the others
    return images


def check_image(path: str) -> Optional[str]:
    """``None`` when ``path`` decodes as an image, else why not."""
    if not Path(path).is_file():
        return 'does not exist'
    try:
        image = mmcv.imread(path)
    except Exception as exc:  # noqa: BLE001  (any decoder failure means the same to a user)
        return f'cannot be read ({one_line(exc)})'
    if image is None or image.size == 0:
        return 'cannot be read (not an image, or a corrupt one)'
    return None


def check_out_dir(out_dir: str, option: str = '--out-dir') -> None:
    """Checks that ``out_dir`` is, or can be created as, a folder this process can write in.

    The check creates the missing folders and a probe file, then removes what it created:
    nothing is left behind (a setup error later must leave no trace).

    Args:
        out_dir: The folder.
        option: How messages name it.

    Raises:
        OSError: naming ``option``, the folder, why (a parent is a file, no permission, it
            cannot be created) and what to do.
    """
    path = Path(out_dir).absolute()
    missing = []
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing.append(folder)
    existing, why = folder, None
    if not existing.is_dir():
        why = f'{existing} is a file'
    elif not os.access(existing, os.W_OK | os.X_OK):
        why = f'no permission to write in {existing}'
    else:
        created: List[Path] = []
        try:
            for folder in reversed(missing):
                folder.mkdir()
                created.append(folder)
            with tempfile.NamedTemporaryFile(dir=path, prefix='.ovdkit-write-probe-'):
                pass
        except OSError as exc:
            what = 'create' if len(created) < len(missing) else 'write in'
            why = f'cannot {what} it: {exc.strerror or one_line(exc)}'
        finally:
            for folder in reversed(created):
                folder.rmdir()
    if why is not None:
        raise OSError(f'{option} {out_dir} is not a writable folder ({why}); give a folder '
                      f'you can write in')


class FolderDemo:
    """Runs an inferencer over images in batches, writing each image's drawing and
    detections; an image that cannot be read or fails is reported and the others go on.

    For each image the drawing goes to ``out_dir/vis/<image name>`` (written by the
    inferencer) and its detections to ``out_dir/preds/<image stem>.json`` (atomically);
    :attr:`records` holds, per image, its count of detections or its error::

        demo = FolderDemo(OVDInferencer(config, checkpoint, vocabulary='zebra,cone'), 'out')
        demo.run(list_images(['photos/']))
        demo.records  # {'photos/a.jpg': {'image': ..., 'detections': 3, 'vis': ...}, ...}

    Args:
        inferencer: An :class:`~ovdkit.apis.OVDInferencer` or
            :class:`~ovdkit.apis.ONNXInferencer` with its vocabulary (or caption) set.
        out_dir: Output folder.
        score_thr: Lowest score drawn and written, in [0, 1].
        batch_size: Images per inferencer call (>= 1); a failing batch is retried image by
            image.
        zoom: Integer enlargement of the drawings (>= 1, nearest neighbour).
        progress: A progress bar on stderr when there is more than one image.
        debug: Raise an image's failure instead of reporting it.
    """

    def __init__(self, inferencer, out_dir: str, score_thr: float = 0.3, batch_size: int = 4,
                 zoom: int = 1, progress: bool = True, debug: bool = False) -> None:
        if batch_size < 1 or zoom < 1 or not 0.0 <= score_thr <= 1.0:
            raise ValueError(f'FolderDemo: batch_size {batch_size} and zoom {zoom} must be at '
                             f'least 1 and score_thr {score_thr} in [0, 1]')
        self.inferencer = inferencer
        self.out_dir = Path(out_dir)
        self.score_thr = score_thr
        self.batch_size = batch_size
        self.zoom = zoom
        self.progress = progress
        self.debug = debug
        self.records: Dict[str, Dict] = {}
        self.bar = None

    def error(self, image: str, reason: str) -> None:
        """Records and prints (one line, stderr) an image that could not be processed."""
        self.records[image] = dict(image=image, error=reason)
        prefix = '\n' if self.bar is not None else ''  # not glued to the progress bar
        print(f'{prefix}error: image {image}: {reason}', file=sys.stderr, flush=True)

    def run_batch(self, batch: List[str]) -> None:
        """Detects, draws and writes one batch; a failing batch is retried image by image."""
        try:
            out = self.inferencer(batch, batch_size=len(batch), out_dir=str(self.out_dir),
                                  pred_score_thr=self.score_thr, zoom=self.zoom)
        except Exception as exc:  # noqa: BLE001
            if len(batch) > 1:
                for image in batch:
                    self.run_batch([image])
                return
            if self.debug:
                raise
            self.error(batch[0], one_line(exc))
            return
        for image, prediction in zip(batch, out['predictions']):
            found = detection_records(prediction, self.score_thr)
            record = dict(image=image, score_thr=self.score_thr, detections=found)
            if 'caption' in prediction:
                record['caption'] = prediction['caption']
            write_json_atomic(record, self.out_dir / 'preds' / f'{Path(image).stem}.json',
                              indent=1)
            self.records[image] = dict(image=image, detections=len(found),
                                       vis=str(self.out_dir / 'vis' / Path(image).name))

    def run(self, images: Sequence[str]) -> List[Dict]:
        """Checks every image, then processes the readable ones in batches.

        Returns:
            One record per image, in order: ``{'image', 'detections', 'vis'}`` or
            ``{'image', 'error'}``.
        """
        if len(images) > 1 and self.progress:
            self.bar = ProgressBar(len(images), file=sys.stderr)
        batch: List[str] = []
        for index, image in enumerate(images):
            problem = check_image(image)
            if problem:
                self.error(image, problem)
            else:
                batch.append(image)
            if batch and (len(batch) == self.batch_size or index == len(images) - 1):
                self.run_batch(batch)
                if self.bar is not None:
                    for _ in batch:
                        self.bar.update()
                batch = []
            if problem and self.bar is not None:
                self.bar.update()
        if self.bar is not None:
            sys.stderr.write('\n')
            self.bar = None
        return [self.records[image] for image in images]

