"""The simulated DS site, spoken to with plain sockets and the protocol codecs (never the engine)."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from check_digitalsentry import simulator
from check_digitalsentry.inventory import parse_inventory
from check_digitalsentry.protocols import MalformedReply, ssrp, tds, x509
from check_digitalsentry.simulator import FAULTS, HIGH_PORTS, SimSite, Simulator, fleet_addresses
from check_digitalsentry.simulator import cli as simulator_cli
from check_digitalsentry.simulator import servers as simulator_servers

SILENCE = 0.3  # how long a test listens to conclude "no answer"


# --- helpers --------------------------------------------------------------------------------------


def ask_browser(site: SimSite, request: bytes, timeout: float = 1.0) -> bytes | None:
    """One datagram to the site's Browser; its reply, or None after ``timeout`` of silence."""
    family = socket.AF_INET6 if ":" in site.address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((site.address, site.ports["sql-browser"]))
        sock.send(request)
        try:
            return sock.recv(ssrp.RECV_BUFFER)
        except socket.timeout:
            return None


def prelogin(site: SimSite, port: int | None = None) -> bytes:
    """Send a client PRELOGIN to the site's SQL port; everything read until a whole reply or EOF."""
    with socket.create_connection((site.address, port or site.ports["sql"]), timeout=1.0) as sock:
        sock.sendall(tds.build_prelogin())
        return read_reply(sock)


def read_reply(sock: socket.socket | ssl.SSLSocket) -> bytes:
    data = b""
    while not tds.reply_complete(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def client_tls(verify: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        context.load_verify_locations(simulator.CERT_FILE)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """One default site (every role, ephemeral ports on 127.0.0.1), running."""
    with Simulator([SimSite()]) as running:
        yield running


def run_site(**kwargs: object) -> Simulator:
    return Simulator([SimSite(**kwargs)])  # type: ignore[arg-type]


# --- a healthy site -------------------------------------------------------------------------------


def test_start_fills_in_every_port(sim: Simulator) -> None:
    site = sim.sites[0]
    assert list(site.ports) == list(simulator.DEFAULT_ROLES)
    assert all(0 < port < 65536 for port in site.ports.values())
    assert site.sql_port == site.ports["sql"] and site.sql_ports == [site.sql_port]
    assert sim.running and sim.start_seconds is not None


def test_browser_lists_every_instance_with_the_real_sql_port(sim: Simulator) -> None:
    site = sim.sites[0]
    for request in (ssrp.build_request(None), bytes((ssrp.CLNT_BCAST_EX,))):
        reply = ask_browser(site, request)
        assert reply is not None
        [instance] = ssrp.parse_response(reply)
        assert (instance.instance_name, instance.tcp_port, instance.version) == (
            "DIGITALSENTRY", site.sql_port, "15.0.2000.5")
        assert instance.server_name == "SIM" and instance.pipe_name is not None


def test_browser_answers_the_named_instance_in_any_case(sim: Simulator) -> None:
    site = sim.sites[0]
    reply = ask_browser(site, ssrp.build_request("digitalSentry"))
    assert reply is not None
    [instance] = ssrp.parse_response(reply)
    assert instance.instance_name == "DIGITALSENTRY" and instance.tcp_port == site.sql_port


def test_browser_is_silent_for_an_unknown_instance(sim: Simulator) -> None:
    assert ask_browser(sim.sites[0], ssrp.build_request("NOSUCH"), timeout=SILENCE) is None


INVALID_REQUESTS = [b"", b"\x03extra", b"\x04", b"\x04\x00", b"\x0f\x02DIGITALSENTRY\x00", b"\x99", b"\x05"]


def test_browser_ignores_invalid_requests(sim: Simulator) -> None:
    site = sim.sites[0]
    for request in INVALID_REQUESTS:
        with pytest.raises(MalformedReply):
            ssrp.parse_request(request)  # the codec agrees they are invalid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.connect((site.address, site.ports["sql-browser"]))
        for request in [*INVALID_REQUESTS, ssrp.build_request(None)]:
            sock.send(request)
        # Datagrams keep their order on loopback: the first reply is the one to the valid request.
        assert sock.recv(ssrp.RECV_BUFFER) == ssrp.build_response(site.browser_instances())
        sock.settimeout(0.05)
        with pytest.raises(socket.timeout):
            sock.recv(ssrp.RECV_BUFFER)


def test_browser_answers_dac_with_a_dac_port_of_its_own(sim: Simulator) -> None:
    site = sim.sites[0]
    reply = ask_browser(site, ssrp.build_dac_request("DIGITALSENTRY"))
    assert reply is not None
    dac = ssrp.parse_dac_response(reply)
    assert dac == site.dac_ports[0] and dac not in (site.sql_port, *site.ports.values())
    # a listener of its own, answering as the instance does
    assert tds.parse_prelogin_response(prelogin(site, dac)).version == (15, 0, 2000, 0)


def test_sql_answers_prelogin_with_the_configured_version_and_encryption() -> None:
    with run_site(instances=[("DS", "16.0.1000.6")], sql_encryption=tds.ENCRYPT_REQ) as sim:
        reply = tds.parse_prelogin_response(prelogin(sim.sites[0]))
    assert reply.version == (16, 0, 1000, 0)  # PRELOGIN's sub-build is 0 on real servers, whatever SSRP says
    assert reply.encryption == tds.ENCRYPT_REQ
    assert reply.mars == 0  # the client sent MARS: it is answered


def test_sql_holds_the_connection_after_prelogin(sim: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.sites[0].sql_port or 0), timeout=SILENCE) as sock:
        sock.sendall(tds.build_prelogin())
        assert tds.parse_prelogin_response(read_reply(sock)).version == (15, 0, 2000, 0)
        with pytest.raises(socket.timeout):
            sock.recv(1)  # neither more bytes nor EOF: the server waits for the login


def test_sql_closes_what_is_not_a_prelogin(sim: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.sites[0].sql_port or 0), timeout=1.0) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert sock.recv(4096) == b""


