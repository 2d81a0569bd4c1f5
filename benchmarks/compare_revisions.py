"""Speed of a git revision's model against the working tree's, measured in one run.

Exports the ``object_detection`` package of ``--rev`` (``git archive``) to a temporary folder,
then runs the WORKING TREE's ``benchmarks/model_speed.py`` once with ``PYTHONPATH`` pointing at
that folder (the same benchmark code, with its benchmark weights, times the old package's
model and Trainer) and once per ``--precision`` with the working tree's package, each in its
own process, from the repository root (so config paths resolve alike). ``--repeats N`` runs
that sequence N times, alternating old and new, so that a change of the machine's speed
during the run hits both; figures are the medians over the repeats. The old revision always
runs in float32 (what it has); the working tree in each ``--precision`` (repeatable, default
float32). The temporary folder is removed afterwards.

Printed: per run, inference seconds per image, training seconds per step, the stages of
inference where the package has them, the machine probes (GFLOP/s of a fixed float32
convolution before inference, before training and after training) and the detections per
image; then the speed-ups old / new, plain and probe-normalized: each time multiplied by the
probe measured next to it (inference: the probe before it; training: the mean of the two
around it), which takes out the machine's speed at that moment (another process on it, a
virtual machine's share of its host). ``--json PATH`` writes every run's figures and the
ratios.

  python benchmarks/compare_revisions.py --rev bf10639 \\
      --config configs/mask_rcnn_resnet101_atrous_pictorial_maps.config --size 800x1365 \\
      --steps 3 --precision float32 --precision bfloat16
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARK = REPO / "benchmarks" / "model_speed.py"
PACKAGE = "object_detection"
STAGES = (("first_stage", "first stage"), ("box_classifier", "box classifier"),
          ("postprocess_masks", "post+masks"))
PRECISIONS = ("float32", "bfloat16")


@dataclass
class Variant:
    """One thing that is timed: a package (its folder on PYTHONPATH) in one precision."""

    label: str          # e.g. "bf10639 float32", "working tree bfloat16"
    kind: str           # "old" or "new"
    root: Path          # the folder holding object_detection/
    precision: str
    runs: list[dict] = field(default_factory=list)   # model_speed.py --json outputs


def git(*args: str, cwd: Path = REPO, binary: bool = False):
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if result.returncode:
        raise ValueError(f"git {' '.join(args)}: "
                         f"{result.stderr.decode('utf-8', 'replace').strip()}")
    return result.stdout if binary else result.stdout.decode("utf-8").strip()


def resolve_revision(rev: str) -> str:
    """The full commit id of ``rev``; ValueError naming it when git does not know it."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except ValueError:
        raise ValueError(f"--rev {rev}: no such commit in {REPO}") from None


