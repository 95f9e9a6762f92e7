"""One source of truth for Icinga: ``--icinga2-objects`` turns the inventory into Icinga 2 Hosts and
Services that the real ``icinga2`` accepts and runs (a service per site, or per port), and the hand-written
way (a Host naming its site) does the same through contrib's apply rules."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest import REPO, script
from icinga import Icinga
from support import CheckRun, plugin_env, running

from check_digitalsentry.simulator import SimSite, Simulator

CONTRIB = REPO / "contrib" / "icinga2"
COMMAND = CONTRIB / "digitalsentry-command.conf"
SERVICES = CONTRIB / "digitalsentry-services.conf"
Check = Callable[..., CheckRun]

HOSTILE = '''
[[sites]]
name = "hq"
hosts = ["ds01.example.com", "2001:db8::1"]
description = "Head \\"office\\" \\\\ $HOSTNAME$ */ end\\nsecond\\tline"
customer = "Example ${x} Ltd"
location = "Köln"
web = true

[[sites]]
name = "branch-1"
hosts = ["2001:db8::10"]
icinga_host = "Branch 1 (Köln) \\"quoted\\""
icinga_service = "ds ports"
icinga_per_role = true
forbid = ["3389/tcp"]
audio_clients = 2
'''


def objects(check: Check, inventory: Path, *args: str) -> str:
    run = check("--inventory", str(inventory), "--icinga2-objects", *args)
    assert run.code == 0, run
    return run.stdout


def validate(tmp_path: Path, config: str) -> str:
    icinga = Icinga(tmp_path)
    icinga.conf.write_text(f'{icinga.header()}include "{COMMAND}"\ninclude "{SERVICES}"\n{config}')
    run = icinga.validate()
    assert run.returncode == 0, run.stdout + run.stderr + config
    return run.stdout


def test_the_objects_of_an_inventory_are_accepted_by_icinga2(tmp_path: Path, check: Check) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(HOSTILE, encoding="utf-8")
    config = objects(check, inventory)
    out = validate(tmp_path, config)
    # hq: one service for the site; branch-1: one per role (sql-browser, sql, video, diagnostics, audio, forbid)
    assert "Instantiated 2 Hosts." in out and "Instantiated 7 Services." in out, out
    assert 'object Service "ds ports-audio" {' in config and 'object Service "digitalsentry" {' in config
    assert 'address6 = "2001:db8::10"' in config and 'address = "ds01.example.com"' in config
    assert f'vars.digitalsentry_inventory = "{inventory}"' in config


def test_icinga_reads_back_exactly_what_the_inventory_says(tmp_path: Path, check: Check) -> None:
    """Icinga's own parser, asked for the values: quotes, backslashes, newlines, '$' and a comment end in
    the inventory's text come back as written."""
    inventory = tmp_path / "sites.toml"
    inventory.write_text(HOSTILE, encoding="utf-8")
    config = objects(check, inventory)
    icinga = Icinga(tmp_path)
    script = tmp_path / "read.conf"
    script.write_text(config.replace("object Host", "h = {} //").split("\n\n")[0])  # the comment parses
    hq = config.split("\n\n")[1]
    fields = dict(line.strip().split(" = ", 1) for line in hq.splitlines()[2:-1])
    expression = "[" + ", ".join(fields[key] for key in ("notes", "vars.digitalsentry_customer",
                                                          "vars.digitalsentry_location")) + "]"
    parsed = subprocess.run([icinga.binary, "console", "-e", expression], capture_output=True, text=True,
                            timeout=60)
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    import json

    # custom variables hold '$' doubled: Icinga resolves macros there and '$$' is its literal '$'
    assert json.loads(parsed.stdout) == ['Head "office" \\ $HOSTNAME$ */ end\nsecond\tline', "Example $${x} Ltd",
                                         "Köln"]


