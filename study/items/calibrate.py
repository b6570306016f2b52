"""An item-first model's item scores calibrated after training: the map fitted on a labelled val
split's found items (as training fits it), written into the model directory with the threshold
carried through it, so that every decision stays as it was."""

from __future__ import annotations

import numpy as np

from models.calibration import ScoreCalibration, choose_calibration
from models.model_dir import CARD_FILE, METRICS_FILE, ModelDirectory
from models.trained import load_trained_model
from scans.archive import Archive
from study.items.judge import judge_split
from study.model_card import CARD_JSON, card_of, write_card

REBUILD_OPEN = "Rebuild:\n\n```\n"  # the card's rebuild block, kept when the card is rewritten


def calibrate_model(model_uri: str, archive_uri: str, split: str = "val", seed: int = 0,
                    device: str | None = None) -> tuple[ScoreCalibration | None, float, float]:
    """Fit the calibration on ``split`` (a split the model was chosen on, never test) from its raw
    scores and write it, the threshold mapped through it, into metrics.json (and the model card when
    there is one); returns (the calibration, the raw threshold, the new threshold). A model already
    calibrated is refitted from its raw scores."""
    if split == "test":
        raise ValueError("--split test: the calibration is a choice, and test only reports; fit it on val")
    trained = load_trained_model(model_uri, device)
    if not trained.item_first:
        raise ValueError(f"{model_uri}: a {trained.pipeline} model scores whole scans; item scores to "
                         "calibrate come from item-first models (subcomponent, object)")
    raw_threshold = trained.raw_threshold
    trained.calibration, trained.threshold = None, raw_threshold
    archive = Archive(archive_uri)
    ids = archive.ids_in_split(split)
    if not ids:
        raise ValueError(f"{archive.root.uri}: no scans in split {split!r}")
    judged = judge_split(trained, archive, ids)
    labels, scores = judged.levels.arrays("object")
    found = judged.n_found_judged
    calibration = choose_calibration(scores[:found], labels[:found], split, seed)
    directory = ModelDirectory(model_uri)
    metrics = directory.metrics()
    metrics.pop("calibration", None)
    threshold = raw_threshold
    if calibration is not None:
        threshold = float(calibration.apply(np.array([raw_threshold]))[0])
        metrics["calibration"] = calibration.as_dict()
    metrics.update(threshold=threshold, threshold_raw=raw_threshold)
    directory.write_json(METRICS_FILE, metrics)
    if directory.has(CARD_JSON) or directory.has(CARD_FILE):
        # made again from the directory (as the card's code now writes it); the checkpoint it came
        # from and the test figures of its scores, which the directory does not keep, carried over
        old = directory.read_json(CARD_JSON) if directory.has(CARD_JSON) else {}
        card = card_of(directory, old.get("source_checkpoint"))
        card.update(test=old.get("test") or {}, kinds=old.get("kinds") or [])
        text = directory.read(CARD_FILE).decode() if directory.has(CARD_FILE) else ""
        rebuild = text.split(REBUILD_OPEN, 1)[1].split("\n```", 1)[0] if REBUILD_OPEN in text else ""
        write_card(directory, card, rebuild, half="Weights are stored as float16" in text)
    return calibration, raw_threshold, threshold
