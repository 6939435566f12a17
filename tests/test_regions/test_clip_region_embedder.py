"""CLIPRegionEmbedder's combination of crops, with a tower whose output follows the crop.

A random tiny CLIP maps every crop to nearly one direction, so the store test cannot tell
a normalised mean of the 1x and 1.5x embeddings from an unnormalised one. Here the image tower
is a linear map of the crop's mean colour, on an image of colour gradients: crops at 1x and
1.5x differ, and the expected embedding is computed from its definition.
"""
import open_clip
import torch
from torchvision.ops import roi_align

from ovdkit.regions import CLIPRegionEmbedder


class MeanColourTower(torch.nn.Module):
    """``(N, 3, S, S)`` -> ``(N, 32)``: a fixed linear map of each crop's mean colour."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 32, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(32, 3, generator=torch.Generator()
                                                 .manual_seed(0)))

    def forward(self, crops):
        return self.linear(crops.mean(dim=(2, 3)))


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_region_embedder_combines_unit_embeddings_of_square_crops():
    embedder = CLIPRegionEmbedder('OVD-TestCLIP-RN', None)  # random weights: explicit opt-in
    embedder.visual = MeanColourTower()
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing='ij')
    image = torch.stack([xs, ys, (xs * ys) ** 0.5])  # (3, 64, 96), colour follows position
    boxes = torch.tensor([[10.0, 20, 30, 60], [40, 5, 80, 15], [60, 30, 70, 40]])
    got = embedder([image, image[:, :32]], [boxes, boxes[2:]])

    model = open_clip.create_model('OVD-TestCLIP-RN')
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg['size'] if isinstance(cfg['size'], int) else cfg['size'][0]
    mean = torch.tensor(cfg['mean']).view(1, 3, 1, 1)
    std = torch.tensor(cfg['std']).view(1, 3, 1, 1)

    def expected(img, box):
        per_scale = []
        for scale in (1.0, 1.5):  # ViLD: square crops of side scale * max(w, h)
            centre = (box[:, :2] + box[:, 2:]) / 2
            half = (box[:, 2:] - box[:, :2]).max(dim=1, keepdim=True).values * scale / 2
            rois = torch.cat([torch.zeros(len(box), 1), centre - half, centre + half], dim=1)
            crops = roi_align(img[None], rois, output_size=(size, size), spatial_scale=1.0,
                              sampling_ratio=2, aligned=True)
            with torch.no_grad():
                per_scale.append(_unit(embedder.visual((crops - mean) / std)))
        return _unit(per_scale[0] + per_scale[1]), per_scale

    first, (one_x, one_half_x) = expected(image, boxes)
    torch.testing.assert_close(got[0], first, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], expected(image[:, :32], boxes[2:])[0],
                               rtol=1e-5, atol=1e-5)
    # the scales differ: an unnormalised mean, or 1x crops only, would be far off
    assert ((one_x + one_half_x) / 2).norm(dim=1).min() < 0.99
    assert (one_x - first).abs().max() > 0.05
