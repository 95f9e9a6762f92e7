"""Test helpers shared by several test modules (the fixtures themselves live in conftest.py)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from check_digitalsentry.simulator import SimSite, Simulator

T = TypeVar("T")

#: The environment a monitoring core or cron gives a plugin: a short PATH, and nothing of the test run's
#: own (no PYTHONUNBUFFERED, which hides a stdout that fails at exit, no virtualenv, no PYTHONPATH).
#: Icinga 2, Nagios 4 and cron (crontab(5): PATH=/usr/bin:/bin) start the check so.
PLUGIN_ENV = {"PATH": "/usr/bin:/bin"}


def plugin_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """``PLUGIN_ENV`` with ``extra`` (a locale, TZ...): how every test runs check_digitalsentry as a process."""
    return {**PLUGIN_ENV, **(extra or {})}


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


class Daemon:
    """A monitoring daemon started by a test (``running``), with a way to wait for what it produces."""

    def __init__(self, proc: subprocess.Popen[bytes], logs: list[Path]) -> None:
        self.proc = proc
        self.logs = logs

    def _logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())

    def until(self, probe: Callable[[], T | None], what: str, timeout: float = 30, interval: float = 0.2) -> T:
        """Poll ``probe`` until it returns something true; fail (with the logs) if the daemon dies or
        ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            assert self.proc.poll() is None, f"the daemon exited ({self.proc.returncode}):\n{self._logs()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout:g} s:\n{self._logs()}"
            time.sleep(interval)


@contextlib.contextmanager
def running(argv: list[str], log: Path, *more_logs: Path) -> Iterator[Daemon]:
    """Run a daemon in the foreground for the length of the block; stop it (SIGTERM, then SIGKILL) after.
    It gets ``PLUGIN_ENV``, as from a service manager: the plugins it starts get no more than that."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=plugin_env())
        try:
            yield Daemon(proc, [log, *more_logs])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class LineWatch:
    """What a ``check_digitalsentry --watch`` without a terminal printed around one change made while it ran."""

    def __init__(self, first: list[str], line: str, rest: str, code: int, made: object) -> None:
        self.first = first  #: each port's first result
        self.line = line  #: the line printed after the change was made
        self.rest = rest  #: the rest of stdout: the summary, the status line
        self.code = code
        self.made = made  #: what ``change`` returned


def watch_lines(argv: list[str], env: dict[str, str], ports: int, change: Callable[[], object], *,
                before: float = 0.0, stop: int = 15) -> LineWatch:
    """Run a watch whose stdout is a pipe: read the ``ports`` first lines, wait ``before`` seconds, make
    ``change``, read the next line, let two more rounds pass, stop it with signal ``stop`` (SIGTERM)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    try:
        first = [proc.stdout.readline() for _ in range(ports)]
        time.sleep(before)
        made = change()
        line = proc.stdout.readline()
        time.sleep(2.5)
        proc.send_signal(stop)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert err == "", err
    return LineWatch(first, line, rest, proc.returncode, made)


#: The line a watch with --serve prints on stderr (no terminal): the page's address and token.
LIVE_URL = re.compile(r"live view \(read-only\) is at (http://127\.0\.0\.1:(\d+)/([A-Za-z0-9_-]+)/)")


class Watching:
    """A running ``--watch --serve``: its process, the page's URL, port and token."""

    def __init__(self, proc: subprocess.Popen[str], url: str, port: int, token: str) -> None:
        self.proc, self.url, self.port, self.token = proc, url, port, token

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            answer = conn.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            conn.close()

    def state(self) -> dict[str, object]:
        status, _, body = self.get(f"/{self.token}/state.json")
        assert status == 200
        return json.loads(body)  # type: ignore[no-any-return]


@contextlib.contextmanager
def served_watch(check: str, latency: float = 0.0) -> Iterator[tuple[Watching, Simulator]]:
    """``check_digitalsentry --watch --serve 127.0.0.1:0`` (``check``: the console script) over a simulated
    site whose video port is off (its replies delayed by ``latency`` seconds, and -t as much longer),
    stopped with SIGTERM after the block."""
    sim = Simulator([SimSite(faults={"video": "off"}, audio_clients=0, latency=latency)], record=True).start()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}  # as cron or a shell starts it
    proc = subprocess.Popen([check, *check_args(sim), "--watch", "--interval", "1", "-t", f"{5 + latency:g}",
                             "--watch-for", "180", "--serve", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = LIVE_URL.search(line)
        assert found, f"no URL on stderr: {line!r}"
        yield Watching(proc, found[1], int(found[2]), found[3]), sim
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        sim.close()


def alerts(rules: Path) -> int:
    """How many alerting rules a Prometheus rule file holds: what `promtool check rules` must say it found."""
    return sum(1 for line in rules.read_text().splitlines() if line.strip().startswith("- alert:"))
