"""One run per output folder: a lock file holding the owner's PID, stale locks detected."""

from __future__ import annotations

import os
import socket
from pathlib import Path

LOCK_NAME = ".linksim.lock"


from linksim.errors import RunLockedError  # noqa: E402  (re-exported: the error lives with the others)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Context manager: hold ``<out_dir>/.linksim.lock`` for the duration of a run.

    The lock is created with ``O_CREAT | O_EXCL`` (atomic on local file systems) and holds
    ``pid host``. A lock whose process is gone on this host is stale: it is replaced. A lock
    from another host cannot be checked and is respected.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self._held = False

    def __enter__(self) -> "RunLock":
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:  # unreadable or stale: take it over
                    self.path.unlink(missing_ok=True)
                    continue
                pid, host = owner
                raise RunLockedError(
                    f"output folder {self.path.parent} is in use by another linksim run (pid {pid} on {host}); "
                    f"wait for it, or use --out for another folder (remove {self.path} if that run is gone)"
                ) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            self._held = True
            return self
        raise RunLockedError(f"could not take the lock {self.path}")

    def _owner(self) -> tuple[int, str] | None:
        """(pid, host) of a live owner, or None when the lock is stale or unreadable."""
        try:
            pid_s, host = self.path.read_text().split(maxsplit=1)
            pid = int(pid_s)
        except (OSError, ValueError):
            return None
        if host.strip() == socket.gethostname() and not _alive(pid):
            return None
        return pid, host.strip()

    def __exit__(self, *exc) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False
