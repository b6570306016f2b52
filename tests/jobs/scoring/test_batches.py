"""A scoring job's batches without Ray: decode_batch on input rows, the Scorer on a hand-made batch."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from jobs.scoring.batches import Scorer, _segment_columns, decode_batch, labels_at
from jobs.scoring.inputs import list_inputs
from jobs.scoring.run import ScoreOptions
from jobs.scoring.schema import SCANS_SCHEMA, STAGED_SCHEMA
from models.model_dir import ModelDirError
from models.predictions import ScanPrediction
from models.spec import ModelSpec
from models.trained import load_trained_model
from scans.limits import ReadLimits
from tests.jobs.scoring.drills import failing_scorer


def _batch(rows: list[dict]) -> dict[str, np.ndarray]:
    return {key: np.array([r[key] for r in rows], dtype=object) for key in rows[0]}


def test_decode_batch_gives_images_sizes_and_errors_without_raising(bad_archive):
    root, inputs = list_inputs(bad_archive)
    out = decode_batch(_batch([i.as_row() for i in inputs]), root, "pseudo", 64)
    assert out["image"].shape == (len(inputs), 3, 64, 64)
    errors = list(out["error"])
    ok = [e == "" for e in errors]
    assert ok == [False, False, True, True, True, True] + [False] * (len(inputs) - 6)
    assert list(out["height"][:6]) == [-1, -1, 96, 96, 96, 96]
    assert out["image"][0].max() == 0 and out["image"][2].max() > 0
    assert all(inputs[i].source in errors[i] for i in range(len(inputs)) if not ok[i])


def test_decode_batch_reads_within_the_limits_it_is_given(bad_archive, monkeypatch):
    root, inputs = list_inputs(bad_archive)
    rows = _batch([i.as_row() for i in inputs[2:4]])  # two good 96² scans
    assert list(decode_batch(rows, root, "pseudo", 64)["error"]) == ["", ""]
    errors = decode_batch(rows, root, "pseudo", 64, ReadLimits(max_pixels=9000))["error"]
    assert all("is 96×96; the limit is 9,000 pixels" in e for e in errors), errors
    with pytest.raises(ValueError, match="--max-pixels: 0 is out of range"):
        ScoreOptions(archive="a", model="m", out="o", max_pixels=0)
    monkeypatch.setenv("DUALSCAN_MAX_PIXELS", "5000")
    assert ScoreOptions(archive="a", model="m", out="o").read_limits().max_pixels == 5000
    assert ScoreOptions(archive="a", model="m", out="o", max_pixels=7).read_limits().max_pixels == 7


def test_scorer_maps_a_hand_made_batch_to_staged_rows(model_dir):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 3, 64, 64)).astype(np.float32)
    batch = {"scan_id": np.array(["a", "b", "c"], dtype=object), "source": np.array(["s/a", "s/b", "s/c"]),
             "image": images, "height": np.array([128, -1, 64]), "width": np.array([256, -1, 64]),
             "error": np.array(["", "s/b: broken", ""], dtype=object), "decode_ms": np.ones(3, np.float32)}
    scorer = Scorer(model_dir, threshold=0.0)  # every segment anomalous at threshold 0
    table = scorer(batch)
    assert table.schema.names == STAGED_SCHEMA.names
    table = table.cast(STAGED_SCHEMA)
    rows = table.to_pylist()
    assert [r["status"] for r in rows] == ["ok", "error", "ok"]
    assert rows[1]["error"] == "s/b: broken" and rows[1]["score"] is None and rows[1]["segment_id"] == []
    a, c = rows[0], rows[2]
    assert a["pipeline"] == "ssn" and a["modality"] == "pseudo" and len(a["model_sha256"]) == 64
    assert a["n_segments"] == len(a["segment_id"]) > 5 and a["n_anomalous_segments"] == a["n_segments"]
    assert a["is_anomalous"] and a["score"] == pytest.approx(max(a["segment_score"]))
    # segments are in the original image's pixels: 128×256 is the 64² input scaled by (2, 4)
    assert sum(a["segment_area_px"]) == 128 * 256 and sum(c["segment_area_px"]) == 64 * 64
    assert a["anomalous_area_frac"] == pytest.approx(1.0)
    assert max(a["segment_x1"]) == 256 and max(a["segment_y1"]) == 128 and min(a["segment_x0"]) == 0
    assert all(x0 < x1 for x0, x1 in zip(a["segment_x0"], a["segment_x1"], strict=True))
    for cx, x0, x1 in zip(a["segment_cx"], a["segment_x0"], a["segment_x1"], strict=True):
        assert x0 <= cx <= x1
    assert a["latency_ms"] >= 1.0 and rows[1]["latency_ms"] == pytest.approx(1.0)


def test_scorer_predictions_match_the_model_run_directly(model_dir):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (2, 3, 64, 64)).astype(np.float32)
    model = load_trained_model(model_dir, "cpu")
    direct = model.predict(images)
    batch = {"scan_id": np.array(["a", "b"], dtype=object), "source": np.array(["a", "b"], dtype=object),
             "image": images, "height": np.array([64, 64]), "width": np.array([64, 64]),
             "error": np.array(["", ""], dtype=object), "decode_ms": np.zeros(2, np.float32)}
    rows = Scorer(model_dir)(batch).to_pylist()
    for row, pred in zip(rows, direct, strict=True):
        np.testing.assert_allclose(row["segment_score"], pred.scores, rtol=1e-5)
        assert row["threshold"] == 0.5
        assert row["is_anomalous"] == bool((pred.scores >= 0.5).any())


def test_a_model_failure_costs_one_row_and_an_out_of_memory_batch_is_retried_scan_by_scan(model_dir,
                                                                                          tmp_path):
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 1, (4, 3, 64, 64)).astype(np.float32)
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    batch = {"scan_id": ids, "source": np.array([f"in/{i}.npz" for i in ids], dtype=object), "image": images,
             "height": np.full(4, 64), "width": np.full(4, 64), "error": np.array([""] * 4, dtype=object),
             "decode_ms": np.zeros(4, np.float32)}
    plain = Scorer(model_dir)(batch).to_pylist()
    log = tmp_path / "drilled"
    rows = failing_scorer({"b"}, {"c"}, str(log))(model_dir)(batch).to_pylist()
    # the batch ran out of memory, then each scan went alone: b failed, the others (c too) were scored
    assert log.read_text().splitlines() == ["out_of_memory a,b,c,d", "failed b"]
    assert [r["status"] for r in rows] == ["ok", "error", "ok", "ok"]
    assert rows[1]["error"] == ("in/b.npz: the model failed on this scan (RuntimeError: drilled model "
                                "failure)") and rows[1]["segment_id"] == [] and rows[1]["height"] == 64
    for row, expected in zip(rows, plain, strict=True):  # the others: as scored in one batch
        if row["status"] == "ok":
            np.testing.assert_allclose(row["segment_score"], expected["segment_score"], rtol=1e-5)
    alone = failing_scorer(set(), {"a"})(model_dir)  # out of memory even alone: the scan's row says so
    alone.predict = lambda images, scan_ids: (_ for _ in ()).throw(torch.OutOfMemoryError("8 GiB"))
    single = {key: value[:1] for key, value in batch.items()}
    assert alone(single).to_pylist()[0]["error"] == (
        "in/a.npz: the model ran out of memory on this scan (OutOfMemoryError: 8 GiB)")


def test_model_directory_errors_name_the_file(tmp_path, model_dir):
    with pytest.raises(ModelDirError, match=r"config.json does not exist"):
        load_trained_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelDirError, match=r"config.json: not valid JSON"):
        load_trained_model(str(tmp_path))
    shutil.copy(f"{model_dir}/config.json", tmp_path / "config.json")
    (tmp_path / "model.pt").write_bytes(b"garbage")
    with pytest.raises(ModelDirError, match=r"model.pt: cannot load the weights of a ssn tiny pseudo"):
        load_trained_model(str(tmp_path))
    with pytest.raises(ValueError, match="threshold must be in"):
        load_trained_model(model_dir, threshold=1.5)


def test_the_staged_schema_starts_with_the_scans_columns():
    assert STAGED_SCHEMA.names[: len(SCANS_SCHEMA)] == SCANS_SCHEMA.names


@pytest.mark.parametrize("height,width", [(96, 160), (37, 50), (8, 5)])
def test_segments_are_measured_exactly_in_original_pixels(height, width):
    rng = np.random.default_rng(height)
    labels = rng.integers(0, 5, (16, 16)).astype(np.int32)
    labels[:2, :2] = 5  # segment 5 is one corner block
    full = labels[(np.arange(height) * 16 // height)[:, None], (np.arange(width) * 16 // width)[None, :]]
    np.testing.assert_array_equal(labels_at(labels, height, width), full)
    n = 6
    ys, xs = np.mgrid[:16, :16]
    boxes = np.array([[xs[labels == i].min(), ys[labels == i].min(), xs[labels == i].max() + 1,
                       ys[labels == i].max() + 1] for i in range(n)], np.float32)
    pred = ScanPrediction(labels, np.linspace(0, 1, n).astype(np.float32), np.ones(n, bool),
                          np.bincount(labels.ravel()), boxes, np.zeros((n, 2), np.float32))
    columns = _segment_columns(pred, pred.verdict(0.5).flagged, height, width)
    fy, fx = np.mgrid[:height, :width]
    for i in range(n):
        mask = full == i
        assert columns["area_px"][i] == mask.sum()
        if mask.any():
            assert (columns["x0"][i], columns["y0"][i]) == (fx[mask].min(), fy[mask].min())
            assert (columns["x1"][i], columns["y1"][i]) == (fx[mask].max() + 1, fy[mask].max() + 1)
            assert columns["cx"][i] == pytest.approx(fx[mask].mean() + 0.5)
            assert columns["cy"][i] == pytest.approx(fy[mask].mean() + 0.5)
    assert list(columns["is_anomalous"]) == [False, False, False, True, True, True]


def test_a_mask_rcnn_model_scores_its_detected_items_only(tmp_path):
    from tests.jobs.scoring.conftest import save_model

    trial = ModelSpec(pipeline="maskrcnn", backbone="tiny", modality="pseudo", image_size=64, crop_size=32)
    model_dir = save_model(tmp_path / "maskrcnn", trial)
    images = np.zeros((2, 3, 64, 64), np.float32)
    images[:, :, 16:48, 10:40] = 0.8  # one bright item per scan
    batch = {"scan_id": np.array(["a", "b"], dtype=object), "source": np.array(["a", "b"], dtype=object),
             "image": images, "height": np.array([64, 64]), "width": np.array([64, 64]),
             "error": np.array(["", ""], dtype=object), "decode_ms": np.zeros(2, np.float32)}
    rows = Scorer(model_dir)(batch).to_pylist()
    direct = load_trained_model(model_dir, "cpu").predict(images)
    for row, pred in zip(rows, direct, strict=True):
        assert row["status"] == "ok" and row["pipeline"] == "maskrcnn"
        assert row["n_segments"] == int(pred.scored.sum()) == len(row["segment_id"])
        assert 0 not in row["segment_id"]  # the background segment is never a row
        assert row["score"] == (max(row["segment_score"]) if row["segment_score"] else 0.0)


def test_the_scoring_batches_leave_the_materials_tables_unimported():
    """A scoring actor imports the batches module; xraydb is for deriving Z only."""
    code = "import sys, jobs.scoring.batches; print('xraydb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
