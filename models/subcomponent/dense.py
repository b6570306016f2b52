"""Dense features for superpixels: a segmentation-models-pytorch U-Net's decoder at full resolution."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.catalog import DENSE_ENCODERS
from models.weight_files import load_encoder_weights

__all__ = ["DENSE_ENCODERS", "DenseFeatures"]

# stride 16 is deep enough for items' parts at about 1 mm pitch; narrow decoder stages keep a CPU
# training step about half the cost of smp's default (256, 128, 64, 32, 16)
ENCODER_DEPTH = 4
DECODER_CHANNELS = (64, 32, 32, 16)


class DenseFeatures(nn.Module):
    """A U-Net (``backbone`` encoder, random init) whose last decoder stage gives every pixel
    ``out_channels`` features. Inputs of any size: padded with ``fill`` (air) to a multiple of the
    encoder's stride, the padding cut off again."""

    def __init__(self, backbone: str, in_channels: int, fill: Sequence[float],
                 depth: int = ENCODER_DEPTH, decoder_channels: Sequence[int] = DECODER_CHANNELS,
                 weights: str | os.PathLike | None = None, extra_channels: int = 0):
        super().__init__()
        import segmentation_models_pytorch as smp  # heavy: only where a dense model is built

        if len(decoder_channels) != depth:
            raise ValueError(f"decoder_channels needs one width per encoder stage ({depth}), "
                             f"got {tuple(decoder_channels)}")
        unet = smp.Unet(encoder_name=DENSE_ENCODERS[backbone], encoder_depth=depth, encoder_weights=None,
                        decoder_channels=tuple(decoder_channels), in_channels=in_channels, classes=1)
        self.encoder, self.decoder = unet.encoder, unet.decoder
        # the network proper, on inputs already padded to the stride: what an ONNX file stands in
        # for (models.onnx_networks); held outside the module tree, its weights are ours already
        object.__setattr__(self, "network", EncoderDecoder(self.encoder, self.decoder))
        self.stride = 2 ** depth
        self.out_channels = int(decoder_channels[-1])
        self.register_buffer("fill", torch.as_tensor(tuple(fill), dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        if weights is not None:
            self._load_weights(weights, extra_channels)

    def _load_weights(self, path: str | os.PathLike, extra_channels: int = 0) -> None:
        """Encoder weights from a local file (models.weight_files.load_encoder_weights: its own,
        ``encoder.``-prefixed or bare, or the torchvision classifier's, first convolution adapted,
        the last ``extra_channels`` at zero);
        with ``decoder.`` keys (a DenseFeatures' own state dict, e.g. from physics pretraining) the
        decoder's too. Nothing is downloaded."""
        rest = load_encoder_weights(self.encoder, path, "dense encoder", extra_channels)
        decoder = {k.removeprefix("decoder."): v for k, v in rest.items() if k.startswith("decoder.")}
        if decoder:
            try:
                self.decoder.load_state_dict(decoder)
            except RuntimeError as err:
                raise ValueError(f"weights file {os.fspath(path)!r}: its decoder does not match the "
                                 f"dense decoder: {err}") from None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, out_channels, H, W)."""
        h, w = images.shape[-2:]
        pad_h, pad_w = -h % self.stride, -w % self.stride
        if pad_h or pad_w:
            padded = F.pad(images, (0, pad_w, 0, pad_h))
            inside = torch.zeros_like(padded[:, :1], dtype=torch.bool)
            inside[..., :h, :w] = True
            images = torch.where(inside, padded, self.fill.to(images.dtype))
        return self.network(images)[..., :h, :w]


class EncoderDecoder(nn.Module):
    """A U-Net's encoder and decoder as one network: (B, C, H, W) with H and W multiples of the
    encoder's stride → (B, F, H, W)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))
