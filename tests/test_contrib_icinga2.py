"""contrib/icinga2 proven with the real icinga2 binary: config validation, a foreground daemon that
runs the check against simulated DS sites, and Icinga's own perfdata parser on our perfdata."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest import REPO, need_program
from icinga import Icinga
from support import CheckRun, check_args, running

from check_digitalsentry.simulator import SimSite, Simulator

CONTRIB = REPO / "contrib" / "icinga2"
COMMAND = CONTRIB / "digitalsentry-command.conf"
SERVICES = CONTRIB / "digitalsentry-services.conf"


def host(name: str, address: str, digitalsentry: str) -> str:
    return f'object Host "{name}" {{\n  import "generic-host"\n  address = "{address}"\n' \
           f"  vars.digitalsentry = {{\n{digitalsentry}\n  }}\n}}\n"


def test_the_command_and_the_apply_rule_validate(tmp_path: Path) -> None:
    icinga = Icinga(tmp_path)
    body = host("ds01", "192.0.2.10", '    sql_instance = "SQLEXPRESS"\n    web = true\n'
                '    forbid = [ "3389/tcp", "445/tcp" ]\n    ports = [ "video=28772" ]')
    icinga.conf.write_text(f'{icinga.header()}include "{COMMAND}"\ninclude "{SERVICES}"\n{body}')
    run = icinga.validate()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Instantiated 1 Service." in run.stdout  # the apply rule made exactly the DS service
    # Negative control: the same config without the CheckCommand is rejected.
    icinga.conf.write_text(f'{icinga.header()}include "{SERVICES}"\n{body}')
    broken = icinga.validate()
    assert broken.returncode != 0
    assert "digitalsentry" in broken.stdout + broken.stderr


@pytest.mark.parametrize("conf_d", [True, False], ids=["with conf.d", "without conf.d"])
def test_the_distributed_example_validates_on_the_master(tmp_path: Path, conf_d: bool) -> None:
    """With the templates of the default conf.d beside it (nothing defined twice) and without them (a
    master set up with --disable-confd, the wizard's default): the zones use global-templates only.
    tests/test_icinga2_distributed.py runs it on a master, a satellite and an agent."""
    icinga = Icinga(tmp_path)
    shutil.copy(CONTRIB / "distributed" / "zones.conf", icinga.etc / "zones.conf")
    shutil.copytree(CONTRIB / "distributed" / "zones.d", icinga.etc / "zones.d")
    templates = icinga.etc / "zones.d" / "global-templates"
    (templates / "README.md").unlink()
    shutil.copy(COMMAND, templates)  # as its README tells the user
    shutil.copy(SERVICES, templates)
    header = icinga.header("master.example.com", "master")
    if not conf_d:
        header = "".join(line + "\n" for line in header.splitlines() if "generic-" not in line)
    icinga.conf.write_text(header + 'include "zones.conf"\n')
    run = icinga.validate()
    assert run.returncode == 0, run.stdout + run.stderr
    for count in ("Instantiated 5 Hosts.", "Instantiated 5 Services.", "Instantiated 4 Endpoints.",
                  "Instantiated 6 Zones."):
        assert count in run.stdout, run.stdout


@pytest.mark.slow
def test_a_real_icinga2_daemon_runs_the_check_and_records_state_and_perfdata(
    tmp_path: Path, simulate: Callable[..., Simulator]
) -> None:
    sim = simulate(SimSite(name="good", address="127.0.5.1", audio_clients=0, ports="high"),
                   SimSite(name="bad", address="127.0.5.2", audio_clients=0, ports="high",
                           faults={"video": "off"}))
    icinga = Icinga(tmp_path)
    ports = ", ".join(f'"{role}={port}"' for role, port in sim.sites[0].remapped_ports().items())
    settings = (f'    sql_instance = "DIGITALSENTRY"\n    web = true\n    api = true\n    ports = [ {ports} ]\n'
                '    timeout = 5')
    icinga.conf.write_text(
        f'{icinga.header()}include "{COMMAND}"\ninclude "{SERVICES}"\n'
        'object CheckerComponent "checker" { }\n'
        f'object ExternalCommandListener "command" {{ command_path = "{icinga.pipe}" }}\n'
        + icinga.perfdata_writer()
        + host("ds-good", "127.0.5.1", settings) + host("ds-bad", "127.0.5.2", settings))
    started = time.monotonic()
    with running([icinga.binary, "daemon", *icinga.defines()], tmp_path / "daemon.log") as daemon:
        daemon.until(icinga.pipe.exists, "command pipe")
        now = int(time.time())
        with icinga.pipe.open("w") as pipe:  # check both now instead of at a random point of 5 minutes
            for name in ("ds-good", "ds-bad"):
                pipe.write(f"[{now}] SCHEDULE_FORCED_SVC_CHECK;{name};digitalsentry;{now}\n")

        def both() -> dict[str, dict[str, str]] | None:
            found = {line["HOSTNAME"]: line for line in icinga.records()
                     if line.get("SERVICEDESC") == "digitalsentry"}
            return found if len(found) == 2 else None

        results = daemon.until(both, "check results of both hosts")
        elapsed = time.monotonic() - started
    good, bad = results["ds-good"], results["ds-bad"]
    assert good["SERVICESTATE"] == "OK", good
    assert good["SERVICEOUTPUT"].startswith("DIGITALSENTRY OK - 8 ports as expected on 127.0.5.1")
    assert bad["SERVICESTATE"] == "CRITICAL", bad
    assert bad["SERVICEOUTPUT"].startswith("DIGITALSENTRY CRITICAL - video 18772/tcp closed")
    labels = {item.split("=")[0] for item in good["SERVICEPERFDATA"].split()}
    assert {"sql_browser", "sql", "video", "diagnostics", "web", "api_system", "failing"} <= labels
    assert "video=0;;1:;0;1" in bad["SERVICEPERFDATA"].split()
    print(f"icinga2 end to end: {elapsed:.1f} s")


def test_icinga2_parses_every_perfdata_label_we_emit(
    tmp_path: Path, simulate: Callable[..., Simulator], check: Callable[..., CheckRun]
) -> None:
    binary = need_program("icinga2", "our perfdata is checked with Icinga 2's own parser")
    sim = simulate(SimSite(name="a", address="127.0.5.3", audio_clients=2, faults={"diagnostics": "off"}),
                   SimSite(name="b", address="127.0.5.4", audio_clients=0, faults={"sql-browser": "several"}))
    runs = [check(*check_args(sim, sim.sites[0]), "-t", "3", "--forbid", "3389/tcp", "-w", "0.5", "-c", "1"),
            check(*check_args(sim, sim.sites[1]), "-t", "3")]
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    runs.append(check("--inventory", str(inventory), "-t", "3"))
    tokens = []
    for run in runs:
        assert run.code in (0, 1, 2), run
        tokens += " ".join(line.split("|", 1)[1] for line in run.lines if "|" in line).split()
    assert len(tokens) > 40
    expression = "[" + ", ".join(f'parse_performance_data("{token}")' for token in tokens) + "]"
    parsed = subprocess.run([binary, "console", "-e", expression], capture_output=True, text=True, timeout=60)
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    values = json.loads(parsed.stdout)
    assert len(values) == len(tokens)
    for token, value in zip(tokens, values):
        label, _, rest = token.partition("=")
        assert value["label"] == label.strip("'"), (token, value)
        assert value["value"] == float(rest.split(";")[0].rstrip("s")), (token, value)
        assert value["unit"] == ("seconds" if rest.split(";")[0].endswith("s") else ""), (token, value)


def test_every_monitoring_option_of_the_check_has_an_argument_in_the_command() -> None:
    """The CheckCommand keeps up with the check: a new option needs its argument (or a reason here)."""
    import re

    from check_digitalsentry.cli.options import OPTIONS

    text = (CONTRIB / "digitalsentry-command.conf").read_text()
    keys = set(re.findall(r'^    "([^"]+)" = \{', text, re.MULTILINE))
    not_for_monitoring = {"--demo", "--demo-fault", "--help", "--version", "--quiet", "--icinga2-objects",
                          # --submit runs from cron or systemd, posting to Icinga: never a CheckCommand's option
                          "--submit", "--api-url", "--api-user", "--api-password-file", "--api-ca", "--api-cert",
                          "--api-key", "--ttl", "--check-source", "--command-file",
                          # --watch is a person's live view at a terminal: never a CheckCommand's option
                          "--watch", "--interval", "--watch-until", "--watch-for", "--serve"}
    for option in OPTIONS:
        if not set(option.flags) & not_for_monitoring:
            assert set(option.flags) & keys, f"{option.name} has no argument in digitalsentry-command.conf"


def test_the_command_names_the_formats_of_the_registry() -> None:
    """The --format argument's description lists what --output can be written as: the registry's formats."""
    import re

    from check_digitalsentry.outputs import FORMATS as BUILTIN

    text = (CONTRIB / "digitalsentry-command.conf").read_text()
    block = re.search(r'^    "--format" = \{(.*?)^    \}', text, re.MULTILINE | re.DOTALL)
    assert block is not None
    description = re.search(r'description = "format of --output: (.*?) \(with --output', block.group(1))
    assert description is not None, block.group(1)
    names = [f.name for f in BUILTIN]
    assert description.group(1) == f"{', '.join(names[:-1])} or {names[-1]}", \
        f"contrib/icinga2/digitalsentry-command.conf: describe --format as {', '.join(names)}"