def test_sql_closes_a_client_that_never_completes_its_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator_servers, "REQUEST_TIMEOUT", 0.1)
    with run_site(roles=["sql"]) as sim, socket.create_connection(
            ("127.0.0.1", sim.sites[0].ports["sql"]), timeout=1.0) as sock:
        sock.sendall(tds.build_prelogin()[:5])  # half a header, then nothing
        assert sock.recv(4096) == b""


def test_web_does_tls_with_the_packaged_certificate(sim: Simulator) -> None:
    port = sim.sites[0].ports["web"]
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw, \
            client_tls().wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
        tls.sendall(b"GET / HTTP/1.1\r\nHost: ds\r\n\r\n")
        answer = tls.recv(4096)
    assert der is not None
    cert = x509.parse_certificate(der)
    assert cert.subject == f"CN={simulator.CERT_CN}" and cert.self_signed
    assert cert.not_after.year >= 2120
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")


def test_web_certificate_verifies_when_trusted(sim: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.sites[0].ports["web"]), timeout=1.0) as raw, \
            client_tls(verify=True).wrap_socket(raw, server_hostname=simulator.CERT_CN) as tls:
        assert tls.version() is not None


@pytest.mark.parametrize("role", ["video", "diagnostics", "api-system", "api-playback", "api-camera"])
def test_plain_tcp_roles_accept_and_hold(sim: Simulator, role: str) -> None:
    with socket.create_connection(("127.0.0.1", sim.sites[0].ports[role]), timeout=0.05) as sock:
        sock.sendall(b"anything")
        with pytest.raises(socket.timeout):
            sock.recv(1)


def test_audio_ports_are_consecutive_bound_and_silent(sim: Simulator) -> None:
    base = sim.sites[0].ports["audio"]
    for port in (base, base + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.1)
            sock.connect(("127.0.0.1", port))
            sock.send(b"\x00")
            with pytest.raises(socket.timeout):  # silence, not ConnectionRefusedError: it is bound
                sock.recv(16)


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    sim = run_site(address="::1", roles=["sql-browser", "sql"])
    try:
        sim.start()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    try:
        reply = ask_browser(sim.sites[0], ssrp.build_request(None))
        assert reply is not None and ssrp.parse_response(reply)[0].tcp_port == sim.sites[0].sql_port
        assert sim.command_line().startswith("check_digitalsentry -H ::1 ")
    finally:
        sim.close()


# --- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [r for r, faults in FAULTS.items() if "tarpit" in faults])
def test_off_tcp_port_refuses(role: str) -> None:
    with run_site(faults={role: "off"}) as sim:
        port = sim.sites[0].ports[role]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()


@pytest.mark.parametrize("role", ["sql-browser", "audio"])
def test_off_udp_port_draws_port_unreachable(role: str) -> None:
    with run_site(faults={role: "off"}) as sim, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.connect(("127.0.0.1", sim.sites[0].ports[role]))
        sock.send(ssrp.build_request(None))
        with pytest.raises(ConnectionRefusedError):
            sock.recv(16)


@pytest.mark.parametrize("role", ["sql", "web", "video"])
def test_tarpit_accepts_and_never_answers(role: str) -> None:
    with run_site(faults={role: "tarpit"}) as sim, \
            socket.create_connection(("127.0.0.1", sim.sites[0].ports[role]), timeout=SILENCE) as sock:
        sock.sendall(tds.build_prelogin() if role == "sql" else b"\x16\x03\x01hello")
        with pytest.raises(socket.timeout):
            sock.recv(1)


@pytest.mark.parametrize("role", ["sql", "web", "api-camera"])
def test_reset_resets_before_any_reply(role: str) -> None:
    with run_site(faults={role: "reset"}) as sim:
        try:  # the RST can even beat the end of connect() (SO_ERROR is read after the handshake)
            with socket.create_connection(("127.0.0.1", sim.sites[0].ports[role]), timeout=1.0) as sock:
                sock.sendall(tds.build_prelogin())
                data = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return
    assert data == b""


def test_browser_silent() -> None:
    with run_site(faults={"sql-browser": "silent"}) as sim:
        assert ask_browser(sim.sites[0], ssrp.build_request(None), timeout=SILENCE) is None


def test_browser_garbage_is_not_an_svr_resp() -> None:
    with run_site(faults={"sql-browser": "garbage"}) as sim:
        reply = ask_browser(sim.sites[0], ssrp.build_request("DIGITALSENTRY"))
    assert reply == simulator.BROWSER_GARBAGE
    with pytest.raises(MalformedReply, match="RESP_SIZE"):
        ssrp.parse_response(reply)


