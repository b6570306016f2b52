"""The detectors that ship with DualScan, by name (`--model quality`): where each lies in the
project, the world it was trained on, and its card's headline figures."""

from __future__ import annotations

import os
from dataclasses import dataclass

from models.model_dir import CARD_JSON, ModelDirectory
from scans.registry import Registry

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class ShippedDetector:
    """A model directory in the project (``path``, from its root), trained on simulator ``world``."""

    path: str
    world: int
    about: str

    @property
    def directory(self) -> str:
        return os.path.join(PROJECT, self.path)


SHIPPED_DETECTORS: Registry[ShippedDetector] = Registry("shipped detector")
SHIPPED_DETECTORS.add("quality", ShippedDetector(
    "detectors/quality", 1, "512² scans (0.98 mm, a scanner's pitch), every anomaly kind: the quality bar's"))
SHIPPED_DETECTORS.add("demo", ShippedDetector(
    "demo/model", 1, "256² scans (1.95 mm), anomalies twice their size, no extra screws: `make demo`'s"))


def resolve_model(model: str) -> str:
    """A ``--model`` argument as a model directory: a shipped detector's bare name (no slash) gives
    its directory; anything else is a path or URI and stays itself (a folder of such a name in the
    working directory is ``./quality``), for the loader to name what is missing."""
    return SHIPPED_DETECTORS[model].directory if model in SHIPPED_DETECTORS else model


def headline(name: str) -> dict:
    """What `dualscan models` shows of a shipped detector: its world and scans, and from its model
    card the test object AUROC, TP% and FP% at its threshold, the item recall and the rebuild."""
    shipped = SHIPPED_DETECTORS[name]
    card = ModelDirectory(shipped.directory).read_json(CARD_JSON)
    metrics, stage = card.get("metrics", {}), card.get("item_stage") or {}
    return {"name": name, "path": shipped.path, "world": shipped.world, "about": shipped.about,
            "test_object_auroc": metrics.get("test_object_auroc"),
            "test_object_tp_pct": metrics.get("test_object_tp_pct"),
            "test_object_fp_pct": metrics.get("test_object_fp_pct"),
            "threshold": card.get("threshold"), "test_item_recall": stage.get("test_recall"),
            "rebuild": card.get("rebuild")}
