"""CLIPRegionStore lookups: each stored image gets its own rows; an absent key is an error
wherever it sorts among the stored ones (before, between or after them)."""
import numpy as np
import pytest

from ovdkit.regions import CLIPRegionStore

KEYS = ['10', '30', '50', '7']  # sorted as strings: '10' < '30' < '50' < '7'


@pytest.fixture()
def store(tmp_path):
    """Image ``k`` holds ``int(k) % 3 + 1`` boxes, every coordinate equal to ``int(k)``."""
    writer = CLIPRegionStore.create(tmp_path / 'store', dict(
        image_keys=KEYS, shard_size=2, embed_dim=2, clip_model='m'))
    for shard in range(2):
        keys = KEYS[2 * shard:2 * shard + 2]
        boxes = [np.full((int(k) % 3 + 1, 4), int(k), np.float32) for k in keys]
        embeddings = [np.full((len(b), 2), int(k) / 100, np.float32)
                      for k, b in zip(keys, boxes)]
        writer.write_shard(shard, boxes, embeddings)
    return CLIPRegionStore(tmp_path / 'store')


def test_each_key_reads_its_own_rows(store):
    for key in KEYS:
        boxes, embeddings = store.get(key)
        assert boxes.shape == (int(key) % 3 + 1, 4) and (boxes == int(key)).all()
        np.testing.assert_allclose(embeddings.astype(np.float32), int(key) / 100, atol=1e-3)


@pytest.mark.parametrize('key', ['20', '40', '6', '1', '9', '300', '05'],
                         ids=['between-10-30', 'between-30-50', 'between-50-7', 'before-all',
                              'after-all', 'prefix-of-none', 'leading-zero'])
def test_an_absent_key_is_an_error_wherever_it_sorts(store, key):
    assert key not in store
    with pytest.raises(KeyError, match=f'image {key} is not in the CLIP region store'):
        store.get(key)
