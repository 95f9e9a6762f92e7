"""The live view at the router (check frontend): ``check_digitalsentry --watch``.

The technician stands at the customer's router and changes one forward at a time; the watch runs
outside the site (the monitoring server, a laptop on a phone hotspot) and shows each port turn green.

- **Rounds** (``Watcher``): every planned port probed once a round, the round bounded by ``-t`` (default 5
  s); the next round starts ``--interval`` seconds (default 2) after the last one started, and never
  sooner than ``WATCH_MIN_INTERVAL`` (1 s) after it ended: no port -- not even the SQL port, probed once
  the Browser has answered -- is probed more than once a second. The SQL Server Browser is asked every
  round, as the check asks it. Each round is judged and handed to ``steady.Watch`` (first result at
  once, then a change only when two rounds agree; flapping).
- **Views**: on a terminal (``Screen``) one table redrawn in place (``render.watch.table``), its ages
  ticking every second between rounds, colours unless ``NO_COLOR`` is set; without one (a pipe, a file,
  ``TERM=dumb``: ``Lines``) one line per change, nothing redrawn.
- **The end**: Ctrl-C (SIGINT), SIGTERM, SIGHUP, ``--watch-until ok`` (``steady.UNTIL_OK_ROUNDS`` rounds
  in a row judged OK, none flapping), ``--watch-for`` (default and at most 4 h), or a stdout that is gone.
  Then the summary (every change with its time), the final round's status line, ``--output`` of the
  final round in ``--format`` (``html``: the handover document with the changes as an appendix), and the
  exit code of the final round's verdict -- UNKNOWN when no round ended.
- ``--serve``: the page server (``serve``, imported only then) is started before the first round and gets
  each round's snapshot (``render.watchpage``); it is closed when the watch ends.

The engine is reached through one adapter (``probe_round``), the judgement through ``steady``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from check_digitalsentry.cli.options import NAGIOS, WATCH_MIN_INTERVAL, UsageError
from check_digitalsentry.cli.output import OutputError, finish, write
from check_digitalsentry.model import Interrupted, PluginError
from check_digitalsentry.render import watch as screen
from check_digitalsentry.steady import Watch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn, TextIO

    from check_digitalsentry.cli.options import Options
    from check_digitalsentry.cli.serve import LiveServer
    from check_digitalsentry.engine.probes import BuiltinHooks
    from check_digitalsentry.engine.sites import SitePlan
    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.steady import Event

NAME = "DIGITALSENTRY"
#: Seconds between redraws of the table while it waits for the next round (the ages tick).
TICK = 1.0
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop(signum: int, frame: object) -> None:
    """A stop signal (SIGINT, SIGTERM, SIGHUP): end the watch, with its summary."""
    raise Interrupted(signal.Signals(signum).name)


def probe_round(plans: Sequence[SitePlan], *, timeout: float, family: int, hooks: BuiltinHooks) -> JudgedRun:
    """One round: every planned port probed once, within ``timeout`` seconds, and judged. The watch's one
    adapter to the engine."""
    from check_digitalsentry.engine import probe_sites
    from check_digitalsentry.judge import JudgedRun

    started = time.monotonic()
    reports = probe_sites(plans, deadline=started + timeout, family=family, hooks=hooks)
    return JudgedRun.of(reports, time.monotonic() - started)


class Lines:
    """No terminal: one line per change (and each port's first result), written as it happens."""

    def __init__(self, stream: TextIO | None, qualified: bool) -> None:
        self.stream = stream
        self.qualified = qualified

    def show(self, watch: Watch, events: Sequence[Event], now: float, header: Sequence[str]) -> bool:
        """Write the events; False when the stream cannot take them (its reader is gone)."""
        if not events:
            return True
        return write("".join(screen.event_line(e, self.qualified) + "\n" for e in events), self.stream)

    def tick(self, watch: Watch, now: float, header: Sequence[str]) -> bool:
        """False once the reader is gone (``| head -1`` has its line): a watch that prints nothing while
        nothing changes would otherwise run on, unread, until --watch-for."""
        return not gone(self.stream)

    def close(self) -> None:
        pass


def gone(stream: TextIO | None) -> bool:
    """Whether nobody reads ``stream`` any more, asked without writing to it: a pipe whose reader has
    exited, a terminal or socket hung up (``poll``'s POLLERR, POLLHUP or POLLNVAL)."""
    import select

    try:
        fd = sys.stdout.fileno() if stream is None else stream.fileno()
        poller = select.poll()
        poller.register(fd, 0)  # no event asked: only the errors and the hang-up, always reported
        ready = poller.poll(0)
    except (OSError, ValueError, AttributeError):  # closed, or not a descriptor at all
        return stream is None and sys.stdout is None
    return any(events & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, events in ready)


class Screen:
    """A terminal: the table redrawn in place (the cursor taken back up over the last table, the screen
    cleared below it), cleared whole when the terminal's size changed; the cursor hidden meanwhile."""

    def __init__(self, stream: TextIO, qualified: bool, colour: bool) -> None:
        self.stream = stream
        self.qualified = qualified
        self.colour = colour
        self.drawn = 0  #: lines of the last table
        self.size: os.terminal_size | None = None
        # Ctrl-Z (SIGTSTP): the cursor shown for the shell, then stopped; back (SIGCONT): the screen is the
        # shell's now, and the next draw clears it whole (and hides the cursor again).
        signal.signal(signal.SIGTSTP, self._suspended)
        signal.signal(signal.SIGCONT, self._continued)

    def _suspended(self, signum: int, frame: object) -> None:
        try:  # straight to the descriptor: the stream's buffer may be half-way through a write
            os.write(self.stream.fileno(), b"\x1b[?25h")
        except (OSError, ValueError):
            pass
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here, until SIGCONT
        signal.signal(signal.SIGTSTP, self._suspended)

    def _continued(self, signum: int, frame: object) -> None:
        if self.size is not None:
            self.size = os.terminal_size((0, 0))

    def show(self, watch: Watch, events: Sequence[Event], now: float, header: Sequence[str]) -> bool:
        try:
            size = os.get_terminal_size(self.stream.fileno())
        except (OSError, ValueError):
            size = os.terminal_size((80, 24))
        if size.columns <= 0 or size.lines <= 0:  # a terminal nobody gave a size (script(1) started from a pipe,
            size = os.terminal_size((80, 24))     # a serial console): a table of one "." line a round otherwise
        lines = screen.table(watch, now, width=size.columns - 1, height=size.lines - 1, colour=self.colour,
                             qualified=self.qualified, header=header, encoding=self.stream.encoding)
        if self.size is None:
            move = "\x1b[?25l"
        elif size != self.size:
            move = "\x1b[?25l\x1b[H\x1b[2J"
        else:
            move = f"\x1b[{self.drawn}F" if self.drawn else ""
        self.drawn, self.size = len(lines), size
        return write(move + "\x1b[J" + "\n".join(lines) + "\n", self.stream)

    def tick(self, watch: Watch, now: float, header: Sequence[str]) -> bool:
        return self.show(watch, (), now, header)

    def close(self) -> None:
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        signal.signal(signal.SIGCONT, signal.SIG_DFL)
        write("\x1b[?25h", self.stream)


class Watcher:
    """The rounds of a watch and what they showed (``watch``, and ``last``: the final round's judged run).

    ``floor`` is the least time between the end of a round and the start of the next:
    ``WATCH_MIN_INTERVAL`` (never more than one probe of a port a second); only a test may lower it, in its
    own process.
    """

    def __init__(self, plans: Sequence[SitePlan], *, hooks: BuiltinHooks, view: Lines | Screen,
                 interval: float, timeout: float, duration: float, family: int = 0, until_ok: bool = False,
                 qualified: bool = False, server: LiveServer | None = None,
                 floor: float = WATCH_MIN_INTERVAL) -> None:
        self.plans = plans
        self.hooks = hooks
        self.view = view
        self.interval = max(interval, floor)
        self.floor = floor
        self.timeout = timeout
        self.family = family
        self.until_ok = until_ok
        self.qualified = qualified
        self.server = server
        self.watch = Watch()
        self.last: JudgedRun | None = None
        self.started = time.time()
        self.ends_at = time.monotonic() + duration
        self.ends_wall = self.started + duration
        self.probing = False

    def header(self, now: float) -> list[str]:
        return screen.header(self.watch, now, interval=self.interval, timeout=self.timeout, probing=self.probing,
                             ends=self.ends(now), url=self.server.url if self.server else "")

    def ends(self, now: float) -> str:
        return screen.ends_text(self.watch, now, ends_at=self.ends_wall, until_ok=self.until_ok)

    def run(self) -> str:
        """Rounds until the watch ends; why it ended. Stop signals come through as exceptions."""
        self.publish(time.time())  # a page opened before the first round ends says it is under way
        while True:
            start = time.monotonic()
            if start >= self.ends_at:
                return f"--watch-for: {screen.age(self.ends_wall - self.started)} are over"
            self.probing = True
            now = time.time()
            if not self.view.tick(self.watch, now, self.header(now)):
                return "stdout is gone"
            run = probe_round(self.plans, timeout=self.timeout, family=self.family, hooks=self.hooks)
            self.probing = False
            at = time.time()
            events = self.watch.observe(run, at)
            self.last = run
            self.publish(at)
            if not self.view.show(self.watch, events, at, self.header(at)):
                return "stdout is gone"
            if self.until_ok and self.watch.until_ok:
                return "--watch-until ok: every port as expected 3 rounds in a row"
            # The next round: --interval after this one started, and at least ``floor`` after it ended -- so
            # that no port, not even the SQL port probed once the Browser answered, is probed twice a second.
            following = max(start + self.interval, time.monotonic() + self.floor)
            while True:
                left = min(following, self.ends_at) - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(left, TICK))
                now = time.time()
                if not self.view.tick(self.watch, now, self.header(now)):
                    return "stdout is gone"

    def publish(self, now: float) -> None:
        if self.server is not None:
            from check_digitalsentry.render import watchpage

            self.server.publish(watchpage.snapshot(self.watch, now, interval=self.interval, ends_at=self.ends_wall,
                                                   until_ok=self.until_ok, qualified=self.qualified))

    def changes(self) -> list[tuple[float, str, str]]:
        """(time, host, change) of every change kept: the handover document's appendix."""
        return [(e.at, e.row.where if self.qualified else e.row.host, e.text) for e in self.watch.changes]


