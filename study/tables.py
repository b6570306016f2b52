"""Results in the paper's layout: test metrics at the val-chosen epoch and threshold, with intervals."""

from __future__ import annotations

import io
import math

import pandas as pd

from models.metrics import LEVELS
from study.evaluation import Estimate, class_and_design_estimates, kind_estimates, level_estimates
from study.results import ChosenEpoch, TrialStatus

COLUMNS = {"accuracy": "A", "precision": "P", "f1": "F1", "tp_pct": "TP%", "fp_pct": "FP%", "auroc": "AUROC",
           "ap": "AP"}
LOWER_IS_BETTER = {"FP%"}
POINT_FIELDS = ("pipeline", "modality", "backbone", "k", "lam", "ssn_feature", "mode", "optimizer", "lr",
                "batch_size")
# the recipe each trial ran, beside its point (config.json's training_run; empty when not recorded)
RUN_FIELDS = ("schedule", "momentum", "weight_decay", "weights", "weights_sha256")
# per item class ("class") and seen against unseen designs ("design"); kind "" is the group's every item
GROUP_FIGURES = ("AUROC", "AP", "TP%", "FP%")
GROUP_COLUMNS = ("pipeline", "modality", "backbone", "trial", "grouping", "group", "kind", "items",
                 "anomalous", *(f"{t}{s}" for t in GROUP_FIGURES for s in ("", "_lo", "_hi")))
KIND_COLUMNS = ("pipeline", "modality", "backbone", "trial", "kind", "items", "AUROC", "AUROC_lo",
                "AUROC_hi", "TP%", "TP%_lo", "TP%_hi", "AP", "AP_lo", "AP_hi")


def _estimates(chosen: ChosenEpoch, level: str) -> dict[str, Estimate] | None:
    if chosen.scores is None or "test" not in chosen.scores:
        return None
    return level_estimates(chosen.scores["test"], float(chosen.metrics["threshold"]), level)


def trials_frame(chosen: list[ChosenEpoch]) -> pd.DataFrame:
    """One row per trial: its point and the recipe it ran, the epoch val chose, the val objective
    that chose it and the test metrics at its val-chosen threshold, each with a 95 % interval
    (``*_lo``, ``*_hi``: exact binomial for rates, a bootstrap over scans for the rest; null for a
    checkpoint without scores)."""
    rows = []
    for c in chosen:
        row = {"trial": c.trial.directory, **{f: c.trial.point.get(f) for f in POINT_FIELDS},
               **{f: (c.training_run or {}).get(f) for f in RUN_FIELDS},
               "epochs_run": len(c.trial.epochs), "best_epoch": c.metrics["epoch"],
               "objective": c.metrics["objective"], "threshold": c.metrics["threshold"]}
        for level in LEVELS:
            estimates = _estimates(c, level)
            for metric in COLUMNS:
                key = f"{level}_{metric}"
                if estimates is None:
                    row[key], row[f"{key}_lo"], row[f"{key}_hi"] = c.metrics.get(f"test_{key}"), None, None
                else:
                    e = estimates[metric]
                    row[key], row[f"{key}_lo"], row[f"{key}_hi"] = e.value, e.interval.low, e.interval.high
        rows.append(row)
    metric_columns = [f"{lv}_{m}{s}" for lv in LEVELS for m in COLUMNS for s in ("", "_lo", "_hi")]
    return pd.DataFrame(rows, columns=["trial", *POINT_FIELDS, *RUN_FIELDS, "epochs_run", "best_epoch",
                                       "objective", "threshold", *metric_columns])


def errors_frame(statuses: list[TrialStatus]) -> pd.DataFrame:
    """One row per errored trial: its point and the last line of its error."""
    rows = [{"trial": s.directory, **{f: s.point.get(f) for f in POINT_FIELDS}, "error": s.error}
            for s in statuses if s.status == "ERROR"]
    return pd.DataFrame(rows, columns=["trial", *POINT_FIELDS, "error"])


def _nullable(series: pd.Series) -> pd.Series:
    return series.astype("float64").where(lambda s: ~s.isna(), None)


