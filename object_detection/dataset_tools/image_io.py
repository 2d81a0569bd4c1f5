"""Reading image files for the record writers: encoded bytes kept when possible, errors named.

``read_image`` returns the bytes to store in ``image/encoded``: the original file when it is
already a JPEG or PNG in RGB, otherwise the image converted to RGB and re-encoded as PNG
(lossless). ``read_label_png`` reads annotation images (figure-folder masks, VOC palette PNGs)
as arrays. Both raise errors that name the file and the problem.
"""

from __future__ import annotations

import dataclasses
import io
import os

import numpy as np
from PIL import Image

_KEPT_FORMATS = {"JPEG": "jpeg", "PNG": "png"}


@dataclasses.dataclass(frozen=True)
class EncodedImage:
    """An encoded RGB image: ``encoded`` bytes in ``image_format`` ('jpeg' | 'png'), H x W."""

    encoded: bytes
    image_format: str
    height: int
    width: int


def encode_image_bytes(data: bytes, name: str) -> EncodedImage:
    """Checks that ``data`` decodes, and re-encodes it as RGB PNG unless it is RGB JPEG/PNG.

    Raises ValueError("name: not a readable image (...)") for corrupt or truncated data.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            if image.format in _KEPT_FORMATS and image.mode == "RGB":
                return EncodedImage(data, _KEPT_FORMATS[image.format], height, width)
            rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{name}: not a readable image ({e})") from e
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return EncodedImage(buffer.getvalue(), "png", height, width)


def read_image(path: str) -> EncodedImage:
    """Reads an image file; FileNotFoundError when it is missing, ValueError when unreadable."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: image file not found")
    with open(path, "rb") as f:
        return encode_image_bytes(f.read(), path)


def read_label_png(path: str, what: str, modes: tuple[str, ...] | None = None) -> np.ndarray:
    """Reads an annotation image as a uint8 array without converting its values.

    Args:
      path: the file.
      what: what the file is, for messages ("mask", "SegmentationObject PNG").
      modes: accepted PIL modes (e.g. ("P", "L") for index images); None accepts any, and
        converts to RGB ([H, W, 3]).
    Returns:
      uint8 [H, W] for "P"/"L" images, [H, W, 3] after an RGB conversion.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: {what} file not found")
    try:
        with Image.open(path) as image:
            image.load()
            if modes is None:
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
            if image.mode not in modes:
                raise ValueError(f"{path}: {what} has mode {image.mode}, expected one of {modes}")
            return np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: {what} is not a readable image ({e})") from e


def check_size(array: np.ndarray, image: EncodedImage, path: str, what: str) -> None:
    """Raises ValueError when ``array``'s first two dimensions are not the image's H, W."""
    if array.shape[:2] != (image.height, image.width):
        raise ValueError(
            f"{path}: {what} is {array.shape[1]}x{array.shape[0]} pixels (width x height) but "
            f"its image is {image.width}x{image.height}")
