"""Where a run may write: every file linksim writes for a run stays inside its run folder.

The scenario schema already restricts the labels that become parts of file names (codec,
channel and scenario names; see :func:`linksim.phy.channels.check_label`); this is the
last check before a file is written, for labels that reach the writers some other way
(a plugin channel's default label, a :class:`~linksim.results.PointResult` built in Python).
"""

from __future__ import annotations

import os
from pathlib import Path

from linksim.errors import RunError

__all__ = ["NAME_MAX_BYTES", "inside_run_folder"]

#: the longest file or folder name most file systems take (ext4, XFS, btrfs, APFS, NTFS) [bytes]
NAME_MAX_BYTES = 255


def _shown(path: str) -> str:
    """``path`` on one line: non-printable characters (NUL, line breaks) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)


def inside_run_folder(run_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` (absolute, or relative to the working directory) if it lies inside ``run_dir``.

    Checked before a file is written: no NUL, every name at most :data:`NAME_MAX_BYTES`
    bytes, and the path below ``run_dir`` both as written (``..`` resolved) and once
    symbolic links are followed (a link inside the run folder to somewhere else counts as
    outside; a run folder that is itself a link is fine).

    :returns: ``Path(path)``, unchanged.
    :raises RunError: one line naming the path and the run folder.
    """
    text, root = os.fspath(path), os.fspath(run_dir)
    if "\x00" in text:
        raise RunError(f"refusing to write {_shown(text)}: a file name cannot hold a NUL character "
                       f"(run folder {_shown(root)})")
    for name in Path(text).parts:
        if len(os.fsencode(name)) > NAME_MAX_BYTES:
            raise RunError(f"refusing to write {_shown(text)[:120]}...: a name of {len(os.fsencode(name))} bytes "
                           f"(at most {NAME_MAX_BYTES}) in the run folder {_shown(root)}")
    base = os.path.abspath(root)
    target = os.path.abspath(text)
    real_base = os.path.realpath(base)
    real_target = os.path.realpath(target)
    if not (_below(target, base) and _below(real_target, real_base)):
        raise RunError(f"refusing to write {_shown(target)}: outside the run folder {_shown(root)} "
                       "(a codec or channel label holds a path?)")
    return Path(path)


def _below(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both absolute and normalised)."""
    return os.path.commonpath([path, folder]) == folder
