"""Scheduler (engine layer): drives probe generators over one readiness loop -- sockets, time, the
file-descriptor budget.

A check plugin starts thousands of times a day, so this is a small epoll loop over non-blocking
sockets rather than asyncio (``import asyncio`` alone costs ~40 ms CPU here, about as much as the
interpreter, nagiosplugin and ssl together). Rules:

- every wait ends at the probe's deadline at the latest; the probe is told (``False``) and reports what
  it saw; a probe that keeps waiting after its deadline is closed and reported ``filtered``;
- sockets are opened through the scheduler, which closes them all when a probe ends, so nothing leaks
  whatever the probe did; at most ``max_sockets`` are open at once (from RLIMIT_NOFILE), the other
  probes queue for one until their deadline;
- nothing recurses: a probe resumed, a probe admitted to a socket and a probe started by another's
  result all go through one ready queue, so a queue of any length runs in constant stack depth, and all
  bookkeeping is O(1) or O(log n) per event (a timer heap, flags instead of list searches).
"""

from __future__ import annotations

import heapq
import select
import socket
import time
from collections import deque

from check_digitalsentry.engine.api import READ, WRITE, Open, Outcome, Slot, oserror_outcome
from check_digitalsentry.model import Status, internal_error, local_limit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, Protocol

    from check_digitalsentry.engine.api import Probe, ProbeContext, ProbeGen

    class Resolver(Protocol):
        """What the loop asks of ``resolver.Resolver`` (not imported here: it imports this module's
        ``Poller``, and a circle, even of type-only imports, is what the layers never have)."""

        def lookup(self, host: str, family: int, deadline: float, on_done: Callable[[Any], None]) -> None: ...
        def pending(self) -> bool: ...
        def due(self) -> float | None: ...
        def drain(self) -> None: ...
        def expire(self, now: float) -> None: ...
        def close(self) -> None: ...

#: Sockets kept free for the process itself (stdio, DNS threads, the wake-up pair, TLS files...).
FD_RESERVE = 64
#: The most sockets the engine holds at once, whatever the limit allows (the kernel's port range and
#: the selector's cost per socket make more pointless).
MAX_SOCKETS = 16384
#: Sockets any process may hold without asking for its limit: a check of one site needs fewer, so it
#: never imports ``resource`` nor touches RLIMIT_NOFILE (``fd_budget`` runs once a run needs more).
SMALL_BUDGET = 16
#: ``socket.SOCK_NONBLOCK`` where the system has it (Linux), else 0.
NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)


#: The environment variable that picks the readiness call, a test and diagnostic knob: ``epoll``, ``kqueue``,
#: ``poll`` or ``select`` (unset or empty: the best the system has -- epoll on Linux, kqueue on macOS). CI
#: runs the engine and frontend tests once more with ``poll`` and with ``select``: the paths a system without
#: epoll takes, proven on Linux.
POLLER_VARIABLE = "CHECK_DIGITALSENTRY_POLLER"
POLLERS = {"epoll": "EpollSelector", "kqueue": "KqueueSelector", "poll": "PollSelector",
           "select": "SelectSelector"}
#: select() watches descriptors below FD_SETSIZE only: with it the engine holds at most as many sockets as
#: fit below it above the highest descriptor the process already has (``select_limit``).
FD_SETSIZE = 1024


class TooHigh(OSError):
    """A descriptor select() cannot watch (FD_SETSIZE and above): this machine's limit, never a verdict."""


def select_limit() -> int:
    """How many sockets select() can watch here: those that fit below FD_SETSIZE above the highest descriptor
    open now (new ones fill the gaps below it first); 16 at least."""
    import os

    try:
        highest = max(int(name) for name in os.listdir("/dev/fd") if name.isdigit())
    except (OSError, ValueError):
        highest = FD_RESERVE
    return max(FD_SETSIZE - 1 - highest - 8, 16)  # 8: the resolver's wake-up pair and its lookups


def poller_choice(environ: Mapping[str, str] | None = None) -> str:
    """The readiness call ``CHECK_DIGITALSENTRY_POLLER`` asks for ("" for the system's best); ValueError, one
    line, for a value that is not one, or that this system lacks."""
    import os

    choice = (os.environ if environ is None else environ).get(POLLER_VARIABLE, "").strip().lower()
    if choice and choice not in POLLERS:
        raise ValueError(f"{POLLER_VARIABLE}={choice!r}: expected {', '.join(POLLERS)} (or unset)")
    if choice and not hasattr(select, choice):
        raise ValueError(f"{POLLER_VARIABLE}={choice}: this system has no {choice}()")
    return choice


