"""One run per output folder: a lock file, held with the kernel's ``flock`` for the run's life.

The kernel arbitrates between processes: whoever holds the ``flock`` owns the folder, and
the lock goes away with its process, however that process ends (``kill -9`` included). The
file itself holds ``pid host`` of the owner for the message a second run prints; its content
never decides who owns the folder, except for a lock written on another host, which this host's
kernel may not see (some network file systems keep locks local) and which is respected.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the PID in the file is all there is
    fcntl = None

LOCK_NAME = ".linksim.lock"
#: how long a second run waits for the PID of an owner that has just taken the lock [s]
OWNER_WAIT_S = 2.0


from linksim.errors import RunLockedError  # noqa: E402  (re-exported: the error lives with the others)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _flock(fd: int) -> bool | None:
    """Take the exclusive kernel lock on ``fd`` without waiting: True (taken), False (another
    process holds it), None (this system or file system has no ``flock``)."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None
        raise
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (a departing owner removes it)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _parse(text: str) -> tuple[int, str] | None:
    try:
        pid_s, host = text.split(maxsplit=1)
        return int(pid_s), host.strip()
    except ValueError:
        return None


class RunLock:
    """Context manager: hold ``<out_dir>/.linksim.lock`` for the duration of a run.

    Entering opens (or creates) the lock file and takes an exclusive ``fcntl.flock`` on it
    without waiting; the lock is kept until exit, which removes the file. Another process
    holding it means a live run: :class:`RunLockedError` naming its PID (read from the file,
    waiting up to :data:`OWNER_WAIT_S` for an owner that has only just taken it). A file
    nobody holds was left by a run that died (or was killed between creating the file and
    writing its PID): it is taken over, since the kernel decides, by exactly one process.
    A file naming another host is respected, as its owner's lock may be invisible here.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(20):  # the file may be removed by a departing owner between open and flock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                locked = _flock(fd)
                if not _same_file(fd, self.path):
                    continue  # its owner left and removed it: try the new one
                if locked is False:
                    raise self._in_use(self._wait_for_owner())
                owner = _parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
                if owner is not None and owner[0] != os.getpid() and (
                        owner[1] != socket.gethostname() or (locked is None and _alive(owner[0]))):
                    raise self._in_use(owner)  # another host's (or, without flock, a live local) run
                os.ftruncate(fd, 0)
                os.pwrite(fd, me.encode(), 0)
                self._fd, fd = fd, None
                return self
            finally:
                if fd is not None:
                    os.close(fd)  # releases a flock taken on a file that is no longer the lock
        raise RunLockedError(f"could not take the lock {self.path}: it keeps being replaced")

    def _wait_for_owner(self) -> tuple[int, str] | None:
        """(pid, host) written by the process holding the lock; None if it wrote none in time."""
        deadline = time.monotonic() + OWNER_WAIT_S
        while True:
            try:
                owner = _parse(self.path.read_text(errors="replace"))
            except OSError:
                owner = None
            if owner is not None or time.monotonic() > deadline:
                return owner
            time.sleep(0.01)

    def _in_use(self, owner: tuple[int, str] | None) -> RunLockedError:
        who = f"pid {owner[0]} on {owner[1]}" if owner else "its PID is not written yet"
        return RunLockedError(
            f"output folder {self.path.parent} is in use by another linksim run ({who}); "
            f"wait for it, or use --out for another folder (remove {self.path} if that run is gone)")

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink(missing_ok=True)  # still holding the lock: nobody else can own this file
        finally:
            os.close(self._fd)  # releases the lock
            self._fd = None
