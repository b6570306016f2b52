"""Ray Tune studies on one Ray instance: smoke with Optuna + ASHA, retry, resume, tables, best model."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from models.metrics import auroc
from models.trained import load_trained_model
from scans.phantoms.catalogue import model_name
from scans.storage import locate
from study.config import parse_config
from study.report import export_best, write_results
from study.results import choose_epoch, load_statuses, load_trials
from study.run import build_tuner, run_uri
from study.train import METRIC_NAMES
from tests.pictures import drawn_png
from tests.smoke_study import REPO, smoke
from tests.study.drills import FaultDrill, InjectedFaultError
from tests.tensorboard_events import tensorboard_scalars


def read(*parts: str, mode: str = "r"):
    with open(os.path.join(*parts), mode) as f:
        return f.read()


def trial_epochs(run: str) -> dict[str, list[int]]:
    return {t.directory: [int(e["epoch"]) for e in t.epochs] for t in load_trials(locate(run))}


def reported_epochs(run: str) -> list[list[int]]:
    """Every epoch each trial reported, in order, repeats included (raw result.json lines)."""
    out = []
    for name in sorted(os.listdir(run)):
        path = os.path.join(run, name, "result.json")
        if os.path.exists(path):
            out.append([json.loads(line)["epoch"] for line in read(path).splitlines() if line.strip()])
    return out


@pytest.fixture(scope="module")
def smoke_study(ray_session, study_archive, tmp_path_factory) -> tuple:
    """The smoke study (Optuna + ASHA, trials logged to MLflow), run once for the tests that read
    it: its config, Tune's results and the MLflow tracking URI."""
    root = tmp_path_factory.mktemp("smoke")
    mlruns = f"file://{root}/mlruns"
    config = parse_config(smoke(study_archive, root, "smoke", tracking={"mlflow": mlruns}))
    return config, build_tuner(config).fit(), mlruns


