"""World 1 is kept byte for byte: scans drawn now match digests of scans drawn before world 2 existed
(data/world1_digests.json, written by the simulator at commit c38ce14 on this stack)."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from scans.synth import SynthConfig, synth_scan

DIGESTS = os.path.join(os.path.dirname(__file__), "data", "world1_digests.json")
with open(DIGESTS, encoding="utf-8") as f:
    RECORDED = json.load(f)


def digest(array: np.ndarray) -> str:
    """The array's bytes, dtype and shape, hashed."""
    data = np.ascontiguousarray(array).tobytes() + str(array.dtype).encode() + str(array.shape).encode()
    return hashlib.sha256(data).hexdigest()[:32]


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_world_1_draws_the_same_scans_as_before_world_2(case):
    recorded = RECORDED[case]
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded["config"].items()}
    config = SynthConfig(previews=False, world=1, **settings)
    for index, expected in recorded["scans"].items():
        scan = synth_scan(config, int(index))
        drawn = {key: digest(value) for key, value in scan.arrays().items()}
        drawn["split"] = scan.split
        assert drawn == expected, f"{case} scan {index}"
