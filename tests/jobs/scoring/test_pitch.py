"""Scoring warns when an archive's pixel pitch is not the one the model was trained at."""

from __future__ import annotations

import shutil

import pytest

from jobs.scoring.inputs import InputFile, decode_scan, list_inputs
from jobs.scoring.pitch import pitch_warning
from models.spec import ModelSpec
from models.trained import load_trained_model
from tests.jobs.scoring.conftest import save_model

SMALL_PITCH = 500 / 96  # the session archive: the 50 cm tray across 96 pixels


def test_the_pitch_the_model_saw_is_read_from_its_directory(tmp_path):
    trial = ModelSpec(pipeline="ssn", backbone="tiny", modality="pseudo", k=30, image_size=64, crop_size=32)
    directory = tmp_path / "model"
    save_model(directory, trial)
    assert load_trained_model(str(directory), "cpu").input_pitch_mm is None
    config = directory / "config.json"
    config.write_text(config.read_text().replace('"data": {}', '"data": {"input_pitch_mm": 7.8}'))
    assert load_trained_model(str(directory), "cpu").input_pitch_mm == 7.8


def test_a_pitch_more_than_ten_percent_off_warns(small_archive, tmp_path):
    root, inputs = list_inputs(small_archive)
    seen = SMALL_PITCH * 96 / 64  # resized to 64²
    assert pitch_warning(root.uri, inputs, seen, 64) is None
    assert pitch_warning(root.uri, inputs, seen * 1.09, 64) is None
    warning = pitch_warning(root.uri, inputs, seen / 2, 64)
    assert warning is not None and small_archive in warning and "+100 %" in warning
    assert f"{seen:.3g} mm" in warning
    assert pitch_warning(root.uri, inputs, None, 64) is None  # the model records none: nothing to compare
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(inputs[0].paths[0], folder / "one.npz")
    loose_root, loose = list_inputs(str(folder))  # a folder of files: no archive.json, no pitch
    assert pitch_warning(loose_root.uri, loose, seen / 2, 64) is None


def test_archive_inputs_carry_the_pitch_so_z_is_derived_as_in_training(small_archive):
    _, inputs = list_inputs(small_archive)
    assert [item.pitch_mm for item in inputs] == pytest.approx([SMALL_PITCH] * len(inputs))
    item = inputs[0]
    assert InputFile.from_row(item.as_row()) == item
    with open(item.paths[0], "rb") as f:
        scan = decode_scan(item, [f.read()])
    assert scan.meta["pitch_mm"] == pytest.approx(SMALL_PITCH)
