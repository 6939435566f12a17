"""A sharded on-disk store of precomputed region boxes and CLIP image embeddings (ViLD-image).

Layout of a store folder::

    meta.json                   how it was made (CLIP model + weights id, proposal source, M,
                                crop scales, image list...): written first, checked on reopen
    shard_00000.boxes.npy       (K, 4) float32 boxes (x1, y1, x2, y2, original image pixels)
    shard_00000.embeddings.npy  (K, D) float16 unit-norm CLIP image embeddings
    shard_00000.json            the shard's image keys and row ranges: written LAST, so a shard
                                without it is unfinished and is recomputed on restart
    index.json                  image key -> (shard, first row, count), rebuilt from the markers
                                (after each shard by one process; once at the end by rank 0
                                of a distributed run)

Shard ``s`` always holds the same images (``shard_size`` consecutive images of the image list),
so a run restarted after a crash writes exactly the files an uninterrupted run writes, whichever
process (or how many) computed each shard. Arrays are plain ``.npy`` files, read row ranges at a
time with ``pread`` (no pickle, no memory map: a reader's resident memory does not grow with the
store, however much of it a training epoch touches).
"""
import json
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..utils.atomic_io import atomic_write, write_json_atomic

FORMAT_VERSION = 1
#: Recorded for people, not compared on reopen: the same weights or config may be given by
#: another path (the weights' hash and the checkpoint's hash are compared instead).
INFORMATIONAL_FIELDS = ('clip_pretrained', 'proposal_config')


class RegionStoreError(ValueError):
    """A region store is missing, incomplete, or was made with other settings."""


def _shard_stem(shard: int) -> str:
    return f'shard_{shard:05d}'


def _dump(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)


