"""Entry point: copy what scoring needs of a trained model directory and write its model card
(study.model_card, the study's best/ has the same) (`dualscan export-model`): how `make demo-model`
packs the shipped demo model."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from models.model_dir import CONFIG_FILE, WEIGHTS_FILE, ModelDirectory, ModelDirError


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the export."""
    parser = argparse.ArgumentParser("dualscan export-model", add_help=add_help,
                                     description=summary_of("export-model"))
    parser.add_argument("model", metavar="MODEL_DIR",
                        help="a trained model directory (`dualscan train --out`)")
    parser.add_argument("out", metavar="OUT_DIR", help="where to write the scoring files and model_card.md")
    parser.add_argument("--rebuild", default="", help="the command that rebuilds it, for the model card")
    parser.add_argument("--onnx", action="store_true",
                        help="also write every network the model runs as ONNX files (OUT/onnx/, dynamic "
                             "image sizes) for `dualscan score --runtime onnx` and other runtimes "
                             "(pip install 'dualscan[onnx]')")
    parser.add_argument("--half", action="store_true",
                        help="store the weights as float16 (half the bytes; loaded back into float32)")
    return parser


def main(args: argparse.Namespace) -> int:
    source, target = ModelDirectory(args.model), ModelDirectory(args.out)
    try:  # what `dualscan score` and `evaluate` read (ModelDirectory.scoring_files); the rest stays
        files = source.scoring_files() if source.has(CONFIG_FILE) else [CONFIG_FILE]
    except (ModelDirError, KeyError) as err:
        print(f"dualscan export-model: {err}", file=sys.stderr)
        return 2
    missing = [name for name in files if not source.has(name)]
    if missing:
        print(f"dualscan export-model: {args.model} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    from study.evaluation import read_scores_npz
    from study.model_card import card_of, write_card

    source.copy_to(target, half=args.half)
    scores = source.scores_data()
    scores = None if scores is None else read_scores_npz(scores)
    write_card(target, card_of(target, args.model, scores), args.rebuild, args.half)
    size = sum(len(target.read(name)) for name in files)
    print(f"model: {args.out} ({size / 1e6:.2f} MB, sha256 of {WEIGHTS_FILE} {target.sha256()})")
    if args.onnx:
        from models.onnx_export import export_onnx
        from models.onnx_networks import NotExportableError

        try:
            networks = export_onnx(args.out)
        except (NotExportableError, ImportError) as err:
            print(f"dualscan export-model --onnx: {err}", file=sys.stderr)
            return 2
        files = [f"{name} ({entry['file']})" for name, entry in networks.items()]
        print(f"onnx: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
