"""`dualscan export-model` packs a tiny trained model of every pipeline in the catalog, and the
exported files score; weight files reach the model a real trial builds and the finder a real item
stage trains (each trained from a file at a learning rate too small to move a weight far)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from jobs.cli import main
from models.backbones import build_backbone
from models.catalog import PIPELINES
from models.inputs import resize_square
from models.items.stage import build_finder
from models.model_dir import ModelDirectory
from models.trained import load_trained_model
from scans.archive import Archive
from scans.modalities import build_input, modality_channels
from study.config import ItemStageConfig
from study.items.stage import finder_spec

MODALITY = "hlz"
ITEMS = {"steps": 2, "batch": 2, "scale": 2, "min_item_px": 10, "encoder": "mobilenet_v3_small_050",
         "lr": 1e-7}
SLOW = 1e-7  # a learning rate that leaves every weight within 1e-3 of where it started


def config_of(pipeline: str, archive: str, root, weights: str, finder_weights: str | None = None) -> dict:
    """A tiny study config training ``pipeline`` once from weight file ``weights`` (the tiny
    backbone's), crop mode; item-first ones with an item stage started from ``finder_weights``."""
    config = {"name": "t", "data": {"archive": archive, "cache": str(root / "cache"), "image_size": 48},
              "space": {"pipelines": [pipeline], "backbones": ["tiny"], "modalities": [MODALITY],
                        "lr": [SLOW], "batch_size": [4], "epochs": 1},
              "training": {"crop_size": 16, "weights": {"tiny": weights}}}
    if PIPELINES.declared(pipeline).superpixels:
        config["space"].update(k=[20], modes=["crop"])
    if PIPELINES.declared(pipeline).item_first:
        del config["data"]["image_size"], config["space"]["epochs"]
        config["items"] = {**ITEMS, **({"weights": finder_weights} if finder_weights else {})}
        config["recipe"] = {"steps": 2, "eval_every": 2, "tile": 32}
    return config


def first_conv(state: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """The first 4-d tensor under ``prefix`` of a state dict: a network's first convolution."""
    return next(v for k, v in state.items() if k.startswith(prefix) and v.dim() == 4).float()


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_archive_val) -> dict:
    """The weight files trials start from: the tiny backbone's (for the modality's channels, as
    a Backbone's own state dict) and the item stage's finder's (naming the train split's classes,
    as the stage's finder does)."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(11)
    backbone = root / "tiny.pt"
    torch.save(build_backbone("tiny", in_channels=modality_channels(MODALITY)).state_dict(), backbone)
    finder = root / "finder.pt"
    archive = Archive(small_archive_val)
    classes = archive.item_classes(archive.ids_in_split("train"))
    torch.save(build_finder(finder_spec(ItemStageConfig(**ITEMS), classes)).state_dict(), finder)
    return {"backbone": str(backbone), "finder": str(finder)}


@pytest.fixture(scope="module", params=list(PIPELINES))
def trained(request, small_archive_val, files, tmp_path_factory) -> tuple[str, str]:
    """(pipeline, model directory): ``dualscan train --out`` of a tiny model of each pipeline."""
    pipeline = request.param
    root = tmp_path_factory.mktemp(f"trained_{pipeline}")
    path = root / "config.yaml"
    path.write_text(json.dumps(config_of(pipeline, small_archive_val, root, files["backbone"],
                                         files["finder"])))
    assert main(["train", "--config", str(path), "--out", str(root / "model")]) == 0
    return pipeline, str(root / "model")


def test_export_model_packs_every_pipeline_and_the_export_scores(trained, small_archive_val, tmp_path):
    pipeline, model = trained
    out = tmp_path / "exported"
    assert main(["export-model", model, str(out), "--half"]) == 0
    exported = ModelDirectory(str(out))
    item_first = PIPELINES.declared(pipeline).item_first
    assert (out / "items" / "model.pt").exists() == item_first
    card = (out / "model_card.md").read_text()
    for name in exported.scoring_files():  # every file scoring reads, listed with its true sha256
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() in card, name
    assert not (out / "optimizer.pt").exists() and not (out / "scores.npz").exists()
    scoring = load_trained_model(str(out), "cpu")
    assert scoring.pipeline == pipeline and scoring.item_first == item_first
    archive = Archive(small_archive_val)
    scan = archive.read(archive.ids_in_split("test")[0])
    image = build_input(scan, scoring.input_modality)
    if scoring.image_size is not None:
        image = resize_square(image, scoring.image_size, labels=False)
    prediction = scoring.predict([image])[0]
    scores = prediction.scores[prediction.scored]
    assert len(scores) > 0 and np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_export_model_refuses_what_scoring_could_not_read(trained, tmp_path, capsys):
    _, model = trained
    lacking = tmp_path / "lacking"
    ModelDirectory(model).copy_to(ModelDirectory(str(lacking)))
    (lacking / "metrics.json").unlink()
    assert main(["export-model", str(lacking), str(tmp_path / "out")]) == 2
    assert "lacks metrics.json" in capsys.readouterr().err


def test_a_weight_file_reaches_the_model_a_trial_builds(trained, files):
    # trained at a learning rate too small to move a weight far, the model keeps the file's first
    # convolution: it was built from the file (a model built without it starts elsewhere)
    pipeline, model = trained
    start = first_conv(torch.load(files["backbone"], weights_only=True), "")
    saved = first_conv(ModelDirectory(model).state_dict(), "backbone.")
    assert saved.shape == start.shape, pipeline
    torch.testing.assert_close(saved, start, atol=1e-3, rtol=0)
    torch.manual_seed(0)
    fresh = first_conv(build_backbone("tiny", in_channels=modality_channels(MODALITY)).state_dict(), "")
    assert (fresh - start).abs().max() > 1e-2  # what a model built without the file would hold


def test_a_weight_file_reaches_the_finder_the_item_stage_trains(trained, files):
    pipeline, model = trained
    if not PIPELINES.declared(pipeline).item_first:
        pytest.skip(f"a {pipeline} model has no item stage")
    start = torch.load(files["finder"], weights_only=True)
    stage = ModelDirectory(model).item_stage_dir.state_dict()
    convs = [k for k, v in start.items() if v.dim() == 4]
    assert len(convs) > 10
    gaps = [float((stage[k].float() - start[k].float()).abs().max()) for k in convs]
    assert max(gaps) < 1e-3, max(gaps)
    torch.manual_seed(0)
    fresh = build_finder(ModelDirectory(model).item_stage_dir.config()["finder"])
    assert max(float((fresh.state_dict()[k] - start[k]).abs().max()) for k in convs) > 1e-2
    assert np.isfinite(ModelDirectory(model).item_stage_dir.metrics()["train_loss_last"])
