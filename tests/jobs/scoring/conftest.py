"""Scoring fixtures: small untrained models saved as study checkpoints, an archive with bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from models.catalog import PIPELINES
from models.spec import ModelSpec
from models.trained import export_model
from scans.npz import encode_npz
from testkit.hostile import deflate_bomb, lying_header

# file stem -> (status, a phrase its error must contain)
PLANTED = {
    "truncated": "not a readable .npz",
    "zero_bytes": "0 bytes",
    "not_npz": "not a readable .npz",
    "has_nan": "NaN",
    "wrong_dtype": "dtype float64",
    "missing_key": "'low' is present without 'high'",
    "bomb": "'high' is 20000×20000; the limit is",  # 1.6 GB of zeros in 1.6 MB
    "lying_header": "'high' is 100000×100000; the limit is",  # 200 bytes
}
WRONG_SIZE_INDEX = 0  # this listed scan is rewritten at 32×32 while the manifest says 96×96
MISSING_INDEX = 1  # this listed scan's file is deleted


def save_model(directory: Path, trial: ModelSpec, threshold: float | None = 0.5) -> str:
    """An untrained model as a model directory (model.pt, config.json, metrics.json)."""
    torch.manual_seed(0)
    return export_model(directory, PIPELINES[trial.pipeline].build(trial), trial, threshold)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> str:
    """A tiny SSN pseudo-colour model at 64² (K 30)."""
    trial = ModelSpec(pipeline="ssn", backbone="tiny", modality="pseudo", k=30, image_size=64, crop_size=32)
    return save_model(tmp_path_factory.mktemp("model") / "ssn_pseudo", trial)


@pytest.fixture(scope="session")
def hlz_model_dir(tmp_path_factory) -> str:
    """A tiny SSN model that needs the raw channels (hlz)."""
    trial = ModelSpec(pipeline="ssn", backbone="tiny", modality="hlz", k=30, image_size=64, crop_size=32)
    return save_model(tmp_path_factory.mktemp("model") / "ssn_hlz", trial)


def _good_arrays(rng: np.random.Generator, size: int = 48) -> dict[str, np.ndarray]:
    high = rng.uniform(0.2, 1.0, (size, size)).astype(np.float32)
    return {"high": high, "low": (high * 0.9).astype(np.float32)}


def plant_bad_files(archive: Path) -> None:
    """Add the PLANTED files under scans/ and break two listed scans (wrong size, missing)."""
    scans = archive / "scans"
    rng = np.random.default_rng(0)
    good = encode_npz(_good_arrays(rng))
    (scans / "truncated.npz").write_bytes(good[: len(good) // 2])
    (scans / "zero_bytes.npz").write_bytes(b"")
    (scans / "not_npz.npz").write_text("this is a text file, not an npz archive\n")
    nan = _good_arrays(rng)
    nan["high"][3, 4] = np.nan
    (scans / "has_nan.npz").write_bytes(encode_npz(nan))
    wrong = _good_arrays(rng)
    wrong["high"] = wrong["high"].astype(np.float64)
    (scans / "wrong_dtype.npz").write_bytes(encode_npz(wrong))
    (scans / "missing_key.npz").write_bytes(encode_npz({"low": _good_arrays(rng)["low"]}))
    (scans / "bomb.npz").write_bytes(deflate_bomb((20_000, 20_000)))
    (scans / "lying_header.npz").write_bytes(lying_header((100_000, 100_000)))
    listed = sorted(scans.glob("scan_*.npz"))
    (listed[WRONG_SIZE_INDEX]).write_bytes(encode_npz(_good_arrays(rng, size=32)))
    listed[MISSING_INDEX].unlink()


@pytest.fixture(scope="session")
def bad_archive(small_archive, tmp_path_factory) -> str:
    """The 6-scan small archive plus the planted bad files, one scan resized, one file deleted."""
    out = tmp_path_factory.mktemp("archive") / "bad"
    shutil.copytree(small_archive, out)
    plant_bad_files(out)
    return str(out)
