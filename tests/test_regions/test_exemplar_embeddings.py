"""Example-box embeddings: cut as the region store cuts regions, the class mean, the fusion
with names, the cache and its provenance, the vocabulary file syntax, and each bad input
refused with its class and example named."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ovdkit.datasets import resolve_vocabulary_entries
from ovdkit.datasets.exemplar_classes import (Exemplar, ExemplarError, VisualClass,
                                              resolve_vocabulary_classes)
from ovdkit.regions import exemplar_embeddings
from ovdkit.regions.clip_region_embedder import CLIPRegionEmbedder
from ovdkit.regions.exemplar_cache import load_exemplar_embeddings
from ovdkit.regions.exemplar_embeddings import ExemplarEmbedder
from ovdkit.regions.exemplar_vocabulary import fuse_text_and_examples, vocabulary_class_embeddings
from ovdkit.testing.benchmark_models import save_random_clip
from ovdkit.testing.detectors import toy_scenes
from ovdkit.text import EmbeddingMismatchError
from ovdkit.text.vocabulary_embeddings import vocabulary_embeddings

MODEL = 'OVD-TinyCLIP-RN'


@pytest.fixture(scope='module')
def clip_file(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_random_clip(tmp_path_factory.mktemp('clip') / 'clip.pt', MODEL))


@pytest.fixture(scope='module')
def scenes():
    return toy_scenes(3)


def twice_as_large(image):
    """A test pipeline that doubles the image, as a detector's Resize would."""
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(big[..., ::-1].copy()).permute(2, 0, 1).float() / 255, (2.0, 2.0)


def test_examples_are_cut_from_the_prepared_image_as_the_store_cuts(clip_file, scenes, tmp_path):
    boxes = [[10, 12, 50, 60], [70, 64, 120, 100]]
    item = VisualClass('thing', [Exemplar(scenes[0], boxes), Exemplar(scenes[1], [4, 4, 30, 44])])
    embedder = ExemplarEmbedder(MODEL, clip_file, (1.0, 1.5), str(tmp_path), twice_as_large)
    rows = embedder.example_embeddings(item)
    assert rows.shape == (3, 128)
    torch.testing.assert_close(rows.norm(dim=1), torch.ones(3))
    # the region store's embedder on the doubled images with doubled boxes
    store = CLIPRegionEmbedder(MODEL, clip_file, (1.0, 1.5))
    images = [twice_as_large(scenes[0])[0], twice_as_large(scenes[1])[0]]
    expected = store(images, [torch.tensor(boxes, dtype=torch.float32) * 2,
                              torch.tensor([[8.0, 8, 60, 88]])])
    torch.testing.assert_close(rows, torch.cat(expected), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embedder.class_embedding(item),
                               F.normalize(torch.cat(expected).mean(0), dim=0), atol=1e-5,
                               rtol=1e-5)
    # other crop scales give other rows
    other = ExemplarEmbedder(MODEL, clip_file, (1.0,), str(tmp_path), twice_as_large)
    assert (other.example_embeddings(item) - rows).abs().max() > 1e-3


def test_cache_hit_builds_no_tower_and_the_key_follows_weights_and_boxes(
        clip_file, scenes, tmp_path, monkeypatch):
    item = VisualClass('thing', [Exemplar(scenes[0], [10, 12, 50, 60])])
    embedder = ExemplarEmbedder(MODEL, clip_file, (1.25,), str(tmp_path))
    rows = embedder.example_embeddings(item)
    entries = sorted(tmp_path.glob('*.json'))
    assert len(entries) == 1
    monkeypatch.setattr(exemplar_embeddings, 'image_tower',
                        lambda *a, **k: pytest.fail('a cache hit built the image tower'))
    torch.testing.assert_close(embedder.example_embeddings(
        VisualClass('renamed', [Exemplar(scenes[0].copy(), [10, 12, 50, 60])])), rows)
    monkeypatch.undo()
    embedder.example_embeddings(VisualClass('thing', [Exemplar(scenes[0], [10, 12, 50, 61])]))
    assert len(list(tmp_path.glob('*.json'))) == 2
    # a stored entry checked against other weights is refused, naming the field
    with pytest.raises(EmbeddingMismatchError, match="'weights_id' differs"):
        load_exemplar_embeddings(entries[0], expected=dict(weights_id='sha256:other'))
    with pytest.raises(EmbeddingMismatchError, match="'crop_scales' differs"):
        load_exemplar_embeddings(entries[0], expected=dict(crop_scales=[1.0, 1.5]))


def test_random_clip_weights_are_refused():
    with pytest.raises(ValueError, match='random weights'):
        ExemplarEmbedder(MODEL, None)


def test_rows_names_examples_and_the_fusion(clip_file, scenes, tmp_path):
    cfg = dict(model=MODEL, pretrained=clip_file, templates='single', cache_dir=str(tmp_path))
    embedder = ExemplarEmbedder(MODEL, clip_file, (1.25,), str(tmp_path))
    alone = VisualClass('hexagon', [Exemplar(scenes[0], [10, 12, 50, 60])])
    both = VisualClass('red star|star', [Exemplar(scenes[1], [4, 4, 30, 44])], use_name=True)
    classes = resolve_vocabulary_classes(['blue circle', alone, both, '-green cross'])
    names, rows = vocabulary_class_embeddings(classes, cfg, embedder)
    assert names == ('blue circle', 'hexagon', 'red star', '-green cross')
    _, text = vocabulary_embeddings(dict(cfg, classes=['blue circle', 'red star|star',
                                                       'green cross']))
    torch.testing.assert_close(rows[0], text[0])
    torch.testing.assert_close(rows[3], text[2])
    torch.testing.assert_close(rows[1], embedder.class_embedding(alone))
    example = embedder.class_embedding(both)
    torch.testing.assert_close(rows[2], F.normalize(text[1] + example, dim=0))
    torch.testing.assert_close(fuse_text_and_examples(text[1], example, 1.0), text[1])
    torch.testing.assert_close(fuse_text_and_examples(text[1], example, 0.0), example)
    with pytest.raises(ValueError, match='one classifier needs one CLIP'):
        vocabulary_class_embeddings(classes, dict(cfg, pretrained='other.pt'), embedder)


