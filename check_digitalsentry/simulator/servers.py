"""Simulated DS site: the servers (simulator layer) -- one small asyncio protocol per role.

Each role is an ``asyncio.Protocol`` (or ``DatagramProtocol``) without tasks: replies are sent from
callbacks, ``latency`` is a ``call_later`` before the first reply, and a connection that never completes
its request is closed after ``REQUEST_TIMEOUT``. TLS is done over ``ssl.MemoryBIO`` so that latency,
the TLS-first detection of the ``strict`` fault and the plain roles share one code path. The servers
speak the wire formats through the protocol codecs and talk to the runner only through
``Connections`` (every accepted connection is registered there, so the runner can abort them all).

Behaviour per role:

- ``sql-browser`` (UDP): CLNT_UCAST_EX / CLNT_BCAST_EX get every instance; CLNT_UCAST_INST the named
  instance (any case), silence when unknown; CLNT_UCAST_DAC ``build_dac_response`` with the instance's own
  DAC port; invalid requests: silence. Each instance's ``tcp`` is the simulator's real SQL port.
- ``sql`` (TCP), and each instance's DAC port: ``sql.SqlSession`` -- PRELOGIN, TLS inside TDS, LOGIN7
  answered with "Login failed", as SQL Server 2005+ does.
- ``video``, ``diagnostics``, ``api-*`` (TCP): accepted and held, input discarded, closed with the client
  (without a fault: by ``HeldServer``, no asyncio transport per connection; with one: by a protocol).
- ``web`` (TCP): TLS server; after the handshake any bytes get ``HTTP/1.1 200 OK`` and the close.
- ``audio`` (UDP): bound and silent.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from pathlib import Path
from typing import cast

from check_digitalsentry.protocols import MalformedReply, ssrp, tds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container
    from typing import Any

    from check_digitalsentry.simulator.site import SimSite

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CERT_FILE = DATA_DIR / "simulator-cert.pem"  #: the web role's self-signed certificate (a test key)
KEY_FILE = DATA_DIR / "simulator-key.pem"
CERT_CN = "ds-simulator.invalid"

#: Seconds a client may take to send its whole request (TDS packet; TLS handshake and request).
REQUEST_TIMEOUT = 30.0
#: Pending connections per listening socket.
BACKLOG = 128
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)

BROWSER_GARBAGE = b"\x05hello"  #: starts like SVR_RESP, but RESP_SIZE (0x6568) does not match
SQL_GARBAGE = b"HTTP/1.1 400 Bad Request\r\nServer: not-sql-server\r\nConnection: close\r\n\r\n"
HTTP_OK = (b"HTTP/1.1 200 OK\r\nServer: dsports-simulator\r\nContent-Type: text/plain\r\n"
           b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n")


class Connections:
    """The interface between the servers and the runner: the connections accepted and not yet lost, and
    whether the simulator is closing (then a new connection is aborted at once). ``arrivals``, when the
    runner keeps them (``Simulator(record=True)``), gets ``(time.monotonic(), address, port)`` for every
    connection accepted and every datagram the SQL Server Browser receives: what a test counts probes by.

    ``open`` holds the asyncio transports; ``held`` the plain connections a ``HeldServer`` holds without
    one (file descriptor -> the socket and its listening address), read on ``loop`` until the client
    closes."""

    def __init__(self, arrivals: list[tuple[float, str, int]] | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.open: set[asyncio.Transport] = set()
        self.held: dict[int, tuple[socket.socket, tuple[Any, ...]]] = {}
        self.closing = False
        self.arrivals = arrivals
        self.loop = loop

    def arrived(self, sockname: object) -> None:
        if self.arrivals is not None and isinstance(sockname, tuple):
            self.arrivals.append((time.monotonic(), str(sockname[0]), int(sockname[1])))

    def accepted(self, transport: asyncio.Transport) -> bool:
        """Register a new connection; False (and it is aborted) when the simulator is closing."""
        self.open.add(transport)
        self.arrived(transport.get_extra_info("sockname"))
        if self.closing:
            transport.abort()
            return False
        return True

    def lost(self, transport: asyncio.Transport) -> None:
        self.open.discard(transport)

    def hold(self, conn: socket.socket, where: tuple[Any, ...]) -> None:
        """A plain connection accepted on ``where``: read (and discard) until the client closes it."""
        self.arrived(where)
        if self.closing or self.loop is None:
            conn.close()
            return
        fd = conn.fileno()
        self.held[fd] = (conn, where)
        self.loop.add_reader(fd, self._read, fd)

    def _read(self, fd: int) -> None:
        conn = self.held[fd][0]
        try:
            if conn.recv(65536, _DONTWAIT):
                return  # input is discarded
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._drop(fd)  # the client closed (or reset): close ours too

    def _drop(self, fd: int) -> None:
        conn, _ = self.held.pop(fd)
        if self.loop is not None:
            self.loop.remove_reader(fd)
        conn.close()

    def abort_at(self, address: str, ports: Container[object]) -> None:
        """Cut every connection accepted on ``address`` at one of ``ports``."""
        for transport in list(self.open):
            sockname = transport.get_extra_info("sockname")
            if isinstance(sockname, tuple) and sockname[0] == address and sockname[1] in ports:
                transport.abort()
        for fd, (conn, where) in list(self.held.items()):
            if where[0] == address and where[1] in ports:
                del self.held[fd]
                if self.loop is not None:  # closed on the next turn of the loop, as a transport's abort()
                    self.loop.remove_reader(fd)
                    self.loop.call_soon(conn.close)
                else:
                    conn.close()

    def abort_all(self) -> None:
        for transport in list(self.open):
            transport.abort()
        for fd in list(self.held):
            self._drop(fd)


class HeldServer:
    """A plain TCP role without a fault (video, diagnostics, api-*): what ``_Conn`` does -- accepted,
    held, input discarded, closed with the client -- without an asyncio transport, protocol and task per
    connection (five of a site's eight ports; a fleet's simulator spent most of its Python there). Looks
    enough like an ``asyncio.Server`` for the runner: ``sockets`` and ``close()``."""

    def __init__(self, connections: Connections, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.connections = connections
        self.sockets = [sock]
        self.where: tuple[Any, ...] = sock.getsockname()
        self.loop = loop
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        sock = self.sockets[0]
        for _ in range(BACKLOG):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the client gave up before the accept
                continue
            except OSError:  # no descriptor or memory left: pause a second, as asyncio's servers do
                self.loop.remove_reader(sock.fileno())
                self.loop.call_later(1.0, self._resume)
                return
            self.connections.hold(conn, self.where)

    def _resume(self) -> None:
        if self.sockets[0].fileno() >= 0:
            self.loop.add_reader(self.sockets[0].fileno(), self._accept)

    def close(self) -> None:
        sock = self.sockets[0]
        if sock.fileno() >= 0:
            self.loop.remove_reader(sock.fileno())
            sock.close()


class SiteServers:
    """What the servers of one running site share: its replies, prepared once."""

    def __init__(self, connections: Connections, site: SimSite, loop: asyncio.AbstractEventLoop,
                 context: ssl.SSLContext | None, tds_context: ssl.SSLContext | None = None) -> None:
        self.connections = connections
        self.site = site
        self.loop = loop
        self.context = context  #: TLS first: the web role and the sql role's strict fault
        self.tds_context = tds_context  #: TLS inside TDS packets: the sql role
        self.latency = site.latency
        self.refresh()

    def refresh(self) -> None:
        """Prepare the replies again from the site (its faults changed while it runs)."""
        site = self.site
        self.browser_fault = site.faults.get("sql-browser")
        records = site.browser_instances()
        self.all_reply = ssrp.build_response(records)
        self.replies = {r.instance_name.lower(): ssrp.build_response([r]) for r in records}
        served = site.served_instances()
        self.dac_replies = {name.lower(): ssrp.build_dac_response(port)
                            for (name, _), port in zip(served, site.dac_ports)}
        self.names = [name for name, _ in served]
        #: PRELOGIN VERSION per instance: the product version with sub-build 0, as real servers send it
        self.versions = [(v[0], v[1], v[2], 0) for _, v in served]

    def browser_reply(self, datagram: bytes) -> bytes | None:
        """What the Browser answers to ``datagram`` (None: silence)."""
        fault = self.browser_fault
        if fault == "silent":
            return None
        if fault == "garbage":
            return BROWSER_GARBAGE
        try:
            request = ssrp.parse_request(datagram)
        except MalformedReply:
            return None  # as the real service: invalid requests are ignored
        if request.kind in (ssrp.CLNT_UCAST_EX, ssrp.CLNT_BCAST_EX):
            reply: bytes | None = self.all_reply
        else:
            name = (request.instance or "").lower()
            reply = self.replies.get(name)
            if reply is not None and request.kind == ssrp.CLNT_UCAST_DAC:
                reply = self.dac_replies.get(name)
        if reply is not None and fault == "truncated":
            reply = reply[: len(reply) // 2]
        return reply


class Browser(asyncio.DatagramProtocol):
    """sql-browser: answers SSRP requests (after ``latency``)."""

    def __init__(self, run: SiteServers) -> None:
        self.run = run
        self.transport: asyncio.DatagramTransport | None = None
        self.sockname: object = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (not an isinstance check: before Python 3.12 asyncio's UDP transport does not subclass it)
        self.transport = cast("asyncio.DatagramTransport", transport)
        self.sockname = transport.get_extra_info("sockname")

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.run.connections.arrived(self.sockname)
        reply = self.run.browser_reply(data)
        if reply is None:
            return
        if self.run.latency:
            self.run.loop.call_later(self.run.latency, self._send, reply, addr)
        else:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str | Any, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class _Tls:
    """A server-side TLS session over memory buffers: bytes in, (bytes out, plaintext) out."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.established = False

    def feed(self, data: bytes) -> tuple[bytes, bytes, bool]:
        """Take bytes from the peer: (bytes to send, application data, whether the peer closed TLS).
        ssl.SSLError when the peer breaks the protocol (``pending()`` may then hold an alert)."""
        self.incoming.write(data)
        plain: list[bytes] = []
        closed = False
        if not self.established:
            try:
                self.obj.do_handshake()
                self.established = True
            except ssl.SSLWantReadError:
                pass
        while self.established:
            try:
                chunk = self.obj.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            plain.append(chunk)
        return self.pending(), b"".join(plain), closed

    def wrap(self, data: bytes) -> bytes:
        self.obj.write(data)
        return self.pending()

    def pending(self) -> bytes:
        return self.outgoing.read()

    def shutdown(self) -> bytes:
        """Our close_notify (we do not wait for the peer's)."""
        try:
            self.obj.unwrap()
        except ssl.SSLError:
            pass
        return self.pending()


