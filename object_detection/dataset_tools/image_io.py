"""Reading image files for the record writers: encoded bytes kept when possible, errors named.

``read_image`` returns the bytes to store in ``image/encoded``: the original file when it is
already a JPEG or PNG in RGB, otherwise the image converted to RGB and re-encoded as PNG
(lossless): grayscale, 1-bit, palette (transparency dropped), grayscale + alpha and RGBA (alpha
dropped, as TensorFlow's ``decode_image(channels=3)`` drops it), CMYK, 16-bit grayscale (scaled
to 0..255 with rounding, v / 257, as the record decoder scales 16-bit PNGs), and any other format Pillow reads
(BMP, TIFF, WebP, the first frame of a GIF). 32-bit integer and float images are refused.

EXIF orientation is ignored everywhere: pixels and annotations are taken as stored, which is how
TensorFlow decodes the records and how figure-folder masks are aligned. ``EncodedImage`` keeps
the orientation tag so that the conversion can say which images have one.

``read_label_png`` reads annotation images (figure-folder masks, VOC palette PNGs) as arrays.
All raise errors that name the file and the problem.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from collections.abc import Iterator

import numpy as np
from PIL import Image

# The file name extensions (lower case) taken for images wherever a folder of maps is read.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# Formats stored as they are (when RGB). MPO is the JPEG of many cameras, with a second
# picture appended that decoders skip.
_KEPT_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}


@dataclasses.dataclass(frozen=True)
class EncodedImage:
    """An encoded RGB image: ``encoded`` bytes in ``image_format`` ('jpeg' | 'png'), H x W."""

    encoded: bytes
    image_format: str
    height: int
    width: int
    exif_orientation: int = 1


EXIF_ORIENTATION_TAG = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)   # shown turned by 90 degrees: width and height swap


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is no orientation
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def to_rgb(image: Image.Image, name: str) -> Image.Image:
    """``image`` as 8-bit RGB (see the module docstring); ValueError naming ``name`` for modes
    that have no faithful 8-bit view."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16"):
        scaled = np.round(np.asarray(image).astype(np.float64) / 257.0).astype(np.uint8)
        return Image.fromarray(scaled, "L").convert("RGB")
    if image.mode in ("I", "F"):
        raise ValueError(f"{name}: {'32-bit integer' if image.mode == 'I' else 'floating-point'}"
                         f" image (mode {image.mode}) is not supported: save it as 8- or 16-bit")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


@contextlib.contextmanager
def _decoding_errors_named(name: str, what: str = "image") -> Iterator[None]:
    """Pillow's decoding errors become ``ValueError("NAME: not a readable WHAT (...)")``; a
    ValueError that already names ``name`` passes as it is."""
    try:
        yield
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{name}: not a readable {what} ({e})") from e
    except ValueError as e:
        if str(e).startswith(f"{name}: "):
            raise
        raise ValueError(f"{name}: not a readable {what} ({e})") from e


def encode_image_bytes(data: bytes, name: str) -> EncodedImage:
    """Checks that ``data`` decodes, and re-encodes it as RGB PNG unless it is RGB JPEG/PNG.

    Raises ValueError("name: not a readable image (...)") for corrupt or truncated data.
    """
    with _decoding_errors_named(name), Image.open(io.BytesIO(data)) as image:
        image.load()
        width, height = image.size
        orientation = _exif_orientation(image)
        if image.format in _KEPT_FORMATS and image.mode == "RGB":
            return EncodedImage(data, _KEPT_FORMATS[image.format], height, width, orientation)
        rgb = to_rgb(image, name)
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return EncodedImage(buffer.getvalue(), "png", height, width, orientation)


def _missing(path: str, what: str) -> OSError:
    """The error for a ``path`` that is not a file: missing, a broken symlink, or a folder."""
    if os.path.islink(path) and not os.path.exists(path):
        return FileNotFoundError(f"{path}: {what} not found (broken symlink to "
                                 f"{os.readlink(path)})")
    if os.path.isdir(path):
        return IsADirectoryError(f"{path}: is a folder, not a file ({what} expected)")
    return FileNotFoundError(f"{path}: {what} not found")


def read_image(path: str) -> EncodedImage:
    """Reads an image file; FileNotFoundError when it is missing, ValueError when unreadable."""
    if not os.path.isfile(path):
        raise _missing(path, "image file")
    with open(path, "rb") as f:
        return encode_image_bytes(f.read(), path)


def read_rgb(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """uint8 [H, W, 3] pixels of an image file, converted as ``read_image`` converts them (the
    stored pixel order: EXIF orientation ignored; the first frame of an animation).

    FileNotFoundError when the file (or a symbolic link's target) is missing; ValueError naming
    the file when it does not decode (truncated, not an image, 32-bit or float pixels).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _missing(path, f"{what} file")
    with _decoding_errors_named(path, what), Image.open(path) as image:
        image.load()
        return np.asarray(to_rgb(image, path), dtype=np.uint8)


def rotation_hint(image: EncodedImage) -> str:
    """A sentence for size mismatches of an image whose EXIF orientation turns it by 90°."""
    if image.exif_orientation not in _ROTATED_ORIENTATIONS:
        return ""
    return (f" (its EXIF orientation {image.exif_orientation} shows it turned by 90 degrees; "
            "annotations must be in the stored pixel order, which is how TensorFlow decodes it)")


# Modes whose values do not fit 8 bits (or carry no index): refused for annotation images.
_NOT_LABEL_MODES = {"1": "a 1-bit image (instance indices need 8 bits)",
                    "I": "a 32-bit integer image", "F": "a floating-point image"}


def read_label_png(path: str, what: str, modes: tuple[str, ...] | None = None) -> np.ndarray:
    """Reads an annotation image as a uint8 array without converting its values.

    Args:
      path: the file.
      what: what the file is, for messages ("mask", "SegmentationObject PNG").
      modes: accepted PIL modes (e.g. ("P", "L") for index images); None accepts any 8-bit
        mode and converts it to RGB ([H, W, 3]): a palette or grayscale PNG is read by its
        colours, as an image editor shows it (which keeps the values of an RGB mask that a PNG
        optimizer stored as palette or grayscale); 1-bit, 16-bit, 32-bit and float images are
        refused (their values are not 8-bit indices).
    Returns:
      uint8 [H, W] for "P"/"L" images, [H, W, 3] after an RGB conversion.
    """
    if not os.path.isfile(path):
        raise _missing(path, f"{what} file")
    try:
        with Image.open(path) as image:
            image.load()
            if modes is None:
                problem = _NOT_LABEL_MODES.get(image.mode)
                if problem is None and image.mode.startswith("I;16"):
                    problem = "a 16-bit image"
                if problem is not None:
                    raise ValueError(f"{path}: {what} is {problem} (mode {image.mode}); "
                                     "expected an 8-bit RGB PNG")
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
            if image.mode not in modes:
                raise ValueError(f"{path}: {what} has mode {image.mode}, expected one of {modes}")
            return np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: {what} is not a readable image ({e})") from e


def check_size(array: np.ndarray, image: EncodedImage, path: str, what: str,
               image_path: str | None = None) -> None:
    """Raises ValueError, naming ``path`` (and ``image_path``) and both sizes, when ``array``'s
    first two dimensions are not the image's H, W."""
    if array.shape[:2] != (image.height, image.width):
        image_name = f"image {image_path}" if image_path else "image"
        raise ValueError(
            f"{path}: {what} is {array.shape[1]}x{array.shape[0]} pixels (width x height) but "
            f"its {image_name} is {image.width}x{image.height}{rotation_hint(image)}")
