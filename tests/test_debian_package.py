"""The Debian package monitoring-plugins-digitalsentry, installed: proven with the installed files only.

CI builds the package with contrib/debian/build, lints it and installs it with ``apt-get install
./….deb`` (.ci/debian) before the test suite runs; after the suite it purges the package and looks for
leftovers. Here, everything runs from the system's files with a bare environment (no virtualenv, no
PYTHONPATH): the installed plugin and simulator, Debian's Icinga 2 and Nagios 4 with the package's
command definitions, and Debian's pytest-3 with the package's pytest plugin. Without the package these
tests skip, except under CI=true, where that is a failure; so does a package built from other files
than this tree's (rebuild and reinstall it: docs/admin.md, "Install on a monitoring server").
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from conftest import IN_CI, REPO, need_program, need_readable, need_root
from support import alerts, running
from test_contrib_cron import CRONTAB, Paths, cron_jobs, run_job
from test_contrib_icinga2 import Icinga
from test_contrib_nagios import PACKAGE_COMMANDS, command_lines, expand, stock_nagios_config

PACKAGE = "monitoring-plugins-digitalsentry"
PLUGIN = Path("/usr/lib/nagios/plugins/check_digitalsentry")
SIMULATOR = Path("/usr/bin/dsports-simulator")
SITE_PACKAGES = Path("/usr/lib/python3/dist-packages")
ICINGA_COMMAND = Path("/usr/share/icinga2/include/plugins-contrib.d/digitalsentry-command.conf")
NAGIOS_COMMANDS = PACKAGE_COMMANDS
EXAMPLES = Path(f"/usr/share/doc/{PACKAGE}/examples")
DEBIAN = REPO / "contrib" / "debian"

#: What the installed programs get: the system's PATH and nothing of the environment running the tests.
BARE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent"}


def run(argv: Sequence[str | Path], env: dict[str, str] | None = None,
        cwd: Path = Path("/")) -> subprocess.CompletedProcess[str]:
    """Run an installed program with the bare environment, outside this tree (python3 -c would import
    the modules of the current directory first)."""
    return subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=env or BARE_ENV, cwd=cwd)


def unusable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


# --- without the package --------------------------------------------------------------------------


def test_the_debian_version_is_the_project_version() -> None:
    """contrib/debian/build stamps snapshots as <changelog version>+git…; that version must be the
    project's, so that the package and `check_digitalsentry --version` tell the same."""
    head = (DEBIAN / "changelog").read_text().splitlines()[0]
    match = re.fullmatch(r"check-digitalsentry \((?P<version>[^)]+)\) \S+; urgency=\w+", head)
    assert match, head
    project = re.search(r'(?m)^version = "([^"]+)"$', (REPO / "pyproject.toml").read_text())
    assert project and match["version"] == project[1], (match["version"], project)


@pytest.mark.slow
def test_root_builds_in_a_users_own_clone_and_leaves_the_user_their_files(tmp_path: Path) -> None:
    """`sudo contrib/debian/build` in a clone of the user's own (docs/admin.md): git reads it (no
    "dubious ownership"), and dist/ and the package are the user's, not root's."""
    need_root("the build runs under sudo, in a clone that another user owns")
    need_program("git", "contrib/debian/build exports the committed tree with git")
    need_program("dpkg-buildpackage", "the package is built with dpkg-dev")
    missing = run(["dpkg-checkbuilddeps", str(DEBIAN / "control")])
    if missing.returncode != 0:
        unusable(f"the build dependencies are missing ({missing.stderr.strip()}): contrib/debian/build "
                 "--install-build-deps installs them")
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)], cwd=tmp_path)
    user = 65534  # nobody: the clone's owner, who is not root
    for path in [clone, *clone.rglob("*")]:
        os.chown(path, user, user, follow_symlinks=False)
    build = run([clone / "contrib" / "debian" / "build"], env={**BARE_ENV, "HOME": str(tmp_path)}, cwd=clone)
    assert build.returncode == 0, build.stderr[-2000:]
    assert "dubious ownership" not in build.stderr and "tar:" not in build.stderr, build.stderr[-2000:]
    deb = Path(build.stdout.splitlines()[-1])
    assert deb.parent == clone / "dist" and deb.name.startswith(f"{PACKAGE}_"), build.stdout
    owned = {str(path.relative_to(clone)): (path.stat().st_uid, path.stat().st_gid)
             for path in [clone / "dist", *(clone / "dist").iterdir()]}
    assert set(owned.values()) == {(user, user)}, owned


