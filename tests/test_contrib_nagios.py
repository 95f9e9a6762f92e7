"""contrib/nagios proven with the real Nagios Core 4: ``nagios4 -v`` accepts the objects (and rejects
broken copies), the command lines run as Nagios expands them, and a foreground nagios4 daemon runs the
check against simulated DS sites and records OK and CRITICAL."""

from __future__ import annotations

import getpass
import grp
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest
from conftest import IN_CI, REPO, need_program, need_readable, script
from support import check_args, plugin_env, running

from check_digitalsentry.simulator import SimSite, Simulator

CONTRIB = REPO / "contrib" / "nagios"
COMMANDS = CONTRIB / "digitalsentry.cfg"  # commands only: the Debian package's /etc/nagios-plugins/config file
TEMPLATES = CONTRIB / "digitalsentry-templates.cfg"
EXAMPLE = CONTRIB / "example-host.cfg"
STOCK_CONFIG = Path("/etc/nagios4/nagios.cfg")
WHY = "contrib/nagios is validated and run with the real Nagios Core 4"

#: What a site's own config already has: the sample templates.cfg/contacts.cfg/timeperiods.cfg of
#: Nagios, cut to what the contrib files rely on (generic-host, generic-service, 24x7, admins).
BASE_OBJECTS = """\
define timeperiod {
    timeperiod_name     24x7
    alias               24 Hours A Day, 7 Days A Week
    sunday              00:00-24:00
    monday              00:00-24:00
    tuesday             00:00-24:00
    wednesday           00:00-24:00
    thursday            00:00-24:00
    friday              00:00-24:00
    saturday            00:00-24:00
}
define command {
    command_name        notify-nobody
    command_line        /bin/true
}
define contact {
    contact_name                    nagiosadmin
    alias                           Nagios Admin
    host_notifications_enabled      0
    service_notifications_enabled   0
    host_notification_period        24x7
    service_notification_period     24x7
    host_notification_options       n
    service_notification_options    n
    host_notification_commands      notify-nobody
    service_notification_commands   notify-nobody
}
define contactgroup {
    contactgroup_name   admins
    alias               Nagios Administrators
    members             nagiosadmin
}
define host {
    name                    generic-host
    notifications_enabled   1
    notification_period     24x7
    register                0
}
define service {
    name                    generic-service
    active_checks_enabled   1
    check_period            24x7
    max_check_attempts      3
    check_interval          10
    retry_interval          2
    contact_groups          admins
    notification_interval   60
    notification_period     24x7
    register                0
}
"""


def plugin_dir() -> str:
    """$USER1$: the directory of this environment's check_digitalsentry console script."""
    return os.path.dirname(script("check_digitalsentry"))


class Nagios:
    """A private Nagios 4: main config, resource file, state and spool under ``root``, so that neither
    ``nagios4 -v`` nor the daemon touches /etc/nagios4 or /var/lib/nagios4."""

    def __init__(self, root: Path) -> None:
        self.binary = need_program("nagios4", WHY)
        self.root = root
        self.main = root / "nagios.cfg"
        self.status = root / "status.dat"
        self.log = root / "nagios.log"
        (root / "checkresults").mkdir(parents=True, exist_ok=True)
        (root / "base.cfg").write_text(BASE_OBJECTS)
        (root / "resource.cfg").write_text(f"$USER1$={plugin_dir()}\n")

    def configure(self, *object_files: Path) -> None:
        user = getpass.getuser()
        group = grp.getgrgid(os.getgid()).gr_name
        r = self.root
        lines = [
            f"cfg_file={r / 'base.cfg'}", *(f"cfg_file={path}" for path in object_files),
            f"resource_file={r / 'resource.cfg'}", f"log_file={self.log}", f"status_file={self.status}",
            f"object_cache_file={r / 'objects.cache'}", f"precached_object_file={r / 'objects.precache'}",
            f"lock_file={r / 'nagios.pid'}", f"temp_file={r / 'nagios.tmp'}", f"temp_path={r}",
            f"check_result_path={r / 'checkresults'}", f"state_retention_file={r / 'retention.dat'}",
            f"command_file={r / 'nagios.cmd'}", f"query_socket={r / 'nagios.qh'}",
            f"debug_file={r / 'nagios.debug'}", f"log_archive_path={r}",
            f"nagios_user={user}", f"nagios_group={group}",
            "check_external_commands=0", "retain_state_information=0", "use_retained_scheduling_info=0",
            "use_syslog=0", "check_for_updates=0", "enable_notifications=0", "enable_flap_detection=0",
            "interval_length=60", "status_update_interval=1", "check_result_reaper_frequency=1",
            # Check every service at start-up instead of spreading the first checks over minutes.
            "service_inter_check_delay_method=n", "host_inter_check_delay_method=n",
            "max_service_check_spread=1", "max_host_check_spread=1",
            "illegal_macro_output_chars=`~$&|'\"<>",
        ]
        self.main.write_text("\n".join(lines) + "\n")

    def verify(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "-v", str(self.main)], capture_output=True, text=True, timeout=60)


