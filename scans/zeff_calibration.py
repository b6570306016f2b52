"""A scanner's effective-Z calibration file (`zeff_calibration.json`): its step wedges of reference
materials, read and checked into the table that turns high/low transmissions into Z_eff."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator

from scans.errors import ScanFormatError
from scans.schema import STRICT

if TYPE_CHECKING:
    from scans.physics.calibration import ZeffCalibration

CALIBRATION_FORMAT = "dualscan-zeff-calibration"
CALIBRATION_FILE = "zeff_calibration.json"  # its name beside an archive's scans or in a scoring folder
SIMULATOR = "simulator"  # the simulated scanner's table, named explicitly for raw scans it did not write
MIN_WEDGES, MIN_STEPS = 2, 3


class Wedge(BaseModel):
    """One reference material's step wedge: its Z and the air-normalised high and low transmissions
    measured through each step (same order, one value per step)."""

    model_config = STRICT

    material: str = Field(min_length=1)
    z: float = Field(gt=0, le=100)
    high: list[float] = Field(min_length=MIN_STEPS)
    low: list[float] = Field(min_length=MIN_STEPS)

    @model_validator(mode="after")
    def _measured(self) -> Wedge:
        if len(self.high) != len(self.low):
            raise ValueError(f"wedge {self.material!r}: {len(self.high)} high values but {len(self.low)} low")
        for name, values in (("high", self.high), ("low", self.low)):
            if not all(0 < v < 1 for v in values):
                raise ValueError(f"wedge {self.material!r}: {name} transmissions must lie in (0, 1) "
                                 "(air-normalised, air and impenetrable steps left out)")
        return self


class CalibrationFile(BaseModel):
    """The file: ``{"format": "dualscan-zeff-calibration", "version": 1, "scanner": "...",
    "wedges": [{"material": "polyethylene", "z": 5.5, "high": [...], "low": [...]}, ...]}``."""

    model_config = STRICT

    format: Literal["dualscan-zeff-calibration"]
    version: Literal[1]
    scanner: str = ""
    wedges: list[Wedge] = Field(min_length=MIN_WEDGES)

    @model_validator(mode="after")
    def _distinct(self) -> CalibrationFile:
        names = [w.material for w in self.wedges]
        if len(set(names)) != len(names):
            raise ValueError(f"wedge materials must be distinct, got {names}")
        if len({w.z for w in self.wedges}) != len(self.wedges):
            raise ValueError("wedges must have distinct Z to tell materials apart")
        return self

    def table(self) -> ZeffCalibration:
        """The Z table these wedges give."""
        from scans.physics.calibration import calibration_from_wedges  # scipy, xraydb: when one is read

        return calibration_from_wedges({w.material: (w.z, np.array(w.high), np.array(w.low))
                                        for w in self.wedges})


def read_calibration(data: bytes, file: str) -> ZeffCalibration:
    """The table of a calibration file's bytes; ScanFormatError naming ``file`` and the field."""
    try:
        return CalibrationFile.model_validate(json.loads(data)).table()
    except json.JSONDecodeError as err:
        raise ScanFormatError(file, f"not JSON ({err})") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        rule = f"{where}: {first['msg']} (see docs/formats.md, Z_eff calibration)"
        raise ScanFormatError(file, rule) from None


def load_calibration(spec: str) -> tuple[ZeffCalibration, str]:
    """The table ``spec`` names (a calibration file's path, or ``simulator``) and its provenance:
    ``simulator`` or the file's sha256."""
    if spec == SIMULATOR:
        from scans.physics.calibration import calibrate

        return calibrate(), SIMULATOR
    try:
        with open(spec, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ScanFormatError(spec, f"cannot read the Z_eff calibration ({err.strerror or err})") from None
    return read_calibration(data, spec), hashlib.sha256(data).hexdigest()
