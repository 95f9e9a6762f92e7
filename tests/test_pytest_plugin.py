"""pytest_dsports through pytester: real pytest runs against simulated DS sites."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import pytest
from support import modules_loaded_by

from check_digitalsentry.simulator import SimSite, Simulator

Simulate = Callable[..., Simulator]

#: The short test summary names a failed port's reason since pytest 7.3; Debian 12's pytest 7.2.1 prints
#: the node id alone there for items whose repr_failure returns text (the failure section has it all).
SUMMARY_REASON = " - *" if pytest.version_tuple >= (7, 3) else ""

HEALTHY_IDS = ["sql-browser[{sql-browser}/udp]", "sql[dynamic/tcp]", "video[{video}/tcp]",
               "diagnostics[{diagnostics}/tcp]", "web[{web}/tcp]", "api-system[{api-system}/tcp]",
               "api-playback[{api-playback}/tcp]", "api-camera[{api-camera}/tcp]"]


def inventory(pytester: pytest.Pytester, sim: Simulator, name: str = "sites.toml") -> Path:
    path = pytester.path / name
    sim.inventory_toml(path)
    return path


def two_sites(simulate: Simulate, **faults: dict[str, str]) -> Simulator:
    return simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0, faults=faults.get("hq", {})),
                    SimSite(name="branch", address="127.0.3.2", audio_clients=0, faults=faults.get("branch", {})))


def test_a_healthy_site_becomes_one_passing_test_per_port(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0))
    inventory(pytester, sim)
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "-v")
    result.assert_outcomes(passed=8)
    ports = sim.sites[0].ports
    result.stdout.fnmatch_lines([f"sites.toml::hq::127.0.3.1::{i.format(**ports)} PASSED*".replace("[", "[[]")
                                 for i in HEALTHY_IDS])
    result.stdout.fnmatch_lines(["*= dsports: site handover =*", "site hq: OK — 8 ports, 0 not as expected*",
                                 "  host*port*status*time*state",
                                 f"  127.0.3.1  sql {sim.sites[0].sql_port}/tcp*open*OK"])


def test_a_failing_port_reads_as_one_paragraph_without_a_traceback(
    pytester: pytest.Pytester, simulate: Simulate
) -> None:
    sim = two_sites(simulate, hq={"video": "off"})
    inventory(pytester, sim)
    result = pytester.runpytest("--dsports-inventory", "sites.toml")
    result.assert_outcomes(passed=15, failed=1)
    video = sim.sites[0].ports["video"]
    result.stdout.fnmatch_lines([
        f"*_ hq/127.0.3.1 video[[]{video}/tcp] _*",
        f"hq / 127.0.3.1: video {video}/tcp is closed — CRITICAL",
        "  time     no answer",
        "  address  127.0.3.1 (from 127.0.0.1)",
        f"  detail   connection refused (TCP reset): nothing listens on TCP {video}",
        f"  to fix   nothing listens on TCP {video} at 127.0.3.1: check that the DS service behind video runs, "
        f"and that NAT forwards TCP {video} to the DS server itself",
    ])
    assert "Traceback" not in result.stdout.str() and "plugin.py" not in result.stdout.str()
    result.stdout.fnmatch_lines(["site hq: CRITICAL — 8 ports, 1 not as expected*",
                                 "site branch: OK — 8 ports, 0 not as expected*"])


@pytest.mark.parametrize(
    ("faults", "failing", "words"),
    [
        ({"sql-browser": "silent"}, ["sql-browser[{sql-browser}/udp]", "sql[dynamic/tcp]"],
         ["is open|filtered — CRITICAL", "allow UDP {sql-browser} to 127.0.3.1 and check that the SQL Server "
                                         "Browser service runs"]),
        ({"sql": "garbage"}, ["sql[dynamic/tcp]"], ["is invalid — CRITICAL", "not a TDS PRELOGIN reply"]),
        ({"web": "tarpit"}, ["web[{web}/tcp]"], ["no TLS handshake reply"]),
        ({"diagnostics": "off"}, ["diagnostics[{diagnostics}/tcp]"], ["is closed — WARNING"]),
        ({"sql-browser": "wrong-instance"}, ["sql-browser[{sql-browser}/udp]", "sql[dynamic/tcp]"],
         ["instance DIGITALSENTRY not found; the Browser lists DSOTHER",
          "fix what this port depends on first (the SQL Server Browser), or set a static SQL port"]),
    ],
)
def test_each_fault_fails_exactly_its_ports_and_says_why(
    pytester: pytest.Pytester, simulate: Simulate, faults: dict[str, str], failing: list[str], words: list[str]
) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0, faults=faults))
    inventory(pytester, sim)
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "--dsports-timeout", "2", "-rf")
    ports = sim.sites[0].ports
    result.assert_outcomes(passed=8 - len(failing), failed=len(failing))
    result.stdout.fnmatch_lines([f"FAILED sites.toml::hq::127.0.3.1::{f.format(**ports)}".replace("[", "[[]")
                                 + SUMMARY_REASON for f in failing], consecutive=False)
    out = result.stdout.str()
    for word in words:
        assert word.format(**ports) in out


def test_audio_on_an_idle_server_is_not_testable_and_never_passes(pytester: pytest.Pytester,
                                                                    simulate: Simulate) -> None:
    """By default audio is informational: skipped as "not testable while no audio plays" (closed or silent),
    never a pass; strict (severity.audio = "warning", a test during a live audio session) it is judged: silence
    passes with its note, shown as such, and a closed port fails."""
    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=1))
    path = inventory(pytester, sim)
    audio = sim.sites[0].ports["audio"]
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "-v", "-rs")
    result.assert_outcomes(passed=8, skipped=1)
    result.stdout.fnmatch_lines([f"*::audio[[]{audio}/udp] SKIPPED (not testable wh*",
                                 "SKIPPED*not testable while no audio plays: open|filtered: no reply*(informational; "
                                 "to test it during a live session, set severity.audio = \"warning\")"])
    quiet = pytester.runpytest("--dsports-inventory", "sites.toml")
    quiet.stdout.fnmatch_lines(["sites.toml ........s*"])
    path.write_text(path.read_text().replace('name = "hq"', 'name = "hq"\nseverity.audio = "warning"'))
    strict = pytester.runpytest("--dsports-inventory", "sites.toml", "-v")
    strict.assert_outcomes(passed=9)
    strict.stdout.fnmatch_lines([f"*::audio[[]{audio}/udp] PASSED (open|filtered: silence proves nothing)*"])
    off = simulate(SimSite(name="off", address="127.0.3.2", audio_clients=1, faults={"audio": "off"}))
    off_path = inventory(pytester, off, "off.toml")
    closed = pytester.runpytest("--dsports-inventory", "off.toml")
    closed.assert_outcomes(passed=8, skipped=1)  # closed on an idle server: not testable either
    off_path.write_text(off_path.read_text().replace('name = "off"', 'name = "off"\nseverity.audio = "warning"'))
    closed = pytester.runpytest("--dsports-inventory", "off.toml")
    closed.assert_outcomes(passed=8, failed=1)
    closed.stdout.fnmatch_lines([f"off / 127.0.3.2: audio {off.sites[0].ports['audio']}/udp is closed — WARNING"])


def test_junit_xml_is_a_complete_handover_record(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0, faults={"diagnostics": "off"}))
    inventory(pytester, sim)
    pytester.runpytest("--dsports-inventory", "sites.toml", "--junitxml=handover.xml")
    root = ET.parse(pytester.path / "handover.xml").getroot()
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert len(cases) == 8
    sql = {p.get("name"): p.get("value") for p in cases["sql[dynamic/tcp]"].iter("property")}
    assert sql["site"] == "hq" and sql["host"] == "127.0.3.1" and sql["role"] == "sql"
    assert sql["port"] == str(sim.sites[0].sql_port) and sql["transport"] == "tcp" and sql["status"] == "open"
    assert sql["state"] == "OK" and sql["sql_version"] == "15.0.2000.0" and float(sql["seconds"]) > 0
    assert sql["proved"] == "on this machine itself (loopback): no network in between" and "reached_from" not in sql
    assert sql["on_link"] == "True" and sql["local_network"] == "127.0.0.0/8"
    diag_name = f"diagnostics[{sim.sites[0].ports['diagnostics']}/tcp]"
    diag = {p.get("name"): p.get("value") for p in cases[diag_name].iter("property")}
    assert diag["status"] == "closed" and diag["state"] == "WARNING" and diag["seconds"] == ""
    assert cases[diag_name].find("failure") is not None


def test_sites_are_selected_by_name(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = two_sites(simulate)
    inventory(pytester, sim)
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "--dsports-site", "BRANCH", "-v")
    result.assert_outcomes(passed=8)
    assert "::hq::" not in result.stdout.str()
    bad = pytester.runpytest("--dsports-inventory", "sites.toml", "--dsports-site", "hx")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --dsports-site: no site 'hx' (sites: hq, branch)"])


def test_an_ad_hoc_host_is_checked_with_the_catalogue_defaults(pytester: pytest.Pytester, simulate: Simulate) -> None:
    from conftest import need_root

    need_root("the catalogue's own ports: the SQL Server Browser's UDP 1434 and web's 443 are privileged")
    sim = simulate(SimSite(name="x", address="127.0.3.1", audio_clients=0, ports="standard"))
    result = pytester.runpytest("--dsports-host", "127.0.3.1", "--dsports-timeout", "3", "-v")
    # catalogue defaults: no web, no API, no instance configured (the Browser's only instance is used)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["dsports::adhoc::127.0.3.1::video[[]18772/tcp] PASSED*"])
    assert sim.sites[0].ports["video"] == 18772


def test_the_ini_keys_configure_it_too(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = two_sites(simulate)
    (pytester.path / "sites").mkdir()
    inventory(pytester, simulate(SimSite(name="more", address="127.0.3.3", audio_clients=0)), "sites/more.toml")
    inventory(pytester, sim, "main.toml")
    pytester.makeini("[pytest]\ndsports_inventory = main.toml\ndsports_files = sites/*.toml\ndsports_timeout = 3\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=24)
    result.stdout.fnmatch_lines(["site hq: OK*", "*", "site branch: OK*", "*", "site more: OK*"], consecutive=False)


def test_an_unconfigured_run_collects_nothing_extra_and_probes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    assert True\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert "dsports" not in result.stdout.str().replace("dsports-", "")
    off = pytester.runpytest("-p", "no:dsports", "-v")
    off.assert_outcomes(passed=1)


def test_the_plugin_costs_no_core_import_when_unconfigured() -> None:
    loaded = modules_loaded_by("import pytest, pytest_dsports.plugin")
    assert not {m for m in loaded if m.startswith("check_digitalsentry")}, loaded


def test_it_can_be_turned_off_with_p_no_dsports(pytester: pytest.Pytester, simulate: Simulate) -> None:
    inventory(pytester, simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0)))
    result = pytester.runpytest("-p", "no:dsports", "--dsports-inventory", "sites.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # the option itself is gone with the plugin
    result.stderr.fnmatch_lines(["*unrecognized arguments: --dsports-inventory*"])


@pytest.mark.parametrize(
    ("args", "ini", "inventory_text", "message"),
    [
        ([], "", '[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\n[sites.ports]\nvidoe = 1\n',
         "ERROR: dsports: sites.toml:5: sites[0].ports.vidoe: unknown role 'vidoe' (did you mean 'video'?)"),
        ([], "", "[[sites]\n", "ERROR: dsports: sites.toml:1: invalid TOML: *"),
        (["--dsports-timeout", "soon"], "", None, "ERROR: --dsports-timeout: expected seconds > 0 and <= 3600, got 'soon'"),
        (["--dsports-site", "hq"], "", None, "ERROR: --dsports-site needs an inventory*"),
        ([], "[pytest]\ndsports_files = nowhere/*.toml\n", None, "ERROR: dsports_files: no file matches 'nowhere/*.toml'*"),
        (["--dsports-host", ""], "", None, "ERROR: --dsports-host '': no host given: HOST [KEY=VALUE...] (several DS "
                                           "servers: hosts=HOST,HOST)"),
        (["--dsports-host", "a b"], "", None, "ERROR: --dsports-host 'a b': hosts: 'a' and 'b': one host, then "
                                              "KEY=VALUE settings, in HOST [KEY=VALUE...] (several DS servers: "
                                              "hosts=HOST,HOST)"),
        (["--dsports-host", "ds01 ports.vidoe=28772"], "", None,
         "ERROR: --dsports-host 'ds01 ports.vidoe=28772': ports.vidoe: unknown role 'vidoe' (did you mean 'video'?)"),
        (["--dsports-host", "ds01 prots.video=28772"], "", None,
         "ERROR: --dsports-host 'ds01 prots.video=28772': prots: unknown key 'prots' (did you mean 'ports'?)"),
        (["--dsports-host", "ds01 web=maybe"], "", None,
         "ERROR: --dsports-host 'ds01 web=maybe': web: expected true or false, got 'maybe'"),
        (["--dsports-host", "ds01 forbid=3389/tcp,445"], "", None,
         "ERROR: --dsports-host 'ds01 forbid=3389/tcp,445': forbid: expected 'PORT/tcp' or 'PORT/udp', got '445'"),
        (["--dsports-host", "ds01 sql_port=1433 sql_port=1434"], "", None,
         "ERROR: --dsports-host 'ds01 sql_port=1433 sql_port=1434': sql_port: given 2 times ('1433', '1434'): give it once"),
        (["--dsports-host", "ds01 description='Head office"], "", None,
         "ERROR: --dsports-host \"ds01 description='Head office\": No closing quotation"),
        (["--dsports-host", "ds01 roles=web", "--dsports-host", "ds02 name=b web=true roles=web"], "", None,
         "ERROR: --dsports-host 'ds01 roles=web': roles[0]: 'web' is not a port of this site (its settings expect "
         "none: see web, api, audio_clients, forbid)"),
        (["--dsports-host", "ds01 name=hq", "--dsports-host", "ds02 name=HQ"], "", None,
         "ERROR: dsports: site 'HQ' is defined twice (in --dsports-host and --dsports-host)"),
        (["--dsports-host", "ds01", "--dsports-report", "report.pdf"], "", None,
         "ERROR: --dsports-report report.pdf: expected a file ending in .html or .json"),
        (["--dsports-report", "report.html"], "", None, "ERROR: --dsports-report needs sites: *"),
    ],
)
def test_option_and_inventory_errors_stop_the_run_with_one_line(
    pytester: pytest.Pytester, args: list[str], ini: str, inventory_text: str | None, message: str
) -> None:
    if ini:
        pytester.makeini(ini)
    if inventory_text is not None:
        (pytester.path / "sites.toml").write_text(inventory_text)
        args = ["--dsports-inventory", "sites.toml", *args]
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_hooks_adjust_a_site_and_observe_every_port(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0, faults={"diagnostics": "off"}))
    inventory(pytester, sim)
    video = sim.sites[0].ports["video"]
    pytester.makeconftest(f"""
        from check_digitalsentry.model import State

        SEEN = []

        def pytest_dsports_site_loaded(site, config):
            site.severity["diagnostics"] = State.OK      # tolerated here
            site.forbid += (({video}, "tcp"),)           # and the video port must NOT answer

        def pytest_dsports_port_result(site, verdict, config):
            SEEN.append((site.name, verdict.result.role, str(verdict.state)))

        def pytest_sessionfinish(session):
            print("SEEN", sorted(SEEN))
    """)
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "-s")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines([f"FAILED sites.toml::hq::127.0.3.1::forbid[[]{video}/tcp]*"])
    result.stdout.fnmatch_lines(["*SEEN [[]*('hq', 'diagnostics', 'OK')*('hq', 'forbid', 'CRITICAL')*"])


def test_core_plugins_apply_in_pytest_runs_too(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0))
    inventory(pytester, sim)
    pytester.makeconftest("""
        import pytest
        from check_digitalsentry.engine import Outcome
        from check_digitalsentry.hookspecs import hookimpl
        from check_digitalsentry.model import Status

        class Vetoes:
            @hookimpl
            def digitalsentry_probe(self, spec, site):
                if spec.role == "video":
                    def probe(ctx):
                        return Outcome(Status.INVALID, "vetoed by a core plugin")
                        yield
                    return probe

        @pytest.hookimpl(trylast=True)
        def pytest_configure(config):
            from pytest_dsports.plugin import STATE
            config.stash[STATE].hooks.pm.register(Vetoes())
    """)
    result = pytester.runpytest("--dsports-inventory", "sites.toml")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*detail   vetoed by a core plugin"])


def test_the_fixtures(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = two_sites(simulate, branch={"video": "off"})
    inventory(pytester, sim)
    hq = sim.sites[0]
    pytester.makepyfile(f"""
        import pytest

        def test_inventory(dsports_inventory):
            assert [s.name for s in dsports_inventory.sites] == ["hq", "branch"]

        def test_report_is_probed_once(dsports_report):
            first = dsports_report("hq")
            assert dsports_report("HQ") is first
            assert {{r.role for r in first.results}} >= {{"sql", "video", "web"}}

        @pytest.mark.dsports(site="branch")
        def test_marker(dsports_site, dsports_site_report):
            assert dsports_site.name == "branch"
            video = [r for r in dsports_site_report.results if r.role == "video"][0]
            assert str(video.status) == "closed"

        def test_probe_helpers(dsports_probe):
            dsports_probe("127.0.3.1", "video", port={hq.ports['video']}).assert_open().assert_reachable()
            dsports_probe("127.0.3.2", port={sim.sites[1].ports['video']}).assert_closed().assert_unreachable()
            dsports_probe("127.0.3.1", "sql", sql_instance="DIGITALSENTRY",
                          ports={{"sql-browser": {hq.ports['sql-browser']}}}).assert_ok()

        def test_probe_failure_message(dsports_probe):
            dsports_probe("127.0.3.2", "video", port={sim.sites[1].ports['video']}).assert_open()

        def test_simulator(dsports_simulator, dsports_probe):
            site = dsports_simulator(faults={{"video": "tarpit"}})
            assert site.address == "127.0.0.1" and site.ports["video"] > 0
            dsports_probe(site.address, "video", port=site.ports["video"]).assert_open()
            dsports_probe(site.address, "web", port=site.ports["web"]).assert_ok()
    """)
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "-k", "not dsports_port", "-m",
                                "not dsports_port", "-p", "no:randomly")
    result.assert_outcomes(passed=5, failed=1)
    video = sim.sites[1].ports["video"]
    result.stdout.fnmatch_lines([f"*127.0.3.2 video {video}/tcp: expected open, got closed (no answer): connection "
                                 f"refused (TCP reset): nothing listens on TCP {video}; to fix: nothing listens*"])


def test_fixtures_without_an_inventory_fail_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(dsports_inventory):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dsports_inventory: no dsports inventory is configured*"])


def test_a_pathological_inventory_stops_the_run_with_one_line_not_an_internal_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".toml", sites="x = " + "[" * 5000 + "]" * 5000 + "\n")
    result = pytester.runpytest("--dsports-inventory", "sites.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(["ERROR: dsports: sites.toml: invalid TOML: nested too deeply"])


def test_dsports_probe_refuses_what_it_cannot_probe(pytester: pytest.Pytester) -> None:
    """A port, transport, host or timeout that cannot be probed is the test's mistake, said in words --
    never a probe of something else (port 0 "closed", "UDP" probed as TCP, a host cut at its NUL)."""
    pytester.makepyfile("""
        import pytest

        @pytest.mark.parametrize("kw", [dict(port=0), dict(port=70000), dict(port=1, transport="UDP"),
                                        dict(port=1, transport="sctp"), dict(port=1, timeout=float("inf")),
                                        dict(port=1, timeout=0)])
        def test_bad(dsports_probe, kw):
            dsports_probe("127.0.0.1", **kw).assert_closed()

        def test_nul(dsports_probe):
            dsports_probe("127.0.0.1\\x00x", port=1).assert_closed()

        def test_bracketed_v6(dsports_probe):
            dsports_probe("[::1]", port=1, timeout=2).assert_closed()
    """)
    result = pytester.runpytest("-q")
    result.assert_outcomes(failed=7, passed=1)
    result.stdout.fnmatch_lines_random([
        "E * ValueError: dsports_probe: port: expected a port number 1-65535, got 0",
        "E * ValueError: dsports_probe: port: expected a port number 1-65535, got 70000",
        "E * ValueError: dsports_probe: transport: expected 'tcp' or 'udp', got 'UDP'",
        "E * ValueError: dsports_probe: transport: expected 'tcp' or 'udp', got 'sctp'",
        "E * ValueError: dsports_probe: timeout: expected seconds > 0 and <= 3600, got inf",
        "E * ValueError: dsports_probe: timeout: expected seconds > 0 and <= 3600, got 0",
        "E * ValueError: dsports_probe: host: host name contains a space or a control character*",
    ])


def test_last_failed_reruns_the_failed_ports(pytester: pytest.Pytester) -> None:
    """``--lf`` after a failed handover runs the failed port tests again (pytest 9.2 parses node ids:
    ``video[18772/tcp]`` must be a name and its params, as a parametrized test's, to match)."""
    pytester.makefile(".toml", s='[[sites]]\nname = "s"\nhosts = ["127.0.0.1"]\naudio_clients = 0\n'
                                 '[sites.ports]\nsql-browser = 9\nvideo = 9\ndiagnostics = 9\n')
    pytester.makepyfile("def test_a():\n    assert 0\n")
    first = pytester.runpytest("--dsports-inventory", "s.toml", "--dsports-timeout", "1", "-p", "cacheprovider")
    first.assert_outcomes(failed=5)
    pytester.makepyfile("def test_a():\n    assert 1\n")  # the Python test is fixed, the ports are not
    again = pytester.runpytest("--dsports-inventory", "s.toml", "--dsports-timeout", "1", "--lf",
                               "-p", "cacheprovider")
    again.assert_outcomes(failed=4, passed=1)
    again.stdout.fnmatch_lines(["FAILED s.toml::s::127.0.0.1::video[[]9/tcp[]]*"])
