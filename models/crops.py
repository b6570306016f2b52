"""Masked crops of segments, all in one tensor: roi_align of the image, nearest-sampled masks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import roi_align

from models.segments import Segments


def masked_crops(images: torch.Tensor, segments: Segments, size: int,
                 keep: torch.Tensor | None = None, fill: Sequence[float] | None = None) -> torch.Tensor:
    """(S, C, size, size): each segment's bounding box resized to size×size, pixels of other
    segments set to ``fill`` per channel (the modality's air, see modality_air; 0 when None).
    ``keep`` (bool (S,)) selects a subset of segments. No loop over segments."""
    index = torch.arange(segments.n, device=images.device)
    if keep is not None:
        index = index[keep]
    boxes = segments.boxes[index].to(images.dtype)
    image_index = segments.image_index[index]
    rois = torch.cat([image_index[:, None].to(images.dtype), boxes], 1)
    crops = roi_align(images, rois, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    # the pixel under the centre of every output bin, to sample the label map at
    steps = (torch.arange(size, device=images.device, dtype=boxes.dtype) + 0.5) / size
    xs = (boxes[:, 0:1] + steps * (boxes[:, 2:3] - boxes[:, 0:1])).floor().long()
    ys = (boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])).floor().long()
    xs = xs.clamp(0, images.shape[-1] - 1)
    ys = ys.clamp(0, images.shape[-2] - 1)
    sampled = segments.labels[image_index[:, None, None], ys[:, :, None], xs[:, None, :]]
    mask = (sampled == index[:, None, None]).unsqueeze(1).to(crops.dtype)
    if fill is None:
        return crops * mask
    air = torch.as_tensor(fill, dtype=crops.dtype, device=crops.device).view(1, -1, 1, 1)
    return crops * mask + air * (1 - mask)
