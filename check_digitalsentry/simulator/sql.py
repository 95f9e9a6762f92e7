"""Simulated DS site: the SQL Server (simulator layer) -- what the ``sql`` port and its DAC port answer.

One ``SqlSession`` per connection, as SQL Server 2005 and later behave to a client that is not let in:

1. **PRELOGIN**: one client PRELOGIN (bounded by ``REQUEST_TIMEOUT``; anything else closes the
   connection) gets a PRELOGIN reply: VERSION is the instance's version with sub-build 0 (the Browser's
   fourth field is not sent here), INSTOPT is ``tds.instopt_answer`` for the instance this port serves
   (under the ``other-instance`` fault another one, ``WRONG_INSTANCE``), MARS only when asked, and
   ENCRYPTION from ``negotiate``: the site's ``sql_encryption`` says what the server answers a client that
   sends ENCRYPT_OFF (the default ENCRYPT_OFF: a server with a certificate, which all of 2005+ have);
   the answer to other clients follows MS-TDS 2.2.6.5.
2. **TLS inside TDS** when encryption was agreed: the client's handshake comes in PRELOGIN (0x12)
   packets, the server's flights go back the same way (TLS 1.2 at most, the packaged test certificate),
   then TLS records travel bare. With ENCRYPT_OFF only the LOGIN7 is encrypted; with ON or REQ all.
3. **LOGIN7** (bounded again by ``REQUEST_TIMEOUT``) gets error 18456 "Login failed for user '<user>'."
   (class 14, state 1, from ``SERVER\\INSTANCE``) and DONE with DONE_ERROR, and the connection is closed.
   A client that sends no LOGIN7 when the server expects one (another packet type, a LOGIN7 that does
   not parse, a failed handshake) is disconnected without an answer.

Under the ``strict`` fault (TDS 8.0) the whole connection is TLS first (``servers._Conn``), PRELOGIN and
LOGIN7 inside it, and no second TLS is started. Under ``garbage`` the first bytes get an HTTP error.
"""

from __future__ import annotations

import ssl

from check_digitalsentry.protocols import MalformedReply, tds, tds_login
from check_digitalsentry.simulator import servers
from check_digitalsentry.simulator.site import WRONG_INSTANCE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.simulator.servers import SiteServers

#: What a server does after its PRELOGIN reply: no TLS, TLS for the login only, TLS for everything, or
#: close the connection (the client cannot encrypt and the server insists).
NONE, LOGIN, ALL, CLOSE = "none", "login", "all", "close"


def negotiate(setting: int, client: int | None) -> tuple[int, str]:
    """The ENCRYPTION a server answers, and what follows (``NONE``, ``LOGIN``, ``ALL``, ``CLOSE``).

    ``setting`` is what the server answers an ENCRYPT_OFF client: ENCRYPT_OFF (a certificate, encryption
    not forced), ENCRYPT_REQ (Force Encryption), ENCRYPT_NOT_SUP (no certificate: SQL Server 2000 and
    older) or ENCRYPT_ON (answers ON to every client that can encrypt). ``client`` is the client's
    ENCRYPTION (CLIENT_CERT bit ignored; None counts as OFF). Another ``setting`` is answered as it is.
    """
    wants = tds.ENCRYPT_OFF if client is None else client & ~tds.ENCRYPT_CLIENT_CERT
    can = wants != tds.ENCRYPT_NOT_SUP
    if setting == tds.ENCRYPT_OFF:
        if not can:
            return tds.ENCRYPT_NOT_SUP, NONE
        return (tds.ENCRYPT_OFF, LOGIN) if wants == tds.ENCRYPT_OFF else (tds.ENCRYPT_ON, ALL)
    if setting == tds.ENCRYPT_REQ:
        if not can:
            return tds.ENCRYPT_REQ, CLOSE
        return (tds.ENCRYPT_REQ, ALL) if wants == tds.ENCRYPT_OFF else (tds.ENCRYPT_ON, ALL)
    if setting == tds.ENCRYPT_ON:
        return tds.ENCRYPT_ON, ALL if can else CLOSE
    return setting, NONE