def test_smoke_study_optuna_asha_reports_every_metric(smoke_study):
    config, results, mlruns = smoke_study
    assert not results.errors
    assert len(results) == config.search.num_samples
    run = run_uri(config)
    trials = load_trials(locate(run))
    assert len(trials) == config.search.num_samples
    # TensorBoard: Tune's event files in every trial folder hold the objective of every epoch
    for trial in trials:
        scalars = tensorboard_scalars(os.path.join(run, trial.directory))
        objective = next(v for tag, v in scalars.items() if tag.endswith("/objective"))
        assert [value for _, value in objective] == pytest.approx([e["objective"] for e in trial.epochs])
    # MLflow: one run per trial in the study's experiment, with its parameters and metrics
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlruns)
    experiment = client.get_experiment_by_name("smoke")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == config.search.num_samples
    for logged in runs:
        assert {"point/pipeline", "point/k"} <= set(logged.data.params)
        assert "objective" in logged.data.metrics and logged.info.status == "FINISHED"
    for trial in trials:
        for epoch in trial.epochs:
            assert set(METRIC_NAMES) <= set(epoch)
    # the objective Tune saw is the val metric, every epoch; test figures are only a record
    for trial in trials:
        for epoch in trial.epochs:
            assert epoch["objective"] == epoch["val_object_auroc"]
    # tables: test figures of each trial's val-chosen epoch at its val-chosen threshold, with intervals
    write_results(run)
    frame = pd.read_parquet(os.path.join(run, "results", "trials.parquet"))
    table = pd.read_csv(os.path.join(run, "results", "table_object.csv"))
    run_location = locate(run)
    for _, row in table.iterrows():
        trial = next(t for t in trials if t.directory == row["trial"])
        chosen = choose_epoch(run_location, trial, "max")
        assert chosen.metrics["objective"] == pytest.approx(max(e["objective"] for e in trial.epochs))
        assert row["val_objective"] == pytest.approx(chosen.metrics["objective"])
        for column, metric in (("F1", "test_object_f1"), ("TP%", "test_object_tp_pct"),
                               ("FP%", "test_object_fp_pct"), ("AUROC", "test_object_auroc")):
            if math.isnan(chosen.metrics[metric]):
                assert pd.isna(row[column])
            else:
                assert row[column] == pytest.approx(chosen.metrics[metric])
                assert row[f"{column}_lo"] <= row[column] <= row[f"{column}_hi"]
    assert frame["objective"].max() == pytest.approx(max(t.best_epoch("max")["objective"] for t in trials))
    for png in ("tp_fp_ssn_object.png", "objective_vs_k_lambda.png", "learning_curves.png", "roc_object.png",
                "roc_scan.png", "kinds_tp.png"):
        drawn_png(read(run, "results", png, mode="rb"), min_side=200)
    text = read(run, "results", "tables.md")
    assert "### ssn: object level" in text and " ±" in text and "val object_auroc" in text
    # per kind: rebuilt here from the chosen checkpoint's own scores, they match the table
    kinds = pd.read_csv(os.path.join(run, "results", "kinds_ssn.csv"))
    best_row = frame.sort_values("objective", ascending=False, kind="stable").iloc[0]
    chosen = choose_epoch(run_location, next(t for t in trials if t.directory == best_row["trial"]), "max")
    labels, scores = chosen.scores["test"].arrays("object")
    item_kinds = chosen.scores["test"].object_kinds()
    assert set(kinds["kind"]) == set(item_kinds[labels]) - {""} and len(kinds) > 0
    for _, row in kinds.iterrows():
        mine = labels & (item_kinds == row["kind"])
        subset = mine | ~labels
        assert row["items"] == mine.sum()
        assert row["AUROC"] == pytest.approx(auroc(labels[subset], scores[subset]))
        assert row["TP%"] == pytest.approx(100 * (scores[mine] >= chosen.metrics["threshold"]).mean())
    assert "per anomaly kind" in text
    # per item class and seen against unseen designs: the test pass kept each item's class and model
    # (the archive is world 2, split by model: every test item is of a design train never held)
    groups = pd.read_parquet(os.path.join(run, "results", "groups_ssn.parquet"))
    test_scores = chosen.scores["test"]
    classes, models = test_scores.object_classes(), test_scores.object_models()
    assert (classes != "").all() and (models != "").all() and classes.size == labels.size
    seen = {model_name(c, i) for c, ids in (chosen.train_models or {}).items() for i in ids}
    assert seen and not set(models) & seen
    whole = groups[groups["kind"] == ""]
    by_class = whole[whole["grouping"] == "class"].set_index("group")
    assert set(by_class.index) == set(classes) and by_class["items"].sum() == labels.size
    designs = whole[whole["grouping"] == "design"]
    assert designs["group"].tolist() == ["unseen"] and designs["items"].iloc[0] == labels.size
    for name, row in by_class.iterrows():
        mine = classes == name
        assert row["anomalous"] == labels[mine].sum()
        if labels[mine].any() and (~labels[mine]).any():
            assert float(row["AUROC"]) == pytest.approx(auroc(labels[mine], scores[mine]))
        if (mine & ~labels).any():
            flagged = scores[mine & ~labels] >= chosen.metrics["threshold"]
            assert float(row["FP%"]) == pytest.approx(100 * flagged.mean())
    assert "per item class and for seen against unseen designs" in text
    card = export_best(run)
    assert card["val_objective"] == pytest.approx(frame["objective"].max())
    assert card["operating_point"]["chosen_on"] == "val" and card["kinds"]
    assert card["test"]["object"]["auroc"]["value"] == pytest.approx(card["metrics"]["test_object_auroc"])
    assert card["data"]["input_pitch_mm"] == pytest.approx(500 / 48)
    assert "per anomaly kind" in read(run, "best", "model_card.md")
    assert [g["group"] for g in card["groups"]["designs"]] == ["unseen"]
    assert "seen against unseen designs" in read(run, "best", "model_card.md")
    # best/ is the chosen checkpoint's model, byte for byte, and its card names its sha256
    best_weights = read(run, "best", "model.pt", mode="rb")
    assert best_weights == read(run, card["source_checkpoint"], "model.pt", mode="rb")
    assert hashlib.sha256(best_weights).hexdigest() == card["model_sha256"]
    assert json.loads(read(run, "best", "config.json"))["study"]["name"] == "smoke"
    assert load_trained_model(os.path.join(run, "best"), "cpu").threshold == pytest.approx(card["threshold"])
    assert json.loads(read(run, "study_config.json"))["data"]["image_size"] == 48


