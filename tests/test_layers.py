"""The package's layers import only downward (docs/architecture.md): every import of every
module, function-level ones included, read from the source (AST)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "object_detection"

# Bottom up; a unit (a sub-package or a top-level module) imports only from its own layer or
# the layers before it. The same list stands in docs/architecture.md.
LAYERS: list[list[str]] = [
    ["protos"],
    ["fields", "atomic_files", "run_names", "errors"],
    ["core"],
    ["config", "label_map"],
    ["models", "meta_architectures"],
    ["data", "dataset_tools"],
    ["builders"],
    ["evaluation"],
    ["training"],
    ["export"],
    ["apps"],
    ["cli"],
]
LAYER_OF = {unit: index for index, units in enumerate(LAYERS) for unit in units}


def _units() -> set[str]:
    units = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return units | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


def _unit_of(module: str) -> str | None:
    """The unit of a dotted module name inside the package, None for the package itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == "object_detection" and len(parts) > 1 else None


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package_dir: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file that targets the package; ``from
    object_detection import x`` counts as importing ``object_detection.x``."""
    module = _module_name(path, package_dir)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "object_detection":
                found += [(node.lineno, f"object_detection.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name.startswith("object_detection")]


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if not p.name.endswith("_pb2.py"))


def _edges() -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) -> where ("file:line") for every import between two units."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in _sources():
        source = _unit_of(_module_name(path))
        if source is None:
            continue
        for line, name in _imports(path):
            target = _unit_of(name)
            if target is not None and target != source:
                edges.setdefault((source, target), []).append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}")
    return edges


def test_every_unit_has_a_layer():
    missing = sorted(_units() - set(LAYER_OF))
    assert not missing, f"add these to LAYERS (and docs/architecture.md): {missing}"


def test_imports_go_down_only():
    upward = [f"{where}: {source} (layer {LAYER_OF[source]}) imports {target} (layer "
              f"{LAYER_OF[target]})"
              for (source, target), places in sorted(_edges().items())
              if LAYER_OF.get(target, -1) > LAYER_OF.get(source, -1) for where in places]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_cycles_between_units():
    edges = _edges()
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            unit = stack.pop()
            if unit == goal:
                return True
            if unit not in seen:
                seen.add(unit)
                stack.extend(graph.get(unit, ()))
        return False

    cycles = sorted({tuple(sorted(pair)) for pair in itertools.permutations(graph, 2)
                     if pair[1] in graph[pair[0]] and reaches(pair[1], pair[0])})
    assert not cycles, f"units importing each other (directly or through others): {cycles}"


@pytest.mark.parametrize("text, expected", [
    ("from object_detection.core import box_ops", ["object_detection.core"]),
    ("from object_detection import atomic_files", ["object_detection.atomic_files"]),
    ("def f():\n    import object_detection.export.inference", ["object_detection.export.inference"]),
    ("from .. import fields", ["object_detection.fields"]),
])
def test_imports_are_read_with_function_level_and_relative_ones(tmp_path, text, expected):
    """The reader itself, on hand-written sources placed as object_detection/apps/x.py."""
    fake = tmp_path / "object_detection"
    (fake / "apps").mkdir(parents=True)
    path = fake / "apps" / "x.py"
    path.write_text(text, encoding="utf-8")
    assert [name for _, name in _imports(path, fake)] == expected


def test_the_layers_are_written_down():
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for index, units in enumerate(LAYERS):
        line = f"{index}. " + ", ".join(f"`{u}`" for u in units)
        assert line in text, f"docs/architecture.md lacks the layer line {line!r}"