def command_lines(path: Path = COMMANDS) -> dict[str, str]:
    """command_name -> command_line of every ``define command`` in a Nagios object file."""
    text = re.sub(r"(?m)^\s*#.*$|(?<!\\);.*$", "", path.read_text())  # comments: # lines, ; anywhere
    commands = {}
    for body in re.findall(r"define\s+command\s*\{(.*?)\}", text, re.S):
        fields = dict(line.strip().split(None, 1) for line in body.strip().splitlines() if line.strip())
        commands[fields["command_name"]] = fields["command_line"]
    return commands


def expand(command_line: str, macros: dict[str, str]) -> str:
    """The command line as Nagios runs it: every $MACRO$ replaced; a macro we do not set fails the test."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in macros, f"macro ${name}$ of {command_line!r} is not set by this test"
        return macros[name]

    return re.sub(r"\$([A-Z0-9_]+)\$", value, command_line)


def site_macros(sim: Simulator, site: SimSite) -> dict[str, str]:
    """Host macros and custom variables that point the contrib commands at a simulated site."""
    args = check_args(sim, site)
    options: list[str] = []
    skip = {"-H", "--sql-instance", "--audio-clients"}  # these have their own macros
    while args:
        arg = args.pop(0)
        if arg in skip:
            args.pop(0)
        else:
            options.append(arg)
    return {"USER1": plugin_dir(), "HOSTADDRESS": site.address, "_HOSTDS_INSTANCE": site.sql_instance,
            "_HOSTDS_SQL_PORT": str(site.sql_port), "_HOSTDS_AUDIO_CLIENTS": str(site.audio_count),
            "_HOSTDS_OPTIONS": " ".join(options)}


def two_sites() -> tuple[SimSite, SimSite]:
    """A healthy site and one whose video port is down, on loopback addresses of their own: the number
    of a port that is "off" is free, and on 127.0.0.1 another test's socket might take it."""
    return (SimSite(name="good", address="127.0.6.1", audio_clients=0),
            SimSite(name="bad", address="127.0.6.2", audio_clients=0, faults={"video": "off"}))


# --- nagios4 -v ----------------------------------------------------------------------------------


def test_nagios4_accepts_the_commands_templates_and_example_hosts(tmp_path: Path) -> None:
    nagios = Nagios(tmp_path)
    nagios.configure(COMMANDS, TEMPLATES, EXAMPLE)
    run = nagios.verify()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Total Warnings: 0" in run.stdout, run.stdout
    assert "Total Errors:   0" in run.stdout, run.stdout
    # The contrib objects were read: 3 commands besides notify-nobody, the 3 example hosts and services.
    for count in ("Checked 4 commands.", "Checked 3 hosts.", "Checked 3 services.", "Checked 1 host groups."):
        assert count in run.stdout, run.stdout


