"""Registry of SSN feature extractors: SSN_pix, the paper's SSN_deep and its narrow form, an encoder.

Every extractor maps the scaled input (B, 2+c, H, W) (position y, x, then modality channels) to
(B, out_channels, H, W) features that start with that same input, so channels 0 and 1 are always
the scaled position the compactness loss reads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.catalog import SSN_FEATURES

# learned channels the deep extractors append to the input (20 − 5 in the paper)
LEARNED_CHANNELS = 15



class PixelFeatures(nn.Module):
    """SSN_pix: the scaled input itself, no parameters."""

    learned = False  # λ, the compactness loss's weight, has nothing to train here

    def __init__(self, in_channels: int):
        super().__init__()
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _upsample_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class PaperFeatures(nn.Module):
    """SSN_deep: conv1–conv6 (3×3, 64, BN, ReLU) with max-pool by 2 after conv2 and conv4,
    conv4 and conv6 upsampled to full size, concat[input, conv2, conv4↑, conv6↑] → conv7 (15),
    output concat[input, conv7]: 20 channels for a 3-channel image."""

    learned = True

    def __init__(self, in_channels: int, width: int = 64):
        super().__init__()
        self.stage1 = nn.Sequential(_conv_bn_relu(in_channels, width), _conv_bn_relu(width, width))
        self.stage2 = nn.Sequential(nn.MaxPool2d(3, 2, 1), _conv_bn_relu(width, width),
                                    _conv_bn_relu(width, width))
        self.stage3 = nn.Sequential(nn.MaxPool2d(3, 2, 1), _conv_bn_relu(width, width),
                                    _conv_bn_relu(width, width))
        self.fuse = nn.Sequential(nn.Conv2d(in_channels + 3 * width, LEARNED_CHANNELS, 3, padding=1),
                                  nn.ReLU(inplace=True))
        self.out_channels = in_channels + LEARNED_CHANNELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c2 = self.stage1(x)
        c4 = self.stage2(c2)
        c6 = self.stage3(c4)
        size = x.shape[-2:]
        learned = self.fuse(torch.cat([x, c2, _upsample_to(c4, size), _upsample_to(c6, size)], 1))
        return torch.cat([x, learned], 1)


class EncoderFeatures(nn.Module):
    """A segmentation-models-pytorch encoder (random init): its stride-2/4/8 maps, each reduced
    to 32 channels by a 1×1 conv and upsampled, fused by a 3×3 conv into 15 learned channels."""

    learned = True

    def __init__(self, in_channels: int, encoder: str = "resnet18", depth: int = 3, reduced: int = 32):
        super().__init__()
        from segmentation_models_pytorch.encoders import get_encoder

        self.encoder = get_encoder(encoder, in_channels=in_channels, depth=depth, weights=None)
        stages = self.encoder.out_channels[1:]
        self.reduce = nn.ModuleList(nn.Conv2d(c, reduced, 1) for c in stages)
        self.fuse = nn.Sequential(nn.Conv2d(in_channels + reduced * len(stages), LEARNED_CHANNELS, 3,
                                            padding=1), nn.ReLU(inplace=True))
        self.out_channels = in_channels + LEARNED_CHANNELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        maps = self.encoder(x)[1:]
        reduced = [_upsample_to(conv(m), size) for conv, m in zip(self.reduce, maps, strict=True)]
        return torch.cat([x, self.fuse(torch.cat([x, *reduced], 1))], 1)


# the paper's layout at a quarter of its width (16): its conv stages cost about a quarter as
# much, which puts a detector's learned SSN inside the quality bar's CPU budget (BENCHMARKS.md)
class PaperNarrowFeatures(PaperFeatures):
    """SSN_deep at width 16."""

    def __init__(self, in_channels: int):
        super().__init__(in_channels, width=16)


def build_features(name: str, *, in_channels: int) -> nn.Module:
    """A registered extractor for a (2 + modality channels)-channel scaled input."""
    return SSN_FEATURES[name](in_channels)
