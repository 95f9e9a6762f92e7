"""Shared fixtures: simulated DS sites on loopback, and the real console script in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from support import CheckRun, plugin_env

from check_digitalsentry.simulator import SimSite, Simulator

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
# No process a test starts buffers differently from how it would under Icinga, Nagios or cron, which never
# set this (a development machine or CI often does): the check plugin is run with ``support.plugin_env``,
# and nothing else inherits it either.
os.environ.pop("PYTHONUNBUFFERED", None)


def need_program(name: str, why: str) -> str:
    """The path of a system program; skip (or, under CI=true, fail) when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/lib/nagios/plugins")
    if path is None:
        message = f"{name} is not installed ({why}); .ci/run installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def need_root(why: str) -> None:
    """Skip the calling test unless it runs as root -- also under CI=true: CI runs the suite as root, then as
    an unprivileged user, whose run proves that each of these skips (and none fails)."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root ({why})")


def need_readable(path: Path, why: str) -> Path:
    """``path``, or a skip when it exists but this user may not read it (root's or a daemon's configuration,
    such as /etc/nagios4/resource.cfg, 0640 root:nagios) -- also under CI=true, as ``need_root``."""
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        pytest.skip(f"{path} is not readable by this user ({why}): root or the file's group may read it")
    except OSError:
        pass  # missing: the caller says what that means
    return path


def script(name: str) -> str:
    """A console script of this project, from the environment running the tests."""
    path = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if path is None:
        pytest.fail(f"console script {name} is not installed: pip install the project first")
    return path


#: The readiness call the engine was told to use (CHECK_DIGITALSENTRY_POLLER; "" for the system's best).
POLLER = os.environ.get("CHECK_DIGITALSENTRY_POLLER", "").strip().lower()


def need_scalable_poller(why: str, pollers: tuple[str, ...] = ("poll", "select")) -> None:
    """Skip a test of fleet scale under poll() or select() (CI's second and third runs): they scan every socket
    at each wait, and select() watches descriptors below 1024 only -- scale is epoll's and kqueue's."""
    if POLLER in pollers:
        pytest.skip(f"{why}: a scale for epoll and kqueue, not for CHECK_DIGITALSENTRY_POLLER={POLLER}")


def check_args_env() -> list[str]:
    """The console script ``check_digitalsentry`` as argv, for a subprocess of its own."""
    return [script("check_digitalsentry")]


@pytest.fixture
def simulate() -> Iterator[Callable[..., Simulator]]:
    """Start simulated DS sites: ``simulate(faults={"video": "off"})`` -> a running Simulator.

    Sites default to ephemeral ports and no audio clients (silent UDP costs 1.5 s a probe); every
    simulator started is closed at teardown.
    """
    started: list[Simulator] = []

    def start(*sites: SimSite, **kwargs: object) -> Simulator:
        if not sites:
            kwargs.setdefault("audio_clients", 0)
            sites = (SimSite(**kwargs),)  # type: ignore[arg-type]
        sim = Simulator(list(sites)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.close()


@pytest.fixture
def check() -> Callable[..., CheckRun]:
    """Run ``check_digitalsentry`` with arguments: ``check("-H", "127.0.0.1", "-t", "2")``, in the environment
    a monitoring core gives it (``support.plugin_env``: ``env`` adds to it)."""
    exe = script("check_digitalsentry")

    def run(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> CheckRun:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                              env=plugin_env(env), stdin=subprocess.DEVNULL)
        return CheckRun(proc)

    return run
