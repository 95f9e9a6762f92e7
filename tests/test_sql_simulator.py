"""The simulator's SQL Server, spoken to with a small client made of the codecs and ``ssl``: PRELOGIN and its
INSTOPT, the encryption negotiation, TLS inside TDS packets, LOGIN7 and "Login failed", the DAC port, faults.
(Real clients -- tsql, pytds, impacket, tshark -- are in test_sql_clients.py.)"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from check_digitalsentry import simulator
from check_digitalsentry.protocols import ssrp, tds, tds_login
from check_digitalsentry.protocols.tds_login import Login7, ServerMessage
from check_digitalsentry.simulator import SimSite, Simulator
from check_digitalsentry.simulator import servers as simulator_servers
from check_digitalsentry.simulator.sql import ALL, CLOSE, LOGIN, NONE, negotiate

OFF, ON, NOT_SUP, REQ = tds.ENCRYPT_OFF, tds.ENCRYPT_ON, tds.ENCRYPT_NOT_SUP, tds.ENCRYPT_REQ


class TdsClient:
    """A minimal TDS client on a blocking socket: PRELOGIN, TLS inside TDS (ssl over memory buffers), LOGIN7."""

    def __init__(self, address: str, port: int, *, tls_first: bool = False) -> None:
        self.raw = socket.create_connection((address, port), timeout=2.0)
        self.stream: socket.socket | ssl.SSLSocket = self.raw
        if tls_first:
            self.stream = plain_context().wrap_socket(self.raw)
        self.tls: ssl.SSLObject | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.pending = b""

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def recv(self) -> bytes:
        """Bytes from the server; b"" at EOF (TLS records decrypted while the whole connection is inside TLS)."""
        return self.stream.recv(65536)

    def read_message(self, *, decrypt: bool = False) -> tuple[int, bytes]:
        while True:
            message = tds_login.take_message(self.pending)
            if message is not None:
                kind, payload, self.pending = message
                return kind, payload
            chunk = self.recv()
            assert chunk, f"the server closed the connection ({len(self.pending)} bytes pending)"
            if decrypt:
                assert self.tls is not None
                self.incoming.write(chunk)
                chunk = b""
                while True:
                    try:
                        chunk += self.tls.read(65536)
                    except ssl.SSLWantReadError:
                        break
            self.pending += chunk

    def prelogin(self, **options: object) -> tds.Prelogin:
        self.stream.sendall(tds.build_prelogin(**options))  # type: ignore[arg-type]
        data = b""
        while not tds.reply_complete(data):
            chunk = self.recv()
            assert chunk, "no PRELOGIN reply"
            data += chunk
        return tds.parse_prelogin_response(data)

    def handshake(self, context: ssl.SSLContext | None = None) -> ssl.SSLObject:
        """The TLS handshake inside PRELOGIN (0x12) packets, both ways."""
        self.tls = (context or plain_context()).wrap_bio(self.incoming, self.outgoing)
        while True:
            try:
                self.tls.do_handshake()
                return self.tls
            except ssl.SSLWantReadError:
                self.stream.sendall(tds_login.wrap_tls(self.outgoing.read()))
                kind, payload = self.read_message()
                assert kind == tds.PACKET_PRELOGIN, f"handshake answered in packet type 0x{kind:02x}"
                self.incoming.write(payload)

    def login(self, user: str = "dsadmin", *, encrypt: str = NONE) -> list[ServerMessage]:
        """Send LOGIN7 (inside the TLS for LOGIN and ALL) and read the answer's messages (DONE must say
        DONE_ERROR), then check that the server closed the connection."""
        login = tds_login.build_packets(tds_login.PACKET_LOGIN7, tds_login.build_login7(
            Login7(username=user, password="wrong", hostname="test", app_name="pytest")))
        if encrypt == NONE:
            self.stream.sendall(login)
        else:
            assert self.tls is not None
            self.tls.write(login)
            self.stream.sendall(self.outgoing.read())
        kind, payload = self.read_message(decrypt=encrypt == ALL)
        assert kind == tds.PACKET_REPLY
        messages, done = tds_login.parse_tokens(payload)
        assert done == [tds_login.DONE_ERROR]
        assert self.recv() == b"", "the server must close the connection after a failed login"
        return messages


def plain_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def login_failed(user: str, instance: str = "DIGITALSENTRY") -> list[ServerMessage]:
    return [ServerMessage(18456, 1, 14, f"Login failed for user '{user}'.", f"SIM\\{instance}")]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator([SimSite(roles=["sql-browser", "sql"])]) as running:
        yield running


def client(sim: Simulator, port: int | None = None, **kwargs: bool) -> TdsClient:
    site = sim.sites[0]
    return TdsClient(site.address, port or site.ports["sql"], **kwargs)


# -- the encryption negotiation (MS-TDS 2.2.6.5) -----------------------------------------------------------


@pytest.mark.parametrize(("setting", "client_value", "answer", "then"), [
    (OFF, OFF, OFF, LOGIN),  # SQL Server 2005+ with its certificate: only the login is encrypted
    (OFF, ON, ON, ALL),
    (OFF, ON | tds.ENCRYPT_CLIENT_CERT, ON, ALL),
    (OFF, NOT_SUP, NOT_SUP, NONE),
    (OFF, None, OFF, LOGIN),
    (REQ, OFF, REQ, ALL),  # Force Encryption
    (REQ, ON, ON, ALL),
    (REQ, NOT_SUP, REQ, CLOSE),  # the client cannot encrypt: the server ends the connection
    (NOT_SUP, OFF, NOT_SUP, NONE),  # no certificate
    (NOT_SUP, ON, NOT_SUP, NONE),  # (the client gives up)
    (ON, OFF, ON, ALL),
    (ON, NOT_SUP, ON, CLOSE),
])
def test_negotiate(setting: int, client_value: int | None, answer: int, then: str) -> None:
    assert negotiate(setting, client_value) == (answer, then)


# -- a default site: SQL Server 2005+ ---------------------------------------------------------------------


def test_an_encrypt_off_client_gets_tls_inside_tds_for_its_login_then_login_failed_in_plaintext(
        sim: Simulator) -> None:
    c = client(sim)
    try:
        reply = c.prelogin()
        assert (reply.encryption, reply.version, reply.instopt) == (OFF, (15, 0, 2000, 0), tds.INSTOPT_MATCH)
        tls = c.handshake()
        assert tls.version() == "TLSv1.2"  # SQL Server speaks TLS 1.3 only in TDS 8.0 strict mode
        assert tls.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(simulator.CERT_FILE.read_text())
        assert c.login("dsadmin", encrypt=LOGIN) == login_failed("dsadmin")
    finally:
        c.close()


def test_an_encrypt_on_client_gets_everything_inside_tls(sim: Simulator) -> None:
    c = client(sim)
    try:
        assert c.prelogin(encryption=ON).encryption == ON
        c.handshake()
        assert c.login("sa", encrypt=ALL) == login_failed("sa")
    finally:
        c.close()


def test_an_encrypt_not_sup_client_logs_in_plaintext(sim: Simulator) -> None:
    c = client(sim)
    try:
        assert c.prelogin(encryption=NOT_SUP).encryption == NOT_SUP
        assert c.login("dsadmin") == login_failed("dsadmin")
    finally:
        c.close()


def test_a_client_may_ask_for_tls_1_3_and_still_gets_1_2(sim: Simulator) -> None:
    context = plain_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    c = client(sim)
    try:
        c.prelogin()
        with pytest.raises(ssl.SSLError):
            c.handshake(context)
    finally:
        c.close()


@pytest.mark.parametrize(("setting", "client_value", "answer"), [(NOT_SUP, OFF, NOT_SUP), (REQ, OFF, REQ)])
def test_the_other_encryption_settings(setting: int, client_value: int, answer: int) -> None:
    with Simulator([SimSite(roles=["sql"], sql_encryption=setting)]) as sim:
        c = client(sim)
        try:
            assert c.prelogin(encryption=client_value).encryption == answer
            if answer == NOT_SUP:
                assert c.login("u") == login_failed("u")
            else:
                c.handshake()
                assert c.login("u", encrypt=ALL) == login_failed("u")
        finally:
            c.close()


def test_force_encryption_ends_a_client_that_cannot_encrypt() -> None:
    with Simulator([SimSite(roles=["sql"], sql_encryption=REQ)]) as sim:
        c = client(sim)
        try:
            assert c.prelogin(encryption=NOT_SUP).encryption == REQ
            assert c.recv() == b""
        finally:
            c.close()


def test_a_client_that_skips_the_handshake_it_agreed_to_is_disconnected(sim: Simulator) -> None:
    c = client(sim)
    try:
        c.prelogin()  # ENCRYPT_OFF -> OFF: the login must come through TLS
        c.stream.sendall(tds_login.build_packets(tds_login.PACKET_LOGIN7, tds_login.build_login7(Login7())))
        assert c.recv() == b""
    finally:
        c.close()


@pytest.mark.parametrize("after", [
    tds_login.build_packets(0x01, "select 1".encode("utf-16-le")),  # a SQL batch before logging in
    tds_login.build_packets(tds_login.PACKET_LOGIN7, b"\x00" * 20),  # a LOGIN7 that does not parse
    b"\x10\x01\x00\x02\x00\x00\x01\x00",  # a Length below the header
])
def test_anything_but_a_login7_after_prelogin_is_disconnected(sim: Simulator, after: bytes) -> None:
    c = client(sim)
    try:
        c.prelogin(encryption=NOT_SUP)
        c.stream.sendall(after)
        assert c.recv() == b""
    finally:
        c.close()


def test_a_client_that_never_logs_in_is_disconnected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator_servers, "REQUEST_TIMEOUT", 0.2)
    with Simulator([SimSite(roles=["sql"])]) as sim:
        c = client(sim)
        try:
            c.prelogin()
            assert c.recv() == b""  # within the timeout of 2 s
        finally:
            c.close()


# -- INSTOPT and the other-instance fault ------------------------------------------------------------------


@pytest.mark.parametrize(("instance", "instopt"), [
    ("DIGITALSENTRY", tds.INSTOPT_MATCH), ("digitalsentry", tds.INSTOPT_MATCH), ("", tds.INSTOPT_MATCH),
    ("MSSQLServer", tds.INSTOPT_MISMATCH), ("SQLEXPRESS", tds.INSTOPT_MISMATCH),
])
def test_instopt_says_whether_the_client_named_this_instance(sim: Simulator, instance: str, instopt: int) -> None:
    c = client(sim)
    try:
        assert c.prelogin(instance=instance).instopt == instopt
    finally:
        c.close()


def test_other_instance_answers_as_another_instance() -> None:
    with Simulator([SimSite(roles=["sql-browser", "sql"], faults={"sql": "other-instance"})]) as sim:
        site = sim.sites[0]
        reply = ssrp.parse_response(ask_browser(site, ssrp.build_request("DIGITALSENTRY")))
        assert [i.instance_name for i in reply] == ["DIGITALSENTRY"]  # the Browser is right; the port is not
        for name, instopt in (("DIGITALSENTRY", tds.INSTOPT_MISMATCH), (simulator.WRONG_INSTANCE, tds.INSTOPT_MATCH)):
            c = client(sim)
            try:
                assert c.prelogin(instance=name, encryption=NOT_SUP).instopt == instopt
                assert c.login("sa") == login_failed("sa", simulator.WRONG_INSTANCE)
            finally:
                c.close()


def test_a_default_instance_confirms_mssqlserver() -> None:
    with Simulator([SimSite(roles=["sql"], instances=["MSSQLSERVER"])]) as sim:
        c = client(sim)
        try:
            assert c.prelogin(instance="MSSQLServer").instopt == tds.INSTOPT_MATCH
        finally:
            c.close()


# -- the DAC port ------------------------------------------------------------------------------------------


def ask_browser(site: SimSite, request: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(request, (site.address, site.ports["sql-browser"]))
        return sock.recv(ssrp.RECV_BUFFER)


def test_the_dac_port_is_a_listener_of_its_own_that_refuses_logins_too(sim: Simulator) -> None:
    site = sim.sites[0]
    dac = ssrp.parse_dac_response(ask_browser(site, ssrp.build_dac_request("DIGITALSENTRY")))
    assert dac == site.dac_ports[0] != site.sql_port
    c = client(sim, dac)
    try:
        assert c.prelogin(instance="DIGITALSENTRY", encryption=NOT_SUP).instopt == tds.INSTOPT_MATCH
        assert c.login("sa") == login_failed("sa")
    finally:
        c.close()


def test_sql_off_takes_the_dac_port_down_too() -> None:
    with Simulator([SimSite(roles=["sql-browser", "sql"], faults={"sql": "off"})]) as sim:
        site = sim.sites[0]
        for port in (site.sql_port, site.dac_ports[0]):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((site.address, port or 0), timeout=1.0).close()


# -- TDS 8.0 strict ------------------------------------------------------------------------------------------


def test_strict_puts_prelogin_and_login7_inside_the_first_tls() -> None:
    with Simulator([SimSite(roles=["sql"], faults={"sql": "strict"})]) as sim:
        c = client(sim, tls_first=True)
        try:
            assert c.prelogin().version == (15, 0, 2000, 0)
            assert c.login("sa") == login_failed("sa")  # no second TLS inside
        finally:
            c.close()


# -- the command line ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "setting"), [("off", OFF), ("req", REQ), ("not-sup", NOT_SUP), ("on", ON)])
def test_cli_sql_encryption_sets_the_sites_setting(monkeypatch: pytest.MonkeyPatch, word: str, setting: int) -> None:
    from check_digitalsentry.simulator import cli

    made: list[SimSite] = []

    def record(**kwargs: object) -> SimSite:
        made.append(SimSite(**kwargs))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(cli, "SimSite", record)
    assert cli.main(["--no-web", "--no-api", "--audio-clients", "0", "--sql-encryption", word, "--duration", "0"]) == 0
    assert [s.sql_encryption for s in made] == [setting]
    with pytest.raises(SystemExit):
        cli.main(["--sql-encryption", "maybe"])
