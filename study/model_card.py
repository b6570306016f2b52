"""A trained model's card, the same for every way a model leaves training (a study's ``best/``,
``dualscan export-model``): what it is, the data and pitch it saw, what val chose (epoch or step,
item rule, threshold), its test figures at that threshold (with 95 % intervals when the checkpoint
kept its scores), what training cost, how to rebuild it, and every file's sha256."""

from __future__ import annotations

import hashlib

from models.calibration import describe_calibration
from models.metrics import LEVELS
from models.model_dir import CARD_FILE, CARD_JSON, CONFIG_FILE, METRICS_FILE, ModelDirectory
from study.evaluation import LevelScores, class_and_design_estimates, kind_estimates, level_estimates
from study.recipes import configured_run, describe_run
from study.tables import COLUMNS, cell

__all__ = ["CARD_JSON", "card_files", "card_of", "write_card"]


def _figures(estimates) -> dict:
    return {name: e.as_dict() for name, e in estimates.items()}


def card_of(directory: ModelDirectory, source: str | None, scores: dict[str, LevelScores] | None = None
            ) -> dict:
    """What a user of the model needs, from its directory: data and pitch, spec, the operating
    threshold chosen on val and the val objective, the item stage's recall, and test figures at
    that threshold with 95 % intervals per level and per anomaly kind when ``scores`` has test's."""
    config, metrics = directory.config(), directory.metrics()
    study, trial = config.get("study") or {}, config["trial"]
    objective = study.get("objective", {})
    stage = directory.item_stage_dir
    data = {k: v for k, v in {**study.get("data", {}), **config.get("data", {})}.items()
            if k != "archive"}  # named by the command that made it and its fingerprint, not a path
    card = {"model_sha256": directory.sha256(), "source_checkpoint": source, "trial": trial,
            "data": data, "objective": objective,
            "items": ({k: v for k, v in study["items"].items() if k != "directory"}  # the exported items/
                      if stage.has(CONFIG_FILE) and study.get("items") else None),
            "recipe": study.get("recipe"), "training_run": config.get("training_run"),
            "training_configured": (None if config.get("training_run") else configured_run(study, trial)),
            "item_stage": stage.metrics() if stage.has(METRICS_FILE) else None,
            "threshold": metrics.get("threshold"),
            "operating_point": {"threshold": metrics.get("threshold"), "chosen_on": "val",
                                "fp_target": objective.get("fp_target"),
                                "level": objective.get("metric", "object_").split("_", 1)[0]},
            "val_objective": metrics.get("objective"), "metrics": metrics, "test": {}, "kinds": []}
    test = (scores or {}).get("test")
    if test is not None and isinstance(metrics.get("threshold"), int | float):
        threshold = float(metrics["threshold"])
        card["test"] = {level: _figures(level_estimates(test, threshold, level)) for level in LEVELS}
        card["kinds"] = [{"kind": k.kind, "items": k.n_items,
                          **_figures({"auroc": k.auroc, "tp_pct": k.tp_pct, "ap": k.ap})}
                         for k in kind_estimates(test, threshold)]
        card["groups"] = {name: [g.as_dict() for g in groups] for name, groups in
                          class_and_design_estimates(test, threshold, directory.train_models()).items()}
    return card