def test_role_selection_and_site_selection(tmp_path: Path, check: Check) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(HOSTILE, encoding="utf-8")
    config = objects(check, inventory, "--site", "hq", "--role", "video", "--role", "sql")
    assert config.count("object Host ") == 1
    assert [line for line in config.splitlines() if line.startswith("object Service")] == [
        'object Service "digitalsentry-sql" {', 'object Service "digitalsentry-video" {']
    assert "Instantiated 2 Services." in validate(tmp_path, config)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-H", "ds01", "--icinga2-objects"], "--icinga2-objects needs --inventory"),
        (["--demo", "--icinga2-objects"], "--icinga2-objects needs --inventory"),
        (["--icinga2-objects"], "--icinga2-objects needs --inventory"),
        (["--inventory", "{inventory}", "--icinga2-objects", "--role", "web", "--site", "branch-1"],
         "--role web: site branch-1 has no web port (its settings expect none)"),
        (["--inventory", "{inventory}", "--icinga2-objects", "--role", "audio", "--site", "hq"],
         "--role audio: site hq has no audio port"),
        (["--inventory", "{inventory}", "--icinga2-objects", "--site", "nowhere"], "nowhere"),
        (["--inventory", "{inventory}", "--icinga2-objects", "--format", "json"], "--format has no effect"),
        (["--inventory", "{inventory}", "--icinga2-objects", "-t", "3"], "-t/--timeout has no effect"),
        (["--inventory", "{inventory}", "--icinga2-objects", "--quiet"], "--quiet has no effect"),
        (["--inventory", "{inventory}", "--icinga2-obj", "-t", "3"], "-t/--timeout has no effect"),  # abbreviated
        (["--icinga", "--inventory", "{inventory}", "--site", "nowhere"], "nowhere"),
        (["--inventory", "{inventory}", "--icinga2-objects", "--output", "{inventory}"],
         "that is the inventory (--inventory"),
        (["--inventory", "{inventory}", "--icinga2-objects", "-4"], "-4/-6 has no effect"),
        (["--inventory", "{inventory}", "--icinga2-objects", "-w", "1"],
         "-w cannot be combined with --icinga2-objects: set them in the inventory"),
        (["--inventory", "{inventory}", "--icinga2-objects", "--cert-days", "30"],
         "--cert-days cannot be combined with --icinga2-objects"),
    ],
)
def test_mistakes_are_one_line_on_stderr_and_unknown(tmp_path: Path, check: Check, args: list[str],
                                                     message: str) -> None:
    """Objects go to stdout, mistakes to stderr: ``> objects.conf`` never catches an error line."""
    inventory = tmp_path / "sites.toml"
    inventory.write_text(HOSTILE, encoding="utf-8")
    run = check(*(arg.format(inventory=inventory) for arg in args))
    assert run.code == 3 and run.stdout == "", run
    assert run.stderr.startswith("DIGITALSENTRY UNKNOWN - ") and message in run.stderr, run
    assert len(run.stderr.splitlines()) == 1, run


def test_a_role_some_sites_lack_gives_services_where_it_exists(tmp_path: Path, check: Check) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(HOSTILE, encoding="utf-8")  # hq has web, branch-1 has not
    config = objects(check, inventory, "--role", "web", "--role", "video")
    assert 'object Service "digitalsentry-web" {\n  host_name = "hq"' in config
    assert [line for line in config.splitlines() if line.startswith("object Service")] == [
        'object Service "digitalsentry-video" {', 'object Service "digitalsentry-web" {',
        'object Service "ds ports-video" {'], config
    assert "Instantiated 3 Services." in validate(tmp_path, config)
    only_web = objects(check, inventory, "--role", "web")
    assert [line for line in only_web.splitlines() if line.startswith("object ")] == [
        'object Host "hq" {', 'object Service "digitalsentry-web" {'], only_web  # no Host without services
    mixed = check("--inventory", str(inventory), "--role", "audio", "--role", "forbid", "--icinga2-objects",
                  "--site", "hq")
    assert mixed.code == 3 and "--role audio: site hq has no audio port" in mixed.stderr, mixed


def test_output_replaces_the_file_atomically_and_a_failing_stdout_is_unknown(tmp_path: Path, check: Check) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(HOSTILE, encoding="utf-8")
    target = tmp_path / "digitalsentry-sites.conf"
    target.write_text("/* the objects of yesterday */\n")
    run = check("--inventory", str(inventory), "--icinga2-objects", "--output", str(target))
    assert run.code == 0 and run.stdout == "" and run.stderr == "", run
    written = target.read_text(encoding="utf-8")
    assert written.split("\n", 2)[2] == objects(check, inventory).split("\n", 2)[2]  # line 2: the command
    assert "/* the objects of yesterday */" not in written
    broken = tmp_path / "broken.toml"
    broken.write_text('[[sites]]\nname = "x"\nhosts = ["h"]\nports.vidoe = 1\n')
    failed = check("--inventory", str(broken), "--icinga2-objects", "--output", str(target))
    assert failed.code == 3 and "vidoe" in failed.stderr and failed.stdout == "", failed
    assert target.read_text(encoding="utf-8") == written  # the old objects stay
    full = subprocess.run(f"{shlex.quote(script('check_digitalsentry'))} --inventory {shlex.quote(str(inventory))} "
                          "--icinga2-objects > /dev/full", shell=True, capture_output=True, text=True, timeout=60,
                          env=plugin_env())
    assert full.returncode == 3 and "stdout could not take the objects" in full.stderr, full


