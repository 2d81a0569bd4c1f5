"""Class name -> 1-based id for one conversion, from a label map or from the source itself.

With a label map the classes are restricted: an instance of another class is skipped (counted,
or an error when the conversion is strict). Without one, each source builds its map from what it
contains (its single class, COCO's categories, or the sorted distinct names it found).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from object_detection.dataset_tools.conversion_stats import ConversionStats, skip

_LOG = logging.getLogger(__name__)

UNKNOWN_CLASS = "class not in label map"


class ClassMap:
    """Name -> 1-based id, and the COCO categories it stands for."""

    def __init__(self, name_to_id: Mapping[str, int], restricted: bool):
        """``restricted``: names outside ``name_to_id`` are skipped (a user's label map)."""
        for name, class_id in name_to_id.items():
            if not isinstance(class_id, int) or class_id < 1:
                raise ValueError(f"class '{name}': id must be an integer >= 1, got {class_id!r}")
        self._name_to_id = dict(name_to_id)
        self.restricted = restricted

    @classmethod
    def from_names(cls, names: Iterable[str]) -> ClassMap:
        """Ids 1..K for the distinct ``names`` in sorted order (unrestricted)."""
        return cls({name: i for i, name in enumerate(sorted(set(names)), start=1)}, False)

    @classmethod
    def from_label_map_file(cls, path: str) -> ClassMap:
        """A restricted map read from an OD API label map file (``object_detection.label_map``)."""
        from object_detection.label_map import load_label_map
        return cls(load_label_map(path), True)

    def id_of(self, name: str) -> int | None:
        return self._name_to_id.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._name_to_id

    @property
    def categories(self) -> list[dict]:
        """COCO categories [{"id", "name"}] sorted by id (the first name of a repeated id)."""
        by_id: dict[int, str] = {}
        for name, class_id in self._name_to_id.items():
            by_id.setdefault(class_id, name)
        return [{"id": i, "name": by_id[i]} for i in sorted(by_id)]

    def resolve(self, name: str, stats: ConversionStats, path: str, detail: str) -> int | None:
        """The id of ``name``, or None after skipping the instance (name not in the map)."""
        class_id = self.id_of(name)
        if class_id is None:
            if not self.restricted:
                raise ValueError(f"{path}: {detail}: class '{name}' has no id")
            skip(stats, path, UNKNOWN_CLASS, f"{detail} class '{name}'", logger=_LOG)
        return class_id
