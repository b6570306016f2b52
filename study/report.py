"""A study's results/ (tables, plots) and best/ (checkpoint, config, model card) from its run dir."""

from __future__ import annotations

import hashlib
import json

from scans.storage import Location, locate
from study.config import LEVELS
from study.plots import objective_vs_k_lambda, tp_fp_bars
from study.results import checkpoints, load_statuses, load_trials
from study.tables import csv_bytes, errors_frame, markdown, paper_table, parquet_bytes, trials_frame

BEST_FILES = ("model.pt", "config.json", "metrics.json")


def _objective(run: Location) -> tuple[str, str, float | None]:
    """(metric, mode, fp_target) from the config the study wrote into its run directory."""
    config = json.loads(run.read_bytes("study_config.json"))
    objective = config["objective"]
    return objective["metric"], objective["mode"], objective.get("fp_target")


def write_results(run_uri: str) -> str:
    """Build results/ from the trials; returns the Markdown tables."""
    run = locate(run_uri)
    metric, mode, _ = _objective(run)
    frame = trials_frame(load_trials(run), mode)
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
    if (frame["pipeline"] == "ssn").any():
        run.write_bytes("results/objective_vs_k_lambda.png", objective_vs_k_lambda(frame, metric))
    errors = errors_frame(load_statuses(run))
    run.write_bytes("results/errors.csv", csv_bytes(errors))
    text = markdown(tables)
    if not errors.empty:
        text += f"\n{len(errors)} trial(s) errored (results/errors.csv):\n" + "".join(
            f"- {row.trial}: {row.error}\n" for row in errors.itertuples())
    run.write_bytes("results/tables.md", text.encode())
    return text


def model_card(config: dict, metrics: dict, sha256: str, source: str) -> dict:
    """What a user of the exported model needs: data, trial, metrics, operating threshold."""
    study, trial = config["study"], config["trial"]
    return {"model_sha256": sha256, "source_checkpoint": source, "trial": trial,
            "data": {**study["data"], **config.get("data", {})}, "objective": study["objective"],
            "threshold": metrics["threshold"], "metrics": metrics}


def _card_markdown(card: dict) -> str:
    trial, fp = card["trial"], card["objective"].get("fp_target")
    operating = (f"threshold {card['threshold']:.4f}, chosen for {card['objective']['metric'].split('_')[0]}"
                 f"-level FP% ≤ {fp} on the {card['data'].get('threshold_split', '?')} split"
                 if fp is not None else f"threshold {card['threshold']} (no FP% target set)")
    lines = [f"# DualScan model: {trial['pipeline']} · {trial['backbone']} · {trial['modality']}", "",
             f"* checkpoint: `{card['source_checkpoint']}` (sha256 {card['model_sha256'][:16]}…)",
             f"* data: `{card['data']['archive']}`, {card['data']['image_size']}², split "
             f"{card['data']['split']}", f"* operating point: {operating}", "", "| metric | value |",
             "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(card["metrics"].items())]
    return "\n".join(lines) + "\n"


def export_best(run_uri: str) -> dict:
    """Copy the best kept checkpoint over all trials to best/ with a model card; returns the card."""
    run = locate(run_uri)
    _, mode, _ = _objective(run)
    sign = 1 if mode == "max" else -1
    kept = [c for trial in load_trials(run) for c in checkpoints(run, trial)]
    if not kept:
        raise ValueError(f"{run.uri}: no checkpoint to export")
    source, metrics = max(kept, key=lambda c: sign * c[1]["objective"])
    run.makedirs("best")
    for name in BEST_FILES:
        run.write_bytes(f"best/{name}", run.read_bytes(f"{source}/{name}"))
    sha = hashlib.sha256(run.read_bytes("best/model.pt")).hexdigest()
    card = model_card(json.loads(run.read_bytes("best/config.json")), metrics, sha, source)
    card_json = json.dumps(card, indent=2, sort_keys=True, default=float)
    run.write_bytes("best/model_card.json", card_json.encode())
    run.write_bytes("best/model_card.md", _card_markdown(card).encode())
    return card
