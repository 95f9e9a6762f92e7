"""check_digitalsentry, the console script, run in a subprocess against simulated DS sites."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import pytest
from support import CheckRun, check_args, plugin_env

from check_digitalsentry import __version__
from check_digitalsentry.simulator import SimSite, Simulator

Simulate = Callable[..., Simulator]
Check = Callable[..., CheckRun]

REACHABILITY = {"sql_browser", "sql", "video", "diagnostics", "web", "api_system", "api_playback", "api_camera"}


def test_a_healthy_site_is_ok_and_says_what_was_checked(simulate: Simulate, check: Check) -> None:
    sim = simulate()
    run = check(*check_args(sim), "-t", "5")
    assert run.code == 0, run
    site = sim.sites[0]
    assert run.first == (f"DIGITALSENTRY OK - 8 ports as expected on 127.0.0.1; SQL Server 2019 15.0.2000.0 "
                         f"(instance DIGITALSENTRY on {site.sql_port}/tcp); proved on this machine itself "
                         f"(loopback): no network in between")
    assert len(run.lines) == 1
    labels = set(run.perfdata)
    assert labels == REACHABILITY | {f"{label}_time" for label in REACHABILITY} | {"failing"}
    assert run.perfdata["video"] == "1;;1:;0;1"
    assert run.perfdata["diagnostics"] == "1;1:;;0;1"  # a warning role warns below 1
    assert run.perfdata["failing"] == "0;;;0;8"
    time, maximum = re.fullmatch(r"(0\.\d{6})s;;;0;([\d.]+)", run.perfdata["video_time"]).groups()  # type: ignore[union-attr]
    assert 4 < float(maximum) < 5 and float(time) < float(maximum)  # the time the probes had: -t less the margin


def test_perfdata_is_fixed_point_and_never_u(simulate: Simulate, check: Check) -> None:
    sim = simulate(faults={"video": "off", "sql-browser": "silent"})
    run = check(*check_args(sim), "-t", "1", "-w", "0.5", "-c", "0.9")
    for label, value in run.perfdata.items():
        number = value.split(";")[0].rstrip("s")
        assert re.fullmatch(r"\d+(\.\d+)?", number), (label, value)
    assert run.perfdata["sql_browser"].startswith("0;")


def test_reachability_labels_are_the_same_whether_ports_are_up_or_down(simulate: Simulate, check: Check) -> None:
    healthy = check(*check_args(simulate()), "-t", "3")
    broken = check(*check_args(simulate(faults={"video": "off", "web": "off", "sql-browser": "off"})), "-t", "3")
    assert broken.code == 2
    reach_ok = {k for k in healthy.perfdata if not k.endswith("_time")}
    reach_bad = {k for k in broken.perfdata if not k.endswith("_time")}
    assert reach_ok == reach_bad
    assert broken.perfdata["video"].startswith("0;") and healthy.perfdata["video"].startswith("1;")
    assert "video_time" not in broken.perfdata  # no time where none was measured (never 'U')


@pytest.mark.parametrize(
    ("role", "fault", "code", "fragment"),
    [
        ("sql-browser", "off", 2, "sql-browser {sql-browser}/udp closed: ICMP port unreachable"),
        ("sql-browser", "silent", 2, "sql-browser {sql-browser}/udp open/filtered: no reply from the SQL Server"),
        ("sql-browser", "garbage", 2, "sql-browser {sql-browser}/udp invalid: not a SQL Server Browser reply"),
        ("sql-browser", "truncated", 2, "sql-browser {sql-browser}/udp invalid: not a SQL Server Browser reply"),
        ("sql-browser", "wrong-instance", 2,
         "sql-browser {sql-browser}/udp invalid: instance DIGITALSENTRY not found; the Browser lists DSOTHER"),
        ("sql-browser", "no-tcp", 2,
         "sql-browser {sql-browser}/udp invalid: instance DIGITALSENTRY has no TCP port"),
        ("sql-browser", "several", 0, "ports as expected"),
        ("sql", "off", 2, "sql {sql}/tcp closed: the SQL Server Browser names {sql} but it refuses connections"),
        ("sql", "garbage", 2, "sql {sql}/tcp invalid: not a TDS PRELOGIN reply"),
        ("sql", "tarpit", 2, "sql {sql}/tcp invalid: TCP connection accepted"),
        ("sql", "reset", 2, "sql {sql}/tcp invalid: "),  # reset before the reply (when depends on timing)
        ("sql", "strict", 0, "ports as expected"),
        ("sql", "other-instance", 2, "sql {sql}/tcp invalid: TCP {sql} reaches a SQL Server that is not instance "
                                     "DIGITALSENTRY (SQL Server 2019 15.0.2000.0, PRELOGIN INSTOPT 1): check "
                                     "where NAT forwards TCP {sql}"),
        ("video", "off", 2, "video {video}/tcp closed: connection refused"),
        ("video", "tarpit", 0, "ports as expected"),  # connect only: a tarpit completes the handshake
        ("video", "reset", 2, "video {video}/tcp invalid: the TCP handshake completed, then the connection "
                              "was reset at once"),
        ("diagnostics", "off", 1, "diagnostics {diagnostics}/tcp closed"),
        ("diagnostics", "tarpit", 0, "ports as expected"),
        ("web", "off", 2, "web {web}/tcp closed"),
        ("web", "tarpit", 2, "web {web}/tcp invalid: TCP connection accepted, but no TLS handshake reply"),
        ("web", "reset", 2, "web {web}/tcp invalid"),
        ("api-system", "off", 2, "api-system {api-system}/tcp closed"),
        ("api-playback", "reset", 2, "api-playback {api-playback}/tcp invalid: the TCP handshake completed"),
        ("api-camera", "tarpit", 0, "ports as expected"),
    ],
)
def test_each_simulator_fault_gives_its_state_and_says_why(
    simulate: Simulate, check: Check, role: str, fault: str, code: int, fragment: str
) -> None:
    sim = simulate(faults={role: fault})
    run = check(*check_args(sim), "-t", "2.5")
    ports = {**sim.sites[0].ports, "sql": sim.sites[0].sql_port}
    assert run.code == code, run
    state = ["OK", "WARNING", "CRITICAL"][code]
    assert run.first.startswith(f"DIGITALSENTRY {state} - ")
    assert fragment.format(**ports) in run.first
    assert set(run.perfdata) >= {"sql_browser", "video", "diagnostics", "web", "failing"}
    assert run.perfdata["failing"].startswith(f"{0 if code == 0 else 1 + (role == 'sql-browser')};")


def test_a_filtered_sql_port_named_by_the_browser_says_which_port_to_forward(
    simulate: Simulate, check: Check
) -> None:
    # The Browser names a port whose accept queue is full, so its SYNs are dropped: filtered.
    import socket
    import threading
    import time

    from check_digitalsentry.protocols import ssrp

    sim = simulate()
    with socket.socket() as blocked, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as browser:
        blocked.bind(("127.0.0.1", 0))
        blocked.listen(0)
        port = blocked.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        for f in fillers:
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
        browser.bind(("127.0.0.1", 0))
        browser.settimeout(5)
        reply = ssrp.build_response([ssrp.Instance("DS01", "DIGITALSENTRY", tcp_port=port)])

        def answer() -> None:
            try:
                _, client = browser.recvfrom(1024)
                browser.sendto(reply, client)
            except OSError:
                pass

        responder = threading.Thread(target=answer)
        responder.start()
        time.sleep(0.1)
        args = check_args(sim)
        where = args.index(f"sql-browser={sim.sites[0].ports['sql-browser']}")
        del args[where - 1:where + 1]  # "--port sql-browser=N": our own Browser takes its place
        try:
            run = check(*args, "--port", f"sql-browser={browser.getsockname()[1]}", "-t", "1.5")
        finally:
            responder.join()
            for f in fillers:
                f.close()
    assert run.code == 2, run
    assert (f"sql {port}/tcp filtered: the SQL Server Browser names {port} but it does not answer "
            f"(no answer to the TCP handshake within") in run.first
    assert run.first.endswith(f"— forward TCP {port}")


def test_every_failing_port_is_named_not_only_the_first(simulate: Simulate, check: Check) -> None:
    sim = simulate(faults={"video": "off", "diagnostics": "off", "web": "off"})
    run = check(*check_args(sim), "-t", "2")
    assert run.code == 2
    for role in ("video", "diagnostics", "web"):
        assert f"{role} {sim.sites[0].ports[role]}/tcp closed" in run.first
    assert run.perfdata["failing"].startswith("3;")


def test_a_slow_answer_breaks_the_response_time_thresholds(simulate: Simulate, check: Check) -> None:
    sim = simulate(latency=0.3)
    warn = check(*check_args(sim), "-t", "3", "-w", "0.2", "-c", "1")
    assert warn.code == 1, warn
    assert "sql-browser" in warn.first and "outside the warning range 0.2" in warn.first
    assert warn.perfdata["sql_browser_time"].split(";")[1:3] == ["0.2", "1"]
    crit = check(*check_args(sim), "-t", "3", "-w", "0.1", "-c", "0.2")
    assert crit.code == 2 and "outside the critical range 0.2" in crit.first


def test_audio_is_informational_unless_made_strict(simulate: Simulate, check: Check) -> None:
    """An idle DS server need not listen on its audio ports: closed (a correct forward, nothing bound) and
    silent (a forward, or a router that drops) are both OK, saying what the probe saw and why it proves
    nothing; --severity audio=warning (during a live audio session) makes a closed port a warning again."""
    sim = simulate(SimSite(audio_clients=2, faults={"audio": "off"}))
    run = check(*check_args(sim), "-t", "3", "-v")
    assert run.code == 0, run
    base = sim.sites[0].ports["audio"]
    assert "2 notes (-v)" in run.first
    lines = [line for line in run.lines if line.startswith("audio ")]
    assert len(lines) == 2
    for line, port in zip(lines, (base, base + 1)):
        assert line.startswith(f"audio {port}/udp OK closed: ICMP port unreachable: nothing listens on UDP {port} "), line
        assert (f"[informational: not testable while no audio plays (an idle DS server need not listen on UDP {port}); "
                f"to test it, run with --severity audio=warning during a live session]") in line
    assert run.perfdata[f"audio_{base}"] == "0;;;0;1"  # raw reachability, no threshold
    strict = check(*check_args(sim), "-t", "3", "--severity", "audio=warning")
    assert strict.code == 1, strict
    assert f"audio {base}/udp closed: ICMP port unreachable" in strict.first
    quiet = simulate(SimSite(name="quiet", audio_clients=1))
    ok = check(*check_args(quiet), "-t", "3", "-v")
    assert ok.code == 0
    assert "1 note (-v)" in ok.first
    [line] = [line for line in ok.lines if line.startswith("audio ")]
    assert "OK open/filtered: no reply and no ICMP error" in line and "not testable while no audio plays" in line
    strict_quiet = check(*check_args(quiet), "-t", "3", "-v", "--severity", "audio=warning")
    assert strict_quiet.code == 0  # silence proves nothing either way, even during a live session
    [line] = [line for line in strict_quiet.lines if line.startswith("audio ")]
    assert "silence proves nothing either way" in line and "not testable" not in line


def test_verbose_output_has_one_line_per_port_and_the_configuration(simulate: Simulate, check: Check) -> None:
    sim = simulate()
    one = check(*check_args(sim), "-t", "3", "-v")
    port_lines = [line for line in one.lines[1:] if not line.startswith("|")]
    assert len(port_lines) == 9
    assert port_lines[0].startswith(f"sql-browser {sim.sites[0].ports['sql-browser']}/udp OK open in ")
    assert port_lines[-1] == ("vantage OK: 127.0.0.1 (loopback, this machine) from 127.0.0.1 (loopback): proved on "
                              "this machine itself (loopback): no network in between")
    assert one.lines[-1].startswith("| ")  # perfdata moves to the end with long output
    two = check(*check_args(sim), "-t", "3", "-vv")
    assert any(line.startswith("site cli: hosts 127.0.0.1; instance DIGITALSENTRY") for line in two.lines)


def test_json_output_is_one_document_with_every_port(simulate: Simulate, check: Check) -> None:
    sim = simulate(faults={"diagnostics": "off"})
    run = check(*check_args(sim), "-t", "3", "--format", "json")
    assert run.code == 1
    doc = json.loads(run.stdout)
    assert doc["state"] == "WARNING" and doc["exit_code"] == 1 and doc["version"] == __version__
    [site] = doc["sites"]
    assert site["name"] == "cli" and site["hosts"] == ["127.0.0.1"] and site["state"] == "WARNING"
    by_role = {p["role"]: p for p in site["ports"]}
    assert set(by_role) == {"sql-browser", "sql", "video", "diagnostics", "web", "api-system", "api-playback",
                            "api-camera"}
    assert by_role["diagnostics"]["status"] == "closed" and by_role["diagnostics"]["state"] == "WARNING"
    # PRELOGIN's version (sub-build 0 as real servers send it), not the Browser's 15.0.2000.5; confirmed
    assert by_role["sql"]["facts"]["sql_version"] == "15.0.2000.0"
    assert by_role["sql"]["facts"]["sql_instance_confirmed"] is True
    assert by_role["sql"]["facts"]["sql_encryption"] == "ENCRYPT_OFF"
    assert by_role["sql"]["port"] == sim.sites[0].sql_port
    assert by_role["web"]["facts"]["tls_subject"] == "CN=ds-simulator.invalid"
    assert set(by_role["video"]) == {"host", "address", "source", "role", "port", "transport", "forbidden", "status",
                                     "state", "seconds", "detail", "reason", "note", "advice", "customer_advice",
                                     "not_proved", "not_testable", "facts"}
    assert by_role["video"]["source"] == "127.0.0.1" and by_role["video"]["advice"] == ""
    assert by_role["diagnostics"]["advice"].startswith("nothing listens on TCP")
    assert by_role["diagnostics"]["customer_advice"].startswith("check that the Digital Sentry diagnostics service runs")
    assert "run" not in doc and site["description"] == "" and site["sources"] == ["127.0.0.1"]
    assert site["reached_from"] is None
    assert site["vantage"] == {
        "reached_from": None, "state": "OK", "proved": "on this machine itself (loopback): no network in between",
        "reason": "", "advice": "", "customer_advice": "",
        "addresses": [{"host": "127.0.0.1", "address": "127.0.0.1", "address_kind": "loopback",
                       "on_link": True, "local_network": "127.0.0.0/8", "source": "127.0.0.1",
                       "source_kind": "loopback",
                       "path": "here", "proved": "on this machine itself (loopback): no network in between"}]}


def test_openmetrics_output_parses_and_has_no_timestamps(simulate: Simulate, check: Check) -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    sim = simulate(faults={"video": "off"})
    run = check(*check_args(sim), "-t", "3", "--format", "openmetrics")
    assert run.code == 2
    families = {f.name: f for f in text_string_to_metric_families(run.stdout)}
    assert {"digitalsentry_port_up", "digitalsentry_port_response_seconds", "digitalsentry_port_state",
            "digitalsentry_site_state", "digitalsentry_last_run_timestamp_seconds"} <= set(families)
    up = {s.labels["role"]: s for s in families["digitalsentry_port_up"].samples}
    assert up["video"].value == 0 and up["sql"].value == 1
    assert up["video"].labels == {"site": "cli", "server": "127.0.0.1", "role": "video",
                                  "port": str(sim.sites[0].ports["video"]), "transport": "tcp"}
    assert all(s.timestamp is None for f in families.values() for s in f.samples)


def test_output_file_is_written_atomically_and_stdout_keeps_the_status(
    simulate: Simulate, check: Check, tmp_path: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    target = tmp_path / "ds.prom"
    sim = simulate()
    run = check(*check_args(sim), "-t", "3", "--format", "openmetrics", "--output", str(target))
    assert run.code == 0
    assert run.first.startswith("DIGITALSENTRY OK - ")
    names = {f.name for f in text_string_to_metric_families(target.read_text())}  # Prometheus text format
    assert "digitalsentry_port_up" in names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.prom"]  # no temporary file left behind
    bad = check(*check_args(sim), "--output", str(tmp_path / "missing-dir" / "x.prom"))
    assert bad.code == 3 and "--output" in bad.first


def test_quiet_prints_nothing_when_ok_and_everything_when_not(simulate: Simulate, check: Check) -> None:
    ok = check(*check_args(simulate()), "-t", "3", "--quiet")
    assert (ok.code, ok.stdout, ok.stderr) == (0, "", "")
    sim = simulate(faults={"video": "off"})
    bad = check(*check_args(sim), "-t", "3", "--quiet")
    assert bad.code == 2
    assert bad.stdout.startswith("DIGITALSENTRY CRITICAL - video ") and bad.stderr == "", bad
    loud = check(*check_args(sim), "-t", "3", "-v")
    # a mail for people: the status line and a line per port, as -v, without the perfdata (for graphs)
    assert loud.lines[-1].startswith("| ") and " video=0;" in loud.lines[-1] and "|" not in bad.stdout, bad.stdout
    assert [line.split(" ")[:4] for line in bad.lines] == [line.split(" ")[:4] for line in loud.lines[:-1]]
    assert len(bad.lines) == 10, bad.lines  # the status line, 8 ports and what was proved
    assert bad.lines[-1].startswith("vantage OK: 127.0.0.1 (loopback, this machine)"), bad.lines


def test_inventory_mode_checks_several_sites_at_once(simulate: Simulate, check: Check, tmp_path: Path) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.2.1", audio_clients=0),
                   SimSite(name="branch", address="127.0.2.2", audio_clients=0, faults={"diagnostics": "off"}))
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    run = check("--inventory", str(inventory), "-t", "5")
    assert run.code == 1, run
    port = sim.sites[1].ports["diagnostics"]
    assert run.first == (f"DIGITALSENTRY WARNING - branch/127.0.2.2 diagnostics {port}/tcp closed: "
                         f"connection refused (TCP reset): nothing listens on TCP {port}")
    assert {"hq__127_0_2_1__video", "branch__127_0_2_2__video", "failing"} <= set(run.perfdata)
    only_hq = check("--inventory", str(inventory), "--site", "HQ", "-t", "5")
    assert only_hq.code == 0
    assert only_hq.first.startswith("DIGITALSENTRY OK - 8 ports as expected on 127.0.2.1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one of -H HOST, --inventory FILE or --demo"),
        (["-H", "h", "--port", "vidoe=1"], "--port vidoe: unknown role 'vidoe' (did you mean 'video'?)"),
        (["-H", "h", "--port", "video"], "--port: expected ROLE=PORT, got 'video'"),
        (["-H", "h", "--port", "video=70000"], "--port video: expected a port number 1-65535, got 70000"),
        (["-H", "h", "--forbid", "3389"], "--forbid: expected 'PORT/tcp' or 'PORT/udp', got '3389'"),
        (["-H", "h", "--severity", "video=fatal"], "--severity video: expected ok, warning or critical"),
        (["-H", "h", "-t", "soon"], "-t/--timeout: expected seconds > 0 and <= 3600, got 'soon'"),
        (["-H", "h", "-w", "1:0"], "-w"),
        (["-H", "h", "--format", "xml"], "--format: expected one of nagios, json, openmetrics, html, got 'xml'"),
        (["-H", "h", "--bogus"], "unrecognized arguments: --bogus"),
        (["-H", "h", "--sql-instance", "S" * 33], "--sql-instance: expected an instance name of 1 to 32"),
        (["-H", "h", "--inventory", "x.toml"], "-H and --inventory cannot be combined"),
        (["-H", "h", "--site", "hq"], "--site needs --inventory"),
        (["-H", ""], "-H"),
        (["-H", "[::1"], "-H/--hostname: expected a host name or an address (an IPv6 address may stand in brackets"),
        (["-H", "[127.0.0.1]"], "expected a host name or an address (an IPv6 address may stand in brackets"),
        (["-H", "h", "--sql-port", "²"], "--sql-port: expected a port number 1-65535, got '²'"),
        (["-H", "h", "--sql-instance", "Ω"], "--sql-instance: expected an instance name of 1 to 32 characters "
                                            "that the SQL Server Browser can carry"),
        (["-H", "h", "--port", "video=1", "--port", "video=2"], "--port video: given twice (1 and 2)"),
        (["-H", "h", "-t", "1", "-t", "2"], "-t/--timeout: given 2 times ('1', '2'): give it once"),
        (["-H", "h", "--audio-clients", "9999999999"], "--audio-clients: expected a whole number 0-64"),
        (["-H", "h", "--output", ""], "--output '': an empty value (give FILE, or leave the option out)"),
        (["-H", "h", "--format", " "], "--format ' ': an empty value"),
        (["-H", "h", "--inventory", ""], "--inventory '': an empty value"),
        (["--inventory", ""], "--inventory '': an empty value"),
        (["--inventory", "sites.toml", "--site", ""], "--site '': an empty value"),
    ],
)
def test_bad_arguments_are_unknown_with_one_clear_line(check: Check, args: list[str], message: str) -> None:
    run = check(*args)
    assert run.code == 3, run
    assert run.first.startswith("DIGITALSENTRY UNKNOWN - ")
    assert message in run.first
    assert len(run.lines) == 1 and "Traceback" not in run.stdout + run.stderr


def test_a_bad_inventory_is_unknown_and_names_file_line_and_key(check: Check, tmp_path: Path) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text('[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\n[sites.ports]\nvidoe = 1\n')
    run = check("--inventory", str(inventory))
    assert run.code == 3
    assert run.first == (f"DIGITALSENTRY UNKNOWN - {inventory}:5: sites[0].ports.vidoe: unknown role 'vidoe' "
                         f"(did you mean 'video'?)")
    missing = check("--inventory", str(tmp_path / "nope.toml"))
    assert missing.code == 3 and "nope.toml: cannot read" in missing.first
    inventory.write_text('[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\n')
    unknown_site = check("--inventory", str(inventory), "--site", "hx")
    assert unknown_site.code == 3 and "no site 'hx'" in unknown_site.first


def test_help_and_version_exit_unknown_as_the_plugin_guidelines_say(check: Check) -> None:
    version = check("--version")
    assert (version.code, version.stdout) == (3, f"check_digitalsentry {__version__}\n")
    helptext = check("--help")
    assert helptext.code == 3
    assert helptext.stdout.startswith("usage: check_digitalsentry -H HOST")
    for option in ("--sql-instance", "--sql-port", "--web", "--api", "--audio-clients", "--port", "--forbid",
                   "--severity", "--tls-verify", "--format", "--output", "--quiet", "--inventory", "--site",
                   "--demo", "-4", "-6", "-w", "-c", "-t", "-v"):
        assert option in helptext.stdout


def test_the_demo_checks_an_embedded_simulated_site(check: Check) -> None:
    run = check("--demo")
    assert run.code == 0, run
    assert run.first.startswith("DIGITALSENTRY OK - 10 ports as expected on 127.0.0.1; SQL Server 2019")
    assert "demo:   check_digitalsentry -H 127.0.0.1 --port sql-browser=" in run.stderr
    faulty = check("--demo", "--demo-fault", "video=off", "-t", "3")
    assert faulty.code == 2 and "video" in faulty.first and "closed" in faulty.first


def test_forbidden_ports_that_answer_are_critical(simulate: Simulate, check: Check) -> None:
    sim = simulate()
    video = sim.sites[0].ports["video"]
    run = check(*check_args(sim), "-t", "3", "--forbid", f"{video}/tcp", "--forbid", "1/tcp")
    assert run.code == 2
    assert f"forbid {video}/tcp open: reachable but must not be" in run.first
    assert run.perfdata[f"forbid_{video}_tcp"] == "1;;~:0;0;1"
    assert run.perfdata["forbid_1_tcp"] == "0;;~:0;0;1"
    lowered = check(*check_args(sim), "-t", "3", "--forbid", f"{video}/tcp", "--severity", "forbid=warning")
    assert lowered.code == 1


def test_a_static_sql_port_that_differs_from_the_browser_is_said(simulate: Simulate, check: Check) -> None:
    sim = simulate()
    site = sim.sites[0]
    other = site.ports["video"]
    run = check(*check_args(sim), "-t", "3", "--sql-port", str(other), "-v")
    [line] = [line for line in run.lines if line.startswith(f"sql {other}/tcp")]
    assert f"the SQL Server Browser names {site.sql_port}, not {other}" in line


def test_an_unresolvable_host_is_critical_and_said_once(check: Check) -> None:
    host = "a" * 64 + ".invalid"  # a label longer than DNS allows: it never resolves, and asks no server
    run = check("-H", host, "-t", "2", "-v")
    assert run.code == 2
    assert run.first.startswith(f"DIGITALSENTRY CRITICAL - {host} does not resolve: "), run.first
    assert run.first.endswith(" (4 ports not probed: sql-browser, sql, video, diagnostics)"), run.first
    assert run.first.count("does not resolve") == 1, run.first
    assert sum("does not resolve" in line for line in run.lines[1:]) == 4  # -v: one line per port, as ever


def test_each_unresolvable_host_of_an_inventory_is_said_once_beside_the_other_failures(
    simulate: Simulate, check: Check, tmp_path: Path
) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.2.5", audio_clients=0, faults={"video": "off"}))
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    one, two = "b" * 64 + ".invalid", "c" * 64 + ".invalid"
    inventory.write_text(inventory.read_text() + f'\n[[sites]]\nname = "branch"\nhosts = ["{one}", "{two}"]\n'
                         'forbid = ["3389/tcp"]\n')
    run = check("--inventory", str(inventory), "-t", "3")
    assert run.code == 2
    parts = run.first.split(" - ", 1)[1].split("; ")
    unresolved = sorted(part for part in parts if "does not resolve" in part)
    assert len(unresolved) == 2, run.first  # each host once, not once per port
    for host, part in zip((one, two), unresolved):
        assert part.startswith(f"branch/{host} does not resolve: "), part
        assert part.endswith(" (4 ports not probed: sql-browser, sql, video, diagnostics)"), part
    assert any(part.startswith("hq/127.0.2.5 video ") for part in parts), run.first


def test_the_whole_run_ends_inside_the_timeout(simulate: Simulate, check: Check) -> None:
    import time

    sim = simulate(faults={"sql": "tarpit", "web": "tarpit", "sql-browser": "wrong-instance"})
    started = time.monotonic()
    run = check(*check_args(sim), "-t", "1.5")
    wall = time.monotonic() - started
    assert run.code == 2, run
    assert wall <= 1.5 + 0.25, wall  # process start to exit, interpreter included


@pytest.mark.parametrize("args", [
    ("--version",),
    ("-H",),
    ("-H", "127.0.0.1", "--port", "vidoe=1"),
    ("--bogus",),
])
def test_python_m_is_the_console_script(args: tuple[str, ...], check: Check) -> None:
    import subprocess
    import sys

    module = subprocess.run([sys.executable, "-m", "check_digitalsentry", *args], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL, env=plugin_env())
    script = check(*args)
    assert (module.returncode, module.stdout, module.stderr) == (script.code, script.stdout, script.stderr)
    assert module.returncode == 3


def test_python_m_checks_a_site_as_the_console_script_does(simulate: Simulate, check: Check) -> None:
    import subprocess
    import sys

    sim = simulate(faults={"video": "off"})
    module = subprocess.run([sys.executable, "-m", "check_digitalsentry", *check_args(sim), "-t", "3"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=plugin_env())
    script = check(*check_args(sim), "-t", "3")
    assert module.returncode == script.code == 2
    assert module.stdout.split(" | ")[0] == script.first
