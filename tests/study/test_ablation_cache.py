"""The detector ablation keeps each variant's val scores and reads them back under the same protocol."""

import argparse
import json

import numpy as np

from benchmarks.detector_ablation import VARIANTS, kept_results, kept_scores, protocol_of, scores_path, table
from study.config import load_config


def _args(tmp_path, steps=1000):
    config = tmp_path / "quality.yaml"
    if not config.exists():
        config.write_text("name: quality\n")
    return argparse.Namespace(config=str(config), steps=steps, eval_every=250, val_scans=150,
                              archive=str(tmp_path / "archive"))


def _keep(out, results):
    (out / "ablation.json").write_text(json.dumps(results))
    for name in results:
        np.savez(scores_path(str(out), name), labels=np.array([0, 1, 1]), scores=np.array([0.1, 0.7, 0.4]))


def test_variants_of_the_same_protocol_are_kept_with_their_scores(tmp_path):
    protocol = protocol_of(_args(tmp_path), "stage")
    masked = {"recipe.item_input": "masked", "recipe.steps": 1000, "recipe.eval_every": 250}
    _keep(tmp_path, {"detector": {"protocol": protocol},
                     "masked": {"protocol": protocol, "overrides": masked},
                     "overview": {"protocol": protocol, "overrides": {"recipe.overview": False}}})
    # overview: not kept, the variant changed something else then than it changes now
    assert set(kept_results(str(tmp_path), protocol)) == {"detector", "masked"}
    labels, scores, scans = kept_scores(str(tmp_path), "detector")
    assert labels.tolist() == [0, 1, 1] and scores.tolist() == [0.1, 0.7, 0.4]
    assert scans is None  # kept before scans were: paired differences resample items alone


def test_another_budget_config_or_a_missing_reference_keeps_nothing(tmp_path):
    protocol = protocol_of(_args(tmp_path), "stage")
    _keep(tmp_path, {"detector": {"protocol": protocol}, "masked": {"protocol": protocol}})
    assert kept_results(str(tmp_path), protocol_of(_args(tmp_path, steps=3000), "stage")) == {}
    (tmp_path / "quality.yaml").write_text("name: quality\nrecipe: {steps: 5}\n")
    assert kept_results(str(tmp_path), protocol_of(_args(tmp_path), "stage")) == {}
    # every difference is paired against the detector: without its scores nothing is kept
    (tmp_path / "scores-detector.npz").unlink()
    assert kept_results(str(tmp_path), protocol) == {}


def test_variants_without_their_scores_or_from_older_runs_are_not_kept(tmp_path):
    protocol = protocol_of(_args(tmp_path), "stage")
    _keep(tmp_path, {"detector": {"protocol": protocol}, "masked": {}})
    (tmp_path / "ablation.json").write_text(json.dumps(
        {"detector": {"protocol": protocol}, "masked": {}, "no_small": {"protocol": protocol}}))
    kept = kept_results(str(tmp_path), protocol)
    assert set(kept) == {"detector"}  # masked: no protocol; no_small: no scores on disk


def test_the_table_gives_each_variants_last_segment_auroc_where_kept():
    row = {"section": "—", "what": "w", "val_auroc": 0.6, "interval": (0.5, 0.7), "rule": "max",
           "curve": [0.55, 0.6], "train_seconds": 10.0}
    results = {"detector": {**row, "segment_curve": [0.7, 0.81]},
               "masked": {**row, "difference": [0.01, -0.02, 0.04]}}  # kept before segment curves were
    lines = table(results, argparse.Namespace(steps=2, eval_every=1)).splitlines()
    assert lines[2].split(" | ")[-2] == "0.810" and lines[3].split(" | ")[-2] == "—"


def test_every_variant_is_quality_yaml_with_one_change_that_acts():
    shipped = load_config("study/configs/quality.yaml")
    for name, (_, _, overrides) in VARIANTS.items():
        config = load_config("study/configs/quality.yaml", overrides)  # a knob that cannot act is refused
        changed = {key for key in overrides if _value_at(config, key) != _value_at(shipped, key)}
        assert changed or name == "detector", f"{name} changes nothing"


def _value_at(config, key: str):
    """The value at a dotted ``key`` of a config."""
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value