def test_the_objects_are_utf8_in_any_locale(tmp_path: Path, check: Check) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text('[[sites]]\nname = "koeln"\nhosts = ["ds01"]\nicinga_host = "Köln Ω — Süd"\n',
                         encoding="utf-8")
    for encoding in ("ascii", "latin-1"):
        run = subprocess.run([script("check_digitalsentry"), "--inventory", str(inventory), "--icinga2-objects"],
                             capture_output=True, timeout=60, env=plugin_env({"PYTHONIOENCODING": encoding}))
        assert run.returncode == 0, run
        config = run.stdout.decode("utf-8")
        assert 'object Host "Köln Ω — Süd" {' in config
    assert "Instantiated 1 Host." in validate(tmp_path, config)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('icinga_host = "a!b"', "sites[0].icinga_host: expected an Icinga object name (printable, no '!'"),
        ('icinga_service = ""', "sites[0].icinga_service: expected an Icinga object name"),
        ("icinga_per_role = 1", "sites[0].icinga_per_role: expected true or false, got 1"),
        ('roles = ["vidoe"]', "sites[0].roles[0]: unknown role 'vidoe' (did you mean 'video'?)"),
        ('roles = "video"', "sites[0].roles: expected a list of roles"),
    ],
)
def test_icinga_settings_in_the_inventory_are_checked(tmp_path: Path, check: Check, line: str,
                                                      message: str) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(f'[[sites]]\nname = "hq"\nhosts = ["ds01"]\n{line}\n', encoding="utf-8")
    run = check("--inventory", str(inventory), "--icinga2-objects")
    assert run.code == 3 and run.stderr.startswith(f"DIGITALSENTRY UNKNOWN - {inventory}:4: {message}"), run


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[sites]]\nname = "a"\nhosts = ["h1"]\nicinga_host = "dup"\n'
         '[[sites]]\nname = "b"\nhosts = ["h2"]\nicinga_host = "dup"\n',
         ":8: sites[1].icinga_host: the Icinga host 'dup' is site 'a''s already (sites[0]): give each site an "
         "icinga_host of its own"),
        ('[[sites]]\nname = "a"\nhosts = ["h1"]\nicinga_host = "X"\n[[sites]]\nname = "X"\nhosts = ["h2"]\n',
         ":6: sites[1].name: the Icinga host 'X' is site 'a''s already"),
        ('[[sites]]\nname = "hq-1"\nhosts = ["h1"]\n[[sites]]\nname = "hq_1"\nhosts = ["h2"]\n',
         ":5: sites[1].name: sites 'hq-1' (sites[0]) and 'hq_1' would share the perfdata label part 'hq_1': "
         "rename one"),
        ('[[sites]]\nname = "a"\nhosts = ["ds-1.example.com", "ds_1.example.com"]\n',
         ":3: sites[0].hosts[1]: hosts 'ds-1.example.com' (hosts[0]) and 'ds_1.example.com' would share the "
         "perfdata label part 'ds_1_example_com'"),
        ('[[sites]]\nname = "a"\nhosts = ["h1"]\nroles = ["video", "audio"]\n',
         ":4: sites[0].roles[1]: 'audio' is not a port of this site (its settings expect none"),
        ('[defaults]\nroles = ["web"]\n[[sites]]\nname = "a"\nhosts = ["h1"]\n',
         ":2: defaults.roles[0]: 'web' is not a port of site 'a' (sites[0])"),
    ],
)
def test_sites_that_would_collide_in_icinga_or_in_perfdata_are_refused(tmp_path: Path, check: Check, text: str,
                                                                       message: str) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(text, encoding="utf-8")
    for args in ((), ("--icinga2-objects",)):
        run = check("--inventory", str(inventory), *args)
        line = run.stderr if args else run.stdout
        assert run.code == 3 and line.startswith(f"DIGITALSENTRY UNKNOWN - {inventory}") and message in line, run


def test_the_hand_written_way_gives_a_service_per_site_or_per_port(tmp_path: Path) -> None:
    hosts = '''
object Host "hq" {
  import "generic-host"
  address = "ds01.example.com"
  vars.digitalsentry = { inventory = "/etc/digitalsentry/sites.toml", site = "hq" }
}
object Host "branch-1" {
  import "generic-host"
  address = "192.0.2.10"
  vars.digitalsentry = {
    inventory = "/etc/digitalsentry/sites.toml"
    site = "branch-1"
    per_role = [ "sql-browser", "sql", "video", "diagnostics" ]
  }
}
'''
    assert "Instantiated 5 Services." in validate(tmp_path, hosts)


