"""A ready-to-train dataset of generated maps: figure folders, sharded records, COCO ground truth.

``ensure_synthetic_dataset`` makes what is missing and leaves what is complete: each split is
done when its ``records/SPLIT.done.json`` exists (written last, holding the settings it was made
with), so an interrupted run starts that split again and a finished one costs nothing.
``reads_records_under`` tells whether pipeline configs read records from such a folder (as
``train_and_eval.py`` asks of ``QUICKSTART_DIR`` before it makes the quickstart dataset).

Layout under ``root``::

    SPLIT/images|masks|keypoints/map_00000.png ...     the generated figure folder
    records/SPLIT-00000-of-0000N.tfrecord ...          its records
    records/SPLIT_coco_gt.json                          its COCO ground truth
    records/SPLIT.done.json                             settings and counts, written last
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Iterable

from object_detection import atomic_files
from object_detection.dataset_tools import synthetic_maps
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.protos import pipeline_pb2

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """One split: how many maps, of which size, from which seed, in how many record shards."""

    name: str
    num_maps: int
    seed: int
    height: int = 256
    width: int = 256
    num_shards: int = 1


# Small maps (128 x 128 px, figures 16 to 51 px), which configs/quickstart.config upscales to
# 512 x 512: a two-core CPU trains on them to a usable model in minutes.
QUICKSTART_SPLITS = (
    SplitSpec("train", num_maps=300, seed=1, height=128, width=128, num_shards=4),
    SplitSpec("eval", num_maps=40, seed=2, height=128, width=128, num_shards=1),
)


# Where train_and_eval.py makes the quickstart dataset when a run reads records under it.
QUICKSTART_DIR = "data/quickstart"


def record_pattern(root: str, split: str) -> str:
    """The glob of a split's record shards, as pipeline configs name them."""
    return os.path.join(root, "records", f"{split}-?????-of-?????.tfrecord")


def reads_records_under(configs: Iterable[pipeline_pb2.TrainEvalPipelineConfig],
                        root: str) -> bool:
    """Whether any of the pipeline ``configs`` reads training or evaluation records from a
    path under the folder ``root`` (compared as normalized paths, e.g. ``data/quickstart``)."""
    prefix = os.path.normpath(root) + os.sep
    for config in configs:
        paths = list(config.train_input_reader.tf_record_input_reader.input_path)
        for reader in config.eval_input_reader:
            paths += list(reader.tf_record_input_reader.input_path)
        if any(os.path.normpath(p).startswith(prefix) for p in paths):
            return True
    return False


def ensure_synthetic_dataset(root: str, splits: tuple[SplitSpec, ...] = QUICKSTART_SPLITS,
                             ) -> dict[str, dict]:
    """Generates and converts every split of ``root`` that is not complete yet.

    Returns split name -> the contents of its ``done`` file (settings, counts, outputs).
    """
    return {spec.name: _ensure_split(root, spec) for spec in splits}


def _ensure_split(root: str, spec: SplitSpec) -> dict:
    records_dir = os.path.join(root, "records")
    done_path = os.path.join(records_dir, f"{spec.name}.done.json")
    settings = dataclasses.asdict(spec)
    done = _read_done(done_path)
    if done is not None:
        if done.get("settings") == settings:
            _LOG.info("%s: complete, %d maps (%s)", spec.name, done["maps"], done_path)
            return done
        _LOG.warning("%s: made with other settings %s; making it again", spec.name, done.get("settings"))
    folder = os.path.join(root, spec.name)
    shutil.rmtree(folder, ignore_errors=True)
    for stale in _split_records(records_dir, spec.name):
        os.remove(stale)
    print(f"generating {spec.num_maps} {spec.height}x{spec.width} maps into {folder} ...", flush=True)
    generated = synthetic_maps.generate_folder(folder, spec.num_maps, spec.seed, spec.height, spec.width)
    print(f"converting {folder} into {spec.num_shards} record shard(s) ...", flush=True)
    stats = convert(make_source("figure_folder", folder, strict=True),
                    os.path.join(records_dir, spec.name), spec.num_shards,
                    coco_gt_json=os.path.join(records_dir, f"{spec.name}_coco_gt.json"))
    print(generated.summary(), flush=True)
    done = {"settings": settings, "maps": generated.maps, "figures": generated.figures,
            "images_written": stats.images_written, "instances_written": stats.instances_written,
            "outputs": stats.outputs}
    atomic_files.write_json(done_path, done, indent=1, trailing_newline=False)
    print(stats.summary(), flush=True)
    return done


def _read_done(done_path: str) -> dict | None:
    """The contents of a split's done file; None when there is none or it is unreadable (the
    split is then made again)."""
    if not os.path.exists(done_path):
        return None
    try:
        with open(done_path, encoding="utf-8") as f:
            done = json.load(f)
    except (OSError, ValueError) as e:
        _LOG.warning("%s: unreadable (%s); making the split again", done_path, e)
        return None
    if not isinstance(done, dict):
        _LOG.warning("%s: not a done record; making the split again", done_path)
        return None
    return done


def _split_records(records_dir: str, split: str) -> list[str]:
    if not os.path.isdir(records_dir):
        return []
    return [os.path.join(records_dir, n) for n in os.listdir(records_dir)
            if n.startswith(split + "-") and n.endswith(".tfrecord")]
