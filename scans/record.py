"""The Scan record: one dual-energy scan, its derived channels and its labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IMAGE_KEYS = ("high", "low", "zeff", "pseudo")
LABEL_KEYS = ("objects", "object_class", "object_anomalous", "parts", "anomaly", "object_anomaly_kind",
              "object_model")
ARRAY_KEYS = IMAGE_KEYS + LABEL_KEYS


@dataclass
class Scan:
    """One scan. Arrays follow archive format v1; absent ones are None."""

    scan_id: str
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    zeff: np.ndarray | None = None
    pseudo: np.ndarray | None = None
    objects: np.ndarray | None = None
    object_class: np.ndarray | None = None
    object_anomalous: np.ndarray | None = None
    parts: np.ndarray | None = None
    anomaly: np.ndarray | None = None
    object_anomaly_kind: np.ndarray | None = None  # optional label: per item, "" when benign
    object_model: np.ndarray | None = None  # optional label: per item, the design it was built from
    split: str = ""
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the scan."""
        first = self.high if self.high is not None else self.pseudo
        if first is None:
            raise ValueError(f"scan {self.scan_id} has neither high/low nor pseudo")
        return int(first.shape[0]), int(first.shape[1])

    @property
    def height(self) -> int:
        """Rows."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """Columns."""
        return self.shape[1]

    @property
    def has_raw(self) -> bool:
        """Whether the raw high/low transmissions are present."""
        return self.high is not None and self.low is not None

    @property
    def has_labels(self) -> bool:
        """Whether item-level labels are present."""
        return self.objects is not None

    @property
    def n_objects(self) -> int:
        """Number of labelled items (0 when unlabelled)."""
        return 0 if self.object_class is None else len(self.object_class)

    @property
    def is_anomalous(self) -> bool | None:
        """Whether any item holds an anomaly; None when unlabelled."""
        if self.object_anomalous is None:
            return None
        return bool(np.any(self.object_anomalous))

    def arrays(self) -> dict[str, np.ndarray]:
        """The present arrays by archive key, in format order."""
        return {k: getattr(self, k) for k in ARRAY_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_arrays(cls, scan_id: str, arrays: dict[str, np.ndarray], **fields) -> Scan:
        """Build a scan from archive arrays (unknown keys are ignored)."""
        return cls(scan_id, **{k: arrays[k] for k in ARRAY_KEYS if k in arrays}, **fields)
