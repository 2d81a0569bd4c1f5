"""Regenerate the ``*_pb2.py`` modules of this package from the repo-root ``protos/`` sources.

Usage (from anywhere)::

    python -m object_detection.protos.generate          # write object_detection/protos/*_pb2.py
    python -m object_detection.protos.generate --check  # exit 1 and list stale or missing files

protoc runs through ``grpc_tools.protoc`` in a subprocess (importing ``grpc_tools`` next to
TensorFlow in one process crashes). The proto path is mapped virtually,
``-Iobject_detection/protos=<repo>/protos``, so the sources import each other as
``object_detection/protos/x.proto`` (like the TF Object Detection API) and the generated
modules import as ``from object_detection.protos import x_pb2``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
PROTO_DIR = REPO_ROOT / "protos"
VIRTUAL_DIR = "object_detection/protos"

INSTALL_HINT = "grpcio-tools is not installed; run `pip install -e .[test]` in the repository root."


def proto_sources(proto_dir: Path = PROTO_DIR) -> list[Path]:
    """The ``.proto`` files to compile, sorted by name."""
    sources = sorted(proto_dir.glob("*.proto"))
    if not sources:
        raise FileNotFoundError(f"{proto_dir}: no .proto files found")
    return sources


def module_name(proto: Path) -> str:
    """``faster_rcnn.proto`` -> ``faster_rcnn_pb2.py``."""
    return f"{proto.stem}_pb2.py"


def run_protoc(out_dir: Path, proto_dir: Path = PROTO_DIR) -> dict[str, Path]:
    """Compile every source into ``out_dir``; returns {module file name: generated path}.

    Raises RuntimeError when grpcio-tools is missing or protoc reports an error.
    """
    if importlib.util.find_spec("grpc_tools") is None:  # finds, does not import
        raise RuntimeError(INSTALL_HINT)
    sources = proto_sources(proto_dir)
    command = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{VIRTUAL_DIR}={proto_dir}",
        f"--python_out={out_dir}",
        *[f"{VIRTUAL_DIR}/{proto.name}" for proto in sources],
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed (exit {result.returncode}):\n{result.stderr.strip()}")
    generated = out_dir / VIRTUAL_DIR
    return {module_name(proto): generated / module_name(proto) for proto in sources}


def stale_files(package_dir: Path = PACKAGE_DIR, proto_dir: Path = PROTO_DIR) -> list[str]:
    """Names of modules in ``package_dir`` that differ from a fresh build, are missing,
    or have no source any more (each with the reason)."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = run_protoc(Path(tmp), proto_dir)
        for name, path in sorted(fresh.items()):
            committed = package_dir / name
            if not committed.exists():
                problems.append(f"{name} (missing)")
            elif committed.read_bytes() != path.read_bytes():
                problems.append(f"{name} (stale)")
    for committed in sorted(package_dir.glob("*_pb2.py")):
        if committed.name not in fresh:
            problems.append(f"{committed.name} (no source in {proto_dir})")
    return problems


def generate(package_dir: Path = PACKAGE_DIR, proto_dir: Path = PROTO_DIR) -> list[Path]:
    """Write fresh modules into ``package_dir``, removing ``*_pb2.py`` without a source."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = run_protoc(Path(tmp), proto_dir)
        written = []
        for name, path in sorted(fresh.items()):
            shutil.copyfile(path, package_dir / name)
            written.append(package_dir / name)
    for committed in package_dir.glob("*_pb2.py"):
        if committed.name not in fresh:
            committed.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate object_detection/protos/*_pb2.py from the repo-root protos/."
    )
    parser.add_argument(
        "--check", action="store_true",
        help="only compare with a fresh build; exit 1 listing stale or missing modules",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale_files()
            if problems:
                print("Generated proto modules are out of date; run "
                      "`python -m object_detection.protos.generate`:", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                return 1
            print(f"{PACKAGE_DIR}: generated modules are up to date.")
            return 0
        written = generate()
    except (RuntimeError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 2
    print(f"Wrote {len(written)} modules to {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
