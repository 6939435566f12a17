"""GatherRoIAlign gives mmcv RoIAlign's values and feature gradients, and plugs into mmdet."""
import pytest
import torch
from mmcv.ops import RoIAlign
from mmdet.registry import MODELS

from ovdkit.models.cpu_training import GatherRoIAlign


def _rois(num, batch, image=128.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(num, 2, generator=g) * image
    size = torch.rand(num, 2, generator=g) * 90 + 1
    boxes = torch.cat([centre - size / 2, centre + size / 2], 1)  # some past the image
    index = torch.randint(0, batch, (num, 1), generator=g).float()
    return torch.cat([index, boxes], 1)


@pytest.mark.parametrize('stride,sampling_ratio,aligned', [
    (8, 0, True), (16, 0, True), (64, 0, True), (8, 2, True), (8, 0, False), (32, 1, False)])
def test_values_and_feature_gradients_are_mmcvs(stride, sampling_ratio, aligned):
    torch.manual_seed(0)
    feats = torch.randn(3, 5, 128 // stride, 128 // stride, dtype=torch.float64,
                        requires_grad=True)
    rois = _rois(40, 3).double()
    rois[0, 1:] = torch.tensor([10.0, 10.0, 10.0, 30.0])  # zero width
    rois[1, 1:] = torch.tensor([200.0, 200.0, 230.0, 230.0])  # outside the image
    upstream = torch.randn(40, 5, 7, 6, dtype=torch.float64)
    outs, grads = [], []
    for layer in (RoIAlign((7, 6), 1 / stride, sampling_ratio, aligned=aligned),
                  GatherRoIAlign((7, 6), 1 / stride, sampling_ratio, aligned=aligned)):
        out = layer(feats, rois)
        (out * upstream).sum().backward()
        outs.append(out.detach())
        grads.append(feats.grad.clone())
        feats.grad = None
    assert outs[1].shape == (40, 5, 7, 6)
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-9, atol=1e-9)
    assert outs[0][1].abs().max() == 0 and outs[1][1].abs().max() == 0
    assert outs[1][2:].abs().max() > 0.1


def test_no_rois_and_bad_arguments():
    layer = GatherRoIAlign(7, 0.125)
    assert layer(torch.randn(2, 4, 8, 8), torch.zeros(0, 5)).shape == (0, 4, 7, 7)
    assert layer.output_size == (7, 7) and layer.aligned
    with pytest.raises(ValueError, match="GatherRoIAlign: pool_mode must be 'avg', got 'max'"):
        GatherRoIAlign(7, pool_mode='max')
    with pytest.raises(ValueError, match='sampling_ratio must be >= 0, got -1'):
        GatherRoIAlign(7, sampling_ratio=-1)


def _extractor(layer_type):
    return MODELS.build(dict(
        type='RegistryRoIExtractor', out_channels=4, featmap_strides=[8, 16],
        roi_layer=dict(type=layer_type, output_size=7, sampling_ratio=0)))


def test_registry_extractor_builds_registered_and_mmcv_layers():
    gather, mmcv_ = _extractor('GatherRoIAlign'), _extractor('RoIAlign')
    assert [type(m).__name__ for m in gather.roi_layers] == ['GatherRoIAlign'] * 2
    assert [m.spatial_scale for m in gather.roi_layers] == [0.125, 0.0625]
    assert [type(m).__name__ for m in mmcv_.roi_layers] == ['RoIAlign'] * 2
    feats = (torch.randn(2, 4, 16, 16), torch.randn(2, 4, 8, 8))
    rois = _rois(30, 2)
    torch.testing.assert_close(gather(feats, rois), mmcv_(feats, rois), rtol=1e-4, atol=1e-5)
    with pytest.raises(KeyError, match="roi_layer type 'NoSuchAlign' is neither in mmcv.ops"):
        _extractor('NoSuchAlign')