class Poller:
    """Readiness of file descriptors: ``select.epoll`` where the system has it (no Python-level wrapping
    per call: the loop handles tens of thousands of sockets), ``selectors`` elsewhere -- or what
    ``CHECK_DIGITALSENTRY_POLLER`` picks (``poller_choice``). ``limit`` is the most sockets it can watch
    (None: no limit of its own)."""

    def __init__(self) -> None:
        choice = poller_choice()
        self.name = choice or ("epoll" if hasattr(select, "epoll") else "")
        self.epoll = select.epoll() if self.name == "epoll" else None
        self.limit: int | None = select_limit() if self.name == "select" else None
        if self.epoll is None:
            import selectors

            kind = getattr(selectors, POLLERS[self.name]) if self.name else selectors.DefaultSelector
            self.selector: selectors.BaseSelector | None = kind()
            self.name = self.name or type(self.selector).__name__.replace("Selector", "").lower()
        else:
            self.selector = None
        self.data: dict[int, object] = {}

    def register(self, fd: int, events: int, data: object) -> None:
        if self.limit is not None and fd >= FD_SETSIZE:
            raise TooHigh(f"descriptor {fd}: select() watches descriptors below {FD_SETSIZE} only "
                          f"({POLLER_VARIABLE}=select)")
        if self.epoll is not None:
            self.epoll.register(fd, (select.EPOLLIN if events & READ else 0) | (select.EPOLLOUT if events & WRITE
                                                                                 else 0))
        else:
            assert self.selector is not None
            self.selector.register(fd, events)
        self.data[fd] = data

    def arm(self, fd: int, events: int, data: object) -> None:
        """Wait once for ``fd`` (a probe's socket): epoll's one-shot mode, the descriptor added the first time
        and re-armed after (one system call a wait, not two), and dropped by the kernel when it is closed
        (``forget``). A wake-up for a descriptor nobody waits on any more is the caller's to ignore."""
        if self.epoll is not None:
            mask = (select.EPOLLIN if events & READ else 0) | (select.EPOLLOUT if events & WRITE else 0)
            try:
                if fd in self.data:
                    self.epoll.modify(fd, mask | select.EPOLLONESHOT)
                else:
                    self.epoll.register(fd, mask | select.EPOLLONESHOT)
            except FileNotFoundError:  # its number is a new socket's: a plugin's probe closed the old one
                self.epoll.register(fd, mask | select.EPOLLONESHOT)
            self.data[fd] = data
        else:  # the selectors: registered for the wait, unregistered after it (``disarm``)
            if fd in self.data:  # a number a plugin's probe closed behind the scheduler's back
                self.unregister(fd)
            self.register(fd, events, data)

    def disarm(self, fd: int) -> None:
        """The wait on ``fd`` is over (epoll: one-shot, nothing to do)."""
        if self.epoll is None:
            self.unregister(fd)

    def forget(self, fd: int) -> None:
        """``fd`` is about to be closed (the kernel drops it from epoll by itself)."""
        if self.epoll is not None:
            self.data.pop(fd, None)
        else:
            self.unregister(fd)

    def unregister(self, fd: int) -> None:
        if self.data.pop(fd, None) is None:
            return
        try:
            if self.epoll is not None:
                self.epoll.unregister(fd)
            else:
                assert self.selector is not None
                self.selector.unregister(fd)
        except (OSError, KeyError, ValueError):
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, object]]:
        """(fd, data) of every descriptor that is ready (or in error) within ``timeout`` seconds."""
        data = self.data
        if self.epoll is not None:
            return [(fd, data.get(fd)) for fd, _events in self.epoll.poll(-1 if timeout is None else timeout)]
        assert self.selector is not None
        return [(key.fd, data.get(key.fd)) for key, _mask in self.selector.select(timeout)]

    def close(self) -> None:
        if self.epoll is not None:
            self.epoll.close()
        elif self.selector is not None:
            self.selector.close()


#: Seconds a probe that waited for a socket must have had before its silence counts: a reachable port
#: answers well within it, so a probe that had less reports UNKNOWN ("not probed in full"), not filtered.
FAIR_TIME = 1.0


class _Pool:
    """Places a probe holds while it does something costly (``api.Slot``): how many are held, by whom in
    turn the next are wanted, and the most ever held at once."""

    __slots__ = ("held", "name", "peak", "queue")

    def __init__(self, name: str) -> None:
        self.name = name
        self.held = 0
        self.peak = 0
        self.queue: deque[tuple[_Task, int]] = deque()  # (task, the limit it asked with)


