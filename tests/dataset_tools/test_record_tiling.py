"""Maps cut into tiles for training (record_tiling): records decoded by the training decoder
agree with the original map cropped to each tile; boundaries, small maps, the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from object_detection.core.tiling import tile_boxes
from object_detection.data.decoder import decode_example
from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools import record_tiling as rt
from object_detection.dataset_tools.annotated_image import Instance, assemble_image
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.dataset_tools.conversion_stats import ConversionStats
from object_detection.dataset_tools.image_io import encode_image_bytes
from object_detection.dataset_tools.tf_example import build_example, parse_example
from object_detection.fields import InputFields as F

H, W = 300, 500
TILE, OVERLAP = 128, 0.25
K = len(ff.KEYPOINT_NAMES)
_SCRIPT = Path(__file__).resolve().parents[2] / "create_mask_tf_record.py"


def _ellipse(cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _rect(top: int, left: int, bottom: int, right: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[top:bottom, left:right] = True
    return mask


# Instance masks (painted in this order, later ones on top) and keypoints (x, y) in pixels.
MASKS = [
    _rect(10, 10, 40, 50),                 # inside the first tile only
    _ellipse(120, 200, 30, 45),            # across the borders of four tiles
    _rect(200, 80, 260, 140),              # across a vertical and a horizontal border
    _rect(20, 300, 280, 480) & ~_rect(100, 380, 140, 420),   # larger than a tile: no tile
    _ellipse(285, 485, 20, 20),            # cut by the map's corner
]
KEYPOINTS = [
    {"head": (20.5, 15.25), "neck": (30.0, 35.0)},
    {"head": (200.0, 95.5), "left_ankle": (240.0, 140.0), "right_ankle": (160.0, 126.75),
     "neck": (224.0, 140.0), "left_knee": (180.0, 128.0)},      # on tile edges
    {"head": (90.0, 205.0), "neck": (130.0, 250.5), "pelvis": (110.0, 230.0)},
    {"head": (400.0, 30.0)},
    {},
]


def _instance_masks() -> list[np.ndarray]:
    """The instance masks as the figure folder stores them (later instances on top)."""
    red = np.zeros((H, W), np.uint8)
    for k, mask in enumerate(MASKS, start=1):
        red[mask] = k
    return [red == k for k in range(1, len(MASKS) + 1)]


def _write_map(folder: str, stem: str = "m", height: int = H, width: int = W) -> np.ndarray:
    """Writes the big map (or its top-left corner) into a figure folder; returns its pixels."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    red = np.zeros((H, W), np.uint8)
    for k, mask in enumerate(MASKS, start=1):
        red[mask] = k
    red = red[:height, :width]
    present = [k for k in range(1, len(MASKS) + 1) if (red == k).any()]
    instances = np.zeros_like(red)
    for new, k in enumerate(present, start=1):
        instances[red == k] = new
    body = np.where(instances > 0, 0, ff.BACKGROUND_BODY_PART).astype(np.uint8)
    keypoints = [{n: p for n, p in KEYPOINTS[k - 1].items() if p[0] <= width and p[1] <= height}
                 for k in present]
    ff.write_map(folder, stem, ff.FigureMap(pixels, instances, body, keypoints))
    return pixels


def _decoded(paths: list[str]) -> dict[str, dict]:
    """File name -> the training decoder's output (numpy) of every record, with the keypoints
    as stored ("raw_keypoints", "raw_visibilities": the decoder would mend NaN / 0 mismatches)."""
    out = {}
    for path in paths:
        for record in tf.data.TFRecordDataset(path):
            fields = decode_example(record, num_keypoints=K, load_instance_masks=True)
            fields = {key: value.numpy() for key, value in fields.items()}
            stored = parse_example(record.numpy())
            if stored.num_instances:
                fields["raw_keypoints"] = stored.keypoints
                fields["raw_visibilities"] = stored.keypoint_visibilities
            out[fields[F.filename].decode()] = fields
    return out


def _tight_box(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.min() / height, xs.min() / width, (ys.max() + 1) / height,
                     (xs.max() + 1) / width], np.float32)


