"""Faults changed while the simulator runs (simulator layer): ``dsports-simulator``'s ``--fault-schedule``
and the commands it reads on stdin.

A change is ``[SITE/]ROLE=FAULT``: ``video=off``, ``video=ok`` (no fault), ``sim-002/sql=tarpit``. Without
a site it is made on every site. The schedule is a comma-separated list of changes, each at a number of
seconds after the start: ``10:video=off,30:video=ok``. On stdin, a line holds one or more changes
(separated by spaces or commas); ``faults`` lists what every site has now, ``help`` says this.

Why stdin: the person trying it is at the simulator's terminal, and typing ``video=ok`` there is the
quickest way to play the technician who fixes the router's forward; a test or a script writes the same
line into a pipe. Nothing else listens (a control port would be one more port for the probes and
scanners to find, and one more thing to secure), and nothing is left behind (a control file). A
simulator run in the background of an interactive shell (``&``) reads nothing (SIGTTIN is ignored, so
the read fails instead of stopping the process) until it is brought back with ``fg``; one whose stdin
is ``/dev/null`` or a closed pipe stops reading at its end and goes on serving.
"""

from __future__ import annotations

import sys
import time

from check_digitalsentry.simulator.site import FAULTS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import BinaryIO, TextIO

    from check_digitalsentry.simulator.runner import Simulator

#: Words that mean "no fault".
NO_FAULT = ("ok", "none")
HELP = ("commands: [SITE/]ROLE=FAULT (e.g. video=off, video=ok: no fault), several on a line; 'faults' lists "
        "every site's faults. Faults: " + "; ".join(f"{role}: {', '.join(f)}" for role, f in FAULTS.items()))


class Change:
    """One fault change: ``role`` of ``site`` (None: every site) gets ``fault`` (None: no fault)."""

    __slots__ = ("fault", "role", "site")

    def __init__(self, site: str | None, role: str, fault: str | None) -> None:
        self.site = site
        self.role = role
        self.fault = fault

    def __str__(self) -> str:
        return f"{self.site + '/' if self.site else ''}{self.role}={self.fault or 'ok'}"

    def __repr__(self) -> str:
        return f"Change({self})"


def parse_change(text: str) -> Change:
    """``[SITE/]ROLE=FAULT`` as a Change; ValueError saying what is wrong (the sites are checked later)."""
    word = text.strip()
    target, sep, fault = word.partition("=")
    site, slash, role = target.rpartition("/")
    if not sep or not role.strip() or not fault.strip() or (slash and not site.strip()):
        raise ValueError(f"expected [SITE/]ROLE=FAULT, e.g. video=off or video=ok, got {text!r}")
    role, fault = role.strip(), fault.strip()
    if role not in FAULTS:
        raise ValueError(f"{text!r}: unknown role {role!r} (roles: {', '.join(FAULTS)})")
    if fault not in NO_FAULT and fault not in FAULTS[role]:
        raise ValueError(f"{text!r}: unknown fault {fault!r} for {role} (valid: ok, {', '.join(FAULTS[role])})")
    return Change(site.strip() or None, role, None if fault in NO_FAULT else fault)


def parse_schedule(text: str) -> list[tuple[float, Change]]:
    """``10:video=off,30:video=ok`` as (seconds after the start, change), in the order given; ValueError."""
    items: list[tuple[float, Change]] = []
    for part in text.split(","):
        when, sep, change = part.strip().partition(":")
        try:
            seconds = float(when) if sep else -1.0
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 7 * 86400:
            raise ValueError(f"expected SECONDS:[SITE/]ROLE=FAULT (seconds after the start, e.g. 10:video=off), "
                             f"got {part.strip()!r}")
        items.append((seconds, parse_change(change)))
    return items


