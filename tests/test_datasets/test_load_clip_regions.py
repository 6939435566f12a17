"""LoadCLIPRegions: stored boxes follow resize, flip and crop; cut boxes and missing images."""
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmdet.utils import register_all_modules
from PIL import Image

import ovdkit  # noqa: F401
from ovdkit.regions import CLIPRegionStore

BOX = [10, 20, 40, 50]  # the white rectangle of the test image, in original pixels


@pytest.fixture()
def store(tmp_path):
    """A 100 x 80 image with one white rectangle and a store holding its box."""
    image = np.zeros((80, 100, 3), np.uint8)
    x1, y1, x2, y2 = BOX
    image[y1:y2, x1:x2] = 255
    Image.fromarray(image).save(tmp_path / 'img.png')
    settings = dict(image_keys=['7'], shard_size=4, embed_dim=3, clip_model='m')
    writer = CLIPRegionStore.create(tmp_path / 'store', settings)
    embeddings = np.eye(3, dtype=np.float32)[:2]
    writer.write_shard(0, [np.array([BOX, [0, 0, 8, 8]], np.float32)], [embeddings])
    register_all_modules()
    return tmp_path


def _white_box(img):
    ys, xs = np.nonzero(img[..., 0] > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_boxes_follow_resize_flip_and_crop(store, seed):
    np.random.seed(seed)  # RandomCrop's offset
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(200, 160), keep_ratio=True),
        dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        dict(type='RandomCrop', crop_size=(190, 150)),  # (w, h)
        dict(type='LoadCLIPRegions', store=str(store / 'store')),
        dict(type='PackDetInputsWithRegions'),
    ])
    packed = pipeline(dict(img_path=str(store / 'img.png'), img_id=7))
    image = packed['inputs'].permute(1, 2, 0).numpy()
    regions = packed['data_samples'].clip_regions
    # The rectangle's box, moved with the image, frames the rectangle in the new image.
    np.testing.assert_allclose(regions.bboxes[0].numpy(), _white_box(image), atol=1.0)
    assert regions.embeddings[0].tolist() == [1.0, 0.0, 0.0]
    assert regions.embeddings.dtype.is_floating_point and regions.embeddings.shape[1] == 3


def test_boxes_cut_by_a_crop_are_dropped_with_their_embeddings(store):
    transform = Compose([dict(type='LoadImageFromFile'),
                         dict(type='LoadCLIPRegions', store=str(store / 'store'))])
    results = transform(dict(img_path=str(store / 'img.png'), img_id=7))
    assert len(results['clip_region_bboxes']) == 2  # no geometric transform: as stored
    load = transform.transforms[1]
    # A crop starting at x = 4: the 8 px box keeps half its width, the rectangle all of it.
    shifted = dict(img_id=7, img_shape=(80, 96),
                   homography_matrix=np.array([[1, 0, -4], [0, 1, 0], [0, 0, 1]], np.float32))
    out = load(shifted)
    np.testing.assert_allclose(out['clip_region_bboxes'], [[6, 20, 36, 50]])
    assert out['clip_region_embeddings'].tolist() == [[1.0, 0.0, 0.0]]


def test_missing_image_names_image_and_store(store):
    load = Compose([dict(type='LoadCLIPRegions', store=str(store / 'store'))])
    with pytest.raises(KeyError, match=r"image 8 \(/x/other.png\) is not in the CLIP region "
                                       rf"store {store / 'store'}"):
        load(dict(img_id=8, img_path='/x/other.png'))
    with pytest.raises(ValueError, match='no meta.json'):
        Compose([dict(type='LoadCLIPRegions', store=str(store / 'nowhere'))])(
            dict(img_id=7, img_path='x'))


@pytest.mark.parametrize('shift, kept', [(19, True), (20, True), (21, False)],
                         ids=['91%', '90%', '89%'])
def test_min_visible_and_min_size(tmp_path, shift, kept):
    """A 100 px wide box shifted left past the image edge by 9, 10 or 11 px (91%, 90%, 89% of
    its area left: the 90% rule keeps the first two); boxes 1 px and 2 px wide or high (the
    2 px minimum size drops the 1 px ones)."""
    boxes = np.array([[10, 20, 110, 40], [200, 20, 201, 40], [220, 20, 222, 40],
                      [240, 20, 250, 21], [260, 20, 270, 22]], np.float32)
    writer = CLIPRegionStore.create(tmp_path / 'store', dict(
        image_keys=['3'], shard_size=1, embed_dim=5, clip_model='m'))
    writer.write_shard(0, [boxes], [np.eye(5, dtype=np.float32)])
    register_all_modules()
    load = Compose([dict(type='LoadCLIPRegions', store=str(tmp_path / 'store'))])
    moved = np.array([[1, 0, -shift], [0, 1, 0], [0, 0, 1]], np.float32)
    out = load(dict(img_id=3, img_shape=(80, 300), homography_matrix=moved))
    rows = ([0] if kept else []) + [2, 4]
    expected = boxes[rows] - np.array([shift, 0, shift, 0], np.float32)
    expected[:, 0] = np.maximum(expected[:, 0], 0)  # clipped at the image's left edge
    np.testing.assert_allclose(out['clip_region_bboxes'], expected)
    np.testing.assert_array_equal(out['clip_region_embeddings'], np.eye(5)[rows])
