"""Figure folders (``figure_folder`` layout) as a source of ``AnnotatedImage``s.

Instance k is the mask's red channel == k (k = 1..N); its keypoints are entry k - 1 of the
map's keypoints JSON, stored in ``KEYPOINT_NAMES`` order. Every instance gets one class
(default "character", id 1, or the label map's id of that name). A folder with a
``keypoints/`` sub-folder needs a keypoints file for every image; one without has no keypoints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools.annotated_image import AnnotatedImage, Instance, assemble_image
from object_detection.dataset_tools.class_map import ClassMap
from object_detection.dataset_tools.conversion_stats import ConversionStats
from object_detection.dataset_tools.image_io import check_size, read_image

_LOG = logging.getLogger(__name__)

DEFAULT_CLASS_NAME = "character"


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

    def __iter__(self) -> Iterator[AnnotatedImage]:
        for stem, name in self._maps():
            yield self._read(stem, name)

    def _read(self, stem: str, name: str) -> AnnotatedImage:
        image = read_image(os.path.join(self.folder, ff.IMAGES_DIR, name))
        red, _, keypoints = ff.read_annotations(self.folder, stem, name)
        mask_file = ff.mask_path(self.folder, stem)
        check_size(red, image, mask_file, "mask")
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