def test_browser_truncated_reply_is_a_cut_valid_one() -> None:
    with run_site(faults={"sql-browser": "truncated"}) as sim:
        site = sim.sites[0]
        reply = ask_browser(site, ssrp.build_request(None))
        whole = ssrp.build_response(site.browser_instances())
    assert reply is not None and 3 < len(reply) < len(whole) and whole.startswith(reply)
    with pytest.raises(MalformedReply):
        ssrp.parse_response(reply)


def test_browser_wrong_instance() -> None:
    with run_site(faults={"sql-browser": "wrong-instance"}) as sim:
        site = sim.sites[0]
        assert ask_browser(site, ssrp.build_request("DIGITALSENTRY"), timeout=SILENCE) is None
        reply = ask_browser(site, ssrp.build_request(None))
        assert reply is not None
        assert [i.instance_name for i in ssrp.parse_response(reply)] == [simulator.WRONG_INSTANCE]
        assert "--sql-instance DIGITALSENTRY" in sim.command_line()


def test_browser_several_instances_each_with_a_listener() -> None:
    with run_site(faults={"sql-browser": "several"}) as sim:
        site = sim.sites[0]
        reply = ask_browser(site, ssrp.build_request(None))
        assert reply is not None
        instances = ssrp.parse_response(reply)
        assert [i.instance_name for i in instances] == ["DIGITALSENTRY", simulator.SECOND_INSTANCE]
        ports = [i.tcp_port for i in instances]
        assert ports == site.sql_ports and ports[0] == site.sql_port and ports[0] != ports[1]
        dacs = [ssrp.parse_dac_response(ask_browser(site, ssrp.build_dac_request(i.instance_name)) or b"")
                for i in instances]
        assert dacs == site.dac_ports and len(set(dacs + ports)) == 4
        for port in ports:
            assert tds.parse_prelogin_response(prelogin(site, port)).version == (15, 0, 2000, 0)


def test_browser_no_tcp_lists_named_pipes_only() -> None:
    with run_site(faults={"sql-browser": "no-tcp"}) as sim:
        reply = ask_browser(sim.sites[0], ssrp.build_request("DIGITALSENTRY"))
    assert reply is not None
    [instance] = ssrp.parse_response(reply)
    assert instance.raw_tcp is None and instance.pipe_name is not None


def test_sql_garbage_is_not_tds() -> None:
    with run_site(faults={"sql": "garbage"}) as sim:
        data = prelogin(sim.sites[0])
    assert data == simulator.SQL_GARBAGE
    with pytest.raises(MalformedReply):
        tds.parse_prelogin_response(data)


def test_sql_strict_closes_plaintext_and_speaks_tls_first() -> None:
    with run_site(faults={"sql": "strict"}) as sim:
        site = sim.sites[0]
        assert prelogin(site) == b""  # plaintext PRELOGIN: closed, no bytes
        with socket.create_connection(("127.0.0.1", site.ports["sql"]), timeout=1.0) as raw, \
                client_tls().wrap_socket(raw) as tls:
            tls.sendall(tds.build_prelogin())
            assert tds.parse_prelogin_response(read_reply(tls)).version == (15, 0, 2000, 0)


def test_latency_delays_the_browser_and_prelogin_replies() -> None:
    with run_site(latency=0.25, roles=["sql-browser", "sql"]) as sim:
        site = sim.sites[0]
        started = time.monotonic()
        assert ask_browser(site, ssrp.build_request(None)) is not None
        browser = time.monotonic() - started
        started = time.monotonic()
        tds.parse_prelogin_response(prelogin(site))
        sql = time.monotonic() - started
    assert 0.24 <= browser < 0.6 and 0.24 <= sql < 0.6


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"address": "192.0.2.1"}, "not loopback"),
    ({"address": "::ffff:127.0.0.1"}, "not loopback"),
    ({"address": "localhost"}, "not an IP address"),
    ({"faults": {"video": "silent"}}, r"valid: off, tarpit, reset"),
    ({"faults": {"sql-browser": "bogus"}}, "wrong-instance"),
    ({"faults": {"vidoe": "off"}}, "unknown role"),
    ({"roles": ["sql-browser"], "faults": {"web": "off"}}, "does not run"),
    ({"ports": "privileged"}, "ephemeral, standard, high"),
    ({"ports": {"video": 70000}}, "0-65535"),
    ({"roles": ["sql", "teleport"]}, "unknown role"),
    ({"instances": [("DS", "fifteen")]}, "SQL version"),
    ({"instances": ["X" * 33]}, "at most 32"),
    ({"name": "my site"}, "site name"),
    ({"latency": -1}, "latency"),
    ({"static_sql_port": 0}, "1-65535"),
    ({"static_sql_port": 1433, "ports": {"sql": 1500}}, "puts sql on 1500"),
    ({"static_sql_port": 1433, "roles": ["sql-browser", "video"]}, "needs the sql role"),
    ({"ports": {"video": 40000, "diagnostics": 40000}}, "video and diagnostics are both on 40000/tcp"),
    ({"ports": "standard", "static_sql_port": 18772}, "sql and video are both on 18772/tcp"),
    ({"ports": {"audio": 40000, "sql-browser": 40001}}, "sql-browser and audio are both on 40001/udp"),
])
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SimSite(**kwargs)  # type: ignore[arg-type]