class _Conn(asyncio.Protocol):
    """One accepted TCP connection. The base class holds it and discards what it reads (video,
    diagnostics, api-*); subclasses answer. Input is held back for ``latency`` when it first comes;
    with ``tls_first``, the first bytes must start a TLS handshake and the rest goes through TLS."""

    tls_first = False
    request_timeout = False  #: close the connection if its request is not complete in REQUEST_TIMEOUT

    def __init__(self, run: SiteServers, fault: str | None, instance: int) -> None:
        self.run = run
        self.fault = fault
        self.instance = instance
        self.transport: asyncio.Transport | None = None
        self.tls: _Tls | None = None
        self.seen = False
        self.held: list[bytes] | None = None
        self.timers: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.run.connections.accepted(transport):
            return
        if self.request_timeout:
            self.timers.append(self.run.loop.call_later(REQUEST_TIMEOUT, self.close))
        self.opened()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.run.connections.lost(self.transport)
        for timer in self.timers:
            timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self.held is not None:
            self.held.append(data)
            return
        if not self.seen:
            self.seen = True
            if self.run.latency:
                self.held = [data]
                self.timers.append(self.run.loop.call_later(self.run.latency, self._release))
                return
        self._feed(data)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def _release(self) -> None:
        held, self.held = self.held or [], None
        for data in held:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        if self.tls is None:
            if not self.tls_first:
                self.received(data)
                return
            if not tds.looks_like_tls(data) or self.run.context is None:
                self.transport.close()  # not a ClientHello: close, answer nothing
                return
            self.tls = _Tls(self.run.context)
        try:
            out, plain, closed = self.tls.feed(data)
        except ssl.SSLError:
            self.transport.write(self.tls.pending())
            self.transport.close()
            return
        if out:
            self.transport.write(out)
        if plain:
            self.received(plain)
        if closed:
            self.close()

    def opened(self) -> None:
        """Called once the connection is accepted."""

    def received(self, data: bytes) -> None:
        """Application bytes from the client (decrypted under TLS)."""

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(data if self.tls is None else self.tls.wrap(data))

    def close(self) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        if self.tls is not None and self.tls.established:
            self.transport.write(self.tls.shutdown())
        self.transport.close()

    def answered(self) -> None:
        """The request is complete: stop the request timer."""
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


class _Tarpit(_Conn):
    """tarpit: accepted, never answered, never closed (not even when the client closes)."""

    def eof_received(self) -> bool | None:
        return True


class _Reset(_Conn):
    """reset: accepted, then closed with SO_LINGER 0, so the client gets an RST before any reply."""

    def opened(self) -> None:
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class _Web(_Conn):
    """web: a TLS server; any request after the handshake gets ``200 OK`` and the close."""

    tls_first = True
    request_timeout = True

    def received(self, data: bytes) -> None:
        self.answered()
        self.send(HTTP_OK)
        self.close()
