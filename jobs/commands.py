"""The `dualscan` commands: each one's job module and one-line summary, read without importing it."""

from __future__ import annotations

from dataclasses import dataclass

from scans.registry import Registry


@dataclass(frozen=True)
class Command:
    """A subcommand: ``module`` exposes get_args_parser(add_help) and main(args)."""

    module: str
    summary: str


COMMANDS: Registry[Command] = Registry("command")
for _name, _module, _summary in (
    ("synth", "jobs.synth", "Write a synthetic dual-energy archive (format v1) with labels and previews."),
    ("preview", "jobs.preview",
     "Write a contact sheet PNG of an archive: pseudo, high, low, Z_eff, anomalies."),
    ("import", "jobs.import_archive",
     "Convert a COMPASS-XP folder, a COCO image folder or a lab's dual-energy exports into archive v1."),
    ("train", "jobs.train", "Train one configuration of a study on this machine, without Ray."),
    ("pretrain", "jobs.pretrain",
     "Pretrain the sub-component pipeline's dense features on simulated physics: materials and items."),
    ("export-model", "jobs.export_model",
     "Copy what scoring needs of a trained model directory and write its model card with sha256."),
    ("config-schema", "jobs.config_schema",
     "Write the study configuration's JSON Schema for editors, or its every key with type and default."),
    ("study", "jobs.study", "Run a study (pipeline × backbone × modality × K × λ) with Ray Tune."),
    ("study-report", "jobs.study_report",
     "Rebuild a study's tables, plots and best model from STORAGE/NAME."),
    ("evaluate", "jobs.evaluate",
     "Judge a trained item-first model on a labelled split: object AUROC, TP% and FP%, per kind."),
    ("calibrate", "jobs.calibrate",
     "Fit an item-first model's item-score calibration on val, so that its scores read as probabilities."),
    ("models", "jobs.models",
     "List the detectors that ship with DualScan: names, worlds and what each reached."),
    ("score", "jobs.score",
     "Score an archive (or a folder of images) with a trained model into a Parquet report."),
    ("report-summary", "jobs.report_summary",
     "Summarise a scoring report: counts, score histogram, top anomalous scans."),
    ("report-html", "jobs.report_html",
     "Write a report's static HTML page: counts, histogram, top scans and misses, errors, model."),
    ("cluster", "jobs.cluster",
     "Start or stop a local Ray cluster (head + worker nodes on 127.0.0.1, token auth)."),
):
    COMMANDS.add(_name, Command(_module, _summary))


def summary_of(name: str) -> str:
    """The one-line description of command ``name`` (its parser's description too)."""
    return COMMANDS[name].summary


def finished(code: int | None) -> int:
    """A command's exit status, after collecting garbage while the libraries are still whole: Arrow
    objects left in reference cycles, freed only at interpreter shutdown, abort it now and then
    (pool threads outliving Arrow's globals; apache/arrow#34314): 9 of 30 `synth` runs on a loaded
    machine, 0 of 30 with this."""
    import gc

    gc.collect()
    return int(code or 0)
