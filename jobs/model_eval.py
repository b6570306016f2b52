"""A trained item-first model judged on a labelled archive split, end to end as the study judges it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from jobs.scoring.model import load_scoring_model
from models.items.matching import match_items
from scans.archive import Archive
from scans.modalities import build_input, modality_channels
from study.evaluation import Estimate, kind_estimates, level_estimates
from study.item_data import ItemSetBuilder
from study.item_eval import level_scores
from study.pipelines import PIPELINES


@dataclass
class ModelEvaluation:
    """Object-level figures of one model on one split at the model's own threshold: every true item
    (a missed one scores 0) and every found item that matches none (a benign one); intervals are
    95 % bootstrap over items."""

    archive: str
    split: str
    model: str
    model_sha256: str
    threshold: float
    item_score: str
    n_scans: int
    n_true_items: int
    n_found_items: int
    item_recall: float | None  # true items matched by a found one at IoU ≥ 0.5
    object: dict[str, dict]  # metric -> {"value", "low", "high"}
    kinds: list[dict]  # per anomaly kind: {"kind", "n_items", "auroc": {...}, "tp_pct": {...}}
    scan_auroc: float | None
    seconds: float
    labels: list[bool]  # each judged item's truth and score, for ROC plots
    scores: list[float]

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    def line(self) -> str:
        """One line: object AUROC with its interval, TP% and FP% at the threshold, item recall."""
        auroc, tp, fp = (self.object[k] for k in ("auroc", "tp_pct", "fp_pct"))
        recall = "—" if self.item_recall is None else f"{100 * self.item_recall:.1f} %"
        return (f"{self.split}: object AUROC {_fmt(auroc, 3)} over {len(self.labels)} items of "
                f"{self.n_scans} scans; at threshold {self.threshold:.3f} TP {_fmt(tp, 1)} %, "
                f"FP {_fmt(fp, 1)} %; items found {recall}")


def _fmt(estimate: dict, digits: int) -> str:
    if estimate.get("value") is None:
        return "—"
    text = f"{estimate['value']:.{digits}f}"
    if estimate.get("low") is not None and estimate.get("high") is not None:
        text += f" [{estimate['low']:.{digits}f}, {estimate['high']:.{digits}f}]"
    return text


def _plain(estimate: Estimate) -> dict:
    return {"value": estimate.value, "low": estimate.interval.low, "high": estimate.interval.high}


@torch.no_grad()
def evaluate_model(model_uri: str, archive_uri: str, split: str = "test",
                   device: torch.device | str | None = None) -> ModelEvaluation:
    """Find the items of every scan of ``split`` with the model's item stage, score each found item
    as a scoring job does, and judge them against the archive's labels."""
    start = time.perf_counter()
    scoring = load_scoring_model(model_uri, device)
    if not scoring.item_first:
        raise ValueError(f"{model_uri}: a {scoring.pipeline} model scores whole scans; evaluation on found "
                         "items needs an item-first model (subcomponent or object)")
    archive = Archive(archive_uri)
    ids = archive.ids_in_split(split)
    if not ids:
        raise ValueError(f"{archive.root.uri}: no scans in split {split!r}")
    builder, n_true, n_matched, n_found = ItemSetBuilder(), 0, 0, 0
    finder_device = next(scoring.finder.parameters()).device
    for scan_id in ids:
        scan = archive.read(scan_id)
        if not scan.has_labels:
            raise ValueError(f"{archive.file_uri(scan_id)}: evaluation needs labels (objects, anomaly)")
        finder_input = torch.from_numpy(build_input(scan, scoring.finder_modality))[None].to(finder_device)
        masks = scoring.finder.find(finder_input)[0].masks()
        match = match_items(masks, scan.objects, scan.n_objects)
        n_true, n_matched, n_found = n_true + scan.n_objects, n_matched + int(match.found_truth.sum()), \
            n_found + len(masks)
        builder.add_scan(scan, build_input(scan, scoring.modality), masks)
    items = builder.build(modality_channels(scoring.modality))
    scores = PIPELINES[scoring.pipeline].score(scoring.model, items, scoring.device)
    rule = scoring.item_score if scoring.item_score in scores.by_rule else next(iter(scores.by_rule))
    levels = level_scores(items, scores, rule)
    labels, values = levels.arrays("object")
    scan_auroc = level_estimates(levels, scoring.threshold, "scan")["auroc"].value
    return ModelEvaluation(
        archive.root.uri, split, scoring.uri, scoring.sha256, float(scoring.threshold), rule, len(ids),
        n_true, n_found, n_matched / n_true if n_true else None,
        {name: _plain(e) for name, e in level_estimates(levels, scoring.threshold, "object").items()},
        [{"kind": k.kind, "n_items": k.n_items, "auroc": _plain(k.auroc), "tp_pct": _plain(k.tp_pct)}
         for k in kind_estimates(levels, scoring.threshold)],
        scan_auroc, round(time.perf_counter() - start, 3),
        [bool(v) for v in labels], [float(v) for v in np.asarray(values, np.float64)])