def test_a_port_in_use_is_an_oserror_naming_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        before = open_fds()
        with pytest.raises(OSError, match=rf"cannot bind video on 127\.0\.0\.1 port {port}/tcp") as info:
            run_site(ports={"video": port}).start()
        assert info.value.errno == errno.EADDRINUSE
        assert open_fds() == before  # the sockets bound before it were closed


def test_command_line_for_a_standard_layout_needs_no_port_options() -> None:
    site = SimSite(ports="standard")
    assert site.command_line() == (
        "check_digitalsentry -H 127.0.0.1 --web --api --audio-clients 2 --sql-instance DIGITALSENTRY")
    lean = SimSite(ports="standard", roles=["sql-browser", "sql", "video"], instances=["SQL EXPRESS"])
    assert lean.command_line() == "check_digitalsentry -H 127.0.0.1 --sql-instance 'SQL EXPRESS'"


def test_command_line_names_every_remapped_port(sim: Simulator) -> None:
    site = sim.sites[0]
    args = shlex.split(sim.command_line())
    ports = dict(args[i + 1].split("=") for i, arg in enumerate(args) if arg == "--port")
    assert {role: int(port) for role, port in ports.items()} == {
        role: port for role, port in site.ports.items() if role != "sql"}
    assert args[:3] == ["check_digitalsentry", "-H", "127.0.0.1"]
    assert args[-5:] == ["--api", "--audio-clients", "2", "--sql-instance", "DIGITALSENTRY"]


def test_a_static_sql_port_is_served_named_by_the_browser_and_told_to_the_check(tmp_path: Path) -> None:
    """As DS QuickSetup's static SQL port: the SQL Server listens there, the Browser still names it, and
    the command, the schema.Site and the inventory say --sql-port / sql_port; it replaces a named layout's
    SQL port."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    site = SimSite(ports="high", static_sql_port=port, roles=["sql-browser", "sql", "video"], audio_clients=0)
    assert site.layout["sql"] == port and site.to_site().sql_port == port
    assert site.command_line().endswith(f"--sql-instance DIGITALSENTRY --sql-port {port}")
    with Simulator([site]) as sim:
        assert site.sql_port == port and site.ports["sql"] == port
        [instance] = ssrp.parse_response(ask_browser(site, ssrp.build_request(None)) or b"")
        assert instance.tcp_port == port
        assert tds.parse_prelogin_response(prelogin(site)).version[:2] == (15, 0)
        [loaded] = parse_inventory(sim.inventory_toml(tmp_path / "sites.toml")).sites
    assert loaded.sql_port == port and SimSite(ports="high").to_site().sql_port is None
    assert "sql_port" not in Simulator([SimSite(ports="high")]).inventory_toml()


def test_ephemeral_ports_are_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="ephemeral"):
        SimSite().command_line()


def test_inventory_of_one_site_matches_the_site(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    text = sim.inventory_toml(path)
    assert path.read_text(encoding="utf-8") == text and "[sites.ports]" in text
    [loaded] = parse_inventory(text).sites
    expected = sim.sites[0].to_site()
    for key in ("name", "hosts", "sql_instance", "web", "api", "audio_clients", "ports"):
        assert getattr(loaded, key) == getattr(expected, key), key


def test_fleet_inventory_shares_its_ports_in_defaults() -> None:
    fleet = Simulator.fleet(3, first="127.0.9.254", roles=["sql-browser", "sql", "video", "web"])
    text = fleet.inventory_toml()  # fixed layout: known before start
    assert "[defaults.ports]" in text and "[sites.ports]" not in text
    inventory = parse_inventory(text)
    assert [s.hosts for s in inventory.sites] == [("127.0.9.254",), ("127.0.10.1",), ("127.0.10.2",)]
    assert [s.name for s in inventory.sites] == ["sim-001", "sim-002", "sim-003"]
    assert inventory.sites[0].ports == {"sql-browser": HIGH_PORTS["sql-browser"], "web": HIGH_PORTS["web"]}


def test_fleet_addresses_skip_0_and_255_and_stay_in_loopback() -> None:
    assert fleet_addresses(3, "127.0.1.254") == ["127.0.1.254", "127.0.2.1", "127.0.2.2"]
    with pytest.raises(ValueError, match="run out"):
        fleet_addresses(3, "127.255.255.253")
    with pytest.raises(ValueError, match="IPv4"):
        fleet_addresses(1, "::1")


def test_fleet_of_50_sites_each_answers_the_browser() -> None:
    with Simulator.fleet(50, first="127.0.77.1") as fleet:
        assert fleet.start_seconds is not None and fleet.start_seconds < 1.0
        for site in fleet.sites:
            assert site.ports["sql-browser"] == HIGH_PORTS["sql-browser"]
            reply = ask_browser(site, ssrp.build_request("DIGITALSENTRY"))
            assert reply is not None
            assert ssrp.parse_response(reply)[0].tcp_port == HIGH_PORTS["sql"]


# --- lifecycle ------------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_close_leaves_no_open_socket() -> None:
    before = open_fds()
    sim = Simulator([SimSite(faults={"video": "tarpit"}), SimSite(name="b", address="127.0.0.2", latency=5)])
    sim.start()
    with socket.create_connection(("127.0.0.1", sim.sites[0].ports["video"]), timeout=1.0) as held, \
            socket.create_connection(("127.0.0.2", sim.sites[1].ports["sql"]), timeout=1.0) as waiting:
        waiting.sendall(tds.build_prelogin())  # its reply is 5 s away when the simulator stops
        held.sendall(b"x")
        time.sleep(0.05)
        assert open_fds() > before + 2 * len(simulator.DEFAULT_ROLES)
        sim.close()
        assert not sim.running
        assert waiting.recv(16) == b"" and held.recv(16) == b""  # the server side is gone
    sim.close()  # twice is fine
    assert open_fds() == before


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    until = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.01)
    return True


def test_a_plain_port_holds_until_the_client_closes_and_is_cut_by_a_fault_change_and_by_close() -> None:
    """video, diagnostics and api-* without a fault are held without an asyncio transport: the server's
    side closes when the client's does, and a fault change or close() cuts it as any other."""
    before = open_fds()
    with Simulator([SimSite(roles=["video", "diagnostics"])], record=True) as sim:
        site, during = sim.sites[0], open_fds()
        client = socket.create_connection(("127.0.0.1", site.ports["video"]), timeout=SILENCE)
        client.sendall(b"discarded")
        assert wait_for(lambda: open_fds() == during + 2)  # ours and the server's side, held
        with pytest.raises(socket.timeout):
            client.recv(1)
        client.close()
        assert wait_for(lambda: open_fds() == during)  # the server closed its side too
        with socket.create_connection(("127.0.0.1", site.ports["video"]), timeout=5) as cut, \
                socket.create_connection(("127.0.0.1", site.ports["diagnostics"]), timeout=SILENCE) as other:
            assert wait_for(lambda: open_fds() == during + 4)
            sim.set_fault("video", "off")
            assert cut.recv(1) == b""
            with pytest.raises(socket.timeout):
                other.recv(1)  # another role's connection is held as before
        sim.set_fault("video", None)
        with socket.create_connection(("127.0.0.1", site.ports["video"]), timeout=5) as last:
            assert wait_for(lambda: open_fds() == during + 2)
            sim.close()
            assert last.recv(1) == b""
        assert [port for _, _, port in sim.arrivals or []].count(site.ports["video"]) == 3
    assert open_fds() == before


