"""Entry point: physics pretraining of the sub-component pipeline's dense features (`dualscan pretrain`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from scans.schema import reason
from study.pretrain_config import PretrainConfig  # no torch: its defaults are the help's


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the pretraining."""
    default = argparse.Namespace(**{name: f.default for name, f in PretrainConfig.model_fields.items()})
    parser = argparse.ArgumentParser("dualscan pretrain", add_help=add_help,
                                     description=summary_of("pretrain"))
    parser.add_argument("--out", required=True,
                        help="writes OUT/weights.pt (a config's training.weights) and OUT/pretrain.json")
    parser.add_argument("--backbone", default=default.backbone,
                        help=f"the U-Net's encoder (default {default.backbone})")
    parser.add_argument("--modality", default=default.modality,
                        help=f"the inputs, as the study that fine-tunes them (default {default.modality})")
    parser.add_argument("--size", type=int, default=default.size,
                        help=f"simulated scan side in pixels, 50 cm across (default {default.size}: 1 mm)")
    parser.add_argument("--scenes", type=int, default=default.scenes,
                        help=f"simulated scans to cut training tiles from (default {default.scenes})")
    parser.add_argument("--held-out", type=int, default=default.held_out,
                        help=f"more scans that measure the fit (default {default.held_out})")
    parser.add_argument("--tiles-per-scene", type=int, default=default.tiles_per_scene,
                        help=f"default {default.tiles_per_scene}")
    parser.add_argument("--tile", type=int, default=default.tile, help=f"tile side (default {default.tile})")
    parser.add_argument("--steps", type=int, default=default.steps, help=f"default {default.steps}")
    parser.add_argument("--batch", type=int, default=default.batch, help=f"default {default.batch}")
    parser.add_argument("--lr", type=float, default=default.lr, help=f"default {default.lr:g}")
    parser.add_argument("--eval-every", type=int, default=default.eval_every,
                        help=f"default {default.eval_every}")
    parser.add_argument("--seed", type=int, default=default.seed,
                        help=f"the scenes' seed; keep it apart from any archive's (default {default.seed})")
    parser.add_argument("--world", type=int, default=default.world,
                        help=f"the simulator's world the scenes come from (default {default.world}; "
                             "docs/simulator.md)")
    parser.add_argument("--no-context", dest="context", action="store_false",
                        help="mask each tile to its item (air outside), as the masked item input sees "
                             "items; default: the scan around it, as the context and frame inputs do")
    parser.add_argument("--workers", type=int, help="simulation processes (default: one per CPU)")
    return parser


def main(args: argparse.Namespace) -> int:
    from study.pretrain import pretrain

    try:
        config = PretrainConfig(backbone=args.backbone, modality=args.modality, size=args.size,
                                scenes=args.scenes, held_out=args.held_out,
                                tiles_per_scene=args.tiles_per_scene, tile=args.tile, seed=args.seed,
                                steps=args.steps, batch=args.batch, lr=args.lr, eval_every=args.eval_every,
                                world=args.world, context=args.context)
    except (KeyError, ValueError) as err:
        print(f"dualscan pretrain: {reason(err)}", file=sys.stderr)
        return 2
    record = pretrain(config, args.out, workers=args.workers)
    last = record["curve"][-1]
    print(f"{args.out}/weights.pt: held-out R² {last['r2']:.3f}, item-class accuracy "
          f"{last['class_accuracy']:.3f} after {last['step']} steps ({record['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
