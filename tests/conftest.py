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
from support import CheckRun

from check_digitalsentry.simulator import SimSite, Simulator

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def need_program(name: str, why: str) -> str:
    """The path of a system program; skip (or, under CI=true, fail) when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/lib/nagios/plugins")
    if path is None:
        message = f"{name} is not installed ({why}); .ci/run installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def script(name: str) -> str:
    """A console script of this project, from the environment running the tests."""
    path = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if path is None:
        pytest.fail(f"console script {name} is not installed: pip install the project first")
    return path


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
    """Run ``check_digitalsentry`` with arguments: ``check("-H", "127.0.0.1", "-t", "2")``."""
    exe = script("check_digitalsentry")

    def run(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> CheckRun:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
        return CheckRun(proc)

    return run
