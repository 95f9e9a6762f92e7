"""Probe API (engine layer): what a probe is, what it may ask the scheduler for, and the building
blocks probes are written with -- the built-in ones (``probes``, ``tls``) and the plugins' alike.

A probe is a generator function ``probe(ctx: ProbeContext)`` that yields ``Open`` (a new non-blocking
socket, granted within the file-descriptor budget) and ``Wait`` (readable/writable, with an optional
timeout) and returns an ``Outcome``. It never blocks, never sleeps and never closes its sockets: the
scheduler owns them and closes them all when the probe ends. Helpers: ``connect``, ``connect_udp``,
``read_until``, ``wait``, ``oserror_outcome``. What the remote does is data: every OSError, reset,
silence or garbage becomes an ``Outcome``.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time

from check_digitalsentry.model import Facts, Status, socket_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping

    from check_digitalsentry.model import PortSpec
    from check_digitalsentry.schema import Site

    ProbeGen = Generator["Wait | Open | Slot", object, "Outcome"]
    Probe = Callable[["ProbeContext"], ProbeGen]


READ = 1  #: Wait for readability (the value of selectors.EVENT_READ)
WRITE = 2  #: Wait for writability (selectors.EVENT_WRITE)

#: errno values that mean "something between us and the port said no" (ICMP unreachable other than
#: port-unreachable, a local firewall, no route): reported at once as filtered.
UNREACHABLE = {
    errno.EHOSTUNREACH: "host unreachable (ICMP)",
    errno.ENETUNREACH: "network unreachable (ICMP or no route)",
    errno.EACCES: "blocked by a local firewall rule",
    errno.EPERM: "blocked by a local firewall rule",
    errno.EHOSTDOWN: "host is down",
    errno.ENETDOWN: "network is down",
    errno.EADDRNOTAVAIL: "address not available from here",
    errno.ENOPROTOOPT: "protocol unreachable (ICMP)",
}
RESET_AT_ONCE = "the TCP handshake completed, then the connection was reset at once"
#: Least time a probe listens after a handshake for an at-once reset, close or refusal.
TCP_SETTLE = 0.02
#: Most time it listens (seconds): a fixed budget, whatever the round trip or this machine's load.
SETTLE_BUDGET = 1.0
#: Where tcp_info's smoothed round-trip time (tcpi_rtt, microseconds) is, on Linux.
_TCPI_RTT = 68


class Open:
    """Probe request: a new non-blocking socket (granted when the socket budget allows)."""

    __slots__ = ("family", "kind")

    def __init__(self, family: int, kind: int) -> None:
        self.family = family
        self.kind = kind


class Wait:
    """Probe request: wait until ``sock`` is ready for ``events``; ``timeout`` seconds at most.

    The probe is sent ``True`` when the socket is ready and ``False`` when the timeout or the
    deadline came first. Without a socket (``pause``), it is a pause of ``timeout`` seconds.
    """

    __slots__ = ("events", "sock", "timeout")

    def __init__(self, sock: socket.socket | None, events: int, timeout: float | None = None) -> None:
        self.sock = sock
        self.events = events
        self.timeout = timeout


class Slot:
    """Probe request: one of the ``limit`` places of the pool ``pool`` (the TLS handshakes in flight...),
    granted at once while one is free, else in turn. The probe is sent ``True`` when it holds one, and
    ``False`` when the deadline came first. ``release=True`` gives back the place it holds (sent ``True``);
    every place a probe holds is given back when it ends. A probe's clock (``ProbeContext.started``)
    does not run while it waits in turn."""

    __slots__ = ("limit", "pool", "release")

    def __init__(self, pool: str, limit: int, release: bool = False) -> None:
        self.pool = pool
        self.limit = limit
        self.release = release


class Outcome:
    """What a probe returns: the status, one human sentence, what it learned (``facts.Facts``, or a plain
    mapping of facts), and the time to the answer."""

    __slots__ = ("detail", "facts", "seconds", "source", "status")

    def __init__(
        self,
        status: Status,
        detail: str,
        facts: Facts | Mapping[str, object] | None = None,
        seconds: float | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.facts = Facts() if facts is None else Facts.of(facts)
        self.seconds = seconds
        self.source: str | None = None  #: filled in by the scheduler: the local address the probe used

    def __repr__(self) -> str:
        return f"Outcome({self.status}, {self.detail!r})"


class ProbeContext:
    """Everything a probe needs to know: where, what, until when, and the clock."""

    __slots__ = ("address", "deadline", "family", "host", "instance", "site", "source", "spec", "started")

    def __init__(
        self,
        site: Site,
        host: str,
        spec: PortSpec,
        family: int,
        address: tuple[object, ...],
        deadline: float,
        *,
        instance: str | None = None,
    ) -> None:
        self.site = site
        self.host = host
        self.spec = spec
        self.family = family
        self.address = address  #: the sockaddr to reach (address, port[, flowinfo, scope_id])
        self.deadline = deadline  #: time.monotonic() value at which every wait ends
        #: the SQL instance expected on this port (configured, or named for it by the Browser), else None
        self.instance = instance
        self.started = time.monotonic()
        #: the local address of the probe's connected socket, once ``connect`` knows it
        self.source: str | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def budget(self) -> str:
        """The probe's whole time budget as text ("2.5 s"), for "no answer within ..." sentences."""
        return f"{max(self.deadline - self.started, 0.0):.1f} s"


