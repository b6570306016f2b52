"""A study's results/ (tables, plots) and best/ (checkpoint, config, model card) from its run dir."""

from __future__ import annotations

import json

from models.metrics import LEVELS
from models.model_dir import WEIGHTS_FILE, ModelDirectory
from pages.plots import kind_bars, learning_curves, objective_vs_k_lambda, roc_curves, tp_fp_bars
from scans.storage import Location, locate
from study.model_card import card_of, write_card
from study.results import ChosenEpoch, choose_epoch, load_statuses, load_trials
from study.tables import (
    COLUMNS,
    GROUP_FIGURES,
    best_scored,
    cell,
    csv_bytes,
    errors_frame,
    groups_table,
    kinds_table,
    markdown,
    paper_table,
    parquet_bytes,
    trials_frame,
)


def _objective(run: Location) -> tuple[str, str]:
    """(metric, mode) from the config the study wrote into its run directory."""
    objective = json.loads(run.read_bytes("study_config.json"))["objective"]
    return objective["metric"], objective["mode"]


def chosen_epochs(run: Location, mode: str) -> list[ChosenEpoch]:
    """Every trial's val-chosen epoch, with its checkpoint's scores."""
    return [choose_epoch(run, trial, mode) for trial in load_trials(run)]


def write_results(run_uri: str) -> str:
    """Build results/ from the trials (test figures at each trial's val-chosen epoch and threshold,
    with bootstrap intervals; per-kind tables; plots); returns the Markdown tables."""
    run = locate(run_uri)
    metric, mode = _objective(run)
    chosen = chosen_epochs(run, mode)
    frame = trials_frame(chosen)
    if frame.empty:
        raise ValueError(f"{run.uri}: no trial has reported a result yet")
    run.makedirs("results")
    run.write_bytes("results/trials.csv", csv_bytes(frame))
    run.write_bytes("results/trials.parquet", parquet_bytes(frame))
    tables = {level: paper_table(frame, level, mode) for level in LEVELS}
    for level, table in tables.items():
        run.write_bytes(f"results/table_{level}.csv", csv_bytes(table))
        run.write_bytes(f"results/table_{level}.parquet", parquet_bytes(table))
        for pipeline in sorted(set(table["pipeline"])):
            run.write_bytes(f"results/tp_fp_{pipeline}_{level}.png", tp_fp_bars(table, pipeline, level))
    kinds = kinds_table(chosen, frame, mode)
    for pipeline, part in kinds.groupby("pipeline", sort=True):
        run.write_bytes(f"results/kinds_{pipeline}.csv", csv_bytes(part))
        run.write_bytes(f"results/kinds_{pipeline}.parquet", parquet_bytes(part))
    if not kinds.empty:
        run.write_bytes("results/kinds_tp.png", kind_bars(kinds))
    groups = groups_table(chosen, frame, mode)
    for pipeline, part in groups.groupby("pipeline", sort=True):
        run.write_bytes(f"results/groups_{pipeline}.csv", csv_bytes(part))
        run.write_bytes(f"results/groups_{pipeline}.parquet", parquet_bytes(part))
    for level in LEVELS:
        curves = roc_inputs(chosen, frame, mode, level)
        if curves:
            run.write_bytes(f"results/roc_{level}.png", roc_curves(curves, level))
    if (frame["pipeline"] == "ssn").any():
        run.write_bytes("results/objective_vs_k_lambda.png", objective_vs_k_lambda(frame, metric))
    run.write_bytes("results/learning_curves.png", learning_curves([c.trial for c in chosen], metric))
    errors = errors_frame(load_statuses(run))
    run.write_bytes("results/errors.csv", csv_bytes(errors))
    text = markdown(tables, metric, kinds, groups)
    if not errors.empty:
        text += f"\n{len(errors)} trial(s) errored (results/errors.csv):\n" + "".join(
            f"- {row.trial}: {row.error}\n" for row in errors.itertuples())
    run.write_bytes("results/tables.md", text.encode())
    run.write_bytes("results/index.html", results_page(run, tables, kinds, groups, errors, metric).encode())
    return text


