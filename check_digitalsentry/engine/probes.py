"""Probes (engine layer): the probe API -- what a probe is, what it may ask the scheduler for, its
building blocks -- and the built-in probes, one generator per kind of port.

A probe is a generator function ``probe(ctx: ProbeContext)`` that yields ``Open`` (a new non-blocking
socket, granted within the file-descriptor budget) and ``Wait`` (readable/writable, with an optional
timeout) and returns an ``Outcome``. It never blocks, never sleeps and never closes its sockets: the
scheduler owns them and closes them all when the probe ends. The built-in probes below and the probes
of plugins (the ``digitalsentry_probe`` hook) are written with the helpers here: ``connect``,
``connect_udp``, ``read_until``, ``wait``, ``oserror_outcome``. What the remote does is data: every
OSError, reset, silence or garbage becomes an ``Outcome``.

- ``probe_tcp`` -- a TCP connect (video, diagnostics, the API ports, forbidden TCP ports);
- ``probe_udp`` -- a datagram and an ear for ICMP (audio, forbidden UDP ports);
- ``probe_browser`` -- the SQL Server Browser on UDP 1434 (``protocols.ssrp``): which instance is on which
  TCP port;
- ``probe_tds`` -- TDS PRELOGIN on the SQL port (``protocols.tds``): proves SQL Server answers there;
- ``probe_tls`` -- a TLS handshake on the web port: certificate subject and expiry (``protocols.x509``).

``default_probe`` picks one for a port: it is what the built-in plugin answers to the
``digitalsentry_probe`` hook, and ``BuiltinHooks`` is how the engine asks the hooks when no plugin is
installed. ``ssl`` is imported only when a TLS probe runs (~15 ms of start-up otherwise).
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time

from check_digitalsentry import catalogue
from check_digitalsentry.model import Status
from check_digitalsentry.protocols import MalformedReply, ssrp, tds

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Generator, Mapping, Sequence

    from check_digitalsentry.model import PortResult, PortSpec
    from check_digitalsentry.schema import Site

    ProbeGen = Generator["Wait | Open", object, "Outcome"]
    Probe = Callable[["ProbeContext"], ProbeGen]

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE

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

    __slots__ = ("detail", "facts", "seconds", "source", "status")

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
        self.source: str | None = None  #: filled in by the scheduler: the local address the probe used

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
    reason = UNREACHABLE.get(code) or os.strerror(code) if code else str(exc)
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


# --- built-in probes ------------------------------------------------------------------------------

#: How long a UDP probe without a protocol (audio, forbidden UDP ports) listens for an ICMP error.
#: Silence proves nothing either way, so it need not wait for the whole deadline.
UDP_LISTEN = 1.5
#: Interval between datagrams: UDP loss is normal, the SQL Server Browser is asked again each second.
BROWSER_RETRY = 1.0
UDP_RETRY = 0.5
#: Least time a TCP connect probe listens after the handshake for an at-once reset or close.
TCP_SETTLE = 0.02


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
                return Outcome(Status.INVALID, RESET_AT_ONCE)
            return oserror_outcome(exc, ctx, "after the TCP handshake")
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
        return oserror_outcome(exc, ctx, "")
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
                    return _browser_answer(ctx, listed, seconds)
                if len(requests) > 1:  # the all-instances reply came, and it lacks ours
                    return _browser_answer(ctx, listed, seconds)
            if time.monotonic() >= ctx.deadline:
                break
            if wanted is not None and len(requests) == 1:
                requests.append(ssrp.build_request(None))
    except OSError as exc:
        return oserror_outcome(exc, ctx, "")
    if listed:  # replies came, but not for our instance
        return _browser_answer(ctx, listed, None)
    asked = f"CLNT_UCAST_INST for {wanted}" if wanted else "CLNT_UCAST_EX"
    return Outcome(
        Status.OPEN_FILTERED,
        f"no reply from the SQL Server Browser to {rounds} request{'s' if rounds != 1 else ''} "
        f"({asked}) within {ctx.budget()}: UDP {ctx.spec.port} dropped, or the Browser is stopped",
    )


def _browser_answer(ctx: ProbeContext, listed: list[ssrp.Instance], seconds: float | None) -> Outcome:
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


def probe_tds(ctx: ProbeContext) -> ProbeGen:
    """Connect to the SQL port and exchange TDS PRELOGIN: proves SQL Server answers there, and which."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return sock
    connected = ctx.elapsed()
    try:
        sock.send(tds.build_prelogin())
        data, why = yield from read_until(sock, tds.reply_complete)
    except OSError as exc:
        outcome = oserror_outcome(exc, ctx, "before the PRELOGIN reply")
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
    product = tds.sql_product(reply.version)
    facts = {"sql_version": reply.version_string, "sql_product": product,
             "sql_encryption": reply.encryption_name}
    return Outcome(Status.OPEN, f"{product} {reply.version_string} answered PRELOGIN "
                                f"(encryption {reply.encryption_name})", facts, seconds)


