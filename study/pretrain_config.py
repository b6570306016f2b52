"""Physics pretraining's settings, importable without torch (the command's --help reads its defaults)."""

from __future__ import annotations

from pydantic import model_validator

from models.catalog import DENSE_ENCODERS
from scans.modalities import modality_channels
from scans.phantoms.worlds import DEFAULT_WORLD, WORLDS
from study.config import AugmentConfig, Strict


class PretrainConfig(Strict):
    """``scenes`` simulated scans of ``size``² (seed ``seed``), ``tiles_per_scene`` tiles of
    ``tile``² cut from each, centred on a random pixel of a random item; with ``context`` the tile
    shows the scan around the item, as the detector's context and frame inputs do (its mask and
    frame channels then start at zero when the weights load), else it is masked to that item (air
    outside, as the masked input is); the targets are the item's pixels' either way. ``held_out``
    more scenes measure the fit. Training: ``steps`` of ``batch`` tiles, AdamW one-cycle at ``lr``."""

    backbone: str = "resnet18"
    modality: str = "hlz_log"
    size: int = 512
    scenes: int = 400
    held_out: int = 40
    tiles_per_scene: int = 8
    tile: int = 96
    seed: int = 7_000
    world: int = DEFAULT_WORLD  # the simulator's world the scenes are drawn from
    steps: int = 1000
    batch: int = 16
    lr: float = 1e-3
    class_weight: float = 0.1
    eval_every: int = 100
    augment: AugmentConfig = AugmentConfig(mask_px=0)  # the tiles are cut by true masks
    context: bool = True  # the scan around the item, as quality.yaml's frame input shows it

    @model_validator(mode="after")
    def _in_range(self) -> PretrainConfig:
        checks = {"scenes": self.scenes >= 1, "held_out": self.held_out >= 1,
                  "tile": 16 <= self.tile <= self.size, "tiles_per_scene": self.tiles_per_scene >= 1,
                  "steps": self.steps >= 1, "batch": self.batch >= 1, "lr": self.lr > 0,
                  "eval_every": self.eval_every >= 1}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"pretrain config: {name}={getattr(self, name)!r} is out of range")
        modality_channels(self.modality)  # an unknown modality fails here, naming the valid ones
        if str(self.world) not in WORLDS:
            raise ValueError(f"pretrain config: world={self.world} is not a world; known: "
                             f"{', '.join(WORLDS)}")
        if self.backbone not in DENSE_ENCODERS:
            raise ValueError(f"pretrain config: backbone {self.backbone!r} has no dense encoder; valid: "
                             f"{', '.join(sorted(DENSE_ENCODERS))}")
        return self