def _hold(handler: Callable[[int, object], None] | int) -> None:
    for signum in STOPS:
        signal.signal(signum, handler)


def watch(opts: Options, plans: list[SitePlan], family: int, hooks: BuiltinHooks) -> NoReturn:
    """``--watch``: rounds until the end, then the summary; exits with the final round's verdict."""
    sites = [plan.site for plan in plans]
    qualified = bool(opts.inventory) or len(sites) > 1 or any(len(s.hosts) > 1 for s in sites)
    stream = sys.stdout
    terminal = stream is not None and stream.isatty() and os.environ.get("TERM", "") != "dumb"
    view: Lines | Screen = (Screen(stream, qualified, colour=not os.environ.get("NO_COLOR"))
                            if terminal and stream is not None else Lines(stream, qualified))
    if opts.output:  # written at the end: a path it cannot take is said now, not after an hour of watching
        from check_digitalsentry import files

        try:
            files.replaceable(opts.output)
        except files.WriteError as exc:
            raise UsageError(f"--output {opts.output}: {exc}") from None
    server = None
    address = opts.serve_address
    if address is not None:
        from check_digitalsentry.cli.serve import LiveServer, ServeError
        from check_digitalsentry.render import watchpage

        names = ", ".join(site.name if opts.inventory else ", ".join(site.hosts) for site in sites[:3])
        page, csp = watchpage.page(f"DS ports live: {names}{'...' if len(sites) > 3 else ''}")
        try:
            server = LiveServer(address[0], address[1], page, csp)
        except ServeError as exc:
            raise UsageError(str(exc)) from None
        if not terminal:  # on a terminal the table's header shows it
            write(f"check_digitalsentry --watch: the live view (read-only) is at {server.url}\n", sys.stderr)
    watcher = Watcher(plans, hooks=hooks, view=view, interval=opts.interval, timeout=opts.round_timeout,
                      duration=opts.watch_for, family=family, until_ok=opts.watch_until == "ok",
                      qualified=qualified, server=server)
    _hold(_stop)
    try:
        try:
            ended = watcher.run()
        except Interrupted as exc:
            ended = "Ctrl-C" if exc.signal == "SIGINT" else exc.signal
    finally:
        _hold(signal.SIG_IGN)  # the end is said whatever comes now (finish exits at once on a signal)
        view.close()
        if server is not None:
            server.close()
    _end(opts, watcher, ended)