def tds_tls_context() -> ssl.SSLContext:
    """The server context for TLS inside TDS: the packaged test certificate, TLS 1.2 at most (SQL Server
    negotiates TLS 1.3 only in TDS 8.0 strict mode), no session tickets."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_TICKET
    context.load_cert_chain(servers.CERT_FILE, servers.KEY_FILE)
    return context


class SqlSession(servers._Conn):
    """One connection to the ``sql`` port (or its DAC port): PRELOGIN, TLS inside TDS, LOGIN7, the error."""

    request_timeout = True

    def __init__(self, run: SiteServers, fault: str | None, instance: int) -> None:
        super().__init__(run, fault, instance)
        self.tls_first = fault == "strict"
        self.state = "prelogin"  #: prelogin -> (handshake ->) login -> done
        self.buffer = b""  #: bytes of the message being read (TDS, after any TLS is taken off)
        self.inner: servers._Tls | None = None  #: TLS inside TDS, while it runs
        self.encrypt_all = False

    def received(self, data: bytes) -> None:
        if self.state == "done":
            return
        if self.fault == "garbage":
            self._finish(servers.SQL_GARBAGE)
            return
        if self.state == "login":
            self._login_bytes(data)
            return
        self.buffer += data
        if self.state == "prelogin":
            self._prelogin()
        else:
            self._handshake()

    def _prelogin(self) -> None:
        if not tds.request_complete(self.buffer):
            return
        self.answered()
        try:
            request = tds.parse_prelogin_request(self.buffer)
        except MalformedReply:
            self._finish(b"")  # not a PRELOGIN: a real server closes the connection
            return
        self.buffer = b""
        run = self.run
        served = WRONG_INSTANCE if self.fault == "other-instance" else run.names[self.instance]
        setting = run.site.sql_encryption
        encryption, then = negotiate(setting, request.encryption)
        if self.tls_first:
            then = NONE  # TDS 8.0: already inside TLS
        # A server answers only the options the client sent: MARS only when asked (37 or 43 bytes).
        mars = 0 if tds.MARS in request.options else None
        self.send(tds.build_prelogin_response(version=run.versions[self.instance], encryption=encryption,
                                              instopt=tds.instopt_answer(request.instopt, served), mars=mars))
        if then == CLOSE:
            self._finish(b"")
            return
        self.timers.append(run.loop.call_later(servers.REQUEST_TIMEOUT, self.close))  # the login's turn
        if then == NONE or run.tds_context is None:
            self.state = "login"
            return
        self.inner = servers._Tls(run.tds_context)
        self.encrypt_all = then == ALL
        self.state = "handshake"

    def _handshake(self) -> None:
        """Handshake flights inside PRELOGIN messages; the bytes after the last flight are TLS records."""
        assert self.inner is not None
        while not self.inner.established:
            message = self._next_message()
            if message is None:
                return
            kind, payload, self.buffer = message
            if kind != tds.PACKET_PRELOGIN:
                self._finish(b"")  # a client that skips the handshake it agreed to
                return
            try:
                out, _, _ = self.inner.feed(payload)
            except ssl.SSLError:
                self._finish(tds_login.wrap_tls(self.inner.pending()))
                return
            if out:
                self.send(tds_login.wrap_tls(out))
        self.state = "login"
        rest, self.buffer = self.buffer, b""
        if rest:
            self._login_bytes(rest)

    def _login_bytes(self, data: bytes) -> None:
        """LOGIN7 bytes: TLS records while the inner TLS runs (login only, or everything), else TDS."""
        if self.inner is not None:
            try:
                out, data, _ = self.inner.feed(data)
            except ssl.SSLError:
                self._finish(self.inner.pending())
                return
            if out:
                self.send(out)
        self.buffer += data
        message = self._next_message()
        if message is None:
            return
        kind, payload, _ = message
        try:
            if kind != tds_login.PACKET_LOGIN7:
                raise MalformedReply(f"packet type 0x{kind:02x} where a LOGIN7 belongs")
            login = tds_login.parse_login7(payload)
        except MalformedReply:
            self._finish(b"")
            return
        instance = WRONG_INSTANCE if self.fault == "other-instance" else self.run.names[self.instance]
        answer = tds_login.build_login_failed(login.username, server=f"{self.run.site.server_name}\\{instance}",
                                              tds_version=login.tds_version)
        if self.inner is not None and self.encrypt_all:
            self._finish(self.inner.wrap(answer))
        else:
            self._finish(answer)  # after an ENCRYPT_OFF login, plaintext again

    def _next_message(self) -> tuple[int, bytes, bytes] | None:
        """The first whole TDS message in the buffer; None while it is incomplete, or (the connection then
        closed) when the bytes cannot be TDS."""
        try:
            return tds_login.take_message(self.buffer)
        except MalformedReply:
            self._finish(b"")
            return None

    def _finish(self, last: bytes) -> None:
        """Send ``last`` (bytes already framed and, for the inner TLS, encrypted) and close."""
        self.state = "done"
        self.answered()
        assert self.transport is not None
        if last and not self.transport.is_closing():
            self.send(last)
        self.close()
