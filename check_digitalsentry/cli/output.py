"""Where the check's output goes (check frontend): stdout and stderr in any locale and whatever state
they are in, and ``--output`` files written without ever writing where they must not.

- ``write``: text in the stream's own encoding -- our typographic characters get ASCII stand-ins and
  anything else the encoding cannot show is escaped (``\\u03a9``), so a status line prints in a
  Latin-1 or ASCII locale too. A stream that fails (closed, full, its reader gone) is pointed at
  ``/dev/null`` so that the interpreter's last flush cannot fail either: the exit code stays the
  check's state.
- ``write_file``: ``files.replace`` -- atomically, through an unpredictable temporary file, a symlink
  followed, anything but a regular file refused, the old file intact when the write fails; a new file
  is 0644, for node_exporter's textfile collector.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, TextIO

#: Our own typographic characters, for streams whose encoding cannot show them.
_STAND_INS = str.maketrans({"—": "-", "–": "-", "…": "...", "’": "'", "‘": "'", "“": '"', "”": '"'})


class OutputError(Exception):
    """``--output`` could not be written: the message says why (one line)."""


def encoded(text: str, encoding: str) -> bytes:
    """``text`` in ``encoding``: stand-ins for our punctuation, escapes for anything else it lacks."""
    try:
        return text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        pass
    try:
        return text.translate(_STAND_INS).encode(encoding, "backslashreplace")
    except LookupError:
        return text.translate(_STAND_INS).encode("ascii", "backslashreplace")


def write(text: str, stream: TextIO | None = None, encoding: str | None = None) -> bool:
    """Write ``text`` to ``stream`` (stdout) in the stream's encoding, or in ``encoding`` (a format that
    names its own: HTML, OpenMetrics, JSON are UTF-8 whatever the locale); False when it could not be
    written."""
    stream = sys.stdout if stream is None else stream
    if stream is None:  # started with the descriptor closed
        return False
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            stream.write(text)
            stream.flush()
            return True
        stream.flush()
        buffer.write(encoded(text, encoding or stream.encoding or "utf-8"))
        buffer.flush()
        return True
    except (OSError, ValueError):  # EPIPE, ENOSPC, EBADF; ValueError: the stream was closed
        _silence(stream)
        return False


#: The signals a monitoring system or a user stops a check with.
STOP_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")


def _on_stop(handler: object) -> None:
    import signal

    for name in STOP_SIGNALS:
        if hasattr(signal, name):  # no SIGHUP on Windows
            signal.signal(getattr(signal, name), handler)  # type: ignore[arg-type]


def finish(text: str, code: int, stream: TextIO | None = None, encoding: str | None = None) -> NoReturn:
    """Print the run's last words and exit with ``code``, whatever signal comes: from here a stop signal
    ends the process at once with ``code`` (never a second status line after half of the first, nor a
    code that contradicts it), and once the text is out, stop signals are ignored -- interpreter shutdown
    puts Python's handlers back to the default, which would kill a check that has already answered."""
    _on_stop(lambda signum, frame: os._exit(code))
    write(text, stream, encoding)
    done(code)


def done(code: int) -> NoReturn:
    """Exit with ``code``, the last words written (or none to write): stop signals are ignored from here.

    What stdout and stderr still buffer is flushed now, and a stream that cannot take it is pointed at
    ``/dev/null``: left to the interpreter's own last flush, a failure there would turn the exit code into
    120 (with "Exception ignored ... OSError" on stderr) -- unseen where ``PYTHONUNBUFFERED`` is set, as on
    many a development machine, but what Icinga, Nagios and cron, which never set it, would get."""
    import signal

    _on_stop(signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):  # EPIPE, ENOSPC, EBADF; ValueError: the stream was closed
                _silence(stream)
    sys.exit(code)


def _silence(stream: TextIO) -> None:
    """Point a failed stream's descriptor at /dev/null, and drop what it still buffers."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        fd = None
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        if fd is not None and fd >= 0:
            os.dup2(null, fd)
            os.close(null)
        else:
            os.close(null)
    except OSError:
        pass
    replacement = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if stream is sys.stdout:
        sys.stdout = replacement
    elif stream is sys.stderr:
        sys.stderr = replacement


def write_file(path: str, text: str) -> None:
    """Replace the file at ``path`` with ``text`` (UTF-8), atomically (``files.replace``); OutputError
    saying why not."""
    from check_digitalsentry import files

    try:
        files.replace(path, text.encode("utf-8"))
    except files.WriteError as exc:
        raise OutputError(f"--output {path}: {exc}") from None
