"""Nagios external command file (submit layer, I/O): one ``PROCESS_SERVICE_CHECK_RESULT`` line per object,
written to the command FIFO of a local Nagios (``command_file`` in nagios.cfg, with
``check_external_commands=1``; Debian: ``/var/lib/nagios4/rw/nagios.cmd``).

- The FIFO is opened ``O_WRONLY | O_NONBLOCK`` before anything is probed (``prepare``), and kept
  open until the results are written: a path that is missing, not a FIFO or not writable is ``SetupError``
  (the run is UNKNOWN at once), and with no Nagios reading it the open fails at once (ENXIO:
  ``NoReceiver``, the run is CRITICAL at once: nothing could be written), a clear error instead of a hang or
  of probes run for nothing. A full pipe is waited on (``select``) until the deadline.
- Host and service names with ';' (the command's field separator) or a line break cannot be written: the
  frontend refuses them before probing (``fits``); ``submit`` fails such a result on its own.
- Each line is one ``write`` of at most ``PIPE_BUF`` bytes, which the kernel keeps whole: lines of other
  writers (a web UI, another cron job) never cut into ours. A result that would be longer loses long-output
  lines from its end first (a last line says how many), then perfdata items: the status line always stays.
- The plugin output's newlines are written as ``\\n`` and backslashes as ``\\\\``, which Nagios 4 turns
  back into newlines and backslashes (long output); ``|`` separates the perfdata as in a plugin's output.

Nagios answers nothing: a line written whole is ACCEPTED, and an unknown host or service shows only in the
Nagios log ("Passive check result was received for service ... could not be found").
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time

from check_digitalsentry import files
from check_digitalsentry.passive import (
    ACCEPTED,
    FAILED,
    Destination,
    NoReceiver,
    Receipt,
    SetupError,
    Submission,
    object_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from check_digitalsentry.passive import PassiveResult
    from check_digitalsentry.schema import Site

#: The most bytes a pipe writes atomically (POSIX: at least 512; Linux: 4096).
PIPE_BUF = getattr(select, "PIPE_BUF", 4096)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def command_line(result: PassiveResult, now: float, limit: int = PIPE_BUF) -> bytes:
    """The external command for one result, at most ``limit`` bytes (see the module docstring)."""
    head = f"[{int(now)}] PROCESS_SERVICE_CHECK_RESULT;{result.host};{result.service};{int(result.state)};"
    status, lines, perfdata = result.status_line, result.long_output, list(result.perfdata)

    def line(shown: int, perf: int) -> bytes:
        dropped = len(lines) - shown
        more = [f"({dropped} more lines: check_digitalsentry -v)"] if dropped else []
        text = "\n".join([*lines[:shown], *more])
        output = _escaped(status) + ("|" + " ".join(perfdata[:perf]) if perf else "")
        return (head + output + ("\\n" + _escaped(text) if text else "") + "\n").encode("utf-8")

    shown, perf = len(lines), len(perfdata)
    encoded = line(shown, perf)
    while len(encoded) > limit and shown:
        shown -= 1
        encoded = line(shown, perf)
    while len(encoded) > limit and perf:
        perf -= 1
        encoded = line(shown, perf)
    if len(encoded) > limit:  # a status line of its own longer than a pipe write: cut it
        cut = encoded[:limit - 4].decode("utf-8", "ignore")
        encoded = (cut + "...\n").encode("utf-8")
    return encoded


class NoReader(Exception):
    """No process reads the command file (Nagios is not running): nothing could be written."""


#: What a host or service name cannot hold in an external command: ';' ends a field, a line break the command.
UNFIT = ";\n\r"


def fits(name: str) -> bool:
    """Whether ``name`` can be a host or service name of an external command."""
    return not any(c in name for c in UNFIT)


def open_command_file(path: str) -> int:
    """The command file at ``path``, open for writing without blocking: checked before anything is probed.
    SetupError when it is missing, not a FIFO or not writable; NoReader when no process reads it."""
    named = f"--command-file {path}"
    fifo = "not a FIFO (Nagios makes its command_file a named pipe)"
    if not path:
        raise SetupError("--command-file '': an empty path (Nagios' command_file, e.g. "
                         "/var/lib/nagios4/rw/nagios.cmd)")
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise SetupError(f"{named}: no such file (is Nagios running, with check_external_commands=1 and "
                             f"command_file={path}?)") from None
        raise SetupError(f"{named}: {exc.strerror or exc}") from None
    if not stat.S_ISFIFO(mode):
        raise SetupError(f"{named}: {files.kind(mode)}, {fifo}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise NoReader("no process reads it (Nagios is not running)") from None
        if exc.errno == errno.EACCES:
            raise SetupError(f"{named}: permission denied (run as the Nagios user, or in its group)") from None
        raise SetupError(f"{named}: {exc.strerror or exc}") from None
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):  # replaced since the stat
        os.close(fd)
        raise SetupError(f"{named}: {fifo}")
    return fd


def _fatal(path: str, exc: OSError) -> str:
    if exc.errno == errno.EPIPE:
        return f"Nagios stopped reading the command file {path}"
    return f"the command file {path}: {exc.strerror or exc}"


def submit(path: str, fd: int, results: Sequence[PassiveResult], deadline: float) -> Submission:
    """Write a command line per result to the command file ``path``, open at ``fd`` (``open_command_file``),
    by ``deadline`` (``time.monotonic()``); ``fd`` is closed."""
    started = time.monotonic()
    receipts: list[Receipt] = []
    fatal = ""
    writes = 0
    try:
        for index, result in enumerate(results):
            if fatal:
                receipts.append(Receipt.not_sent(result, fatal))
                continue
            if not (fits(result.host) and fits(result.service)):
                receipts.append(Receipt(result, FAILED, f"{object_name(result)}: a name with ';' or a line break "
                                                        "cannot go into an external command"))
                continue
            data = command_line(result, time.time())
            while True:
                try:
                    writes += 1
                    os.write(fd, data)  # <= PIPE_BUF bytes to a pipe: all of it, or EAGAIN
                    receipts.append(Receipt(result, ACCEPTED, "written to the command file", 1))
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                        fatal = (f"the command file {path} stayed full until the run's deadline: Nagios does not "
                                 f"read it ({len(results) - index} results not written)")
                        receipts.append(Receipt.not_sent(result, fatal))
                        break
                except OSError as exc:
                    fatal = _fatal(path, exc)
                    receipts.append(Receipt.not_sent(result, fatal))
                    break
    finally:
        os.close(fd)
    return Submission(receipts, fatal=fatal, seconds=time.monotonic() - started, requests=writes, connections=1)


# --- the target (``outputs.Target``): its options, the checks before probing, the destination --------


def check_options(values: Mapping[str, str | None]) -> None:
    """What ``--submit nagios`` needs: its command file."""
    if not values.get("command_file"):
        raise SetupError("--submit nagios needs --command-file FILE (Nagios' command_file, e.g. "
                         "/var/lib/nagios4/rw/nagios.cmd)")


class _CommandFile(Destination):
    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.where = f"Nagios' command file {path}"

    def submit(self, results: Sequence[PassiveResult], deadline: float) -> Submission:
        return submit(self.path, self.fd, results, deadline)


def prepare(values: Mapping[str, str | None], sites: Sequence[Site], inventory: str) -> Destination:
    """The command file, open for writing, and names it can carry: checked before anything is probed.
    NoReceiver when no process reads it: then nothing is probed for nothing."""
    for site in sites:
        for key in ("icinga_host", "icinga_service"):
            name = getattr(site, key)
            if name is not None and not fits(name):
                raise SetupError(f"--inventory {inventory}: site {site.name}: {key} {name!r}: a ';' or a line "
                                 "break cannot go into Nagios' external command file (--submit nagios)")
    path = values.get("command_file")
    assert path is not None
    try:
        return _CommandFile(path, open_command_file(path))
    except NoReader as exc:
        raise NoReceiver(f"nothing written to Nagios' command file {path}: {exc}") from None
