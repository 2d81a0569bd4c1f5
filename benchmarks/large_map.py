"""Figures found on a large map, whole and in tiles: recall, mask mAP@.50, time and peak memory.

Builds ``--maps`` large maps with known ground truth and runs an exported model over them the
way a user does, once per configuration, and prints what each configuration found and cost.

The maps: each is a ``--grid`` x ``--grid`` grid of ``--cell_size`` px maps of the project's
generator (``synthetic_maps.generate_map_details``, seed ``--seed``; default 32 x 32 cells of
128 px: 4096 x 4096 px), placed side by side, so that every figure keeps the scale the
quickstart model was trained at (128 px maps, figures of 16 to 51 px). At most ``--figures``
figures per map (default 100: pycocotools' mAP counts the 100 best detections of an image):
cells are visited in a random order and drawn with their figures (1 to 8, the generator's
defaults) while they fit under the cap, every other cell is the same generated map drawn
without figures. Each map is ``maps/large_map_NN.png`` under ``--work_dir`` (default a new
temporary folder), its ground truth (COCO instances, compressed RLE masks, ``file_name`` the
map's file name) ``ground_truth.json``; the same seed gives the same files.

What is timed: for each configuration (``--configs``, from ``CONFIGS``: the whole map resized
by the model, tiles of 128 px, the scale the model was trained at, with and without the full
pass, tiles of 256 px) one command line, in its own child process::

    python evaluation.py --model M --images WORK/maps --ground_truth WORK/ground_truth.json \\
        --output_dir WORK/runs/NAME [--tile_size N --tile_overlap F --tile_full_pass]

(the code path of ``folder_commands.evaluate``: reading the maps, inference, merging the tiles'
detections, drawing, writing ``detections.json`` and scoring). Its wall time is that of the
whole command; "s/map" subtracts the wall time of the same command on one 128 px map
(start-up: importing TensorFlow, loading the model; measured once, run first) and divides by
the number of maps. Peak memory is the child's own peak resident set, ``VmHWM`` of
``/proc/self/status`` read by a small wrapper that runs ``evaluation.py`` with ``runpy`` in the
child and reads it when the script ends (``ru_maxrss`` of ``wait4`` would not do: a child
started by fork or vfork and exec starts from its parent's high-water mark).

Printed per configuration: mask mAP@.50 (``DetectionMasks_Precision/mAP@.50IOU`` of the
``metrics.json`` it wrote), recall of figures (ground-truth figures matched one-to-one, greedily
by score, by a detection scoring above 0.3, the drawing threshold, at mask IoU >= 0.5:
``pycocotools.mask.iou`` of the RLEs of its ``detections.json``), detections above 0.3, all
detections, wall time, s/map and peak RSS. A machine probe (``model_speed.machine_probe``: the
median GFLOP/s of a 2048 x 2048 float32 matrix product) is timed in this process before and
after the configurations, so that figures of other days and machines compare as ratios.

  python benchmarks/large_map.py --model /path/to/export
  python benchmarks/large_map.py --model /path/to/export --configs whole,tile128 --json
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
EVALUATION_SCRIPT = REPO / "evaluation.py"
MAP50_KEY = "DetectionMasks_Precision/mAP@.50IOU"
SCORE_THRESHOLD = 0.3      # evaluation.py's default drawing threshold (DEFAULT_SCORE_THRESHOLD)
IOU_THRESHOLD = 0.5
CATEGORY = {"id": 1, "name": "character"}   # configs/pictorial_maps_label_map.pbtxt


@dataclasses.dataclass(frozen=True)
class Config:
    """One way of running evaluation.py: without tiles (``tile_size`` 0) or in tiles."""

    name: str
    tile_size: int = 0
    overlap: float = 0.2
    full_pass: bool = True

    def flags(self) -> list[str]:
        if not self.tile_size:
            return []
        return ["--tile_size", str(self.tile_size), "--tile_overlap", f"{self.overlap:g}",
                "--tile_full_pass" if self.full_pass else "--no-tile_full_pass"]


CONFIGS = {c.name: c for c in (
    Config("whole"),
    Config("tile128", 128),
    Config("tile128_no_full_pass", 128, full_pass=False),
    Config("tile256", 256),
)}
DEFAULT_CONFIGS = "whole,tile128,tile128_no_full_pass,tile256"


# --- the maps and their ground truth ---------------------------------------------------------

@dataclasses.dataclass
class LargeMap:
    """A composed map: the image and its figures (annotations without ids)."""

    file_name: str
    image: np.ndarray                 # uint8 [H, W, 3]
    annotations: list[dict]           # bbox, area, iscrowd, category_id, segmentation (RLE)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, width, height]`` in pixels of the pixels of a non-empty mask (pixel
    edges: a single pixel at (x, y) is ``[x, y, 1, 1]``)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1 - cols[0]),
            float(rows[-1] + 1 - rows[0])]


def compose_grid(cells: Sequence[Sequence], file_name: str) -> LargeMap:
    """The maps ``cells[row][column]`` (``FigureMap``s, all of one size) side by side; the
    figures are the cells' instances 1..N, row by row, their masks and boxes shifted by the
    cell's place (the masks are encoded one at a time: no [N, H, W] array is made)."""
    from pycocotools import mask as mask_utils

    rows, cols = len(cells), len(cells[0])
    cell_h, cell_w = cells[0][0].instances.shape
    image = np.zeros((rows * cell_h, cols * cell_w, 3), np.uint8)
    scratch = np.zeros((rows * cell_h, cols * cell_w), np.uint8, order="F")
    annotations = []
    for r, row in enumerate(cells):
        if len(row) != cols:
            raise ValueError(f"grid row {r} has {len(row)} cells, row 0 has {cols}")
        for c, cell in enumerate(row):
            if cell.instances.shape != (cell_h, cell_w):
                raise ValueError(f"cell ({r}, {c}) is {cell.instances.shape}, expected "
                                 f"{(cell_h, cell_w)}")
            top, left = r * cell_h, c * cell_w
            image[top:top + cell_h, left:left + cell_w] = cell.image
            for k in range(1, int(cell.instances.max(initial=0)) + 1):
                mask = cell.instances == k
                if not mask.any():
                    continue
                x, y, w, h = mask_bbox(mask)
                scratch[top:top + cell_h, left:left + cell_w] = mask
                rle = mask_utils.encode(scratch)
                scratch[top:top + cell_h, left:left + cell_w] = 0
                annotations.append({
                    "category_id": CATEGORY["id"], "iscrowd": 0,
                    "bbox": [x + left, y + top, w, h], "area": float(mask.sum()),
                    "segmentation": {"size": [int(v) for v in rle["size"]],
                                     "counts": rle["counts"].decode("ascii")}})
    return LargeMap(file_name, image, annotations)


