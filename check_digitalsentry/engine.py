"""Probe engine (core layer): owns sockets, DNS and time, and turns sites into site reports.

Strategy
--------
A check plugin starts thousands of times a day, so the engine is a small ``selectors`` loop over
non-blocking sockets rather than asyncio (``import asyncio`` alone costs ~40 ms CPU here, about as
much as the interpreter, nagiosplugin and ssl together). Each probe is a plain generator that yields
what it waits for -- ``Open`` (a socket, granted within the file-descriptor budget), ``Wait``
(readable/writable, with an optional timeout) -- and returns an ``Outcome``. The scheduler drives all
probes of all hosts of all sites at once, under one deadline per site:

- every wait ends at the deadline at the latest; the probe is told (``False``) and reports what it
  saw; a probe that keeps waiting after its deadline is closed and reported ``filtered``;
- DNS runs in daemon threads (only for names: literal addresses never start a thread) and is bounded
  by the same deadline -- a hung resolver gives ``unresolved`` in time;
- sockets are opened through the scheduler, which closes them all when a probe ends, so nothing
  leaks whatever the probe did; a bound on open sockets follows RLIMIT_NOFILE.

What the remote does is data: every OSError, reset, silence or garbage becomes a ``PortResult``.
The DS-specific orchestration lives here too: the SQL port is learned from the SQL Server Browser
(or set statically), and a filtered SQL port named by the Browser says which port to forward.
``ssl`` is imported only when a TLS probe runs; ``threading`` only when a name must be resolved.
"""

from __future__ import annotations

import errno
import heapq
import os
import selectors
import socket
import time
from collections import deque

from . import catalogue
from .model import PortResult, PortSpec, Site, SiteReport, Status
from .protocols import MalformedReply, ssrp, tds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Mapping, Sequence

    from .plugins import BuiltinHooks as Hooks

    ProbeGen = Generator["Wait | Open", object, "Outcome"]
    Probe = Callable[["ProbeContext"], ProbeGen]

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE

#: How long a UDP probe without a protocol (audio, forbidden UDP ports) listens for an ICMP error.
#: Silence proves nothing either way, so it need not wait for the whole deadline.
UDP_LISTEN = 1.5
#: Interval between datagrams: UDP loss is normal, the SQL Server Browser is asked again each second.
BROWSER_RETRY = 1.0
UDP_RETRY = 0.5
#: Least time a TCP connect probe listens after the handshake for an at-once reset or close.
TCP_SETTLE = 0.02
_RESET_AT_ONCE = "the TCP handshake completed, then the connection was reset at once"
#: Sockets kept free for the process itself (stdio, DNS threads, the wake-up pair, TLS files...).
FD_RESERVE = 64

#: errno values that mean "something between us and the port said no" (ICMP unreachable other than
#: port-unreachable, a local firewall, no route): reported at once as filtered.
_UNREACHABLE = {
    errno.EHOSTUNREACH: "host unreachable (ICMP)",
    errno.ENETUNREACH: "network unreachable (ICMP or no route)",
    errno.EACCES: "blocked by a local firewall rule",
    errno.EPERM: "blocked by a local firewall rule",
    errno.EHOSTDOWN: "host is down",
    errno.ENETDOWN: "network is down",
    errno.EADDRNOTAVAIL: "address not available from here",
    errno.ENOPROTOOPT: "protocol unreachable (ICMP)",
}


class Open:
    """Probe request: a new non-blocking socket (granted when the socket budget allows)."""

    __slots__ = ("family", "kind")

    def __init__(self, family: int, kind: int) -> None:
        self.family = family
        self.kind = kind


class Wait:
    """Probe request: wait until ``sock`` is ready for ``events``; ``timeout`` seconds at most.

    The probe is sent ``True`` when the socket is ready and ``False`` when the timeout or the
    deadline came first.
    """

    __slots__ = ("events", "sock", "timeout")

    def __init__(self, sock: socket.socket, events: int, timeout: float | None = None) -> None:
        self.sock = sock
        self.events = events
        self.timeout = timeout


