"""Reading awkward image files as RGB (16 bits, CMYK, palettes with transparency, gray with
alpha, 1 bit, EXIF orientation, truncated, floating point) and the symbolic links of a folder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from object_detection.export import image_files

RED = (200, 30, 40)


def _png_rgb16(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (PIL cannot write one)."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "I;16"
    pixels = image_files.read_rgb(tmp_path / "g.png")
    assert pixels.shape == (30, 40, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels[..., 0], np.round(values / 257.0))   # as the records
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_16_bit_rgb(tmp_path):
    values = np.zeros((4, 5, 3), np.uint16)
    values[...] = (65535, 32768, 2570)
    _png_rgb16(tmp_path / "c.png", values)
    np.testing.assert_array_equal(image_files.read_rgb(tmp_path / "c.png")[2, 3], (255, 128, 10))


def test_cmyk_jpeg(tmp_path):
    Image.new("RGB", (30, 20), RED).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    pixels = image_files.read_rgb(tmp_path / "c.jpg")
    assert pixels.shape == (20, 30, 3)
    assert np.abs(pixels[10, 15].astype(int) - RED).max() <= 3


def test_palette_with_transparency_and_gray_with_alpha_drop_the_alpha(tmp_path):
    """As the training input does (data.decoder: the colour under the alpha is kept)."""
    palette = Image.new("P", (30, 20), 0)
    palette.putpalette([9, 9, 9, *RED] + [0] * 762)
    palette.paste(1, (0, 0, 15, 20))
    palette.save(tmp_path / "p.png", transparency=0)
    pixels = image_files.read_rgb(tmp_path / "p.png")
    np.testing.assert_array_equal(pixels[5, 0], RED)
    np.testing.assert_array_equal(pixels[5, 20], (9, 9, 9))
    Image.new("LA", (30, 20), (100, 0)).save(tmp_path / "la.png")
    np.testing.assert_array_equal(image_files.read_rgb(tmp_path / "la.png")[0, 0], (100,) * 3)


def test_one_bit(tmp_path):
    image = Image.new("1", (8, 4), 0)
    image.paste(1, (0, 0, 4, 4))
    image.save(tmp_path / "b.png")
    pixels = image_files.read_rgb(tmp_path / "b.png")
    assert pixels[0, 0].tolist() == [255] * 3 and pixels[0, 7].tolist() == [0] * 3


def test_exif_orientation_is_ignored(tmp_path):
    """Orientation 6 (a viewer shows the image turned 90 degrees): the stored pixels are read,
    as TensorFlow's decoders (training, exported models) read them."""
    image = Image.new("RGB", (30, 20), (0, 0, 0))
    image.paste(RED, (0, 0, 10, 20))  # the left third
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(tmp_path / "r.jpg", exif=exif, quality=95)
    pixels = image_files.read_rgb(tmp_path / "r.jpg")
    assert pixels.shape == (20, 30, 3)  # as stored: 30 wide, 20 high
    assert np.abs(pixels[10, 2].astype(int) - RED).max() <= 8  # the left third is still left
    assert pixels[10, 25].max() <= 8


@pytest.mark.parametrize("name, write, reason", [
    ("cut.png", lambda p: Image.new("RGB", (64, 64), RED).save(p), "image file is truncated"),
    ("cut.jpg", lambda p: Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(p),
     "image file is truncated"),
    ("float.tif", lambda p: Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(p),
     "floating-point image (mode F) is not supported"),
    ("deep.tif", lambda p: Image.fromarray(np.full((4, 4), 70000, np.int32)).save(p),
     "32-bit integer image (mode I) is not supported"),
])
def test_unreadable_images_name_the_file_and_the_reason(tmp_path, name, write, reason):
    path = tmp_path / name
    write(path)
    if name.startswith("cut"):
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=f"{name}: ") as error:
        image_files.read_rgb(path)
    assert reason in str(error.value)


def test_symbolic_links_are_listed_with_their_targets(tmp_path):
    maps, elsewhere = tmp_path / "maps", tmp_path / "elsewhere"
    maps.mkdir()
    elsewhere.mkdir()
    Image.new("RGB", (4, 4), RED).save(maps / "b.png")
    Image.new("RGB", (4, 4), RED).save(elsewhere / "x.png")
    (maps / "a.png").symlink_to(elsewhere / "x.png")
    (maps / "c.png").symlink_to("b.png")
    (maps / "d.png").symlink_to(elsewhere / "gone.png")
    listing = image_files.list_folder(maps)
    assert [p.name for p in listing.images] == ["a.png", "b.png", "c.png", "d.png"]
    assert [(link.path.name, link.target, link.outside) for link in listing.links] == [
        ("a.png", str(elsewhere / "x.png"), True), ("c.png", "b.png", False),
        ("d.png", str(elsewhere / "gone.png"), True)]
    assert listing.links[0].describe() == f"{maps / 'a.png'} (symlink to {elsewhere / 'x.png'})"
    np.testing.assert_array_equal(image_files.read_rgb(maps / "a.png")[0, 0], RED)
    with pytest.raises(FileNotFoundError,
                       match=r"d.png: image file not found \(broken symlink to .*gone.png\)"):
        image_files.read_rgb(maps / "d.png")