class _Task:
    __slots__ = ("ctx", "done", "gen", "holds", "on_done", "queued", "queued_since", "slot_wait", "sockets",
                 "token", "waiting")

    def __init__(self, gen: ProbeGen, ctx: ProbeContext, on_done: Callable[[Outcome], None]) -> None:
        self.gen = gen
        self.ctx = ctx
        self.on_done = on_done
        self.sockets: list[socket.socket] = []
        self.token = 0  # bumped on every wake-up, so that stale timers are ignored
        self.waiting = -1  # the descriptor it waits on (registered with the poller), or -1
        self.queued = False  # waiting for a socket from the budget
        self.queued_since = 0.0  # when it first queued for a socket (0: never)
        self.holds: list[_Pool] = []  # the places it holds
        self.slot_wait: tuple[_Pool, float] | None = None  # the pool it waits in turn for, and since when
        self.done = False


def fd_budget() -> int:
    """How many sockets the engine may hold open at once: the soft RLIMIT_NOFILE (raised towards the
    hard limit where allowed) minus a reserve."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = MAX_SOCKETS + FD_RESERVE if hard == resource.RLIM_INFINITY else min(hard, MAX_SOCKETS + FD_RESERVE)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    limit = MAX_SOCKETS + FD_RESERVE if soft == resource.RLIM_INFINITY else soft
    return max(min(limit - FD_RESERVE, MAX_SOCKETS), 16)


def _local_address(sock: socket.socket) -> str | None:
    try:
        name = sock.getsockname()
    except OSError:
        return None
    address = str(name[0]) if isinstance(name, tuple) and name else ""
    return address if address not in ("", "0.0.0.0", "::") else None


class Scheduler:
    """Drives probe generators over one selector until every probe has an outcome."""

    def __init__(self, max_sockets: int | None = None) -> None:
        self.poller = Poller()
        self.timers: list[tuple[float, int, int, _Task]] = []  # (when, seq, token, task)
        self.seq = 0
        self.max_sockets = SMALL_BUDGET if max_sockets is None else max_sockets
        if self.poller.limit is not None:
            self.max_sockets = min(self.max_sockets, self.poller.limit)
        self.budget_known = max_sockets is not None
        self.open_sockets = 0
        self.peak_sockets = 0
        self.socket_queue: deque[tuple[_Task, Open]] = deque()
        self.ready: deque[tuple[_Task, object]] = deque()
        self.live: set[_Task] = set()
        self.pools: dict[str, _Pool] = {}
        self.resolver: Resolver | None = None
        #: When the whole run must stop (the latest of its deadlines): from then on nothing new starts and
        #: every probe resumed is told its time is up, however busy the loop is.
        self.hard_deadline = float("inf")
        self.past_hard_deadline = False

    # -- tasks

    def spawn(self, probe: Probe, ctx: ProbeContext, on_done: Callable[[Outcome], None]) -> None:
        """Start ``probe(ctx)``; ``on_done(outcome)`` is called once with its outcome."""
        try:
            gen = probe(ctx)
        except Exception as exc:  # a plugin's probe factory failed: that probe is UNKNOWN, the run goes on
            on_done(Outcome(Status.UNKNOWN, f"internal error in the probe: {exc!r}", internal_error()))
            return
        task = _Task(gen, ctx, on_done)
        self.live.add(task)
        self.ready.append((task, None))

    def _finish(self, task: _Task, outcome: Outcome) -> None:
        if task.queued_since and outcome.status in (Status.FILTERED, Status.OPEN_FILTERED):
            outcome = self._unfair(task, outcome)
        task.done = True
        task.queued = False
        task.slot_wait = None
        while task.holds:
            self._give_back(task.holds.pop())
        if task.waiting >= 0:
            self.poller.disarm(task.waiting)
            task.waiting = -1
        if outcome.source is None:
            outcome.source = task.ctx.source
        for sock in task.sockets:
            if outcome.source is None:
                outcome.source = _local_address(sock)
            self._release(sock)
        task.sockets.clear()
        task.token += 1
        self.live.discard(task)
        task.on_done(outcome)

    def _unfair(self, task: _Task, outcome: Outcome) -> Outcome:
        """A silence heard by a probe that waited for a socket so long that it had less than ``FAIR_TIME``
        (or its whole share) left: not a verdict on the network, but on this machine's open-file limit."""
        ctx = task.ctx
        had = ctx.deadline - ctx.started
        if had >= min(ctx.deadline - task.queued_since, FAIR_TIME):
            return outcome
        waited = ctx.started - task.queued_since
        return Outcome(Status.UNKNOWN, f"not probed in full: it waited {waited:.1f} s for one of the "
                                       f"{self.max_sockets} sockets the open-file limit allows (ulimit -n) and "
                                       f"had {max(had, 0.0):.2f} s",
                       local_limit(round(waited, 3)), outcome.seconds)

    def _step(self, task: _Task, value: object) -> None:
        """Resume a probe with ``value`` and act on what it asks for next, until it waits or ends."""
        while True:
            try:
                request = task.gen.send(value)
            except StopIteration as stop:
                outcome = stop.value
                if not isinstance(outcome, Outcome):
                    outcome = Outcome(Status.UNKNOWN, f"probe returned {outcome!r}, not an Outcome",
                                      internal_error())
                self._finish(task, outcome)
                return
            except OSError as exc:  # what the network did is data
                self._finish(task, oserror_outcome(exc, task.ctx, ""))
                return
            except Exception as exc:  # a probe bug must not sink the other probes
                self._finish(task, Outcome(Status.UNKNOWN, f"internal error in the probe: {exc!r}",
                                           internal_error()))
                return
            now = time.monotonic()
            if isinstance(request, Slot):
                granted = self._slot(task, request, now)
                if granted is None:  # in turn
                    return
                value = granted
                continue
            if isinstance(request, Open):
                if now >= self.hard_deadline:
                    task.gen.close()
                    self._finish(task, Outcome(Status.UNKNOWN, "not probed: the run's time was up before it could "
                                                               "start (too much to do in -t)"))
                    return
                if self.open_sockets >= self.max_sockets and not self.budget_known:
                    self.max_sockets, self.budget_known = min(fd_budget(), self.poller.limit or MAX_SOCKETS), True
                if self.open_sockets >= self.max_sockets:
                    task.queued = True
                    task.queued_since = task.queued_since or now
                    self.socket_queue.append((task, request))
                    self._arm(task, task.ctx.deadline)
                    return
                value = self._new_socket(task, request)
                continue
            if value is False and now >= task.ctx.deadline:
                # Told that the deadline passed, and still waiting: the probe has had its chance.
                task.gen.close()
                self._finish(task, Outcome(Status.FILTERED, f"no answer within {task.ctx.budget()}"))
                return
            wake = task.ctx.deadline if request.timeout is None else min(now + request.timeout, task.ctx.deadline)
            if wake <= now:
                task.token += 1
                value = False
                continue
            if request.sock is None:  # a pause: the timer alone
                self._arm(task, wake)
                return
            try:
                fd = request.sock.fileno()
                self.poller.arm(fd, request.events, task)
            except TooHigh as exc:  # this machine's limit (the select poller), not the network's verdict
                task.gen.close()
                self._finish(task, Outcome(Status.UNKNOWN, f"not probed: {exc}", local_limit()))
                return
            except (ValueError, KeyError, OSError) as exc:  # a closed or foreign socket: a probe bug
                task.gen.close()
                self._finish(task, Outcome(Status.UNKNOWN, f"internal error in the probe: cannot wait on "
                                                           f"{request.sock!r}: {exc}", internal_error()))
                return
            task.waiting = fd
            self._arm(task, wake)
            return

    def _slot(self, task: _Task, request: Slot, now: float) -> bool | None:
        """A place of a pool for ``task``: True (held), False (its deadline has come), None (in turn: it is
        resumed when a place is given back, or with False at its deadline)."""
        pool = self.pools.get(request.pool)
        if pool is None:
            pool = self.pools[request.pool] = _Pool(request.pool)
        if request.release:
            if pool in task.holds:
                task.holds.remove(pool)
                self._give_back(pool)
            return True
        queue = pool.queue
        while queue and (queue[0][0].done or queue[0][0].slot_wait is None):
            queue.popleft()  # ended, or its deadline came, while in turn
        if pool.held < request.limit and not queue:
            self._grant(task, pool)
            return True
        if now >= task.ctx.deadline:
            return False
        queue.append((task, request.limit))
        task.slot_wait = (pool, now)
        self._arm(task, task.ctx.deadline)
        return None

    def _grant(self, task: _Task, pool: _Pool) -> None:
        pool.held += 1
        pool.peak = max(pool.peak, pool.held)
        task.holds.append(pool)

    def _give_back(self, pool: _Pool) -> None:
        pool.held -= 1
        queue = pool.queue
        while queue and pool.held < queue[0][1]:
            task, _limit = queue.popleft()
            if task.done or task.slot_wait is None or task.slot_wait[0] is not pool:
                continue  # it ended, or its deadline came, while in turn
            self._grant(task, pool)
            task.ctx.started += time.monotonic() - task.slot_wait[1]  # its clock stood while in turn
            task.slot_wait = None
            task.token += 1  # cancels the deadline timer armed while in turn
            self.ready.append((task, True))

    def _arm(self, task: _Task, when: float) -> None:
        task.token += 1
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, task.token, task))

    def _new_socket(self, task: _Task, request: Open) -> socket.socket | OSError:
        try:  # non-blocking from the start where the system can (no ioctl a socket)
            sock = socket.socket(request.family, request.kind | NONBLOCK)
        except OSError as exc:
            return exc
        if not NONBLOCK:  # pragma: no cover - not Linux
            sock.setblocking(False)
        if not task.sockets:  # the probe's clock starts with its first socket, not while it queued
            task.ctx.started = time.monotonic()
        self.open_sockets += 1
        self.peak_sockets = max(self.peak_sockets, self.open_sockets)
        task.sockets.append(sock)
        return sock

    def _release(self, sock: socket.socket) -> None:
        self.poller.forget(sock.fileno())
        sock.close()
        self.open_sockets -= 1
        while self.socket_queue and self.open_sockets < self.max_sockets:
            task, request = self.socket_queue.popleft()
            if not task.queued:  # it ended while it queued (its deadline came)
                continue
            task.queued = False
            task.token += 1  # cancels the deadline timer armed while queued
            self.ready.append((task, self._new_socket(task, request)))

    def _wake(self, task: _Task, value: bool) -> None:
        if task.waiting >= 0:
            self.poller.disarm(task.waiting)
            task.waiting = -1
        task.token += 1
        self.ready.append((task, value))

    def _run_ready(self) -> None:
        ready, late = self.ready, self.past_hard_deadline
        while ready:
            task, value = ready.popleft()
            if task.done:
                continue
            if not late and time.monotonic() >= self.hard_deadline:
                late = self.past_hard_deadline = True
            if late and value is True:
                value = False  # past the run's end: a probe gets no more time, whatever came in
            self._step(task, value)

    # -- the loop

    def _expire_timers(self, now: float) -> None:
        timers = self.timers
        while timers and (timers[0][0] <= now or timers[0][2] != timers[0][3].token):
            _when, _, token, task = heapq.heappop(timers)
            if token != task.token or task.done:
                continue
            if task.queued:
                task.gen.close()
                self._finish(task, Outcome(Status.UNKNOWN, f"not probed: no socket could be had before the "
                                                           f"deadline ({self.max_sockets} at once, from the "
                                                           f"open-file limit: ulimit -n)", local_limit()))
                continue
            task.slot_wait = None  # the deadline came while in turn for a place: left in the queue, skipped
            self._wake(task, False)

    def in_flight(self) -> list[ProbeContext]:
        """The contexts of the probes that have not ended, in the order they started."""
        return [task.ctx for task in sorted(self.live, key=lambda task: task.ctx.started)]

    def _busy(self) -> bool:
        return bool(self.live or self.ready or (self.resolver is not None and self.resolver.pending()))

    def run(self) -> None:
        """Run until every probe (and every pending name lookup) has ended."""
        while True:
            self._run_ready()
            self._expire_timers(time.monotonic())
            if self.resolver is not None:
                self.resolver.expire(time.monotonic())
            self._run_ready()
            if not self._busy():
                return
            due = self.timers[0][0] if self.timers else None
            if self.resolver is not None:
                resolver_due = self.resolver.due()
                if resolver_due is not None:
                    due = resolver_due if due is None else min(due, resolver_due)
            timeout = None if due is None else max(due - time.monotonic(), 0.0)
            for fd, data in self.poller.poll(timeout):
                if isinstance(data, _Task):
                    if data.waiting == fd:
                        self._wake(data, True)
                elif self.resolver is not None and data is self.resolver:
                    self.resolver.drain()

    def close(self) -> None:
        """Close whatever is still open (after an interruption: every live probe's sockets) and the selector."""
        for task in self.live:
            try:
                task.gen.close()
            except Exception:  # a probe's own clean-up failed: its sockets are closed below all the same
                pass
            for sock in task.sockets:
                sock.close()
            task.sockets.clear()
        self.live.clear()
        if self.resolver is not None:
            self.resolver.close()
        self.poller.close()
