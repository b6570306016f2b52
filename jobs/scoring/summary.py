"""A report at a glance: counts, the score histogram, the top anomalous scans and (report v2) the
top flagged items, as text and a PNG."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow.dataset as pads
from matplotlib.figure import Figure

from jobs.scoring.report import SUCCESS
from pages.plots import png_of
from scans.storage import Location

BINS = 10
BAR_WIDTH = 40
ITEM_COLUMNS = ["scan_id", "item_id", "score", "detection_score", "x0", "y0", "x1", "y1", "is_anomalous"]


@dataclass
class ReportSummary:
    """What `dualscan report-summary` shows."""

    counts: dict
    threshold: float | None
    histogram: np.ndarray  # (BINS,) ok scans per score bin over [0, 1]
    top: list[dict]  # scan_id, score, n_anomalous_segments, source; best first
    errors: list[dict]  # scan_id, error (the first few)
    success: dict
    top_items: list[dict] | None = None  # report v2: the highest-scoring flagged items; None for v1


def summarise(report: Location, top_n: int = 10) -> ReportSummary:
    """Read a finished report's scans table (a few columns) and _SUCCESS."""
    if not report.exists(SUCCESS):
        raise FileNotFoundError(f"{report.uri_of(SUCCESS)} does not exist: not a finished DualScan report")
    success = json.loads(report.read_bytes(SUCCESS))
    # one thread: Arrow's pool threads still alive at interpreter exit abort it now and then
    # (apache/arrow#34314), and this command exits right after
    table = pads.dataset(report.join("scans"), filesystem=report.fs, format="parquet").to_table(
        columns=["scan_id", "source", "status", "error", "score", "is_anomalous", "n_anomalous_segments",
                 "threshold"], use_threads=False)
    frame = table.to_pandas()
    ok = frame[frame["status"] == "ok"]
    histogram, _ = np.histogram(ok["score"].to_numpy(dtype=float), bins=BINS, range=(0.0, 1.0))
    counts = {"files": len(frame), "ok": len(ok), "error": int((frame["status"] == "error").sum()),
              "anomalous": int(ok["is_anomalous"].sum())}
    top = ok.sort_values("score", ascending=False).head(top_n)
    errors = frame[frame["status"] == "error"].head(top_n)
    threshold = float(ok["threshold"].iloc[0]) if len(ok) else None
    return ReportSummary(counts, threshold, histogram,
                         top[["scan_id", "score", "n_anomalous_segments", "source"]].to_dict("records"),
                         errors[["scan_id", "error"]].to_dict("records"), success, _top_items(report, top_n))


def _top_items(report: Location, top_n: int) -> list[dict] | None:
    """The ``top_n`` highest-scoring flagged items of a v2 report (None for a v1 report: no items)."""
    if not report.exists("items"):
        return None
    items = pads.dataset(report.join("items"), filesystem=report.fs, format="parquet").to_table(
        columns=ITEM_COLUMNS, filter=pads.field("is_anomalous"), use_threads=False).to_pandas()
    top = items.sort_values("score", ascending=False).head(top_n)
    return top.drop(columns="is_anomalous").to_dict("records")


def summary_text(summary: ReportSummary) -> str:
    """The terminal summary: counts, a text histogram, the top scans and the first errors."""
    c = summary.counts
    lines = [f"{c['files']} files: {c['ok']} ok, {c['error']} error, {c['anomalous']} anomalous"
             + (f" (threshold {summary.threshold:.3f})" if summary.threshold is not None else ""), "",
             "score histogram (ok scans):"]
    peak = max(int(summary.histogram.max()), 1)
    for i, count in enumerate(summary.histogram):
        bar = "#" * round(BAR_WIDTH * count / peak)
        lines.append(f"  {i / BINS:.1f}–{(i + 1) / BINS:.1f} {count:>7} {bar}")
    if summary.top:
        lines += ["", "top scans:"]
        lines += [f"  {row['score']:.3f}  {row['scan_id']}  ({row['n_anomalous_segments']} anomalous "
                  f"segments)" for row in summary.top]
    if summary.top_items:
        lines += ["", "top flagged items:"]
        lines += [f"  {row['score']:.3f}  {row['scan_id']} item {row['item_id']}  at x {row['x0']}–"
                  f"{row['x1']}, y {row['y0']}–{row['y1']} (found with confidence "
                  f"{row['detection_score']:.3f})" for row in summary.top_items]
    if summary.errors:
        lines += ["", "errors (first few):"]
        lines += [f"  {row['error']}" for row in summary.errors]
    return "\n".join(lines)


def summary_png(summary: ReportSummary) -> bytes:
    """A bar chart of the ok scans' score histogram with the threshold marked."""
    figure = Figure(figsize=(5.5, 3.2))
    axis = figure.subplots()
    edges = np.linspace(0.0, 1.0, BINS + 1)
    axis.bar(edges[:-1], summary.histogram, width=1.0 / BINS, align="edge", color="#4a78a8",
             edgecolor="white")
    if summary.threshold is not None:
        axis.axvline(summary.threshold, color="#c0392b", linestyle="--",
                     label=f"threshold {summary.threshold:.3f}")
        axis.legend(fontsize=8)
    c = summary.counts
    axis.set_title(f"{c['ok']} ok scans, {c['anomalous']} anomalous, {c['error']} errors", fontsize=10)
    axis.set_xlabel("scan score (max anomaly probability)")
    axis.set_ylabel("scans")
    return png_of(figure)