def sparse_grid(seed: int, map_index: int, grid: int, cell_size: int,
                max_figures: int) -> list[list]:
    """``grid`` x ``grid`` generated maps of ``cell_size`` px: cell i of map m is
    ``generate_map_details(seed, ..., index=m * grid**2 + i)``; cells are visited in a random
    order (of ``seed`` and ``map_index``) and keep their figures while the total stays at most
    ``max_figures``; every other cell is drawn without figures."""
    from object_detection.dataset_tools.synthetic_maps import generate_map_details

    count = grid * grid
    order = np.random.default_rng([seed, map_index, 0x4C41]).permutation(count)
    kept: dict[int, object] = {}
    total = 0
    for i in order:
        if total >= max_figures:
            break
        cell = generate_map_details(seed, cell_size, cell_size, index=map_index * count + int(i))[0]
        if 0 < cell.num_figures <= max_figures - total:
            kept[int(i)] = cell
            total += cell.num_figures
    cells = [kept.get(i) or generate_map_details(
        seed, cell_size, cell_size, index=map_index * count + i, min_figures=0,
        max_figures=0)[0] for i in range(count)]
    return [cells[r * grid:(r + 1) * grid] for r in range(grid)]


def ground_truth_json(maps: Sequence[LargeMap]) -> dict:
    """COCO instances dataset of ``maps``: image ids 1..M, annotation ids 1..N."""
    images, annotations = [], []
    for image_id, large_map in enumerate(maps, start=1):
        images.append({"id": image_id, "file_name": large_map.file_name,
                       "height": large_map.height, "width": large_map.width})
        for annotation in large_map.annotations:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **annotation})
    return {"images": images, "annotations": annotations, "categories": [dict(CATEGORY)]}