def _expected(min_visible: float) -> tuple[dict[str, list[int]], int, int, set[int]]:
    """Written tile name -> kept instance indices; empty tiles; pieces under ``min_visible``;
    instances kept somewhere."""
    masks = _instance_masks()
    kept, empty, pieces, somewhere = {}, 0, 0, set()
    for left, top, right, bottom in tile_boxes(H, W, TILE, OVERLAP):
        here = []
        for i, mask in enumerate(masks):
            inside = np.count_nonzero(mask[top:bottom, left:right])
            if inside and inside / np.count_nonzero(mask) >= min_visible:
                here.append(i)
            elif inside:
                pieces += 1
        somewhere |= set(here)
        if here:
            kept[f"m.png#tile-{left}-{top}"] = here
        else:
            empty += 1
    return kept, empty, pieces, somewhere


def _convert(tmp_path, min_visible: float = 0.5, keep_empty: bool = False, **kwargs):
    folder = str(tmp_path / "maps")
    pixels = _write_map(folder)
    tiling = rt.RecordTiling(TILE, OVERLAP, min_visible, keep_empty)
    prefix = str(tmp_path / "rec" / f"tiles{min_visible}")
    stats = convert(make_source("figure_folder", folder), prefix, 2, tiling=tiling, **kwargs)
    return pixels, stats, [p for p in stats.outputs if p.endswith(".tfrecord")]


def test_tiles_hold_the_map_cropped_with_instances_visible_enough(tmp_path):
    pixels, stats, paths = _convert(tmp_path, 0.5)
    decoded = _decoded(paths)
    kept, empty, pieces, somewhere = _expected(0.5)
    assert empty > 0 and pieces > 0 and len(somewhere) < len(MASKS)    # the test covers all
    assert sorted(decoded) == sorted(kept)
    masks = _instance_masks()
    names = list(ff.KEYPOINT_NAMES)
    written = 0
    for name, fields in decoded.items():
        left, top = (int(v) for v in name.rpartition("#tile-")[2].split("-"))
        right, bottom = left + TILE, top + TILE
        assert fields[F.source_id].decode() == f"m#tile-{left}-{top}"
        np.testing.assert_array_equal(fields[F.image], pixels[top:bottom, left:right])
        assert fields[F.groundtruth_instance_masks].shape == (len(kept[name]), TILE, TILE)
        for j, i in enumerate(kept[name]):
            crop = masks[i][top:bottom, left:right]
            np.testing.assert_array_equal(fields[F.groundtruth_instance_masks][j], crop)
            np.testing.assert_array_equal(fields[F.groundtruth_boxes][j],
                                          _tight_box(crop, TILE, TILE))
            assert fields[F.groundtruth_area][j] == np.count_nonzero(crop)
            points = fields[F.groundtruth_keypoints][j]
            visible = fields[F.groundtruth_keypoint_visibilities][j]
            np.testing.assert_array_equal(fields["raw_keypoints"][j], points)
            np.testing.assert_array_equal(fields["raw_visibilities"][j], visible)
            for k, kp in enumerate(names):
                x, y = KEYPOINTS[i].get(kp, (np.nan, np.nan))
                if left <= x <= right and top <= y <= bottom:
                    assert visible[k] == 2
                    np.testing.assert_allclose(points[k], [(y - top) / TILE, (x - left) / TILE],
                                               rtol=0, atol=1e-6)
                else:     # not labelled, or outside the tile: dropped
                    assert visible[k] == 0 and np.isnan(points[k]).all()
        written += len(kept[name])
    assert stats.images_read == 1 and stats.images_written == len(kept)
    assert stats.instances_written == written
    assert stats.tiles_cut == len(tile_boxes(H, W, TILE, OVERLAP))
    assert stats.empty_tiles_dropped == empty and stats.tile_pieces_dropped == pieces
    lost = len(MASKS) - len(somewhere)
    assert stats.instances_skipped == stats.skip_reasons[rt.IN_NO_TILE] == lost
    summary = stats.summary()
    assert f"empty left out {empty}" in summary and f"left out {pieces}" in summary
    assert f"skipped ({rt.IN_NO_TILE}): {lost}" in summary


