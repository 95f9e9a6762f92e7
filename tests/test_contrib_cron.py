"""contrib/cron and contrib/systemd proven by running them: the exact jobs of the crontab and the exact
ExecStart= of the services, parsed from those files with only their fixed paths pointed at this test
(the console script, the inventory, the .prom file, the lock directory), run against simulated DS
sites the way cron and systemd run them."""

from __future__ import annotations

import fcntl
import getpass
import os
import re
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from conftest import IN_CI, REPO, need_program, script

from check_digitalsentry.simulator import SimSite, Simulator

CRONTAB = REPO / "contrib" / "cron" / "digitalsentry.crontab"
SYSTEMD = REPO / "contrib" / "systemd"
CHECK_SERVICE = SYSTEMD / "digitalsentry-check.service"
TEXTFILE_SERVICE = SYSTEMD / "digitalsentry-textfile.service"

#: The fixed paths of the contrib files, and what the tests put in their place. SCRIPT is where the
#: Debian package installs the plugin (and where README's other install ways link it).
SCRIPT = "/usr/lib/nagios/plugins/check_digitalsentry"
INVENTORY = "/etc/digitalsentry/sites.toml"
PROM = "/var/lib/prometheus/node-exporter/digitalsentry.prom"
LOCKS = "/run/lock/"

#: The roles a simulated site with the defaults (and no audio clients) runs.
ROLES = ["sql-browser", "sql", "video", "diagnostics", "web", "api-system", "api-playback", "api-camera"]


@dataclass
class CronJob:
    schedule: list[str]
    command: str
    env: dict[str, str]  # the crontab's assignments in force on the job's line (MAILTO, ...)


def cron_jobs(path: Path = CRONTAB) -> list[CronJob]:
    """The jobs of a user crontab, as crontab(5) reads it: comments and blank lines skipped, NAME=value
    lines apply to the jobs below them, a job is five time fields and the rest of the line."""
    jobs: list[CronJob] = []
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", text)
        if assignment:
            name, value = assignment.groups()
            env[name] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value
            continue
        fields = text.split(None, 5)
        assert len(fields) == 6 and not text.startswith("@"), f"not a five-field job: {line!r}"
        jobs.append(CronJob(fields[:5], fields[5], dict(env)))
    return jobs


def unit_values(path: Path, key: str) -> list[str]:
    """Every value of ``key=`` in a systemd unit file (continuation lines are not used in ours)."""
    values = []
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith(("#", ";")) and name.strip() == key:
            values.append(value.strip())
    return values


def exec_start(path: Path) -> list[str]:
    """The argv of the one ExecStart= of a service, as systemd splits it (no shell); the special
    prefixes (-, @, :, +, !) are not used in ours."""
    (line,) = unit_values(path, "ExecStart")
    assert line[0] not in "-@:+!", f"{path.name}: a prefix in ExecStart={line}"
    assert "%" not in line and "$" not in line, "no specifiers or variables: the command runs as written"
    return shlex.split(line)


class Paths:
    """Where the fixed paths point during a test: the plugin is this environment's console script, or
    ``script`` (the installed package's plugin at SCRIPT itself)."""

    def __init__(self, tmp_path: Path, script_path: str | None = None) -> None:
        self.script = script_path or script("check_digitalsentry")
        self.inventory = tmp_path / "config" / "sites.toml"
        self.prom_dir = tmp_path / "node-exporter"
        self.prom = self.prom_dir / "digitalsentry.prom"
        self.locks = tmp_path / "lock"
        for directory in (self.inventory.parent, self.prom_dir, self.locks):
            directory.mkdir(parents=True, exist_ok=True)
        self.home = tmp_path

    def substitute(self, command: str) -> str:
        """The command with its fixed paths replaced, and nothing else changed."""
        for fixed, ours in ((SCRIPT, self.script), (INVENTORY, str(self.inventory)), (PROM, str(self.prom)),
                            (LOCKS, f"{self.locks}/")):
            command = command.replace(fixed, ours)
        left = [word for word in shlex.split(command) if word != self.script
                and word.startswith(("/usr/lib/", "/usr/local/", "/opt/", "/etc/", "/var/", "/run/"))]
        assert not left, f"fixed paths the test does not replace: {left}"
        return command

    def cron_env(self) -> dict[str, str]:
        """The environment cron gives a job (crontab(5)): no PATH of ours, no virtualenv."""
        return {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "HOME": str(self.home), "LOGNAME": getpass.getuser()}