def test_a_simulator_can_run_again_after_close() -> None:
    sim = Simulator([SimSite(roles=["sql-browser", "sql"])])
    for _ in range(2):
        with sim:
            assert ask_browser(sim.sites[0], ssrp.build_request(None)) is not None
    with pytest.raises(RuntimeError, match="already running"), sim:
        sim.start()


def test_the_simulator_does_not_import_the_engine() -> None:
    code = "import sys, check_digitalsentry.simulator; print('check_digitalsentry.engine' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "False"


# --- faults changed while it runs -----------------------------------------------------------------


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_fault_lifted_while_it_runs_opens_the_same_port_and_back() -> None:
    with run_site(faults={"video": "off"}) as sim:
        port = sim.sites[0].ports["video"]
        assert refused(port)
        sim.set_fault("video", None)
        assert not refused(port) and sim.sites[0].faults == {} and sim.sites[0].ports["video"] == port
        sim.set_fault("video", "off")
        assert refused(port) and sim.sites[0].faults == {"video": "off"}
        sim.set_fault("video", "ok")
        assert not refused(port)


def test_a_fault_change_cuts_the_connections_of_the_role_only() -> None:
    with run_site(faults={"video": "tarpit"}) as sim:
        site = sim.sites[0]
        with socket.create_connection(("127.0.0.1", site.ports["video"]), timeout=5) as held, \
                socket.create_connection(("127.0.0.1", site.ports["diagnostics"]), timeout=SILENCE) as other:
            time.sleep(0.1)
            sim.set_fault("video", "reset")
            try:
                assert held.recv(1) == b""  # cut: closed or reset
            except ConnectionResetError:
                pass
            with pytest.raises(socket.timeout):
                other.recv(1)  # another role's connection is held as before
        try:
            with socket.create_connection(("127.0.0.1", site.ports["video"]), timeout=1.0) as sock:
                assert sock.recv(1) == b""
        except ConnectionResetError:
            pass


def test_udp_faults_change_while_it_runs() -> None:
    with run_site(faults={"audio": "off", "sql-browser": "silent"}) as sim, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        site = sim.sites[0]
        assert ask_browser(site, ssrp.build_request("DIGITALSENTRY"), timeout=SILENCE) is None
        sim.set_fault("sql-browser", None)
        reply = ask_browser(site, ssrp.build_request("DIGITALSENTRY"))
        assert reply is not None and ssrp.parse_response(reply)[0].tcp_port == site.sql_port
        sim.set_fault("sql-browser", "wrong-instance")
        assert ask_browser(site, ssrp.build_request("DIGITALSENTRY"), timeout=SILENCE) is None
        sock.settimeout(SILENCE)
        sock.connect(("127.0.0.1", site.ports["audio"]))
        sock.send(b"x")
        with pytest.raises(ConnectionRefusedError):
            sock.recv(16)
        sim.set_fault("audio", None)
        sock.send(b"x")
        with pytest.raises(socket.timeout):
            sock.recv(16)  # bound and silent


