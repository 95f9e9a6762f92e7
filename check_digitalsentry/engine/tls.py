"""TLS probes (engine layer): the ``web`` role's handshake, and the TDS 8.0 "strict" SQL Server that
speaks TLS first (proved by a PRELOGIN answered inside TLS, not by the handshake alone). Imported only
where one runs: ``ssl`` costs ~15 ms of start-up.

The handshake runs over ``ssl.MemoryBIO`` buffers: the scheduler keeps owning the socket, and every
byte the server sends passes through here (what it asked for in the plaintext flight is read with
``protocols.tls``). The certificate is reported, not trusted, unless the site asks for verification
(DS ships self-signed certificates): subject, issuer, validity period and days left, as facts the
judgement reads (``tls_validity``: valid, expired, not yet valid).
"""

from __future__ import annotations

import socket
import ssl
import time

from check_digitalsentry.engine.api import (
    READ,
    WRITE,
    Outcome,
    connect,
    give_back,
    hold,
    is_address,
    oserror_outcome,
    settle_time,
    wait,
)
from check_digitalsentry.model import Facts, Status, local_limit
from check_digitalsentry.protocols import MalformedReply, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from check_digitalsentry.engine.api import Open, ProbeContext, ProbeGen, Slot, Wait


CLIENT_CERT = "the TLS server requires a client certificate"
#: TLS handshakes in flight at most (``api.Slot``): each holds 40-70 KB of OpenSSL's state (and the heap
#: they churn through fragments), so a fleet of thousands of web ports takes turns instead of holding
#: every handshake at once: 10,000 sites peaked at 270-300 MB instead of 350-500 MB. A turn ends with the
#: handshake, so places stay busy for a round trip or two, and 256 of them keep up with a 2-core machine
#: on loopback and with ~2,500 handshakes a second at a 100-ms round trip.
TLS_IN_FLIGHT = 256
TLS_POOL = "tls handshakes"
#: A server that has not answered our flight within this many seconds gives its place back: a slow or
#: stalled TLS server keeps its handshake (and its memory) but never holds up the others.
TLS_STALL = 0.5
_CONTEXTS: dict[tuple[bool, str | None], ssl.SSLContext] = {}  #: by (verifying, ALPN protocol)


def client_context(verify: bool, alpn: str | None = None) -> ssl.SSLContext:
    """The client context of every TLS probe of the process, verifying or not (made once: OpenSSL takes
    ~2 ms to make one, and a fleet has thousands of TLS ports)."""
    context = _CONTEXTS.get((verify, alpn))
    if context is None:
        context = _CONTEXTS[verify, alpn] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if alpn is not None:  # a TDS 8.0 strict probe offers tds/8.0, as TDS 8.0 clients do
            context.set_alpn_protocols([alpn])
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
    return context


