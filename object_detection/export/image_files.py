"""Image files for inference: which files of a folder are images, and reading one as RGB.

A file is taken for an image by its extension (``IMAGE_EXTENSIONS``, any case); everything
else in a folder is listed apart so that the caller can say what it skipped. Names with spaces
or any Unicode characters are fine. Images that are symbolic links are read (not refused) and
listed apart too (``FolderListing.links``), marking those whose file lies outside the folder,
so that a summary can name them.

``read_rgb`` decodes as the records are written and read in training (grayscale replicated,
alpha dropped, palettes expanded, 16 bits scaled to 8 with rounding) in the stored pixel order:
the EXIF orientation is ignored, as TensorFlow's decoders (and so training and the exported
models) ignore it, so that a map gives the same detections from a path as from its bytes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from object_detection.dataset_tools import image_io

IMAGE_EXTENSIONS = image_io.IMAGE_EXTENSIONS


@dataclasses.dataclass(frozen=True)
class Link:
    """An image entry of a folder that is a symbolic link: where it points (as written in the
    link) and whether the file it leads to lies outside the folder."""

    path: Path
    target: str
    outside: bool

    def describe(self) -> str:
        return f"{self.path} (symlink to {self.target})"


@dataclasses.dataclass(frozen=True)
class FolderListing:
    """The entries of a folder, sorted by name: image files, other files, sub-folders, and
    the image files that are symbolic links."""

    images: list[Path]
    other_files: list[Path]
    folders: list[Path]
    links: list[Link] = dataclasses.field(default_factory=list)


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
    return FolderListing(images, others, folders, image_links(folder, images))


def image_links(folder: str | os.PathLike, paths: list[Path]) -> list[Link]:
    """The ``paths`` (entries of ``folder``) that are symbolic links, with their targets."""
    real_folder = os.path.realpath(folder)
    links = []
    for path in paths:
        if not path.is_symlink():
            continue
        real = os.path.realpath(path)
        outside = os.path.commonpath([real_folder, real]) != real_folder
        links.append(Link(path, os.readlink(path), outside))
    return links


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """uint8 [H, W, 3] RGB pixels of an image file, decoded as the dataset tools decode maps
    for the records (``dataset_tools.image_io.read_rgb``; see the module docstring).

    Raises FileNotFoundError when the file (or the target of a symbolic link) is missing and
    ValueError naming the file when it does not decode.
    """
    return image_io.read_rgb(path)
