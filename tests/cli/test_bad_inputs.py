"""Bad inputs and faults of the application command lines (evaluation.py and the extraction
scripts): each stops with one ``error:`` line naming the file and writes nothing, or is skipped
and named in the summary; awkward images are decoded; symbolic links are named."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import evaluation
import extract_characters_for_animation
import extract_characters_for_training
from object_detection import atomic_files
from object_detection.dataset_tools import figure_folder
from tests.cli.conftest import MAP_ONE, error_line, read_rgb, tree, write_maps
from tests.export.conftest import sample_image


def _model_case(case: str, exported_model: Path, tmp_path: Path) -> tuple[Path, str]:
    """(--model, the expected error) of a broken or foreign model."""
    broken = tmp_path / "model"
    if case == "no export.json":
        shutil.copytree(exported_model, broken)
        (broken / "export.json").unlink()
        return broken, f"{broken} is an incomplete export (no export.json: was convert_model.py "
    if case == "variables missing":
        shutil.copytree(exported_model, broken)
        shutil.rmtree(broken / "saved_model" / "variables")
        return broken, f"{broken} is an incomplete export (saved_model/variables/"
    if case == "not an export":
        broken.mkdir()
        (broken / "readme.txt").write_text("x", encoding="utf-8")
        return broken, f"{broken}: not an exported model: no saved_model.pb"
    junk = tmp_path / "model.pb"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    return junk, f"{junk}: not a frozen graph"


MODEL_CASES = ["no export.json", "variables missing", "not an export", "random bytes .pb"]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_evaluation_refuses_a_broken_model(exported_model, tmp_path, capsys, case):
    model, expected = _model_case(case, exported_model, tmp_path)
    images, out = tmp_path / "maps", tmp_path / "out"
    write_maps(images)
    before = tree(tmp_path)
    code = evaluation.main(["--model", str(model), "--images", str(images),
                            "--output_dir", str(out)])
    assert code == 1
    assert error_line(capsys.readouterr().err).startswith(f"error: {expected}")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("case", MODEL_CASES[:2])
def test_extraction_refuses_a_broken_model(exported_model, tmp_path, capsys, case):
    model, expected = _model_case(case, exported_model, tmp_path)
    images, out = tmp_path / "maps", tmp_path / "out"
    write_maps(images)
    code = extract_characters_for_animation.main(["--model", str(model), "--images",
                                                  str(images), "--output_dir", str(out)])
    assert code == 1 and error_line(capsys.readouterr().err).startswith(f"error: {expected}")
    assert not out.exists()


@pytest.mark.parametrize("content, expected", [
    ('{"images": [{"id": 1, "file_name": "map one.png", "height"', "not a JSON file"),
    (b"\x89PNG\r\n\x1a\n\x00\xff binary", "not a JSON file"),
    ("[1, 2, 3]", "not a COCO ground-truth file (no 'images' list)"),
    ("", "not a JSON file"),
])
def test_evaluation_refuses_ground_truth_that_is_not_coco_json(exported_model, tmp_path, capsys,
                                                               content, expected):
    truth = tmp_path / "truth.json"
    if isinstance(content, bytes):
        truth.write_bytes(content)
    else:
        truth.write_text(content, encoding="utf-8")
    images, out = tmp_path / "maps", tmp_path / "out"
    write_maps(images)
    code = evaluation.main(["--model", str(exported_model), "--images", str(images),
                            "--ground_truth", str(truth), "--output_dir", str(out)])
    assert code == 1
    assert error_line(capsys.readouterr().err).startswith(f"error: {truth}: {expected}")
    assert not out.exists()


def test_an_output_folder_that_is_a_file_or_under_one(exported_model, tmp_path, capsys):
    images = tmp_path / "maps"
    write_maps(images)
    a_file = tmp_path / "results"
    a_file.write_text("mine", encoding="utf-8")
    for out, expected in ((a_file, f"{a_file}: output folder exists and is not a folder"),
                          (a_file / "sub", f"{a_file / 'sub'}: cannot be the output folder, "
                                           f"{a_file} is a file, not a folder")):
        for main, flag in ((evaluation.main, "--images"),
                           (extract_characters_for_animation.main, "--images")):
            code = main(["--model", str(exported_model), flag, str(images), "--output_dir",
                         str(out)])
            assert code == 1 and error_line(capsys.readouterr().err) == f"error: {expected}"
    assert a_file.read_text(encoding="utf-8") == "mine"


def test_a_read_only_output_folder_stops_with_one_line(exported_model, tmp_path, capsys,
                                                       monkeypatch):
    """A read-only file system, simulated (the tests run as root, whom chmod does not stop):
    every atomic write fails as the kernel would fail it (EROFS). The error names the file and
    no file, whole or half, is left in the output folder."""
    def read_only(path, mode="w", **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(atomic_files, "open_atomic", read_only)
    images = tmp_path / "maps"
    write_maps(images)
    for main in (evaluation.main, extract_characters_for_animation.main):
        out = tmp_path / main.__module__
        code = main(["--model", str(exported_model), "--images", str(images), "--output_dir",
                     str(out)])
        assert code == 1
        line = error_line(capsys.readouterr().err)
        assert line.startswith(f"error: {out}") and line.endswith(": read-only file system")
        assert [p for p in out.rglob("*") if p.is_file()] == []


def _awkward_maps(folder: Path) -> dict[str, np.ndarray]:
    """Maps in awkward formats; returns {name: the RGB pixels expected from it}."""
    folder.mkdir()
    rgb = sample_image(4, 48, 64)
    expected = {}
    gray16 = (rgb[..., 0].astype(np.uint16) * 257 + 100)
    Image.fromarray(gray16).save(folder / "gray 16 bit.png")
    expected["gray 16 bit.png"] = np.repeat(np.round(gray16 / 257.0).astype(np.uint8)[..., None],
                                          3, -1)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    expected["cmyk.jpg"] = None  # lossy: compared with a tolerance
    palette = Image.fromarray(rgb).quantize(16)
    palette.save(folder / "palette.png", transparency=0)
    expected["palette.png"] = np.asarray(palette.convert("RGB"))
    Image.fromarray(rgb).convert("LA").save(folder / "gray alpha.png")
    expected["gray alpha.png"] = np.asarray(Image.fromarray(rgb).convert("L").convert("RGB"))
    Image.fromarray(rgb).convert("1").save(folder / "one bit.png")
    expected["one bit.png"] = np.asarray(Image.fromarray(rgb).convert("1").convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 8  # a viewer shows it turned; read as stored, as TensorFlow decodes it
    Image.fromarray(rgb).save(folder / "rotated.png", exif=exif)
    expected["rotated.png"] = rgb
    Image.fromarray(rgb).save(folder / "cut.png")
    data = (folder / "cut.png").read_bytes()
    (folder / "cut.png").write_bytes(data[:len(data) // 2])
    return expected


def test_awkward_images_are_decoded_or_skipped_with_the_reason(exported_model, tmp_path,
                                                               capsys):
    images, out = tmp_path / "maps", tmp_path / "out"
    expected = _awkward_maps(images)
    code = evaluation.main(["--model", str(exported_model), "--images", str(images),
                            "--output_dir", str(out), "--score_threshold", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"{len(expected)} map(s) processed" in printed
    assert "1 file(s) skipped:" in printed
    assert f"  {images / 'cut.png'}: not a readable image (image file is truncated)" in printed
    for name, pixels in expected.items():
        drawn = read_rgb(out / (name.rsplit(".", 1)[0] + ".png"))  # nothing drawn above 1
        if pixels is None:
            assert drawn.shape == (48, 64, 3)
            assert np.abs(drawn.astype(int) - sample_image(4, 48, 64)).mean() < 4, name
        else:
            np.testing.assert_array_equal(drawn, pixels, err_msg=name)
    assert not (out / "cut.png").exists()


def _linked_maps(tmp_path: Path, outside: int) -> tuple[Path, Path]:
    images, elsewhere = tmp_path / "maps", tmp_path / "elsewhere"
    write_maps(images)
    elsewhere.mkdir()
    for index in range(outside):
        Image.fromarray(sample_image(index, 40, 50)).save(elsewhere / f"{index}.png")
        (images / f"l{index}.png").symlink_to(elsewhere / f"{index}.png")
    (images / "same.png").symlink_to(MAP_ONE)
    return images, elsewhere


def test_symbolic_links_are_read_and_named_in_the_summary(exported_model, tmp_path, capsys):
    images, elsewhere = _linked_maps(tmp_path, outside=7)
    code = evaluation.main(["--model", str(exported_model), "--images", str(images),
                            "--output_dir", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "10 map(s) processed" in printed  # 2 maps, 7 links outside, 1 inside
    named = ", ".join(f"{images / f'l{i}.png'} (symlink to {elsewhere / f'{i}.png'})"
                      for i in range(5))
    assert f"7 image(s) read from outside {images}: {named} and 2 more\n" in printed
    assert (f"1 image(s) read through symbolic links within {images}: "
            f"{images / 'same.png'} (symlink to {MAP_ONE})\n") in printed
    assert sorted(p.name for p in elsewhere.iterdir()) == [f"{i}.png" for i in range(7)]


def test_symbolic_links_of_a_figure_folder_are_named(exported_model, tmp_path, capsys):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    figure = figure_folder.FigureMap(sample_image(0, 40, 50), np.zeros((40, 50), np.uint8),
                                     np.full((40, 50), 255, np.uint8), [])
    figure_folder.write_map(str(elsewhere), "a", figure, "png")
    figure_folder.write_map(str(data), "b", figure, "png")
    (data / "images" / "a.png").symlink_to(elsewhere / "images" / "a.png")
    for part in ("masks", "keypoints"):  # only the image is a link
        for path in (elsewhere / part).iterdir():
            shutil.copy(path, data / part / path.name)
    code = extract_characters_for_training.main(["--model", str(exported_model), "--data",
                                                 str(data), "--output_dir", str(tmp_path / "o")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert (f"1 image(s) read from outside {data / 'images'}: {data / 'images' / 'a.png'} "
            f"(symlink to {elsewhere / 'images' / 'a.png'})") in printed
    assert "2 map(s) processed" in printed