# --- the installed package -------------------------------------------------------------------------


def _stale(record: Path) -> str | None:
    """The first module file whose installed copy (per the dist-info RECORD) differs from this tree's,
    or a module of this tree that the package lacks; None when the package holds this tree's modules."""
    recorded = {}
    for line in record.read_text().splitlines():
        path, digest, _ = line.rsplit(",", 2)
        if digest and not path.startswith("..") and ".dist-info/" not in path:
            recorded[path] = digest
    for path, digest in sorted(recorded.items()):
        mine = REPO / path
        if not mine.is_file():
            return f"{path} is not in this tree"
        ours = base64.urlsafe_b64encode(hashlib.sha256(mine.read_bytes()).digest()).rstrip(b"=").decode()
        if digest != f"sha256={ours}":
            return f"{path} differs from this tree's"
    packages = {path.split("/", 1)[0] for path in recorded}
    for package in sorted(packages):
        for mine in sorted((REPO / package).rglob("*.py")):
            if str(mine.relative_to(REPO)) not in recorded:
                return f"{mine.relative_to(REPO)} is missing from the package"
    return None


@pytest.fixture(scope="module")
def files() -> list[str]:
    """The paths of the installed package (dpkg -L), which must hold this tree's files."""
    need_program("dpkg-query", "the Debian package is looked up with dpkg")
    status = run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", PACKAGE])
    if not status.stdout.startswith("ii "):
        unusable(f"the Debian package {PACKAGE} is not installed (.ci/debian install builds and installs "
                 f"it; by hand: docs/admin.md, \"Install on a monitoring server\"): "
                 f"{status.stdout or status.stderr}".strip())
    listed = run(["dpkg-query", "-L", PACKAGE]).stdout.splitlines()
    records = [path for path in listed if path.endswith(".dist-info/RECORD")]
    assert len(records) == 1, records
    stale = _stale(Path(records[0]))
    for installed, mine in ((ICINGA_COMMAND, "contrib/icinga2/digitalsentry-command.conf"),
                            (NAGIOS_COMMANDS, "contrib/nagios/digitalsentry.cfg"),
                            (EXAMPLES / "digitalsentry.crontab", "contrib/cron/digitalsentry.crontab")):
        if stale is None and installed.read_bytes() != (REPO / mine).read_bytes():
            stale = f"{installed} differs from {mine}"
    if stale:
        unusable(f"the installed {PACKAGE} {status.stdout[3:]} was built from another tree ({stale}): "
                 "rebuild it with contrib/debian/build and reinstall it")
    return listed


def test_the_package_installs_each_file_where_debian_looks_for_it(files: list[str]) -> None:
    for path in (PLUGIN, SIMULATOR, ICINGA_COMMAND, NAGIOS_COMMANDS,
                 Path("/usr/share/man/man1/check_digitalsentry.1.gz"),
                 Path("/usr/share/man/man1/dsports-simulator.1.gz"),
                 EXAMPLES / "sites.example.toml", EXAMPLES / "digitalsentry.crontab",
                 EXAMPLES / "digitalsentry-check.service", EXAMPLES / "digitalsentry-check.timer",
                 EXAMPLES / "digitalsentry-textfile.service", EXAMPLES / "digitalsentry-textfile.timer",
                 EXAMPLES / "digitalsentry-templates.cfg", EXAMPLES / "example-host.cfg",
                 EXAMPLES / "digitalsentry-services.conf", EXAMPLES / "digitalsentry-submit.crontab",
                 EXAMPLES / "digitalsentry-submit.service", EXAMPLES / "digitalsentry-submit.timer",
                 EXAMPLES / "digitalsentry-passive.conf", EXAMPLES / "digitalsentry-api-user.conf",
                 EXAMPLES / "distributed" / "zones.conf", EXAMPLES / "distributed" / "satellite-zones.conf",
                 EXAMPLES / "distributed" / "agent-zones.conf",
                 EXAMPLES / "distributed" / "zones.d" / "site-hq" / "hosts.conf",
                 *(EXAMPLES / name for name in PROMETHEUS_EXAMPLES)):
        assert str(path) in files, f"{path} is not in the package"
        assert path.is_file(), path
    assert os.access(PLUGIN, os.X_OK) and os.access(SIMULATOR, os.X_OK)
    # One copy of the plugin, and not on PATH: monitoring daemons run it from the plugin directory.
    assert [path for path in files if path.endswith("/check_digitalsentry") and Path(path).is_file()] == [str(PLUGIN)]
    assert run(["sh", "-c", "command -v check_digitalsentry"]).returncode != 0
    # The command definitions are a conffile: dpkg keeps the administrator's edits, and purge removes it.
    conffiles = run(["dpkg-query", "-W", "-f", "${Conffiles}", PACKAGE]).stdout.split()
    assert str(NAGIOS_COMMANDS) in conffiles, conffiles


