"""Scans of differing sizes end to end: a jittered synthetic archive trains an item-first model
(the item stage pads its train scans with air) and a whole-scan one, and both score every scan."""

from __future__ import annotations

import json

import duckdb
import pytest

from jobs.cli import main
from scans.archive import Archive


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("mixed") / "archive"
    assert main(["synth", "--out", str(out), "--n", "10", "--size", "96", "--size-jitter", "0.4",
                 "--seed", "5", "--split", "0.6", "--val", "0.2", "--quiet", "--no-previews"]) == 0
    return str(out)


def test_synth_draws_each_scans_size_and_keeps_the_pitch(mixed, tmp_path):
    archive = Archive(mixed)
    manifest = archive.manifest
    sizes = set(zip(manifest.column("height").to_pylist(), manifest.column("width").to_pylist(), strict=True))
    assert len(sizes) > 5 and all(58 <= side <= 96 for size in sizes for side in size)
    assert archive.pitch_mm == pytest.approx(500 / 96)
    for scan_id in archive.scan_ids[:3]:
        scan = archive.read(scan_id)
        assert scan.high.shape == scan.objects.shape == scan.pseudo.shape[:2]
    same = tmp_path / "same"  # the same seed without jitter: every scan 96², as before the option
    assert main(["synth", "--out", str(same), "--n", "2", "--size", "96", "--seed", "5", "--quiet",
                 "--no-previews"]) == 0
    assert set(Archive(str(same)).manifest.column("height").to_pylist()) == {96}


@pytest.mark.parametrize("space", [
    {"pipelines": ["subcomponent"], "backbones": ["mobilenet_v3_small_050"], "modalities": ["hlz_log"],
     "k": [20], "lr": [1e-3], "batch_size": [2]},
    {"pipelines": ["ssn"], "backbones": ["squeezenet1_1"], "modalities": ["pseudo"], "k": [20], "lr": [1e-3],
     "batch_size": [2], "epochs": 1},
], ids=["item-first", "whole-scan"])
def test_a_mixed_size_archive_trains_and_every_scan_scores(ray_session, mixed, tmp_path, space):
    config = {"name": "mixed", "data": {"archive": mixed, "cache": str(tmp_path / "cache"), "image_size": 64},
              "space": space}
    if space["pipelines"] == ["subcomponent"]:
        del config["data"]["image_size"]
        config["items"] = {"steps": 3, "batch": 2, "min_item_px": 10, "encoder": "mobilenet_v3_small_050"}
        config["recipe"] = {"steps": 2, "tile": 32, "eval_every": 2}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    model = tmp_path / "model"
    assert main(["train", "--config", str(path), "--out", str(model)]) == 0
    report = tmp_path / "report"
    assert main(["score", "--archive", mixed, "--model", str(model), "--out", str(report),
                 "--batch-size", "3", "--no-progress", "--overlays", "2"]) == 0
    query = f"SELECT scan_id, status, error, height, width FROM read_parquet('{report}/scans/*.parquet')"
    rows = duckdb.sql(query).fetchall()
    assert len(rows) == 10 and all(status == "ok" for _, status, _, _, _ in rows), rows
    archive = Archive(mixed)
    sizes = {r["scan_id"]: (r["height"], r["width"]) for r in archive.manifest.to_pylist()}
    assert {scan_id: (h, w) for scan_id, _, _, h, w in rows} == sizes
    # every segment's and item's box lies within its own scan's height and width (not the batch's
    # largest, nor the model's input size), and is empty only where it covers no pixel (a superpixel
    # of the model's input that no pixel of a smaller scan maps to)
    for table in ("segments", "items"):
        boxes = duckdb.sql(f"SELECT scan_id, min(x0), min(y0), max(x1), max(y1), "
                           f"count(*) FILTER (WHERE (x1 <= x0 OR y1 <= y0) AND area_px > 0) "
                           f"FROM read_parquet('{report}/{table}/*.parquet') GROUP BY scan_id").fetchall()
        assert boxes or table == "items", table  # (a whole-scan model finds no items)
        for scan_id, x0, y0, x1, y1, empty in boxes:
            height, width = sizes[scan_id]
            assert x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height and not empty, (table, scan_id)
            if table == "segments" and space["pipelines"] == ["ssn"]:  # superpixels tile the whole scan
                assert (x0, y0, x1, y1) == (0, 0, width, height), scan_id


def test_the_item_stage_pads_a_smaller_scan_with_air_and_no_item():
    import torch

    from scans.modalities import modality_air
    from study.items.stage import on_canvas

    air = torch.tensor(modality_air("pseudo+high_log")).view(-1, 1, 1)
    image, objects = torch.rand(4, 5, 6), torch.ones(5, 6, dtype=torch.long)
    padded, labels = on_canvas(image, objects, (8, 7), air)
    assert padded.shape == (4, 8, 7) and labels.shape == (8, 7)
    assert torch.equal(padded[:, :5, :6], image) and torch.equal(labels[:5, :6], objects)
    assert torch.equal(padded[:, 5:, :], air.expand(4, 3, 7))
    assert torch.equal(padded[:, :, 6:], air.expand(4, 8, 1))
    assert not labels[5:].any() and not labels[:, 6:].any()