@pytest.mark.parametrize("keypoint, tiles", [
    ("neck", ["m.png#tile-192-96", "m.png#tile-96-96"]),        # x 224: right edge of 96..224
    ("left_knee", ["m.png#tile-96-0", "m.png#tile-96-96"]),     # y 128: bottom edge of 0..128
])
def test_keypoint_on_a_tile_edge_is_in_both_tiles(tmp_path, keypoint, tiles):
    _, _, paths = _convert(tmp_path, 1e-9)
    decoded = _decoded(paths)
    k = ff.KEYPOINT_NAMES.index(keypoint)
    ellipse = _expected(1e-9)[0]
    holding = [name for name, fields in decoded.items() if 1 in ellipse[name]
               and fields[F.groundtruth_keypoint_visibilities][ellipse[name].index(1), k] == 2]
    assert sorted(holding) == tiles


def test_union_of_tiles_covers_every_instance_when_min_visible_is_small(tmp_path):
    _, stats, paths = _convert(tmp_path, 1e-9)
    decoded = _decoded(paths)
    kept, _, pieces, somewhere = _expected(1e-9)
    assert pieces == 0 and somewhere == set(range(len(MASKS))) and stats.instances_skipped == 0
    masks = _instance_masks()
    union = np.zeros((len(MASKS), H, W), bool)
    for name, fields in decoded.items():
        left, top = (int(v) for v in name.rpartition("#tile-")[2].split("-"))
        for j, i in enumerate(kept[name]):
            union[i, top:top + TILE, left:left + TILE] |= \
                fields[F.groundtruth_instance_masks][j].astype(bool)
    np.testing.assert_array_equal(union, np.stack(masks))


def test_coco_ground_truth_describes_the_tiles(tmp_path):
    gt = str(tmp_path / "gt.json")
    _, stats, paths = _convert(tmp_path, 0.5, coco_gt_json=gt)
    decoded = _decoded(paths)
    coco = json.loads(Path(gt).read_text())
    by_id = {img["id"]: img for img in coco["images"]}
    assert sorted(img["file_name"] for img in coco["images"]) == sorted(decoded)
    assert all((img["height"], img["width"]) == (TILE, TILE) for img in coco["images"])
    assert len(coco["annotations"]) == stats.instances_written
    for ann in coco["annotations"]:
        fields = decoded[by_id[ann["image_id"]]["file_name"]]
        boxes = fields[F.groundtruth_boxes].astype(np.float64) * TILE
        coco_boxes = [[b[1], b[0], b[3] - b[1], b[2] - b[0]] for b in boxes]
        assert any(np.allclose(ann["bbox"], b, atol=1e-3) for b in coco_boxes)
        assert all(0 <= v <= TILE for v in ann["bbox"][:2])


def test_empty_tiles_kept_on_request(tmp_path):
    _, stats, paths = _convert(tmp_path, 0.5, keep_empty=True)
    decoded = _decoded(paths)
    assert len(decoded) == stats.tiles_cut == len(tile_boxes(H, W, TILE, OVERLAP))
    assert stats.empty_tiles_dropped == 0
    _, empty, _, _ = _expected(0.5)
    assert sum(len(f[F.groundtruth_classes]) == 0 for f in decoded.values()) == empty


def _image(height: int, width: int, instances: list[Instance], keypoint_names=None):
    pixels = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    encoded = tf.io.encode_png(pixels).numpy()
    return assemble_image(encode_image_bytes(encoded, "b.png"), "b.png", "b", instances,
                          ConversionStats(), "b.png", keypoint_names=keypoint_names), pixels


def _boundary_image(with_mask: bool):
    """64 x 100; tiles (0, 0, 64, 64) and (36, 0, 100, 64); a 20-wide instance at columns
    54..73, exactly half inside the first tile, wholly inside the second."""
    mask = np.zeros((64, 100), np.uint8)
    mask[10:20, 54:74] = 1
    inst = Instance("character", 1, mask=mask) if with_mask else \
        Instance("character", 1, box=(54, 10, 74, 20))
    return _image(64, 100, [inst])[0]


