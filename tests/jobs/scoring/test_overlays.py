"""Overlays as the paper's figures: truth outlined only where labels exist, items boxed, flagged
superpixels filled red, the model's own input beside the pseudo-colour panel."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.scoring.batches import Scorer
from jobs.scoring.inputs import list_inputs
from jobs.scoring.overlays import overlay_image, predict_for_overlay
from jobs.scoring.schema import staged_name
from models.predictions import ScanPrediction, prediction_of
from models.subcomponent.figure import ANOMALOUS_RGB, BENIGN_RGB, ITEM_RGB, TRUTH_RGB, render_figure
from models.trained import load_trained_model
from scans.archive import Archive
from scans.exports import ExportSettings
from scans.npz import encode_npz


def _count(image: np.ndarray, colour) -> int:
    return int(np.all(image == np.array(colour, np.uint8), axis=-1).sum())


def test_render_figure_fills_flagged_outlines_items_and_truth():
    labels = np.zeros((40, 40), np.int64)
    labels[:, 20:] = 1
    labels[20:, :20] = 2
    truth = np.zeros((40, 40), np.uint8)
    truth[25:35, 25:35] = 1
    grey = np.full((40, 40), 0.5, np.float32)
    scored, anomalous = np.array([False, True, True]), np.array([False, True, False])
    image = render_figure(grey, labels, scored, anomalous, np.array([[2, 2, 38, 38]]), truth)
    assert _count(image, ANOMALOUS_RGB) > 0 and _count(image, BENIGN_RGB) > 0
    assert _count(image, ITEM_RGB) > 0 and _count(image, TRUTH_RGB) > 0
    inside = image[5, 30]  # segment 1, flagged: grey blended with red
    assert inside[0] > inside[1] and inside[0] > 128 > inside[1]
    assert (image[5, 5] == 127).all() or (image[5, 5] == 128).all()  # segment 0: not scored, untouched
    without = render_figure(grey, labels, scored, anomalous)
    assert _count(without, TRUTH_RGB) == 0 and _count(without, ITEM_RGB) == 0


def test_the_truth_outline_is_drawn_when_labels_exist_and_not_otherwise(small_archive, hlz_model_dir,
                                                                       tmp_path):
    model = load_trained_model(hlz_model_dir, "cpu")
    archive = Archive(small_archive)
    scan_id = next(i for i in archive.scan_ids if archive.read(i).anomaly.any())
    root, inputs = list_inputs(small_archive)
    labelled = overlay_image(model, root, next(i for i in inputs if i.scan_id == scan_id))
    assert _count(labelled, TRUTH_RGB) > 0
    scan = archive.read(scan_id)
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    (folder / f"{scan_id}.npz").write_bytes(encode_npz({"high": scan.high, "low": scan.low}))
    root, inputs = list_inputs(str(folder))
    unlabelled = overlay_image(model, root, inputs[0], settings=ExportSettings(zeff_calibration="simulator"))
    assert _count(unlabelled, TRUTH_RGB) == 0  # neither the outline nor its legend swatch
    # hlz is not pseudo-colour: a second panel shows the model's own input
    assert unlabelled.shape == labelled.shape and unlabelled.shape[1] > 1.5 * unlabelled.shape[0]


def test_an_item_crop_holds_its_box_outlined_with_a_margin_and_refuses_a_box_outside_the_scan():
    from jobs.scoring.item_crops import MIN_CROP_PX, crop_name, item_crop

    pseudo = np.full((100, 120, 3), 200, np.uint8)
    pseudo[40:50, 60:80] = (0, 0, 255)  # the item, blue
    crop = item_crop(pseudo, (60, 40, 80, 50))
    assert max(crop.shape[:2]) >= MIN_CROP_PX
    factor = crop.shape[1] // 30  # the box and its margin of 5 px each side, enlarged
    red = np.all(crop == np.array(ANOMALOUS_RGB, np.uint8), axis=-1)
    blue = np.all(crop == np.array((0, 0, 255), np.uint8), axis=-1)
    assert blue.sum() == 20 * 10 * factor ** 2  # the outline covers none of the item
    (red_rows, red_cols), (blue_rows, blue_cols) = np.nonzero(red), np.nonzero(blue)
    assert red_rows.min() < blue_rows.min() and red_rows.max() > blue_rows.max()
    assert red_cols.min() < blue_cols.min() and red_cols.max() > blue_cols.max()
    assert (crop[0, 0] == 200).all()  # the margin shows the scan around it
    edge = item_crop(pseudo, (0, 0, 10, 10))  # at the scan's corner the margin is cut, not padded
    assert edge.shape[0] == edge.shape[1]
    with pytest.raises(ValueError, match="does not lie in a 100×120 scan"):
        item_crop(pseudo, (110, 0, 130, 10))
    assert crop_name(2, "a/b c", 3) == "0002_a_b_c_item3.png"


def _prediction(case: str) -> ScanPrediction:
    """A hand-made prediction of a 16×16 model input, four segments (0 unscored): whole-scan (no
    flags of its own), or item-first with flags and a scan score that the segments do not show."""
    labels = np.repeat(np.arange(4), 64).reshape(16, 16)
    scores, scored = np.array([0.9, 0.2, 0.7, 0.4], np.float32), np.array([False, True, True, True])
    if case == "whole_scan":
        return prediction_of(labels, scores, scored)
    # item-first: an item scored 0.8 flagged, none of its segments strong (the finder's item
    # without segments of its own), or flags where the scan's score lies below the threshold
    flagged = np.zeros(4, bool) if case == "item_without_segments" else np.array([True, False, True, False])
    scan_score = 0.8 if case == "item_without_segments" else 0.3
    return prediction_of(labels, scores, scored, flagged, scan_score)


@pytest.mark.parametrize("case", ["whole_scan", "item_without_segments", "flags_below_threshold"])
def test_the_report_row_and_the_overlay_apply_one_flag_rule(model_dir, small_archive, case,
                                                             monkeypatch):
    scorer = Scorer(model_dir)
    scorer.model.predict = lambda images: [_prediction(case) for _ in images]
    scan = Archive(small_archive).read(Archive(small_archive).scan_ids[0])
    figure = predict_for_overlay(scorer.model, scan)
    image = np.zeros((1, 3, 64, 64), np.float32)
    batch = {"scan_id": np.array(["a"], dtype=object), "source": np.array(["a"], dtype=object),
             "image": image, "height": np.array([16]), "width": np.array([16]),
             "error": np.array([""], dtype=object), "decode_ms": np.zeros(1, np.float32)}
    row = scorer(batch).to_pylist()[0]
    assert row["is_anomalous"] == figure.verdict.is_anomalous
    assert row["score"] == pytest.approx(figure.verdict.score)
    segments = dict(zip(row[staged_name("segment_id")], row[staged_name("is_anomalous")], strict=True))
    assert segments == {i: bool(figure.verdict.flagged[i]) for i in np.flatnonzero(figure.pred.scored)}
    assert not figure.verdict.flagged[0]  # an unscored segment is never flagged
    # what the overlay draws and says: the flags it paints red and the verdict in its title
    drawn: dict = {}

    def paint(background, labels, scored, flagged, *rest):
        drawn["flags"] = np.asarray(flagged, bool)
        return background

    def titled(panels, title, verdict, has_truth):
        drawn.update(title=title, verdict=verdict)

    monkeypatch.setattr("jobs.scoring.overlays.render_figure", paint)
    monkeypatch.setattr("jobs.scoring.overlays.compose", titled)
    root, inputs = list_inputs(small_archive)
    overlay_image(scorer.model, root, next(i for i in inputs if i.scan_id == scan.scan_id))
    assert drawn["verdict"] == row["is_anomalous"] and ("ANOMALY" in drawn["title"]) == row["is_anomalous"]
    assert f"score {row['score']:.3f}" in drawn["title"]
    assert set(np.flatnonzero(drawn["flags"])) == {i for i, flag in segments.items() if flag}