def best_rows(frame: pd.DataFrame, mode: str, by: tuple[str, ...]) -> pd.DataFrame:
    """The trial with the best val objective in each group of ``by``."""
    ranked = frame.sort_values("objective", ascending=(mode == "min"), kind="stable")
    return ranked.groupby(list(by), sort=True, as_index=False).head(1)


def paper_table(frame: pd.DataFrame, level: str, mode: str) -> pd.DataFrame:
    """Rows pipeline × modality × backbone (the trial val ranks best in each), ``val_objective``,
    then test A … AP with ``_lo``/``_hi`` bounds; A, P, F1, AUROC and AP as fractions, TP% and FP%
    in percent; undefined values null."""
    titles = [f"{t}{s}" for t in COLUMNS.values() for s in ("", "_lo", "_hi")]
    if frame.empty:
        return pd.DataFrame(columns=["pipeline", "modality", "backbone", "trial", "val_objective", *titles])
    best = best_rows(frame, mode, ("pipeline", "modality", "backbone"))
    table = best[["pipeline", "modality", "backbone", "trial"]].copy()
    table["val_objective"] = best["objective"].astype("float64")
    for metric, title in COLUMNS.items():
        for suffix in ("", "_lo", "_hi"):
            table[f"{title}{suffix}"] = _nullable(best[f"{level}_{metric}{suffix}"])
    return table.sort_values(["pipeline", "modality", "backbone"]).reset_index(drop=True)


def _figure_cells(figures: dict[str, Estimate | None]) -> dict:
    out = {}
    for title, e in figures.items():
        out[title], out[f"{title}_lo"], out[f"{title}_hi"] = ((None, None, None) if e is None else
                                                              (e.value, e.interval.low, e.interval.high))
    return out


def best_scored(chosen: list[ChosenEpoch], frame: pd.DataFrame, mode: str) -> list[tuple[dict, ChosenEpoch]]:
    """Each pipeline's best trial by val objective whose checkpoint kept test scores: its point
    (pipeline, modality, backbone, trial) and its chosen epoch."""
    by_trial = {c.trial.directory: c for c in chosen}
    out = []
    if not frame.empty:
        for _, best in best_rows(frame, mode, ("pipeline",)).iterrows():
            c = by_trial[best["trial"]]
            if c.scores is not None and "test" in c.scores:
                out.append(({k: best[k] for k in ("pipeline", "modality", "backbone", "trial")}, c))
    return out


