"""Writing result files only inside one output folder, and keeping a list of what was written.

``safe_name`` turns any text (an image's file stem, say) into one path component;
``OutputFolder`` refuses any relative path that would leave its folder (``..``, absolute paths,
symbolic links pointing outside) and records every file it writes. Every file is written
atomically (``atomic_files``): complete at its path, or not there (or as it was) at all.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

import numpy as np
from PIL import Image

from object_detection import atomic_files

_JPEG_QUALITY = 95


def safe_name(text: str, replacement: str = "_") -> str:
    """One path component made from ``text``: path separators, control characters and NUL
    replaced, no leading/trailing spaces, never empty, ``.`` or ``..``. Spaces and non-ASCII
    letters are kept ("Karte Zürich" stays as it is)."""
    seps = {os.sep, "/", "\\"} | ({os.altsep} if os.altsep else set())
    chars = [replacement if c in seps or unicodedata.category(c).startswith("C") else c
             for c in text]
    name = "".join(chars).strip()
    if name in ("", ".", ".."):
        name = name.replace(".", replacement) or replacement
    return name


class OutputFolder:
    """A folder that result files are written into (created on first use).

    Every path is relative to ``root``; writes whose real path (after following symbolic
    links) is not inside ``root`` raise ValueError. ``written`` lists the absolute paths
    written, in order.
    """

    def __init__(self, root: str) -> None:
        if not root:
            raise ValueError("output folder: empty path")
        self.root = os.path.abspath(root)
        atomic_files.check_output_folder(self.root)
        self.written: list[str] = []

    def path(self, relative: str) -> str:
        """The absolute path of ``relative`` (``/``-separated) inside the folder; ValueError when
        it would lead outside."""
        parts = relative.split("/")
        if os.path.isabs(relative) or any(p in ("", ".", "..") or p != safe_name(p) for p in parts):
            raise ValueError(f"{self.root}: refusing output path '{relative}' (not a plain relative path)")
        path = os.path.join(self.root, *parts)
        real_root = os.path.realpath(self.root)
        if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
            raise ValueError(f"{path}: refusing to write outside the output folder {self.root}")
        return path

    def makedirs(self, relative: str = "") -> str:
        """Creates ``relative`` (and the root) if needed; returns its absolute path."""
        path = self.path(relative) if relative else self.root
        os.makedirs(path, exist_ok=True)
        return path

    def _target(self, relative: str) -> str:
        parent = relative.rsplit("/", 1)[0] if "/" in relative else ""
        self.makedirs(parent)
        path = self.path(relative)
        if os.path.isdir(path):
            raise ValueError(f"{path}: a folder is in the way of an output file")
        return path

    def write_image(self, relative: str, pixels: np.ndarray) -> str:
        """Writes uint8 ``[H, W]`` (L), ``[H, W, 3]`` (RGB) or ``[H, W, 4]`` (RGBA) pixels as
        PNG or JPEG (by the extension; JPEG quality 95, RGB or L only)."""
        path = self._target(relative)
        image = Image.fromarray(np.ascontiguousarray(pixels, np.uint8))
        with atomic_files.open_atomic(path, "wb") as f:
            if path.lower().endswith((".jpg", ".jpeg")):
                image.save(f, format="JPEG", quality=_JPEG_QUALITY)
            else:
                image.save(f, format="PNG")
        self.written.append(path)
        return path

    def write_json(self, relative: str, value: Any) -> str:
        """Writes ``value`` as compact JSON (no newline at the end, as published)."""
        path = self._target(relative)
        atomic_files.write_json(path, value, trailing_newline=False)
        self.written.append(path)
        return path

    def remove(self, relative: str) -> bool:
        """Removes the file ``relative`` if it is there; returns whether it was."""
        path = self.path(relative)
        if not os.path.lexists(path) or os.path.isdir(path):
            return False
        os.remove(path)
        return True