def apply(sim: Simulator, change: Change) -> list[str]:
    """Make ``change`` on its site, or on every site that runs the role; the sites changed. ValueError
    (an unknown site, a fault the site cannot change to) or OSError (a port that cannot be bound again)."""
    sites = [sim.site(change.site)] if change.site else [s for s in sim.sites if change.role in s.roles]
    if not sites:
        raise ValueError(f"{change}: no site runs {change.role}")
    for site in sites:
        site.fault_change(change.role, change.fault)  # every site is checked before any changes
    for site in sites:
        sim.set_fault(change.role, change.fault, site)
    return [site.name for site in sites]


def say(text: str, stream: TextIO | None = None) -> None:
    stream = sys.stderr if stream is None else stream
    try:
        print(f"dsports-simulator: {text}", file=stream, flush=True)
    except (OSError, ValueError):
        pass


def checked(sim: Simulator, schedule: Sequence[tuple[float, Change]]) -> None:
    """Check a schedule against the sites before it starts: ValueError (or KeyError: an unknown site) for
    a change that cannot be made."""
    for _, change in schedule:
        sites = [sim.site(change.site)] if change.site else [s for s in sim.sites if change.role in s.roles]
        if not sites:
            raise ValueError(f"{change}: no site runs {change.role}")
        for site in sites:
            site.fault_change(change.role, change.fault)


def run_schedule(sim: Simulator, schedule: Sequence[tuple[float, Change]], started: float,
                 until: float | None) -> None:
    """Serve until ``until`` (a ``time.monotonic()`` value; None: for ever), making each change of the
    schedule at its time after ``started``, and saying so on stderr."""
    pending = sorted(schedule, key=lambda item: item[0])
    while True:
        now = time.monotonic()
        while pending and started + pending[0][0] <= now:
            seconds, change = pending.pop(0)
            _make(sim, change, f"{seconds:g} s")
        wake = [started + pending[0][0]] if pending else []
        if until is not None:
            if now >= until:
                return
            wake.append(until)
        time.sleep(max(min(wake) - now, 0.0) if wake else 3600)


def _make(sim: Simulator, change: Change, when: str) -> None:
    try:
        names = apply(sim, change)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        say(f"{when}: {change} not made: {exc}")
        return
    say(f"{when}: {change.role}={change.fault or 'ok'} on {', '.join(names)}")


def faults_text(sim: Simulator) -> str:
    return "; ".join(f"{site.name}: " + (", ".join(f"{role}={fault}" for role, fault in site.faults.items())
                                         or "no fault") for site in sim.sites)


def read_commands(sim: Simulator, stream: BinaryIO) -> None:
    """Read commands from ``stream`` (stdin) until its end (see the module docstring); run in a thread."""
    import errno

    started = time.monotonic()
    while True:
        try:
            line = stream.readline()
        except OSError as exc:
            if exc.errno == errno.EIO:  # in the background of a shell (SIGTTIN ignored): try again later
                time.sleep(1.0)
                continue
            return
        except (ValueError, AttributeError):  # closed, or not a real stream (under a test runner)
            return
        if not line:
            return
        text = line.decode("utf-8", "replace").strip()
        if not text:
            continue
        if text in ("faults", "status", "?"):
            say(faults_text(sim))
            continue
        if text in ("help", "h"):
            say(HELP)
            continue
        for word in text.replace(",", " ").split():
            try:
                change = parse_change(word)
            except ValueError as exc:
                say(f"{exc} ('help' lists the commands)")
                continue
            _make(sim, change, f"{time.monotonic() - started:.1f} s")


def start_reading(sim: Simulator) -> None:
    """Read commands from stdin in a daemon thread (nothing when there is no stdin)."""
    import threading

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return
    try:
        import signal

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTTIN, signal.SIG_IGN)  # a read in the background fails, never stops us
    except (AttributeError, ValueError):  # pragma: no cover - not POSIX
        pass
    threading.Thread(target=read_commands, args=(sim, stream), name="dsports-simulator commands",
                     daemon=True).start()
