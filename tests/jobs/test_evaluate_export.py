"""`dualscan evaluate` judges a model as its training judged it; `dualscan export-model` packs what
scoring needs with a model card whose sha256 match the files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
from PIL import Image

from jobs.cli import main
from jobs.scoring.batches import Scorer
from models.onnx_networks import NotExportableError, OnnxNetwork, networks_of
from models.trained import load_trained_model
from scans.archive import Archive
from scans.modalities import build_input
from scans.synth import SynthConfig, synthesise
from study.evaluation import SCORES_FILE, read_scores_npz
from study.items.judge import evaluate_model
from tests.tensorboard_events import tensorboard_scalars

REPO = Path(__file__).resolve().parents[2]


def documented_queries() -> list[str]:
    """The SQL that docs/formats.md gives a report's reader, query by query."""
    blocks = re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "formats.md").read_text(), re.S)
    return [query.strip() for block in blocks for query in block.split(";") if query.strip()]


@pytest.fixture(scope="module")
def item_model(small_archive_val, tmp_path_factory) -> str:
    """A tiny item-first sub-component model (half-width MobileNet-v3 for both stages)."""
    root = tmp_path_factory.mktemp("item_model")
    config = root / "items.yaml"
    config.write_text(json.dumps({
        "name": "t", "data": {"archive": small_archive_val, "cache": str(root / "cache")},
        "space": {"pipelines": ["subcomponent"], "backbones": ["mobilenet_v3_small_050"],
                  "modalities": ["hlz_log"], "k": [20], "lr": [1e-3], "batch_size": [2]},
        "items": {"steps": 3, "batch": 2, "min_item_px": 10, "encoder": "mobilenet_v3_small_050"},
        "recipe": {"steps": 2, "tile": 32, "eval_every": 2}}))
    model = root / "model"
    assert main(["train", "--config", str(config), "--out", str(model)]) == 0
    return str(model)


def test_training_without_ray_writes_tensorboard_scalars_per_evaluation(item_model):
    scalars = tensorboard_scalars(f"{item_model}/tensorboard")
    with open(f"{item_model}/metrics.json", encoding="utf-8") as f:
        trained = json.load(f)
    for tag in ("train_loss", "val_object_auroc", "val_segment_auroc", "lr"):
        assert [step for step, _ in scalars[tag]] == [2], tag  # recipe.steps 2, a val pass every 2
    assert scalars["train_loss"][0][1] == pytest.approx(trained["train_loss"])
    assert scalars["lr"][0][1] == pytest.approx(trained["lr"]) and trained["lr"] > 0


def test_onnx_runtime_scores_a_fresh_archive_as_pytorch_does(item_model, tmp_path, capsys):
    """Every network exported (finder, dense features, heads), scored through ONNX Runtime on an
    archive training never saw: each item's score within 1e-4 of PyTorch's, each flag the same."""
    fresh = tmp_path / "fresh"
    synthesise(SynthConfig(n=8, size=96, seed=41, split=0.0, val=0.0, world=1), str(fresh), workers=1,
               progress=False)
    exported = tmp_path / "exported"
    assert main(["export-model", item_model, str(exported), "--onnx"]) == 0
    listed = json.loads((exported / "onnx" / "networks.json").read_text())["networks"]
    assert {"finder.net", "model.dense", "model.pixel_head", "model.head"} <= set(listed)
    judged = {runtime: evaluate_model(str(exported), str(fresh), "test", "cpu", runtime=runtime)
              for runtime in ("torch", "onnx")}
    assert judged["onnx"].n_found_items == judged["torch"].n_found_items > 0
    np.testing.assert_allclose(judged["onnx"].scores, judged["torch"].scores, rtol=0, atol=1e-4)
    threshold = judged["torch"].threshold
    assert [s >= threshold for s in judged["onnx"].scores] == [s >= threshold for s in judged["torch"].scores]
    # the sessions stand where the networks stood; scoring's actors load them the same way
    scorer = Scorer(str(exported), runtime="onnx")
    assert isinstance(scorer.model.finder.net, OnnxNetwork)
    assert isinstance(scorer.model.model.dense.network, OnnxNetwork)
    capsys.readouterr()
    assert main(["evaluate", "--model", item_model, "--archive", str(fresh), "--runtime", "onnx"]) == 2
    assert "export-model" in capsys.readouterr().err  # a model without ONNX files says how to make them