def test_vocabulary_file_syntax(tmp_path, scenes):
    (tmp_path / 'shots').mkdir()
    cv2.imwrite(str(tmp_path / 'shots' / 'a.png'), scenes[0])
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('# mixed\nred star\nhexagon := shots/a.png [10,12,40,44] [60, 8, 90, 40]; '
                     f'{tmp_path}/shots/a.png [1,2,3,4]\ncircle|disk += shots/a.png [1,2,30,40]\n')
    red, hexagon, circle = resolve_vocabulary_classes(str(vocab))
    assert red == 'red star'
    assert (hexagon.label, hexagon.use_name, len(hexagon.exemplars)) == ('hexagon', False, 2)
    assert hexagon.exemplars[0].image == str(tmp_path / 'shots' / 'a.png')
    assert hexagon.exemplars[0].boxes == ((10, 12, 40, 44), (60, 8, 90, 40))
    assert (circle.name, circle.label, circle.use_name) == ('circle|disk', 'circle', True)
    # paths that take names only say so, and where examples go
    with pytest.raises(ValueError, match='gives a class by example boxes.*OVDInferencer'):
        resolve_vocabulary_entries(str(vocab))
    with pytest.raises(ValueError, match='comma-separated'):
        resolve_vocabulary_entries('red star,hexagon := a.png [1,2,3,4]')
    with pytest.raises(TypeError, match="class 1 \\('hexagon'\\) is not a name"):
        resolve_vocabulary_entries(['red star', hexagon])
    bad = tmp_path / 'bad.txt'
    bad.write_text('hexagon := shots/a.png\n')
    with pytest.raises(ValueError, match="bad.txt: class 'hexagon'.*IMAGE \\[x1,y1,x2,y2\\]"):
        resolve_vocabulary_classes(str(bad))
    bad.write_text('hexagon := shots/a.png [1,2,3]\n')
    with pytest.raises(ValueError, match="class 'hexagon', image shots/a.png: box \\[1,2,3\\] "
                                         "is not four numbers"):
        resolve_vocabulary_classes(str(bad))


def test_a_name_used_twice_names_the_class_and_the_example(scenes):
    hexagon = VisualClass('hexagon', [Exemplar('shots/a.png', [10, 12, 40, 44])])
    with pytest.raises(ExemplarError, match="'hexagon' is used twice.*example 1 "
                                            "\\(shots/a.png \\[10, 12, 40, 44\\]\\)"):
        resolve_vocabulary_classes(['hexagon', hexagon])
    with pytest.raises(ExemplarError, match="'disk' is used twice"):
        resolve_vocabulary_classes([VisualClass('circle|disk', [Exemplar(scenes[0], [1, 1, 9, 9])],
                                                use_name=True), 'disk'])
    with pytest.raises(ValueError, match='use_name=True'):
        VisualClass('circle|disk', [Exemplar(scenes[0], [1, 1, 9, 9])])


@pytest.mark.parametrize('boxes,image,message', [
    ([[10, 10, 40, 40], [20, 20, 20, 50]], None,
     "class 'thing', example 2 \\(<array 128x128x3> \\[20, 20, 20, 50\\]\\): the box has zero "
     "size"),
    ([[10, 10, 40, 40], [100, 100, 140, 120]], None,
     "class 'thing', example 2 .*\\[100, 100, 140, 120\\]\\): the box is outside the image "
     "\\(128 x 128 pixels\\)"),
    ([[-1, 10, 40, 40]], None, "example 1 .*outside the image"),
    ([[1, 1, 9, 9]], 'missing.png',
     "class 'thing', example 1 \\(.*missing.png \\[1, 1, 9, 9\\]\\): cannot read the image"),
    ([[1, 1, 9, 9]], 'garbage.png', "class 'thing', example 1 \\(.*garbage.png .*cannot read the "
                                    "image"),
])
def test_bad_examples_name_the_class_and_the_example(clip_file, scenes, tmp_path, boxes, image,
                                                     message):
    if image == 'garbage.png':
        (tmp_path / image).write_bytes(b'not a png at all')
    source = scenes[0] if image is None else str(tmp_path / image)
    embedder = ExemplarEmbedder(MODEL, clip_file, (1.25,), str(tmp_path))
    with pytest.raises(ExemplarError, match=message):
        embedder.example_embeddings(VisualClass('thing', [Exemplar(source, boxes)]))
    assert not list(tmp_path.glob('*.json'))   # nothing cached


def test_more_examples_than_the_bound(clip_file, scenes, tmp_path):
    item = VisualClass('thing', [Exemplar(scenes[0], [[1, 1, 9, 9], [2, 2, 9, 9]]),
                                 Exemplar(scenes[1], [3, 3, 30, 30])])
    embedder = ExemplarEmbedder(MODEL, clip_file, (1.25,), str(tmp_path), max_examples=2)
    with pytest.raises(ExemplarError, match="class 'thing' has 3 example boxes, over the bound "
                                            "of 2 per class.*example 3 \\(<array 128x128x3> "
                                            "\\[3, 3, 30, 30\\]\\) is the first over it"):
        embedder.example_embeddings(item)
    assert np.array_equal(ExemplarEmbedder(MODEL, clip_file, (1.25,), str(tmp_path),
                                           max_examples=3).example_embeddings(item).shape,
                          (3, 128))