def _simulated_inventory(sim: Simulator, path: Path) -> None:
    text = sim.inventory_toml()
    text = text.replace('name = "branch"\n', 'name = "branch"\nicinga_per_role = true\n')
    text = text.replace('name = "shop"\n', 'name = "shop"\nicinga_host = "Shop (Main St)"\nforbid = ["9/tcp"]\n')
    path.write_text(text.replace("[[sites]]\n", "[[sites]]\ntimeout = 5\n"), encoding="utf-8")


@pytest.mark.slow
def test_a_real_icinga2_runs_the_generated_services_per_site_and_per_port(
    tmp_path: Path, simulate: Callable[..., Simulator], check: Check
) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.7.1", audio_clients=0),
                   SimSite(name="branch", address="127.0.7.2", audio_clients=0, faults={"video": "off"}),
                   SimSite(name="shop", address="127.0.7.3", audio_clients=0, faults={"diagnostics": "off"}))
    inventory = tmp_path / "sites.toml"
    _simulated_inventory(sim, inventory)
    config = objects(check, inventory)
    whole = check("--inventory", str(inventory), "-t", "5")  # the same sites in one active check
    icinga = Icinga(tmp_path)
    icinga.conf.write_text(
        f'{icinga.header()}include "{COMMAND}"\ninclude "{SERVICES}"\n'
        'object CheckerComponent "checker" { }\n'
        f'object ExternalCommandListener "command" {{ command_path = "{icinga.pipe}" }}\n'
        + icinga.perfdata_writer() + config)
    services = [(host, service) for host, service in (
        ("hq", "digitalsentry"), ("Shop (Main St)", "digitalsentry"), *(("branch", f"digitalsentry-{role}") for role in
                                                                         ("sql-browser", "sql", "video",
                                                                          "diagnostics")))]
    with running([icinga.binary, "daemon", *icinga.defines()], tmp_path / "daemon.log") as daemon:
        daemon.until(icinga.pipe.exists, "command pipe")
        now = int(time.time())
        with icinga.pipe.open("w") as pipe:
            for host, service in services:
                pipe.write(f"[{now}] SCHEDULE_FORCED_SVC_CHECK;{host};{service};{now}\n")

        def every() -> dict[tuple[str, str], dict[str, str]] | None:
            found = {(r["HOSTNAME"], r["SERVICEDESC"]): r for r in icinga.records()}
            return found if set(services) <= set(found) else None

        results = daemon.until(every, "a result of every service")
    state = {key: record["SERVICESTATE"] for key, record in results.items()}
    assert state == {("hq", "digitalsentry"): "OK", ("Shop (Main St)", "digitalsentry"): "WARNING",
                     ("branch", "digitalsentry-sql-browser"): "OK", ("branch", "digitalsentry-sql"): "OK",
                     ("branch", "digitalsentry-video"): "CRITICAL", ("branch", "digitalsentry-diagnostics"): "OK"}
    video = results[("branch", "digitalsentry-video")]
    port = sim.sites[1].ports["video"]
    assert video["SERVICEOUTPUT"].startswith(f"DIGITALSENTRY CRITICAL - branch/127.0.7.2 video {port}/tcp closed")
    # Labels are the same in a per-port service, a per-site service and one check of every site.
    labels = {token.split("=")[0]: token.split("=")[1].split(";")[1:] for token in whole.lines[-1].split()
              if "=" in token}
    for record in results.values():
        for token in record["SERVICEPERFDATA"].split():
            label, _, value = token.partition("=")
            if label == "failing":
                continue  # its max is the number of ports the service checks
            fields = value.split(";")[1:]
            if label.endswith("_time"):  # its max is the time that run's probes had: each run's own, within -t
                assert 0 < float(fields.pop()) <= 10 and 0 < float(labels[label][-1]) <= 5, (record, token)
                assert label in labels and fields == labels[label][:-1], (record, token)
                continue
            assert label in labels and fields == labels[label], (record, token)
    assert {t.split("=")[0] for t in results[("branch", "digitalsentry-sql")]["SERVICEPERFDATA"].split()} == {
        "branch__127_0_7_2__sql", "branch__127_0_7_2__sql_time", "failing"}


def test_a_closed_stdout_is_said_in_words_on_stderr(tmp_path: Path) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(HOSTILE, encoding="utf-8")
    proc = subprocess.run(["sh", "-c", 'exec "$0" "$@" >&-', script("check_digitalsentry"), "--inventory",
                           str(inventory), "--icinga2-objects"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc
    assert proc.stderr == ("DIGITALSENTRY UNKNOWN - --icinga2-objects: stdout is closed: use --output FILE, which "
                           "replaces the file atomically\n"), proc