def test_the_sql_port_and_its_dac_port_change_together() -> None:
    with run_site(faults={"sql": "off"}) as sim:
        site = sim.sites[0]
        assert refused(site.sql_port) and refused(site.dac_ports[0])  # type: ignore[arg-type]
        sim.set_fault("sql", None)
        assert tds.parse_prelogin_response(prelogin(site)).version[:3] == (15, 0, 2000)
        assert tds.parse_prelogin_response(prelogin(site, site.dac_ports[0])).version[:3] == (15, 0, 2000)
        sim.set_fault("sql", "garbage")
        assert prelogin(site) == simulator.SQL_GARBAGE


@pytest.mark.parametrize(("role", "fault", "match"), [
    ("video", "silent", "unknown fault 'silent' for video"),
    ("sql-browser", "several", "'several' adds SQL listeners"),
    ("nothing", "off", "unknown role 'nothing'"),
])
def test_a_fault_it_cannot_change_to_is_a_value_error(role: str, fault: str, match: str) -> None:
    with run_site() as sim, pytest.raises(ValueError, match=match):
        sim.set_fault(role, fault)


def test_set_fault_needs_a_running_simulator() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        run_site().set_fault("video", "off")


def test_arrivals_are_recorded_when_asked() -> None:
    with Simulator([SimSite(audio_clients=0)], record=True) as sim:
        site = sim.sites[0]
        assert not refused(site.ports["video"])
        ask_browser(site, ssrp.build_request(None))
        time.sleep(0.1)
        assert sim.arrivals is not None
        assert sorted(port for _, _, port in sim.arrivals) == sorted([site.ports["video"], site.ports["sql-browser"]])
    assert run_site().arrivals is None


# --- command line ---------------------------------------------------------------------------------

LINE = re.compile(r"site (?P<name>\S+) on (?P<address>\S+): (?P<command>check_digitalsentry .*)")


def _as_a_foreground_job() -> None:
    """Ctrl-C as a terminal's foreground job gets it: a suite started in the background (``pytest &``,
    ``nohup``) inherits SIGINT ignored, and so would the simulator (it then rightly ignores Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str, stdin: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """The simulator's command line; its stdin (where it reads commands) is /dev/null unless a pipe is asked."""
    return subprocess.Popen(
        [sys.executable, "-W", "error::ResourceWarning", "-m", "check_digitalsentry.simulator", *args],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=None if sys.platform == "win32" else _as_a_foreground_job)


@contextlib.contextmanager
def serving(*args: str) -> Iterator[re.Match[str]]:
    """``dsports-simulator ARGS`` for the block (its first line, "site NAME on ADDRESS: COMMAND"); then
    SIGTERM must stop it cleanly: exit 0, no traceback, no warning."""
    proc = start_cli(*args)
    try:
        assert proc.stdout is not None
        match = LINE.fullmatch(proc.stdout.readline().rstrip("\n"))
        assert match is not None, args
        yield match
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Warning" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_serves_the_printed_command_line_until_sigterm() -> None:
    with serving("--fault", "video=off", "--no-api") as match:
        assert match["name"] == "sim" and match["address"] == "127.0.0.1"
        args = shlex.split(match["command"])
        ports = dict(args[i + 1].split("=") for i, arg in enumerate(args) if arg == "--port")
        assert "--web" in args and "--api" not in args and "api-system" not in ports
        site = SimSite()
        site.ports = {"sql-browser": int(ports["sql-browser"])}
        reply = ask_browser(site, ssrp.build_request("DIGITALSENTRY"))
        assert reply is not None and ssrp.parse_response(reply)[0].tcp_port is not None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(ports["video"])), timeout=1.0).close()


