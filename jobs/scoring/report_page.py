"""A finished report as one static HTML page beside its images (`dualscan report-html`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.dataset as pads

from jobs.scoring.summary import summarise, summary_png
from models.intervals import format_estimate
from models.metrics import auroc
from models.model_dir import CARD_FILE, METRICS_FILE, ModelDirectory
from pages.html_page import definition_list, esc, image, page, table
from pages.plots import reliability_diagram, roc_curves
from scans.archive import Archive
from scans.errors import ArchiveError
from scans.storage import Location, locate

PAGE = "index.html"
MAX_ERROR_ROWS = 500
GROUP_TITLES = {"top": "Highest-scoring scans",
                "highest_benign": "Worst false alarms: benign scans scoring highest",
                "lowest_anomalous": "Worst misses: anomalous scans scoring lowest"}


def _scans(report: Location) -> pd.DataFrame:
    # one thread: see summary.summarise
    return pads.dataset(report.join("scans"), filesystem=report.fs, format="parquet").to_table(
        columns=["scan_id", "source", "status", "error", "score", "is_anomalous", "n_anomalous_segments"],
        use_threads=False).to_pandas()


def _archive_labels(uri: str | None) -> pd.DataFrame | None:
    """scan_id, split and truth of a labelled archive's manifest; None for folders and unlabelled."""
    if not uri:
        return None
    try:
        manifest = Archive(uri).manifest.select(["scan_id", "split", "is_anomalous"]).to_pandas()
    except (ArchiveError, OSError, ValueError):
        return None
    manifest = manifest.dropna(subset=["is_anomalous"])
    return manifest.rename(columns={"is_anomalous": "truth"}) if len(manifest) else None


def _labelled_section(scans: pd.DataFrame, labels: pd.DataFrame) -> str:
    """Scan AUROC of the report's scores against the archive's labels, per split."""
    ok = scans[scans["status"] == "ok"].merge(labels, on="scan_id")
    rows = []
    for split, part in sorted(ok.groupby(ok["split"].replace("", "(none)")), key=lambda p: p[0]):
        truth = part["truth"].astype(bool).to_numpy()
        flagged = part["is_anomalous"].astype(bool).to_numpy()
        value = auroc(truth, part["score"].to_numpy(float))
        rows.append({"split": split, "scans": len(part), "anomalous": int(truth.sum()),
                     "scan AUROC": float("nan") if value is None else value,
                     "TP%": 100 * flagged[truth].mean() if truth.any() else float("nan"),
                     "FP%": 100 * flagged[~truth].mean() if (~truth).any() else float("nan")})
    note = ('<p class="note">Scan level: a scan scores its highest item; TP% and FP% at the report\'s '
            "threshold. Splits the model was trained or chosen on are not a test.</p>")
    return note + table(pd.DataFrame(rows), 3)


def _evaluation_section(report: Location, evaluation: dict) -> str:
    """The object-level figures `dualscan evaluate --out REPORT_DIR/evaluation.json` wrote."""
    obj, calibration = evaluation["object"], evaluation.get("calibration", "none")
    recall = evaluation.get("item_recall")
    facts = [("split", evaluation["split"]), ("scans", evaluation["n_scans"]),
             ("items judged", len(evaluation.get("labels", []))),
             ("item recall (IoU ≥ 0.5)", "—" if recall is None else f"{100 * recall:.1f} %"),
             ("object AUROC [95 %, scans resampled]", format_estimate(obj["auroc"], 3)),
             ("average precision [95 %]", format_estimate(obj.get("ap", {}), 3)),
             (f"TP% at threshold {evaluation['threshold']:.3f} [95 %, exact]",
              format_estimate(obj["tp_pct"], 1)),
             ("FP% at that threshold", format_estimate(obj["fp_pct"], 1)),
             ("item scores", "raw classifier scores" if calibration == "none" else
              f"{calibration}-calibrated on val: they read as probabilities"),
             ("found items' expected calibration error",
              "—" if (evaluation.get("reliability") or {}).get("ece") is None
              else f"{evaluation['reliability']['ece']:.3f}")]
    kinds = pd.DataFrame([{"kind": k["kind"], "items": k["n_items"],
                           "AUROC [95 %]": format_estimate(k["auroc"], 3),
                           "AP [95 %]": format_estimate(k.get("ap", {}), 3),
                           "TP% [95 %]": format_estimate(k["tp_pct"], 1)}
                          for k in evaluation.get("kinds", [])])
    html = definition_list(facts)
    if len(kinds):
        html += "<h3>Per anomaly kind (its items against every benign item)</h3>" + table(kinds)
    labels, scores = np.asarray(evaluation.get("labels", []), bool), np.asarray(evaluation.get("scores", []))
    if labels.any() and (~labels).any():
        report.write_bytes("evaluation_roc.png", roc_curves(
            [(evaluation["split"], labels, scores, evaluation["threshold"])], "object"))
        html += image("evaluation_roc.png", f"object-level ROC on {evaluation['split']}", 480)
    bins = evaluation.get("reliability")
    if bins and bins.get("ece") is not None:
        what = f"{evaluation['split']}'s found items, {evaluation.get('calibration', 'none')} scores"
        report.write_bytes("evaluation_reliability.png", reliability_diagram(bins, what))
        html += image("evaluation_reliability.png", f"reliability on {what}: ECE {bins['ece']:.3f}", 400)
    return html


