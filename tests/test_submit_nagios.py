"""--submit nagios against a real Nagios Core 4: a private nagios4 (tests/test_contrib_nagios.py's) with
passive services for simulated DS sites, the results written by the real console script to its external
command file, and read back from its status.dat. And the two ways a command file fails: no Nagios reading
it, and no such file."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

from support import CheckRun, running
from test_contrib_nagios import Nagios, status_blocks

from check_digitalsentry.simulator import SimSite, Simulator, inventory_toml

FAULTS = {2: {"video": "off"}, 4: {"diagnostics": "off"}}


def test_a_real_nagios4_takes_the_results_from_its_command_file(
    tmp_path: Path, simulate: Callable[..., Simulator], check: Callable[..., CheckRun]
) -> None:
    sim = simulate(*(SimSite(name=f"site-{n}", address=f"127.0.152.{n}", audio_clients=0, ports="high",
                             faults=FAULTS.get(n, {})) for n in range(1, 7)))
    inventory = tmp_path / "sites.toml"
    inventory.write_text(inventory_toml(sim.sites).replace('name = "site-6"\n',
                                                           'name = "site-6"\nicinga_per_role = true\n'))
    nagios = Nagios(tmp_path)
    objects = ["define command {\n    command_name host-up\n    command_line /bin/true\n}\n"
               "define service {\n    name digitalsentry-passive\n    use generic-service\n"
               "    active_checks_enabled 0\n    passive_checks_enabled 1\n    max_check_attempts 1\n"
               "    check_command notify-nobody\n    register 0\n}\n"]
    for site in sim.sites:
        services = [f"digitalsentry-{role}" for role in ("sql-browser", "sql", "video", "diagnostics", "web",
                                                         "api-system", "api-playback", "api-camera")] \
            if site.name == "site-6" else ["digitalsentry"]
        objects.append(f"define host {{\n    use generic-host\n    host_name {site.name}\n    address {site.address}\n"
                       "    max_check_attempts 1\n    check_period 24x7\n    contact_groups admins\n"
                       "    check_command host-up\n}\n")
        objects += [f"define service {{\n    use digitalsentry-passive\n    host_name {site.name}\n"
                    f"    service_description {service}\n}}\n" for service in services]
    sites_cfg = tmp_path / "sites.cfg"
    sites_cfg.write_text("".join(objects))
    nagios.configure(sites_cfg)
    nagios.main.write_text(nagios.main.read_text().replace("check_external_commands=0", "check_external_commands=1"))
    assert nagios.verify().returncode == 0
    command_file = tmp_path / "nagios.cmd"
    with running([nagios.binary, str(nagios.main)], tmp_path / "daemon.out", nagios.log) as daemon:
        daemon.until(command_file.exists, "the command file")
        run = check("--inventory", str(inventory), "--submit", "nagios", "--command-file", str(command_file),
                    "-t", "5")
        assert run.code == 0, run
        assert re.fullmatch(rf"DIGITALSENTRY SUBMIT OK - 13 of 13 results written to Nagios' command file "
                            rf"{command_file} in \d+\.\d\d s; results: 11 OK, 1 WARNING, 1 CRITICAL",
                            run.lines[0]), run

        def all_checked() -> dict[tuple[str, str], dict[str, str]] | None:
            found = {(b["host_name"], b["service_description"]): b
                     for b in status_blocks(nagios.status, "servicestatus") if b.get("has_been_checked") == "1"}
            return found if len(found) == 13 else None

        results = daemon.until(all_checked, "13 passive results in status.dat")
    good = results[("site-1", "digitalsentry")]
    assert good["current_state"] == "0" and good["check_type"] == "1", good  # 1: a passive result
    # Nagios turns ';' in any plugin output (active checks' too) into ':'
    assert good["plugin_output"].startswith("DIGITALSENTRY OK - 8 ports as expected on 127.0.152.1: SQL Server")
    long_output = good["long_plugin_output"].split("\\n")  # status.dat escapes the newlines again
    assert len(long_output) == 9 and long_output[0].startswith("site-1/127.0.152.1 sql-browser 11434/udp OK open")
    assert long_output[-1].startswith("site-1 vantage OK: 127.0.152.1 (loopback, this machine)")
    assert "site_1__127_0_152_1__video=1;;1:;0;1" in good["performance_data"].split()
    bad = results[("site-2", "digitalsentry")]
    assert bad["current_state"] == "2"
    assert bad["plugin_output"].startswith("DIGITALSENTRY CRITICAL - site-2/127.0.152.2 video 18772/tcp closed")
    assert "site_2__127_0_152_2__video=0;;1:;0;1" in bad["performance_data"].split()
    assert results[("site-4", "digitalsentry")]["current_state"] == "1"
    video = results[("site-6", "digitalsentry-video")]
    assert video["current_state"] == "0" and video["plugin_output"] == ("DIGITALSENTRY OK - 1 port as expected on "
                                                                        "127.0.152.6: proved on this machine itself "
                                                                        "(loopback): no network in between")


def test_a_command_file_nobody_reads_or_that_is_missing_is_said_at_once(
    tmp_path: Path, simulate: Callable[..., Simulator], check: Callable[..., CheckRun]
) -> None:
    import os

    sim = simulate(SimSite(name="lone", address="127.0.152.20", audio_clients=0))
    inventory = tmp_path / "sites.toml"
    inventory.write_text(inventory_toml(sim.sites))
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    missing = tmp_path / "missing.cmd"
    for path, code, line in (
            (fifo, 2, f"DIGITALSENTRY SUBMIT CRITICAL - nothing written to Nagios' command file {fifo}: no process "
                      "reads it (Nagios is not running); the sites were not probed"),
            (missing, 3, f"DIGITALSENTRY UNKNOWN - --command-file {missing}: no such file (is Nagios running, with "
                         f"check_external_commands=1 and command_file={missing}?)"),
            (inventory, 3, f"DIGITALSENTRY UNKNOWN - --command-file {inventory}: a regular file, not a FIFO (Nagios "
                           "makes its command_file a named pipe)")):
        started = time.monotonic()
        run = check("--inventory", str(inventory), "--submit", "nagios", "--command-file", str(path), "-t", "5")
        assert run.code == code, run
        assert run.lines == [line], run
        assert time.monotonic() - started < 3  # no waiting: the open fails at once