def _display(table, metric: str):
    """One level's table as shown: each figure with its interval's half-width, as in tables.md."""
    import pandas as pd

    rows = []
    for _, row in table.iterrows():
        shown = {"pipeline": row["pipeline"], "data": row["modality"], "network": row["backbone"],
                 f"val {metric}": cell(row["val_objective"], "")}
        shown.update({t: cell(row[t], t, row[f"{t}_lo"], row[f"{t}_hi"]) for t in COLUMNS.values()})
        rows.append(shown)
    return pd.DataFrame(rows)


def results_page(run: Location, tables: dict, kinds, groups, errors, metric: str) -> str:
    """RUN_DIR/results/index.html: the tables and every plot of results/, one static page."""
    from pages.html_page import image, page, table

    sections = [(f"{level.capitalize()} level (test, at each trial's val-chosen epoch and threshold)",
                 table(_display(frame, metric))) for level, frame in tables.items()]
    if not kinds.empty:
        shown = kinds.assign(**{t: [cell(v, t, lo, hi) for v, lo, hi in
                                    zip(kinds[t], kinds[f"{t}_lo"], kinds[f"{t}_hi"], strict=True)]
                                for t in ("AUROC", "TP%")})
        sections.append(("Object level per anomaly kind (each pipeline's best trial by val)",
                         table(shown[["pipeline", "modality", "backbone", "kind", "items", "AUROC", "TP%"]])))
    if not groups.empty:
        shown = groups.assign(**{t: [cell(v, t, lo, hi) for v, lo, hi in
                                     zip(groups[t], groups[f"{t}_lo"], groups[f"{t}_hi"], strict=True)]
                                 for t in GROUP_FIGURES})
        sections.append(("Object level per item class and for seen against unseen designs (each pipeline's "
                         "best trial by val; a kind's row: its items against the group's benign ones)",
                         table(shown[["pipeline", "grouping", "group", "kind", "items", "anomalous",
                                      *GROUP_FIGURES]])))
    plots = sorted(name for name in run.list_files("results") if name.endswith(".png"))
    sections.append(("Plots", "".join(image(name, name.removesuffix(".png").replace("_", " "), 560)
                                      for name in plots)))
    if not errors.empty:
        sections.append((f"Errored trials ({len(errors)})", table(errors)))
    return page(f"DualScan study {run.uri.rstrip('/').rsplit('/', 1)[-1]}", sections,
                f"{run.uri}: val chooses (objective val {metric}), test reports; 95 % intervals shown "
                "as ±half-width")


def roc_inputs(chosen: list[ChosenEpoch], frame, mode: str, level: str) -> list[tuple]:
    """(name, test labels, test scores, val-chosen threshold) of each pipeline's best trial by val
    objective, for the ROC plot of ``level``."""
    out = []
    for point, c in best_scored(chosen, frame, mode):
        labels, scores = c.scores["test"].arrays(level)
        if labels.any() and (~labels).any():
            out.append((f"{point['pipeline']} · {point['backbone']} · {point['modality']}", labels, scores,
                        float(c.metrics["threshold"])))
    return out


def export_best(run_uri: str) -> dict:
    """Copy the checkpoint with the best val objective over all trials to best/ with a model card
    (test figures at its val-chosen threshold); returns the card."""
    run = locate(run_uri)
    _, mode = _objective(run)
    chosen = [c for c in chosen_epochs(run, mode) if c.checkpoint is not None]
    if not chosen:
        raise ValueError(f"{run.uri}: no checkpoint to export")
    sign = 1 if mode == "max" else -1
    best = max(chosen, key=lambda c: sign * c.metrics["objective"])
    root = ModelDirectory(run)
    exported = root.sub("best")
    # an item-first model's best/ carries the study's item stage (its checkpoints carry none): the
    # one the study trained in its run directory, else the one its items.directory named
    stage = root.item_stage_dir
    named = (json.loads(run.read_bytes("study_config.json")).get("items") or {}).get("directory")
    if named and not stage.has(WEIGHTS_FILE):
        stage = ModelDirectory(named)
    root.sub(best.checkpoint).copy_to(exported, stage=stage)
    card = card_of(exported, best.checkpoint, best.scores)
    write_card(exported, card)
    return card
