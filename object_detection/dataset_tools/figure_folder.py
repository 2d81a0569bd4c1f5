"""The figure-folder layout of the published pictorial-maps dataset: reading and writing one map.

A figure folder holds three sub-folders with one file per map, matched by file stem::

    images/NAME.jpg | NAME.png   the map (any mode; read as RGB; also .bmp, .gif, .tif, .webp)
    masks/NAME.png               RGB: red   = instance index 1..N (0 = no figure),
                                      green = body-part label (see BODY_PART_NAMES,
                                              BACKGROUND_BODY_PART where there is no figure),
                                      blue  = 0
    keypoints/NAME.json          a JSON list with one entry per figure: entry i belongs to
                                 instance i + 1 and maps keypoint names (KEYPOINT_NAMES) to
                                 [x, y] in pixels; a keypoint that is not labelled is left out

Keypoints are optional (a folder without ``keypoints/`` is valid); a map without figures has an
all-zero red channel and an empty list. A mask stored as palette or grayscale PNG is read by its
colours (as an RGB mask); 1-bit and 16-bit masks are refused. Masks are aligned to the image's
stored pixels (an EXIF orientation is ignored).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from PIL import Image

from object_detection import atomic_files
from object_detection.dataset_tools.annotation_values import finite_numbers
from object_detection.dataset_tools import image_io
from object_detection.dataset_tools.image_io import read_label_png, read_rgb

IMAGES_DIR = "images"
MASKS_DIR = "masks"
KEYPOINTS_DIR = "keypoints"
IMAGE_EXTENSIONS = image_io.IMAGE_EXTENSIONS

BODY_PART_NAMES = (
    "torso", "head",
    "right_upper_arm", "right_lower_arm", "right_hand",
    "right_upper_leg", "right_lower_leg", "right_foot",
    "left_upper_leg", "left_lower_leg", "left_foot",
    "left_upper_arm", "left_lower_arm", "left_hand",
)
BACKGROUND_BODY_PART = 255

KEYPOINT_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "neck", "head",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)


@dataclasses.dataclass
class FigureMap:
    """One map of a figure folder, in memory.

    Attributes:
      image: uint8 [H, W, 3] RGB.
      instances: uint8 [H, W]; 0 background, k for the k-th figure (1-based).
      body_parts: uint8 [H, W]; index into BODY_PART_NAMES, BACKGROUND_BODY_PART elsewhere.
      keypoints: one dict per figure (entry i for instance i + 1): name -> (x, y) in pixels.
    """

    image: np.ndarray
    instances: np.ndarray
    body_parts: np.ndarray
    keypoints: list[dict[str, tuple[float, float]]]

    @property
    def num_figures(self) -> int:
        return max(int(self.instances.max(initial=0)), len(self.keypoints))


def list_maps(folder: str) -> list[tuple[str, str]]:
    """(stem, image file name) of every image in ``folder/images`` (by its extension, any case;
    not folders), sorted by name."""
    images_dir = os.path.join(folder, IMAGES_DIR)
    if not os.path.isdir(images_dir):
        raise FileNotFoundError(f"{folder}: no '{IMAGES_DIR}/' folder (figure folder layout expected)")
    names = sorted(n for n in os.listdir(images_dir) if n.lower().endswith(IMAGE_EXTENSIONS)
                   and not os.path.isdir(os.path.join(images_dir, n)))
    return [(os.path.splitext(n)[0], n) for n in names]


def mask_path(folder: str, stem: str) -> str:
    return os.path.join(folder, MASKS_DIR, stem + ".png")


def keypoints_path(folder: str, stem: str) -> str:
    return os.path.join(folder, KEYPOINTS_DIR, stem + ".json")


def read_keypoints(path: str) -> list[dict[str, tuple[float, float]]]:
    """Reads a keypoints JSON file: a list with one {name: [x, y]} entry per figure.

    Raises ValueError naming the file (and the figure and keypoint) when it is not UTF-8 JSON,
    not a list of objects, or a keypoint is not two finite numbers.
    """
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: keypoints file is not a JSON file ({e})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{path}: expected a JSON list of {{keypoint name: [x, y]}} objects")
    result = []
    for i, entry in enumerate(entries):
        points = {}
        for name, xy in entry.items():
            if not (isinstance(xy, (list, tuple)) and len(xy) == 2):
                raise ValueError(f"{path}: figure {i + 1}, keypoint '{name}': expected [x, y], got {xy!r}")
            x, y = finite_numbers(xy, f"{path}: figure {i + 1}, keypoint '{name}'", "[x, y]")
            points[name] = (x, y)
        result.append(points)
    return result


def read_annotations(folder: str, stem: str, image_name: str,
                     ) -> tuple[np.ndarray, np.ndarray, list[dict[str, tuple[float, float]]]]:
    """Reads the mask and keypoints of one map: (instances, body_parts, keypoints).

    ``instances`` and ``body_parts`` are uint8 [H, W] (red and green channels); ``keypoints``
    has one entry per figure (entry i for instance i + 1; ``{}`` for figures without any), or is
    empty when the folder has no ``keypoints/``. A folder that has ``keypoints/`` needs a file for
    every map. Raises FileNotFoundError / ValueError naming the file and the problem.
    """
    mask_file = mask_path(folder, stem)
    if not os.path.isfile(mask_file):
        raise FileNotFoundError(f"{mask_file}: mask file missing for image {image_name}")
    mask = read_label_png(mask_file, "mask")
    instances, body_parts = mask[..., 0].copy(), mask[..., 1].copy()
    keypoints: list[dict[str, tuple[float, float]]] = []
    if os.path.isdir(os.path.join(folder, KEYPOINTS_DIR)):
        path = keypoints_path(folder, stem)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: keypoints file missing for image {image_name}")
        keypoints = read_keypoints(path)
        for i, entry in enumerate(keypoints):
            unknown = sorted(set(entry) - set(KEYPOINT_NAMES))
            if unknown:
                raise ValueError(f"{path}: figure {i + 1}: unknown keypoint name(s) "
                                 f"{', '.join(unknown)} (expected names from KEYPOINT_NAMES)")
        keypoints += [{} for _ in range(int(instances.max(initial=0)) - len(keypoints))]
    return instances, body_parts, keypoints


def read_map(folder: str, stem: str, image_name: str) -> FigureMap:
    """Reads one map of a figure folder into memory (the image as RGB).

    Raises FileNotFoundError / ValueError naming the file when it is missing or unreadable,
    or when the mask's size differs from the image's.
    """
    image_file = os.path.join(folder, IMAGES_DIR, image_name)
    if not os.path.isfile(image_file):
        raise FileNotFoundError(f"{image_file}: image file not found")
    instances, body_parts, keypoints = read_annotations(folder, stem, image_name)
    image = read_rgb(image_file)
    if image.shape[:2] != instances.shape:
        raise ValueError(f"{mask_path(folder, stem)}: mask is {instances.shape[1]}x"
                         f"{instances.shape[0]} pixels (width x height) but its image "
                         f"{image_file} is {image.shape[1]}x{image.shape[0]}")
    return FigureMap(image, instances, body_parts, keypoints)


def write_map(folder: str, stem: str, figure_map: FigureMap, image_format: str = "png",
              png_compress_level: int = 1) -> None:
    """Writes one map into ``folder`` in the figure-folder layout (creating the sub-folders).

    Each file is written atomically (``atomic_files``). PNGs are written with zlib level
    ``png_compress_level`` (1: three times faster than Pillow's default 6, for files about a
    third larger; lossless either way).
    """
    for sub in (IMAGES_DIR, MASKS_DIR, KEYPOINTS_DIR):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    ext = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg"}[image_format]
    image = Image.fromarray(figure_map.image.astype(np.uint8), "RGB")
    with atomic_files.open_atomic(os.path.join(folder, IMAGES_DIR, stem + ext), "wb") as f:
        if ext == ".jpg":
            image.save(f, format="JPEG", quality=95)
        else:
            image.save(f, format="PNG", compress_level=png_compress_level)
    mask = np.zeros(figure_map.instances.shape + (3,), np.uint8)
    mask[..., 0] = figure_map.instances
    mask[..., 1] = figure_map.body_parts
    with atomic_files.open_atomic(mask_path(folder, stem), "wb") as f:
        Image.fromarray(mask, "RGB").save(f, format="PNG", compress_level=png_compress_level)
    entries = [{k: [round(float(v[0]), 2), round(float(v[1]), 2)] for k, v in kp.items()}
               for kp in figure_map.keypoints]
    atomic_files.write_json(keypoints_path(folder, stem), entries, trailing_newline=False)