def _tls_handshake(
    ctx: ProbeContext, sock: socket.socket, verify: bool, server_name: str | None
) -> Generator[Wait | Open, object, tuple[ssl.SSLObject | None, Outcome | None]]:
    """Run a TLS client handshake over a connected non-blocking socket, through memory buffers.

    Returns ``(tls, None)`` on success, ``(None, outcome)`` on failure. ``tls`` is an ``ssl.SSLObject``:
    the socket stays the scheduler's (nothing is detached, nothing can leak, whatever the peer does).
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
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        while True:
            try:
                tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            pending = outgoing.read()
            while pending:
                if not (yield from wait(sock, WRITE)):
                    break
                pending = pending[sock.send(pending):]
            if done:
                return tls, None
            if not (yield from wait(sock, READ)):
                return None, Outcome(Status.INVALID, f"TCP connection accepted, but no TLS handshake reply "
                                                     f"within {ctx.budget()}")
            data = sock.recv(65536)
            if not data:
                return None, Outcome(Status.INVALID, "the server closed the connection during the TLS handshake")
            incoming.write(data)
    except ssl.SSLCertVerificationError as exc:
        return None, Outcome(Status.INVALID, f"certificate verification failed: {exc.verify_message}")
    except ssl.SSLError as exc:
        return None, Outcome(Status.INVALID, f"TLS handshake failed: {exc.reason or exc}")
    except (BlockingIOError, InterruptedError):
        return None, Outcome(Status.INVALID, "the TLS handshake stalled")
    except OSError as exc:
        return None, oserror_outcome(exc, ctx, "during the TLS handshake")


def _try_strict_tls(ctx: ProbeContext, plaintext_failure: Outcome) -> ProbeGen:
    """A server that drops a plaintext PRELOGIN may be SQL Server 2022 in strict (TLS-first) mode."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return plaintext_failure
    _tls, failure = yield from _tls_handshake(ctx, sock, verify=False, server_name=None)
    if failure is not None:
        return plaintext_failure
    return Outcome(Status.OPEN, "a TLS server that closes plaintext PRELOGIN: SQL Server in TDS 8.0 strict "
                                "mode (clients must use TLS first)", {"sql_strict": True}, ctx.elapsed())


def probe_tls(ctx: ProbeContext) -> ProbeGen:
    """TCP connect then a TLS handshake (``web``): reports the certificate subject and days to expiry.
    The chain is not verified unless the site asks (DS ships self-signed certificates)."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return sock
    verify = ctx.site.tls_verify
    # Verified: the name or the address is checked against the certificate (an address is not sent as
    # SNI). Not verified: SNI for a name only.
    server_name = ctx.host if verify or not is_address(ctx.host) else None
    tls, failure = yield from _tls_handshake(ctx, sock, verify, server_name)
    if failure is not None:
        return failure
    assert tls is not None
    seconds = ctx.elapsed()
    from check_digitalsentry.protocols import x509

    facts: dict[str, object] = {"tls_version": tls.version()}
    der = tls.getpeercert(binary_form=True)
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


def default_probe(spec: PortSpec) -> Probe:
    """The built-in probe for a port: what the ``digitalsentry_probe`` hook returns for built-in roles."""
    if spec.role == "sql-browser" and not spec.forbidden:
        return probe_browser
    if spec.role == "sql" and not spec.forbidden:
        return probe_tds
    if spec.role == "web" and not spec.forbidden:
        return probe_tls
    return probe_udp if spec.transport == "udp" else probe_tcp


class BuiltinHooks:
    """The core's hooks as they answer with only the built-in plugin (no pluggy import): what the engine
    uses when a frontend hands it no hooks. ``builtin.PluggyHooks`` answers the same questions through a
    pluggy manager."""

    def roles(self) -> tuple[catalogue.Role, ...]:
        return catalogue.ROLES

    def port_specs(self, site: Site, specs: list[PortSpec]) -> list[PortSpec]:
        return specs

    def probe_for(self, spec: PortSpec, site: Site) -> Probe:
        return default_probe(spec)

    def port_result(self, site: Site, result: PortResult) -> None:
        return None
