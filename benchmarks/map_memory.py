"""Peak memory of the figure tools on an 8000 x 6000 map with a hundred and more detections.

Builds one map of ``--width`` x ``--height`` pixels (default 8000 x 6000) from the project's
generator: a grid of ``--cell_size`` px generated maps side by side (as
``benchmarks/large_map.py`` builds its maps; up to ``--figures`` of them, default 300), with
its COCO ground truth. Then runs, each in its own child process, the command
lines a user runs on it::

    evaluation.py --model M --images MAPS --ground_truth GT --output_dir OUT [--tile_size N]
    extract_characters_for_animation.py --model M --images MAPS --output_dir OUT
        --score_threshold S [--tile_size N]

and prints for each: the detections it used (evaluation: every detection the COCO metrics
see; extraction: the figures written), its wall time and its peak resident set (``VmHWM`` of
the child itself, read by ``large_map.py``'s wrapper when the script ends). The code path
measured is the whole command: reading the map, inference (whole or in tiles, merging), the
box-crop masks, drawing or cutting out, the COCO RLEs and the metrics. The start-up of
``evaluation.py`` on one 128 px map (TensorFlow and the model loaded) is printed first, so
that what the map itself costs can be read off. A machine probe (a 2048 x 2048 float32 matrix
product, GFLOP/s) is timed before and after.

``--repo`` runs the scripts of another checkout (for a before / after comparison, e.g. a
``git worktree`` of an older commit) on the same map.

  python benchmarks/map_memory.py --model exported/quickstart
  python benchmarks/map_memory.py --model exported/quickstart --width 2000 --height 1500 \\
      --repo /tmp/old_checkout
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _large_map_module():
    """``benchmarks/large_map.py`` (benchmarks/ is no package: loaded by path)."""
    spec = importlib.util.spec_from_file_location("benchmarks_large_map",
                                                  REPO / "benchmarks" / "large_map.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_map(work_dir: Path, width: int, height: int, cell_size: int, seed: int,
              max_figures: int):
    """Writes ``work_dir/maps/map.png`` (``width`` x ``height``, cut down to whole cells) and
    ``work_dir/ground_truth.json``; returns (maps folder, ground truth path, figures, width,
    height). Cells are visited in a random order and drawn with their figures while the total
    stays at most ``max_figures``; the others without figures. Ground-truth RLEs are made from
    each figure's crop (``coco_segmentation.crop_to_rle``)."""
    import numpy as np
    from PIL import Image

    from object_detection.dataset_tools.coco_segmentation import crop_to_rle
    from object_detection.dataset_tools.synthetic_maps import generate_map_details

    large_map = _large_map_module()
    rows, cols = height // cell_size, width // cell_size
    image = np.zeros((rows * cell_size, cols * cell_size, 3), np.uint8)
    annotations, total = [], 0
    order = np.random.default_rng([seed, 0x4D4D]).permutation(rows * cols)
    for i in order:
        r, c = divmod(int(i), cols)
        cell = generate_map_details(seed, cell_size, cell_size, index=int(i))[0]
        if not 0 < cell.num_figures <= max_figures - total:
            cell = generate_map_details(seed, cell_size, cell_size, index=int(i),
                                        min_figures=0, max_figures=0)[0]
        top, left = r * cell_size, c * cell_size
        image[top:top + cell_size, left:left + cell_size] = cell.image
        for k in range(1, int(cell.instances.max(initial=0)) + 1):
            mask = cell.instances == k
            if not mask.any():
                continue
            x, y, w, h = large_map.mask_bbox(mask)
            crop = mask[int(y):int(y + h), int(x):int(x + w)]
            annotations.append({
                "category_id": large_map.CATEGORY["id"], "iscrowd": 0,
                "bbox": [x + left, y + top, w, h], "area": float(mask.sum()),
                "segmentation": crop_to_rle(crop, int(x) + left, int(y) + top, *image.shape[:2])})
            total += 1
    maps_dir = work_dir / "maps"
    shutil.rmtree(maps_dir, ignore_errors=True)
    maps_dir.mkdir(parents=True)
    Image.fromarray(image).save(maps_dir / "map.png")
    composed = large_map.LargeMap("map.png", image[:, :, :0], annotations)
    composed_height, composed_width = image.shape[:2]
    ground_truth = large_map.ground_truth_json([composed])
    ground_truth["images"][0].update(height=composed_height, width=composed_width)
    gt_path = work_dir / "ground_truth.json"
    gt_path.write_text(json.dumps(ground_truth), encoding="utf-8")
    return maps_dir, gt_path, len(annotations), composed_width, composed_height


