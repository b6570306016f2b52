"""A config's item stage alone: the finder trained on an archive's train split, val and test found
and scored (recall, mask IoU, spurious items, classes right), its metrics printed.

What a study or `dualscan train` runs before any classifier, without them: for the finder's
learning curve at several budgets (``--steps``) or one setting changed (``--set items.KEY=VALUE``,
the value as JSON). The stage's prepared scans are cached in OUT-cache.

Run: .venv/bin/python -m benchmarks.item_stage --archive ARCHIVE --out DIR
         [--config study/configs/quality.yaml] [--steps N] [--set items.item_threshold=0.3 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from study.config import load_config
from study.items.stage import ensure_item_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True)
    parser.add_argument("--out", required=True, help="the stage's directory (prepared scans: OUT-cache)")
    parser.add_argument("--config", default="study/configs/quality.yaml")
    parser.add_argument("--steps", type=int, help="the stage's steps (default: the config's)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=JSON", help="config overrides")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    overrides: dict = {"data.archive": os.path.abspath(args.archive), "data.cache": out + "-cache"}
    if args.steps:
        overrides["items.steps"] = args.steps
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"--set {pair!r}: expected KEY=VALUE")
        overrides[key] = json.loads(value)
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    ensure_item_stage(load_config(args.config, overrides), out)
    print(f"item stage in {time.perf_counter() - started:.0f} s", flush=True)
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        print(f.read())


if __name__ == "__main__":
    main()
