"""The SQL probe names the instance it expects in PRELOGIN INSTOPT and records whether the server confirmed
it: which name it sends (configured, named by the Browser, ``MSSQLServer`` for a default instance, none),
what each INSTOPT answer becomes, and the NAT-to-the-wrong-SQL-Server failure end to end."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

import pytest

from check_digitalsentry.engine import probe_sites
from check_digitalsentry.engine.sites import SitePlan
from check_digitalsentry.judge import advice, judge
from check_digitalsentry.model import PortResult, PortSpec, State, Status
from check_digitalsentry.protocols import tds
from check_digitalsentry.schema import Site
from check_digitalsentry.simulator import WRONG_INSTANCE, SimSite, Simulator

Simulate = Callable[..., Simulator]


@contextmanager
def recording_sql(instopt: int | None) -> Iterator[tuple[int, list[tds.PreloginRequest]]]:
    """A TCP server on 127.0.0.1 that records each PRELOGIN request and answers it with ``instopt``."""
    requests: list[tds.PreloginRequest] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5.0)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5.0)
            data = b""
            while not tds.request_complete(data):
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            requests.append(tds.parse_prelogin_request(data))
            conn.sendall(tds.build_prelogin_response(version=(15, 0, 4153, 0), encryption=tds.ENCRYPT_OFF,
                                                     instopt=instopt))
            conn.recv(1)  # until the probe closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], requests
    finally:
        server.close()
        thread.join(5.0)


def probe_static(port: int, instance: str | None) -> PortResult:
    """Probe only a static SQL port, as a site with ``sql_port`` and ``sql_instance`` (or none) does."""
    site = Site("t", ("127.0.0.1",), sql_port=port, timeout=3.0)
    site.sql_instance = instance  # unchecked: also a name only a Browser could send
    [report] = probe_sites([SitePlan(site, [PortSpec("sql", port, "tcp", State.CRITICAL)])])
    [result] = report.results
    return result


@pytest.mark.parametrize(("configured", "sent"), [
    ("DIGITALSENTRY", "DIGITALSENTRY"),
    ("SQLExpress", "SQLExpress"),
    ("mssqlserver", "MSSQLServer"),  # a default instance, spelled as FreeTDS, pytds, impacket and nmap do
    (None, ""),  # nothing known: any instance (INSTOPT is just the NUL)
])
def test_the_probe_sends_the_expected_instance_and_a_client_version(configured: str | None, sent: str) -> None:
    with recording_sql(tds.INSTOPT_MATCH) as (port, requests):
        result = probe_static(port, configured)
    [request] = requests
    assert request.instance == sent and request.instopt == sent.encode() + b"\x00"
    assert request.version == tds.CLIENT_VERSION != (0, 0, 0, 0)
    assert request.encryption == tds.ENCRYPT_OFF
    assert result.status is Status.OPEN
    if configured is None:
        assert "sql_instance_confirmed" not in result.facts
        assert result.detail == "SQL Server 2019 15.0.4153.0 answered PRELOGIN (encryption ENCRYPT_OFF)"
    else:
        assert result.facts.sql_instance_confirmed is True and result.facts.instance == configured
        assert result.detail == (f"SQL Server 2019 15.0.4153.0 answered PRELOGIN as instance {configured} "
                                 f"(encryption ENCRYPT_OFF)")


def test_instopt_1_is_another_instance() -> None:
    with recording_sql(tds.INSTOPT_MISMATCH) as (port, _):
        result = probe_static(port, "DIGITALSENTRY")
    assert result.status is Status.INVALID
    assert result.facts.sql_instance_confirmed is False
    assert result.detail == ("SQL Server 2019 15.0.4153.0 answered PRELOGIN for another instance: INSTOPT 1 to "
                             "DIGITALSENTRY")
    verdict = judge(Site("t", ("127.0.0.1",)), result)
    assert verdict.state is State.CRITICAL
    assert f"TCP {port} reaches a SQL Server that is not instance DIGITALSENTRY" in verdict.reason
    assert advice(verdict).startswith("another SQL Server than instance DIGITALSENTRY answers on TCP")


def test_a_reply_without_instopt_confirms_nothing_and_fails_nothing() -> None:
    with recording_sql(None) as (port, _):
        result = probe_static(port, "DIGITALSENTRY")
    assert result.status is Status.OPEN and result.facts.sql_instance_confirmed is None
    assert "without saying whether it is instance DIGITALSENTRY (no INSTOPT)" in result.detail


def test_a_name_instopt_cannot_carry_is_not_sent() -> None:
    with recording_sql(tds.INSTOPT_MATCH) as (port, requests):
        result = probe_static(port, "DS\u263a")  # a Browser's name decoded with a replacement character
    assert requests[0].instance == "" and result.status is Status.OPEN
    assert "sql_instance_confirmed" not in result.facts


# -- against the simulator: the Browser's instance, and the other-instance fault ---------------------------


def probe(sim: Simulator, **changes: object) -> list[PortResult]:
    site = sim.sites[0].to_site(timeout=3.0)
    for key, value in changes.items():
        setattr(site, key, value)
    [report] = probe_sites([site])
    return [r for r in report.results if r.role == "sql"]


def test_without_a_configured_instance_the_browsers_name_is_confirmed(simulate: Simulate) -> None:
    sim = simulate(faults={"sql-browser": "several"})
    results = probe(sim, sql_instance=None)
    assert {(r.facts.instance, r.facts.sql_instance_confirmed) for r in results} == {
        ("DIGITALSENTRY", True), ("SQLEXPRESS", True)}


@pytest.mark.parametrize("configured", ["DIGITALSENTRY", None])
def test_nat_to_another_sql_server_is_invalid_with_the_browsers_or_the_configured_name(
        simulate: Simulate, configured: str | None) -> None:
    sim = simulate(faults={"sql": "other-instance"})
    [result] = probe(sim, sql_instance=configured)
    assert result.status is Status.INVALID
    assert result.facts.sql_instance_confirmed is False and result.facts.instance == "DIGITALSENTRY"
    assert result.facts.sql_port_from == "browser"


def test_a_static_port_reaching_another_instance_is_invalid(simulate: Simulate) -> None:
    sim = simulate(SimSite(roles=["sql-browser", "sql"], faults={"sql": "other-instance"}))
    [result] = probe(sim, sql_port=sim.sites[0].sql_port)
    assert result.status is Status.INVALID and result.facts.sql_instance_confirmed is False
    # the same port, asked for the instance that does run there, is confirmed
    [other] = probe(sim, sql_port=sim.sites[0].sql_port, sql_instance=WRONG_INSTANCE)
    assert other.status is Status.OPEN and other.facts.sql_instance_confirmed is True
