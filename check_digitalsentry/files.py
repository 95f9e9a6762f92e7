"""Local files read and written the safe way (core layer: no network, no frontend): what the inventory,
the ``--submit`` files, the check's ``--output`` and pytest's ``--dsports-report`` share.

- Reading: a path is opened without blocking (a FIFO must not hang the open) and checked with ``fstat``
  before a byte is read; anything that is not a regular file is named in words ("a FIFO", "a device"),
  and no file is read past a limit (``/dev/zero`` behind a symlink, a log given by mistake).
- Writing (``replace``): the new content goes to a temporary file created exclusively with an
  unpredictable name (``tempfile.mkstemp``: ``O_EXCL``, never following a link) in the target's
  directory, is synced, then renamed over the target, so a reader never sees half a file and a failed
  write leaves the old file intact. A symlink is followed: the file it points to is replaced (the link
  stays). Anything that is not a regular file -- a device such as ``/dev/null``, a FIFO, a directory --
  is refused. An existing file keeps its mode (and, as root, its owner); a new one is 0644.
"""

from __future__ import annotations

import os
import stat


def kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words: ``a directory``, ``a FIFO``, ``a device``..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_capped(fd: int, limit: int) -> bytes | None:
    """The bytes of the file open at ``fd`` up to its end, or None when it holds more than ``limit`` bytes
    (what is left is not read). OSError as ``os.read`` raises it."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


class WriteError(Exception):
    """A file could not be replaced: the message says why, without the path (the caller names it)."""


def replace(path: str, data: bytes) -> None:
    """Replace the file at ``path`` with ``data``, atomically (see the module docstring); WriteError."""
    import tempfile

    target = os.path.realpath(path)  # a symlink: replace the file it points to, not the link
    try:
        current: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        current = None
    except OSError as exc:
        raise WriteError(exc.strerror or str(exc)) from None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise WriteError(f"{kind(current.st_mode)}, not a regular file: give the path of a file to replace")
    directory, name = os.path.split(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteError(f"cannot create a file in {directory}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if current is None:
            os.chmod(tmp, 0o644)
        else:
            os.chmod(tmp, stat.S_IMODE(current.st_mode))
            if hasattr(os, "geteuid") and os.geteuid() == 0:  # POSIX only
                os.chown(tmp, current.st_uid, current.st_gid)
        os.replace(tmp, target)
    except BaseException as exc:  # a failed write, or a signal (SIGTERM) half-way: no temporary file left
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(f"{exc.strerror or exc} (the old file is left as it was)") from None
        raise
