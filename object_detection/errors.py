"""One sentence for an expected error: the words every command and log line uses for it.

``describe`` turns an ``OSError`` into ``PATH: problem`` (``runs/x/ckpt-4.index: no space left
on device``), a TensorFlow runtime error into ``TensorFlow data loss: <first line>``, and any
other error into its first line. ``expected_errors`` are the types that end a command with
such a sentence rather than a traceback (``cli.error_exit``).
"""

from __future__ import annotations

import errno
import re
import sys

_OS_PROBLEMS = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "not a folder",
    errno.EEXIST: "already exists",
}


def describe_os_error(error: OSError) -> str:
    """``PATH: problem`` for an ``OSError`` (both paths of a failed rename or copy)."""
    problem = _OS_PROBLEMS.get(error.errno) or (error.strerror or str(error)).lower()
    paths = [p for p in (error.filename, getattr(error, "filename2", None)) if p is not None]
    if not paths:
        return str(error) or problem
    return f"{' -> '.join(str(p) for p in paths)}: {problem}"


def _tensorflow_error_types() -> tuple[type, ...]:
    tf = sys.modules.get("tensorflow")
    if tf is None:      # TensorFlow never imported: none of its errors can have been raised
        return ()
    return (tf.errors.OpError,)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", line).strip()


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s text, or its type name when it has none (for a library's
    long error texts: TensorFlow's, ONNX Runtime's, OpenVINO's)."""
    return _first_line(str(error)) or type(error).__name__


def describe(error: BaseException) -> str:
    """One sentence for an expected error (see the module docstring)."""
    if isinstance(error, OSError):
        return describe_os_error(error)
    if isinstance(error, MemoryError):
        return "out of memory" + (f": {error}" if str(error) else "")
    tf_types = _tensorflow_error_types()
    if tf_types and isinstance(error, tf_types):
        kind = type(error).__name__.removesuffix("Error")
        kind = re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower()
        message = _first_line(getattr(error, "message", "") or str(error))
        return f"TensorFlow {kind}: {message}"
    return _first_line(str(error)) if "\n" not in str(error).strip() else str(error).strip()


def expected_errors() -> tuple[type[BaseException], ...]:
    """The exception types that end a command with a message rather than a traceback."""
    return (ValueError, OSError, MemoryError) + _tensorflow_error_types()
