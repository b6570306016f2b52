"""Results in the paper's layout: Data × Network rows per pipeline, A/P/F1/TP%/FP%/AUROC columns."""

from __future__ import annotations

import io
import math

import pandas as pd

from study.config import LEVELS
from study.results import TrialRecord, TrialStatus

COLUMNS = {"accuracy": "A", "precision": "P", "f1": "F1", "tp_pct": "TP%", "fp_pct": "FP%", "auroc": "AUROC"}
LOWER_IS_BETTER = {"FP%"}
POINT_FIELDS = ("pipeline", "modality", "backbone", "k", "lam", "ssn_feature", "mode", "optimizer", "lr",
                "batch_size")


def trials_frame(trials: list[TrialRecord], mode: str) -> pd.DataFrame:
    """One row per trial: its point and the metrics of its best epoch."""
    rows = []
    for trial in trials:
        best = trial.best_epoch(mode)
        row = {"trial": trial.directory, **{f: trial.point.get(f) for f in POINT_FIELDS},
               "epochs_run": len(trial.epochs), "best_epoch": best["epoch"], "objective": best["objective"],
               "threshold": best["threshold"]}
        row.update({f"{level}_{m}": best.get(f"{level}_{m}") for level in LEVELS for m in COLUMNS})
        rows.append(row)
    return pd.DataFrame(rows, columns=["trial", *POINT_FIELDS, "epochs_run", "best_epoch", "objective",
                                       "threshold", *(f"{lv}_{m}" for lv in LEVELS for m in COLUMNS)])


def errors_frame(statuses: list[TrialStatus]) -> pd.DataFrame:
    """One row per errored trial: its point and the last line of its error."""
    rows = [{"trial": s.directory, **{f: s.point.get(f) for f in POINT_FIELDS}, "error": s.error}
            for s in statuses if s.status == "ERROR"]
    return pd.DataFrame(rows, columns=["trial", *POINT_FIELDS, "error"])


def paper_table(frame: pd.DataFrame, level: str, mode: str) -> pd.DataFrame:
    """Rows pipeline × modality × backbone (the best trial of each by objective), columns A … AUROC;
    A, P, F1 and AUROC as fractions, TP% and FP% in percent; undefined values null."""
    if frame.empty:
        return pd.DataFrame(columns=["pipeline", "modality", "backbone", "trial", *COLUMNS.values()])
    ranked = frame.sort_values("objective", ascending=(mode == "min"), kind="stable")
    best = ranked.groupby(["pipeline", "modality", "backbone"], sort=True, as_index=False).head(1)
    table = best[["pipeline", "modality", "backbone", "trial"]].copy()
    for metric, title in COLUMNS.items():
        table[title] = best[f"{level}_{metric}"].astype("float64").where(lambda s: ~s.isna(), None)
    return table.sort_values(["pipeline", "modality", "backbone"]).reset_index(drop=True)


def _cell(value, title: str, best: bool) -> str:
    """Percentages with one decimal, fractions with three; undefined as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.1f}" if title.endswith("%") else f"{value:.3f}"
    return f"**{text}**" if best else text


def markdown(tables: dict[str, pd.DataFrame]) -> str:
    """Every level's table per pipeline, best value per column in bold (lowest for FP%)."""
    out = []
    for level, table in tables.items():
        for pipeline, part in table.groupby("pipeline", sort=True):
            out.append(f"### {pipeline}: {level} level\n")
            out.append("| Data | Network | " + " | ".join(COLUMNS.values()) + " |")
            out.append("|---|---|" + "---|" * len(COLUMNS))
            best = {}
            for title in COLUMNS.values():
                values = pd.to_numeric(part[title], errors="coerce").dropna()
                pick = values.min if title in LOWER_IS_BETTER else values.max
                best[title] = pick() if len(values) else None
            for _, row in part.iterrows():
                cells = [_cell(row[t], t, best[t] is not None and row[t] == best[t])
                         for t in COLUMNS.values()]
                out.append(f"| {row['modality']} | {row['backbone']} | " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, na_rep="").encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
