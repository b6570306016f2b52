"""A team's own dual-energy exports end to end: imported with `dualscan import dual-energy`, an
item-first model trained on the archive, and the export folder scored as the archive is."""

from __future__ import annotations

import json

import duckdb
import pytest

from jobs.cli import main
from scans.archive import Archive
from study.archive_fit import check_archive
from study.config import load_config
from tests.exports import wedge_calibration, write_exports


@pytest.fixture(scope="module")
def lab(small_archive_val, tmp_path_factory):
    """The exports folder (scanner calibration and raw scale beside the images) and its archive."""
    root = tmp_path_factory.mktemp("lab")
    archive = Archive(small_archive_val)
    folder = write_exports([archive.read(i) for i in archive.scan_ids], str(root / "exports"))
    wedge_calibration(f"{folder}/zeff_calibration.json")
    assert main(["import", "dual-energy", folder, "--out", str(root / "archive"), "--anomaly-categories",
                 "threat", "--part-categories", "component"]) == 0
    return root


def _config(root, archive: str, **space) -> str:
    path = root / f"items-{len(space)}.yaml"
    path.write_text(json.dumps({
        "name": "own", "data": {"archive": archive, "cache": str(root / "cache"), "split": "random",
                                "train_fraction": 0.7, "val_fraction": 0.2},
        "space": {"pipelines": ["subcomponent"], "backbones": ["mobilenet_v3_small_050"],
                  "modalities": ["hlz_log"], "k": [20], "lr": [1e-3], "batch_size": [2], **space},
        "items": {"steps": 3, "batch": 2, "min_item_px": 10, "encoder": "mobilenet_v3_small_050"},
        "recipe": {"steps": 2, "tile": 32, "eval_every": 2}}))
    return str(path)


def test_imported_scans_train_an_item_first_model_and_the_folder_scores_as_the_archive(ray_session, lab):
    model = lab / "model"
    assert main(["train", "--config", _config(lab, str(lab / "archive")), "--out", str(model)]) == 0
    for source, out in ((lab / "archive", lab / "from_archive"), (lab / "exports", lab / "from_folder")):
        assert main(["score", "--archive", str(source), "--model", str(model), "--out", str(out),
                     "--batch-size", "2", "--no-progress"]) == 0
    query = "SELECT scan_id, status, score FROM read_parquet('{}/scans/*.parquet') ORDER BY scan_id"
    archive_rows = duckdb.sql(query.format(lab / "from_archive")).fetchall()
    folder_rows = duckdb.sql(query.format(lab / "from_folder")).fetchall()
    assert len(folder_rows) == 10 and all(status == "ok" for _, status, _ in folder_rows)
    # the folder's raw values at raw_scale.json's levels and Z by its calibration are the archive's
    assert [(i, pytest.approx(s, abs=1e-5)) for i, _, s in folder_rows] == [
        (i, s) for i, _, s in archive_rows]
    success = json.loads((lab / "from_folder" / "_SUCCESS").read_text())
    assert success["config"]["raw_scale"]["high"] == {"air": 60000.0, "dark": 500.0}
    assert success["config"]["zeff_calibration"] == "the inputs' own"


def test_a_study_refuses_learned_ssn_features_on_an_archive_without_sub_components(lab, tmp_path):
    bare = tmp_path / "bare"
    assert main(["import", "dual-energy", str(lab / "exports"), "--out", str(bare),
                 "--anomaly-categories", "threat"]) == 0
    config = load_config(_config(tmp_path, str(bare), ssn_features=["paper"]))
    with pytest.raises(ValueError, match=r"has no sub-component labels .*learned SSN features \(paper\)"):
        check_archive(config)
    check_archive(load_config(_config(tmp_path, str(bare))))  # pixel features need no parts


def test_the_import_command_refuses_a_flag_its_format_does_not_read(lab, tmp_path, capsys):
    assert main(["import", "coco", str(lab / "exports"), "--out", str(tmp_path / "x"),
                 "--zeff-calibration", "simulator"]) == 2
    assert "--zeff-calibration does not act on this format" in capsys.readouterr().err
