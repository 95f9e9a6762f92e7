"""Platforms: native Windows is refused by both frontends with one line (faked: ``sys.platform`` set to win32
in a subprocess, with the POSIX-only names Windows lacks taken away, so the refusal is proven to come before
anything that would fail there); macOS is supported -- the engine runs on whatever readiness call
``CHECK_DIGITALSENTRY_POLLER`` picks (CI runs the engine and frontend tests again with ``poll`` and
``select``), the loopback aliases the suite needs are scripted, and the classifiers say so."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, check_args_env

from check_digitalsentry import WINDOWS
from check_digitalsentry.engine import scheduler
from check_digitalsentry.engine.scheduler import POLLER_VARIABLE, Poller, Scheduler, poller_choice

#: Python run as native Windows would run it: the platform says win32, and the POSIX-only names are gone.
AS_WINDOWS = """\
import _signal, os, signal, sys
sys.platform = "win32"
for module, names in ((signal, ("SIGHUP", "SIGALRM", "setitimer", "ITIMER_REAL")), (_signal, ("SIGHUP", "SIGALRM")),
                      (os, ("O_NONBLOCK", "O_CLOEXEC", "geteuid", "chown"))):
    for name in names:
        if hasattr(module, name):
            delattr(module, name)
"""

#: The environment Icinga and Nagios give a plugin: almost nothing.
MINIMAL = {"PATH": "/usr/bin:/bin", "LANG": "C"}


def as_windows(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", AS_WINDOWS + code, *args], capture_output=True, text=True,
                          timeout=120, env=MINIMAL, cwd=cwd, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("argv", [["-H", "127.0.0.1"], ["--inventory", "sites.toml"], ["--demo"], ["--help"],
                                  ["--version"]])
def test_the_check_refuses_native_windows_with_one_line(argv: list[str]) -> None:
    run = as_windows("from check_digitalsentry.cli import run; run(sys.argv[1:])", *argv)
    assert run.returncode == 3, run
    assert run.stdout == ("DIGITALSENTRY UNKNOWN - native Windows is not supported: run it under WSL 2 (the Windows "
                          "Subsystem for Linux), where it runs as on Linux\n"), run
    assert run.stderr == ""


#: A conftest that makes the platform native Windows's while the plugins configure, and gives Linux back when
#: the session starts: pytest's own machinery around a run would look for what Linux's Python lacks.
WINDOWS_CONFTEST = """\
import pytest

SAVED = {}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    import _signal, os, signal, sys
    SAVED.update(platform=sys.platform, names=[(m, n, getattr(m, n)) for m, names in (
        (signal, ("SIGHUP", "SIGALRM", "setitimer", "ITIMER_REAL")), (_signal, ("SIGHUP", "SIGALRM")),
        (os, ("O_NONBLOCK", "O_CLOEXEC", "geteuid", "chown"))) for n in names if hasattr(m, n)])
""" + "".join(f"    {line}\n" for line in AS_WINDOWS.splitlines() if not line.startswith("import")) + """\


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    import sys
    sys.platform = SAVED["platform"]
    for module, name, value in SAVED["names"]:
        setattr(module, name, value)
"""


def test_pytest_dsports_refuses_native_windows_with_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(WINDOWS_CONFTEST)
    (tmp_path / "sites.toml").write_text('[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\n')
    (tmp_path / "test_own.py").write_text("def test_own():\n    pass\n")

    def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env={**MINIMAL, "PYTHONPATH": ""})

    for args in (["--dsports-inventory", "sites.toml"], ["--dsports-host", "127.0.0.1"],
                 ["--dsports-report", "r.json"]):
        run = pytest_run(*args)
        assert run.returncode == pytest.ExitCode.USAGE_ERROR, run
        assert run.stderr.strip() == f"ERROR: pytest_dsports: {WINDOWS}", run
    # a test suite that does not ask pytest_dsports for anything runs as ever on that machine
    own = pytest_run("-q")
    assert own.returncode == 0 and "1 passed" in own.stdout, own


def test_the_classifiers_say_what_is_supported() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    classifiers = re.findall(r'"(Operating System :: [^"]+)"', text)
    assert sorted(classifiers) == ["Operating System :: MacOS", "Operating System :: POSIX :: Linux"]
    assert "Windows" not in text.split("[project.optional-dependencies]")[0]


# --- the poller --------------------------------------------------------------------------------------------------


def test_the_poller_is_the_one_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI runs this module (and the engine's and frontends') with CHECK_DIGITALSENTRY_POLLER=poll and =select:
    the engine's loop then really runs on it."""
    asked = os.environ.get(POLLER_VARIABLE, "")
    loop = Scheduler()
    try:
        assert loop.poller.name == (asked or ("epoll" if hasattr(scheduler.select, "epoll") else loop.poller.name))
        assert (loop.poller.epoll is not None) is (loop.poller.name == "epoll")
    finally:
        loop.close()
    for name, selector in (("poll", "PollSelector"), ("select", "SelectSelector"), ("epoll", None)):
        monkeypatch.setenv(POLLER_VARIABLE, name)
        poller = Poller()
        try:
            assert poller.name == name
            assert (type(poller.selector).__name__ if poller.selector else None) == selector
            assert (poller.limit is not None) is (name == "select")
            if name == "select":
                assert 16 <= poller.limit <= scheduler.FD_SETSIZE - 1 - 3  # below 1024, above stdio at least
                with pytest.raises(scheduler.TooHigh, match="select\\(\\) watches descriptors below 1024 only"):
                    poller.register(scheduler.FD_SETSIZE, 1, None)
        finally:
            poller.close()
    monkeypatch.setenv(POLLER_VARIABLE, "select")
    loop = Scheduler(max_sockets=5000)
    try:
        assert loop.max_sockets == loop.poller.limit < 1024  # select() watches descriptors below 1024 only
    finally:
        loop.close()