class CLIPRegionStore:
    """Reads (and, through :meth:`create`, writes) a region store.

    Args:
        root: The store folder.

    Raises:
        RegionStoreError: no ``meta.json`` in ``root``.
    """

    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root)
        meta_path = self.root / 'meta.json'
        if not meta_path.is_file():
            raise RegionStoreError(f'{self.root} is not a CLIP region store (no meta.json); '
                                   f'make one with tools/precompute_clip_regions.py')
        self.meta: Dict = json.loads(meta_path.read_text())
        self._index: Optional[Dict[str, List[int]]] = None
        self._lookup: Optional[CompactRegionIndex] = None
        self._layouts: Dict[str, Tuple[int, np.dtype, Tuple[int, ...]]] = {}

    # -- writing ---------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Union[str, Path], settings: Mapping,
               writer: bool = True) -> 'CLIPRegionStore':
        """Opens ``root`` for writing with ``settings``, creating it if needed.

        Args:
            root: The store folder.
            settings: JSON-able provenance: must include ``image_keys`` (the ordered image
                list) and ``shard_size``; everything else (CLIP model, weights id, proposal
                source, ``num_regions``, ``crop_scales``...) is recorded and compared.
            writer: Whether this process owns the store-wide files: it writes ``meta.json``
                and clears the temporary files of killed runs. In a distributed run only rank
                0 does, before the other ranks open the store (``writer=False``: they only
                check ``settings`` against the ``meta.json`` rank 0 wrote).

        Raises:
            RegionStoreError: the folder holds a store made with other settings (the message
                names the first differing field; nothing in it is changed), or, with
                ``writer=False``, holds no store yet.
        """
        root = Path(root)
        meta = dict(settings, format_version=FORMAT_VERSION)
        meta_path = root / 'meta.json'
        if meta_path.is_file():
            found = json.loads(meta_path.read_text())
            for field in sorted(set(found) | set(meta)):
                if field not in INFORMATIONAL_FIELDS and found.get(field) != meta.get(field):
                    shown = ('a different image list' if field == 'image_keys' else
                             f'{found.get(field)!r}, this run has {meta.get(field)!r}')
                    raise RegionStoreError(
                        f'refusing to add to the region store {root}: it was made with another '
                        f'{field!r} ({shown}); use a new --out folder or delete this one')
        elif writer:
            root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(meta, meta_path)
        if writer:
            # Temporary files of a killed run are never renamed into place; clear them away
            # (only the writer does, before anyone else starts writing).
            for stale in root.glob('.*.tmp'):
                stale.unlink(missing_ok=True)
        return cls(root)

    @property
    def num_shards(self) -> int:
        """Number of shards the full image list needs."""
        size = int(self.meta['shard_size'])
        return (len(self.meta['image_keys']) + size - 1) // size

    def shard_keys(self, shard: int) -> List[str]:
        """Image keys of ``shard``, in order."""
        size = int(self.meta['shard_size'])
        return list(self.meta['image_keys'][shard * size:(shard + 1) * size])

    def is_shard_complete(self, shard: int) -> bool:
        """Whether ``shard``'s marker (written after its arrays) exists."""
        return (self.root / f'{_shard_stem(shard)}.json').is_file()

    def pending_shards(self) -> List[int]:
        """Shards still to compute (no completion marker)."""
        return [s for s in range(self.num_shards) if not self.is_shard_complete(s)]

    def write_shard(self, shard: int, boxes: Sequence[np.ndarray],
                    embeddings: Sequence[np.ndarray], update_index: bool = True) -> None:
        """Writes one shard: arrays first, then its marker, then (optionally) the index.

        Args:
            shard: Shard number.
            boxes: Per image of the shard, ``(K_i, 4)`` boxes.
            embeddings: Per image, ``(K_i, D)`` embeddings (stored as float16).
            update_index: Rebuild ``index.json`` afterwards. Ranks of a distributed run pass
                ``False``: the shard files are theirs alone, ``index.json`` is rank 0's.
        """
        keys = self.shard_keys(shard)
        if len(boxes) != len(keys) or len(embeddings) != len(keys):
            raise ValueError(f'shard {shard} has {len(keys)} images, got {len(boxes)} box sets '
                             f'and {len(embeddings)} embedding sets')
        counts = [int(len(b)) for b in boxes]
        dim = int(self.meta['embed_dim'])
        all_boxes = np.concatenate([np.asarray(b, np.float32).reshape(-1, 4) for b in boxes])
        all_emb = np.concatenate([np.asarray(e, np.float16).reshape(-1, dim)
                                  for e in embeddings])
        stem = self.root / _shard_stem(shard)
        atomic_write(f'{stem}.boxes.npy', lambda tmp: _save_npy(tmp, all_boxes))
        atomic_write(f'{stem}.embeddings.npy', lambda tmp: _save_npy(tmp, all_emb))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
        marker = dict(shard=shard, keys=keys, starts=starts, counts=counts,
                      rows=int(sum(counts)))
        atomic_write(f'{stem}.json', lambda tmp: Path(tmp).write_text(_dump(marker)))
        if update_index:
            self.write_index()

    def write_index(self) -> Dict:
        """Rebuilds ``index.json`` from the completed shards' markers."""
        images: Dict[str, List[int]] = {}
        done = []
        for shard in range(self.num_shards):
            marker_path = self.root / f'{_shard_stem(shard)}.json'
            if not marker_path.is_file():
                continue
            marker = json.loads(marker_path.read_text())
            done.append(shard)
            for key, start, count in zip(marker['keys'], marker['starts'], marker['counts']):
                images[key] = [shard, start, count]
        index = dict(complete=len(done) == self.num_shards, num_images=len(images),
                     shards=done, images=images)
        atomic_write(self.root / 'index.json', lambda tmp: Path(tmp).write_text(_dump(index)))
        self._index = self._lookup = None
        return index

    # -- reading ---------------------------------------------------------------------------
    @property
    def index(self) -> Dict[str, List[int]]:
        """Image key -> ``[shard, first row, count]`` of the completed shards (a dict, for
        people and tools; :meth:`get` uses the compact :attr:`lookup` instead)."""
        if self._index is None:
            path = self.root / 'index.json'
            self._index = json.loads(path.read_text())['images'] if path.is_file() else {}
        return self._index

    @property
    def lookup(self) -> 'CompactRegionIndex':
        """The index as sorted arrays (built once per process from ``index.json``)."""
        if self._lookup is None:
            path = self.root / 'index.json'
            images = json.loads(path.read_text())['images'] if path.is_file() else {}
            self._lookup = CompactRegionIndex(images)
        return self._lookup

    @property
    def complete(self) -> bool:
        """Whether every image of the store's image list has been computed."""
        return len(self.lookup) == len(self.meta['image_keys'])

    def __contains__(self, key) -> bool:
        return self.lookup.find(str(key)) is not None

    def __len__(self) -> int:
        return len(self.lookup)

    def _layout(self, path: str) -> Tuple[int, np.dtype, Tuple[int, ...]]:
        """Data offset, dtype and shape of one ``.npy`` file (its header, read once)."""
        if path not in self._layouts:
            with open(path, 'rb') as f:
                major, _ = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if major == 1 else
                               np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                if fortran or dtype.hasobject:
                    raise RegionStoreError(f'{path}: not a C-ordered plain array')
                self._layouts[path] = (f.tell(), dtype, shape)
        return self._layouts[path]

    def _read_rows(self, path: str, start: int, count: int) -> np.ndarray:
        offset, dtype, shape = self._layout(path)
        row_bytes = dtype.itemsize * int(np.prod(shape[1:]))
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, count * row_bytes, offset + start * row_bytes)
        finally:
            os.close(fd)
        if len(data) != count * row_bytes:
            raise RegionStoreError(f'{path}: rows {start}..{start + count} are beyond the end '
                                   f'of the file (truncated store?)')
        return np.frombuffer(data, dtype).reshape((count,) + tuple(shape[1:])).copy()

    def get(self, key, describe: str = '') -> Tuple[np.ndarray, np.ndarray]:
        """Boxes and embeddings of one image.

        Args:
            key: The image key (the dataset's ``img_id``).
            describe: Extra words naming the image in an error (e.g. its path).

        Returns:
            ``(K, 4)`` float32 boxes in original image pixels and ``(K, D)`` float16
            embeddings.

        Raises:
            KeyError: the image is not in the store (the message names image and store).
        """
        entry = self.lookup.find(str(key))
        if entry is None:
            state = '' if self.complete else ' (the store is incomplete: rerun ' \
                'tools/precompute_clip_regions.py to finish it)'
            raise KeyError(f'image {key}{" " + describe if describe else ""} is not in the '
                           f'CLIP region store {self.root}{state}')
        shard, start, count = entry
        stem = self.root / _shard_stem(shard)
        return (self._read_rows(f'{stem}.boxes.npy', start, count).astype(np.float32),
                self._read_rows(f'{stem}.embeddings.npy', start, count))


class CompactRegionIndex:
    """Image key -> ``(shard, first row, count)`` as four sorted arrays, not a dict of lists.

    A dict of 100k string keys and 3-element lists costs ~30 MB of Python objects per
    DataLoader worker, and copy-on-write copies it page by page as reference counts change;
    these arrays take ~25 bytes an image and are never written after construction.

    Args:
        images: ``index.json``'s ``images`` mapping.
    """

    def __init__(self, images: Mapping[str, Sequence[int]]) -> None:
        keys = sorted(images)
        self.keys = np.array(keys, dtype=np.str_) if keys else np.array([], dtype='<U1')
        rows = np.array([images[k] for k in keys], np.int64).reshape(-1, 3)
        self.shards, self.starts, self.counts = (rows[:, 0].copy(), rows[:, 1].copy(),
                                                 rows[:, 2].copy())

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: str) -> Optional[Tuple[int, int, int]]:
        """``(shard, first row, count)`` of ``key``, or ``None``."""
        i = int(np.searchsorted(self.keys, key))
        if i < len(self.keys) and self.keys[i] == key:
            return int(self.shards[i]), int(self.starts[i]), int(self.counts[i])
        return None


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, 'wb') as f:
        np.save(f, array, allow_pickle=False)
