"""Classifier backbones registry: torchvision CNNs adapted to any channel count, weights from files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models as tvm

from models.catalog import BACKBONES


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
VGG16_BN = BackboneSpec(lambda: tvm.vgg16_bn(weights=None), lambda m: m.features, 512)
RESNET18 = BackboneSpec(lambda: tvm.resnet18(weights=None), _resnet_features, 512)
RESNET50 = BackboneSpec(lambda: tvm.resnet50(weights=None), _resnet_features, 2048)
MOBILENET_V3_SMALL = BackboneSpec(lambda: tvm.mobilenet_v3_small(weights=None), lambda m: m.features, 576)
MOBILENET_V3_SMALL_050 = BackboneSpec(  # half width: for models that must be tiny
    lambda: tvm.mobilenet_v3_small(weights=None, width_mult=0.5), lambda m: m.features, 288)
TINY = BackboneSpec(_tiny, lambda m: m.features, 32)


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a local file, loaded with ``weights_only=True``; errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist (weights are never downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a bad file
        raise ValueError(f"weights file {path!r} is not a loadable state dict ({err})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path!r} does not hold a state dict of tensors")
    return state


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], path: str, name: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1:3]
        raise ValueError(f"weights file {path!r} does not match backbone {name!r}: "
                         f"{' '.join(s.strip() for s in first)}") from None


def adapt_first_conv(features: nn.Module, in_channels: int) -> None:
    """Rebuild the first convolution for ``in_channels``; pretrained filters are averaged (1
    channel) or repeated and rescaled (more than 3), so activations keep their scale."""
    for parent in features.modules():
        for child_name, conv in parent.named_children():
            if isinstance(conv, nn.Conv2d):
                if conv.in_channels == in_channels:
                    return
                new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                conv.padding, conv.dilation, conv.groups, conv.bias is not None)
                with torch.no_grad():
                    weight = conv.weight.mean(dim=1, keepdim=True)
                    if in_channels > 1:
                        repeats = -(-in_channels // conv.in_channels)
                        weight = conv.weight.repeat(1, repeats, 1, 1)[:, :in_channels]
                        weight = weight * conv.in_channels / in_channels
                    new.weight.copy_(weight)
                    if conv.bias is not None:
                        new.bias.copy_(conv.bias)
                setattr(parent, child_name, new)
                return
    raise ValueError("backbone has no convolution to adapt")


def build_backbone(name: str, *, in_channels: int = 3, num_classes: int = 2,
                   weights: str | os.PathLike | None = None) -> Backbone:
    """A registered backbone for ``in_channels`` inputs and ``num_classes`` outputs.

    ``weights`` is None (random init, the default) or a local file holding either the
    torchvision model's state dict (3 channels, ImageNet head: adapted here) or a state dict
    of this Backbone as built (same channels and classes).
    """
    spec = BACKBONES[name]
    if in_channels < 1:
        raise ValueError(f"backbone {name!r}: in_channels must be >= 1, got {in_channels}")
    model = spec.build()
    state = load_state_dict(weights) if weights is not None else None
    own_format = state is not None and "head.weight" in state
    if state is not None and not own_format:
        _load_into(model, state, os.fspath(weights), name)
    features = spec.features(model)
    adapt_first_conv(features, in_channels)
    backbone = Backbone(features, spec.feature_dim, num_classes)
    if own_format:
        _load_into(backbone, state, os.fspath(weights), name)
    return backbone