def build_maps(work_dir: Path, num_maps: int, seed: int, grid: int, cell_size: int,
               max_figures: int) -> tuple[Path, Path, dict]:
    """Writes the maps into ``work_dir/maps`` and their ground truth; returns (maps folder,
    ground truth path, the ground truth)."""
    from PIL import Image

    maps_dir = work_dir / "maps"
    shutil.rmtree(maps_dir, ignore_errors=True)
    maps_dir.mkdir(parents=True)
    maps = []
    for m in range(num_maps):
        large_map = compose_grid(sparse_grid(seed, m, grid, cell_size, max_figures),
                                 f"large_map_{m:02d}.png")
        Image.fromarray(large_map.image).save(maps_dir / large_map.file_name)
        large_map.image = large_map.image[:, :, :0]     # keep the size, free the pixels
        maps.append(large_map)
    ground_truth = ground_truth_json(maps)
    gt_path = work_dir / "ground_truth.json"
    gt_path.write_text(json.dumps(ground_truth), encoding="utf-8")
    return maps_dir, gt_path, ground_truth


def build_startup_map(work_dir: Path, seed: int, cell_size: int) -> tuple[Path, Path]:
    """One ``cell_size`` px map with its ground truth, for timing evaluation.py's start-up."""
    from PIL import Image

    from object_detection.dataset_tools.synthetic_maps import generate_map_details

    folder = work_dir / "startup"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "maps").mkdir(parents=True)
    small = compose_grid([[generate_map_details(seed, cell_size, cell_size, index=0)[0]]],
                         "startup.png")
    Image.fromarray(small.image).save(folder / "maps" / small.file_name)
    gt_path = folder / "ground_truth.json"
    gt_path.write_text(json.dumps(ground_truth_json([small])), encoding="utf-8")
    return folder / "maps", gt_path


# --- recall ----------------------------------------------------------------------------------

def greedy_matches(gt_rles: Sequence[dict], dt_rles: Sequence[dict],
                   dt_scores: Sequence[float], iou_threshold: float = IOU_THRESHOLD) -> int:
    """Ground-truth masks matched one-to-one by detections, taken in order of falling score:
    each takes the unmatched ground truth it overlaps most, if that mask IoU is at least
    ``iou_threshold`` (pycocotools' rule for one IoU threshold, without crowds)."""
    if not gt_rles or not dt_rles:
        return 0
    from pycocotools import mask as mask_utils

    ious = np.asarray(mask_utils.iou(list(dt_rles), list(gt_rles), [0] * len(gt_rles)),
                      np.float64).reshape(len(dt_rles), len(gt_rles))
    free = np.ones(len(gt_rles), bool)
    for d in np.argsort(-np.asarray(dt_scores, np.float64), kind="stable"):
        candidates = np.where(free, ious[d], -1.0)
        g = int(np.argmax(candidates))
        if candidates[g] >= iou_threshold:
            free[g] = False
    return int((~free).sum())


def recall_of(ground_truth: dict, detections: Sequence[dict],
              score_threshold: float = SCORE_THRESHOLD,
              iou_threshold: float = IOU_THRESHOLD) -> dict:
    """Matched figures, figures, recall and detections above ``score_threshold`` (strictly, as
    the drawing) of COCO ``detections`` (results with RLE ``segmentation``) against the
    ``ground_truth`` dataset, image by image."""
    matched = figures = above = 0
    for image in ground_truth["images"]:
        gts = [a["segmentation"] for a in ground_truth["annotations"]
               if a["image_id"] == image["id"] and not a.get("iscrowd")]
        dts = [d for d in detections
               if d["image_id"] == image["id"] and d["score"] > score_threshold]
        figures += len(gts)
        above += len(dts)
        matched += greedy_matches(gts, [d["segmentation"] for d in dts],
                                  [d["score"] for d in dts], iou_threshold)
    return {"matched": matched, "figures": figures, "detections_above": above,
            "recall": matched / figures if figures else float("nan")}


# --- running a configuration -----------------------------------------------------------------

# Runs the script named after the peak file like `python SCRIPT ARGS...` and, when it ends
# (normally, by sys.exit or by an exception), writes this process's peak resident set (VmHWM:
# the high-water mark of its own address space, which exec started afresh) as JSON.
_WRAPPER = """\
import json, os, resource, runpy, sys
peak_file = sys.argv[1]
sys.argv = sys.argv[2:]
sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    peak = {"ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak["vmhwm_kib"] = int(line.split()[1])
    except OSError:
        pass
    with open(peak_file, "w") as f:
        json.dump(peak, f)
"""


