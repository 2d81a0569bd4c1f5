"""Atomic writes: a file or a folder appears complete at its path, or not at all.

Every file and folder the tools write goes through here. Each write goes to a hidden temporary
sibling (``.NAME.tmp-PID-RANDOM``) on the same file system, is flushed to disk, and is renamed
into place; a process killed mid-write, a full disk or a read-only folder leaves the old
content (if any) intact at ``path`` and no half-written file that looks complete. A failed
write removes its temporary sibling; one left by ``kill -9`` starts with ``.`` and holds
``.tmp-`` in its name, so no reader mistakes it for a result.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMP_MARK = ".tmp-"


def temporary_sibling(path: str | os.PathLike, kind: str = "tmp") -> Path:
    """A fresh hidden path beside ``path``: ``.NAME.KIND-PID-RANDOM`` (same folder, so a
    rename into place never crosses file systems)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of this module's temporary siblings."""
    return name.startswith(".") and (TEMP_MARK in name or ".old-" in name)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` whose content replaces ``path`` only when the block completes.

    ``mode`` is ``"w"`` (text, UTF-8 unless ``encoding`` is given) or ``"wb"``. On any error
    inside the block, or while writing, the temporary file is removed and ``path`` is left as
    it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"open_atomic: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    tmp = temporary_sibling(path)
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.filename is None and error.errno:
            # A failed write or flush names no file: name the one being written.
            raise OSError(error.errno, error.strerror, os.fspath(path)) from error
        raise
    _fsync_dir(path.parent)


def check_output_folder(root: str | os.PathLike) -> None:
    """ValueError naming ``root`` when it cannot be made a folder: it, or the nearest folder
    above it that exists, is a file."""
    path = os.path.abspath(root)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path}: output folder exists and is not a folder")
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{path}: cannot be the output folder, {parent} is a file, not a folder")


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically; returns the path."""
    with open_atomic(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes UTF-8 ``text`` to ``path`` atomically; returns the path."""
    with open_atomic(path, "w") as f:
        f.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, value: Any, *, indent: int | None = None,
               trailing_newline: bool = True, **dump_kwargs: Any) -> Path:
    """Writes ``value`` as JSON to ``path`` atomically; returns the path."""
    text = json.dumps(value, indent=indent, **dump_kwargs)
    return write_text(path, text + ("\n" if trailing_newline else ""))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A folder to fill that replaces ``path`` only when the block completes.

    Yields a temporary sibling folder. On success an existing ``path`` is moved aside, the new
    folder renamed into place, and the old one deleted; between the two renames ``path`` is
    absent (a reader sees nothing rather than a mix), and if the second rename fails the old
    folder is put back. On any error inside the block the temporary folder is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = temporary_sibling(path, "old")
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_temporaries(folder: str | os.PathLike, name: str) -> list[Path]:
    """Removes temporary siblings of ``folder/name`` left by killed processes (by pid on this
    host) that no longer run; returns what was removed.

    A process killed between the two renames of ``atomic_directory`` leaves ``folder/name``
    absent and the previous folder aside as ``.NAME.old-...``: that one is put back in place,
    not removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        if not entry.name.startswith(f".{name}.") or not is_temporary(entry.name):
            continue
        pid = _pid_of(entry.name)
        if pid is None or pid == os.getpid() or _process_alive(pid):
            continue
        target = folder / name
        if entry.name.startswith(f".{name}.old-") and not os.path.lexists(target):
            os.replace(entry, target)
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(entry)
    return removed


def _pid_of(name: str) -> int | None:
    try:
        return int(name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