def test_the_results_page_loads_in_a_real_browser(request):
    """The smoke study's results page in headless Chromium: no console error, no failed request,
    every plot drawn. Without a browser it is skipped, saying what is missing (before the study runs)."""
    from tests.browser import is_blank, load_page, require_browser

    require_browser()
    config, _, _ = request.getfixturevalue("smoke_study")
    run = run_uri(config)
    if not os.path.exists(os.path.join(run, "results", "index.html")):
        write_results(run)
    seen = load_page(Path(run) / "results" / "index.html")
    assert seen.console_errors == [] and seen.failed_requests == [] and not is_blank(seen.screenshot)
    pngs = [n for n in os.listdir(os.path.join(run, "results")) if n.endswith(".png")]
    assert sorted(i["src"] for i in seen.images) == sorted(pngs)
    assert all(i["complete"] and i["naturalWidth"] > 0 for i in seen.images)


def test_a_crashing_trial_is_retried_from_its_checkpoint(ray_session, study_archive, tmp_path):
    marker = tmp_path / "crashed"
    data = smoke(study_archive, tmp_path, "retry", search={"algorithm": "grid", "scheduler": "none",
                                                             "num_samples": 1},
                 retries=1)
    data["space"].update(modalities=["pseudo"], k=[40], ssn_features=["pixel"], lam=None)
    config = parse_config(data)
    results = build_tuner(config, after_epoch=FaultDrill(epoch=1, marker=str(marker))).fit()
    assert marker.exists()  # it did crash once
    assert not results.errors
    # resumed from the epoch-1 checkpoint: epoch 1 is not trained or reported twice
    assert reported_epochs(run_uri(config)) == [[1, 2]]


def test_a_trial_out_of_memory_is_recorded_as_errored_and_the_study_goes_on(ray_session, study_archive,
                                                                             tmp_path):
    data = smoke(study_archive, tmp_path, "oom", search={"algorithm": "grid", "scheduler": "none",
                                                         "num_samples": 1},
                 retries=1)
    data["space"].update(modalities=["pseudo", "hlz"], k=[40], ssn_features=["pixel"], lam=None)
    config = parse_config(data)
    results = build_tuner(config, after_epoch=FaultDrill(epoch=1, kind="oom", when={"modality": "hlz"})).fit()
    assert len(results.errors) == 1  # retried once, failed again: errored
    run = run_uri(config)
    statuses = {s.point["modality"]: s.status for s in load_statuses(locate(run))}
    assert statuses == {"pseudo": "TERMINATED", "hlz": "ERROR"}  # the study went on
    text = write_results(run)
    errors = pd.read_csv(os.path.join(run, "results", "errors.csv"))
    assert list(errors["modality"]) == ["hlz"]
    assert "can't allocate memory" in errors["error"][0]  # the allocator's own message
    assert "1 trial(s) errored" in text and "hlz" in text
    assert not results.get_dataframe().empty


def test_a_fault_drill_fires_only_on_its_points_and_epoch():
    drill = FaultDrill(epoch=2, when={"k": 30})
    cpu = torch.device("cpu")
    drill({"k": 60}, 2, cpu)
    drill({"k": 30}, 1, cpu)
    with pytest.raises(InjectedFaultError, match="after epoch 2"):
        drill({"k": 30}, 2, cpu)
    with pytest.raises(InjectedFaultError):  # no marker: every time, a retry included
        drill({"k": 30}, 3, cpu)


def test_the_study_schema_has_no_fault_drill():
    with pytest.raises(ValueError, match="fault"):
        parse_config({"data": {"archive": "/x"}, "fault": {"epoch": 1}})