def test_the_package_depends_on_debians_libraries_and_not_on_tomli(files: list[str]) -> None:
    depends = run(["dpkg-query", "-W", "-f", "${Depends}", PACKAGE]).stdout
    assert "python3-nagiosplugin (>= 1.3.2)" in depends and "python3-pluggy (>= 1.0)" in depends, depends
    assert "tomli" not in depends, depends  # Debian 12's Python 3.11 has tomllib
    suggests = run(["dpkg-query", "-W", "-f", "${Suggests}", PACKAGE]).stdout
    assert "python3-pytest (>= 7.2.1)" in suggests, suggests


def test_debians_python_imports_the_modules_from_the_package(files: list[str]) -> None:
    code = ("import check_digitalsentry, pytest_dsports, importlib.metadata as m; "
            "print(check_digitalsentry.__file__); print(pytest_dsports.__file__); "
            "print(*sorted(f'{e.group}:{e.name}' for e in m.distribution('check-digitalsentry').entry_points))")
    imported = run(["/usr/bin/python3", "-c", code])
    assert imported.returncode == 0, imported
    module, plugin, entry_points = imported.stdout.splitlines()
    assert module == str(SITE_PACKAGES / "check_digitalsentry" / "__init__.py"), module
    assert plugin == str(SITE_PACKAGES / "pytest_dsports" / "__init__.py"), plugin
    assert "pytest11:dsports" in entry_points.split(), entry_points


def test_the_man_pages_describe_the_options(files: list[str]) -> None:
    need_program("man", "the man pages are rendered with man (package man-db)")
    for name, option in (("check_digitalsentry", "--sql-instance"), ("dsports-simulator", "--fault")):
        page = run(["man", "-l", f"/usr/share/man/man1/{name}.1.gz"], env={**BARE_ENV, "MANWIDTH": "100"})
        assert page.returncode == 0, page
        assert option in page.stdout and "NAME" in page.stdout, page.stdout[:500]


# --- the installed plugin and simulator --------------------------------------------------------------


@dataclass
class Site:
    """A simulated DS site served by the installed dsports-simulator."""

    inventory: Path  #: the inventory it wrote
    options: list[str]  #: the check options it printed, after ``-H ADDRESS``


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    """Start the installed dsports-simulator: ``simulator("127.0.9.1", "--fault", "video=off")``, on the
    "high" port layout (video 18772, SQL Server Browser 11434, web 10443), no audio clients. Every
    simulator is stopped at teardown."""
    with contextlib.ExitStack() as stack:

        def start(address: str, *options: str) -> Site:
            inventory = tmp_path / f"sites-{address}.toml"
            log = tmp_path / f"simulator-{address}.log"
            daemon = stack.enter_context(running(
                [str(SIMULATOR), "--address", address, "--ports", "high", "--audio-clients", "0", "--duration",
                 "120", "--inventory", str(inventory), *options], log))
            daemon.until(lambda: "site(s) up" in log.read_text(), "the simulated site", timeout=15)
            line = re.search(rf"(?m)^site sim on {re.escape(address)}: (.*)$", log.read_text())
            assert line, log.read_text()
            argv = shlex.split(line[1])
            assert argv[:3] == ["check_digitalsentry", "-H", address], argv
            return Site(inventory, argv[3:])

        yield start