def _model_section(success: dict) -> str:
    model = success.get("model", {})
    facts = [(k, f"{model[k]:.3f}" if k == "threshold" and isinstance(model.get(k), float) else model.get(k))
             for k in ("pipeline", "backbone", "modality", "threshold", "sha256", "uri")]
    html = definition_list(facts)
    try:
        directory = ModelDirectory(model["uri"])
        if directory.has(CARD_FILE):
            html += f"<pre>{esc(directory.read(CARD_FILE).decode())}</pre>"
        elif directory.has(METRICS_FILE):
            metrics = directory.metrics()
            shown = {k: v for k, v in metrics.items() if k.startswith(("val_object", "test_object", "chosen",
                                                                      "item_score", "threshold", "step"))}
            html += definition_list(sorted(shown.items()))
    except (KeyError, OSError, ValueError):
        html += '<p class="note">The model directory cannot be read from here.</p>'
    return html


def write_report_page(report_uri: str, top_n: int = 10) -> str:
    """Write REPORT_DIR/index.html (and histogram.png beside it); returns the page's URI."""
    report = locate(report_uri)
    summary = summarise(report, top_n)
    success = summary.success
    report.write_bytes("histogram.png", summary_png(summary))
    scans = _scans(report)
    labels = _archive_labels(success.get("config", {}).get("archive"))
    truth = dict(zip(labels["scan_id"], labels["truth"], strict=True)) if labels is not None else {}
    c, timings = summary.counts, success.get("timings", {})
    sections = [("Counts", definition_list([
        ("files", c["files"]), ("scored", c["ok"]), ("errors", c["error"]),
        ("flagged anomalous", c["anomalous"]),
        ("threshold", "—" if summary.threshold is None else f"{summary.threshold:.3f}"),
        ("wall time", f"{timings.get('wall_s', '—')} s"), ("scans per second", timings.get("scans_per_s")),
        ("archive", success.get("config", {}).get("archive"))]) + "".join(
        f'<p class="bad">warning: {esc(w)}</p>' for w in success.get("warnings", [])))]
    if report.exists("evaluation.json"):
        sections.append(("Detection on labelled items",
                         _evaluation_section(report, json.loads(report.read_bytes("evaluation.json")))))
    if labels is not None:
        sections.append(("Scan scores against the archive's labels", _labelled_section(scans, labels)))
    sections.append(("Score histogram", image("histogram.png", "ok scans per score bin", 640)))
    top = pd.DataFrame(summary.top)
    if len(top):
        top.insert(0, "rank", range(1, len(top) + 1))
        if truth:
            top["truth"] = [("anomalous" if truth[s] else "benign") if s in truth else "—"
                            for s in top["scan_id"]]
        sections.append(("Top scans", table(top.drop(columns=["source"]))))
    if summary.top_items:
        items = pd.DataFrame(summary.top_items)
        items.insert(0, "rank", range(1, len(items) + 1))
        crops = "".join(image(c["file"], f"{c['scan_id']} item {c['item_id']}: score {c['score']:.3f}", 240)
                        for c in success.get("item_crops", []))
        sections.append(("Top flagged items (box in scan pixels, exclusive ends)", table(items) + crops))
    groups = success.get("overlay_groups", {"top": success.get("overlays", [])})
    for group in sorted(groups, key=lambda g: list(GROUP_TITLES).index(g) if g in GROUP_TITLES else 99):
        names = groups[group]
        if names:
            sections.append((GROUP_TITLES.get(group, group), "".join(
                image(f"overlays/{name}", name, 560) for name in names)))
    errors = scans[scans["status"] == "error"][["scan_id", "source", "error"]]
    if len(errors):
        note = (f'<p class="note">first {MAX_ERROR_ROWS} of {len(errors)}</p>'
                if len(errors) > MAX_ERROR_ROWS else "")
        sections.append((f"Errors ({len(errors)})", note + table(errors.head(MAX_ERROR_ROWS))))
    sections.append(("Model", _model_section(success)))
    title = f"DualScan report: {c['ok']} scans scored, {c['anomalous']} flagged"
    report.write_bytes(PAGE, page(title, sections, report.uri).encode())
    return report.uri_of(PAGE)
