"""Figures per item class and for seen against unseen designs, and the item tags scores files keep."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import auroc, binary_metrics
from study.evaluation import LevelScores, design_groups, group_estimates, read_scores_npz, scores_npz


def tagged_scores() -> LevelScores:
    rng = np.random.default_rng(0)
    n = 120
    labels = rng.random(n) < 0.5
    classes = np.where(np.arange(n) % 3 == 0, "kettle", "laptop")
    # laptops separate well, kettles do not: a pooled figure would hide it
    separable = labels * 0.6 + rng.random(n) * 0.4
    scores = np.where(classes == "laptop", separable, rng.random(n)).astype(np.float32)
    kinds = np.where(labels, np.where(np.arange(n) % 2 == 0, "blade", "metal_plate"), "")
    models = np.array([f"{c}-{i % 7:03d}" for i, c in enumerate(classes)])
    levels = LevelScores()
    levels.add("object", labels, scores, kinds, np.arange(n) // 2, classes=classes, models=models)
    return levels


def test_each_class_is_judged_on_its_own_items_at_the_threshold():
    levels = tagged_scores()
    labels, scores = levels.arrays("object")
    classes = levels.object_classes()
    groups = {g.group: g for g in group_estimates(levels, 0.5, classes, with_kinds=True)}
    assert set(groups) == {"kettle", "laptop"}
    for name, group in groups.items():
        chosen = classes == name
        assert group.n_items == chosen.sum() and group.n_anomalous == labels[chosen].sum()
        assert group.auroc.value == pytest.approx(auroc(labels[chosen], scores[chosen]))
        expected = binary_metrics(labels[chosen], scores[chosen], 0.5)
        assert group.fp_pct.value == pytest.approx(expected.fp_pct)
        assert group.fp_pct.interval.low <= group.fp_pct.value <= group.fp_pct.interval.high
        assert {k.kind for k in group.kinds} == {"blade", "metal_plate"}  # each kind within the class
        assert sum(k.n_items for k in group.kinds) == group.n_anomalous
    assert groups["laptop"].auroc.value > 0.9 > 0.7 > groups["kettle"].auroc.value


def test_designs_are_seen_or_unseen_by_the_training_splits_models():
    models = np.array(["laptop-003", "laptop-004", "kettle-003", ""])
    assert design_groups(models, {"laptop": [3], "kettle": []}).tolist() == ["seen", "unseen", "unseen", ""]
    assert design_groups(models, None).tolist() == ["", "", "", ""]  # the model records none: no figure


def test_scores_files_keep_each_items_class_and_model_and_old_files_read_without():
    levels = tagged_scores()
    back = read_scores_npz(scores_npz({"test": levels}))["test"]
    assert (back.object_classes() == levels.object_classes()).all()
    assert (back.object_models() == levels.object_models()).all()
    flat = {k: v for k, v in levels.flat("test/").items() if not k.endswith(("/classes", "/models"))}
    old = LevelScores.from_flat(flat, "test/")  # written before classes and models were kept
    assert set(old.object_classes().tolist()) == set(old.object_models().tolist()) == {""}
    assert old.object_models().size == old.arrays("object")[0].size
