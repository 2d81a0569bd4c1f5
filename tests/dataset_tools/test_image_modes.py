"""Map images of every format and mode a figure folder may hold, as the records store them."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.dataset_tools.image_io import encode_image_bytes
from object_detection.fields import TfExampleKeys as K

H, W = 16, 24


def _pattern() -> np.ndarray:
    """Four flat colour blocks (few colours, so that GIF keeps them exactly)."""
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:8, :12] = (200, 30, 40)
    rgb[:8, 12:] = (10, 220, 90)
    rgb[8:, :12] = (0, 0, 250)
    rgb[8:, 12:] = (255, 255, 255)
    return rgb


def _folder_with(tmp_path, name: str, save) -> str:
    """A figure folder with one map ``images/name`` written by ``save(path)``."""
    folder = str(tmp_path / "maps")
    instances = np.zeros((H, W), np.uint8)
    instances[1:5, 2:7] = 1
    ff.write_map(folder, "m", ff.FigureMap(np.zeros((H, W, 3), np.uint8), instances,
                                           np.zeros((H, W), np.uint8), [{}]))
    os.remove(os.path.join(folder, "images", "m.png"))
    save(os.path.join(folder, "images", name))
    return folder


def _converted(tmp_path, folder, records):
    stats = convert(make_source("figure_folder", folder), str(tmp_path / "rec"), 1)
    (record,) = records([p for p in stats.outputs if p.endswith(".tfrecord")])
    pixels = np.asarray(Image.open(io.BytesIO(record[K.image_encoded])))
    return stats, record, pixels


@pytest.mark.parametrize("name, options", [("m.bmp", {}), ("m.tif", {}), ("m.TIFF", {}),
                                           ("m.webp", {"lossless": True}), ("m.gif", {})])
def test_other_formats_in_images_are_read_and_stored_as_png(tmp_path, records, name, options):
    folder = _folder_with(tmp_path, name, lambda p: Image.fromarray(_pattern()).save(p, **options))
    stats, record, pixels = _converted(tmp_path, folder, records)
    assert (stats.images_read, stats.images_written, stats.images_skipped) == (1, 1, 0)
    assert record[K.image_format] == b"png" and record[K.filename] == name.encode()
    np.testing.assert_array_equal(pixels, _pattern())
    np.testing.assert_array_equal(record["masks"][0][1:5, 2:7], 1)


def test_16_bit_grayscale_is_scaled_with_rounding(tmp_path, records):
    gray = (np.arange(H * W, dtype=np.uint16).reshape(H, W) * 170)     # 0 .. 65110
    folder = _folder_with(tmp_path, "m.png", lambda p: Image.fromarray(gray).save(p))
    assert Image.open(os.path.join(folder, "images", "m.png")).mode == "I;16"
    _, record, pixels = _converted(tmp_path, folder, records)
    assert record[K.image_format] == b"png"
    expected = np.round(gray / 257.0).astype(np.uint8)   # as data/decoder.py scales 16-bit PNGs
    assert expected.max() == 253 and expected[0, 1] == 1 and expected[0, 3] == 2   # 65110/257, 170/257, 510/257
    np.testing.assert_array_equal(pixels, np.stack([expected] * 3, axis=-1))


def test_one_bit_grayscale_alpha_and_palette_with_transparency(tmp_path, records):
    bits = _pattern()[..., 0] > 100                                    # red blocks and white
    folder = _folder_with(tmp_path, "m.png", lambda p: Image.fromarray(bits).save(p))
    np.testing.assert_array_equal(_converted(tmp_path, folder, records)[2],
                                  np.stack([bits * 255] * 3, axis=-1))
    la = np.stack([_pattern()[..., 1], np.full((H, W), 7, np.uint8)], axis=-1)
    folder = _folder_with(tmp_path, "m.png", lambda p: Image.fromarray(la, "LA").save(p))
    np.testing.assert_array_equal(_converted(tmp_path, folder, records)[2],   # alpha dropped
                                  np.stack([la[..., 0]] * 3, axis=-1))
    indices = np.zeros((H, W), np.uint8)
    indices[:, 12:] = 1

    def save_palette(path):
        image = Image.fromarray(indices, "P")
        image.putpalette([9, 8, 7, 200, 100, 50] + [0] * 762)
        image.save(path, transparency=0)

    folder = _folder_with(tmp_path, "m.png", save_palette)
    pixels = _converted(tmp_path, folder, records)[2]
    assert pixels[0, 0].tolist() == [9, 8, 7] and pixels[0, 20].tolist() == [200, 100, 50]


def test_cmyk_jpeg_is_converted_to_rgb_png(tmp_path, records):
    cmyk = Image.new("CMYK", (W, H), (0, 255, 255, 0))                 # pure red
    folder = _folder_with(tmp_path, "m.jpg", lambda p: cmyk.save(p, quality=100))
    _, record, pixels = _converted(tmp_path, folder, records)
    assert record[K.image_format] == b"png" and pixels.shape == (H, W, 3)
    assert np.abs(pixels.astype(int) - (255, 0, 0)).max() <= 3


def test_exif_orientation_is_ignored_and_announced(tmp_path, records):
    exif = Image.Exif()
    exif[0x0112] = 6                                                   # "rotate 90 to show"
    folder = _folder_with(tmp_path, "m.jpg", lambda p: Image.fromarray(_pattern()).save(
        p, quality=95, exif=exif.tobytes()))
    stats, record, pixels = _converted(tmp_path, folder, records)
    with open(os.path.join(folder, "images", "m.jpg"), "rb") as f:
        assert record[K.image_encoded] == f.read()                     # the bytes as stored
    assert (record[K.height], record[K.width]) == (H, W)
    np.testing.assert_allclose(record["boxes_yx"][0], (1 / H, 2 / W, 5 / H, 7 / W))
    assert ("1 image with an EXIF orientation, ignored (pixels and annotations are taken as "
            "stored, as TensorFlow decodes them): images/m.jpg (orientation 6)") in stats.summary()


def test_mask_drawn_on_the_rotated_view_is_refused_with_a_hint(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8
    folder = _folder_with(tmp_path, "m.jpg", lambda p: Image.fromarray(_pattern()).save(
        p, exif=exif.tobytes()))
    Image.fromarray(np.zeros((W, H, 3), np.uint8)).save(ff.mask_path(folder, "m"))
    with pytest.raises(ValueError, match=re.escape(ff.mask_path(folder, "m")) + r": mask is "
                       r"16x24 pixels .* is 24x16 \(its EXIF orientation 8 shows it turned"):
        list(make_source("figure_folder", folder))


def test_32_bit_and_unreadable_images_name_the_file(tmp_path, earlier_output):
    folder = _folder_with(tmp_path, "m.tif", lambda p: Image.fromarray(
        np.full((H, W), 70000, np.int32), "I").save(p))
    path = os.path.join(folder, "images", "m.tif")
    with pytest.raises(ValueError, match=re.escape(path) + r": 32-bit integer image \(mode I\) "
                                                           r"is not supported"):
        earlier_output.convert(make_source("figure_folder", folder))
    earlier_output.assert_intact()
    open(path, "wb").close()                                           # an empty file
    with pytest.raises(ValueError, match=re.escape(path) + r": not a readable image"):
        earlier_output.convert(make_source("figure_folder", folder))
    earlier_output.assert_intact()


def test_content_decides_the_format_not_the_extension():
    buffer = io.BytesIO()
    Image.fromarray(_pattern()).save(buffer, format="JPEG")
    encoded = encode_image_bytes(buffer.getvalue(), "looks_like.png")
    assert (encoded.image_format, encoded.height, encoded.width) == ("jpeg", H, W)
    assert encoded.encoded == buffer.getvalue()
