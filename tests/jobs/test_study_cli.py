"""`dualscan train`, `dualscan study` and `dualscan study-report` end to end (one Ray session)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
import yaml

from jobs.cli import main
from models.trained import load_trained_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def smoke_file(tmp_path, archive: str, **search) -> str:
    """The shipped smoke config pointed at the test archive and a temporary storage."""
    with open(os.path.join(REPO, "study", "configs", "smoke.yaml"), encoding="utf-8") as f:
        data = yaml.safe_load(f)
    data["storage"] = str(tmp_path / "runs")
    data["data"].update(archive=archive, image_size=48, cache=str(tmp_path / "cache"))
    data["space"]["epochs"] = 2
    data["search"].update(search)
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_train_one_configuration_without_ray(study_archive, tmp_path, capsys):
    config = smoke_file(tmp_path, study_archive)
    out = tmp_path / "trained"
    assert main(["train", "--config", config, "--epochs", "1", "--modality", "hlz", "--k", "40",
                 "--set", "space.lr=[0.003]", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert '"modality": "hlz"' in lines[0] and '"k": 40' in lines[0] and '"lr": 0.003' in lines[0]
    assert json.loads(lines[-1])["epoch"] == 1
    trial = json.loads((out / "config.json").read_text())["trial"]
    assert trial["modality"] == "hlz" and trial["lr"] == 0.003  # --set reached the trial
    trained = load_trained_model(str(out), "cpu")  # the weights fit the model the spec builds, strictly
    assert (trained.modality, trained.spec.k, trained.pipeline) == ("hlz", 40, "ssn")
    state = torch.load(out / "model.pt", weights_only=True)
    assert state.keys() == trained.model.state_dict().keys() and len(state) > 10


def test_config_errors_exit_2_naming_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {archive: x}\nspace: {backbones: [resnet99]}\n")
    for command in ("train", "study"):
        assert main([command, "--config", str(bad)]) == 2
        assert "space.backbones: unknown backbone 'resnet99'; valid:" in capsys.readouterr().err


def test_an_archive_without_val_stops_both_commands_before_any_work(small_archive, tmp_path, capsys):
    config = smoke_file(tmp_path, small_archive)  # the session's small archive has train and test only
    for command in ("train", "study"):
        assert main([command, "--config", config]) == 2
        err = capsys.readouterr().err
        assert "gives no val scans" in err and "dualscan synth --val 0.1" in err
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_study_then_report_rebuilds_results_and_best(ray_session, study_archive, tmp_path, capsys):
    config = smoke_file(tmp_path, study_archive, num_samples=2)
    assert main(["study", "--config", config, "--name", "cli"]) == 0
    printed = capsys.readouterr().out
    assert "### ssn: object level" in printed and "best by val: ssn · tiny" in printed
    run = tmp_path / "runs" / "cli"
    assert (run / "best" / "model_card.json").exists()
    card = json.loads((run / "best" / "model_card.json").read_text())
    assert (card["data"]["n_train"], card["data"]["n_val"], card["data"]["n_test"]) == (8, 4, 8)
    assert card["threshold"] == card["metrics"]["threshold"]  # chosen on val for FP% ≤ 5
    assert card["operating_point"] == {"threshold": card["threshold"], "chosen_on": "val", "fp_target": 5,
                                       "level": "object"}
    shutil.rmtree(run / "results")
    shutil.rmtree(run / "best")
    capsys.readouterr()
    assert main(["study-report", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "(test, at the val-chosen threshold)" in printed and "per anomaly kind" in printed
    assert "best by val:" in printed and "val object_auroc" in printed
    assert (run / "results" / "tables.md").exists() and (run / "best" / "model.pt").exists()
    assert main(["study-report", str(tmp_path)]) == 2
    assert "cannot build the report" in capsys.readouterr().err
    assert main(["study", "--config", config, "--name", "never-ran", "--resume"]) == 2
    assert "no interrupted study" in capsys.readouterr().err
    assert main(["study", "--config", config, "--name", "cli"]) == 2  # would mix two runs
    assert "already holds a study: --resume to continue it" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_smoke_study_on_one_gpu_two_trials_sharing_it(ray_session, study_archive, tmp_path, capsys):
    config = smoke_file(tmp_path, study_archive, num_samples=2)
    assert main(["study", "--config", config, "--name", "gpu", "--gpus-per-trial", "0.5"]) == 0
    card = json.loads((tmp_path / "runs" / "gpu" / "best" / "model_card.json").read_text())
    assert card["trial"]["pipeline"] == "ssn"