def _tls_handshake(
    ctx: ProbeContext, sock: socket.socket, verify: bool, server_name: str | None, alpn: str | None = None,
) -> Generator[Wait | Open | Slot, object, tuple[ssl.SSLObject | None, ssl.MemoryBIO | None,
                                                 ssl.MemoryBIO | None, Outcome | None]]:
    """Run a TLS client handshake over a connected non-blocking socket, through memory buffers.

    Returns ``(tls, incoming, outgoing, None)`` on success, ``(None, None, None, outcome)`` on failure
    (``alpn``: the ALPN protocol to offer). ``tls`` is an
    ``ssl.SSLObject``: the socket stays the scheduler's (nothing is detached, nothing can leak,
    whatever the peer does). A server that asks for a client certificate fails the handshake (TLS 1.2:
    its CertificateRequest is in the plaintext flight, ``protocols.tls``) or refuses right after it
    (TLS 1.3: ``_settle``): both are reported alike, with the fact ``tls_client_certificate_required``.

    The handshake runs while it holds one of the ``TLS_IN_FLIGHT`` places of the run (taken after the
    TCP handshake: a host that does not answer holds none), until it ends -- or until the server has left
    a flight of ours unanswered for ``TLS_STALL`` seconds.
    """
    if not (yield from hold(TLS_POOL, TLS_IN_FLIGHT)):
        return None, None, None, Outcome(Status.UNKNOWN, f"not probed in full: the TCP handshake completed, but "
                                                         f"{TLS_IN_FLIGHT} TLS handshakes (this run's most at "
                                                         f"once) were in flight until the deadline",
                                         local_limit())
    holding = True
    context = client_context(verify, alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    received = bytearray()  # the server's bytes, for what the plaintext flight asked
    try:
        while True:
            try:
                tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            pending = outgoing.read()
            while pending:  # sent at once while the socket takes it (no wait for a writable socket)
                try:
                    pending = pending[sock.send(pending):]
                except (BlockingIOError, InterruptedError):
                    if not (yield from wait(sock, WRITE)):
                        break
            if done:
                if holding:
                    yield from give_back(TLS_POOL)
                return tls, incoming, outgoing, None
            ready = False
            if holding:  # the server has TLS_STALL to answer before its place goes to another
                ready = yield from wait(sock, READ, TLS_STALL)
                if not ready and time.monotonic() < ctx.deadline:
                    yield from give_back(TLS_POOL)
                    holding = False
            if not ready and not holding:
                ready = yield from wait(sock, READ)
            if not ready:
                return None, None, None, Outcome(Status.INVALID, f"TCP connection accepted, but no TLS handshake "
                                                           f"reply within {ctx.budget()}")
            data = sock.recv(65536)
            if not data:
                return None, None, None, Outcome(Status.INVALID, "the server closed the connection during the TLS "
                                                           "handshake")
            if len(received) < 65536:
                received += data
            incoming.write(data)
    except ssl.SSLCertVerificationError as exc:
        return None, None, None, Outcome(Status.INVALID, f"certificate verification failed: {exc.verify_message}")
    except ssl.SSLError as exc:
        from check_digitalsentry.protocols import tls as tls_records

        if tls_records.requests_client_certificate(bytes(received)):
            return None, None, None, Outcome(Status.INVALID, f"{CLIENT_CERT} (TLS handshake refused: "
                                                       f"{exc.reason or exc})",
                                       _client_certificate_required())
        return None, None, None, Outcome(Status.INVALID, f"TLS handshake failed: {exc.reason or exc}")
    except (BlockingIOError, InterruptedError):
        return None, None, None, Outcome(Status.INVALID, "the TLS handshake stalled")
    except OSError as exc:
        return None, None, None, oserror_outcome(exc, ctx, "during the TLS handshake")


def _settle(
    ctx: ProbeContext, sock: socket.socket, tls: ssl.SSLObject, incoming: ssl.MemoryBIO, seconds: float
) -> Generator[Wait | Open, object, Outcome | None]:
    """After a TLS 1.3 handshake, listen a moment (``api.settle_time``: twice the round trip, within a
    fixed budget) for the server's verdict on us: a server that wants a client certificate sends the
    alert ``certificate_required`` now. None when nothing but session tickets came."""
    until = time.monotonic() + min(settle_time(sock, seconds), max(ctx.remaining(), 0.0))
    try:
        while True:
            left = until - time.monotonic()
            if left <= 0 or not (yield from wait(sock, READ, left)):
                return None
            data = sock.recv(65536)
            if not data:
                return Outcome(Status.INVALID, "the server closed the connection right after the TLS handshake")
            incoming.write(data)
            try:
                tls.read(1)
            except ssl.SSLWantReadError:
                continue  # session tickets
            return None  # it spoke first: not a refusal
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc)
        if "CERTIFICATE_REQUIRED" in reason.upper():
            return Outcome(Status.INVALID, f"{CLIENT_CERT} (refused after the TLS 1.3 handshake: {reason})",
                           _client_certificate_required())
        return Outcome(Status.INVALID, f"the server refused the connection after the TLS handshake: {reason}")
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        return oserror_outcome(exc, ctx, "right after the TLS handshake")