@pytest.mark.parametrize("with_mask", [True, False])
@pytest.mark.parametrize("min_visible, first_keeps", [(0.5, True), (0.51, False)])
def test_exactly_half_visible_is_kept_at_one_half_only(with_mask, min_visible, first_keeps):
    image = _boundary_image(with_mask)
    assert tile_boxes(64, 100, 64, 0.0).tolist() == [[0, 0, 64, 64], [36, 0, 100, 64]]
    stats = ConversionStats()
    tiles = list(rt.tile_image(image, rt.RecordTiling(64, 0.0, min_visible), stats))
    assert [t.filename for t in tiles] == (["b.png#tile-0-0"] if first_keeps else []) + \
        ["b.png#tile-36-0"]
    assert stats.tile_pieces_dropped == (0 if first_keeps else 1)
    assert stats.instances_skipped == 0
    tiles = [parse_example(build_example(t).SerializeToString()) for t in tiles]
    if first_keeps:
        np.testing.assert_array_equal(tiles[0].boxes, [[10 / 64, 54 / 64, 20 / 64, 1.0]])
        assert tiles[0].areas.tolist() == [100.0]
        assert (tiles[0].masks is None) != with_mask
    np.testing.assert_array_equal(tiles[-1].boxes, [[10 / 64, 18 / 64, 20 / 64, 38 / 64]])
    assert tiles[-1].areas.tolist() == [200.0]


def test_map_smaller_than_a_tile_is_one_tile_the_map(tmp_path):
    names = ("head", "neck")
    mask = np.zeros((40, 60), np.uint8)
    mask[5:30, 50:60] = 1
    image, _ = _image(40, 60, [Instance("character", 1, mask=mask,
                                             keypoints={"head": (59.5, 4.0)})], names)
    stats = ConversionStats()
    (tile,) = rt.tile_image(image, rt.RecordTiling(128), stats)
    assert (tile.filename, tile.source_id) == ("b.png#tile-0-0", "b#tile-0-0")
    assert tile.image == image.image               # the map's own bytes
    np.testing.assert_array_equal(tile.masks, image.masks)
    np.testing.assert_array_equal(tile.boxes, image.boxes)
    np.testing.assert_array_equal(tile.keypoints, image.keypoints)
    np.testing.assert_array_equal(tile.keypoint_visibilities, image.keypoint_visibilities)
    assert stats.tiles_cut == 1 and stats.empty_tiles_dropped == 0


def test_negative_map_gives_no_tile_unless_kept(tmp_path):
    image, _ = _image(70, 90, [])
    stats = ConversionStats()
    assert list(rt.tile_image(image, rt.RecordTiling(64), stats)) == []
    assert stats.empty_tiles_dropped == stats.tiles_cut == 4
    tiles = list(rt.tile_image(image, rt.RecordTiling(64, keep_empty=True), ConversionStats()))
    assert [t.masks.shape for t in tiles] == [(0, 64, 64)] * 4


