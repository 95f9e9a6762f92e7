"""The probe engine against simulated DS sites: every status for real, deadlines, fleets, hooks."""

from __future__ import annotations

import time
from typing import Callable

import pytest
from conftest import need_scalable_poller

from check_digitalsentry.builtin import PluggyHooks
from check_digitalsentry.catalogue import ALWAYS, Role
from check_digitalsentry.engine import probe_sites
from check_digitalsentry.engine.sites import SiteReport
from check_digitalsentry.hookspecs import hookimpl
from check_digitalsentry.judge import judge_report, worst
from check_digitalsentry.model import PortResult, PortSpec, State, Status
from check_digitalsentry.plugins import make_plugin_manager
from check_digitalsentry.schema import Site
from check_digitalsentry.simulator import SimSite, Simulator

Simulate = Callable[..., Simulator]


def probe(sim: Simulator, timeout: float = 3.0, **site_changes: object) -> SiteReport:
    site = sim.sites[0].to_site()
    site.timeout = timeout
    for key, value in site_changes.items():
        setattr(site, key, value)
    [report] = probe_sites([site])
    return report


def by_role(report: SiteReport, role: str) -> PortResult:
    [result] = [r for r in report.results if r.role == role]
    return result


def test_a_healthy_simulated_site_is_open_everywhere_with_facts(simulate: Simulate) -> None:
    sim = simulate(SimSite(audio_clients=1))
    report = probe(sim)
    statuses = {r.role: r.status for r in report.results}
    assert statuses == {"sql-browser": Status.OPEN, "sql": Status.OPEN, "video": Status.OPEN,
                        "diagnostics": Status.OPEN, "web": Status.OPEN, "api-system": Status.OPEN,
                        "api-playback": Status.OPEN, "api-camera": Status.OPEN, "audio": Status.OPEN_FILTERED}
    sql = by_role(report, "sql")
    assert sql.port == sim.sites[0].sql_port
    assert sql.facts.sql_version == "15.0.2000.0" and sql.facts.instance == "DIGITALSENTRY"
    assert sql.facts.sql_instance_confirmed is True and sql.facts.sql_encryption == "ENCRYPT_OFF"
    browser = by_role(report, "sql-browser")
    assert browser.facts.sql_ports == [("DIGITALSENTRY", sim.sites[0].sql_port)]
    web = by_role(report, "web")
    assert web.facts.tls_subject == "CN=ds-simulator.invalid" and web.facts.tls_self_signed is True
    assert isinstance(web.facts.tls_days_left, int) and web.facts.tls_days_left > 30000
    assert worst(judge_report(report)) is State.OK
    assert [r.role for r in report.results] == ["sql-browser", "sql", "video", "diagnostics", "web",
                                                 "api-system", "api-playback", "api-camera", "audio"]


@pytest.mark.parametrize(
    ("faults", "role", "status", "detail"),
    [
        ({"sql-browser": "garbage"}, "sql-browser", Status.INVALID, "not a SQL Server Browser reply: RESP_SIZE"),
        ({"sql-browser": "truncated"}, "sql-browser", Status.INVALID, "not a SQL Server Browser reply"),
        ({"sql": "garbage"}, "sql", Status.INVALID, "not a TDS PRELOGIN reply: packet type 0x48"),
        ({"web": "reset"}, "web", Status.INVALID, "reset"),  # at once, or during the TLS handshake
        ({"sql-browser": "off"}, "sql-browser", Status.CLOSED, "ICMP port unreachable"),
        ({"sql-browser": "off"}, "sql", Status.UNKNOWN,
         "not probed: the SQL Server Browser gave no port (closed)"),
        ({"sql-browser": "no-tcp"}, "sql", Status.UNKNOWN, "not probed"),
        ({"video": "off"}, "video", Status.CLOSED, "connection refused"),
        ({"audio": "off"}, "audio", Status.CLOSED, "ICMP port unreachable"),
        ({"sql": "strict"}, "sql", Status.OPEN, "TDS 8.0 strict"),
        ({"sql": "other-instance"}, "sql", Status.INVALID,
         "answered PRELOGIN for another instance: INSTOPT 1 to DIGITALSENTRY"),
    ],
)
def test_simulator_faults_produce_each_status_through_the_engine(
    simulate: Simulate, faults: dict[str, str], role: str, status: Status, detail: str
) -> None:
    sim = simulate(SimSite(audio_clients=1 if "audio" in faults else 0, faults=faults))
    result = by_role(probe(sim), role)
    assert result.status is status, result
    assert detail in result.detail


def test_a_silent_browser_is_open_filtered_and_ends_at_the_deadline(simulate: Simulate) -> None:
    sim = simulate(faults={"sql-browser": "silent"})
    started = time.monotonic()
    report = probe(sim, timeout=1.2)
    wall = time.monotonic() - started
    browser = by_role(report, "sql-browser")
    assert browser.status is Status.OPEN_FILTERED
    asked = "no reply from the SQL Server Browser to 2 requests (CLNT_UCAST_INST for DIGITALSENTRY)"
    assert asked in browser.detail
    assert by_role(report, "sql").status is Status.UNKNOWN
    assert 1.2 <= wall <= 1.2 + 0.25
    # every other port answered long before the deadline
    assert by_role(report, "video").seconds is not None and by_role(report, "video").seconds < 0.5  # type: ignore[operator]


