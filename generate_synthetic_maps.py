"""Writes synthetic pictorial maps with human figures as a figure folder.

Examples:
  python generate_synthetic_maps.py --output_dir data/synthetic --num_maps 1000 --seed 0
  python generate_synthetic_maps.py --output_dir data/separated --num_maps 500 --seed 1 \\
      --paste_from data/train
  python generate_synthetic_maps.py --output_dir data/mixed --num_maps 500 --seed 2 \\
      --paste_from data/train --backgrounds data/maps_without_figures
"""

from __future__ import annotations

import argparse
import logging
import sys

from object_detection import cli
from object_detection.dataset_tools import synthetic_maps


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Generate synthetic pictorial maps with human figures (images/, masks/, "
                    "keypoints/ folders). Without --paste_from the figures are drawn from "
                    "body parts; with it, figures are cut from that figure folder and pasted "
                    "onto generated, plain or --backgrounds images.")
    parser.add_argument("--output_dir", required=True, help="folder to write the maps into")
    parser.add_argument("--num_maps", type=int, required=True, help="how many maps to write")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; map i depends only on (seed, i) (default 0)")
    parser.add_argument("--height", type=int, default=512, help="map height in px (512)")
    parser.add_argument("--width", type=int, default=512, help="map width in px (512)")
    parser.add_argument("--format", choices=("png", "jpg"), default="png",
                        help="image file format (masks are always png) (png)")
    parser.add_argument("--max_figures", type=int, default=None,
                        help="most figures per map (8 generated, 6 pasted)")
    parser.add_argument("--max_occlusion", type=float, default=0.5,
                        help="largest hidden fraction of a figure allowed when placing "
                             "later ones; 1 allows full occlusion (0.5)")
    parser.add_argument("--paste_from", default=None,
                        help="figure folder to cut figures from (paste mode)")
    parser.add_argument("--backgrounds", default=None,
                        help="folder of background images for paste mode (else generated or "
                             "plain backgrounds)")
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backgrounds and not args.paste_from:
        parser.error("--backgrounds needs --paste_from (it only applies to paste mode)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = {"max_occlusion": args.max_occlusion}
    if args.max_figures is not None:
        options["max_figures"] = args.max_figures
    try:
        if args.paste_from:
            stats = synthetic_maps.paste_figures(
                args.paste_from, args.output_dir, args.num_maps, args.seed,
                backgrounds_dir=args.backgrounds, height=args.height, width=args.width,
                image_format=args.format, **options)
        else:
            stats = synthetic_maps.generate_folder(
                args.output_dir, args.num_maps, args.seed, args.height, args.width,
                image_format=args.format, **options)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(stats.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
