"""One writer per run folder: the lock file ``RUN_DIR/.lock``.

Training and ``--eval_only`` take the lock before they write anything into a run folder and
release it when they end, also on an error or Ctrl-C. The lock holds JSON: ``{"host", "pid",
"started" (ISO 8601 UTC), "id" (random, to tell two locks apart)}``. A second process finds it
and stops with ``RUN_DIR is in use by pid P on host H since T; if that process is gone, delete
RUN_DIR/.lock``.

Creating it is one atomic step that also checks writability: the content is written to a
temporary sibling, which is then hard-linked to ``.lock``; ``link`` fails when ``.lock``
exists. ``link`` is atomic on every NFS version (``O_CREAT | O_EXCL`` is not on NFSv2 and old
clients), and the lock appears with its whole content, so nobody reads a half-written lock.
On a file system without hard links ``O_CREAT | O_EXCL`` is the fallback.

A lock is stale when its host is this host and its process is gone: no such pid, a zombie, or
a pid now used by a process started after the lock (pid reuse, e.g. a restarted container).
A stale lock is removed with a warning and the lock taken anew. The take-over is race-free: it
runs under an ``flock`` on a host-local file (only processes of the lock's host ever take it
over), checks that ``.lock`` is still the same stale file (inode and content), removes it and
creates the new lock as above, so of several processes starting at once exactly one gets it
(renaming the stale lock aside without such a check could move a new, live lock aside). The
lock of another host is never taken over: its pid means nothing here (run folders on shared
storage).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from object_detection import atomic_files

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"
_TAKEOVER_MUTEX = "object_detection-run-lock-takeover.flock"
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
_ATTEMPTS = 5
_PID_REUSE_SLACK_S = 2.0     # lock times have whole seconds, /proc/stat's boot time too

_held: set[str] = set()      # lock paths this process holds


class RunFolderInUseError(ValueError):
    """The run folder is locked by a live process, or by one of another host."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, as written in it; ``raw`` and ``inode`` identify the file."""

    host: str
    pid: int
    started: str
    raw: bytes
    inode: tuple[int, int]

    def started_epoch(self) -> float | None:
        try:
            when = datetime.datetime.strptime(self.started, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return None
        return when.replace(tzinfo=datetime.UTC).timestamp()


def lock_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / LOCK_NAME


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_writable(run_dir: Path, error: OSError) -> OSError:
    problem = os.strerror(error.errno).lower() if error.errno else str(error)
    return type(error)(f"{run_dir}: cannot write ({problem})")


def _make_folder(run_dir: Path) -> None:
    """Creates ``run_dir`` (and parents); a file in the way or no permission: one line."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [run_dir, *run_dir.parents] if p.exists()), run_dir)
        where = "is a file" if blocker == run_dir else f"cannot be made: {blocker} is a file"
        raise ValueError(f"{run_dir}: {where}, not a folder; give a folder for the run") \
            from None
    except OSError as error:
        raise _not_writable(run_dir, error) from error


class RunLock:
    """``with RunLock(run_dir):`` holds ``run_dir/.lock`` (module docstring); creates
    ``run_dir``. Raises ``RunFolderInUseError`` when another process holds it, ``OSError``
    ``RUN_DIR: cannot write (...)`` when the folder is not writable, ValueError for a file in
    the way."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = lock_path(run_dir)
        self._raw: bytes | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    # ----------------------------------------------------------------------------- taking

    def acquire(self) -> None:
        _make_folder(self.run_dir)
        holder = None
        for _ in range(_ATTEMPTS):
            if self._create():
                return
            holder = self._read_holder()
            if holder is None:          # released in the meantime
                continue
            reason = self._stale_reason(holder)
            if reason is None:
                break
            self._take_over(holder, reason)
        raise RunFolderInUseError(self._in_use_message(holder))

    def _in_use_message(self, holder: LockHolder | None) -> str:
        who = ("another process" if holder is None else
               f"pid {holder.pid} on host {holder.host} since {holder.started}")
        return (f"{self.run_dir} is in use by {who}; if that process is gone, delete "
                f"{self.path}")

    def _create(self) -> bool:
        """Creates the lock with this process's content; False when one exists."""
        raw = (json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "started": _now(), "id": secrets.token_hex(8)}) + "\n").encode()
        tmp = atomic_files.temporary_sibling(self.path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, raw)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _not_writable(self.run_dir, error) from error
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        except OSError as error:
            if error.errno not in _NO_HARD_LINKS:
                raise _not_writable(self.run_dir, error) from error
            return self._create_exclusive(raw)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._hold(raw)
        return True

    def _create_exclusive(self, raw: bytes) -> bool:
        """The fallback without hard links: ``O_CREAT | O_EXCL`` and write."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as error:
            raise _not_writable(self.run_dir, error) from error
        try:
            os.write(fd, raw)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._hold(raw)
        return True

    def _hold(self, raw: bytes) -> None:
        self._raw = raw
        _held.add(os.path.abspath(self.path))

    def _read_holder(self) -> LockHolder | None:
        """The lock's holder; None when the lock is gone. A lock that does not read as one
        (after retrying briefly: the fallback writes after creating) raises ValueError."""
        problem = ""
        for _ in range(10):
            try:
                with open(self.path, "rb") as f:
                    stat = os.fstat(f.fileno())
                    raw = f.read()
            except FileNotFoundError:
                return None
            try:
                data = json.loads(raw)
                return LockHolder(str(data["host"]), int(data["pid"]), str(data["started"]),
                                  raw, (stat.st_dev, stat.st_ino))
            except (ValueError, KeyError, TypeError) as error:
                problem = f"{type(error).__name__}: {error}"
            time.sleep(0.1)
        raise ValueError(f"{self.path}: not a run lock ({problem}); if no process uses "
                         f"{self.run_dir}, delete it")

    def _stale_reason(self, holder: LockHolder) -> str | None:
        """Why a lock of this host is stale ("pid 123 is not running"), None when it is not
        (or of another host)."""
        if holder.host != socket.gethostname():
            return None
        if holder.pid == os.getpid():
            if os.path.abspath(self.path) in _held:
                return None
            return f"pid {holder.pid} is this process, which did not take it"
        state = _process_state(holder.pid)
        if state is None:
            return f"pid {holder.pid} is not running"
        status, started = state
        if status == "Z":
            return f"pid {holder.pid} has ended (a zombie)"
        lock_time = holder.started_epoch()
        if started is not None and lock_time is not None and \
                started > lock_time + _PID_REUSE_SLACK_S:
            return f"pid {holder.pid} is now another process, started after the lock"
        return None

    def _take_over(self, stale: LockHolder, reason: str) -> None:
        """Removes the stale lock if it is still the one read (under the host mutex)."""
        with _host_mutex():
            try:
                with open(self.path, "rb") as f:
                    stat = os.fstat(f.fileno())
                    raw = f.read()
            except FileNotFoundError:
                return
            if (stat.st_dev, stat.st_ino) != stale.inode or raw != stale.raw:
                return                      # another process took it over first
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                return
            except OSError as error:
                raise _not_writable(self.run_dir, error) from error
        logger.warning("%s: removed the stale lock of pid %d on host %s since %s (%s)",
                       self.run_dir, stale.pid, stale.host, stale.started, reason)

    # ---------------------------------------------------------------------------- releasing

    def release(self) -> None:
        """Removes the lock if it is still this process's (else warns and leaves it)."""
        if self._raw is None:
            return
        raw, self._raw = self._raw, None
        _held.discard(os.path.abspath(self.path))
        try:
            with open(self.path, "rb") as f:
                current = f.read()
            if current != raw:
                logger.warning("%s: the lock was replaced while this process held it; left "
                               "the new one", self.path)
                return
            os.unlink(self.path)
        except FileNotFoundError:
            logger.warning("%s: the lock was removed while this process held it", self.path)
        except OSError as error:
            logger.warning("%s: could not remove the lock (%s); delete it", self.path,
                           os.strerror(error.errno) if error.errno else error)


@contextlib.contextmanager
def _host_mutex() -> Iterator[None]:
    """An exclusive ``flock`` on a file in this host's temp folder."""
    path = os.path.join(tempfile.gettempdir(), _TAKEOVER_MUTEX)
    try:        # without O_CREAT first: protected_regular refuses O_CREAT on others' files
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _process_state(pid: int) -> tuple[str, float | None] | None:
    """(state letter, start time in seconds since the epoch or None) of a process of this
    host; None when there is no such process."""
    if pid <= 0:                                # 0 and below name process groups
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass                                    # another user's process: it exists
    except OverflowError:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return "R", None                        # no /proc: alive, start time unknown