def kinds_table(chosen: list[ChosenEpoch], frame: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Object level per anomaly kind, for each pipeline's best trial by val objective: the kind's
    test items against every benign test item (AUROC) and the share flagged at the val-chosen
    threshold (TP%), and AP, with 95 % intervals. Empty where the archive records no kinds."""
    rows = []
    for point, c in best_scored(chosen, frame, mode):
        for k in kind_estimates(c.scores["test"], float(c.metrics["threshold"])):
            rows.append({**point, "kind": k.kind, "items": k.n_items,
                         **_figure_cells({"AUROC": k.auroc, "TP%": k.tp_pct, "AP": k.ap})})
    return pd.DataFrame(rows, columns=list(KIND_COLUMNS))


def groups_table(chosen: list[ChosenEpoch], frame: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Object level per item class and for seen against unseen designs (where the archive records
    items' models and the trial its train split's), for each pipeline's best trial by val: each
    group's anomalous items against its own benign ones at the val-chosen threshold, then each kind
    within it, with 95 % intervals. Empty where the scores record no classes."""
    rows = []
    for point, c in best_scored(chosen, frame, mode):
        test, threshold = c.scores["test"], float(c.metrics["threshold"])
        groupings = class_and_design_estimates(test, threshold, c.train_models)
        for grouping, groups in (("class", groupings["classes"]), ("design", groupings["designs"])):
            for g in groups:
                figures = {"AUROC": g.auroc, "AP": g.ap, "TP%": g.tp_pct, "FP%": g.fp_pct}
                rows.append({**point, "grouping": grouping, "group": g.group, "kind": "",
                             "items": g.n_items, "anomalous": g.n_anomalous, **_figure_cells(figures)})
                rows += [{**point, "grouping": grouping, "group": g.group, "kind": k.kind, "items": None,
                          "anomalous": k.n_items,
                          **_figure_cells({"AUROC": k.auroc, "AP": k.ap, "TP%": k.tp_pct, "FP%": None})}
                         for k in g.kinds]
    frame = pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
    return frame.astype({"items": "Int64", "anomalous": "Int64"})  # counts; a kind's row has no item count


def _undefined(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cell(value, title: str, low=None, high=None, best: bool = False) -> str:
    """Percentages with one decimal, fractions with three, ``±`` the interval's half-width when
    known; undefined as a dash."""
    if _undefined(value):
        return "—"
    digits = 1 if title.endswith("%") else 3
    text = f"{value:.{digits}f}"
    if best:
        text = f"**{text}**"
    if not _undefined(low) and not _undefined(high):
        text += f" ±{(high - low) / 2:.{digits}f}"
    return text


def markdown(tables: dict[str, pd.DataFrame], metric: str = "objective",
             kinds: pd.DataFrame | None = None, groups: pd.DataFrame | None = None) -> str:
    """Every level's table per pipeline, best value per column in bold (lowest for FP%), then the
    per-kind tables and the per-class and seen/unseen ones. Test figures at the val-chosen epoch
    and threshold; ``val {metric}`` chose."""
    out = []
    for level, table in tables.items():
        for pipeline, part in table.groupby("pipeline", sort=True):
            out.append(f"### {pipeline}: {level} level (test, at the val-chosen threshold)\n")
            out.append(f"| Data | Network | val {metric} | " + " | ".join(COLUMNS.values()) + " |")
            out.append("|---|---|---|" + "---|" * len(COLUMNS))
            best = {}
            for title in COLUMNS.values():
                values = pd.to_numeric(part[title], errors="coerce").dropna()
                pick = values.min if title in LOWER_IS_BETTER else values.max
                best[title] = pick() if len(values) else None
            for _, row in part.iterrows():
                cells = [cell(row[t], t, row[f"{t}_lo"], row[f"{t}_hi"],
                              best[t] is not None and row[t] == best[t]) for t in COLUMNS.values()]
                out.append(f"| {row['modality']} | {row['backbone']} | {cell(row['val_objective'], '')} | "
                           + " | ".join(cells) + " |")
            out.append("")
    if kinds is not None and not kinds.empty:
        for pipeline, part in kinds.groupby("pipeline", sort=True):
            out.append(_best_heading(pipeline, part, "per anomaly kind"))
            out.append("| kind | items | AUROC vs benign | TP% at the threshold |")
            out.append("|---|---|---|---|")
            for _, row in part.iterrows():
                out.append(f"| {row['kind']} | {row['items']} | "
                           f"{cell(row['AUROC'], 'AUROC', row['AUROC_lo'], row['AUROC_hi'])} | "
                           f"{cell(row['TP%'], 'TP%', row['TP%_lo'], row['TP%_hi'])} |")
            out.append("")
    if groups is not None and not groups.empty:
        out += groups_markdown(groups)
    return "\n".join(out)


def _best_heading(pipeline: str, part: pd.DataFrame, what: str) -> str:
    first = part.iloc[0]
    return (f"### {pipeline}: object level {what} (test; {first['modality']} · {first['backbone']}, "
            "the best trial by val)\n")


def groups_markdown(groups: pd.DataFrame) -> list[str]:
    """``groups_table`` as Markdown: per pipeline, one row per item class or design group (its kinds
    indented beneath it)."""
    out = []
    for pipeline, part in groups.groupby("pipeline", sort=True):
        out.append(_best_heading(pipeline, part, "per item class and for seen against unseen designs"))
        out.append("| group | items (anomalous) | AUROC | AP | TP% | FP% |")
        out.append("|---|---|---|---|---|---|")
        for _, row in part.iterrows():
            name = (f"{row['grouping']}: {row['group']}" if not row["kind"]
                    else f"&nbsp;&nbsp;{row['group']} · {row['kind']}")
            count = f"{row['items']} ({row['anomalous']})" if not row["kind"] else f"({row['anomalous']})"
            cells = [cell(row[t], t, row[f"{t}_lo"], row[f"{t}_hi"]) for t in GROUP_FIGURES]
            out.append(f"| {name} | {count} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, na_rep="").encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