# --- building blocks of probes ---------------------------------------------------------------------


def open_socket(family: int, kind: int) -> Generator[Wait | Open, object, socket.socket]:
    """A new non-blocking socket from the scheduler; OSError when none can be made (EMFILE, no IPv6)."""
    sock = yield Open(family, kind)
    if isinstance(sock, OSError):
        raise sock
    assert isinstance(sock, socket.socket)
    return sock


def wait(sock: socket.socket, events: int, timeout: float | None = None) -> Generator[Wait | Open, object, bool]:
    """Wait for ``sock``; True when it is ready, False when the timeout or the deadline came first."""
    ready = yield Wait(sock, events, timeout)
    return bool(ready)


def pause(seconds: float) -> Generator[Wait | Open, object, None]:
    """Let ``seconds`` pass (the deadline ends it sooner): a timer, no system call."""
    yield Wait(None, 0, seconds)


def hold(pool: str, limit: int) -> Generator[Slot, object, bool]:
    """Take one of the ``limit`` places of ``pool`` (in turn): True once held, False when the deadline came."""
    granted = yield Slot(pool, limit)
    return bool(granted)


def give_back(pool: str) -> Generator[Slot, object, None]:
    """Give back the place of ``pool`` the probe holds (before it ends, when it ends is too late)."""
    yield Slot(pool, 0, release=True)


#: Socket errors that say something about this machine, not about the network: never a port's verdict.
LOCAL_ERRORS = {errno.EMFILE: "raise the open-file limit, ulimit -n",
                errno.ENFILE: "the system's file table is full", errno.ENOBUFS: "no buffer space",
                errno.ENOMEM: "out of memory", errno.EADDRNOTAVAIL: "no local port or address free"}


def oserror_outcome(exc: OSError, ctx: ProbeContext, what: str) -> Outcome:
    """Map a socket error to a status: refused is closed, an ICMP unreachable is filtered at once."""
    code = exc.errno or 0
    if code == errno.ECONNREFUSED:
        if ctx.spec.transport == "udp":
            return Outcome(Status.CLOSED, f"ICMP port unreachable: nothing listens on UDP {ctx.spec.port}")
        return Outcome(Status.CLOSED, f"connection refused (TCP reset): nothing listens on TCP {ctx.spec.port}")
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return Outcome(Status.INVALID, f"connection reset {what}".strip())
    if code == errno.ETIMEDOUT:
        return Outcome(Status.FILTERED, f"no answer {what} (timed out)".replace("  ", " "))
    if code in LOCAL_ERRORS:  # this machine's limits, not the network's answer
        return Outcome(Status.UNKNOWN, f"not probed: {os.strerror(code)} on this machine ({LOCAL_ERRORS[code]})",
                       socket_error(errno.errorcode.get(code, code), local=True))
    reason = UNREACHABLE.get(code) or os.strerror(code) if code else str(exc)
    return Outcome(Status.FILTERED, f"{reason} {what}".strip(), socket_error(errno.errorcode.get(code, code)))


def _self_connected(sock: socket.socket, ctx: ProbeContext) -> bool:
    """On loopback the kernel can give a probe of a closed port that very port as its own source port:
    TCP then "connects" to itself (simultaneous open) and UDP hears its own datagram. A listening port
    cannot be handed out as a source port, so this means nothing listens there."""
    try:
        name = sock.getsockname()
    except OSError:
        return False
    ctx.source = str(name[0])  # the vantage point, known here without asking the kernel again
    return bool(name[:2] == tuple(ctx.address[:2]))


