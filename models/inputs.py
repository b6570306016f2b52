"""Input checks shared by the models: a batch must have the channels its modality makes."""

from __future__ import annotations

import torch


def check_channels(images: torch.Tensor, channels: int, modality: str | None) -> None:
    """Refuse anything but (B, channels, H, W), naming the modality and the expected channels."""
    if images.ndim != 4 or images.shape[1] != channels:
        what = f"modality {modality!r}" if modality else "this model"
        raise ValueError(f"input of shape {tuple(images.shape)}: {what} expects "
                         f"(B, {channels}, H, W), {channels} channel(s)")