def test_a_tarpit_on_sql_and_web_ends_inside_the_deadline(simulate: Simulate) -> None:
    sim = simulate(faults={"sql": "tarpit", "web": "tarpit", "video": "tarpit"})
    started = time.monotonic()
    report = probe(sim, timeout=1.0)
    wall = time.monotonic() - started
    assert wall <= 1.0 + 0.25
    assert by_role(report, "sql").status is Status.INVALID
    assert "no PRELOGIN reply within" in by_role(report, "sql").detail
    assert by_role(report, "web").status is Status.INVALID
    assert by_role(report, "video").status is Status.OPEN  # connect only: a tarpit accepts


def test_wrong_instance_names_what_the_browser_lists(simulate: Simulate) -> None:
    sim = simulate(faults={"sql-browser": "wrong-instance"})
    report = probe(sim, timeout=3)
    browser = by_role(report, "sql-browser")
    assert browser.status is Status.INVALID
    assert browser.detail == "instance DIGITALSENTRY not found; the Browser lists DSOTHER"
    # CLNT_UCAST_INST is ignored by a Browser without the instance; the all-instances ask comes 1 s later
    assert browser.seconds is not None and 0.9 < browser.seconds < 1.5


def test_without_an_instance_every_instance_with_tcp_is_probed(simulate: Simulate) -> None:
    sim = simulate(faults={"sql-browser": "several"})
    report = probe(sim, sql_instance=None)
    sql = [r for r in report.results if r.role == "sql"]
    assert {r.facts.instance for r in sql} == {"DIGITALSENTRY", "SQLEXPRESS"}
    assert {r.port for r in sql} == set(sim.sites[0].sql_ports)
    assert all(r.status is Status.OPEN for r in sql)


def test_a_configured_instance_is_matched_ignoring_case(simulate: Simulate) -> None:
    sim = simulate()
    report = probe(sim, sql_instance="digitalsentry")
    assert by_role(report, "sql").status is Status.OPEN


def test_a_static_sql_port_is_probed_even_when_the_browser_is_silent(simulate: Simulate) -> None:
    sim = simulate(faults={"sql-browser": "silent"})
    report = probe(sim, timeout=1.0, sql_port=sim.sites[0].sql_port)
    assert by_role(report, "sql").status is Status.OPEN
    assert by_role(report, "sql").seconds is not None


def test_ipv6_loopback_site(simulate: Simulate) -> None:
    try:
        sim = simulate(SimSite(address="::1", audio_clients=0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    report = probe(sim)
    assert {r.status for r in report.results} == {Status.OPEN}
    assert {r.address for r in report.results} == {"::1"}


def test_a_fleet_of_200_sites_is_probed_in_one_run(simulate: Simulate) -> None:
    need_scalable_poller("200 simulated sites hold 1,600 descriptors in this process", ("select",))
    fleet = Simulator.fleet(200, first="127.0.40.1", audio_clients=0)
    fleet.start()
    try:
        sites = [s.to_site() for s in fleet.sites]
        started = time.monotonic()
        reports = probe_sites(sites, deadline=started + 10)
        wall = time.monotonic() - started
    finally:
        fleet.close()
    assert len(reports) == 200
    assert all(r.status is Status.OPEN for report in reports for r in report.results), [
        r for report in reports for r in report.results if r.status is not Status.OPEN][:3]
    assert sum(len(report.results) for report in reports) == 200 * 8
    assert wall < 10  # well inside the deadline; speed itself is measured in bench/


class _Extras:
    """A plugin using every hook: a new role, a changed severity, and an observer."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def digitalsentry_roles(self) -> list[Role]:
        return [Role("rtsp", "tcp", 554, ALWAYS, State.WARNING, "RTSP streaming", "test")]

    @hookimpl
    def digitalsentry_port_specs(self, site: Site, specs: list[PortSpec]) -> None:
        for spec in specs:
            if spec.role == "diagnostics":
                spec.severity = State.CRITICAL

    @hookimpl
    def digitalsentry_port_result(self, site: Site, result: PortResult) -> None:
        self.seen.append((site.name, result.role))


def test_plugins_add_roles_adjust_specs_and_observe_results(simulate: Simulate) -> None:
    sim = simulate(faults={"diagnostics": "off"})
    extras = _Extras()
    pm = make_plugin_manager(autoload=False)
    pm.register(extras)
    site = sim.sites[0].to_site()
    site.ports["rtsp"] = sim.sites[0].ports["video"]
    [report] = probe_sites([site], hooks=PluggyHooks(pm))
    assert by_role(report, "rtsp").status is Status.OPEN
    verdicts = {v.result.role: v for v in judge_report(report)}
    assert verdicts["diagnostics"].state is State.CRITICAL  # the plugin raised it from WARNING
    assert sorted(role for _, role in extras.seen) == sorted(r.role for r in report.results)


def test_the_standard_ports_including_443_when_root(simulate: Simulate) -> None:
    from conftest import need_root

    need_root("the standard layout binds 443 and 1434, privileged ports")
    sim = simulate(SimSite(address="127.0.91.1", ports="standard", audio_clients=0))
    report = probe(sim)
    ports = {r.role: r.port for r in report.results}
    assert ports == {"sql-browser": 1434, "sql": 49172, "video": 18772, "diagnostics": 17772, "web": 443,
                     "api-system": 60001, "api-playback": 60002, "api-camera": 60010}
    assert {r.status for r in report.results} == {Status.OPEN}
