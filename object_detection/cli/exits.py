"""The one error exit of the command lines: a clean one-sentence stop instead of a traceback.

Each top-level script decorates its ``main(argv) -> int`` with ``error_exit`` and adds the
``--debug`` flag with ``flags.add_debug_flag``. An expected failure (a bad input:
``ValueError`` and the project's errors derived from it; an I/O error: ``OSError``; a
TensorFlow runtime error such as ``DataLossError`` or ``ResourceExhaustedError``; out of
memory; Ctrl-C) prints ``error: <one sentence naming the path>`` on stderr and returns exit
code 1 (130 for Ctrl-C). With ``--debug`` the traceback is printed as well. Anything else is a
bug and propagates with its traceback. ``fail`` is the error exit of a problem a command finds
itself: ``error: <message>`` on stderr and exit code 1.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Sequence

from object_detection.errors import describe, expected_errors

DEBUG_FLAG = "--debug"
ERROR_EXIT = 1
INTERRUPTED_EXIT = 130


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


def fail(message: str) -> int:
    """Prints ``error: message`` to stderr; returns the commands' error exit code, 1."""
    print(f"error: {message}", file=sys.stderr)
    return ERROR_EXIT