def test_cli_duration_writes_the_inventory_and_exits_0(tmp_path: Path) -> None:
    inventory = tmp_path / "sim.toml"
    proc = start_cli("--sites", "3", "--address", "127.0.78.1", "--duration", "0.2",
                     "--inventory", str(inventory))
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    lines = [LINE.fullmatch(line) for line in out.splitlines()]
    assert [m["address"] for m in lines if m] == ["127.0.78.1", "127.0.78.2", "127.0.78.3"]
    assert "--port sql-browser=11434" in out and "Traceback" not in err and "Warning" not in err
    loaded = parse_inventory(inventory.read_text(encoding="utf-8"))
    assert [s.name for s in loaded.sites] == ["sim-001", "sim-002", "sim-003"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_changes_faults_on_schedule_and_on_stdin() -> None:
    proc = start_cli("--fault", "video=off", "--no-api", "--audio-clients", "0", "--fault-schedule", "1:video=ok",
                     stdin=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    try:
        match = LINE.fullmatch(proc.stdout.readline().rstrip("\n"))
        assert match is not None
        args = shlex.split(match["command"])
        video = int(dict(args[i + 1].split("=") for i, a in enumerate(args) if a == "--port")["video"])
        assert refused(video)
        assert "site(s) up" in proc.stderr.readline()
        assert re.fullmatch(r"dsports-simulator: 1 s: video=ok on sim\n", proc.stderr.readline())
        assert not refused(video)
        proc.stdin.write("video=off, web=tarpit\n")
        proc.stdin.flush()
        assert re.fullmatch(r"dsports-simulator: [\d.]+ s: video=off on sim\n", proc.stderr.readline())
        assert re.fullmatch(r"dsports-simulator: [\d.]+ s: web=tarpit on sim\n", proc.stderr.readline())
        assert refused(video)
        proc.stdin.write("faults\nvideo=silent\n")
        proc.stdin.flush()
        assert proc.stderr.readline() == "dsports-simulator: sim: video=off, web=tarpit\n"
        assert "unknown fault 'silent' for video (valid: ok, off, tarpit, reset)" in proc.stderr.readline()
        proc.stdin.close()  # the end of stdin: it goes on serving
        time.sleep(0.2)
        assert proc.poll() is None and not refused(int(dict(
            args[i + 1].split("=") for i, a in enumerate(args) if a == "--port")["diagnostics"]))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize(("schedule", "message"), [
    ("video=off", "expected SECONDS:[SITE/]ROLE=FAULT"),
    ("5:video=silent", "unknown fault 'silent' for video"),
    ("5:other/video=off", "no simulated site 'other'"),
    ("5:web=off", "web=off: no site runs web"),
])
def test_cli_rejects_a_bad_schedule(schedule: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        simulator_cli.main(["--fault-schedule", schedule, "--no-web", "--audio-clients", "0", "--duration", "0"])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_a_bad_fault(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        simulator_cli.main(["--fault", "video=silent"])
    assert info.value.code == 2
    assert "valid: off, tarpit, reset" in capsys.readouterr().err


def test_the_sql_port_moves_as_a_restarted_sql_server_would() -> None:
    with run_site() as sim:
        site = sim.sites[0]
        old, dac = site.sql_port, site.dac_ports[0]
        new = sim.move_sql_port()
        assert new != old and site.sql_port == new == site.ports["sql"] and site.dac_ports[0] == dac
        reply = ask_browser(site, ssrp.build_request("DIGITALSENTRY"))
        assert reply is not None and ssrp.parse_response(reply)[0].tcp_port == new
        assert tds.parse_prelogin_response(prelogin(site)).version[:3] == (15, 0, 2000)
        assert refused(old)  # type: ignore[arg-type]
        sim.set_fault("sql", "off")  # the moved port is the role's port now
        assert refused(new)
        sim.set_fault("sql", None)
        assert tds.parse_prelogin_response(prelogin(site)).version[:3] == (15, 0, 2000)


def free_ports(count: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """Ports no socket of 127.0.0.1 uses now (TCP and UDP alike)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, kind) as one, socket.socket(socket.AF_INET, socket.SOCK_DGRAM
                                                                       if kind == socket.SOCK_STREAM
                                                                       else socket.SOCK_STREAM) as other:
            one.bind(("127.0.0.1", 0))
            port = one.getsockname()[1]
            try:
                other.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port not in ports:
                ports.append(port)
    return ports


def test_cli_serves_any_port_layout_role_by_role_and_a_static_sql_port(tmp_path: Path) -> None:
    """--port ROLE=PORT on top of a layout and --sql-port: each role where it was asked for, and the
    printed command and the inventory say so; the real check finds everything as expected."""
    browser, video, diagnostics, sql = free_ports(4)
    inventory = tmp_path / "sites.toml"
    with serving("--address", "127.0.78.20", "--name", "nat", "--ports", "standard", "--port",
                 f"sql-browser={browser}", "--port", f"video={video}", "--port", f"diagnostics={diagnostics}",
                 "--sql-port", str(sql), "--instance", "SQLEXPRESS", "--no-web", "--no-api", "--audio-clients", "0",
                 "--inventory", str(inventory)) as match:
        args = shlex.split(match["command"])
        assert args == ["check_digitalsentry", "-H", "127.0.78.20", "--port", f"sql-browser={browser}",
                        "--port", f"video={video}", "--port", f"diagnostics={diagnostics}", "--sql-instance",
                        "SQLEXPRESS", "--sql-port", str(sql)]
        deadline = time.monotonic() + 10
        while not inventory.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for check in (args[1:], ["--inventory", str(inventory)]):
            run = subprocess.run([sys.executable, "-m", "check_digitalsentry", *check, "-v", "-t", "5"],
                                 capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run
            assert f"sql {sql}/tcp OK open" in run.stdout and f"video {video}/tcp OK open" in run.stdout, run
            assert f"names SQLEXPRESS on TCP {sql}" in run.stdout, run
    [loaded] = parse_inventory(inventory.read_text(encoding="utf-8")).sites
    assert loaded.sql_port == sql and loaded.ports == {"sql-browser": browser, "video": video,
                                                      "diagnostics": diagnostics}


@pytest.mark.parametrize("args, message", [
    (["--port", "teleport=1"], "--port teleport=1: no such role"),
    (["--no-web", "--port", "web=8443"], "--port web=8443: web does not run"),
    (["--port", "video=0"], "argument --port: expected a port 1-65535, got '0'"),
    (["--port", "video"], "argument --port: expected ROLE=PORT, got 'video'"),
    (["--sql-port", "70000"], "argument --sql-port: expected a port 1-65535"),
    (["--port", "sql=1500", "--sql-port", "1600"], "static SQL port 1600, but ports puts sql on 1500"),
])
def test_cli_says_what_is_wrong_with_a_port_layout(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        simulator_cli.main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_every_site_of_the_example_inventory_is_served_by_one_simulator_command(tmp_path: Path) -> None:
    """contrib/sites.example.toml as its hosts would answer: one dsports-simulator command per DS server,
    made of the site's settings (remapped ports, static SQL port, instance, web, API, audio clients), then
    the example inventory itself, only its addresses changed, checks OK."""
    from conftest import REPO

    from check_digitalsentry.inventory import load_inventory

    example = REPO / "contrib" / "sites.example.toml"
    text = example.read_text(encoding="utf-8")
    sites = load_inventory(str(example)).sites
    if os.geteuid() != 0:  # hq serves DSWebService on 443, as shipped: binding it needs root
        sites = [site for site in sites if not site.web]
    # The simulator's certificate is self-signed: the company CA of hq's tls_verify is not there.
    text = text.replace("tls_verify = true", "tls_verify = false")
    # Loopback proves no path at all: a site whose clients come from the internet would be UNKNOWN here.
    assert 'reached_from = "internet"' in text
    text = text.replace('reached_from = "internet"', "")
    address = iter(fleet_addresses(16, "127.0.79.1"))
    served = 0
    with contextlib.ExitStack() as stack:
        for site in sites:
            for host in site.hosts:
                ours = next(address)
                text = text.replace(f'"{host}"', f'"{ours}"')
                argv = ["--name", site.name, "--address", ours, "--ports", "standard", "--instance",
                        site.sql_instance or simulator.DEFAULT_INSTANCE, "--audio-clients", str(site.audio_clients),
                        *[f"--port={role}={port}" for role, port in site.ports.items()],
                        *(["--sql-port", str(site.sql_port)] if site.sql_port else []),
                        *([] if site.web else ["--no-web"]), *([] if site.api else ["--no-api"])]
                stack.enter_context(serving(*argv))
                served += 1
        inventory = tmp_path / "sites.toml"
        inventory.write_text(text, encoding="utf-8")
        selected = [arg for site in sites for arg in ("--site", site.name)]
        run = subprocess.run([sys.executable, "-m", "check_digitalsentry", "--inventory", str(inventory), *selected,
                              "-t", "10"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run
    assert run.stdout.startswith(f"DIGITALSENTRY OK - {len(sites)} sites"), run.stdout
    assert served >= 3 and len(sites) >= 3


@pytest.mark.parametrize("duration", ["nan", "inf", "1e300", "-5", "soon"])
def test_cli_rejects_a_duration_it_cannot_serve(duration: str) -> None:
    """One usage line and exit 2, as for every bad argument: not a traceback from time.sleep (nan, inf,
    1e300), nor a simulator that starts and stops at once (-5)."""
    proc = start_cli("--duration", duration)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert err.splitlines()[-1] == ("dsports-simulator: error: argument --duration: expected seconds from 0 to "
                                    f"604800 (a week), got {duration!r}"), err


@contextlib.contextmanager
def commanded() -> Iterator[subprocess.Popen[str]]:
    """``dsports-simulator`` with a pipe as its stdin, up (its lines read); killed and closed after the block."""
    proc = start_cli("--no-api", "--audio-clients", "0", stdin=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    try:
        assert LINE.fullmatch(proc.stdout.readline().rstrip("\n"))
        assert "site(s) up" in proc.stderr.readline()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()


def command(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(text)
    proc.stdin.flush()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_says_once_that_a_line_on_stdin_is_too_long_and_goes_on() -> None:
    with commanded() as proc:
        assert proc.stderr is not None
        command(proc, "x" * 1_000_000 + "\nfaults\n")  # a megabyte of one word, then a command
        assert proc.stderr.readline() == ("dsports-simulator: a line longer than 4096 bytes: not a command ('help' "
                                          "lists the commands)\n")
        assert proc.stderr.readline() == "dsports-simulator: sim: no fault\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_stops_cleanly_while_it_waits_for_a_command(stop: int) -> None:
    """Ctrl-C at the terminal where it runs (its stdin open, the command reader waiting on it): exit 0 -- not
    "Fatal Python error: _enter_buffered_busy" and SIGABRT, the reader's lock on sys.stdin held at exit."""
    with commanded() as proc:
        assert proc.stderr is not None
        command(proc, "faults\n")
        assert proc.stderr.readline() == "dsports-simulator: sim: no fault\n"  # the reader waits for the next
        proc.send_signal(stop)
        assert proc.wait(10) == 0, proc.stderr.read()
        assert proc.stderr.read() == ""


@pytest.mark.parametrize(("args", "said"), [
    (["--port", "video=40000", "--port", "diagnostics=40000"], "video and diagnostics are both on 40000/tcp"),
    (["--ports", "standard", "--sql-port", "18772"], "sql and video are both on 18772/tcp"),
    (["--port", "audio=40000", "--audio-clients", "0"], "--port audio=40000: audio does not run (--audio-clients 0)"),
])
def test_cli_ports_it_cannot_serve_are_a_usage_error(args: list[str], said: str) -> None:
    """Said before anything is bound, as for every bad argument (exit 2): not as a port in use (exit 1), nor a
    port asked for and silently not served."""
    proc = start_cli(*args, "--duration", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and err.splitlines()[-1].startswith(f"dsports-simulator: error: {said}"), err