def test_the_installed_plugin_checks_a_healthy_and_a_faulty_site(
    files: list[str], simulator: Callable[..., Site]
) -> None:
    healthy = simulator("127.0.9.1")
    faulty = simulator("127.0.9.2", "--fault", "video=off")
    ok = run([PLUGIN, "--inventory", healthy.inventory, "-t", "5"])
    assert ok.returncode == 0, ok
    assert ok.stdout.startswith("DIGITALSENTRY OK - 8 ports as expected on 127.0.9.1"), ok.stdout
    bad = run([PLUGIN, "-H", "127.0.9.2", *faulty.options, "-t", "5", "-v"])
    assert bad.returncode == 2, bad
    assert bad.stdout.startswith("DIGITALSENTRY CRITICAL - video 18772/tcp closed"), bad.stdout
    assert "\nvideo 18772/tcp CRITICAL closed: " in bad.stdout, bad.stdout
    assert bad.stderr == ""
    version = run([PLUGIN, "--version"])
    assert version.returncode == 3 and version.stdout.startswith("check_digitalsentry "), version


def test_the_installed_crontab_example_runs_the_installed_plugin(
    files: list[str], simulator: Callable[..., Site], tmp_path: Path
) -> None:
    """The example crontab as shipped, its plugin path untouched: cron's PATH, /bin/sh, exit 2 and the
    report on stdout (cron's mail) for a faulty site."""
    need_program("flock", "the crontab runs every job under flock -n (util-linux)")
    site = simulator("127.0.9.3", "--fault", "video=off")
    (mail,) = [job for job in cron_jobs(EXAMPLES / "digitalsentry.crontab") if "--output" not in job.command]
    assert str(PLUGIN) in mail.command and cron_jobs(EXAMPLES / CRONTAB.name) == cron_jobs(CRONTAB)
    paths = Paths(tmp_path, str(PLUGIN))
    paths.inventory.write_text(site.inventory.read_text())
    report = run_job(mail, paths)
    assert report.returncode == 2, report
    assert report.stdout.startswith("DIGITALSENTRY CRITICAL - sim/127.0.9.3 video 18772/tcp closed"), report


#: contrib/prometheus, shipped as examples (uncompressed: they are copied and imported as they are).
PROMETHEUS_EXAMPLES = ("digitalsentry.rules.yml", "digitalsentry.rules.test.yml", "digitalsentry-dashboard.json")


def test_the_installed_prometheus_rules_pass_their_unit_tests(files: list[str], tmp_path: Path) -> None:
    """README's step, as written: the rules copied from the examples into Prometheus' directory; promtool
    checks them and runs their unit tests (shipped beside them) there."""
    promtool = need_program("promtool", "Prometheus' rule checker (package prometheus)")
    for name in PROMETHEUS_EXAMPLES:
        assert (EXAMPLES / name).read_bytes() == (REPO / "contrib" / "prometheus" / name).read_bytes(), name
    shutil.copy(EXAMPLES / "digitalsentry.rules.yml", tmp_path)
    shutil.copy(EXAMPLES / "digitalsentry.rules.test.yml", tmp_path)
    checked = run([promtool, "check", "rules", "digitalsentry.rules.yml"], cwd=tmp_path)
    found = f"SUCCESS: {alerts(tmp_path / 'digitalsentry.rules.yml')} rules found"
    assert checked.returncode == 0 and found in checked.stdout, checked
    tested = run([promtool, "test", "rules", "digitalsentry.rules.test.yml"], cwd=tmp_path)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested


# --- Icinga 2: include <plugins-contrib> ---------------------------------------------------------------


ICINGA_CONSTANTS = Path("/etc/icinga2/constants.conf")


