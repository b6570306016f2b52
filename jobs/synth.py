"""Entry point: write a synthetic DEEi-like archive (`dualscan synth`, `python -m jobs.synth`)."""

from __future__ import annotations

import argparse
import sys
import time

from jobs.commands import finished, summary_of
from scans.phantoms.anomalies import ANOMALIES
from scans.phantoms.worlds import DEFAULT_WORLD, WORLDS, world_classes
from scans.schema import reason


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the synth job."""
    parser = argparse.ArgumentParser(
        "dualscan synth", add_help=add_help,
        description=summary_of("synth"),
    )
    parser.add_argument("--out", required=True, help="archive directory or URI (s3://, gs://)")
    parser.add_argument("--world", type=int, default=DEFAULT_WORLD, choices=[int(w) for w in WORLDS],
                        help=f"which simulated world (default {DEFAULT_WORLD}): 1, one template per item "
                             "class with anomalies in fixed hiding places (what the shipped detectors were "
                             "trained on); 2, many models per class, look-alikes of every anomaly kind, "
                             "bag contents, anomalies anywhere inside an item")
    parser.add_argument("--split-by", choices=["model", "scan"], default=None,
                        help="model (world 2's default): val and test scans hold only item models that "
                             "train never saw, a fixed share of each class's models chosen by id; scan: "
                             "any model anywhere (world 1 has only this)")
    parser.add_argument("--hold-out-class", default="", metavar="NAME",
                        help="an item class that appears only in test scans, for a new-item-type figure")
    parser.add_argument("--n", type=int, default=64, help="number of scans (default 64)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--size-jitter", type=float, default=0.0, metavar="F",
                        help="scans of differing sizes, as real ones are: each scan's height and width "
                             "drawn in [size·(1 − F), size] at the same pitch (default 0: all size²)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--split", type=float, default=0.7,
                        help="fraction of scans in train and val together, the rest in test (default 0.7)")
    parser.add_argument("--val", type=float, default=0.1,
                        help="fraction of all scans in val, carved from the --split share (default 0.1: "
                             "60/10/30 train/val/test); 0 for no val split")
    parser.add_argument("--pitch-mm", type=float, default=None,
                        help="detector pixel pitch in mm (default: the 50 cm tray fills the image: "
                             "1.95 mm at 256², 0.98 mm at 512², a real scanner's pitch)")
    parser.add_argument("--anomaly-rate", type=float, default=0.5,
                        help="probability that an item hides an anomaly (default 0.5)")
    parser.add_argument("--anomaly-kinds", default="",
                        help="comma-separated kinds to draw from (default all: "
                             f"{', '.join(sorted(ANOMALIES))})")
    parser.add_argument("--anomaly-scale", type=float, default=1.0,
                        help="anomaly sizes × this (default 1; larger makes easy test archives)")
    parser.add_argument("--aligned-anomalies", action="store_true",
                        help="draw every anomaly along its item's axes, as its own parts lie (the same "
                             "kinds, places and sizes as without): a detector that only learnt 'off-axis' "
                             "fails there")
    parser.add_argument("--max-items", type=int, default=3, help="items per scan, at most")
    parser.add_argument("--items", default="",
                        help="comma-separated item classes to draw from (default all of the world's; "
                             f"world 1: {', '.join(world_classes(1))}; world 2: "
                             f"{', '.join(world_classes(2))})")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes (default: one per CPU); the output does not depend on it")
    parser.add_argument("--no-previews", action="store_true", help="skip previews/<id>.png")
    parser.add_argument("--preview", action="store_true",
                        help="also write a contact sheet PNG (pseudo, high, low, Z_eff) of the archive")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--only-splits", default="", metavar="S,..",
                        help="write only these splits' scans (e.g. val,test), each the same bytes as in the "
                             "whole archive: to re-score a seeded archive's test without its train scans")
    return parser


def main(args: argparse.Namespace) -> int:
    """Synthesise the archive and print where it is."""
    from scans.archive import Archive
    from scans.preview import archive_contact_sheet
    from scans.synth import SynthConfig, synthesise

    try:
        kinds = tuple(k.strip() for k in args.anomaly_kinds.split(",") if k.strip())
        items = tuple(k.strip() for k in args.items.split(",") if k.strip())
        config = SynthConfig(n=args.n, size=args.size, size_jitter=args.size_jitter, seed=args.seed,
                             split=args.split,
                             val=args.val, anomaly_rate=args.anomaly_rate, anomaly_kinds=kinds,
                             anomaly_scale=args.anomaly_scale, anomaly_aligned=args.aligned_anomalies,
                             pitch_mm=args.pitch_mm, item_classes=items,
                             max_items=args.max_items, previews=not args.no_previews, world=args.world,
                             hold_out_class=args.hold_out_class,
                             **({"split_by": args.split_by} if args.split_by else {}))
    except ValueError as err:
        print(f"dualscan synth: {reason(err)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    only = tuple(s.strip() for s in args.only_splits.split(",") if s.strip())
    try:
        root = synthesise(config, args.out, workers=args.workers, progress=not args.quiet, only_splits=only)
    except ValueError as err:
        print(f"dualscan synth: --only-splits: {err}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    archive = Archive(root.uri)
    anomalous = sum(bool(a) for a in archive.manifest.column("is_anomalous").to_pylist())
    splits = archive.manifest.column("split").to_pylist()
    counts = "/".join(str(splits.count(s)) for s in ("train", "val", "test"))
    print(f"archive: {root.uri}  (world {config.world}, split by {config.split_by}, {len(archive)} scans, "
          f"{anomalous} anomalous, train/val/test {counts}, pitch {config.resolved_pitch_mm:.3g} mm, "
          f"{elapsed:.1f} s, {len(archive) / elapsed:.1f} scans/s)")
    if args.preview:
        sheet = root.uri_of("contact_sheet.png")
        root.write_bytes("contact_sheet.png", archive_contact_sheet(root.uri))
        print(f"contact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