def test_interrupted_study_resumes_and_keeps_finished_trials(ray_session, study_archive, tmp_path):
    data = smoke(study_archive, tmp_path, "resume", search={"algorithm": "grid", "scheduler": "none",
                                                              "max_concurrent": 1, "num_samples": 1})
    data["space"].update(modalities=["pseudo", "hlz", "high"], k=[30], ssn_features=["pixel"], lam=None,
                         epochs=3)  # 3 trials, one at a time: one done, one stopped, one not begun
    config_path = tmp_path / "resume.yaml"
    config_path.write_text(yaml.safe_dump(data))
    config = parse_config(data)
    run = run_uri(config)
    address, log = tmp_path / "rendezvous.sock", tmp_path / "study.log"
    env = {**os.environ, "PYTHONPATH": REPO}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server, open(log, "wb") as output:
        server.bind(str(address))
        server.listen(1)
        server.settimeout(300)
        process = subprocess.Popen([sys.executable, "-m", "tests.study.study_with_rendezvous", "--config",
                                    str(config_path), "--local", "--rendezvous", str(address),
                                    "--markers", str(tmp_path)],
                                   cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            try:  # the first trial has finished, the second reported its first epoch and waits
                connection, _ = server.accept()
            except TimeoutError:
                pytest.fail(f"no second trial began within 300 s: {log.read_text()[-3000:]}")
            with connection:  # held until the study job has stopped
                process.send_signal(signal.SIGINT)
                assert process.wait(timeout=120) == 0, log.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    before = trial_epochs(run)
    finished = {name for name, epochs in before.items() if epochs == list(range(1, 4))}
    assert sorted(before.values()) == [[1], list(range(1, 4))], before  # stopped in the second trial
    build_tuner(config, resume=True).fit()
    after = trial_epochs(run)
    assert len(after) == 3 and set(before) <= set(after), after  # the same trials went on: none anew
    assert all(after[name] == before[name] for name in finished)  # the finished trial kept as it was
    assert all(epochs == list(range(1, 4)) for epochs in after.values()), after  # all completed
    assert reported_epochs(run) == [list(range(1, 4))] * 3  # the second went on from its checkpoint


def item_study(archive: str, tmp_path: Path, name: str, pipelines: list[str], **items) -> dict:
    """The smoke study on item-first ``pipelines`` (tiny resnet18 trials, two recipe steps), its item
    stage changed by ``items``."""
    data = smoke(
        archive, tmp_path, name,
        space={"pipelines": pipelines, "backbones": ["resnet18"], "modalities": ["hlz"],
               "k": [20], "ssn_features": ["pixel"], "lam": None, "lr": [1e-3], "batch_size": [4]},
        search={"algorithm": "grid", "num_samples": 1, "scheduler": "none"},
        items={"steps": 3, "batch": 2, "min_item_px": 10, **items},
        recipe={"steps": 2, "eval_every": 1, "tile": 32})
    del data["space"]["epochs"], data["data"]["image_size"]  # whole-scan knobs: refused for item pipelines
    return data


def test_an_item_first_study_trains_its_item_stage_once_and_exports_it(ray_session, small_archive_val,
                                                                      tmp_path):
    config = parse_config(item_study(small_archive_val, tmp_path, "items", ["subcomponent", "object"]))
    results = build_tuner(config).fit()
    assert not results.errors and len(results) == 2
    run = run_uri(config)
    assert os.path.exists(os.path.join(run, "items", "found.npz"))
    saved = json.loads(read(run, "study_config.json"))
    assert saved["items"]["directory"] == os.path.join(run, "items")  # every trial used this stage
    trials = load_trials(locate(run))
    for trial in trials:
        assert [e["epoch"] for e in trial.epochs] == [1, 2]
        chosen = choose_epoch(locate(run), trial, "max")
        # test is scored once, at the end, on the weights val chose
        assert chosen.metrics["epoch"] == 2 and set(chosen.scores) >= {"val", "test"}
    write_results(run)
    # each trial's row says the recipe it ran: smoke.yaml's Adam on the item recipe's one-cycle
    trials_table = pd.read_csv(os.path.join(run, "results", "trials.csv"))
    assert sorted(trials_table["pipeline"]) == ["object", "subcomponent"]
    assert set(trials_table["optimizer"]) == {"adam"} and set(trials_table["schedule"]) == {"onecycle"}
    assert trials_table["momentum"].isna().all() and set(trials_table["weight_decay"]) == {1e-4}
    card = export_best(run)
    assert card["trial"]["pipeline"] in ("subcomponent", "object")
    assert card["training_run"] == {"optimizer": "adam", "schedule": "onecycle", "lr": 1e-3,
                                    "weight_decay": 1e-4, "batch": 4, "steps": 2, "warmup": 0.05,
                                    "momentum": None, "weights": None, "weights_sha256": None,
                                    "numerics": "float32"}
    assert ("* training: Adam, lr 0.001 onecycle (0.05 warm-up), weight decay 0.0001, batch 4, 2 steps; "
            "random init; scores in float32") in read(run, "best", "model_card.md")
    assert os.path.exists(os.path.join(run, "best", "items", "model.pt"))


def test_the_item_stage_trains_in_a_worker_never_in_the_driver(ray_session, small_archive_val, tmp_path,
                                                              monkeypatch):
    import study.items.stage

    def driver_trains(*args, **kwargs):
        raise AssertionError("the driver trained the item finder")

    monkeypatch.setattr(study.items.stage, "train_finder", driver_trains)  # this process only
    config = parse_config(item_study(small_archive_val, tmp_path, "worker", ["subcomponent"]))
    results = build_tuner(config).fit()
    assert not results.errors and len(results) == 1
    metrics = json.loads(read(run_uri(config), "items", "metrics.json"))
    assert metrics["trained_on"]["pid"] != os.getpid() and metrics["resumed_from_step"] == 0
    # it read the train scans from the node's cache, memory-mapped, a batch at a time
    assert len(list((tmp_path / "cache").glob("dualscan-finder-*/images.npy"))) == 1


def test_a_study_killed_in_its_item_stage_resumes_the_stage(ray_session, small_archive_val, tmp_path):
    # checkpoints every 30 steps: the first one lands long before the stage ends
    data = item_study(small_archive_val, tmp_path, "killed", ["subcomponent"], steps=300,
                      encoder="mobilenet_v3_small_050")
    config_path = tmp_path / "killed.yaml"
    config_path.write_text(yaml.safe_dump(data))
    config = parse_config(data)
    run = run_uri(config)
    checkpoint = Path(run, "items", "checkpoint", "state.json")
    # a driver that joined the cluster, as `ray job submit` runs one; killed outright mid-stage
    env = {**os.environ, "PYTHONPATH": REPO, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    process = subprocess.Popen([sys.executable, "-m", "jobs.study", "--config", str(config_path)], cwd=REPO,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not checkpoint.exists() and process.poll() is None:
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert checkpoint.exists(), process.stderr.read().decode()[-2000:]
    assert not Path(run, "items", "metrics.json").exists()  # cut short in the stage: no trial ran
    step = json.loads(checkpoint.read_text())["step"]
    results = build_tuner(config, resume=True).fit()
    assert not results.errors and len(results) == 1
    metrics = json.loads(read(run, "items", "metrics.json"))
    assert metrics["resumed_from_step"] >= step > 0  # the stage went on from its checkpoint
    assert [e["epoch"] for e in load_trials(locate(run))[0].epochs] == [1, 2]


def test_the_papers_grid_rehearses_in_a_cut_and_writes_its_two_tables(ray_session, study_archive, tmp_path):
    from study.config import read_config_data
    from study.rehearsal import rehearsal

    data = rehearsal(read_config_data(os.path.join(REPO, "study", "configs", "paper.yaml"),
                                      {"data.archive": study_archive, "storage": str(tmp_path),
                                       "data.cache": str(tmp_path / "cache")}))
    data["space"].update(backbones=["squeezenet1_1"], modalities=["pseudo", "high"])  # CI's cut: 4 trials
    config = parse_config(data)
    assert config.name == "paper-smoke" and config.items.finder == "maskrcnn"
    assert config.recipe.schedule == "constant" and config.space.optimizers == ["sgd"]  # the paper's recipe
    results = build_tuner(config).fit()
    assert not results.errors and len(results) == 4
    run = run_uri(config)
    stage = json.loads(read(run, "items", "metrics.json"))
    assert stage["test_n_found"] > 0  # Mask R-CNN's items reach the trials
    write_results(run)
    for level in ("object", "segment"):  # the paper's Tables I and II: data × network per pipeline
        table = pd.read_csv(os.path.join(run, "results", f"table_{level}.csv"))
        assert sorted(zip(table["pipeline"], table["modality"], table["backbone"], strict=True)) == [
            (p, m, "squeezenet1_1") for p in ("object", "subcomponent") for m in ("high", "pseudo")]
        assert {"A", "P", "F1", "TP%", "FP%"} <= set(table.columns)
    trials_table = pd.read_csv(os.path.join(run, "results", "trials.csv"))
    assert set(trials_table["optimizer"]) == {"sgd"} and set(trials_table["momentum"]) == {0.9}