def _end(opts: Options, watcher: Watcher, ended: str) -> NoReturn:
    """The summary, the final round's status line and --output; exit with the final round's verdict."""
    from check_digitalsentry.render.text import STATE_WORDS, NagiosText

    text = screen.summary(watcher.watch, ended=ended, started=watcher.started, now=time.time(),
                          qualified=watcher.qualified)
    run = watcher.last
    if run is None:
        finish(text + f"{NAME} UNKNOWN - the watch ended ({ended}) before its first round did: nothing was "
                      f"judged\n", 3)
    code = int(run.state)
    status = f"{NAME} {STATE_WORDS[code]} - {NagiosText(run, qualified=bool(opts.inventory)).summary()}\n"
    if opts.output:
        try:
            _write_output(opts, watcher, run)
        except (OutputError, PluginError) as exc:
            text += f"{NAME} UNKNOWN - {screen.plain(str(exc))}\n"
            code = 3
    finish(text + status, code)


def _write_output(opts: Options, watcher: Watcher, run: JudgedRun) -> None:
    """The final round in --format, to --output (html: the handover document, the changes its appendix)."""
    from check_digitalsentry.cli.output import write_file
    from check_digitalsentry.render.text import NagiosText

    assert opts.output is not None
    text = NagiosText(run, qualified=bool(opts.inventory))
    fmt = opts.output_format
    if fmt is NAGIOS:
        from check_digitalsentry.cli import glue

        formatted = glue.render(text, 1)[0]
    else:
        from check_digitalsentry.cli.report import record
        from check_digitalsentry.outputs import Rendering

        watched = screen.watched(watcher.watch, interval=watcher.interval)
        formatted = fmt.render(Rendering(run, text.summary(), lambda: record(opts, run), changes=watcher.changes(),
                                         watched=watched))
    write_file(opts.output, formatted)