@pytest.mark.parametrize("kwargs, problem", [
    ({"tile_size": -3}, "tile size must be a positive number of pixels, got -3"),
    ({"tile_size": 64, "overlap": 1.5}, "tile overlap must be a fraction"),
    ({"tile_size": 64, "min_visible": 0.0}, "must be above 0 and at most 1, got 0.0"),
    ({"tile_size": 64, "min_visible": 1.2}, "must be above 0 and at most 1, got 1.2"),
])
def test_bad_options_are_refused(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        rt.RecordTiling(**kwargs)


def _cli():
    spec = importlib.util.spec_from_file_location("create_mask_tf_record", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _small_folder(root) -> str:
    folder = str(root / "maps")
    for stem in ("a", "b"):
        _write_map(folder, stem, 100, 150)
    return folder


def test_tile_size_zero_writes_byte_identical_records(tmp_path):
    folder = _small_folder(tmp_path)
    outputs = {}
    for run, flags in (("plain", []), ("zero", ["--tile_size", "0", "--tile_overlap", "0.3",
                                                "--min_visible", "0.9"])):
        prefix, gt = str(tmp_path / run / "rec"), str(tmp_path / run / "gt.json")
        assert _cli().main(["--input_type", "figure_folder", "--input", folder,
                            "--output_path", prefix, "--num_shards", "2",
                            "--coco_gt_json", gt] + flags) == 0
        outputs[run] = {p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())}
    assert len(outputs["plain"]) == 3 and outputs["plain"] == outputs["zero"]
    direct = convert(make_source("figure_folder", folder), str(tmp_path / "direct" / "rec"), 2,
                     str(tmp_path / "direct" / "gt.json"), tiling=rt.RecordTiling(0))
    assert {Path(p).name: Path(p).read_bytes() for p in direct.outputs} == outputs["plain"]
    assert "tiles" not in direct.summary()


def test_cli_cuts_a_figure_folder_into_tiles(tmp_path, capsys):
    folder = _small_folder(tmp_path)
    prefix, gt = str(tmp_path / "out" / "rec"), str(tmp_path / "out" / "gt.json")
    code = _cli().main(["--input_type", "figure_folder", "--input", folder, "--output_path",
                        prefix, "--coco_gt_json", gt, "--tile_size", "64", "--strict"])
    assert code == 0
    out = capsys.readouterr().out
    decoded = _decoded([f"{prefix}-00000-of-00001.tfrecord"])
    tiles = tile_boxes(100, 150, 64, 0.2)
    assert "images: read 2, written" in out
    assert f"tiles (size 64, overlap 0.2, min visible 0.5): cut {2 * len(tiles)}" in out
    assert decoded and all(f[F.image].shape == (64, 64, 3) for f in decoded.values())
    assert all(name.startswith(("a.png#tile-", "b.png#tile-")) for name in decoded)
    coco = json.loads(Path(gt).read_text())
    assert sorted(img["file_name"] for img in coco["images"]) == sorted(decoded)
    assert len(coco["annotations"]) == sum(len(f[F.groundtruth_classes])
                                           for f in decoded.values())
    code = _cli().main(["--input_type", "figure_folder", "--input", folder, "--output_path",
                        prefix, "--tile_size", "64", "--keep_empty_tiles"])
    assert code == 0
    assert len(_decoded([f"{prefix}-00000-of-00001.tfrecord"])) == 2 * len(tiles)


@pytest.mark.parametrize("flags, problem", [
    (["--tile_size", "-3"], "--tile_size must be 0 (off) or a positive number of pixels, got -3"),
    (["--tile_size", "64", "--tile_overlap", "1.5"],
     "--tile_overlap must be at least 0 and below 1, got 1.5"),
    (["--tile_size", "64", "--min_visible", "0"], "--min_visible must be above 0 and at most 1, got 0.0"),
    (["--tile_size", "64", "--min_visible", "1.01"], "--min_visible must be above 0 and at most 1, got 1.01"),
])
def test_cli_bad_tile_flags_stop_with_one_error_line(tmp_path, capsys, flags, problem):
    folder = _small_folder(tmp_path)
    code = _cli().main(["--input_type", "figure_folder", "--input", folder,
                        "--output_path", str(tmp_path / "out" / "rec")] + flags)
    assert code == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and problem in errors[0]
    assert not (tmp_path / "out").exists()


def test_instance_in_no_tile_is_counted_even_in_a_strict_conversion(tmp_path):
    """The flags ask for it: a figure larger than a tile is a counted skip, not an error."""
    folder = str(tmp_path / "maps")
    _write_map(folder)
    stats = convert(make_source("figure_folder", folder, strict=True), str(tmp_path / "rec"),
                    tiling=rt.RecordTiling(TILE, OVERLAP))
    assert stats.skip_reasons == {rt.IN_NO_TILE: 1} and stats.instances_skipped == 1


def test_help_describes_the_tile_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli().main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--tile_size", "--tile_overlap", "--min_visible", "--keep_empty_tiles"):
        assert flag in text