def try_strict_tls(ctx: ProbeContext, plaintext_failure: Outcome, request: bytes,
                   complete: Callable[[bytes], bool], judged: Callable[[bytes, float], Outcome]) -> ProbeGen:
    """A server that drops a plaintext PRELOGIN (or answers it with TLS bytes) may be SQL Server 2022 in
    strict (TLS-first) mode: connect again, handshake, and send ``request`` (the PRELOGIN) inside TLS, as
    a TDS 8.0 client does. Only a reply that ``judged`` reads as SQL Server's makes it one: any other TLS
    server -- the port forwarded to an HTTPS server -- is not. ``plaintext_failure`` when no TLS
    handshake completes."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return plaintext_failure
    tls, incoming, outgoing, failure = yield from _tls_handshake(ctx, sock, False, None, "tds/8.0")
    if failure is not None:
        return plaintext_failure
    assert tls is not None and incoming is not None and outgoing is not None
    data, why = yield from _exchange(ctx, sock, tls, incoming, outgoing, request, complete)
    if not data:
        return Outcome(Status.INVALID, f"a TLS server ({tls.version()}) that closes a plaintext PRELOGIN, and "
                                       f"inside TLS {why}: not SQL Server in TDS 8.0 strict mode (an HTTPS "
                                       f"server?)", _not_strict(), ctx.elapsed())
    return judged(data, ctx.elapsed())


def _exchange(ctx: ProbeContext, sock: socket.socket, tls: ssl.SSLObject, incoming: ssl.MemoryBIO,
              outgoing: ssl.MemoryBIO, request: bytes, complete: Callable[[bytes], bool],
              limit: int = 1 << 16) -> Generator[Wait | Open, object, tuple[bytes, str]]:
    """Send ``request`` inside TLS and read the answer until ``complete``: (data, why it stopped, in
    words: "no answer within N s", "the connection closed", "a TLS error ...")."""
    data = b""
    try:
        tls.write(request)
        pending = outgoing.read()
        while pending:
            try:
                pending = pending[sock.send(pending):]
            except (BlockingIOError, InterruptedError):
                if not (yield from wait(sock, WRITE)):
                    return data, f"no answer within {ctx.budget()}"
        while not complete(data) and len(data) < limit:
            try:
                chunk = tls.read(limit - len(data))
            except ssl.SSLWantReadError:
                if not (yield from wait(sock, READ)):
                    return data, f"no answer within {ctx.budget()}"
                raw = sock.recv(65536)
                if not raw:
                    return data, "the connection closed without an answer"
                incoming.write(raw)
                continue
            if not chunk:
                return data, "the connection closed without an answer"
            data += chunk
        return data, "complete"
    except ssl.SSLError as exc:
        return data, f"a TLS error ({exc.reason or exc})"
    except (BlockingIOError, InterruptedError):
        return data, "the exchange stalled"
    except OSError as exc:
        return data, f"the connection failed ({exc.strerror or exc})"


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
    tls, incoming, _outgoing, failure = yield from _tls_handshake(ctx, sock, verify, server_name)
    if failure is not None:
        return failure
    assert tls is not None and incoming is not None
    seconds = ctx.elapsed()
    if tls.version() == "TLSv1.3":
        refused = yield from _settle(ctx, sock, tls, incoming, seconds)
        if refused is not None:
            return refused
    from check_digitalsentry.protocols import x509

    facts = Facts()
    facts.tls_version = tls.version()
    der = tls.getpeercert(binary_form=True)
    if not der:
        return Outcome(Status.OPEN, f"TLS handshake completed ({facts.tls_version}), no certificate",
                       facts, seconds)
    try:
        cert = x509.parse_certificate(der)
    except MalformedReply as exc:
        return Outcome(Status.OPEN, f"TLS handshake completed, but the certificate does not parse: {exc}",
                       facts, seconds)
    now = time.time()
    days = (cert.not_after_epoch - now) / 86400
    facts.tls_subject, facts.tls_issuer = cert.subject, cert.issuer
    facts.tls_not_before, facts.tls_not_after = _utc(cert.not_before_epoch), _utc(cert.not_after_epoch)
    facts.tls_days_left, facts.tls_self_signed = int(days // 1), cert.self_signed
    facts.tls_validity = "not yet valid" if now < cert.not_before_epoch else "expired" if days < 0 else "valid"
    if days < 0:
        expiry = f"expired {int(-days)} days ago"
    elif now < cert.not_before_epoch:
        expiry = f"not valid before {facts.tls_not_before}"
    else:
        expiry = f"expires in {int(days)} days"
    return Outcome(Status.OPEN, f"TLS handshake completed ({facts.tls_version}); certificate "
                                f"{shown(cert.subject)}, {expiry}", facts, seconds)


def _client_certificate_required() -> Facts:
    facts = Facts()
    facts.tls_client_certificate_required = True
    return facts


def _not_strict() -> Facts:
    facts = Facts()
    facts.sql_strict = False
    return facts


def _utc(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