class Outcome:
    """What a probe returns: the status, one human sentence, what it learned, and the time to the answer."""

    __slots__ = ("detail", "facts", "seconds", "status")

    def __init__(
        self,
        status: Status,
        detail: str,
        facts: Mapping[str, object] | None = None,
        seconds: float | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.facts: dict[str, object] = dict(facts or {})
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Outcome({self.status}, {self.detail!r})"


class ProbeContext:
    """Everything a probe needs to know: where, what, until when, and the clock."""

    __slots__ = ("address", "deadline", "family", "host", "site", "spec", "started")

    def __init__(
        self,
        site: Site,
        host: str,
        spec: PortSpec,
        family: int,
        address: tuple[object, ...],
        deadline: float,
    ) -> None:
        self.site = site
        self.host = host
        self.spec = spec
        self.family = family
        self.address = address  #: the sockaddr to reach (address, port[, flowinfo, scope_id])
        self.deadline = deadline  #: time.monotonic() value at which every wait ends
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def budget(self) -> str:
        """The probe's whole time budget as text ("2.5 s"), for "no answer within ..." sentences."""
        return f"{max(self.deadline - self.started, 0.0):.1f} s"


# --- building blocks for probes -------------------------------------------------------------------


def open_socket(family: int, kind: int) -> Generator[Wait | Open, object, socket.socket]:
    """A new non-blocking socket from the scheduler; OSError when none can be made (EMFILE, no IPv6)."""
    sock = yield Open(family, kind)
    if isinstance(sock, OSError):
        raise sock
    assert isinstance(sock, socket.socket)
    return sock


def wait(sock: socket.socket, events: int, timeout: float | None = None) -> Generator[Wait | Open, object, bool]:
    ready = yield Wait(sock, events, timeout)
    return bool(ready)


def _oserror_outcome(exc: OSError, ctx: ProbeContext, what: str) -> Outcome:
    """Map a socket error to a status: refused is closed, an ICMP unreachable is filtered at once."""
    code = exc.errno or 0
    if code == errno.ECONNREFUSED:
        if ctx.spec.transport == "udp":
            return Outcome(Status.CLOSED, f"ICMP port unreachable: nothing listens on UDP {ctx.spec.port}")
        return Outcome(Status.CLOSED, f"connection refused (TCP reset): nothing listens on TCP {ctx.spec.port}")
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return Outcome(Status.INVALID, f"connection reset {what}")
    if code == errno.ETIMEDOUT:
        return Outcome(Status.FILTERED, f"no answer {what} (timed out)")
    reason = _UNREACHABLE.get(code) or os.strerror(code) if code else str(exc)
    return Outcome(Status.FILTERED, f"{reason} {what}".strip(), {"errno": errno.errorcode.get(code, code)})


def _self_connected(sock: socket.socket, ctx: ProbeContext) -> bool:
    """On loopback the kernel can give a probe of a closed port that very port as its own source port:
    TCP then "connects" to itself (simultaneous open) and UDP hears its own datagram. A listening port
    cannot be handed out as a source port, so this means nothing listens there."""
    try:
        return bool(sock.getsockname()[:2] == tuple(ctx.address[:2]))
    except OSError:
        return False


def _self_connect_outcome(ctx: ProbeContext) -> Outcome:
    transport = ctx.spec.transport.upper()
    return Outcome(Status.CLOSED, f"nothing listens on {transport} {ctx.spec.port} (the probe was connected to "
                                  f"itself: its own source port was {ctx.spec.port})")


def connect(ctx: ProbeContext) -> Generator[Wait | Open, object, socket.socket | Outcome]:
    """Open a TCP connection to the probe's address: a connected socket, or the Outcome of failure."""
    sock = yield from open_socket(ctx.family, socket.SOCK_STREAM)
    err = sock.connect_ex(ctx.address)
    if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
        return _oserror_outcome(OSError(err, os.strerror(err)), ctx, "on connect")
    if err != 0:
        if not (yield from wait(sock, WRITE)):
            return Outcome(Status.FILTERED, f"no answer to the TCP handshake within {ctx.budget()}")
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == errno.ECONNRESET:  # only a connection that was established can be reset
            return Outcome(Status.INVALID, _RESET_AT_ONCE)
        if err:
            return _oserror_outcome(OSError(err, os.strerror(err)), ctx, "on connect")
    if _self_connected(sock, ctx):
        return _self_connect_outcome(ctx)
    return sock


def connect_udp(ctx: ProbeContext) -> Generator[Wait | Open, object, socket.socket | Outcome]:
    """A UDP socket connected to the probe's address (so that ICMP errors reach it), or the Outcome."""
    sock = yield from open_socket(ctx.family, socket.SOCK_DGRAM)
    try:
        sock.connect(ctx.address)
    except OSError as exc:
        return _oserror_outcome(exc, ctx, "")
    if _self_connected(sock, ctx):
        return _self_connect_outcome(ctx)
    return sock


def read_until(
    ctx: ProbeContext, sock: socket.socket, complete: Callable[[bytes], bool], limit: int = 1 << 16
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


# --- built-in probes ------------------------------------------------------------------------------


def probe_tcp(ctx: ProbeContext) -> ProbeGen:
    """TCP connect (video, diagnostics, API ports, forbidden TCP ports): no payload is sent.

    After the handshake the probe listens a moment (twice the handshake time, at least ``TCP_SETTLE``)
    for a server that accepts and then resets or closes at once -- a service at its limit, or a filter
    that lets the handshake through: "open" means accepted and held.
    """
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return sock
    seconds = ctx.elapsed()
    settle = min(max(TCP_SETTLE, 2 * seconds), ctx.remaining())
    if settle > 0 and (yield from wait(sock, READ, settle)):
        try:
            if not sock.recv(1, socket.MSG_PEEK):
                return Outcome(Status.INVALID, "the TCP handshake completed, then the server closed the "
                                               "connection at once")
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            if exc.errno == errno.ECONNRESET:
                return Outcome(Status.INVALID, _RESET_AT_ONCE)
            return _oserror_outcome(exc, ctx, "after the TCP handshake")
    return Outcome(Status.OPEN, f"TCP handshake completed in {seconds * 1000:.1f} ms", seconds=seconds)


def probe_udp(ctx: ProbeContext) -> ProbeGen:
    """A datagram on a connected socket: ICMP port-unreachable is closed, silence is open|filtered."""
    sock = yield from connect_udp(ctx)
    if isinstance(sock, Outcome):
        return sock
    listen_until = min(ctx.deadline, ctx.started + UDP_LISTEN)
    sent = 0
    try:
        while True:
            sock.send(b"\x00")
            sent += 1
            left = listen_until - time.monotonic()
            if left <= 0 or not (yield from wait(sock, READ, min(UDP_RETRY, left))):
                if time.monotonic() >= listen_until:
                    break
                continue
            sock.recv(2048)
            seconds = ctx.elapsed()
            return Outcome(Status.OPEN, "a UDP reply came back", seconds=seconds)
    except OSError as exc:
        return _oserror_outcome(exc, ctx, "")
    return Outcome(
        Status.OPEN_FILTERED,
        f"no reply and no ICMP error to {sent} datagram{'s' if sent != 1 else ''} in "
        f"{ctx.elapsed():.1f} s: open and silent, or dropped by a firewall",
    )


def _browser_facts(instances: Sequence[ssrp.Instance]) -> list[dict[str, object]]:
    return [
        {"instance": i.instance_name, "server": i.server_name, "version": i.version, "tcp_port": i.tcp_port}
        for i in instances
    ]


def probe_browser(ctx: ProbeContext) -> ProbeGen:
    """Ask the SQL Server Browser for the SQL port: CLNT_UCAST_INST when an instance is configured,
    else CLNT_UCAST_EX; ask again each second while the deadline allows (UDP loss is normal). With an
    instance configured, the second round also asks for all instances, so that "not found" can name
    what the Browser does list (the Browser ignores requests for instances it does not have)."""
    wanted = ctx.site.sql_instance
    requests = [ssrp.build_request(wanted)]
    sock = yield from connect_udp(ctx)
    if isinstance(sock, Outcome):
        return sock
    listed: list[ssrp.Instance] = []
    rounds = 0
    try:
        while True:
            for request in requests:
                sock.send(request)
            rounds += 1
            next_round = time.monotonic() + BROWSER_RETRY
            while True:
                left = min(next_round, ctx.deadline) - time.monotonic()
                if left <= 0 or not (yield from wait(sock, READ, left)):
                    break
                datagram = sock.recv(ssrp.RECV_BUFFER)
                seconds = ctx.elapsed()
                try:
                    instances = ssrp.parse_response(datagram)
                except MalformedReply as exc:
                    return Outcome(Status.INVALID, f"not a SQL Server Browser reply: {exc}", seconds=seconds)
                listed.extend(i for i in instances if i not in listed)
                if wanted is None or any(i.instance_name.lower() == wanted.lower() for i in instances):
                    return _judge_browser_reply(ctx, listed, seconds)
                if len(requests) > 1:  # the all-instances reply came, and it lacks ours
                    return _judge_browser_reply(ctx, listed, seconds)
            if time.monotonic() >= ctx.deadline:
                break
            if wanted is not None and len(requests) == 1:
                requests.append(ssrp.build_request(None))
    except OSError as exc:
        return _oserror_outcome(exc, ctx, "")
    if listed:  # replies came, but not for our instance
        return _judge_browser_reply(ctx, listed, None)
    asked = f"CLNT_UCAST_INST for {wanted}" if wanted else "CLNT_UCAST_EX"
    return Outcome(
        Status.OPEN_FILTERED,
        f"no reply from the SQL Server Browser to {rounds} request{'s' if rounds != 1 else ''} "
        f"({asked}) within {ctx.budget()}: UDP {ctx.spec.port} dropped, or the Browser is stopped",
    )


def _judge_browser_reply(ctx: ProbeContext, listed: list[ssrp.Instance], seconds: float | None) -> Outcome:
    """Pick the instance(s) whose SQL port the site uses, from what the Browser listed."""
    wanted = ctx.site.sql_instance
    names = ", ".join(i.instance_name for i in listed) or "nothing"
    facts: dict[str, object] = {"instances": _browser_facts(listed)}
    if wanted is not None:
        chosen = [i for i in listed if i.instance_name.lower() == wanted.lower()]
        if not chosen:
            return Outcome(Status.INVALID, f"instance {wanted} not found; the Browser lists {names}",
                           facts, seconds)
    else:
        chosen = [i for i in listed if i.tcp_port is not None] or listed
    with_tcp = [i for i in chosen if i.tcp_port is not None]
    facts["server"] = chosen[0].server_name
    if not with_tcp:
        inst = chosen[0]
        raw = inst.raw_tcp
        why = "no TCP port" if raw is None else f"an unusable TCP port {raw!r}"
        return Outcome(Status.INVALID, f"instance {inst.instance_name} has {why} (TCP/IP disabled for it?)",
                       {**facts, "instance": inst.instance_name, "sql_ssrp_version": inst.version}, seconds)
    facts["sql_ports"] = [(i.instance_name, i.tcp_port) for i in with_tcp]
    facts["instance"] = with_tcp[0].instance_name
    facts["sql_ssrp_version"] = with_tcp[0].version
    named = "; ".join(f"{i.instance_name} on TCP {i.tcp_port}" for i in with_tcp)
    return Outcome(Status.OPEN, f"the SQL Server Browser names {named}", facts, seconds)


SQL_PRODUCTS = {8: "2000", 9: "2005", 10: "2008", 11: "2012", 12: "2014", 13: "2016",
                14: "2017", 15: "2019", 16: "2022", 17: "2025"}


def sql_product(version: tuple[int, int, int, int]) -> str:
    """"SQL Server 2019" for (15, 0, ...); 10.50 is 2008 R2; unknown majors are said as such."""
    major, minor = version[0], version[1]
    year = SQL_PRODUCTS.get(major)
    if year is None:
        return f"SQL Server (unknown major version {major})"
    return f"SQL Server {year}{' R2' if (major, minor) == (10, 50) else ''}"


def probe_tds(ctx: ProbeContext) -> ProbeGen:
    """Connect to the SQL port and exchange TDS PRELOGIN: proves SQL Server answers there, and which."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return sock
    connected = ctx.elapsed()
    try:
        sock.send(tds.build_prelogin())
        data, why = yield from read_until(ctx, sock, tds.reply_complete)
    except OSError as exc:
        outcome = _oserror_outcome(exc, ctx, "before the PRELOGIN reply")
        if exc.errno == errno.ECONNRESET:
            outcome = yield from _try_strict_tls(ctx, outcome)
        return outcome
    seconds = ctx.elapsed()
    if not data:
        if why == "deadline":
            return Outcome(Status.INVALID, f"TCP connection accepted in {connected * 1000:.1f} ms, but no "
                                           f"PRELOGIN reply within {ctx.budget()} (tarpit, or not SQL Server)")
        closed = Outcome(Status.INVALID, "connection closed without a PRELOGIN reply")
        return (yield from _try_strict_tls(ctx, closed))
    if tds.looks_like_tls(data):
        return Outcome(Status.OPEN, "SQL Server in TDS 8.0 strict mode answered with TLS (clients must "
                                    "use TLS first)", {"sql_strict": True}, seconds)
    try:
        reply = tds.parse_prelogin_response(data)
    except MalformedReply as exc:
        return Outcome(Status.INVALID, f"not a TDS PRELOGIN reply: {exc}", {"bytes": len(data)}, seconds)
    product = sql_product(reply.version)
    facts = {"sql_version": reply.version_string, "sql_product": product,
             "sql_encryption": reply.encryption_name}
    return Outcome(Status.OPEN, f"{product} {reply.version_string} answered PRELOGIN "
                                f"(encryption {reply.encryption_name})", facts, seconds)


def _tls_handshake(
    ctx: ProbeContext, sock: socket.socket, verify: bool, server_name: str | None
) -> Generator[Wait | Open, object, tuple[object, Outcome | None]]:
    """Run a TLS client handshake over a connected non-blocking socket.

    Returns ``(tls_socket, None)`` on success, ``(None, outcome)`` on failure. The TLS socket takes
    over the file descriptor: the caller must close it.
    """
    import ssl  # only when a TLS probe runs (~15 ms of start-up otherwise)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        context.load_default_certs()
    else:
        # DS ships self-signed certificates and old servers speak old TLS: reachability is the question.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        try:
            context.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:  # pragma: no cover - depends on the OpenSSL build
            pass
    tls = context.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=False)
    try:
        while True:
            try:
                tls.do_handshake()
                return tls, None
            except ssl.SSLWantReadError:
                events = READ
            except ssl.SSLWantWriteError:
                events = WRITE
            if not (yield from wait(tls, events)):
                tls.close()
                return None, Outcome(Status.INVALID, f"TCP connection accepted, but no TLS handshake reply "
                                                     f"within {ctx.budget()}")
    except ssl.SSLCertVerificationError as exc:
        tls.close()
        return None, Outcome(Status.INVALID, f"certificate verification failed: {exc.verify_message}")
    except ssl.SSLError as exc:
        tls.close()
        return None, Outcome(Status.INVALID, f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        tls.close()
        return None, _oserror_outcome(exc, ctx, "during the TLS handshake")


def _try_strict_tls(ctx: ProbeContext, plaintext_failure: Outcome) -> ProbeGen:
    """A server that drops a plaintext PRELOGIN may be SQL Server 2022 in strict (TLS-first) mode."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return plaintext_failure
    tls, failure = yield from _tls_handshake(ctx, sock, verify=False, server_name=None)
    if failure is not None:
        return plaintext_failure
    assert tls is not None
    tls.close()  # type: ignore[attr-defined]
    return Outcome(Status.OPEN, "a TLS server that closes plaintext PRELOGIN: SQL Server in TDS 8.0 strict "
                                "mode (clients must use TLS first)", {"sql_strict": True}, ctx.elapsed())


def _host_arg(host: str) -> str | bytes:
    """The host for getaddrinfo: ASCII names as bytes, because CPython runs every str host through the
    IDNA codec (importing encodings.idna, stringprep and unicodedata: ~2 ms of start-up)."""
    return host.encode("ascii") if host.isascii() else host


def _is_address(host: str) -> bool:
    try:
        socket.getaddrinfo(_host_arg(host), None, 0, 0, 0, socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return False
    return True


def probe_tls(ctx: ProbeContext) -> ProbeGen:
    """TCP connect then a TLS handshake (``web``): reports the certificate subject and days to expiry.
    The chain is not verified unless the site asks (DS ships self-signed certificates)."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return sock
    sni = None if _is_address(ctx.host) else ctx.host
    tls, failure = yield from _tls_handshake(ctx, sock, ctx.site.tls_verify, sni)
    if failure is not None:
        return failure
    seconds = ctx.elapsed()
    from .protocols import x509

    facts: dict[str, object] = {"tls_version": tls.version()}  # type: ignore[attr-defined]
    try:
        der = tls.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    finally:
        tls.close()  # type: ignore[attr-defined]
    if not der:
        return Outcome(Status.OPEN, f"TLS handshake completed ({facts['tls_version']}), no certificate",
                       facts, seconds)
    try:
        cert = x509.parse_certificate(der)
    except MalformedReply as exc:
        return Outcome(Status.OPEN, f"TLS handshake completed, but the certificate does not parse: {exc}",
                       facts, seconds)
    days = (cert.not_after_epoch - time.time()) / 86400
    not_after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cert.not_after_epoch))
    facts.update(tls_subject=cert.subject, tls_issuer=cert.issuer, tls_not_after=not_after,
                 tls_days_left=int(days // 1), tls_self_signed=cert.self_signed)
    expiry = f"expired {int(-days)} days ago" if days < 0 else f"expires in {int(days)} days"
    return Outcome(Status.OPEN, f"TLS handshake completed ({facts['tls_version']}); certificate "
                                f"{cert.subject}, {expiry}", facts, seconds)


def default_probe(spec: PortSpec) -> Probe:
    """The built-in probe for a port: what the ``digitalsentry_probe`` hook returns for built-in roles."""
    if spec.role == "sql-browser" and not spec.forbidden:
        return probe_browser
    if spec.role == "sql" and not spec.forbidden:
        return probe_tds
    if spec.role == "web" and not spec.forbidden:
        return probe_tls
    return probe_udp if spec.transport == "udp" else probe_tcp


# --- the scheduler --------------------------------------------------------------------------------


class _Task:
    __slots__ = ("ctx", "gen", "on_done", "sockets", "token", "waiting")

    def __init__(self, gen: ProbeGen, ctx: ProbeContext, on_done: Callable[[Outcome], None]) -> None:
        self.gen = gen
        self.ctx = ctx
        self.on_done = on_done
        self.sockets: list[socket.socket] = []
        self.token = 0  # bumped on every wake-up, so that stale timers are ignored
        self.waiting: socket.socket | None = None


def fd_budget() -> int:
    """How many sockets the engine may hold open at once: the soft RLIMIT_NOFILE (raised towards the
    hard limit where allowed) minus a reserve."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))
            soft = min(want, 65536)
        except (ValueError, OSError):
            pass
    limit = 65536 if soft == resource.RLIM_INFINITY else soft
    return max(limit - FD_RESERVE, 16)


class Scheduler:
    """Drives probe generators over one selector until every probe has an outcome."""

    def __init__(self, max_sockets: int | None = None) -> None:
        self.selector = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, int, _Task]] = []  # (when, seq, token, task)
        self.seq = 0
        self.max_sockets = fd_budget() if max_sockets is None else max_sockets
        self.open_sockets = 0
        self.socket_queue: deque[tuple[_Task, Open]] = deque()
        self.tasks = 0
        self.peak_sockets = 0
        self._resolver: _Resolver | None = None

    # -- tasks

    def spawn(self, probe: Probe, ctx: ProbeContext, on_done: Callable[[Outcome], None]) -> None:
        task = _Task(probe(ctx), ctx, on_done)
        self.tasks += 1
        self._step(task, None)

    def _finish(self, task: _Task, outcome: Outcome) -> None:
        for sock in task.sockets:
            self._release(sock)
        task.sockets.clear()
        task.token += 1
        self.tasks -= 1
        task.on_done(outcome)

    def _step(self, task: _Task, value: object) -> None:
        """Resume a probe with ``value`` and act on what it asks for next."""
        while True:
            try:
                request = task.gen.send(value)
            except StopIteration as stop:
                outcome = stop.value
                if not isinstance(outcome, Outcome):
                    outcome = Outcome(Status.UNKNOWN, f"probe returned {outcome!r}, not an Outcome",
                                      {"internal_error": True})
                self._finish(task, outcome)
                return
            except OSError as exc:  # what the network did is data
                self._finish(task, _oserror_outcome(exc, task.ctx, ""))
                return
            except Exception as exc:  # a probe bug must not sink the other probes
                self._finish(task, Outcome(Status.UNKNOWN, f"internal error in the probe: {exc!r}",
                                           {"internal_error": True}))
                return
            now = time.monotonic()
            if isinstance(request, Open):
                if self.open_sockets >= self.max_sockets:
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
            self.selector.register(request.sock, request.events, task)
            task.waiting = request.sock
            self._arm(task, wake)
            return

    def _arm(self, task: _Task, when: float) -> None:
        task.token += 1
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, task.token, task))

    def _new_socket(self, task: _Task, request: Open) -> socket.socket | OSError:
        try:
            sock = socket.socket(request.family, request.kind)
        except OSError as exc:
            return exc
        sock.setblocking(False)
        if not task.sockets:  # the probe's clock starts with its first socket, not while it queued
            task.ctx.started = time.monotonic()
        self.open_sockets += 1
        self.peak_sockets = max(self.peak_sockets, self.open_sockets)
        task.sockets.append(sock)
        return sock

    def _release(self, sock: socket.socket) -> None:
        if sock.fileno() >= 0:
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
        sock.close()
        self.open_sockets -= 1
        while self.socket_queue and self.open_sockets < self.max_sockets:
            task, request = self.socket_queue.popleft()
            task.token += 1  # cancels the deadline timer armed while queued
            self._step(task, self._new_socket(task, request))

    def _wake(self, task: _Task, value: bool) -> None:
        if task.waiting is not None:
            try:
                self.selector.unregister(task.waiting)
            except (KeyError, ValueError):
                pass
            task.waiting = None
        task.token += 1
        self._step(task, value)

    # -- DNS

    def resolve(self, host: str, family: int, deadline: float,
                on_done: Callable[[list[tuple[int, tuple[object, ...]]] | str], None]) -> None:
        """Resolve ``host`` (literal addresses at once, names in a thread) and call ``on_done`` with the
        addresses, or with a sentence saying why there are none."""
        try:
            infos = socket.getaddrinfo(_host_arg(host), None, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
        except (OSError, UnicodeError):
            pass
        else:
            on_done([(info[0], info[4]) for info in infos])
            return
        if self._resolver is None:
            self._resolver = _Resolver(self.selector)
        self._resolver.lookup(host, family, deadline, on_done)

    # -- the loop

    def run(self) -> None:
        while self.tasks or (self._resolver is not None and self._resolver.pending):
            now = time.monotonic()
            while self.timers and (self.timers[0][0] <= now or self.timers[0][2] != self.timers[0][3].token):
                _when, _, token, task = heapq.heappop(self.timers)
                if token != task.token:
                    continue
                if task in (t for t, _ in self.socket_queue):
                    self.socket_queue = deque(item for item in self.socket_queue if item[0] is not task)
                    task.gen.close()
                    self._finish(task, Outcome(Status.UNKNOWN, "not probed: no socket could be had before "
                                                               "the deadline (too many open sockets)"))
                    continue
                self._wake(task, False)
            resolver_due = self._resolver.due() if self._resolver is not None else None
            due = [t for t in (self.timers[0][0] if self.timers else None, resolver_due) if t is not None]
            if not self.tasks and not (self._resolver is not None and self._resolver.pending):
                break
            timeout = max(min(due) - time.monotonic(), 0.0) if due else None
            for key, _mask in self.selector.select(timeout):
                if key.data is _Resolver:
                    assert self._resolver is not None
                    self._resolver.drain()
                    continue
                task = key.data
                if isinstance(task, _Task) and task.waiting is key.fileobj:
                    self._wake(task, True)
            if self._resolver is not None:
                self._resolver.expire()

    def close(self) -> None:
        if self._resolver is not None:
            self._resolver.close()
        self.selector.close()


class _Resolver:
    """Name lookups in daemon threads, joined to the selector loop by a socketpair.

    A thread stuck in a hung resolver is abandoned at the deadline (daemon: it never holds up the
    process); its late answer is ignored.
    """

    def __init__(self, selector: selectors.BaseSelector) -> None:
        import threading  # only when a name (not an address) is probed

        self._threading = threading
        self.selector = selector
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        selector.register(self.reader, READ, _Resolver)
        self.lookups: dict[tuple[str, int], _Lookup] = {}
        self.pending: list[_Lookup] = []

    def lookup(self, host: str, family: int, deadline: float,
               on_done: Callable[[list[tuple[int, tuple[object, ...]]] | str], None]) -> None:
        key = (host, family)
        found = self.lookups.get(key)
        if found is None:
            found = self.lookups[key] = _Lookup(host, family)
            thread = self._threading.Thread(target=found.run, args=(self.writer,), daemon=True,
                                            name=f"dns {host}")
            thread.start()
        if found.answer is not None:
            on_done(found.answer)
            return
        found.waiters.append((deadline, on_done))
        if found not in self.pending:
            self.pending.append(found)

    def due(self) -> float | None:
        deadlines = [d for lookup in self.pending for d, _ in lookup.waiters]
        return min(deadlines) if deadlines else None

    def drain(self) -> None:
        try:
            while self.reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        for lookup in [p for p in self.pending if p.answer is not None]:
            self.pending.remove(lookup)
            waiters, lookup.waiters = lookup.waiters, []
            for _deadline, on_done in waiters:
                assert lookup.answer is not None
                on_done(lookup.answer)

    def expire(self) -> None:
        now = time.monotonic()
        for lookup in list(self.pending):
            late = [w for w in lookup.waiters if w[0] <= now]
            if not late:
                continue
            lookup.waiters = [w for w in lookup.waiters if w[0] > now]
            for deadline, on_done in late:
                on_done(f"DNS lookup of {lookup.host} did not finish before the deadline")
                del deadline
            if not lookup.waiters:
                self.pending.remove(lookup)

    def close(self) -> None:
        self.selector.unregister(self.reader)
        self.reader.close()
        self.writer.close()


class _Lookup:
    __slots__ = ("answer", "family", "host", "waiters")

    def __init__(self, host: str, family: int) -> None:
        self.host = host
        self.family = family
        self.answer: list[tuple[int, tuple[object, ...]]] | str | None = None
        self.waiters: list[tuple[float, Callable[[list[tuple[int, tuple[object, ...]]] | str], None]]] = []

    def run(self, writer: socket.socket) -> None:
        try:
            infos = socket.getaddrinfo(_host_arg(self.host), None, self.family, socket.SOCK_STREAM)
            answer: list[tuple[int, tuple[object, ...]]] | str = [(i[0], i[4]) for i in infos]
            if not answer:
                answer = f"{self.host} has no address"
        except socket.gaierror as exc:
            answer = f"{self.host} does not resolve: {exc.strerror}"
        except (OSError, UnicodeError) as exc:
            answer = f"{self.host} does not resolve: {exc}"
        self.answer = answer
        try:
            writer.send(b"!")
        except OSError:  # the run ended and closed the pair: nobody waits for this answer any more
            pass


# --- sites ----------------------------------------------------------------------------------------


class _HostRun:
    """The probes of one host of one site, and the DS orchestration between them."""

    def __init__(self, engine: _Run, site: Site, host: str, specs: list[PortSpec], deadline: float) -> None:
        self.engine = engine
        self.site = site
        self.host = host
        self.specs = specs
        self.deadline = deadline
        self.results: dict[int, list[PortResult]] = {}
        self.browser: Outcome | None = None
        self.address: str | None = None
        self.family = 0
        self.sockaddr: tuple[object, ...] = ()
        self.finished = time.monotonic()

    def start(self) -> None:
        self.engine.scheduler.resolve(self.host, self.engine.family, self.deadline, self._resolved)

    def _resolved(self, answer: list[tuple[int, tuple[object, ...]]] | str) -> None:
        if isinstance(answer, str):
            for index, spec in enumerate(self.specs):
                self.results[index] = [PortResult(spec, self.host, None, Status.UNRESOLVED, None, answer)]
            self._finish()
            return
        family, sockaddr = answer[0]
        self.family = family
        self.sockaddr = sockaddr
        self.address = str(sockaddr[0])
        for index, spec in enumerate(self.specs):
            if spec.role == "sql" and not spec.forbidden and spec.port is None:
                if not any(s.role == "sql-browser" for s in self.specs):
                    self._record(index, spec, Outcome(Status.UNKNOWN, "not probed: no SQL port is set and "
                                                                      "the SQL Server Browser is not probed"))
                continue  # waits for the Browser
            self._spawn(index, spec)

    def _spawn(self, index: int, spec: PortSpec, *, instance: str | None = None) -> None:
        assert spec.port is not None
        sockaddr = (self.sockaddr[0], spec.port, *self.sockaddr[2:])
        ctx = ProbeContext(self.site, self.host, spec, self.family, sockaddr, self.deadline)
        probe = self.engine.hooks.probe_for(spec, self.site)

        def done(outcome: Outcome) -> None:
            if instance is not None:
                outcome.facts.setdefault("instance", instance)
            self._record(index, spec, outcome)

        self.engine.scheduler.spawn(probe, ctx, done)

    def _record(self, index: int, spec: PortSpec, outcome: Outcome) -> None:
        if spec.role == "sql-browser" and not spec.forbidden:
            self.browser = outcome
            self._browser_done()
        result = PortResult(spec, self.host, self.address, outcome.status, outcome.seconds, outcome.detail,
                            outcome.facts)
        self.results.setdefault(index, []).append(result)
        if self.done():
            self._finish()

    def _sql_index(self) -> int | None:
        for index, spec in enumerate(self.specs):
            if spec.role == "sql" and not spec.forbidden:
                return index
        return None

    def _browser_done(self) -> None:
        index = self._sql_index()
        if index is None or self.specs[index].port is not None:
            return
        browser = self.browser
        assert browser is not None
        ports = browser.facts.get("sql_ports")
        sql = self.specs[index]
        if browser.status is not Status.OPEN or not isinstance(ports, list) or not ports:
            self.results[index] = [PortResult(
                sql, self.host, self.address, Status.UNKNOWN, None,
                f"not probed: the SQL Server Browser gave no port ({browser.status}); "
                f"a static port can be set with --sql-port / sql_port")]
            return
        for instance, port in ports:
            self._spawn(index, PortSpec("sql", port, "tcp", sql.severity), instance=str(instance))

    def done(self) -> bool:
        index = self._sql_index()
        expected = len(self.specs)
        if len(self.results) < expected:
            return False
        if index is not None and self.specs[index].port is None and self.browser is not None:
            ports = self.browser.facts.get("sql_ports")
            if self.browser.status is Status.OPEN and isinstance(ports, list):
                return len(self.results.get(index, [])) >= len(ports)
        return True

    def _finish(self) -> None:
        self._annotate_sql()
        ordered = [r for index in range(len(self.specs)) for r in self.results.get(index, [])]
        self.finished = time.monotonic()
        self.engine.host_done(self, ordered)

    def _annotate_sql(self) -> None:
        """Say what the Browser's port means for the SQL result: which port to forward, or a mismatch."""
        index = self._sql_index()
        if index is None or self.browser is None:
            return
        named = self.browser.facts.get("sql_ports")
        named_ports = [p for _, p in named] if isinstance(named, list) else []
        static = self.specs[index].port
        for result in self.results.get(index, []):
            if static is None and result.status in (Status.FILTERED, Status.CLOSED):
                port = result.spec.port
                verb = "does not answer" if result.status is Status.FILTERED else "refuses connections"
                result.detail = (f"the SQL Server Browser names {port} but it {verb} ({result.detail}) "
                                 f"— forward TCP {port}")
            elif static is not None and named_ports and static not in named_ports:
                which = ", ".join(str(p) for p in named_ports)
                result.detail += f"; note: the SQL Server Browser names {which}, not {static}"
                result.facts["sql_browser_ports"] = named_ports


class _Run:
    def __init__(self, hooks: Hooks, family: int, scheduler: Scheduler) -> None:
        self.hooks = hooks
        self.family = family
        self.scheduler = scheduler
        self.pending: dict[_HostRun, list[PortResult] | None] = {}

    def host_done(self, host: _HostRun, results: list[PortResult]) -> None:
        self.pending[host] = results
        for result in results:
            self.hooks.port_result(host.site, result)


def probe_sites(
    sites: Sequence[Site],
    *,
    timeout: float | None = None,
    family: int = 0,
    hooks: Hooks | None = None,
    max_sockets: int | None = None,
    roles: Sequence[catalogue.Role] | None = None,
) -> list[SiteReport]:
    """Probe every port of every host of every site, all at once, and return one report per site.

    Each site ends inside its own ``timeout`` (seconds); ``timeout`` here caps every site's (a check
    plugin's ``-t``). ``family`` is 0 (as the resolver orders addresses), AF_INET or AF_INET6.
    """
    if hooks is None:
        from .plugins import get_hooks

        hooks = get_hooks()
    if roles is None:
        roles = hooks.roles()
    started = time.monotonic()
    scheduler = Scheduler(max_sockets)
    run = _Run(hooks, family, scheduler)
    per_site: list[list[_HostRun]] = []
    try:
        for site in sites:
            budget = site.timeout if timeout is None else min(site.timeout, timeout)
            deadline = started + max(budget, 0.0)
            specs = hooks.port_specs(site, catalogue.expected_ports(site, roles))
            hosts = [_HostRun(run, site, host, specs, deadline) for host in site.hosts]
            per_site.append(hosts)
            for host in hosts:
                run.pending[host] = None
                host.start()
        scheduler.run()
    finally:
        scheduler.close()
    reports = []
    for site, hosts in zip(sites, per_site):
        results = [r for host in hosts for r in (run.pending[host] or [])]
        seconds = max((h.finished - started for h in hosts), default=0.0)
        reports.append(SiteReport(site, results, seconds))
    return reports
