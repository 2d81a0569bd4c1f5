"""The one error exit of the command lines: a clean one-sentence stop instead of a traceback.

Each top-level script decorates its ``main(argv) -> int`` with ``error_exit`` and adds the
``--debug`` flag with ``add_debug_flag``. An expected failure (a bad input: ``ValueError`` and
the project's errors derived from it; an I/O error: ``OSError``; a TensorFlow runtime error such
as ``DataLossError`` or ``ResourceExhaustedError``; out of memory; Ctrl-C) prints
``error: <one sentence naming the path>`` on stderr and returns exit code 1 (130 for Ctrl-C).
With ``--debug`` the traceback is printed as well. Anything else is a bug and propagates with
its traceback.
"""

from __future__ import annotations

import argparse
import errno
import functools
import re
import sys
import traceback
from collections.abc import Callable, Sequence

DEBUG_FLAG = "--debug"
ERROR_EXIT = 1
INTERRUPTED_EXIT = 130

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


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """Adds ``--debug``: show the traceback of an error as well as its one-line message."""
    parser.add_argument(DEBUG_FLAG, action="store_true",
                        help="on an error, also print the Python traceback")


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


def error_exit(main: Callable[[Sequence[str] | None], int]) -> Callable[..., int]:
    """Decorates a command's ``main(argv)``: expected errors become ``error: ...`` and exit 1."""

    @functools.wraps(main)
    def wrapped(argv: Sequence[str] | None = None) -> int:
        args = sys.argv[1:] if argv is None else list(argv)
        debug = DEBUG_FLAG in args
        try:
            return main(argv)
        except KeyboardInterrupt:
            if debug:
                traceback.print_exc()
            print("error: interrupted", file=sys.stderr)
            return INTERRUPTED_EXIT
        except BaseException as error:
            if not isinstance(error, expected_errors()):
                raise
            if debug:
                traceback.print_exc()
            print(f"error: {describe(error)}", file=sys.stderr)
            if not debug:
                print(f"(run again with {DEBUG_FLAG} for the traceback)", file=sys.stderr)
            return ERROR_EXIT

    return wrapped