def run_job(job: CronJob, paths: Paths) -> subprocess.CompletedProcess[str]:
    """Run a crontab job as cron does: ``/bin/sh -c`` with cron's environment (dash on Debian, so a
    bashism would fail here as it would under cron)."""
    command = paths.substitute(job.command)
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60,
                          env=paths.cron_env(), stdin=subprocess.DEVNULL, cwd=paths.home)


def run_service(path: Path, paths: Paths) -> subprocess.CompletedProcess[str]:
    """Run a service's ExecStart= as systemd does: the argv directly, no shell, a bare environment."""
    argv = [paths.substitute(arg) for arg in exec_start(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                          cwd="/")


def mail_job() -> CronJob:
    (job,) = [job for job in cron_jobs() if "--output" not in job.command]
    return job


def textfile_job() -> CronJob:
    (job,) = [job for job in cron_jobs() if "--output" in job.command]
    return job


def port_up(prom: Path) -> dict[tuple[str, str], float]:
    """(role, port) -> digitalsentry_port_up, parsed by the Prometheus text parser (what node_exporter's
    textfile collector expects)."""
    from prometheus_client.parser import text_string_to_metric_families

    families = {family.name: family for family in text_string_to_metric_families(prom.read_text())}
    return {(sample.labels["role"], sample.labels["port"]): sample.value
            for sample in families["digitalsentry_port_up"].samples}


def expected_ports(site: SimSite) -> set[tuple[str, str]]:
    """(role, port label): the SQL port, which the Browser names, is "dynamic" whatever it is."""
    return {(role, "dynamic" if role == "sql" else str(port)) for role, port in site.ports.items()}


@pytest.fixture
def sites(simulate: Callable[..., Simulator]) -> tuple[Simulator, Simulator]:
    """A healthy simulated site and one whose video port is down, on loopback addresses of their own:
    the number of a port that is "off" is free, and on 127.0.0.1 another test's socket might take it."""
    return (simulate(address="127.0.7.1", audio_clients=0),
            simulate(address="127.0.7.2", audio_clients=0, faults={"video": "off"}))


# --- the crontab ------------------------------------------------------------------------------------


def test_the_crontab_has_a_mail_job_and_a_textfile_job() -> None:
    mail, textfile = mail_job(), textfile_job()
    assert [job.command for job in cron_jobs()] == [mail.command, textfile.command]
    assert mail.env["MAILTO"] and "@" in mail.env["MAILTO"]  # problems are mailed
    assert textfile.env["MAILTO"] == ""  # Prometheus alerts; cron mails nothing
    for job in (mail, textfile):
        assert len(job.schedule) == 5
        assert "%" not in job.command, "cron turns % into a newline"
        argv = shlex.split(job.command)
        assert argv[:2] == ["flock", "-n"] and argv[2].startswith(LOCKS) and argv[3] == SCRIPT, argv
        assert "--quiet" in argv and argv[argv.index("--inventory") + 1] == INVENTORY
    assert shlex.split(mail.command)[2] != shlex.split(textfile.command)[2], "one lock per job"
    assert shlex.split(textfile.command)[3:] == [
        SCRIPT, "--inventory", INVENTORY, "--format", "openmetrics", "--output", PROM, "--quiet"]


def test_the_mail_job_prints_nothing_when_all_is_well_and_the_report_on_a_problem(
    tmp_path: Path, sites: tuple[Simulator, Simulator]
) -> None:
    need_program("flock", "the crontab runs every job under flock -n (util-linux)")
    healthy, faulty = sites
    paths = Paths(tmp_path)
    healthy.inventory_toml(paths.inventory)
    quiet = run_job(mail_job(), paths)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", ""), quiet  # cron sends no mail
    faulty.inventory_toml(paths.inventory)
    loud = run_job(mail_job(), paths)
    assert loud.returncode == 2, loud
    port = faulty.sites[0].ports["video"]
    where = f"{faulty.sites[0].name}/{faulty.sites[0].address}"  # inventory mode names site and host
    assert loud.stdout.startswith(f"DIGITALSENTRY CRITICAL - {where} video {port}/tcp closed: "), loud.stdout
    assert f"\n{where} video {port}/tcp CRITICAL closed: " in loud.stdout  # the mail has one line per port
    assert len(loud.stdout.splitlines()) >= len(ROLES) + 1


def test_the_textfile_job_replaces_the_prom_file_atomically(
    tmp_path: Path, sites: tuple[Simulator, Simulator]
) -> None:
    need_program("flock", "the crontab runs every job under flock -n (util-linux)")
    healthy, faulty = sites
    paths = Paths(tmp_path)
    healthy.inventory_toml(paths.inventory)
    first = run_job(textfile_job(), paths)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", ""), first
    assert [p.name for p in paths.prom_dir.iterdir()] == ["digitalsentry.prom"]  # no temporary file left
    assert stat.S_IMODE(paths.prom.stat().st_mode) == 0o644  # node_exporter runs as another user
    assert paths.prom.read_text().endswith("\n")
    up = port_up(paths.prom)
    assert set(up) == expected_ports(healthy.sites[0]) and len(up) == len(ROLES)
    assert set(up.values()) == {1.0}
    inode = paths.prom.stat().st_ino

    faulty.inventory_toml(paths.inventory)
    second = run_job(textfile_job(), paths)
    assert second.returncode == 2 and "video" in second.stdout, second
    assert [p.name for p in paths.prom_dir.iterdir()] == ["digitalsentry.prom"]
    assert paths.prom.stat().st_ino != inode, "replaced by a rename, not rewritten in place"
    up = port_up(paths.prom)
    assert set(up) == expected_ports(faulty.sites[0])
    assert {role for (role, _), value in up.items() if value == 0} == {"video"}


@pytest.mark.parametrize("job", ["mail", "textfile"])
def test_a_job_still_running_makes_the_next_one_skip_silently(
    job: str, tmp_path: Path, sites: tuple[Simulator, Simulator]
) -> None:
    need_program("flock", "the crontab runs every job under flock -n (util-linux)")
    faulty = sites[1]
    paths = Paths(tmp_path)
    faulty.inventory_toml(paths.inventory)  # a run would print, so silence proves it did not run
    cron_job = mail_job() if job == "mail" else textfile_job()
    lock = Path(paths.substitute(shlex.split(cron_job.command)[2]))
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the earlier run, still going
        skipped = run_job(cron_job, paths)
    assert (skipped.returncode, skipped.stdout, skipped.stderr) == (1, "", ""), skipped
    assert not paths.prom.exists()
    after = run_job(cron_job, paths)  # lock released: the next run checks again
    assert after.returncode == 2 and after.stdout.startswith("DIGITALSENTRY CRITICAL"), after


# --- the systemd units ----------------------------------------------------------------------------


def test_the_services_run_the_same_commands_as_the_cron_jobs() -> None:
    assert exec_start(CHECK_SERVICE) == shlex.split(mail_job().command)[3:]
    assert exec_start(TEXTFILE_SERVICE) == shlex.split(textfile_job().command)[3:]
    for service in (CHECK_SERVICE, TEXTFILE_SERVICE):
        assert unit_values(service, "Type") == ["oneshot"]
        assert unit_values(service, "RestrictAddressFamilies") == ["AF_INET AF_INET6 AF_UNIX AF_NETLINK"]
        assert not unit_values(service, "PrivateNetwork") and not unit_values(service, "IPAddressDeny")
        timer = service.with_suffix(".timer")
        assert timer.is_file() and unit_values(timer, "WantedBy") == ["timers.target"]
    assert unit_values(TEXTFILE_SERVICE, "ReadWritePaths") == [os.path.dirname(PROM)]


def test_the_check_service_succeeds_silently_and_fails_with_the_report(
    tmp_path: Path, sites: tuple[Simulator, Simulator]
) -> None:
    healthy, faulty = sites
    paths = Paths(tmp_path)
    healthy.inventory_toml(paths.inventory)
    ok = run_service(CHECK_SERVICE, paths)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", ""), ok
    faulty.inventory_toml(paths.inventory)
    failed = run_service(CHECK_SERVICE, paths)
    assert failed.returncode == 2, failed  # not in SuccessExitStatus=: the unit fails
    assert not unit_values(CHECK_SERVICE, "SuccessExitStatus")
    port = faulty.sites[0].ports["video"]
    where = f"{faulty.sites[0].name}/{faulty.sites[0].address}"
    assert failed.stdout.startswith(f"DIGITALSENTRY CRITICAL - {where} video {port}/tcp closed: "), failed.stdout
    assert f"\n{where} video {port}/tcp CRITICAL closed: " in failed.stdout  # the journal gets every port


def test_the_textfile_service_writes_metrics_and_fails_only_when_it_cannot(
    tmp_path: Path, sites: tuple[Simulator, Simulator]
) -> None:
    healthy, faulty = sites
    success = {0, *(int(code) for value in unit_values(TEXTFILE_SERVICE, "SuccessExitStatus")
                    for code in value.split())}
    assert success == {0, 1, 2}
    paths = Paths(tmp_path)
    healthy.inventory_toml(paths.inventory)
    ok = run_service(TEXTFILE_SERVICE, paths)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", ""), ok
    assert set(port_up(paths.prom).values()) == {1.0}
    faulty.inventory_toml(paths.inventory)
    down = run_service(TEXTFILE_SERVICE, paths)
    assert down.returncode == 2 and 2 in success, down  # ports down: metrics written, the unit succeeds
    assert {role for (role, _), value in port_up(paths.prom).items() if value == 0} == {"video"}
    paths.inventory.write_text("[[sites]]\nname = 'x'\n")  # no hosts: the metrics cannot be written
    broken = run_service(TEXTFILE_SERVICE, paths)
    assert broken.returncode == 3 and broken.returncode not in success, broken
    assert broken.stdout.startswith("DIGITALSENTRY UNKNOWN - "), broken.stdout
    assert [p.name for p in paths.prom_dir.iterdir()] == ["digitalsentry.prom"]


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    """Skipped without systemd-analyze (CI containers rarely have systemd), also under CI=true: the
    units are still run above, only systemd's own parser is missing."""
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed (package systemd; CI containers usually lack it"
                    + (", so this is skipped under CI too" if IN_CI else "") + ")")
    # verify insists that ExecStart= is executable: the console script of this environment stands in.
    units = tmp_path / "units"
    units.mkdir()
    for unit in sorted(SYSTEMD.glob("digitalsentry-*")):
        (units / unit.name).write_text(unit.read_text().replace(SCRIPT, script("check_digitalsentry")))
    names = sorted(str(path) for path in units.iterdir())
    assert len(names) == 6  # check, textfile and submit: a service and a timer each
    run = subprocess.run([binary, "verify", *names], capture_output=True, text=True, timeout=60)
    # Warnings count too (verify exits 0 on an ignored key); lines about the host's own units do not.
    ours = [line for line in (run.stdout + run.stderr).splitlines() if "digitalsentry" in line]
    assert run.returncode == 0 and not ours, run
    # Negative control: a misspelt hardening option is reported.
    service = units / "digitalsentry-check.service"
    service.write_text(service.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    broken = subprocess.run([binary, "verify", str(service)], capture_output=True, text=True, timeout=60)
    assert "ProtectSystm" in broken.stdout + broken.stderr, broken
