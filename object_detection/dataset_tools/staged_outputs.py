"""Output files that appear together, complete, or not at all.

A conversion writes several files (the record shards, the COCO ground truth). ``staged_outputs``
hands out a hidden temporary sibling (``atomic_files.temporary_sibling``) for each final path;
the block writes there (any writer: TFRecordWriter, ``atomic_files.write_json``, ...). When the
block completes, every temporary is flushed to disk and renamed into place; when it raises, the
temporaries are removed, and so are the folders it created, so an earlier output at those paths
is left as it was. Temporaries left by a killed conversion are removed the next time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from object_detection import atomic_files


class StagedOutputs:
    """Final path -> temporary sibling, renamed into place by ``commit``."""

    def __init__(self) -> None:
        self._staged: dict[str, Path] = {}
        self._created_dirs: list[Path] = []

    def path_for(self, final: str | os.PathLike) -> str:
        """The temporary path to write ``final``'s content to (its folder created)."""
        final = os.fspath(final)
        if final in self._staged:
            return os.fspath(self._staged[final])
        folder = Path(os.path.abspath(final)).parent
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            self._created_dirs.append(created)
        atomic_files.remove_stale_temporaries(os.path.dirname(os.path.abspath(final)),
                                              os.path.basename(final))
        self._staged[final] = atomic_files.temporary_sibling(final)
        return os.fspath(self._staged[final])

    def temporary(self, final: str) -> str:
        """The temporary path already handed out for ``final``."""
        return os.fspath(self._staged[final])

    def commit(self) -> None:
        """Flushes every temporary and renames it into place."""
        for tmp in self._staged.values():
            if not tmp.is_file():
                raise FileNotFoundError(f"{tmp}: staged output was never written")
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for final, tmp in self._staged.items():
            os.replace(tmp, final)
        for folder in {Path(os.path.abspath(f)).parent for f in self._staged}:
            _fsync_dir(folder)
        self._staged.clear()

    def discard(self) -> None:
        """Removes every temporary, and the folders created for them when left empty."""
        for tmp in self._staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._staged.clear()
        for folder in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def staged_outputs() -> Iterator[StagedOutputs]:
    """A ``StagedOutputs`` committed when the block completes, discarded when it raises."""
    staged = StagedOutputs()
    try:
        yield staged
        staged.commit()
    except BaseException:
        staged.discard()
        raise
