"""Entry point: train one configuration of a study without Ray (`dualscan train`), to debug a trial."""

from __future__ import annotations

import argparse
import json
import sys

from study.config import ConfigError, IntRange, LogRange, load_config
from study.data import split_ids
from study.space import FIELDS
from study.train import TrainState, save_checkpoint, train, trial_from_config

# flag → Trial field; types for argparse
CHOICES = {"pipeline": str, "backbone": str, "modality": str, "k": int, "lam": float,
           "ssn_feature": str, "mode": str, "optimizer": str, "lr": float, "batch_size": int}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the train job: a study config, and one value per searched field."""
    parser = argparse.ArgumentParser(
        "dualscan train", add_help=add_help,
        description="Train one configuration of a study on this machine, without Ray.")
    parser.add_argument("--config", required=True, help="study YAML")
    parser.add_argument("--data", help="archive directory or URI (overrides data.archive)")
    parser.add_argument("--epochs", type=int, help="overrides space.epochs")
    parser.add_argument("--out", help="write the last epoch's checkpoint here")
    for name, kind in CHOICES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind,
                            help=f"default: the first value of the space's {name}")
    return parser


def first_value(value):
    """The first choice of a list, or the low end of a range."""
    if isinstance(value, IntRange | LogRange):
        return value.low
    return value[0]


def main(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in {"data.archive": args.data, "space.epochs": args.epochs}.items()
                 if v is not None}
    try:
        config = load_config(args.config, overrides)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    try:
        split_ids(config.data)  # no val split: stop before any work, saying how to get one
    except (ValueError, OSError) as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 2
    choices = {key: first_value(getattr(config.space, field)) for field, key in FIELDS.items()}
    choices.update({k: getattr(args, k) for k in CHOICES if getattr(args, k) is not None})
    trial = trial_from_config(config, choices)
    print(f"training {json.dumps(choices)} for {trial.epochs} epochs")

    def report(metrics: dict, state: TrainState) -> None:
        shown = {k: round(v, 4) for k, v in metrics.items() if k in (
            "epoch", "train_loss", "objective", "threshold", "val_segment_auroc", "val_object_auroc",
            "test_object_auroc", "test_object_tp_pct", "test_object_fp_pct", "test_scan_auroc")}
        print(json.dumps(shown), flush=True)
        if args.out and state.epoch == trial.epochs:
            save_checkpoint(args.out, state, config, trial, metrics)

    train(config, trial, report)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