def test_nagios4_accepts_the_commands_without_the_example(tmp_path: Path) -> None:
    """digitalsentry.cfg stands alone next to a site's own objects, as in /etc/nagios-plugins/config: it
    defines commands and nothing else. Nagios insists on at least one host and one service."""
    nagios = Nagios(tmp_path)
    other = tmp_path / "localhost.cfg"
    other.write_text("define host {\n    use generic-host\n    host_name localhost\n    address 127.0.0.1\n"
                     "    max_check_attempts 1\n    check_period 24x7\n    contact_groups admins\n}\n"
                     "define service {\n    use generic-service\n    host_name localhost\n"
                     "    service_description true\n    check_command notify-nobody\n}\n")
    nagios.configure(COMMANDS, other)
    run = nagios.verify()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Total Warnings: 0" in run.stdout, run.stdout
    assert "Checked 4 commands." in run.stdout and "Checked 0 host groups." in run.stdout, run.stdout
    text = re.sub(r"(?m)^\s*#.*$", "", COMMANDS.read_text())
    assert re.findall(r"define\s+(\w+)", text) == ["command"] * 3, "only commands in digitalsentry.cfg"


@pytest.mark.parametrize(("what", "path", "old", "new", "error"), [
    ("a command without command_line", COMMANDS,
     "    command_line    $USER1$/check_digitalsentry -H $HOSTADDRESS$ $ARG1$\n", "", "Could not register command"),
    ("a misspelt command name", COMMANDS, "    command_name    check_digitalsentry_host\n",
     "    command_name    check_digitalsentry_hots\n", "check_digitalsentry_host"),
    ("a misspelt template name", TEMPLATES, "    name                    digitalsentry-service\n",
     "    name                    digitalsentry-servise\n", "digitalsentry-service"),
    ("a missing brace", TEMPLATES, "    register                0\n}\n\ndefine hostgroup {",
     "    register                0\n\ndefine hostgroup {", "Error"),
])
def test_nagios4_rejects_a_broken_copy_of_the_commands_or_templates(
    tmp_path: Path, what: str, path: Path, old: str, new: str, error: str
) -> None:
    """Negative control: the validation above is real, and it reads these very files."""
    text = path.read_text()
    assert text.count(old) == 1, f"{what}: the text to break is not in {path.name} exactly once"
    broken = tmp_path / path.name
    broken.write_text(text.replace(old, new))
    nagios = Nagios(tmp_path)
    nagios.configure(*(broken if each == path else each for each in (COMMANDS, TEMPLATES)), EXAMPLE)
    run = nagios.verify()
    assert run.returncode != 0, f"{what}: nagios4 -v accepted it:\n{run.stdout}"
    assert error in run.stdout + run.stderr, run.stdout + run.stderr


PLUGIN_COMMANDS = Path("/etc/nagios-plugins/config")  # cfg_dir of the stock nagios.cfg
PACKAGE_COMMANDS = PLUGIN_COMMANDS / "digitalsentry.cfg"  # digitalsentry.cfg, as the Debian package installs it


