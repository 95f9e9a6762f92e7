"""Local files read the safe way (core layer: no network, no frontend): what the inventory, the
``--submit`` files and ``--output`` share.

A path is opened without blocking (a FIFO must not hang the open) and checked with ``fstat`` before a
byte is read; anything that is not a regular file is named in words ("a FIFO", "a device"), and no file
is read past a limit (``/dev/zero`` behind a symlink, a log given by mistake).
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
