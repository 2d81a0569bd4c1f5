"""Image files for inference: which files of a folder are images, and reading one as RGB.

A file is taken for an image by its extension (``IMAGE_EXTENSIONS``, any case); everything
else in a folder is listed apart so that the caller can say what it skipped. Names with spaces
or any Unicode characters are fine.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclasses.dataclass(frozen=True)
class FolderListing:
    """The entries of a folder, sorted by name: image files, other files, sub-folders."""

    images: list[Path]
    other_files: list[Path]
    folders: list[Path]


def is_image_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_folder(folder: str | os.PathLike) -> FolderListing:
    """Sorts the entries of ``folder`` (not recursive); FileNotFoundError when it is not a
    folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    images, others, folders = [], [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.is_dir():
            folders.append(entry)
        elif is_image_name(entry):
            images.append(entry)
        else:
            others.append(entry)
    return FolderListing(images, others, folders)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """uint8 [H, W, 3] RGB pixels of an image file (grayscale, palette and alpha converted as
    PIL's ``convert("RGB")``; the first frame of an animation).

    Raises FileNotFoundError when the file is missing and ValueError naming the file when it
    does not decode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"), np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"{path}: not a readable image ({error})") from None