def stock_nagios_config(root: Path, *object_files: Path, package_commands: bool = False) -> Path:
    """Debian's stock nagios.cfg, written under ``root`` with ``object_files`` added: its objects,
    templates, resource file and the plugin command directory, but state, logs and the user of this
    test (nagios4 -v opens the log file, and reads the object files as nagios_user). The command
    directory is read without the Debian package's digitalsentry.cfg (which a system with the package
    has there) unless ``package_commands``."""
    need_program("nagios4", WHY)
    missing = [] if STOCK_CONFIG.is_file() else [str(STOCK_CONFIG)]
    if not missing:
        missing = [value for key, _, value in (line.partition("=") for line in STOCK_CONFIG.read_text().splitlines())
                   if key in ("cfg_file", "cfg_dir", "resource_file") and not Path(value).exists()]
    if missing:  # nagios4-common ships the config; monitoring-plugins-basic its cfg_dir of plugin commands
        message = f"the packaged Nagios config is incomplete, missing {', '.join(missing)} (packages " \
                  "nagios4, monitoring-plugins-basic); .ci/run installs them"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    for key, _, value in (line.partition("=") for line in STOCK_CONFIG.read_text().splitlines()):
        if key == "resource_file":  # Debian's is 0640 root:nagios, and nagios4 -v reads it
            need_readable(Path(value), "nagios4 -v reads the stock configuration's resource file")
    own = {"log_file": "nagios.log", "object_cache_file": "objects.cache", "precached_object_file":
           "objects.precache", "status_file": "status.dat", "command_file": "nagios.cmd", "lock_file":
           "nagios.pid", "temp_file": "nagios.tmp", "temp_path": "", "check_result_path": "",
           "state_retention_file": "retention.dat", "log_archive_path": "", "debug_file": "nagios.debug",
           "query_socket": "nagios.qh"}
    stock = STOCK_CONFIG.read_text().splitlines()
    assert f"cfg_dir={PLUGIN_COMMANDS}" in stock, "Debian's nagios.cfg reads the plugins' command definitions"
    lines = [line for line in stock if line.partition("=")[0].strip() not in {*own, "nagios_user", "nagios_group"}]
    if not package_commands:
        commands = root / "nagios-plugins-config"
        commands.mkdir()
        for path in PLUGIN_COMMANDS.glob("*.cfg"):
            if path != PACKAGE_COMMANDS:
                (commands / path.name).write_bytes(path.read_bytes())
        lines = [f"cfg_dir={commands}" if line == f"cfg_dir={PLUGIN_COMMANDS}" else line for line in lines]
    lines += [f"{key}={root / name}" for key, name in own.items()]
    lines += [f"nagios_user={getpass.getuser()}", f"nagios_group={grp.getgrgid(os.getgid()).gr_name}",
              *(f"cfg_file={path}" for path in object_files)]
    main = root / "nagios.cfg"
    main.write_text("\n".join(lines) + "\n")
    return main


def test_debians_stock_nagios_config_accepts_the_contrib_files(tmp_path: Path) -> None:
    """As the headers of the contrib files say: dropped into the packaged configuration, with its own
    generic-host/generic-service/admins, they validate without a warning."""
    main = stock_nagios_config(tmp_path, COMMANDS, TEMPLATES, EXAMPLE)
    run = subprocess.run([need_program("nagios4", WHY), "-v", str(main)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Total Warnings: 0" in run.stdout, run.stdout
    assert "Total Errors:   0" in run.stdout, run.stdout


# --- the command lines, expanded as Nagios does ---------------------------------------------------


def test_the_commands_are_the_documented_ones() -> None:
    commands = command_lines()
    assert sorted(commands) == ["check_digitalsentry", "check_digitalsentry_host",
                                "check_digitalsentry_host_sql_port"]
    for line in commands.values():
        assert line.startswith("$USER1$/check_digitalsentry -H $HOSTADDRESS$ "), line
        assert line.endswith(" $ARG1$"), line  # every command takes extra options for one service


@pytest.mark.parametrize("name", ["check_digitalsentry", "check_digitalsentry_host",
                                  "check_digitalsentry_host_sql_port"])
def test_each_command_line_checks_a_simulated_site(name: str, simulate: Callable[..., Simulator]) -> None:
    sim = simulate(*two_sites())
    template = command_lines()[name]
    for site, code, status in ((sim.sites[0], 0, "DIGITALSENTRY OK - "),
                               (sim.sites[1], 2, "DIGITALSENTRY CRITICAL - video ")):
        macros = site_macros(sim, site)
        if name == "check_digitalsentry":  # everything in $ARG1$
            macros["ARG1"] = " ".join(check_args(sim, site)[2:]) + " -t 3"
        else:
            macros["ARG1"] = "-t 3"
        line = expand(template, macros)
        # Nagios 4 hands a command line with shell syntax to /bin/sh -c; ours has none, so its own
        # splitting and the shell's agree.
        run = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL, env=plugin_env())
        assert run.returncode == code, (line, run.stdout, run.stderr)
        assert run.stdout.startswith(status), (line, run.stdout)
        assert run.stderr == ""
    if name == "check_digitalsentry_host_sql_port":
        assert f"--sql-port {sim.sites[0].sql_port} " in expand(template, {**site_macros(sim, sim.sites[0]),
                                                                          "ARG1": ""})


def test_an_empty_instance_variable_is_unknown_and_names_the_option(simulate: Callable[..., Simulator]) -> None:
    """What the comment in digitalsentry.cfg promises for a host that forgot _DS_INSTANCE."""
    sim = simulate(address="127.0.6.3", audio_clients=0)
    macros = {**site_macros(sim, sim.sites[0]), "_HOSTDS_INSTANCE": "", "ARG1": "-t 3"}
    line = expand(command_lines()["check_digitalsentry_host"], macros)
    run = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=30, env=plugin_env())
    assert run.returncode == 3, run
    assert run.stdout.startswith("DIGITALSENTRY UNKNOWN - argument --sql-instance: expected one argument")