def test_a_socket_select_cannot_watch_is_this_machines_limit_never_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under select(), a probe whose socket lands at descriptor 1024 or above is UNKNOWN (this machine's
    limit), and the engine held no more sockets than fit below 1024: here the process already holds more."""
    import resource
    import socket

    from check_digitalsentry.engine import probe_sites
    from check_digitalsentry.judge import judge_report
    from check_digitalsentry.model import State, Status
    from check_digitalsentry.schema import Site

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.skip(f"the hard open-file limit ({hard}) leaves no descriptor above 1024 to fill")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))  # as the engine raises it for a fleet
    monkeypatch.setenv(POLLER_VARIABLE, "select")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        held = [os.dup(server.fileno()) for _ in range(1100)]  # the descriptors below 1024 are taken
        try:
            [report] = probe_sites([Site("x", ("127.0.0.1",), roles=("video",),
                                         ports={"video": server.getsockname()[1]})], deadline=time.monotonic() + 3)
        finally:
            for fd in held:
                os.close(fd)
    [verdict] = judge_report(report)
    assert verdict.result.status is Status.UNKNOWN and verdict.state is State.UNKNOWN, verdict
    assert verdict.result.facts.local_limit and "select() watches descriptors below 1024 only" in verdict.detail


def test_a_poller_the_system_lacks_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for value, message in (("bogus", "CHECK_DIGITALSENTRY_POLLER='bogus': expected epoll, kqueue, poll, select "
                                     "(or unset)"),
                           ("kqueue", "CHECK_DIGITALSENTRY_POLLER=kqueue: this system has no kqueue()")):
        if value == "kqueue" and hasattr(scheduler.select, "kqueue"):
            continue  # a BSD or a Mac has it
        with pytest.raises(ValueError) as caught:
            poller_choice({POLLER_VARIABLE: value})
        assert str(caught.value) == message
        run = subprocess.run([*check_args_env(), "-H", "127.0.0.1", "-t", "1"], capture_output=True, text=True,
                             env={**MINIMAL, POLLER_VARIABLE: value}, timeout=30)
        assert (run.returncode, run.stdout) == (3, f"DIGITALSENTRY UNKNOWN - {message}\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dsports-host", "127.0.0.1"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60,
                         env={**os.environ, POLLER_VARIABLE: "bogus"})
    assert run.returncode == pytest.ExitCode.USAGE_ERROR and "ERROR: dsports: CHECK_DIGITALSENTRY_POLLER=" in run.stderr


def test_ci_runs_the_engine_and_frontend_tests_with_poll_and_select() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    loop = re.search(r"for poller in ([a-z ]+); do\n  CHECK_DIGITALSENTRY_POLLER=\$poller pytest -q (.*?)\ndone", ci,
                     re.DOTALL)
    assert loop, "the .ci/run step that runs the tests off epoll"
    assert loop.group(1).split() == ["poll", "select"]
    modules = loop.group(2).replace("\\\n", " ").split()
    for module in ("tests/test_engine.py", "tests/test_engine_sockets.py", "tests/test_hostile_network.py",
                   "tests/test_check_cli.py", "tests/test_pytest_plugin.py", "tests/test_platforms.py"):
        assert module in modules and (REPO / module).is_file(), module


# --- macOS: the loopback aliases --------------------------------------------------------------------------------

#: Loopback addresses the tests name but never bind: a boundary, the fleet limit, and addresses picked per
#: process or for sites where nothing must listen (the script's header says so).
NOT_BOUND = {"127.0.0.0", "127.255.255.253"}
DYNAMIC = ("127.{14 + n // 4}", "127.{i // 62500 + 1}", "127.10.{i // 250}", "127.9.{i // 250}")


def test_the_macos_aliases_cover_every_loopback_address_the_tests_name() -> None:
    script = (REPO / "contrib" / "macos" / "loopback-aliases.sh").read_text(encoding="utf-8")
    nets = set(re.search(r'NETS="([^"]+)"', script).group(1).split())  # type: ignore[union-attr]
    sources = [*sorted((REPO / "tests").glob("*.py")), *sorted((REPO / "contrib").glob("*.py")),
               REPO / "README.md"]
    missing = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for found in re.findall(r"\b127\.\d+\.\d+\.(?:\d+|\{)", text):
            address = found.rstrip("{") + "1" if found.endswith("{") else found
            ipaddress.ip_address(address)
            if address not in NOT_BOUND and address.rsplit(".", 1)[0] not in nets:
                missing.add(f"{path.name}: {found}")
        for template in re.findall(r"127\.\{[^}]+\}|127\.\d+\.\{[^}]+\}", text):
            if template not in DYNAMIC and not template.startswith(tuple(f"{net}.{{" for net in nets)):
                missing.add(f"{path.name}: {template}")
    assert not missing, f"add their networks to contrib/macos/loopback-aliases.sh: {sorted(missing)}"
    assert "ifconfig lo0 alias" in script and "ifconfig lo0 -alias" in script