def _number(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "—"


def _about(card: dict) -> list[str]:
    """What the model is and what val chose, in a few lines."""
    trial, data, metrics, op = card["trial"], card["data"], card["metrics"], card["operating_point"]
    objective, items, pitch = card["objective"], card["items"], data.get("input_pitch_mm")
    source = card["source_checkpoint"]
    lines = [f"* {f'from `{source}`; ' if source else ''}weights sha256 {card['model_sha256'][:16]}…"]
    seen = (f"at its native pitch, {pitch:.3g} mm" if items and pitch else
            f"resized to {data.get('image_size')}², pitch {pitch:.3g} mm" if pitch else
            f"resized to {data.get('image_size')}², pitch unknown (the archive records none)")
    made_by, fingerprint = data.get("archive_made_by"), data.get("archive_fingerprint")
    if made_by:
        where = f"`{made_by}`, " + (f"fingerprint {fingerprint[:16]}…" if fingerprint else "no fingerprint")
    else:
        where = ("the archive the rebuild below makes" if card.get("rebuild") else "not named") + (
            " (its config predates archives named by command and fingerprint)")
    lines.append(f"* data: {where}; seen {seen}")
    configured = card.get("training_configured")
    if card.get("training_run") or not configured:
        lines.append(f"* training: {describe_run(card.get('training_run'))}")
    else:
        lines.append(f"* training: {describe_run(configured)} (its config; the run itself was not recorded)")
    if items:
        lines.append(f"* item stage: {items.get('finder')} finder ({items.get('encoder', 'resnet18')} "
                     f"encoder, scans shrunk {items.get('scale')}×); K {trial['k']} superpixels per item")
        eval_every, chosen = (card.get("recipe") or {}).get("eval_every"), metrics.get("chosen_epoch")
        step = chosen * eval_every if isinstance(chosen, int) and eval_every else metrics.get("step")
        lines.append(f"* trained {metrics.get('step')} steps ({_number(metrics.get('train_seconds'), 0)} s); "
                     f"val chose step {step}, item score `{metrics.get('item_score')}`")
    else:
        lines.append(f"* chosen on val: epoch {metrics.get('epoch')} by val {objective.get('metric')} = "
                     f"{_number(card['val_objective'], 4)}")
    raw = metrics.get("threshold_raw") if metrics.get("calibration") else None
    lines.append(f"* threshold {_number(op['threshold'])}"
                 f"{f' (raw score {_number(raw)})' if isinstance(raw, int | float) else ''}: keeps val "
                 f"{op['level']}-level FP% ≤ {op['fp_target']}")
    if items:
        lines.append(f"* item scores: {describe_calibration(metrics.get('calibration'))}")
    return lines


def _cost(card: dict) -> list[str]:
    """What training cost: the item stage's training and the whole command, when recorded."""
    metrics, stage, lines = card["metrics"], card["item_stage"] or {}, []
    if isinstance(stage.get("train_seconds"), int | float):
        lines.append(f"Item stage trained in {stage['train_seconds']:.0f} s.")
    if isinstance(metrics.get("command_seconds"), int | float):
        lines.append(f"The whole training command (item stage, training, val and test) took "
                     f"{metrics['command_seconds']:.0f} s ({metrics['command_seconds'] / 3600:.2f} h).")
    return [" ".join(lines), ""] if lines else []


def _test(card: dict) -> list[str]:
    """Test at the chosen threshold: end to end (and the true-item bound and recall of item-first
    models), then every level with its interval and every anomaly kind, when the scores were kept."""
    metrics, lines = card["metrics"], []
    if card["items"]:
        stage = card["item_stage"] or {}
        recall, named = stage.get("test_recall"), stage.get("test_class_accuracy")
        lines += ["Its training archive's test split, end to end on found items, at that threshold:", "",
                  "| object AUROC | TP% | FP% | true-item bound AUROC | item recall (test) "
                  "| item classes right (test) |",
                  "|---|---|---|---|---|---|",
                  f"| {_number(metrics.get('test_object_auroc'))} "
                  f"| {_number(metrics.get('test_object_tp_pct'), 1)} "
                  f"| {_number(metrics.get('test_object_fp_pct'), 1)} "
                  f"| {_number(metrics.get('true_test_object_auroc'))} "
                  f"| {'—' if recall is None else f'{100 * recall:.1f} %'} "
                  f"| {'—' if named is None else f'{100 * named:.1f} %'} |", ""]
    if card["test"]:
        lines += ["Test, at that threshold (95 % intervals: exact binomial for A, P, TP% and FP%, "
                  "a bootstrap over scans for F1, AUROC and AP):", "",
                  "| level | " + " | ".join(COLUMNS.values()) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
        for level, figures in card["test"].items():
            blank = {"value": None, "low": None, "high": None}  # a figure cards before it did not keep
            cells = [cell(f["value"], t, f["low"], f["high"])
                     for m, t in COLUMNS.items() for f in [figures.get(m, blank)]]
            lines.append(f"| {level} | " + " | ".join(cells) + " |")
        lines.append("")
    if card["kinds"]:
        lines += ["Test, object level per anomaly kind (each kind against every benign item):", "",
                  "| kind | items | AUROC | AP | TP% |", "|---|---|---|---|---|"]
        for k in card["kinds"]:
            ap = k.get("ap") or {"value": None, "low": None, "high": None}  # cards before AP
            lines.append(f"| {k['kind']} | {k['items']} | "
                         f"{cell(k['auroc']['value'], 'AUROC', k['auroc']['low'], k['auroc']['high'])} | "
                         f"{cell(ap['value'], 'AP', ap['low'], ap['high'])} | "
                         f"{cell(k['tp_pct']['value'], 'TP%', k['tp_pct']['low'], k['tp_pct']['high'])} |")
        lines.append("")
    return lines + _groups(card.get("groups") or {})


def _groups(groups: dict) -> list[str]:
    """Test per item class, and for seen against unseen designs where both are known: each group's
    anomalous items against its own benign ones, its kinds' AUROC beside."""
    shown = [(title, g) for title, name in (("class", "classes"), ("design", "designs"))
             for g in groups.get(name, []) if name == "designs" or len(groups[name]) > 1]
    if not shown:
        return []
    lines = ["Test, object level per item class and for seen against unseen designs (each group's "
             "anomalous items against its own benign ones):", "",
             "| group | items (anomalous) | AUROC | AP | TP% | FP% | AUROC per kind |",
             "|---|---|---|---|---|---|---|"]
    for title, g in shown:
        figures = [cell(g[m]["value"], t, g[m]["low"], g[m]["high"])
                   for m, t in (("auroc", "AUROC"), ("ap", "AP"), ("tp_pct", "TP%"), ("fp_pct", "FP%"))]
        kinds = ", ".join(f"{k['kind']} {_number(k['auroc']['value'], 2)}" for k in g["kinds"])
        lines.append(f"| {title}: {g['group']} | {g['n_items']} ({g['n_anomalous']}) | " + " | ".join(figures)
                     + f" | {kinds or '—'} |")
    return [*lines, ""]


def card_files(directory: ModelDirectory) -> list[str]:
    """The files a card lists: what scoring reads (ModelDirectory.scoring_files, the item stage's
    included) and the card's JSON."""
    return [name for name in (*directory.scoring_files(), CARD_JSON) if directory.has(name)]


def write_card(directory: ModelDirectory, card: dict, rebuild: str = "", half: bool = False) -> str:
    """``model_card.json`` (the card) and ``model_card.md`` (it for people, with every file's size
    and sha256); returns the markdown."""
    rebuild = rebuild or card.get("rebuild", "")
    card = {**card, "rebuild": rebuild}
    directory.write_json(CARD_JSON, card)
    trial = card["trial"]
    lines = [f"# DualScan model: {trial['pipeline']} · {trial['backbone']} · {trial['modality']}", "",
             *_about(card), "", *_cost(card), *_test(card)]
    if rebuild:
        lines += ["Rebuild:", "", "```", rebuild, "```", ""]
    if half:
        lines += ["Weights are stored as float16 and loaded back into float32.", ""]
    lines += ["| file | bytes | sha256 |", "|---|---|---|"]
    for name in card_files(directory):
        data = directory.read(name)
        lines.append(f"| {name} | {len(data)} | {hashlib.sha256(data).hexdigest()} |")
    text = "\n".join(lines) + "\n"
    directory.where.write_bytes(CARD_FILE, text.encode())
    return text
