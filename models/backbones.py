"""Classifier backbones registry: torchvision CNNs adapted to any channel count, weights from files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models as tvm

from models.catalog import BACKBONES
from models.weight_files import adapt_conv_weight, load_fitted, load_state_dict


class Backbone(nn.Module):
    """A CNN as ``features`` (B×C×h×w map, ``feature_dim`` channels) and a linear ``head``."""

    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.features = features
        self.feature_dim = feature_dim
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes): features, global average pooling, head."""
        return self.head(self.features(x).mean(dim=(2, 3)))


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a torchvision model and take its feature extractor apart."""

    build: Callable[[], nn.Module]  # torchvision model, 3 channels, 1000 classes, no weights
    features: Callable[[nn.Module], nn.Module]
    feature_dim: int


def _resnet_features(model: nn.Module) -> nn.Module:
    return nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                         model.layer1, model.layer2, model.layer3, model.layer4)


def _tiny() -> nn.Module:
    """A three-layer CNN for tests and smoke runs (torchvision-like: .features + classifier)."""
    model = nn.Module()
    model.features = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
    )
    model.classifier = nn.Linear(32, 1000)
    return model


# what models.catalog's BACKBONES names
SQUEEZENET1_1 = BackboneSpec(lambda: tvm.squeezenet1_1(weights=None), lambda m: m.features, 512)
VGG16 = BackboneSpec(lambda: tvm.vgg16(weights=None), lambda m: m.features, 512)  # the paper's
VGG16_BN = BackboneSpec(lambda: tvm.vgg16_bn(weights=None), lambda m: m.features, 512)
RESNET18 = BackboneSpec(lambda: tvm.resnet18(weights=None), _resnet_features, 512)
RESNET50 = BackboneSpec(lambda: tvm.resnet50(weights=None), _resnet_features, 2048)
MOBILENET_V3_SMALL = BackboneSpec(lambda: tvm.mobilenet_v3_small(weights=None), lambda m: m.features, 576)
MOBILENET_V3_SMALL_050 = BackboneSpec(  # half width: for models that must be tiny
    lambda: tvm.mobilenet_v3_small(weights=None, width_mult=0.5), lambda m: m.features, 288)
TINY = BackboneSpec(_tiny, lambda m: m.features, 32)


def adapt_first_conv(features: nn.Module, in_channels: int, extra_channels: int = 0) -> None:
    """Rebuild the first convolution for ``in_channels``, its filters adapted by
    models.weight_files.adapt_conv_weight (summed for one channel, repeated and rescaled for more,
    the last ``extra_channels`` at zero)."""
    for parent in features.modules():
        for child_name, conv in parent.named_children():
            if isinstance(conv, nn.Conv2d):
                if conv.in_channels == in_channels and not extra_channels:
                    return
                new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                conv.padding, conv.dilation, conv.groups, conv.bias is not None)
                with torch.no_grad():
                    new.weight.copy_(adapt_conv_weight(conv.weight, in_channels, extra_channels))
                    if conv.bias is not None:
                        new.bias.copy_(conv.bias)
                setattr(parent, child_name, new)
                return
    raise ValueError("backbone has no convolution to adapt")


def build_backbone(name: str, *, in_channels: int = 3, num_classes: int = 2,
                   weights: str | os.PathLike | None = None, extra_channels: int = 0) -> Backbone:
    """A registered backbone for ``in_channels`` inputs and ``num_classes`` outputs.

    ``weights`` is None (random init, the default) or a local file holding either the
    torchvision model's state dict (3 channels, ImageNet head: adapted here, the last
    ``extra_channels`` of the inputs, an item's mask and frame, starting at zero) or a state dict
    of this Backbone as built (same channels and classes).
    """
    spec = BACKBONES[name]
    if in_channels < 1:
        raise ValueError(f"backbone {name!r}: in_channels must be >= 1, got {in_channels}")
    model = spec.build()
    state = load_state_dict(weights) if weights is not None else None
    own_format = state is not None and "head.weight" in state
    if state is not None and not own_format:
        load_fitted(model, state, os.fspath(weights), f"backbone {name!r}")
    features = spec.features(model)
    adapt_first_conv(features, in_channels, extra_channels if state is not None and not own_format else 0)
    backbone = Backbone(features, spec.feature_dim, num_classes)
    if own_format:
        load_fitted(backbone, state, os.fspath(weights), f"backbone {name!r}")
    return backbone
