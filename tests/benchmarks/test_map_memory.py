"""benchmarks/map_memory.py's map: its ground truth is the generated cells' figures, shifted."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from tests.export.conftest import REPO


def _load():
    spec = importlib.util.spec_from_file_location("benchmarks_map_memory",
                                                  REPO / "benchmarks" / "map_memory.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_ground_truth_is_every_cells_figures_shifted_into_place(tmp_path):
    from object_detection.dataset_tools.synthetic_maps import generate_map_details

    maps_dir, gt_path, figures, width, height = _load().build_map(tmp_path, 260, 130, 64, 3, 12)
    assert (width, height) == (256, 128) and 0 < figures <= 12
    image = np.asarray(Image.open(maps_dir / "map.png").convert("RGB"))
    ground_truth = json.loads(gt_path.read_text(encoding="utf-8"))
    masks = [mask_utils.decode(a["segmentation"]).astype(bool) for a in ground_truth["annotations"]]
    assert len(masks) == figures
    expected = []
    for i in range(8):
        row, col = divmod(i, 4)
        cell = generate_map_details(3, 64, 64, index=i)[0]
        here = image[row * 64:(row + 1) * 64, col * 64:(col + 1) * 64]
        if not np.array_equal(here, cell.image):
            continue                     # drawn without its figures
        for k in range(1, int(cell.instances.max(initial=0)) + 1):
            mask = np.zeros((128, 256), bool)
            mask[row * 64:(row + 1) * 64, col * 64:(col + 1) * 64] = cell.instances == k
            if mask.any():
                expected.append(mask)
    assert len(expected) == figures
    key = lambda m: tuple(np.flatnonzero(m.reshape(-1))[:3])  # noqa: E731
    for got, want in zip(sorted(masks, key=key), sorted(expected, key=key)):
        np.testing.assert_array_equal(got, want)
    for annotation, mask in zip(ground_truth["annotations"], masks):
        assert annotation["area"] == mask.sum()
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert annotation["bbox"] == [cols[0], rows[0], cols[-1] + 1 - cols[0],
                                      rows[-1] + 1 - rows[0]]