def _self_connect_outcome(ctx: ProbeContext) -> Outcome:
    transport = ctx.spec.transport.upper()
    return Outcome(Status.CLOSED, f"nothing listens on {transport} {ctx.spec.port} (the probe was connected to "
                                  f"itself: its own source port was {ctx.spec.port})")


def connect(ctx: ProbeContext) -> Generator[Wait | Open, object, socket.socket | Outcome]:
    """Open a TCP connection to the probe's address: a connected socket, or the Outcome of failure."""
    sock = yield from open_socket(ctx.family, socket.SOCK_STREAM)
    err = sock.connect_ex(ctx.address)
    if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
        return oserror_outcome(OSError(err, os.strerror(err)), ctx, "on connect")
    if err != 0:
        if not (yield from wait(sock, WRITE)):
            return Outcome(Status.FILTERED, f"no answer to the TCP handshake within {ctx.budget()}")
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == errno.ECONNRESET:  # only a connection that was established can be reset
            return Outcome(Status.INVALID, RESET_AT_ONCE)
        if err:
            return oserror_outcome(OSError(err, os.strerror(err)), ctx, "on connect")
    if _self_connected(sock, ctx):
        return _self_connect_outcome(ctx)
    return sock


def connect_udp(ctx: ProbeContext) -> Generator[Wait | Open, object, socket.socket | Outcome]:
    """A UDP socket connected to the probe's address (so that ICMP errors reach it), or the Outcome."""
    sock = yield from open_socket(ctx.family, socket.SOCK_DGRAM)
    try:
        sock.connect(ctx.address)
    except OSError as exc:
        return oserror_outcome(exc, ctx, "")
    if _self_connected(sock, ctx):
        return _self_connect_outcome(ctx)
    return sock


def read_until(
    sock: socket.socket, complete: Callable[[bytes], bool], limit: int = 1 << 16
) -> Generator[Wait | Open, object, tuple[bytes, str]]:
    """Read until ``complete(data)``, EOF, the deadline or ``limit`` bytes: (data, why it stopped)."""
    data = b""
    while not complete(data):
        if not (yield from wait(sock, READ)):
            return data, "deadline"
        try:
            chunk = sock.recv(limit - len(data))
        except (BlockingIOError, InterruptedError):
            continue
        if not chunk:
            return data, "eof"
        data += chunk
        if len(data) >= limit:
            return data, "limit"
    return data, "complete"


def settle_time(sock: socket.socket, handshake: float) -> float:
    """How long a probe listens after a handshake for a server that accepts and then resets, closes or
    refuses at once: twice the round trip (the server's answer comes a round trip after ours, plus its
    own delay), at least ``TCP_SETTLE`` and at most ``SETTLE_BUDGET``.

    The round trip is the kernel's (Linux ``TCP_INFO``: timed from the SYN to the SYN-ACK as they passed
    the network stack), so this machine's load does not stretch it: a probe resumed late by a busy loop
    (thousands of ports at once) would otherwise measure seconds of "handshake" and hold its connection
    twice as long. Where the kernel has no sample (another system, a retransmitted SYN), the handshake's
    time as the probe measured it (``handshake``) stands in, within the same budget."""
    if 2 * handshake <= TCP_SETTLE:  # the kernel's round trip is within ours: no need to ask
        return TCP_SETTLE
    rtt = 0.0
    info = getattr(socket, "TCP_INFO", None)
    if info is not None:
        try:
            raw = sock.getsockopt(socket.IPPROTO_TCP, info, _TCPI_RTT + 4)[_TCPI_RTT:]
            rtt = int.from_bytes(raw, sys.byteorder) / 1e6
        except OSError:
            rtt = 0.0
    return min(max(TCP_SETTLE, 2 * (rtt or handshake)), SETTLE_BUDGET)


def host_arg(host: str) -> str | bytes:
    """The host for getaddrinfo: ASCII names as bytes, because CPython runs every str host through the
    IDNA codec (importing encodings.idna, stringprep and unicodedata: ~2 ms of start-up)."""
    return host.encode("ascii") if host.isascii() else host


def is_address(host: str) -> bool:
    """True for a literal IPv4/IPv6 address (no DNS)."""
    try:
        socket.getaddrinfo(host_arg(host), None, 0, 0, 0, socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return False
    return True