# --- a real Nagios daemon -------------------------------------------------------------------------


def status_blocks(path: Path, kind: str) -> list[dict[str, str]]:
    """The ``kind { key=value ... }`` blocks of a Nagios status.dat."""
    if not path.exists():
        return []
    blocks = []
    for body in re.findall(rf"^{kind} \{{\n(.*?)^\t\}}", path.read_text(errors="replace"), re.M | re.S):
        blocks.append(dict(line.strip().split("=", 1) for line in body.splitlines() if "=" in line))
    return blocks


def test_a_real_nagios4_daemon_runs_the_check_with_the_contrib_templates(
    tmp_path: Path, simulate: Callable[..., Simulator]
) -> None:
    sim = simulate(*two_sites())
    nagios = Nagios(tmp_path)
    hosts = []
    for host_name, site in (("ds-good", sim.sites[0]), ("ds-bad", sim.sites[1])):
        macros = site_macros(sim, site)
        hosts.append(
            f"define host {{\n    use digitalsentry-server\n    host_name {host_name}\n"
            f"    address {site.address}\n    contact_groups admins\n    check_command host-up\n"
            f"    _DS_INSTANCE {macros['_HOSTDS_INSTANCE']}\n    _DS_OPTIONS {macros['_HOSTDS_OPTIONS']}\n}}\n"
            f"define service {{\n    use digitalsentry-service\n    host_name {host_name}\n"
            f"    service_description Digital Sentry ports\n    check_command check_digitalsentry_host!-t 3\n}}\n")
    sites_cfg = tmp_path / "sites.cfg"
    sites_cfg.write_text("define command {\n    command_name host-up\n    command_line /bin/true\n}\n"
                         + "".join(hosts))
    nagios.configure(COMMANDS, TEMPLATES, sites_cfg)
    verify = nagios.verify()
    assert verify.returncode == 0, verify.stdout
    started = time.monotonic()
    with running([nagios.binary, str(nagios.main)], tmp_path / "daemon.out", nagios.log) as daemon:

        def both() -> dict[str, dict[str, str]] | None:
            found = {block["host_name"]: block for block in status_blocks(nagios.status, "servicestatus")
                     if block.get("has_been_checked") == "1"}
            return found if len(found) == 2 else None

        results = daemon.until(both, "check results of both hosts")
        elapsed = time.monotonic() - started
    good, bad = results["ds-good"], results["ds-bad"]
    assert good["current_state"] == "0", good
    assert good["plugin_output"].startswith("DIGITALSENTRY OK - 8 ports as expected on 127.0.6.1"), good
    assert bad["current_state"] == "2", bad
    assert bad["plugin_output"].startswith("DIGITALSENTRY CRITICAL - video "), bad
    assert "video=0;;1:;0;1" in bad["performance_data"].split(), bad
    assert {"sql_browser", "sql", "video", "failing"} <= {item.split("=")[0]
                                                          for item in good["performance_data"].split()}
    # digitalsentry-service's retry policy is what Nagios applies: the first CRITICAL is SOFT, 1 of 3.
    assert (bad["state_type"], bad["current_attempt"], bad["max_attempts"]) == ("0", "1", "3"), bad
    print(f"nagios4 end to end: {elapsed:.1f} s")