def icinga_config(host_check: str, *includes: str) -> str:
    """Debian's constants.conf (PluginDir and the other plugin directories, as icinga2.conf starts), the
    ITL includes, and one Host whose check is ``host_check`` and which has vars.digitalsentry."""
    need_readable(ICINGA_CONSTANTS, "Debian's /etc/icinga2 is 0750 nagios:nagios")
    if not ICINGA_CONSTANTS.is_file():
        unusable(f"{ICINGA_CONSTANTS} is missing (package icinga2-common); .ci/run installs it")
    assert re.search(r'(?m)^const PluginDir = "/usr/lib/nagios/plugins"$', ICINGA_CONSTANTS.read_text())
    return (
        f'include "{ICINGA_CONSTANTS}"\n' + "".join(f"include <{name}>\n" for name in includes)
        + f'object Host "ds01" {{\n  check_command = "{host_check}"\n  address = "127.0.9.4"\n'
        '  vars.digitalsentry_sql_instance = "DIGITALSENTRY"\n  vars.digitalsentry_web = true\n'
        '  vars.digitalsentry = { sql_instance = "DIGITALSENTRY", web = true }\n}\n')


def test_icinga2_finds_the_checkcommand_through_include_plugins_contrib(files: list[str], tmp_path: Path) -> None:
    icinga = Icinga(tmp_path)
    icinga.conf.write_text(icinga_config("digitalsentry", "itl", "plugins", "plugins-contrib"))
    valid = icinga.validate()
    assert valid.returncode == 0, valid.stdout + valid.stderr
    defines = [arg for arg in icinga.defines() if arg.startswith("-D")]  # -c means --count here
    listed = subprocess.run([icinga.binary, "object", "list", "--type", "CheckCommand", "--name", "digitalsentry",
                             *defines], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed
    assert f"declared in '{ICINGA_COMMAND}'" in listed.stdout, listed.stdout
    assert f'"{PLUGIN}"' in listed.stdout, listed.stdout  # command = [ PluginDir + "/check_digitalsentry" ]
    # Negative controls: without the include, and with a command nobody defines, validation fails.
    for includes, command in ((("itl", "plugins"), "digitalsentry"),
                              (("itl", "plugins", "plugins-contrib"), "digitalsentry-unknown")):
        icinga.conf.write_text(icinga_config(command, *includes))
        broken = icinga.validate()
        assert broken.returncode != 0, broken.stdout
        assert f"'{command}'" in broken.stdout + broken.stderr, broken.stdout


def test_the_installed_apply_rule_and_distributed_example_validate_with_the_package(
    files: list[str], tmp_path: Path
) -> None:
    """With the package, global-templates gets the apply rule only (its README): the command comes
    from include <plugins-contrib> on the master, and copying it as well would define it twice."""
    icinga = Icinga(tmp_path)
    zones = EXAMPLES / "distributed"
    shutil.copytree(zones / "zones.d", icinga.etc / "zones.d")
    templates = icinga.etc / "zones.d" / "global-templates"
    (templates / "README.md").unlink()
    (templates / "digitalsentry-services.conf").write_text((EXAMPLES / "digitalsentry-services.conf").read_text())
    header = icinga_config("dummy", "itl", "plugins", "plugins-contrib").split("object Host")[0]
    icinga.conf.write_text(f'const NodeName = "master.example.com"\n{header}'
                           'template Host "generic-host" { check_command = "dummy" }\n'
                           'template Service "generic-service" { }\n'
                           f'include "{zones / "zones.conf"}"\n')
    valid = icinga.validate()
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "Instantiated 5 Services." in valid.stdout, valid.stdout
    (templates / "digitalsentry-command.conf").write_text(ICINGA_COMMAND.read_text())
    twice = icinga.validate()
    assert twice.returncode != 0 and "digitalsentry" in twice.stdout, twice.stdout


# --- Nagios 4: Debian's stock configuration reads /etc/nagios-plugins/config -------------------------


def stock_nagios(root: Path, objects: str) -> subprocess.CompletedProcess[str]:
    """``nagios4 -v`` on Debian's stock nagios.cfg, which reads the package's commands from its
    cfg_dir=/etc/nagios-plugins/config, plus one object file that defines no command."""
    root.mkdir()
    (root / "ds.cfg").write_text(objects)
    main = stock_nagios_config(root, root / "ds.cfg", package_commands=True)
    return run([need_program("nagios4", "Debian's nagios4 reads the package's commands"), "-v", main])


def ds_objects(command: str) -> str:
    return ("define host {\n    use generic-host\n    host_name ds01\n    address 127.0.9.5\n"
            "    max_check_attempts 3\n    check_period 24x7\n    contact_groups admins\n}\n"
            "define service {\n    use generic-service\n    host_name ds01\n"
            f"    service_description Digital Sentry ports\n    check_command {command}\n}}\n")


def test_nagios4_accepts_debians_stock_config_with_the_packaged_commands(files: list[str], tmp_path: Path) -> None:
    """No command is defined here: check_digitalsentry comes from the installed conffile, read through
    the stock cfg_dir."""
    valid = stock_nagios(tmp_path / "valid", ds_objects("check_digitalsentry!--sql-instance DIGITALSENTRY -t 5"))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "Total Warnings: 0" in valid.stdout and "Total Errors:   0" in valid.stdout, valid.stdout
    broken = stock_nagios(tmp_path / "broken", ds_objects("check_digitalsentry_unknown!-t 5"))
    assert broken.returncode != 0, broken.stdout
    assert "check_digitalsentry_unknown" in broken.stdout, broken.stdout


def test_the_packaged_nagios_commands_run_the_installed_plugin(
    files: list[str], simulator: Callable[..., Site]
) -> None:
    """Each installed command line, its macros expanded as Nagios does with Debian's resource.cfg
    ($USER1$=/usr/lib/nagios/plugins), checks a healthy (exit 0) and a faulty site (exit 2)."""
    resource = need_readable(Path("/etc/nagios4/resource.cfg"), "Debian's is 0640 root:nagios")
    user1 = re.search(r"(?m)^\$USER1\$=(.*)$", resource.read_text())
    assert user1 and user1[1] == str(PLUGIN.parent), user1
    commands = command_lines(NAGIOS_COMMANDS)
    assert sorted(commands) == ["check_digitalsentry", "check_digitalsentry_host",
                                "check_digitalsentry_host_sql_port"]
    for address, code, options in (("127.0.9.6", 0, ()), ("127.0.9.7", 2, ("--fault", "video=off"))):
        site = simulator(address, *options)
        rest = list(site.options)
        instance = rest.pop(rest.index("--sql-instance") + 1)
        rest.remove("--sql-instance")
        assert "--audio-clients" not in rest, rest  # the simulator runs none: the host variable says 0
        macros = {"USER1": user1[1], "HOSTADDRESS": address, "_HOSTDS_INSTANCE": instance,
                  "_HOSTDS_AUDIO_CLIENTS": "0", "_HOSTDS_OPTIONS": " ".join(rest)}
        for name, arg1 in (("check_digitalsentry", " ".join(site.options)), ("check_digitalsentry_host", "")):
            line = expand(commands[name], {**macros, "ARG1": f"{arg1} -t 5"})
            checked = run(["/bin/sh", "-c", line])
            assert checked.returncode == code, (line, checked)
            assert checked.stdout.startswith("DIGITALSENTRY " + ("OK" if code == 0 else "CRITICAL - video")), checked


# --- Debian's pytest-3 with the installed pytest plugin ---------------------------------------------


def test_pytest3_runs_a_handover_with_the_installed_plugin(
    files: list[str], simulator: Callable[..., Site], tmp_path: Path
) -> None:
    pytest3 = need_program("pytest-3", "the handover runs with Debian's pytest (package python3-pytest)")
    healthy = simulator("127.0.9.8")
    faulty = simulator("127.0.9.9", "--fault", "video=off")
    work = tmp_path / "handover"
    work.mkdir()
    passed = run([pytest3, "-p", "no:cacheprovider", "--dsports-inventory", healthy.inventory], cwd=work)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"plugins: .*check-digitalsentry-", passed.stdout), passed.stdout
    assert "dsports: site handover" in passed.stdout and "8 passed" in passed.stdout, passed.stdout
    failed = run([pytest3, "-p", "no:cacheprovider", "--dsports-inventory", faulty.inventory], cwd=work)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "7 passed" in failed.stdout and "1 failed" in failed.stdout, failed.stdout
    assert "video 18772/tcp is closed" in failed.stdout, failed.stdout
    # Debian's pytest on Debian's Python, with the bare environment: the plugin came from the package.
    version = run(["/usr/bin/python3", "-c", "import pytest; print(pytest.__version__)"])
    assert f"pytest-{version.stdout.strip()}" in passed.stdout, passed.stdout
