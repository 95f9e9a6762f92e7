"""Name resolution (engine layer): DNS lookups in a few daemon threads, joined to the scheduler's
the scheduler's loop by a socketpair, each bounded by its caller's deadline.

Literal addresses never reach this module (``probes.is_address``); ``threading`` is imported only
when a name must be resolved. At most ``WORKERS`` threads run lookups, whatever the number of names
(an inventory of thousands of sites by name must not start thousands of threads); a thread stuck in a
hung resolver is abandoned at the deadline (daemon: it never holds up the process) and its late answer
is ignored. Deadlines are kept in a heap, so each loop turn costs O(log n), not a scan of every waiter.
"""

from __future__ import annotations

import heapq
import socket
from collections import deque

from check_digitalsentry.engine.api import READ, host_arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from check_digitalsentry.engine.scheduler import Poller

    Addresses = list[tuple[int, tuple[object, ...]]]
    Answer = Addresses | str
    OnDone = Callable[[Answer], None]

WORKERS = 16  #: lookup threads at most


class _Waiter:
    __slots__ = ("deadline", "host", "on_done", "settled")

    def __init__(self, host: str, deadline: float, on_done: OnDone) -> None:
        self.host = host
        self.deadline = deadline
        self.on_done = on_done
        self.settled = False


class _Lookup:
    __slots__ = ("answer", "family", "host", "waiters")

    def __init__(self, host: str, family: int) -> None:
        self.host = host
        self.family = family
        self.answer: Answer | None = None
        self.waiters: list[_Waiter] = []

    def run(self) -> None:
        """Resolve (in a worker thread)."""
        try:
            infos = socket.getaddrinfo(host_arg(self.host), None, self.family, socket.SOCK_STREAM)
            answer: Answer = [(i[0], i[4]) for i in infos]
            if not answer:
                answer = f"{self.host} has no address"
        except socket.gaierror as exc:
            answer = f"{self.host} does not resolve: {exc.strerror}"
        except (OSError, UnicodeError, ValueError) as exc:
            answer = f"{self.host} does not resolve: {exc}"
        self.answer = answer


class Resolver:
    """Lookups for one engine run; ``close()`` ends the run's part (threads still in a lookup are left)."""

    def __init__(self, poller: Poller) -> None:
        import threading  # only when a name (not an address) is probed

        self._threading = threading
        self.poller = poller
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        poller.register(self.reader.fileno(), READ, self)
        self.lookups: dict[tuple[str, int], _Lookup] = {}
        self.todo: deque[_Lookup] = deque()  # waiting for a worker
        self.answered: deque[_Lookup] = deque()  # filled by the workers
        self.deadlines: list[tuple[float, int, _Waiter]] = []
        self.seq = 0
        self.unsettled = 0
        self.workers = 0
        self.closed = False

    def lookup(self, host: str, family: int, deadline: float, on_done: OnDone) -> None:
        """Resolve ``host``; ``on_done`` gets the addresses, or a sentence saying why there are none (also
        when ``deadline`` passes first)."""
        key = (host, family)
        found = self.lookups.get(key)
        if found is None:
            found = self.lookups[key] = _Lookup(host, family)
            self.todo.append(found)
            if self.workers < WORKERS:
                self.workers += 1
                self._threading.Thread(target=self._work, daemon=True, name="dsports dns").start()
        if found.answer is not None:
            on_done(found.answer)
            return
        waiter = _Waiter(host, deadline, on_done)
        found.waiters.append(waiter)
        self.unsettled += 1
        self.seq += 1
        heapq.heappush(self.deadlines, (deadline, self.seq, waiter))

    def _work(self) -> None:
        while True:
            try:
                lookup = self.todo.popleft()
            except IndexError:
                return
            lookup.run()
            self.answered.append(lookup)
            try:
                self.writer.send(b"!")
            except OSError:  # the buffer holds a wake-up already, or the run ended and closed the pair
                pass

    def pending(self) -> bool:
        return self.unsettled > 0

    def due(self) -> float | None:
        """The next deadline of a waiter still without an answer."""
        heap = self.deadlines
        while heap and heap[0][2].settled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _settle(self, waiter: _Waiter, answer: Answer) -> None:
        if not waiter.settled:
            waiter.settled = True
            self.unsettled -= 1
            waiter.on_done(answer)

    def drain(self) -> None:
        """Hand the answers that came to their waiters."""
        try:
            while self.reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while self.answered:
            lookup = self.answered.popleft()
            waiters, lookup.waiters = lookup.waiters, []
            assert lookup.answer is not None
            for waiter in waiters:
                self._settle(waiter, lookup.answer)

    def expire(self, now: float) -> None:
        """Tell the waiters whose deadline has passed that their lookup did not finish."""
        heap = self.deadlines
        while heap and (heap[0][2].settled or heap[0][0] <= now):
            _deadline, _, waiter = heapq.heappop(heap)
            if not waiter.settled:
                self._settle(waiter, f"DNS lookup of {waiter.host} did not finish before the deadline")

    def close(self) -> None:
        self.todo.clear()  # lookups no worker has started are dropped
        self.poller.unregister(self.reader.fileno())
        self.reader.close()
        self.writer.close()
