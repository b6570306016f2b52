"""A study's ``data``: where the scans come from and how they are split (validated without torch)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DataConfig(BaseModel):
    """Where the scans come from and how they are split (a study config's ``data``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    archive: str
    image_size: int = Field(default=128, ge=16, le=2048)  # scans are resized to this square size
    split: Literal["manifest", "random"] = "manifest"  # manifest's train/val/test, or seeded random
    train_fraction: float = Field(default=0.7, gt=0, lt=1)  # for split: random: train and val together
    val_fraction: float = Field(default=0.1, ge=0, lt=1)  # for split: random: of all scans, from the 70
    split_seed: int = 0
    max_scans: int | None = Field(default=None, ge=2)  # a prefix of the archive, for smoke runs
    cache: str | None = None  # node-local cache directory; default: the system temp dir

    @model_validator(mode="after")
    def _val_inside_train(self) -> DataConfig:
        if self.split == "random" and self.val_fraction >= self.train_fraction:
            raise ValueError(f"val_fraction ({self.val_fraction}) must be below train_fraction "
                             f"({self.train_fraction}): val is carved from the train share")
        return self

    @field_validator("archive", "cache")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        """Local paths made absolute here: Tune runs trials in other working directories."""
        if v is None or "://" in v:
            return v
        return os.path.abspath(os.path.expanduser(v))
