"""Figure folders (``figure_folder`` layout) as a source of ``AnnotatedImage``s.

Instance k is the mask's red channel == k (k = 1..N); its keypoints are entry k - 1 of the
map's keypoints JSON, stored in ``KEYPOINT_NAMES`` order. Every instance gets one class
(default "character", id 1, or the label map's id of that name). A folder with a
``keypoints/`` sub-folder needs a keypoints file for every image; one without has no keypoints.

What is not converted is counted as a skipped image: an entry of ``images/`` that is not a map
image (another extension, a folder), and a mask or keypoints file without an image. Hidden
entries (names starting with ".") are ignored. Files reached through symlinks that lead out of
the folder are named in the summary.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools.annotated_image import AnnotatedImage, Instance, assemble_image
from object_detection.dataset_tools.class_map import ClassMap
from object_detection.dataset_tools.conversion_stats import ConversionStats, skip
from object_detection.dataset_tools.image_io import check_size, read_image

_LOG = logging.getLogger(__name__)

DEFAULT_CLASS_NAME = "character"
NOT_A_MAP = "not a map image"
NO_IMAGE = "annotation without an image"


class FigureFolderSource:
    """Iterates the maps of a figure folder, sorted by image file name.

    Attributes:
      stats: counts of what was read and skipped.
      categories: the COCO categories (the one class).
      keypoint_names: KEYPOINT_NAMES, or None when the folder has no ``keypoints/``.
    """

    def __init__(self, folder: str, class_name: str = DEFAULT_CLASS_NAME,
                 class_map: ClassMap | None = None, stats: ConversionStats | None = None):
        if class_map is not None and class_name not in class_map:
            raise ValueError(f"class '{class_name}' is not in the label map "
                             f"({', '.join(c['name'] for c in class_map.categories)})")
        self.folder = folder
        self.class_name = class_name
        self.class_id = class_map.id_of(class_name) if class_map is not None else 1
        self.stats = stats if stats is not None else ConversionStats()
        self.categories = [{"id": self.class_id, "name": class_name}]
        has_keypoints = os.path.isdir(os.path.join(folder, ff.KEYPOINTS_DIR))
        self.keypoint_names = ff.KEYPOINT_NAMES if has_keypoints else None

    def _maps(self) -> list[tuple[str, str]]:
        maps = ff.list_maps(self.folder)
        by_stem: dict[str, str] = {}
        for stem, name in maps:
            if stem in by_stem:
                raise ValueError(
                    f"{os.path.join(self.folder, ff.IMAGES_DIR)}: duplicate file name '{stem}': "
                    f"{by_stem[stem]} and {name} (one image per stem)")
            by_stem[stem] = name
        return maps

    def _skip_unconverted(self, maps: list[tuple[str, str]]) -> None:
        """Counts the entries of images/ that are not maps and the annotations without a map."""
        images_dir = os.path.join(self.folder, ff.IMAGES_DIR)
        map_names = {name for _, name in maps}
        for name in sorted(os.listdir(images_dir)):
            if name in map_names or name.startswith("."):
                continue
            what = "a folder" if os.path.isdir(os.path.join(images_dir, name)) else \
                f"extension not one of {', '.join(ff.IMAGE_EXTENSIONS)}"
            skip(self.stats, os.path.join(images_dir, name), NOT_A_MAP, what, what="image",
                 logger=_LOG)
        stems = {stem for stem, _ in maps}
        orphans: dict[str, str] = {}
        for sub, ext in ((ff.MASKS_DIR, ".png"), (ff.KEYPOINTS_DIR, ".json")):
            sub_dir = os.path.join(self.folder, sub)
            if not os.path.isdir(sub_dir):
                continue
            for name in sorted(os.listdir(sub_dir)):
                stem, found_ext = os.path.splitext(name)
                if found_ext.lower() == ext and stem not in stems and not name.startswith("."):
                    orphans.setdefault(stem, os.path.join(sub_dir, name))
        for stem, path in sorted(orphans.items()):
            skip(self.stats, path, NO_IMAGE, f"no {ff.IMAGES_DIR}/{stem}.* image", what="image",
                 logger=_LOG)

    def __iter__(self) -> Iterator[AnnotatedImage]:
        maps = self._maps()
        self._skip_unconverted(maps)
        for stem, name in maps:
            yield self._read(stem, name)

    def _read(self, stem: str, name: str) -> AnnotatedImage:
        image_file = os.path.join(self.folder, ff.IMAGES_DIR, name)
        mask_file = ff.mask_path(self.folder, stem)
        self.stats.note_read(image_file, self.folder)
        self.stats.note_read(mask_file, self.folder)
        if self.keypoint_names is not None:
            self.stats.note_read(ff.keypoints_path(self.folder, stem), self.folder)
        image = read_image(image_file)
        self.stats.note_orientation(os.path.join(ff.IMAGES_DIR, name), image.exif_orientation)
        red, _, keypoints = ff.read_annotations(self.folder, stem, name)
        check_size(red, image, mask_file, "mask", image_file)
        num = max(int(red.max(initial=0)), len(keypoints))
        instances = [
            Instance(class_name=self.class_name, class_id=self.class_id, mask=red == k,
                     keypoints=keypoints[k - 1] if k <= len(keypoints) else None,
                     label=f"figure {k}")
            for k in range(1, num + 1)]
        self.stats.images_read += 1
        self.stats.instances_read += num
        return assemble_image(image, name, stem, instances, self.stats, mask_file,
                              keypoint_names=self.keypoint_names, with_masks=True)
