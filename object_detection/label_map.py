"""Label maps: the text ``StringIntLabelMap`` files that tie class names to 1-based ids.

The format is the TF Object Detection API's::

    item {
      name: "figure"
      id: 1
      display_name: "human figure"   # optional
    }

Ids start at 1 (0 is the background inside the model) and must be unique, as must names.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format

from object_detection import atomic_files
from object_detection.protos import string_int_label_map_pb2


def read_label_map_proto(path: str | Path) -> string_int_label_map_pb2.StringIntLabelMap:
    """Parse and validate a label map file.

    Raises FileNotFoundError when ``path`` does not exist and ValueError (naming the file, and
    the line for syntax errors) when it cannot be parsed, is empty, or has an item without a
    name, an id below 1, or a repeated id or name.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: label map file not found")
    label_map = string_int_label_map_pb2.StringIntLabelMap()
    try:
        text_format.Parse(path.read_text(encoding="utf-8"), label_map)
    except text_format.ParseError as error:
        line = error.GetLine()
        where = f"line {line}: " if line is not None else ""
        raise ValueError(f"{path}: {where}invalid label map: {error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: label map is not UTF-8 text: {error}") from error
    _validate(label_map, path)
    return label_map


def _validate(label_map: string_int_label_map_pb2.StringIntLabelMap, path: Path) -> None:
    """Raise ValueError naming ``path`` and the item when an item is invalid."""
    if not label_map.item:
        raise ValueError(f"{path}: label map has no items")
    ids: dict[int, str] = {}
    names: dict[str, int] = {}
    for index, item in enumerate(label_map.item, start=1):
        where = f"{path}: item {index}"
        if not item.name:
            raise ValueError(f"{where} (id {item.id}) has no name")
        if not item.HasField("id"):
            raise ValueError(f"{where} ({item.name!r}) has no id")
        if item.id < 1:
            raise ValueError(f"{where} ({item.name!r}) has id {item.id}; ids must be >= 1")
        if item.id in ids:
            raise ValueError(f"{where} ({item.name!r}) repeats id {item.id} of {ids[item.id]!r}")
        if item.name in names:
            raise ValueError(f"{where} repeats name {item.name!r} (id {names[item.name]})")
        ids[item.id] = item.name
        names[item.name] = item.id


def load_label_map(path: str | Path, use_display_name: bool = False) -> dict[str, int]:
    """Map class name -> 1-based id.

    With ``use_display_name`` the keys are the display names (the name where an item has
    none), like the OD API input reader option of the same name; display names must then be
    unique too.
    """
    label_map = read_label_map_proto(path)
    if not use_display_name:
        return {item.name: item.id for item in label_map.item}
    result: dict[str, int] = {}
    for item in label_map.item:
        key = item.display_name or item.name
        if key in result:
            raise ValueError(f"{path}: display name {key!r} is used by ids {result[key]} and {item.id}")
        result[key] = item.id
    return result


def load_categories(path: str | Path) -> list[dict]:
    """COCO-style categories ``[{"id", "name", "display_name"}]`` sorted by id.

    ``display_name`` is the item's display name, or its name when it has none.
    """
    label_map = read_label_map_proto(path)
    categories = [
        {"id": item.id, "name": item.name, "display_name": item.display_name or item.name}
        for item in label_map.item
    ]
    return sorted(categories, key=lambda category: category["id"])


def write_label_map(path: str | Path, names: list[str]) -> Path:
    """Write ``names`` as a label map with ids 1..n in the given order, atomically; returns
    the path.

    Raises ValueError when a name is empty or repeated (nothing is written then).
    """
    path = Path(path)
    seen: set[str] = set()
    label_map = string_int_label_map_pb2.StringIntLabelMap()
    for class_id, name in enumerate(names, start=1):
        if not isinstance(name, str) or not name:
            raise ValueError(f"{path}: class {class_id} has an empty or non-text name: {name!r}")
        if name in seen:
            raise ValueError(f"{path}: class name {name!r} is given twice")
        seen.add(name)
        label_map.item.add(name=name, id=class_id)
    if not label_map.item:
        raise ValueError(f"{path}: no class names to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_files.write_text(path, text_format.MessageToString(label_map, as_utf8=True))
