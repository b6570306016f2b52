"""Entry point: a Ray Tune study (`dualscan study`, `python -m jobs.study` under `ray job submit`)."""

from __future__ import annotations

import argparse
import os
import sys

from jobs.commands import finished, summary_of
from jobs.config_flags import add_config_flags, config_yaml, set_overrides
from study.config import ConfigError, StudyConfig, parse_config, read_config_data  # no torch: a config
from study.rehearsal import rehearsal


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the study job; flags override the config file."""
    parser = argparse.ArgumentParser(
        "dualscan study", add_help=add_help,
        description=summary_of("study"))
    parser.add_argument("--config", required=True, help="study YAML (see study/configs/)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted study NAME")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run of NAME")
    parser.add_argument("--name", help="study name (run directory STORAGE/NAME)")
    parser.add_argument("--storage", help="absolute directory or URI (s3://, gs://) for runs")
    parser.add_argument("--data", help="archive directory or URI (overrides data.archive)")
    parser.add_argument("--num-samples", type=int, help="trials to sample (grid: repeats)")
    parser.add_argument("--gpus-per-trial", type=float, help="GPU share per trial, e.g. 0.5")
    parser.add_argument("--smoke", action="store_true",
                        help="a rehearsal: the same grid shape with sizes and steps cut to minutes on a "
                             "CPU, run as NAME-smoke; its figures mean nothing (study/rehearsal.py)")
    parser.add_argument("--local", action="store_true",
                        help="start Ray on this machine (its GPU if any, else CPU) instead of joining "
                             "the cluster of RAY_ADDRESS / `ray job submit`")
    add_config_flags(parser)
    return parser


def overrides_of(args: argparse.Namespace) -> dict:
    """Dotted config keys set by flags."""
    flags = {"name": args.name, "storage": args.storage, "data.archive": args.data,
             "search.num_samples": args.num_samples, "resources.gpu": args.gpus_per_trial}
    return {key: value for key, value in flags.items() if value is not None}


def check_study_paths(config: StudyConfig) -> None:
    """On a multi-node cluster, the archive and the run storage, when local paths, must be seen
    alike by every node (Tune's trials read and write them there)."""
    from jobs.shared_paths import check_shared_paths
    from scans.storage import locate

    archive, storage = locate(config.data.archive), locate(config.storage_uri())
    if storage.is_local:
        storage.makedirs()
    check_shared_paths({name: where.path for name, where in
                        (("data.archive", archive), ("storage", storage)) if where.is_local})


class StudyRefusedError(Exception):
    """A study refused before any work; the message says why (exit status 2)."""


def resolved_config(args: argparse.Namespace) -> StudyConfig:
    """The study's config: the file with the flags over it, cut to a rehearsal with ``--smoke``;
    StudyRefusedError when it is invalid or asks a local machine for GPUs it lacks."""
    import torch

    from jobs.ray_connect import refuse_relative_paths

    try:
        given = set_overrides(args.set_values)
    except ConfigError as err:
        raise StudyRefusedError(str(err)) from None
    overrides = {**overrides_of(args), **given}
    if args.local and torch.cuda.is_available() and "resources.gpu" not in overrides:
        overrides["resources.gpu"] = 1.0
    try:
        data = read_config_data(args.config, overrides)
        if args.smoke:  # on the GPUs a local machine has, a quarter of one per trial
            share = given.get("resources.gpu", args.gpus_per_trial)  # --set applies last, here too
            if share is None:
                share = 0.25 if args.local and torch.cuda.is_available() else 0.0
            data = rehearsal(data, share)
            print(f"{args.config}: a rehearsal (--smoke) as {data['name']}: every combination for two "
                  "steps on a few scans; its figures test the plumbing and mean nothing",
                  file=sys.stderr, flush=True)
        raw = data.get("data")
        refuse_relative_paths({"storage": data.get("storage"),
                               "data.archive": raw.get("archive") if isinstance(raw, dict) else None})
        config = parse_config(data, args.config)
    except (ConfigError, ValueError) as err:
        raise StudyRefusedError(str(err)) from None
    if args.local and config.resources.gpu > 0 and not torch.cuda.is_available():
        raise StudyRefusedError(f"{args.config}: resources.gpu is {config.resources.gpu} but this machine "
                                "has no CUDA GPU; use --gpus-per-trial 0")
    return config


def prepared_tuner(args: argparse.Namespace, config: StudyConfig):
    """The study's Tuner, on the cluster it joined (or the local Ray it started), once the archive
    fits the study and the paths are shared; StudyRefusedError, saying what to do, before any work."""
    from jobs.ray_connect import connect
    from jobs.shared_paths import SharedPathError
    from study.archive_fit import check_archive
    from study.run import build_tuner

    try:
        check_archive(config)  # no val split, no Z, no parts: stop before any work, saying what to do
    except (ValueError, OSError) as err:
        raise StudyRefusedError(f"{args.config}: {err}") from None
    try:
        connect(args.local)
        check_study_paths(config)
    except (ConnectionError, SharedPathError) as err:
        raise StudyRefusedError(f"{args.config}: {err}") from None
    try:
        return build_tuner(config, resume=args.resume, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError) as err:
        raise StudyRefusedError(str(err)) from None


def report_study(config: StudyConfig, results) -> int:
    """Write the study's tables and export the best trial (val's choice); 1 when no trial reported."""
    from study.report import export_best, write_results
    from study.run import run_uri

    path = run_uri(config)
    for error in results.errors:
        print(f"trial failed: {str(error).strip().splitlines()[-1]}", file=sys.stderr)
    if all(r.metrics is None or "objective" not in r.metrics for r in results):
        print(f"no trial of {path} reported a result", file=sys.stderr)
        return 1
    print(write_results(path))
    card = export_best(path)
    trial = card["trial"]
    metric = config.objective.metric
    test = card["metrics"].get(f"test_{metric}", float("nan"))
    print(f"best by val: {trial['pipeline']} · {trial['backbone']} · {trial['modality']}, val {metric} "
          f"{card['val_objective']:.4f}, test {metric} {test:.4f} → {path}/best/")
    return 0


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")
    try:
        config = resolved_config(args)
        if args.print_config:
            print(config_yaml(config), end="")
            return 0
        tuner = prepared_tuner(args, config)
    except StudyRefusedError as err:
        print(err, file=sys.stderr)
        return 2
    return report_study(config, tuner.fit())


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
