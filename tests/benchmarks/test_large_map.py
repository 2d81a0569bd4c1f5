"""benchmarks/large_map.py, its pure parts: the composed map's ground truth is the cells'
ground truth shifted, exactly; the recall is one-to-one greedy matching by score at mask IoU;
the command it runs is evaluation.py's."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from object_detection.dataset_tools.figure_folder import FigureMap
from object_detection.dataset_tools.synthetic_maps import generate_map_details
from tests.export.conftest import REPO


def _load_benchmark():
    """benchmarks/large_map.py as a module (benchmarks/ is no package), loaded anew."""
    name = "benchmarks_large_map"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "large_map.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


large_map = _load_benchmark()


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _cell_figures(cell: FigureMap) -> list[tuple[np.ndarray, list[float]]]:
    """(mask, [x, y, w, h]) of each instance of a cell, worked out here by hand."""
    figures = []
    for k in range(1, int(cell.instances.max(initial=0)) + 1):
        mask = cell.instances == k
        ys, xs = np.nonzero(mask)
        figures.append((mask, [float(xs.min()), float(ys.min()),
                               float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]))
    return figures


def test_the_composed_ground_truth_is_each_cells_shifted_exactly():
    size = 64
    cells = [[generate_map_details(3, size, size, index=r * 3 + c)[0] for c in range(3)]
             for r in range(2)]
    composed = large_map.compose_grid(cells, "big.png")
    assert composed.image.shape == (2 * size, 3 * size, 3)
    expected = []
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            top, left = r * size, c * size
            np.testing.assert_array_equal(
                composed.image[top:top + size, left:left + size], cell.image)
            for mask, (x, y, w, h) in _cell_figures(cell):
                full = np.zeros((2 * size, 3 * size), bool)
                full[top:top + size, left:left + size] = mask
                expected.append((full, [x + left, y + top, w, h]))
    assert len(expected) > 3
    assert len(composed.annotations) == len(expected)
    for annotation, (full, bbox) in zip(composed.annotations, expected):
        assert annotation["bbox"] == bbox
        assert annotation["area"] == float(full.sum())
        assert annotation["segmentation"]["size"] == [2 * size, 3 * size]
        np.testing.assert_array_equal(mask_utils.decode(annotation["segmentation"]), full)
        assert mask_utils.toBbox(annotation["segmentation"]).tolist() == bbox


def test_the_ground_truth_json_numbers_images_and_annotations_and_names_the_file():
    cells = [[generate_map_details(5, 64, 64, index=i)[0] for i in range(2)]]
    maps = [large_map.compose_grid(cells, f"large_map_{m:02d}.png") for m in range(2)]
    dataset = json.loads(json.dumps(large_map.ground_truth_json(maps)))   # JSON-ready
    assert [i["file_name"] for i in dataset["images"]] == ["large_map_00.png",
                                                           "large_map_01.png"]
    assert [(i["height"], i["width"]) for i in dataset["images"]] == [(64, 128)] * 2
    n = len(maps[0].annotations)
    assert [a["id"] for a in dataset["annotations"]] == list(range(1, 2 * n + 1))
    assert [a["image_id"] for a in dataset["annotations"]] == [1] * n + [2] * n
    assert dataset["categories"] == [{"id": 1, "name": "character"}]


def test_sparse_grid_keeps_the_figures_under_the_cap_and_is_reproducible():
    grid = large_map.sparse_grid(seed=4, map_index=0, grid=4, cell_size=64, max_figures=9)
    again = large_map.sparse_grid(seed=4, map_index=0, grid=4, cell_size=64, max_figures=9)
    counts = [cell.num_figures for row in grid for cell in row]
    assert len(counts) == 16 and 0 < sum(counts) <= 9
    assert sum(c > 0 for c in counts) < 16
    for a, b in zip([c for row in grid for c in row], [c for row in again for c in row]):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.instances, b.instances)
    # a cell drawn without figures is the same generated map, less its figures
    i = counts.index(0)
    plain = generate_map_details(4, 64, 64, index=i, min_figures=0, max_figures=0)[0]
    np.testing.assert_array_equal(grid[i // 4][i % 4].image, plain.image)


def _box(height, width, top, left, bottom, right) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[top:bottom, left:right] = True
    return mask


def test_greedy_matching_is_one_to_one_in_order_of_score():
    a = _box(20, 20, 0, 0, 10, 10)            # 100 px
    b = _box(20, 20, 10, 10, 20, 20)          # 100 px, apart from a
    gts = [_rle(a), _rle(b)]
    near_a = _rle(_box(20, 20, 0, 0, 10, 8))  # IoU 0.8 with a
    half_a = _rle(_box(20, 20, 0, 0, 10, 4))  # IoU 0.4 with a: below 0.5
    # two detections on a: only one is matched, b stays unmatched
    assert large_map.greedy_matches(gts, [near_a, _rle(a)], [0.9, 0.8]) == 1
    assert large_map.greedy_matches(gts, [half_a], [0.9]) == 0
    assert large_map.greedy_matches(gts, [near_a, _rle(b)], [0.4, 0.9]) == 2
    assert large_map.greedy_matches(gts, [], []) == 0
    assert large_map.greedy_matches([], [near_a], [0.9]) == 0
    # the higher-scored detection takes the ground truth it overlaps most; the lower one then
    # finds only what is left: here nothing at 0.5
    wide = _rle(_box(20, 20, 0, 0, 10, 12))   # IoU 100/120 with a
    assert large_map.greedy_matches([_rle(a)], [wide, near_a], [0.9, 0.95]) == 1


def test_recall_counts_detections_strictly_above_the_threshold_per_image():
    a = _box(16, 16, 0, 0, 8, 8)
    b = _box(16, 16, 8, 8, 16, 16)
    ground_truth = {
        "images": [{"id": 1}, {"id": 7}],
        "annotations": [{"id": 1, "image_id": 1, "segmentation": _rle(a), "iscrowd": 0},
                        {"id": 2, "image_id": 1, "segmentation": _rle(b), "iscrowd": 0},
                        {"id": 3, "image_id": 7, "segmentation": _rle(a), "iscrowd": 0}]}
    detections = [
        {"image_id": 1, "score": 0.9, "segmentation": _rle(a)},     # matches a of image 1
        {"image_id": 1, "score": 0.3, "segmentation": _rle(b)},     # not above 0.3
        {"image_id": 7, "score": 0.5, "segmentation": _rle(b)},     # misses a of image 7
        {"image_id": 7, "score": 0.31, "segmentation": _rle(a)},    # matches it
    ]
    result = large_map.recall_of(ground_truth, detections)
    assert result == {"matched": 2, "figures": 3, "detections_above": 3,
                      "recall": pytest.approx(2 / 3)}
    # a detection on image 1's b does not count for image 7's a
    assert large_map.recall_of(ground_truth, detections[:3])["matched"] == 1


def test_the_configurations_run_evaluation_py_with_its_tile_flags():
    configs = large_map.CONFIGS
    assert configs["whole"].flags() == []
    assert configs["tile128"].flags() == ["--tile_size", "128", "--tile_overlap", "0.2",
                                          "--tile_full_pass"]
    assert configs["tile128_no_full_pass"].flags()[-1] == "--no-tile_full_pass"
    assert large_map.EVALUATION_SCRIPT == REPO / "evaluation.py"
    assert large_map.EVALUATION_SCRIPT.exists()


def test_the_child_reports_its_own_peak_and_exit_code(tmp_path, monkeypatch):
    script = tmp_path / "script.py"
    script.write_text("import sys\nblock = bytearray(64 << 20)\n"
                      "sys.exit(3 if sys.argv[1:] == ['--x', '1', '--output_dir', "
                      f"{str(tmp_path / 'out')!r}] else 4)\n")
    monkeypatch.setattr(large_map, "EVALUATION_SCRIPT", script)
    run = large_map.run_child("probe", ["--x", "1"], tmp_path / "out", tmp_path / "probe.log")
    assert run.returncode == 3, (tmp_path / "probe.log").read_text()
    assert run.peak_rss_mib is not None and run.peak_rss_mib >= 64
    if sys.platform.startswith("linux"):
        assert run.peak_source == "VmHWM"