def export_package(commit: str, destination: Path) -> Path:
    """Extracts ``object_detection/`` of ``commit`` into ``destination``; returns it."""
    data = git("archive", "--format=tar", commit, PACKAGE, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        try:
            archive.extractall(destination, filter="data")
        except TypeError:                       # Python without extraction filters
            archive.extractall(destination)
    if not (destination / PACKAGE / "__init__.py").is_file():
        raise ValueError(f"revision {commit[:10]} has no {PACKAGE} package")
    return destination


def benchmark_command(args, variant: Variant, json_path: Path) -> list[str]:
    command = [args.python, str(BENCHMARK), "--config", args.config, "--size", args.size,
               "--steps", str(args.steps), "--batch_size", str(args.batch_size),
               "--precision", variant.precision, "--detections", str(args.detections),
               "--seed", str(args.seed), "--json", str(json_path)]
    for override in args.override:
        command.append(f"--override={override}")
    return command


def run_variant(args, variant: Variant, json_path: Path, header: str) -> dict:
    """One model_speed.py run of ``variant``; its JSON figures. ValueError when it fails or
    imported another package than the variant's."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(variant.root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    print(f"=== {header}: {variant.label} ({variant.root / PACKAGE})", flush=True)
    completed = subprocess.run(benchmark_command(args, variant, json_path), cwd=REPO, env=env,
                               check=False)
    if completed.returncode:
        raise ValueError(f"{variant.label}: benchmarks/model_speed.py exited with "
                         f"{completed.returncode}")
    figures = json.loads(json_path.read_text(encoding="utf-8"))
    expected = (variant.root / PACKAGE).resolve()
    if Path(figures["package"]).resolve() != expected:
        raise ValueError(f"{variant.label}: the benchmark imported {figures['package']}, not "
                         f"{expected} (is another copy of the package on sys.path?)")
    return figures


# ----------------------------------------------------------------------------- the figures


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _seconds(run: dict, key: str, per: str = "seconds_per_image") -> float | None:
    timing = run["timings"].get(key)
    return None if timing is None else timing[per]


def _probe(run: dict, key: str) -> float | None:
    probes = run["probe"]["gflop_per_second"]
    if key == "training":
        return (probes["before_training"] + probes["after_training"]) / 2.0
    return probes["before_inference"]


def summarize(variant: Variant) -> dict:
    """Medians over the variant's runs: seconds (per image; training per step), the same
    multiplied by the probe next to them (``*_normalized``: GFLOP of probe work), probes,
    detections per image."""
    runs = variant.runs
    summary = {
        "label": variant.label, "kind": variant.kind, "precision": variant.precision,
        "package": str(variant.root / PACKAGE), "runs": len(runs),
        "stages": all(run.get("stages") for run in runs),
        "inference": _median(_seconds(r, "inference") for r in runs),
        "training": _median(_seconds(r, "training_step", "seconds_per_call") for r in runs),
        "inference_normalized": _median(_seconds(r, "inference") * _probe(r, "inference")
                                        for r in runs),
        "training_normalized": _median(
            _seconds(r, "training_step", "seconds_per_call") * _probe(r, "training")
            for r in runs),
        "detections_per_image": _median(r["detections_per_image"] for r in runs),
        "probes": {key: _median(r["probe"]["gflop_per_second"][key] for r in runs)
                   for key in ("before_inference", "before_training", "after_training")},
    }
    for key, _ in STAGES:
        summary[key] = _median(_seconds(r, key) for r in runs)
    return summary


def _ratio(old, new):
    return None if not old or not new else old / new


def speedups(old: dict, new: dict) -> dict:
    """old / new of each time (above 1: the new is faster), plain and probe-normalized."""
    ratios = {key: _ratio(old[key], new[key])
              for key in ("inference", "training", "inference_normalized",
                          "training_normalized")}
    for key, _ in STAGES:
        ratios[key] = _ratio(old[key], new[key])
    return ratios


def _number(value, spec: str = ".3f", width: int = 9) -> str:
    return f"{'-':>{width}s}" if value is None else f"{value:{width}{spec}}"


def _times(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_report(summaries: list[dict], ratios: dict[str, dict], batch: int) -> str:
    width = max(len(s["label"]) for s in summaries) + 2
    head = (f"{'':{width}s} {'inference':>9s} {'training':>9s} "
            + " ".join(f"{name:>14s}" for _, name in STAGES)
            + f"  {'probe GFLOP/s':>21s} {'detections':>10s}")
    unit = (f"{'run':{width}s} {'s/image':>9s} {'s/step':>9s} "
            + " ".join(f"{'s/image':>14s}" for _ in STAGES)
            + f"  {'inf / train / after':>21s} {'per image':>10s}")
    lines = [head, unit, "-" * len(unit)]
    for s in summaries:
        p = s["probes"]
        probes = (f"{p['before_inference']:.0f} / {p['before_training']:.0f} / "
                  f"{p['after_training']:.0f}")
        lines.append(f"{s['label']:{width}s} {_number(s['inference'])} "
                     f"{_number(s['training'])} "
                     + " ".join(_number(s[key], width=14) for key, _ in STAGES)
                     + f"  {probes:>21s} {_number(s['detections_per_image'], '.1f', 10)}")
    old = summaries[0]
    lines.append("")
    lines.append(f"speed-up {old['label']} -> working tree (old time / new time, above 1: "
                 "faster; in brackets probe-normalized, each time x the probe next to it):")
    for s in summaries[1:]:
        r = ratios[s["precision"]]
        stages = ", ".join(f"{name} {_times(r[key])}" for key, name in STAGES
                           if r[key] is not None)
        lines.append(f"  {s['label']:{width}s} inference {_times(r['inference'])} "
                     f"({_times(r['inference_normalized'])}), training "
                     f"{_times(r['training'])} ({_times(r['training_normalized'])})"
                     + (f"; {stages}" if stages else ""))
    runs = summaries[0]["runs"]
    lines.append(f"(batch {batch}; medians of {runs} run{'s' if runs > 1 else ''} each; "
                 "stages: '-' where the package has no stage breakdown)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ main


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="git revision to compare with")
    parser.add_argument("--config", required=True, help="pipeline config file")
    parser.add_argument("--size", required=True, help="input HEIGHTxWIDTH, e.g. 800x1365")
    parser.add_argument("--steps", type=int, default=3, help="timed calls of each (default 3)")
    parser.add_argument("--batch_size", type=int, default=1, help="images per call (default 1)")
    parser.add_argument("--override", action="append", default=[],
                        help="config override PATH=VALUE (repeatable), for every run")
    parser.add_argument("--precision", action="append", choices=PRECISIONS,
                        help="precision of the working tree's run (repeatable; default "
                             "float32); the old revision runs in float32")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate old / new this many times (default 1)")
    parser.add_argument("--detections", type=int, default=30,
                        help="model_speed.py --detections (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the benchmark weights")
    parser.add_argument("--python", default=sys.executable,
                        help="Python that runs the benchmarks (default: this one)")
    parser.add_argument("--json", metavar="PATH", help="write runs, medians and ratios as JSON")
    args = parser.parse_args(argv)
    args.precision = list(dict.fromkeys(args.precision or ["float32"]))
    return args


def compare(args) -> dict:
    """Runs every variant ``args.repeats`` times (alternating) and returns the JSON report."""
    if args.repeats < 1 or args.steps < 1:
        raise ValueError("--repeats and --steps must be >= 1")
    commit = resolve_revision(args.rev)
    short = git("rev-parse", "--short", commit)
    tree = Path(tempfile.mkdtemp(prefix=f"compare_revisions_{short}_"))
    try:
        export_package(commit, tree)
        variants = [Variant(f"{short} float32", "old", tree, "float32")]
        variants += [Variant(f"working tree {p}", "new", REPO, p) for p in args.precision]
        total = args.repeats * len(variants)
        count = 0
        for repeat in range(args.repeats):
            for index, variant in enumerate(variants):
                count += 1
                path = tree / f"run_{repeat}_{index}.json"
                variant.runs.append(run_variant(args, variant, path, f"run {count}/{total}"))
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    summaries = [summarize(v) for v in variants]
    ratios = {s["precision"]: speedups(summaries[0], s) for s in summaries[1:]}
    return {
        "rev": args.rev, "commit": commit, "config": args.config, "size": args.size,
        "steps": args.steps, "batch": args.batch_size, "repeats": args.repeats,
        "overrides": list(args.override), "detections_override": args.detections,
        "seed": args.seed, "exported_to": str(tree), "device": variants[0].runs[0]["device"],
        "summaries": summaries, "ratios": ratios,
        "runs": {v.label: v.runs for v in variants},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = compare(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print()
    print(f"{args.config} at {args.size}, --steps {args.steps}, on {report['device']}:")
    print(format_report(report["summaries"], report["ratios"], args.batch_size))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
