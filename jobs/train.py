"""Entry point: train one configuration of a study without Ray (`dualscan train`), to debug a trial."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from jobs.commands import finished, summary_of
from jobs.config_flags import add_config_flags, config_yaml, set_overrides
from study.config import ConfigError, load_config  # no torch: a config
from study.points import first_point

# flag → ModelSpec field; types for argparse
CHOICES = {"pipeline": str, "backbone": str, "modality": str, "k": int, "lam": float,
           "ssn_feature": str, "mode": str, "optimizer": str, "lr": float, "batch_size": int}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the train job: a study config, and one value per searched field."""
    parser = argparse.ArgumentParser(
        "dualscan train", add_help=add_help,
        description=summary_of("train"))
    parser.add_argument("--config", required=True, help="study YAML")
    parser.add_argument("--data", help="archive directory or URI (overrides data.archive)")
    parser.add_argument("--epochs", type=int, help="overrides space.epochs")
    parser.add_argument("--out", help="write the model directory here: the last epoch's checkpoint (for "
                        "item-first pipelines the epoch val chose, with the item stage in OUT/items); "
                        "`dualscan score` takes it as it takes RUN_DIR/best")
    for name, kind in CHOICES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind,
                            help=f"default: the space's first {name} (refused where the pipeline does "
                            "not read it)")
    add_config_flags(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    from study.archive_fit import check_archive
    from study.pipelines import PIPELINES
    from study.train import TrainState, save_checkpoint, trial_from_config
    from study.trial import train_trial

    started = time.perf_counter()
    overrides = {k: v for k, v in {"data.archive": args.data, "space.epochs": args.epochs}.items()
                 if v is not None}
    try:
        config = load_config(args.config, {**overrides, **set_overrides(args.set_values)})
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.print_config:
        print(config_yaml(config), end="")
        return 0
    try:
        check_archive(config)  # no val split, no Z, no parts: stop before any work, saying what to do
    except (ValueError, OSError) as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 2
    try:
        choices = first_point(config.space, {k: getattr(args, k) for k in CHOICES})
    except ValueError as err:
        print(f"--{err}", file=sys.stderr)
        return 2
    if PIPELINES[choices["pipeline"]].item_first:
        import tempfile

        from models.model_dir import ModelDirectory
        from study.items.stage import ensure_item_stage

        stage = (ModelDirectory(args.out).item_stage_dir.uri if args.out
                 else tempfile.mkdtemp(prefix="dualscan-items-"))
        config = ensure_item_stage(config, stage)
    try:
        trial = trial_from_config(config, choices)  # after the item stage: it may read the classes it names
    except ValueError as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 2
    print(f"training {json.dumps(choices)} for {trial.epochs} epochs")
    from study.scalar_log import ScalarLog

    local_out = args.out and "://" not in args.out  # scalars beside a local model directory
    scalars = ScalarLog(os.path.join(args.out, "tensorboard")) if local_out else None

    def report(metrics: dict, state: TrainState) -> None:
        if scalars is not None:
            scalars.write(metrics)
        shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items() if k in (
            "epoch", "step", "train_seconds", "train_loss", "objective", "threshold", "item_score",
            "val_segment_auroc", "val_object_auroc", "test_object_auroc", "test_object_tp_pct",
            "test_object_fp_pct", "test_scan_auroc", "true_test_object_auroc", "chosen_epoch")}
        print(json.dumps(shown), flush=True)
        if args.out and state.epoch == trial.epochs:  # the whole command's wall time, item stage included
            save_checkpoint(args.out, state, config, trial,
                            {**metrics, "command_seconds": time.perf_counter() - started})

    try:
        train_trial(config, trial, report)
    finally:
        if scalars is not None:
            scalars.close()
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