def test_a_model_onnx_cannot_export_is_refused_naming_it():
    with pytest.raises(NotExportableError, match="whole-scan"):
        networks_of(torch.nn.Linear(2, 2))


def test_evaluate_gives_the_figures_training_reported(item_model, small_archive_val, tmp_path, capsys):
    with open(f"{item_model}/metrics.json", encoding="utf-8") as f:
        trained = json.load(f)
    evaluation = evaluate_model(item_model, small_archive_val, "test", "cpu")
    assert evaluation.item_score == trained["item_score"] and evaluation.threshold == trained["threshold"]
    assert evaluation.n_scans == 4 and len(evaluation.labels) == len(evaluation.scores) > 0
    # item by item, the scores training judged test on are the ones predict gives the scans
    with open(f"{item_model}/{SCORES_FILE}", "rb") as f:
        labels, scores = read_scores_npz(f.read())["test"].arrays("object")
    assert evaluation.labels == labels.tolist() and any(scores)
    # the finder names classes: its accuracy counts every matched item (and says so on its line)
    matched = round(evaluation.item_recall * evaluation.n_true_items)
    assert evaluation.class_accuracy["n"] == matched
    assert (evaluation.class_accuracy["value"] is None) == (matched == 0)
    assert "their classes right" in evaluation.line()
    np.testing.assert_allclose(evaluation.scores, scores, rtol=0, atol=1e-6)
    out = tmp_path / "report" / "evaluation.json"
    assert main(["evaluate", "--model", item_model, "--archive", small_archive_val, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("test: object AUROC ")
    assert json.loads(out.read_text())["object"]["auroc"]["value"] == evaluation.object["auroc"]["value"]


def test_scoring_and_evaluation_give_each_scan_the_same_score_and_flag(ray_session, item_model,
                                                                      small_archive_val, tmp_path):
    report, figures = tmp_path / "report", tmp_path / "evaluation.json"
    assert main(["score", "--archive", small_archive_val, "--model", item_model, "--out", str(report),
                 "--batch-size", "2", "--no-progress"]) == 0
    assert main(["evaluate", "--model", item_model, "--archive", small_archive_val,
                 "--out", str(figures)]) == 0
    scored = {scan_id: (score, flag) for scan_id, score, flag in duckdb.sql(
        f"SELECT scan_id, score, is_anomalous FROM read_parquet('{report}/scans/*.parquet') "
        "WHERE status = 'ok'").fetchall()}
    evaluation = json.loads(figures.read_text())
    assert len(evaluation["scan_ids"]) == 4 and set(evaluation["scan_ids"]) <= set(scored)
    assert any(evaluation["scan_scores"])  # the items found score something: the comparison is not of zeros
    for scan_id, score, flag in zip(evaluation["scan_ids"], evaluation["scan_scores"],
                                    evaluation["scan_flagged"], strict=True):
        assert scored[scan_id][0] == pytest.approx(score, abs=1e-6), scan_id  # float32 in the report
        assert scored[scan_id][1] == flag, scan_id
    # the scan's flag is its items' (item score ≥ threshold), as evaluation counts TP and FP
    threshold = json.loads((report / "_SUCCESS").read_text())["config"]["threshold"]
    assert [s >= threshold for s in evaluation["scan_scores"]] == evaluation["scan_flagged"]


def test_an_item_first_prediction_flags_the_strongest_segments_of_flagged_items(item_model,
                                                                                 small_archive_val):
    archive = Archive(small_archive_val)
    for threshold in (0.0, None, 1.0):
        model = load_trained_model(item_model, "cpu", threshold)
        for scan_id in archive.ids_in_split("test"):
            image = build_input(archive.read(scan_id), model.input_modality)
            pred = model.predict([image])[0]
            assert pred.scan_score == pytest.approx(max(pred.item_scores, default=0.0))
            assert not pred.flagged[0]  # segment 0: what no item covers
            for item, (mask, score) in enumerate(zip(pred.item_masks, pred.item_scores, strict=True)):
                mine = np.unique(pred.labels[mask])
                mine = mine[mine > 0]
                assert all(mask[pred.labels == s].all() for s in mine), item  # segments inside the item
                strongest = pred.scores[mine].max() if len(mine) else 0.0
                expected = (score >= model.threshold) & (pred.scores[mine] >= min(model.threshold, strongest))
                assert np.array_equal(pred.flagged[mine], expected), (scan_id, item)
                assert not len(mine) or expected.any() == (score >= model.threshold)


def test_evaluate_refuses_what_it_cannot_judge(item_model, small_archive, capsys):
    assert main(["evaluate", "--model", item_model, "--archive", small_archive, "--split", "val"]) == 2
    assert "no scans in split 'val'" in capsys.readouterr().err


def test_export_packs_half_precision_weights_with_their_sha256(item_model, small_archive_val, tmp_path):
    out = tmp_path / "shipped"
    assert main(["export-model", item_model, str(out), "--half", "--rebuild", "make demo-model"]) == 0
    card = (out / "model_card.md").read_text()
    assert "make demo-model" in card and "float16" in card
    assert "The whole training command (item stage, training, val and test) took" in card
    stage = json.loads((out / "items" / "metrics.json").read_text())
    named = stage["test_class_accuracy"]  # None where the tiny stage matched no test item
    assert "item classes right (test)" in card and ("—" if named is None else f"{100 * named:.1f} %") in card
    # its data named by the command that made it and its fingerprint, never the training machine's path
    made_by = "dualscan synth --out ARCHIVE --n 10 --size 96 --seed 5 --world 1 --split 0.6 --val 0.2"
    assert f"* data: `{made_by}`" in card
    assert f"fingerprint {Archive(small_archive_val).fingerprint()[:16]}…" in card
    assert small_archive_val not in card and small_archive_val not in (out / "model_card.json").read_text()
    for name in ("model.pt", "items/model.pt", "config.json", "items/config.json"):
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() in card
    assert not (out / "optimizer.pt").exists() and not (out / "items" / "found.npz").exists()
    assert (out / "model.pt").stat().st_size < 0.6 * os.path.getsize(f"{item_model}/model.pt")
    shipped = load_trained_model(str(out), "cpu")  # float16 on disk, float32 once loaded
    assert shipped.item_first and next(shipped.model.parameters()).dtype == torch.float32
    # every weight is the trained one rounded to float16, and scores move by that rounding only
    trained = load_trained_model(item_model, "cpu")
    for part in ("model", "finder"):
        loaded = getattr(shipped, part).state_dict()
        for name, value in getattr(trained, part).state_dict().items():
            expected = value.half().float() if value.is_floating_point() else value
            assert torch.equal(loaded[name], expected), (part, name)
    # on the same found items the shipped classifier's scores move by that rounding only (a
    # three-step finder's borderline peaks may flip under rounding, so its items are the trained one's)
    same_items = dataclasses.replace(shipped, finder=trained.finder)
    archive = Archive(small_archive_val)
    for scan_id in archive.ids_in_split("test"):
        image = build_input(archive.read(scan_id), trained.input_modality)
        full, half = trained.predict([image])[0], same_items.predict([image])[0]
        assert len(full.item_scores) > 0, scan_id
        np.testing.assert_allclose(half.item_scores, full.item_scores, rtol=0, atol=3e-3)
    judged = evaluate_model(str(out), small_archive_val, "test", "cpu")  # the shipped files end to end
    assert judged.n_scans == 4 and judged.n_found_items > 0 and judged.model_sha256 == shipped.sha256


def test_scores_are_computed_in_the_precision_val_chose_the_threshold_in(ray_session, item_model,
                                                                        small_archive_val, tmp_path):
    with open(f"{item_model}/config.json", encoding="utf-8") as f:
        assert json.load(f)["training_run"]["numerics"] == "float32"  # trained, and chosen, on this CPU
    model = load_trained_model(item_model, "cpu")
    assert model.numerics == "float32" and model.numerics_warning() is None
    # a model whose threshold val chose under CUDA's bfloat16 autocast, scored on this CPU: the report says so
    moved = tmp_path / "from_gpu"
    shutil.copytree(item_model, moved)
    config = json.loads((moved / "config.json").read_text())
    config["training_run"]["numerics"] = "bfloat16 autocast"
    (moved / "config.json").write_text(json.dumps(config))
    report = tmp_path / "report"
    assert main(["score", "--archive", small_archive_val, "--model", str(moved), "--out", str(report),
                 "--batch-size", "2", "--no-progress"]) == 0
    warnings = json.loads((report / "_SUCCESS").read_text())["warnings"]
    assert any("chosen on val with scores in bfloat16 autocast" in w and "computed in float32" in w
               for w in warnings), warnings


def test_the_report_has_an_items_table_a_reader_queries_with_duckdb(ray_session, item_model,
                                                                   small_archive_val, tmp_path):
    report = tmp_path / "report"
    assert main(["score", "--archive", small_archive_val, "--model", item_model, "--out", str(report),
                 "--batch-size", "2", "--no-progress"]) == 0
    success = json.loads((report / "_SUCCESS").read_text())
    assert success["report_version"] == 2
    threshold = success["config"]["threshold"]
    items = duckdb.sql(f"SELECT * FROM read_parquet('{report}/items/*.parquet')").df()
    scans = duckdb.sql(f"SELECT * FROM read_parquet('{report}/scans/*.parquet') WHERE status = 'ok'").df()
    assert len(items) > 0 and items["detection_score"].between(0, 1).all()
    # the item stage's finder names each item's class (a train class), as the finder itself does
    trained = load_trained_model(item_model, "cpu")
    archive = Archive(small_archive_val)
    assert set(items["item_class"]) <= set(trained.finder.classes) and len(trained.finder.classes) > 1
    for scan_id in scans["scan_id"]:
        image = build_input(archive.read(scan_id), trained.finder_modality)
        named = trained.finder.find(torch.from_numpy(image)[None])[0].classes
        mine = items[items["scan_id"] == scan_id].sort_values("item_id")
        assert mine["item_class"].tolist() == named, scan_id
    assert ((items["x1"] > items["x0"]) & (items["y1"] > items["y0"]) & (items["area_px"] > 0)).all()
    assert (items["is_anomalous"] == (items["score"] >= threshold)).all()
    for row in scans.itertuples():  # a scan is flagged exactly when one of its items is
        mine = items[items["scan_id"] == row.scan_id]
        assert row.is_anomalous == bool(mine["is_anomalous"].any()), row.scan_id
        assert row.score == pytest.approx(mine["score"].max() if len(mine) else 0.0)
        assert row.score_rule.startswith("highest item score (each item by rule ")
    # docs/formats.md's queries, as a reader copies them: its report, one of its scans and items
    one = items.sort_values("score").iloc[-1]
    queries = documented_queries()
    assert len(queries) == 3 and all("REPORT_DIR" in q for q in queries)
    assert "'scan_000123'" in queries[2] and "item_id = 2" in queries[2]
    for placeholder, value in (("REPORT_DIR", str(report)), ("'scan_000123'", f"'{one.scan_id}'"),
                               ("item_id = 2", f"item_id = {int(one.item_id)}")):
        queries = [q.replace(placeholder, value) for q in queries]
    top, flagged, segments = (duckdb.sql(q).df() for q in queries)
    ranked = scans.sort_values("score", ascending=False, kind="stable")
    assert list(top.columns) == ["scan_id", "score", "n_anomalous_segments"]
    assert top["score"].tolist() == pytest.approx(ranked["score"].tolist()[:10])  # the best ok scans first
    assert set(top["scan_id"]) <= set(scans["scan_id"])
    expected = items[items["is_anomalous"]].sort_values(["scan_id", "score"], ascending=[True, False])
    assert list(flagged.columns) == ["scan_id", "item_id", "score", "x0", "y0", "x1", "y1"]
    assert flagged[["scan_id", "item_id"]].values.tolist() == expected[["scan_id", "item_id"]].values.tolist()
    assert set(flagged["scan_id"]) == set(scans.loc[scans["is_anomalous"], "scan_id"])
    assert len(segments) > 0 and {"segment_id", "score", "is_anomalous"} <= set(segments.columns)
    assert segments["score"].is_monotonic_decreasing
    assert ((segments.x0 >= one.x0) & (segments.x1 <= one.x1)).all()  # the item's superpixels: in its box
    assert ((segments.y0 >= one.y0) & (segments.y1 <= one.y1)).all()


def test_the_summary_and_the_page_show_the_top_flagged_items(ray_session, item_model, small_archive_val,
                                                             tmp_path):
    from jobs.scoring.report_page import write_report_page
    from jobs.scoring.summary import summarise, summary_text
    from scans.storage import locate

    report = tmp_path / "report"  # at threshold 0 every found item is flagged
    assert main(["score", "--archive", small_archive_val, "--model", item_model, "--out", str(report),
                 "--batch-size", "2", "--no-progress", "--threshold", "0", "--overlays", "3"]) == 0
    summary = summarise(locate(str(report)), top_n=3)
    n_items = duckdb.sql(f"SELECT count(*) FROM read_parquet('{report}/items/*.parquet')").fetchall()[0][0]
    assert len(summary.top_items) == min(3, n_items) > 0
    scores = [row["score"] for row in summary.top_items]
    assert scores == sorted(scores, reverse=True)
    text = summary_text(summary)
    first = summary.top_items[0]
    assert "top flagged items:" in text and f"{first['scan_id']} item {first['item_id']}" in text
    assert "(threshold 0.000)" in text
    # the crops are of the same top items, best first, each a PNG beside the page
    crops = json.loads((report / "_SUCCESS").read_text())["item_crops"]
    assert [(c["scan_id"], c["item_id"]) for c in crops] == [
        (row["scan_id"], row["item_id"]) for row in summary.top_items]
    for crop in crops:
        with Image.open(report / crop["file"]) as picture:
            assert picture.format == "PNG" and min(picture.size) >= 16
    write_report_page(str(report))
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "Top flagged items" in page and first["scan_id"] in page
    assert all(f'src="{crop["file"]}"' in page for crop in crops)


@pytest.fixture(scope="module")
def finding_model(tmp_path_factory) -> tuple[str, str]:
    """An archive whose val split has enough found items of both kinds to fit a calibration on (24
    world-1 scans at 96², anomalies twice their size) and an item-first model on it whose item stage trains
    long enough (60 steps) to find them: (model, archive)."""
    root = tmp_path_factory.mktemp("finding_model")
    archive = root / "archive"
    assert main(["synth", "--out", str(archive), "--n", "24", "--size", "96", "--seed", "5", "--split", "0.6",
                 "--val", "0.35", "--anomaly-scale", "2", "--quiet", "--no-previews", "--world", "1"]) == 0
    config = root / "items.yaml"
    config.write_text(json.dumps({
        "name": "t", "data": {"archive": str(archive), "cache": str(root / "cache")},
        "space": {"pipelines": ["subcomponent"], "backbones": ["mobilenet_v3_small_050"],
                  "modalities": ["hlz_log"], "k": [20], "lr": [1e-3], "batch_size": [2]},
        "items": {"steps": 60, "batch": 2, "min_item_px": 10, "encoder": "mobilenet_v3_small_050"},
        "recipe": {"steps": 2, "tile": 32, "eval_every": 2}}))
    assert main(["train", "--config", str(config), "--out", str(root / "model")]) == 0
    return str(root / "model"), str(archive)


def test_evaluate_gives_the_figures_training_reported_on_a_test_split_of_both_classes(finding_model):
    model, archive = finding_model
    trained = json.loads((Path(model) / "metrics.json").read_text())
    evaluation = evaluate_model(model, archive, "test", "cpu")
    assert 0 < sum(evaluation.labels) < len(evaluation.labels)  # anomalous and benign found items
    for name in ("auroc", "tp_pct", "fp_pct"):  # same found items, same scores, same protocol
        value = evaluation.object[name]["value"]
        assert value is not None and math.isfinite(value), (name, value)
        assert value == pytest.approx(trained[f"test_object_{name}"], abs=1e-9), name


def test_evaluate_gives_figures_per_item_class_and_for_designs_training_never_saw(finding_model, tmp_path,
                                                                                   capsys):
    model, _ = finding_model
    archive = tmp_path / "world2"  # test scans only; split by model, so the catalogue's test models
    assert main(["synth", "--out", str(archive), "--n", "8", "--size", "96", "--seed", "9", "--split", "0",
                 "--val", "0", "--anomaly-scale", "2", "--quiet", "--no-previews"]) == 0
    reader = Archive(str(archive))
    scans = [reader.read(scan_id) for scan_id in reader.ids_in_split("test")]
    seen = str(scans[0].object_model[0])  # the model as if it had trained on this one design
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    config = json.loads((copy / "config.json").read_text())
    item_class, index = seen.rsplit("-", 1)
    config["data"]["train_models"] = {item_class: [int(index)]}
    (copy / "config.json").write_text(json.dumps(config))
    evaluation = evaluate_model(str(copy), str(archive), "test", "cpu")
    # every true item in its class's group and its design's; a found item matching none in neither
    n_true = sum(s.n_objects for s in scans)
    n_seen = sum(int((s.object_model == seen).sum()) for s in scans)
    classes = {c for s in scans for c in s.object_class}
    assert {g["group"] for g in evaluation.classes} == classes
    assert sum(g["n_items"] for g in evaluation.classes) == n_true
    n_anomalous = sum(int(s.object_anomalous.sum()) for s in scans)
    assert sum(g["n_anomalous"] for g in evaluation.classes) == n_anomalous
    for group in evaluation.classes:
        if 0 < group["n_anomalous"] < group["n_items"]:
            assert 0.0 <= group["auroc"]["value"] <= 1.0 and group["tp_pct"]["low"] is not None
    designs = [(g["group"], g["n_items"]) for g in evaluation.designs]
    assert designs == [("seen", n_seen), ("unseen", n_true - n_seen)]
    assert main(["evaluate", "--model", str(copy), "--archive", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "designs:\n  seen: AUROC " in out and "\n  unseen: AUROC " in out
    assert ("per item class:" in out) == (len(classes) > 1)
    # a model that records no training designs (world 1's, say) gives no design figures
    assert evaluate_model(model, str(archive), "test", "cpu").designs == []


def test_training_fits_the_calibration_on_val_and_evaluation_gives_its_test_scores(finding_model):
    model, archive = finding_model
    metrics = json.loads((Path(model) / "metrics.json").read_text())
    fitted = metrics["calibration"]["fitted_on"]
    assert fitted["split"] == "val" and fitted["items"] >= 20 and 0 < fitted["anomalous"] < fitted["items"]
    assert metrics["calibration_method"] == metrics["calibration"]["method"]
    assert 0 <= metrics["test_object_ece"] <= 1 and 0 <= metrics["test_object_ece_raw"] <= 1
    evaluation = evaluate_model(model, archive, "test", "cpu")
    with open(Path(model) / SCORES_FILE, "rb") as f:
        _, scores = read_scores_npz(f.read())["test"].arrays("object")
    np.testing.assert_allclose(evaluation.scores, scores, rtol=0, atol=1e-6)  # calibrated in both
    assert evaluation.threshold == metrics["threshold"]
    assert evaluation.calibration == metrics["calibration_method"]
    found = evaluation.n_found_judged
    assert evaluation.reliability["ece"] == pytest.approx(metrics["test_object_ece"], abs=1e-6)
    assert sum(evaluation.reliability["count"]) == found > 0


def test_calibrate_refits_what_training_fitted_and_keeps_every_decision(ray_session, finding_model, tmp_path,
                                                                        capsys):
    model, archive = finding_model
    trained = load_trained_model(model, "cpu")
    raw = tmp_path / "raw"  # the same model with raw scores, as before this change
    shutil.copytree(model, raw)
    metrics = json.loads((raw / "metrics.json").read_text())
    del metrics["calibration"]
    metrics["threshold"] = trained.raw_threshold
    (raw / "metrics.json").write_text(json.dumps(metrics))
    calibrated = tmp_path / "calibrated"
    shutil.copytree(raw, calibrated)
    assert main(["calibrate", "--model", str(calibrated), "--archive", archive, "--split", "test"]) == 2
    assert "test only reports" in capsys.readouterr().err
    assert main(["calibrate", "--model", str(calibrated), "--archive", archive]) == 0
    assert "item scores are probabilities" in capsys.readouterr().out
    refitted = load_trained_model(str(calibrated), "cpu")
    assert refitted.calibration.as_dict() == trained.calibration.as_dict()  # val's items, the same map
    assert refitted.threshold == pytest.approx(trained.threshold, abs=1e-6)
    raw_model = load_trained_model(str(raw), "cpu")
    for scan_id in Archive(archive).ids_in_split("test")[:4]:
        image = build_input(Archive(archive).read(scan_id), trained.input_modality)
        before, after = raw_model.predict([image])[0], refitted.predict([image])[0]
        mapped = trained.calibration.apply(before.item_scores)
        np.testing.assert_allclose(after.item_scores, mapped, atol=1e-6)
        np.testing.assert_array_equal(after.flagged, before.flagged)  # the same decisions, as probabilities
    # a model whose card predates model_card.json (the shipped ones): the card is made again, true to
    # every file, its rebuild command and float16 note kept
    legacy = tmp_path / "legacy"
    shutil.copytree(raw, legacy)
    (legacy / "model_card.json").unlink(missing_ok=True)
    (legacy / "model_card.md").write_text(
        "# old card\n\nRebuild:\n\n```\nmake it\n```\n\nWeights are stored as float16 and loaded back "
        "into float32.\n\n| metrics.json | 1 | " + "0" * 64 + " |\n")
    assert main(["calibrate", "--model", str(legacy), "--archive", archive]) == 0
    card = (legacy / "model_card.md").read_text()
    assert "make it" in card and "float16" in card and "item scores: probabilities" in card
    rows = re.findall(r"^\| (\S+) \| (\d+) \| ([0-9a-f]{64}) \|$", card, flags=re.MULTILINE)
    assert {name for name, _, _ in rows} >= {"model.pt", "metrics.json", "model_card.json"}
    for name, size, digest in rows:
        data = (legacy / name).read_bytes()
        assert len(data) == int(size) and hashlib.sha256(data).hexdigest() == digest, name
    before, after = (evaluate_model(str(m), archive, "test", "cpu") for m in (raw, calibrated))
    assert before.calibration == "none" and after.calibration == trained.calibration.method
    # the same decisions; the same ranking too where the map is strictly increasing (isotonic pools
    # scores into ties, which move AUROC either way)
    ranked = ("auroc",) if trained.calibration.method in ("temperature", "platt") else ()
    for name in ("tp_pct", "fp_pct", *ranked):
        assert after.object[name]["value"] == pytest.approx(before.object[name]["value"], nan_ok=True)
    # the report reads as probabilities: its rule says so, the page shows the reliability diagram
    report = tmp_path / "report"
    assert main(["score", "--archive", archive, "--model", str(calibrated), "--out", str(report),
                 "--batch-size", "4", "--no-progress"]) == 0
    assert main(["evaluate", "--model", str(calibrated), "--archive", archive,
                 "--out", str(report / "evaluation.json")]) == 0
    from jobs.scoring.report_page import write_report_page

    write_report_page(str(report))
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "evaluation_reliability.png" in page and "-calibrated on val: they read as probabilities" in page
    rules = duckdb.sql(f"SELECT DISTINCT score_rule FROM read_parquet('{report}/scans/*.parquet') "
                       "WHERE status = 'ok'").fetchall()
    assert rules and all(f"{trained.calibration.method}-calibrated on val" in r for (r,) in rules)
