"""Test helpers shared by several test modules (the fixtures themselves live in conftest.py)."""

from __future__ import annotations

import shlex
import subprocess

from check_digitalsentry.simulator import SimSite, Simulator


class CheckRun:
    """One run of the check_digitalsentry console script."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.lines = proc.stdout.splitlines()

    @property
    def first(self) -> str:
        """The status line without its perfdata."""
        return self.lines[0].split(" | ")[0] if self.lines else ""

    @property
    def perfdata(self) -> dict[str, str]:
        """label -> the rest of the perfdata item (``1;;1:;0;1``), from the first and trailing lines."""
        text = " ".join(line.split("|", 1)[1] for line in self.lines if "|" in line)
        items: dict[str, str] = {}
        for token in text.split():
            label, _, value = token.partition("=")
            items[label.strip("'")] = value
        return items

    def __repr__(self) -> str:
        return f"CheckRun(exit {self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def check_args(sim: Simulator, site: SimSite | None = None) -> list[str]:
    """The arguments of the command line the simulator prints for a site."""
    return shlex.split(sim.command_line(site))[1:]


def modules_loaded_by(statement: str) -> set[str]:
    """The modules a fresh interpreter loads to run ``statement`` (without dev mode, which loads more).

    ``__future__`` counts as already loaded: every module of ours starts with
    ``from __future__ import annotations``, and whether the interpreter has it before depends on how the
    project is installed (an editable install's import hook loads it).
    """
    import os
    import sys

    code = ("import sys, __future__; before = set(sys.modules); "
            f"{statement}; print(' '.join(set(sys.modules) - before))")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDEVMODE"}
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return set(run.stdout.split())