def run_child(script: Path, args: list[str], log_path: Path, wrapper: str) -> dict:
    """``python SCRIPT ARGS`` in a child process (through ``wrapper``): wall time, peak RSS."""
    peak_file = log_path.with_suffix(".peak.json")
    peak_file.unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-c", wrapper, str(peak_file), str(script), *args],
                               stdout=log, stderr=subprocess.STDOUT, cwd=script.parent)
        wall = time.perf_counter() - start
    peak = None
    if peak_file.exists():
        values = json.loads(peak_file.read_text(encoding="utf-8"))
        peak = values.get("vmhwm_kib", values.get("ru_maxrss_kib")) / 1024.0
    return {"returncode": code, "wall_s": wall, "peak_rss_mib": peak, "log": str(log_path)}


def _used(kind: str, output_dir: Path) -> int | None:
    """Detections the run used: those of detections.json (evaluation) or figures written."""
    if kind == "evaluation":
        path = output_dir / "detections.json"
        return len(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None
    config = output_dir / "map" / "config.json"
    if not config.exists():
        return None
    return int(json.loads(config.read_text(encoding="utf-8"))["numberOfCharacters"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="exported model")
    parser.add_argument("--work_dir", help="where the map and outputs go (default: a new "
                                           "temporary folder, kept)")
    parser.add_argument("--width", type=int, default=8000)
    parser.add_argument("--height", type=int, default=6000)
    parser.add_argument("--cell_size", type=int, default=125,
                        help="side of the generated maps the map is made of (default 125)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", type=int, default=300,
                        help="at most this many figures on the map (default 300)")
    parser.add_argument("--tile_size", type=int, default=256,
                        help="tile size of the tiled runs (default 256)")
    parser.add_argument("--score_threshold", type=float, default=0.1,
                        help="extraction's score threshold (default 0.1: many figures written)")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the checkout whose scripts are run (default this one)")
    parser.add_argument("--whole_only", action="store_true",
                        help="only the whole-map runs (e.g. for an old checkout without tiling)")
    args = parser.parse_args(argv)
    large_map = _large_map_module()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="map_memory_"))
    work.mkdir(parents=True, exist_ok=True)
    probe_before = large_map.machine_probe()
    start = time.perf_counter()
    maps_dir, gt_path, figures, width, height = build_map(work, args.width, args.height,
                                                          args.cell_size, args.seed,
                                                          args.figures)
    print(f"built a {width}x{height} map with {figures} figures in "
          f"{time.perf_counter() - start:.1f} s: {maps_dir}", flush=True)
    startup_maps, startup_gt = large_map.build_startup_map(work, args.seed, 128)
    evaluation, extraction = args.repo / "evaluation.py", args.repo / "extract_characters_for_animation.py"
    runs = [("start-up (one 128 px map)", "evaluation", evaluation,
             ["--images", str(startup_maps), "--ground_truth", str(startup_gt)])]
    tiles = [[]] if args.whole_only else [[], ["--tile_size", str(args.tile_size)]]
    for tile in tiles:
        what = f"tiles of {args.tile_size}" if tile else "whole map"
        runs.append((f"evaluation.py, {what}", "evaluation", evaluation,
                     ["--images", str(maps_dir), "--ground_truth", str(gt_path), *tile]))
        runs.append((f"extraction, {what}", "extraction", extraction,
                     ["--images", str(maps_dir), "--score_threshold", str(args.score_threshold),
                      *tile]))
    rows = []
    for index, (name, kind, script, extra) in enumerate(runs):
        output_dir = work / "runs" / f"run{index}"
        shutil.rmtree(output_dir, ignore_errors=True)
        result = run_child(script, ["--model", str(Path(args.model).resolve()), *extra,
                                    "--output_dir", str(output_dir)],
                           work / "runs" / f"run{index}.log", large_map._WRAPPER)
        result.update(name=name, used=_used(kind, output_dir))
        rows.append(result)
        print(f"{name}: exit {result['returncode']}, {result['wall_s']:.1f} s", flush=True)
    probe_after = large_map.machine_probe()
    print(f"\n{width}x{height} map, {figures} figures, model {args.model}, scripts of "
          f"{args.repo}:")
    print(f"{'run':34s} {'detections':>10s} {'wall s':>7s} {'peak RSS MiB':>12s}")
    for row in rows:
        if row["returncode"] != 0:
            print(f"{row['name']:34s} failed (exit {row['returncode']}), see {row['log']}")
            continue
        used = "" if row["used"] is None else str(row["used"])
        print(f"{row['name']:34s} {used:>10s} {row['wall_s']:7.1f} {row['peak_rss_mib']:12.0f}")
    print("(detections: evaluation.py, every detection in detections.json; extraction, the "
          f"figures written above --score_threshold {args.score_threshold}; peak RSS: the "
          "child's own VmHWM)")
    print(f"machine probe (2048 x 2048 float32 matmul, GFLOP/s): {probe_before:.1f} before, "
          f"{probe_after:.1f} after")
    print(f"work folder: {work}")
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
