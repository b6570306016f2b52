"""Pre-processing training and scoring share: channel checks, resizing and its pitch, autocast."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F


def check_channels(images: torch.Tensor, channels: int, modality: str | None) -> None:
    """Refuse anything but (B, channels, H, W), naming the modality and the expected channels."""
    if images.ndim != 4 or images.shape[1] != channels:
        what = f"modality {modality!r}" if modality else "this model"
        raise ValueError(f"input of shape {tuple(images.shape)}: {what} expects "
                         f"(B, {channels}, H, W), {channels} channel(s)")


def resized_pitch_mm(pitch_mm: float | None, sides: np.ndarray, image_size: int) -> float | None:
    """The pitch of scans with these longer sides (px) at ``pitch_mm`` once resized to
    ``image_size``² (from the median side); None when the pitch or the sides are unknown."""
    sides = np.asarray(sides)[np.asarray(sides) > 0]
    if pitch_mm is None or sides.size == 0:
        return None
    return pitch_mm * float(np.median(sides)) / image_size


def resize_square(array: np.ndarray, size: int, labels: bool) -> np.ndarray:
    """C×H×W (or H×W labels) to size×size: area averaging for images, nearest for label maps."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if labels:
        out = F.interpolate(tensor[None, None].float(), size=(size, size), mode="nearest")[0, 0]
        return out.numpy().astype(array.dtype)
    mode = "area" if array.shape[-1] >= size else "bilinear"
    return F.interpolate(tensor[None], size=(size, size), mode=mode)[0].numpy().astype(np.float32)


def numerics_of(device: torch.device, enabled: bool) -> str:
    """The precision a model's scores are computed in on ``device`` (what autocast_for does): one
    policy for training, validation, evaluation and scoring."""
    return "bfloat16 autocast" if device.type == "cuda" and enabled else "float32"


def autocast_for(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA (SSN clustering stays fp32 inside), nothing on CPU."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()