@dataclasses.dataclass
class Run:
    name: str
    command: list[str]
    returncode: int
    wall_s: float
    peak_rss_mib: float | None
    peak_source: str
    log: str
    output_dir: str


def run_child(name: str, args: list[str], output_dir: Path, log_path: Path) -> Run:
    """``python evaluation.py ARGS --output_dir OUTPUT_DIR`` in a child process (through
    ``_WRAPPER``), its output to ``log_path``; its wall time and peak RSS."""
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    peak_file = log_path.with_suffix(".peak.json")
    peak_file.unlink(missing_ok=True)
    command = [str(EVALUATION_SCRIPT), *args, "--output_dir", str(output_dir)]
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        returncode = subprocess.call([sys.executable, "-c", _WRAPPER, str(peak_file), *command],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        wall = time.perf_counter() - start
    peak, source = None, "none"
    if peak_file.exists():
        values = json.loads(peak_file.read_text(encoding="utf-8"))
        if "vmhwm_kib" in values:
            peak, source = values["vmhwm_kib"] / 1024.0, "VmHWM"
        else:
            peak, source = values["ru_maxrss_kib"] / 1024.0, "ru_maxrss"
    return Run(name, ["python", *command], returncode, wall, peak, source, str(log_path),
               str(output_dir))


def score_run(run: Run, ground_truth: dict) -> dict:
    """The figures of a finished run: mAP@.50 from its metrics.json, recall from its
    detections.json."""
    out = Path(run.output_dir)
    result: dict = {"map50": None, "detections": None}
    if run.returncode != 0 or not (out / "detections.json").exists():
        return result
    detections = json.loads((out / "detections.json").read_text(encoding="utf-8"))
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    result["map50"] = metrics.get(MAP50_KEY)
    result["detections"] = len(detections)
    result.update(recall_of(ground_truth, detections))
    return result


def machine_probe() -> float:
    """``benchmarks/model_speed.py``'s probe (benchmarks/ is no package: loaded by path)."""
    spec = importlib.util.spec_from_file_location(
        "benchmarks_model_speed", Path(__file__).resolve().parent / "model_speed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.machine_probe()


def tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace")
                         .splitlines()[-lines:])
    except OSError:
        return ""


def format_table(rows: list[dict]) -> str:
    head = (f"{'configuration':22s} {'mAP@.50':>7s} {'recall':>14s} {'dets>0.3':>8s} "
            f"{'dets':>6s} {'wall s':>7s} {'s/map':>7s} {'peak RSS MiB':>12s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["returncode"] != 0:
            lines.append(f"{r['name']:22s} failed (exit {r['returncode']}), see {r['log']}")
            continue
        map50 = f"{r['map50']:7.3f}" if r["map50"] is not None else f"{'?':>7s}"
        recall = (f"{r['recall']:.3f} ({r['matched']}/{r['figures']})"
                  if "recall" in r else "?")
        peak = f"{r['peak_rss_mib']:12.0f}" if r["peak_rss_mib"] is not None else f"{'?':>12s}"
        lines.append(f"{r['name']:22s} {map50} {recall:>14s} {r['detections_above']:8d} "
                     f"{r['detections']:6d} {r['wall_s']:7.1f} {r['s_per_map']:7.1f} {peak}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="exported model (evaluation.py --model)")
    parser.add_argument("--work_dir", help="where the maps, ground truth and runs go (default "
                                           "a new temporary folder, kept)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--maps", type=int, default=1, help="large maps (default 1)")
    parser.add_argument("--grid", type=int, default=32,
                        help="cells per side of a map (default 32)")
    parser.add_argument("--cell_size", type=int, default=128,
                        help="side of a cell in pixels (default 128, the quickstart maps')")
    parser.add_argument("--figures", type=int, default=100,
                        help="at most this many figures per map (default 100)")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help=f"comma-separated, of {', '.join(CONFIGS)} (default "
                             f"{DEFAULT_CONFIGS})")
    parser.add_argument("--eval_arg", action="append", default=[],
                        help="a further argument for evaluation.py (repeatable, e.g. "
                             "--eval_arg=--batch_size=4)")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object instead of the table")
    args = parser.parse_args(argv)
    try:
        names = [n.strip() for n in args.configs.split(",") if n.strip()]
        unknown = [n for n in names if n not in CONFIGS]
        if unknown or not names:
            raise ValueError(f"--configs: unknown {unknown}, choose from {', '.join(CONFIGS)}")
        if min(args.maps, args.grid, args.figures) < 1 or args.cell_size < 32:
            raise ValueError("--maps, --grid and --figures must be >= 1, --cell_size >= 32")
        if not Path(args.model).exists():
            raise FileNotFoundError(f"--model {args.model}: no such file or folder")
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # the probe's TensorFlow, quiet
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else \
        (lambda *a: print(*a, flush=True))
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="large_map_")).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    model = str(Path(args.model).resolve())

    start = time.perf_counter()
    maps_dir, gt_path, ground_truth = build_maps(work_dir, args.maps, args.seed, args.grid,
                                                 args.cell_size, args.figures)
    size = args.grid * args.cell_size
    say(f"built {args.maps} map(s) of {size}x{size} px ({args.grid}x{args.grid} generated "
        f"{args.cell_size} px maps, seed {args.seed}) with {len(ground_truth['annotations'])} "
        f"figures in {time.perf_counter() - start:.1f} s: {maps_dir}, {gt_path}")
    startup_maps, startup_gt = build_startup_map(work_dir, args.seed, args.cell_size)

    probes = [machine_probe()]
    common = [*args.eval_arg]
    startup = run_child("startup", ["--model", model, "--images", str(startup_maps),
                                    "--ground_truth", str(startup_gt), *common],
                        work_dir / "runs" / "startup", work_dir / "runs" / "startup.log")
    if startup.returncode != 0:
        say(f"evaluation.py failed on the start-up map (exit {startup.returncode}):\n"
            f"{tail(startup.log)}")
        return 1
    say(f"start-up (evaluation.py on one {args.cell_size} px map): {startup.wall_s:.1f} s, "
        f"peak RSS {startup.peak_rss_mib:.0f} MiB")
    rows = []
    for name in names:
        config = CONFIGS[name]
        run = run_child(name, ["--model", model, "--images", str(maps_dir), "--ground_truth",
                               str(gt_path), *config.flags(), *common],
                        work_dir / "runs" / name, work_dir / "runs" / f"{name}.log")
        row = {"name": name, "flags": config.flags(), **dataclasses.asdict(run),
               "s_per_map": (run.wall_s - startup.wall_s) / args.maps,
               **score_run(run, ground_truth)}
        rows.append(row)
        if run.returncode != 0:
            say(f"{name}: evaluation.py failed (exit {run.returncode}):\n{tail(run.log)}")
        else:
            say(f"{name}: {run.wall_s:.1f} s")
    probes.append(machine_probe())

    summary = {
        "model": model, "work_dir": str(work_dir), "seed": args.seed, "maps": args.maps,
        "map_size": [size, size], "grid": args.grid, "cell_size": args.cell_size,
        "figures": len(ground_truth["annotations"]), "score_threshold": SCORE_THRESHOLD,
        "iou_threshold": IOU_THRESHOLD, "cpu_count": os.cpu_count(),
        "machine_probe_gflops": {"before": probes[0], "after": probes[1]},
        "startup": {"wall_s": startup.wall_s, "peak_rss_mib": startup.peak_rss_mib},
        "peak_rss_source": startup.peak_source, "configs": rows}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"\n{args.maps} map(s) of {size}x{size} px, {summary['figures']} figures, "
              f"model {model}, {os.cpu_count()} CPUs:")
        print(format_table(rows))
        print(f"(recall: figures matched one-to-one by detections scoring above "
              f"{SCORE_THRESHOLD} at mask IoU >= {IOU_THRESHOLD}; mAP@.50: {MAP50_KEY} of "
              "evaluation.py's metrics.json, all detections; wall s: the whole evaluation.py "
              f"command; s/map: less the start-up ({startup.wall_s:.1f} s, evaluation.py on "
              f"one {args.cell_size} px map), per map; peak RSS: the child's "
              f"{startup.peak_source})")
        print(f"machine probe (2048 x 2048 float32 matmul, GFLOP/s): {probes[0]:.1f} before, "
              f"{probes[1]:.1f} after")
        print(f"work folder: {work_dir}")
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
