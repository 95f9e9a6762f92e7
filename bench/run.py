#!/usr/bin/env python3
"""Benchmark check_digitalsentry against what a user would run instead, in one run, on simulated DS sites.

    python bench/run.py [--runs 7] [--only healthy,degraded,fleet,startup] [--markdown FILE]

Run it with the python of a virtual environment made by ``pip install .`` (NOT editable): the measured
commands are that environment's console scripts (``check_digitalsentry``, ``dsports-simulator``,
``pytest``), so the numbers are those of an installed, byte-compiled build. See bench/README.md for what
each row means.

How a measurement is made: every measured command is a child process started with ``Popen`` and reaped
with ``os.wait4``, which gives its wall time (fork to reap), its CPU (user + system, including any
children it waited for) and its peak RSS. A "unit" of several commands (the five Monitoring Plugins
calls, nmap's two scans) is the sum of their walls and CPUs and the largest RSS. Reported values are
medians over the runs; runs of the compared commands are interleaved. Every run's exit code (and a
sign in its output that it really did the work) is checked: a wrong one aborts the benchmark. Children
get this environment minus every ``PYTHON*`` variable (``PYTHONDONTWRITEBYTECODE`` would make every
import recompile), as Nagios/Icinga would start them. Simulators run as separate processes (their own
process groups, killed on exit), so only the measured tool is in the measured process.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  #: the venv's bin directory (not resolved: that would leave the venv)
PLUGINS = Path("/usr/lib/nagios/plugins")
PHASES = ("healthy", "degraded", "fleet", "scale", "submit", "watch", "blackbox", "startup")

HEALTHY_ADDRESS = "127.0.0.60"
NETNS_CLIENT, NETNS_SERVER = "10.66.70.1", "10.66.70.2"
SQL_INSTANCE = "DIGITALSENTRY"
DEGRADED_TIMEOUT = 5  #: -t of every command in the degraded row
FLEET_SITES, PYTEST_SITES = 500, 50

# Targets (from the issue).
TARGET_HEALTHY_CPU_VS_FLOOR = 1.2
TARGET_DEGRADED_WALL = DEGRADED_TIMEOUT + 0.25
TARGET_FLEET_WALL = 3.0
TARGET_FLEET_RSS_MB = 150.0
TARGET_FLEET_VS_NMAP = 20.0
SCALE_SITES, SCALE_FIRST = 10000, "127.1.0.1"  #: row 5a: a fleet of simulated sites, 8 ports each
#: Sites per simulator process: ~10 listening sockets a site, and as many accepted connections at the
#: peak of a check, must fit under a hard RLIMIT_NOFILE of 20,000 (this CI's).
SCALE_PER_SIMULATOR = 800
TARGET_SCALE_WALL, TARGET_SCALE_RSS_MB = 10.0, 400.0
#: -t of the 10,000-site run: long enough for every port to be probed on a 2-core machine that also runs
#: the 13 simulator processes (with the default 10 s the run ends at its deadline with ports unprobed,
#: and its wall would say nothing); the target above is still 10 s.
SCALE_TIMEOUT = 60
MEMORY_SITES = (500, 2000)  #: row 5: peak RSS per port at these sizes (and at SCALE_SITES)
#: Row 5c: the 10,000 sites submitted to a private Icinga 2: runs, -t, and "well inside a 5-minute cycle".
SCALE_SUBMIT_RUNS, SCALE_SUBMIT_TIMEOUT, TARGET_SCALE_SUBMIT_WALL = 3, 120, 60.0
DROPPED_SITES, DROPPED_TIMEOUT = 3000, 2  #: row 5b: sites behind a router that drops everything
TARGET_DROPPED_WALL = DROPPED_TIMEOUT + 0.25

SUBMIT_SITES, SUBMIT_FIRST = 500, "127.3.0.1"  #: row 6: a fleet probed and submitted to a real Icinga 2
SUBMIT_TIMEOUT = 30  #: -t of the submit run (the probes get 70 %: 21 s)

WATCH_ADDRESS = "127.0.0.61"  #: row 7: the watched healthy site
#: --watch-for of row 7's two watches (at --interval 1, about one round a second): only their length differs.
WATCH_SHORT, WATCH_LONG = 3, 13

#: Row 8: the same simulated sites probed by ours and by Prometheus' blackbox_exporter.
BLACKBOX_SIZES, BLACKBOX_FIRST, BLACKBOX_PER_SIMULATOR = (500, 2000), "127.4.0.1", 500
BLACKBOX_PORT = 19115  #: the exporter's listening port on 127.0.0.1
BLACKBOX_CONCURRENCY = 500  #: requests in flight to the exporter (Prometheus: a connection per target)
#: -t of ours in row 8: every port is probed even on a loaded machine (the wall says how long it took)
BLACKBOX_TIMEOUT = 30
#: What the exporter is asked per site: its TCP/TLS part (it has no UDP prober and speaks no TDS).
BLACKBOX_MODULES = (("sql", "tcp_connect"), ("video", "tcp_connect"), ("diagnostics", "tcp_connect"),
                    ("web", "tls_connect"))
#: The faulty sites (role, fault, in words): FAULT_SITES sites each, one simulator per fault.
BLACKBOX_FAULTS = (("sql", "garbage", "SQL port answers garbage"), ("sql-browser", "off", "Browser stopped"),
                   ("video", "reset", "video accepts, then resets"),
                   ("sql", "other-instance", "another SQL instance on the SQL port"),
                   ("web", "reset", "web accepts, then resets"), ("diagnostics", "off", "diagnostics closed"))
FAULT_SITES, FAULT_FIRST = 5, "127.5.0.1"
TARGET_CPU_VS_BLACKBOX = 0.5  #: ours' CPU per port over the exporter's, at most

FLOOR_IMPORTS = "import nagiosplugin, ssl, socket"
CORE_IMPORTS = ("import check_digitalsentry.cli.main, check_digitalsentry.cli.glue, "
                "check_digitalsentry.engine, check_digitalsentry.judge, check_digitalsentry.plugins")
#: nft ruleset for the degraded row: the server namespace drops everything that comes in.
DROP_ALL = """\
flush ruleset
table inet dsbench {
  chain input {
    type filter hook input priority 0; policy drop;
  }
}
"""


class BenchError(Exception):
    """The benchmark cannot go on (a command failed, a simulator did not start...): the message says why."""


def note(text: str) -> None:
    """Progress, on stderr (stdout carries only the report)."""
    print(f"bench: {text}", file=sys.stderr, flush=True)


# --- running and measuring one command --------------------------------------------------------------------


class Watchdog:
    """One thread that kills (the process group of) any measured command still running past its deadline.

    A per-command ``threading.Timer`` would start a thread inside the measured interval; registering with
    this one is a dict insert.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}
        self.killed: set[int] = set()
        threading.Thread(target=self._loop, name="bench-watchdog", daemon=True).start()

    def watch(self, pid: int, seconds: float) -> None:
        with self._lock:
            self._deadlines[pid] = time.monotonic() + seconds

    def done(self, pid: int) -> None:
        with self._lock:
            self._deadlines.pop(pid, None)

    def _loop(self) -> None:
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            with self._lock:
                late = [pid for pid, deadline in self._deadlines.items() if deadline < now]
                for pid in late:
                    del self._deadlines[pid]
                    self.killed.add(pid)
                    try:
                        os.killpg(pid, signal.SIGKILL)  # the child leads its own session
                    except ProcessLookupError:
                        pass


WATCHDOG = Watchdog()


@dataclass
class Sample:
    wall: float  #: seconds, fork to reap
    cpu: float  #: user + system seconds of the child (and of the children it waited for)
    rss_kb: int  #: peak resident set size, KiB (os.wait4's ru_maxrss)
    #: What ru_maxrss cannot go below: Linux counts the memory of the process that spawned the child (this
    #: one, whose peak RSS this is) as the child's until it execs. A peak at or under it is not measured.
    inherited_kb: int = 0
    parts: list[Sample] = field(default_factory=list)  #: a unit's commands, in order


@dataclass
class Command:
    """A measured command: argv, the exit code it must give, and a check of its output (None: fine)."""

    argv: list[str]
    expect: int = 0
    timeout: float = 60.0
    cwd: str | None = None
    validate: Callable[[str], str | None] | None = None
    output: str = ""  #: stdout + stderr of the last run

    def __str__(self) -> str:
        return " ".join(_show(word) for word in self.argv)


def _show(word: str) -> str:
    if any(ord(ch) < 32 for ch in word):
        return "$'" + "".join(f"\\x{ord(ch):02x}" if ord(ch) < 32 else ch for ch in word) + "'"
    return word if re.fullmatch(r"[\w@%+=:,./-]+", word) else repr(word)


Spawn = Callable[..., "subprocess.Popen[Any]"]


def run(cmd: Command, env: dict[str, str], spawn: Spawn | None = None) -> Sample:
    """Run ``cmd`` once, measured; BenchError unless it exits ``cmd.expect`` and its output validates."""
    with tempfile.TemporaryFile() as out:
        kwargs: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": out, "stderr": subprocess.STDOUT,
                                  "env": env, "cwd": cmd.cwd}
        inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        if spawn is None:
            proc: subprocess.Popen[Any] = subprocess.Popen(cmd.argv, start_new_session=True, **kwargs)
        else:
            proc = spawn(cmd.argv, text=False, **kwargs)  # netlab's popen: its own session too
        WATCHDOG.watch(proc.pid, cmd.timeout)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: do not leave the child behind
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
                os.waitpid(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            raise
        wall = time.perf_counter() - started
        WATCHDOG.done(proc.pid)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    cmd.output = text
    if proc.pid in WATCHDOG.killed:
        raise BenchError(f"{cmd}: still running after {cmd.timeout:g} s, killed\n{_tail(text)}")
    if proc.returncode != cmd.expect:
        raise BenchError(f"{cmd}: exit {proc.returncode}, expected {cmd.expect}: a benchmark of a broken run "
                         f"is worthless\n{_tail(text)}")
    problem = cmd.validate(text) if cmd.validate else None
    if problem:
        raise BenchError(f"{cmd}: exit {proc.returncode} as expected, but {problem}\n{_tail(text)}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, inherited)


def run_unit(cmds: list[Command], env: dict[str, str], spawn: Spawn | None = None) -> Sample:
    """Several commands in sequence, as one measured unit: walls and CPUs summed, RSS the largest."""
    samples = [run(cmd, env, spawn) for cmd in cmds]
    return Sample(sum(s.wall for s in samples), sum(s.cpu for s in samples), max(s.rss_kb for s in samples),
                  max(s.inherited_kb for s in samples), samples)


def _tail(text: str, lines: int = 12) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    | " + line[:300] for line in kept) if kept else "    | (no output)"


def starts_with(prefix: str) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        return None if text.startswith(prefix) else f"its output does not start with {prefix!r}"
    return check


def contains(needle: str, what: str) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        return None if needle in text else f"its output lacks {what}"
    return check


@dataclass
class Series:
    """The samples of one measured command or unit."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def rss_mb(self) -> float:
        return max(s.rss_kb for s in self.samples) * 1024 / 1e6

    @property
    def rss_measured(self) -> bool:
        """False when the peak is only what the child inherited from this process (see Sample)."""
        return any(s.rss_kb > s.inherited_kb + 1024 for s in self.samples)  # 1 MiB: this process grows too

    @property
    def rss(self) -> str:
        return f"{self.rss_mb:.1f} MB" if self.rss_measured else f"<= {self.rss_mb:.1f} MB"

    @property
    def runs(self) -> int:
        return len(self.samples)


# --- simulators ------------------------------------------------------------------------------------------


def wait_ready(proc: subprocess.Popen[Any], what: str, seconds: float = 60.0) -> None:
    """Wait for the simulator's "N site(s) up" line on stderr; BenchError with its stderr otherwise."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    end = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"site(s) up" not in seen:
            left = end - time.monotonic()
            if left <= 0:
                raise BenchError(f"{what}: not up after {seconds:g} s\n{_tail(seen.decode(errors='replace'))}")
            if selector.select(min(left, 0.5)):
                chunk = os.read(fd, 65536)
                if not chunk:
                    proc.wait(5)
                    raise BenchError(f"{what}: exited {proc.returncode} before it was up (address or port in "
                                     f"use? standard ports need root)\n{_tail(seen.decode(errors='replace'))}")
                seen += chunk


class Simulator:
    """``dsports-simulator ARGS`` in its own process group; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.argv = [str(BIN / "dsports-simulator"), *args]
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Simulator:
        with open(self.log, "wb") as out:  # stdout to a file: 500 sites print more than a pipe holds
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                                         env=self.env, start_new_session=True)
        wait_ready(self.proc, " ".join(self.argv))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop_group(self.proc)


def stop_group(proc: subprocess.Popen[Any]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            continue
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


# --- the report ------------------------------------------------------------------------------------------


@dataclass
class Row:
    id: str
    what: str
    runs: str = ""
    wall: str = ""
    cpu: str = ""
    rss: str = ""
    value: str = ""
    target: str = ""
    result: str = ""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def measured(id: str, what: str, series: Series, extra: str = "") -> Row:
    return Row(id, what, str(series.runs), ms(series.wall), ms(series.cpu), series.rss, extra)


def at_most(value: float, limit: float, unit: str, fmt: str = "{:.2f}") -> str:
    if value <= limit:
        return "PASS"
    over = value - limit
    return f"MISS by {fmt.format(over)}{unit} (+{over / limit * 100:.0f}%)"


def at_least(value: float, limit: float, unit: str) -> str:
    if value >= limit:
        return "PASS"
    return f"MISS by {limit - value:.1f}{unit} ({(value - limit) / limit * 100:.0f}%)"


COLUMNS = ("#", "measurement", "runs", "wall (median)", "CPU user+sys (median)", "peak RSS", "value",
           "target", "result")


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- context: the venv, the environment, the machine ------------------------------------------------------


@dataclass
class Context:
    runs: int
    nmap_runs: int
    serial: bool
    env: dict[str, str]
    dropped_env: list[str]
    python: str  #: the interpreter the console scripts run with (their shebang)
    workdir: Path
    fleet_first: str
    notes: list[str] = field(default_factory=list)


def fail(message: str) -> NoReturn:
    print(f"bench: {message}", file=sys.stderr)
    raise SystemExit(2)


def script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        fail(f"{path} does not exist: run this with the python of a venv where the project is installed\n"
             f"  python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install '{REPO}[pytest]'\n"
             f"  /tmp/benchvenv/bin/python bench/run.py")
    return str(path)


def interpreter_of(console_script: str) -> str:
    """The python a console script runs with: its shebang (pip writes a ``/bin/sh`` trampoline instead
    when the path is too long: then this python, which is the venv's too)."""
    first = Path(console_script).read_text(errors="replace").split("\n", 1)[0]
    words = first[2:].split() if first.startswith("#!") else []
    if len(words) == 1 and Path(words[0]).name.startswith("python") and Path(words[0]).exists():
        return words[0]
    return sys.executable


def installed_build(ctx: Context) -> str:
    """Where the children import the package from; abort when that is the source tree (editable)."""
    probe = ("import importlib.util as u, check_digitalsentry as c, pytest_dsports as p\n"
             "print(c.__file__); print(p.__file__); print(u.cache_from_source(c.__file__))")
    proc = subprocess.run([ctx.python, "-c", probe], capture_output=True, text=True, env=ctx.env,
                          cwd=ctx.workdir, timeout=60)
    if proc.returncode != 0:
        fail(f"the venv of {ctx.python} cannot import the project (pip install '{REPO}[pytest]'):\n"
             f"{proc.stderr.strip()}")
    core, plugin, pyc = proc.stdout.split("\n")[:3]
    pkg = Path(core).parent
    # The source packages themselves, not anything under the repository: the Quick start's venv
    # (REPO/.venv) holds a real installed copy in its site-packages.
    sources = {(REPO / "check_digitalsentry").resolve(), (REPO / "pytest_dsports").resolve()}
    if Path(core).resolve().parent in sources or Path(plugin).resolve().parent in sources:
        fail(f"the venv imports the project from the source tree ({core}): an editable install or a path "
             f"hack. Measure an installed build: python3 -m venv /tmp/benchvenv && "
             f"/tmp/benchvenv/bin/pip install '{REPO}[pytest]' (no -e)")
    if not Path(pyc).exists():
        ctx.notes.append(f"no byte-compiled {pyc} before the warm-up runs (they compile it)")
    differ = []
    pairs = ((REPO / "check_digitalsentry", pkg), (REPO / "pytest_dsports", Path(plugin).parent))
    for tree_dir, inst_dir in pairs:
        for source in sorted(tree_dir.rglob("*.py")):
            installed = inst_dir / source.relative_to(tree_dir)
            if not installed.exists() or _digest(installed) != _digest(source):
                differ.append(str(source.relative_to(REPO)))
    same = "same as the tree" if not differ else (
        f"**differs from the tree in {len(differ)} file(s): {', '.join(differ[:4])}"
        f"{'...' if len(differ) > 4 else ''} -- pip install . again**")
    return f"`{pkg}` ({same})"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version_of(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr) else "?"


def header(ctx: Context, build: str, version: str) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    lines = [
        f"## check_digitalsentry benchmark, {now}",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, kernel {platform.release()}, "
        f"load average at start {load}",
        f"- Python {platform.python_version()} ({ctx.python}); {version}, installed at {build}",
        f"- peers: {version_of([str(PLUGINS / 'check_tcp'), '-V'])}; {version_of(['nmap', '--version'])}",
        f"- medians of {ctx.runs} runs unless the runs column says otherwise; CPU = user + system of the "
        f"measured process (os.wait4); children's environment without "
        f"{', '.join(ctx.dropped_env) or 'PYTHON* variables (none were set)'}",
    ]
    return "\n".join(lines)


# --- 1. healthy ------------------------------------------------------------------------------------------


def plugin_commands(address: str, timeout: int | None = None, expect: int = 0) -> list[Command]:
    """The five Monitoring Plugins calls a user would configure for one DS server (Browser, SQL, video,
    diagnostics, web/TLS). check_udp takes the raw bytes: CLNT_UCAST_EX (0x03) out, SVR_RESP (0x05) back
    (its -E only knows \\n \\r \\t \\\\, so the bytes go in argv as they are)."""
    t = ["-t", str(timeout)] if timeout is not None else []
    udp_ok = None if expect else contains("[\x05", "the SQL Server Browser's SVR_RESP (0x05) in its [...]")
    cmds = [Command([str(PLUGINS / "check_udp"), "-H", address, "-p", "1434", "-s", "\x03", "-e", "\x05", *t],
                    expect, validate=udp_ok)]
    for port in ("49172", "18772", "17772"):
        cmds.append(Command([str(PLUGINS / "check_tcp"), "-H", address, "-p", port, *t], expect))
    cmds.append(Command([str(PLUGINS / "check_tcp"), "-S", "-H", address, "-p", "443", *t], expect))
    return cmds


def floor_command(ctx: Context) -> Command:
    return Command([ctx.python, "-c", FLOOR_IMPORTS])


def phase_healthy(ctx: Context) -> list[Row]:
    for name in ("check_udp", "check_tcp"):
        if not (PLUGINS / name).exists():
            raise BenchError(f"{PLUGINS / name} is missing: apt-get install monitoring-plugins-basic")
    sim_args = ["--address", HEALTHY_ADDRESS, "--ports", "standard", "--audio-clients", "0", "--no-api",
                "--duration", "300"]
    ours = Command([script("check_digitalsentry"), "-H", HEALTHY_ADDRESS, "--web", "--sql-instance", SQL_INSTANCE],
                   0, validate=starts_with(f"{SQL_INSTANCE} OK - 5 ports as expected"))
    plugins = plugin_commands(HEALTHY_ADDRESS)
    floor = floor_command(ctx)
    s_ours, s_plugins, s_floor = Series("ours"), Series("plugins"), Series("floor")
    note(f"healthy: simulated site on {HEALTHY_ADDRESS} (standard ports), {ctx.runs} runs")
    with Simulator(sim_args, ctx.env, ctx.workdir / "sim-healthy.log"):
        for _ in range(2):  # warm-up: page cache, byte-code (if missing), the simulator's first TLS context
            run(ours, ctx.env)
            run_unit(plugins, ctx.env)
            run(floor, ctx.env)
        for _ in range(ctx.runs):  # interleaved, so that drift in the machine's load hits all three alike
            s_ours.samples.append(run(ours, ctx.env))
            s_plugins.samples.append(run_unit(plugins, ctx.env))
            s_floor.samples.append(run(floor, ctx.env))
    ratio = s_ours.cpu / s_floor.cpu
    # Each run of ours next to the floor's run that followed it: how much the ratio moves with the load.
    paired = sorted(o.cpu / f.cpu for o, f in zip(s_ours.samples, s_floor.samples))
    fastest = min(s.cpu for s in s_ours.samples) / min(s.cpu for s in s_floor.samples)
    return [
        measured("1a", "healthy: `check_digitalsentry -H 127.0.0.60 --web --sql-instance DIGITALSENTRY` "
                       "(Browser, SQL/TDS, video, diagnostics, web/TLS)", s_ours),
        measured("1b", "healthy: the 5 Monitoring Plugins calls in sequence (check_udp 1434 0x03/0x05; "
                       "check_tcp 49172, 18772, 17772; check_tcp -S 443)", s_plugins),
        measured("1c", f"floor: `python -c \"{FLOOR_IMPORTS}\"` (same venv)", s_floor),
        Row("1", "healthy: ours / floor, CPU",
            value=f"{ratio:.2f}x ({ms(s_ours.cpu)} / {ms(s_floor.cpu)}); run by run {paired[0]:.2f}x to "
                  f"{paired[-1]:.2f}x; fastest runs {fastest:.2f}x",
            target=f"<= {TARGET_HEALTHY_CPU_VS_FLOOR}x",
            result=at_most(ratio, TARGET_HEALTHY_CPU_VS_FLOOR, "x")),
        Row("1", "healthy: ours / C plugins", value=f"CPU {s_ours.cpu / s_plugins.cpu:.1f}x, "
            f"wall {s_ours.wall / s_plugins.wall:.1f}x", target="(report)", result="-"),
    ]


# --- 2. degraded -----------------------------------------------------------------------------------------


def import_netlab() -> tuple[Any, str | None]:
    tests = REPO / "tests"
    if not (tests / "netlab.py").exists():
        return None, "tests/netlab.py not found"
    sys.path.insert(0, str(tests))
    try:
        import netlab  # type: ignore[import-not-found]
    except Exception as exc:  # a broken helper module must not end the whole benchmark
        return None, f"cannot import tests/netlab.py: {exc}"
    finally:
        sys.path.remove(str(tests))
    return netlab, netlab.available()


def phase_degraded(ctx: Context) -> list[Row]:
    netlab, why = import_netlab()
    if why is not None:
        note(f"degraded: skipped: {why}")
        return [Row("2", "degraded: every port dropped, -t 5", result=f"skipped: {why}")]
    note(f"degraded: network namespaces, server drops everything inbound, {ctx.runs} runs "
         f"(C plugins: 5 x {DEGRADED_TIMEOUT} s timeouts per run)")
    try:
        return degraded_in_lab(ctx, netlab)
    except netlab.LabError as exc:
        raise BenchError(f"the network namespace lab failed: {exc}") from exc


def degraded_in_lab(ctx: Context, netlab: Any) -> list[Row]:
    with netlab.Lab(prefix="dsbench") as lab:
        client, server = lab.namespace("client"), lab.namespace("server")
        lab.link(client, NETNS_CLIENT, server, NETNS_SERVER)
        sim = lab.popen(server, script("dsports-simulator"), "--in-netns", "--address", NETNS_SERVER,
                        "--ports", "standard", "--audio-clients", "0", "--no-api", "--duration", "600",
                        text=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ctx.env)
        wait_ready(sim, "dsports-simulator in the server namespace")

        def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
            proc: subprocess.Popen[Any] = lab.popen(client, *argv, **kw)
            return proc

        check = [script("check_digitalsentry"), "-H", NETNS_SERVER, "--web", "--sql-instance", SQL_INSTANCE]
        # Before the drop: the path works and the site is healthy (so a CRITICAL below is the firewall's).
        run(Command(check, 0, validate=starts_with(f"{SQL_INSTANCE} OK - 5 ports")), ctx.env, spawn)
        run_unit(plugin_commands(NETNS_SERVER, DEGRADED_TIMEOUT), ctx.env, spawn)
        lab.nft(server, DROP_ALL)

        ours = Command([*check, "-t", str(DEGRADED_TIMEOUT)], 2, timeout=30,
                       validate=starts_with(f"{SQL_INSTANCE} CRITICAL - "))
        plugins = plugin_commands(NETNS_SERVER, DEGRADED_TIMEOUT, expect=2)
        for cmd in plugins:
            cmd.validate = contains("Socket timeout", "'Socket timeout' (the port was not dropped?)")
            cmd.timeout = DEGRADED_TIMEOUT + 10
        base = Command(["true"], 0)
        s_ours, s_plugins, s_base = Series("ours"), Series("plugins"), Series("ip netns exec true")
        for _ in range(ctx.runs):
            s_base.samples.append(run(base, ctx.env, spawn))
            s_ours.samples.append(run(ours, ctx.env, spawn))
        # The C plugins' runs are five 5-s timeouts each: timer-bound, so by default all runs go at once
        # (each still measured on its own); --serial runs them one after another.
        if ctx.serial:
            s_plugins.samples = [run_unit(plugins, ctx.env, spawn) for _ in range(ctx.runs)]
        else:
            s_plugins.samples = run_concurrently(ctx.runs, lambda: run_unit(plugins, ctx.env, spawn))
            ctx.notes.append(f"row 2b: its {ctx.runs} runs ran concurrently (each is five {DEGRADED_TIMEOUT}-s "
                             f"timeouts, so timer-bound); `--serial` runs them one by one")
    net_ours = s_ours.wall - s_base.wall
    net_plugins = s_plugins.wall - 5 * s_base.wall
    ctx.notes.append("rows 2a/2b run through `ip netns exec` (row 2c); the values in row 2 subtract it "
                     "(once for ours, five times for the plugins)")
    return [
        measured("2a", f"degraded: `check_digitalsentry ... -t {DEGRADED_TIMEOUT}` from the client namespace, "
                       "server drops every port (exit 2)", s_ours),
        measured("2b", f"degraded: the same 5 Monitoring Plugins calls with `-t {DEGRADED_TIMEOUT}` in sequence "
                       "(each exit 2)", s_plugins),
        measured("2c", "baseline: `ip netns exec CLIENT true`", s_base),
        Row("2", "degraded: wall of ours (net of ip netns exec)", value=f"{net_ours:.2f} s (C plugins: "
            f"{net_plugins:.2f} s, {net_plugins / net_ours:.1f}x longer)",
            target=f"<= {TARGET_DEGRADED_WALL:.2f} s", result=at_most(net_ours, TARGET_DEGRADED_WALL, " s")),
    ]


def run_concurrently(count: int, job: Callable[[], Sample]) -> list[Sample]:
    results: list[Sample] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            sample = job()
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(sample)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# --- 3. fleet --------------------------------------------------------------------------------------------


def load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the project depends on tomli below 3.11: it is in the venv
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


def browser_sql_port(address: str, port: int) -> int:
    """Ask the site's SQL Server Browser (CLNT_UCAST_EX) which TCP port the SQL instance listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(b"\x03", (address, port))
        reply = udp.recv(65538)
    found = re.search(rb"tcp;(\d+)", reply)
    if reply[:1] != b"\x05" or not found:
        raise BenchError(f"the SQL Server Browser of {address}:{port} gave no TCP port: {reply[:80]!r}")
    return int(found.group(1))


def fleet_ports(inventory: dict[str, Any], first: str) -> tuple[list[int], int]:
    """The TCP ports of the fleet's layout (SQL port as the Browser names it) and the Browser's UDP port."""
    from check_digitalsentry.catalogue import ROLES  # the installed build's catalogue: the check's defaults

    overrides = inventory.get("defaults", {}).get("ports", {})
    site = inventory["sites"][0]
    wanted = {"always"} | ({"web"} if site.get("web") else set()) | ({"api"} if site.get("api") else set())
    ports = {role.name: int(overrides.get(role.name, role.port)) for role in ROLES
             if role.when in wanted and role.port is not None}
    browser = ports.pop("sql-browser")
    tcp = [browser_sql_port(first, browser), *ports.values()]
    return tcp, browser


def join_inventories(parts: list[str]) -> str:
    """Simulators' inventories as one: the first one's header (``[defaults.ports]``: one layout for all) and
    every ``[[sites]]``."""
    return parts[0] + "".join(part[part.index("[[sites]]"):] for part in parts[1:])


def subset_inventory(text: str, count: int) -> str:
    """The inventory's header and its first ``count`` sites (the simulator writes one [[sites]] per site)."""
    head, *sites = text.split("\n[[sites]]\n")
    if len(sites) < count:
        raise BenchError(f"the fleet inventory has {len(sites)} sites, fewer than {count}")
    return head + "".join("\n[[sites]]\n" + site for site in sites[:count]).rstrip("\n") + "\n"


def nmap_tcp_validate(expected: int) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        found = len(re.findall(r"^\d+/tcp\s+open\s", text, re.MULTILINE))
        return None if found == expected else f"it found {found} open TCP ports, not {expected}"
    return check


def phase_fleet(ctx: Context) -> list[Row]:
    if shutil.which("nmap") is None:
        raise BenchError("nmap is not installed (apt-get install nmap)")
    inv = ctx.workdir / "fleet.toml"
    inv50 = ctx.workdir / "fleet50.toml"
    addrs = ctx.workdir / "fleet-addresses.txt"
    sim_args = ["--sites", str(FLEET_SITES), "--audio-clients", "0", "--inventory", str(inv),
                "--address", ctx.fleet_first, "--duration", str(120 + 60 * ctx.runs + 400 * ctx.nmap_runs)]
    note(f"fleet: {FLEET_SITES} simulated sites from {ctx.fleet_first}; ours x {ctx.runs}, nmap x {ctx.nmap_runs} "
         f"(its UDP scan takes minutes), pytest x {ctx.runs}")
    with Simulator(sim_args, ctx.env, ctx.workdir / "sim-fleet.log"):
        inventory = load_toml(inv)
        hosts = [host for site in inventory["sites"] for host in site["hosts"]]
        if len(hosts) != FLEET_SITES:
            raise BenchError(f"{inv}: {len(hosts)} hosts, expected {FLEET_SITES}")
        addrs.write_text("\n".join(hosts) + "\n")
        inv50.write_text(subset_inventory(inv.read_text(), PYTEST_SITES))
        tcp_ports, browser = fleet_ports(inventory, hosts[0])
        ports_per_site = len(tcp_ports) + 1

        ours = Command([script("check_digitalsentry"), "--inventory", str(inv)], 0, timeout=60,
                       validate=starts_with(f"{SQL_INSTANCE} OK - {FLEET_SITES} sites, "
                                            f"{FLEET_SITES * ports_per_site} ports as expected"))
        nmap = [
            Command(["nmap", "-n", "-Pn", "-sT", "-p", ",".join(map(str, tcp_ports)), "-iL", str(addrs)], 0,
                    timeout=300, validate=nmap_tcp_validate(FLEET_SITES * len(tcp_ports))),
            Command(["nmap", "-n", "-Pn", "-sU", "-sV", "--version-intensity", "0", "-p", str(browser),
                     "-iL", str(addrs)], 0, timeout=900,
                    validate=contains(f"{FLEET_SITES} IP addresses ({FLEET_SITES} hosts up)", "all hosts up")),
        ]
        pytest_dir = ctx.workdir / "pytest"
        pytest_dir.mkdir(exist_ok=True)
        (pytest_dir / "pytest.ini").write_text("")
        pytest = Command([script("pytest"), "-q", "-p", "no:cacheprovider", "--dsports-inventory", str(inv50)], 0,
                         timeout=300, cwd=str(pytest_dir), validate=contains(" passed", "a passed count"))

        s_ours, s_nmap, s_pytest = Series("ours"), Series("nmap"), Series("pytest")
        run(ours, ctx.env)  # warm-up
        run(pytest, ctx.env)
        for _ in range(ctx.runs):
            s_ours.samples.append(run(ours, ctx.env))
            s_pytest.samples.append(run(pytest, ctx.env))
        for i in range(ctx.nmap_runs):
            note(f"fleet: nmap run {i + 1} of {ctx.nmap_runs}")
            s_nmap.samples.append(run_unit(nmap, ctx.env))
    speedup = s_nmap.wall / s_ours.wall
    nmap_tcp = statistics.median(sample.parts[0].wall for sample in s_nmap.samples)
    nmap_udp = statistics.median(sample.parts[1].wall for sample in s_nmap.samples)
    udp_states = re.findall(rf"^{browser}/udp\s+(\S+)", nmap[1].output, re.MULTILINE)
    udp_summary = ", ".join(f"{udp_states.count(state)} {state}" for state in sorted(set(udp_states)))
    ctx.notes.append(f"row 3b: nmap's TCP scan took {ms(nmap_tcp)}, its UDP scan {ms(nmap_udp)}; the UDP scan "
                     f"called {browser}/udp {udp_summary or '(nothing)'} (check_digitalsentry got a Browser "
                     f"reply naming the SQL port from every site)")
    passed = re.search(r"(\d+) passed", pytest.output)
    tcp_list = ",".join(map(str, tcp_ports))
    return [
        measured("3a", f"fleet: `check_digitalsentry --inventory FILE` over {FLEET_SITES} sites x "
                       f"{ports_per_site} ports", s_ours),
        measured("3b", f"fleet: `nmap -n -Pn -sT -p {tcp_list} -iL ADDRS` + `nmap -n -Pn -sU -sV "
                       f"--version-intensity 0 -p {browser} -iL ADDRS`", s_nmap),
        measured("3c", f"fleet: `pytest -q -p no:cacheprovider --dsports-inventory FILE50` "
                       f"({PYTEST_SITES} sites{f', {passed.group(1)} tests' if passed else ''})", s_pytest),
        Row("3", "fleet: wall of ours", value=ms(s_ours.wall), target=f"<= {TARGET_FLEET_WALL:g} s",
            result=at_most(s_ours.wall, TARGET_FLEET_WALL, " s")),
        Row("3", "fleet: peak RSS of ours", value=s_ours.rss,
            target=f"<= {TARGET_FLEET_RSS_MB:g} MB",
            result=at_most(s_ours.rss_mb, TARGET_FLEET_RSS_MB, " MB", "{:.1f}")),
        Row("3", "fleet: nmap wall / ours wall", value=f"{speedup:.1f}x", target=f">= {TARGET_FLEET_VS_NMAP:g}x",
            result=at_least(speedup, TARGET_FLEET_VS_NMAP, "x")),
    ]


# --- 5. scale --------------------------------------------------------------------------------------------


def phase_scale(ctx: Context) -> list[Row]:
    """10,000 healthy simulated sites in one run (-t 60: how long they take, against a 10 s target), and 3,000
    sites behind a router that drops everything (-t 2): what an inventory of thousands of sites costs, and
    whether -t holds."""
    runs = min(ctx.runs, 5)
    inv = ctx.workdir / "scale.toml"
    from check_digitalsentry.simulator import fleet_addresses

    addresses = fleet_addresses(SCALE_SITES, SCALE_FIRST)
    chunks = range(0, SCALE_SITES, SCALE_PER_SIMULATOR)
    sims = [Simulator(["--sites", str(min(SCALE_PER_SIMULATOR, SCALE_SITES - at)), "--name", f"s{at // 100:03d}",
                       "--audio-clients", "0", "--inventory", str(ctx.workdir / f"scale-{at}.toml"),
                       "--address", addresses[at], "--duration", str(300 + 40 * runs)],
                      ctx.env, ctx.workdir / f"sim-scale-{at}.log") for at in chunks]
    note(f"scale: {SCALE_SITES} simulated sites from {SCALE_FIRST} in {len(sims)} simulator processes "
         f"(about 90,000 sockets), {runs} runs; then {DROPPED_SITES} sites behind a dropping router, "
         f"{ctx.runs} runs")
    expected = SCALE_SITES * 8
    with contextlib.ExitStack() as stack:
        for sim in sims:
            stack.enter_context(sim)
        parts = [(ctx.workdir / f"scale-{at}.toml").read_text() for at in chunks]
        inv.write_text(join_inventories(parts))
        ours = Command([script("check_digitalsentry"), "--inventory", str(inv), "-t", str(SCALE_TIMEOUT)], 0,
                       timeout=120,
                       validate=starts_with(f"{SQL_INSTANCE} OK - {SCALE_SITES} sites, {expected} ports as "
                                            "expected"))
        s_scale = Series("scale")
        run(ours, ctx.env)  # warm-up
        sims_cpu = []
        for _ in range(runs):
            before = sum(process_cpu(sim.proc.pid) for sim in sims if sim.proc is not None)
            s_scale.samples.append(run(ours, ctx.env))
            sims_cpu.append(sum(process_cpu(sim.proc.pid) for sim in sims if sim.proc is not None) - before)
        per_port = memory_per_port(ctx, inv.read_text())
        submitted = scale_submit(ctx, inv.read_text())
    sims_median = statistics.median(sims_cpu)
    cores = os.cpu_count() or 1
    # The check probes in one thread: no run is shorter than its own CPU, nor than both sides' CPU over the cores.
    shared = (s_scale.cpu + sims_median) / cores
    floor = max(shared, s_scale.cpu)
    ctx.notes.append(f"row 5a: the {len(sims)} simulators took {ms(sims_median)} CPU a run (median) beside ours' "
                     f"{ms(s_scale.cpu)}: on {cores} cores no run can take less than their sum / {cores} = "
                     f"{ms(shared)}, nor less than ours' CPU (one thread) = {ms(s_scale.cpu)}")
    rows = [
        measured("5a", f"scale: `check_digitalsentry --inventory FILE` over {SCALE_SITES} simulated sites x 8 "
                       f"ports (healthy, -t {SCALE_TIMEOUT})", s_scale),
        Row("5", "scale: wall of ours", value=f"{ms(s_scale.wall)} (floor of this machine: the larger of ours' "
                                              f"CPU and ours + the simulators' CPU / {cores} cores = {ms(floor)})",
            target=f"<= {TARGET_SCALE_WALL:g} s", result=at_most(s_scale.wall, TARGET_SCALE_WALL, " s")),
        Row("5", "scale: peak RSS of ours", value=s_scale.rss, target=f"<= {TARGET_SCALE_RSS_MB:g} MB",
            result=at_most(s_scale.rss_mb, TARGET_SCALE_RSS_MB, " MB", "{:.1f}")),
        *per_port,
        *submitted,
    ]
    netlab, why = import_netlab()
    if why is not None:
        note(f"scale: the dropping router skipped: {why}")
        return [*rows, Row("5b", "scale: sites behind a dropping router", result=f"skipped: {why}")]
    dropped = ctx.workdir / "dropped.toml"
    dropped.write_text("\n".join(f'[[sites]]\nname = "s{i}"\nhosts = ["10.67.{i // 250}.{i % 250 + 1}"]\n'
                                 for i in range(DROPPED_SITES)))
    with netlab.Lab(prefix="dsbench") as lab:
        client, router = lab.namespace("client"), lab.namespace("router")
        lab.link(client, NETNS_CLIENT, router, NETNS_SERVER)
        lab.route(client, "10.67.0.0/16", NETNS_SERVER)
        lab.nft(router, DROP_ALL)

        def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
            proc: subprocess.Popen[Any] = lab.popen(client, *argv, **kw)
            return proc

        check = Command([script("check_digitalsentry"), "--inventory", str(dropped), "-t", str(DROPPED_TIMEOUT)],
                        2, timeout=60, validate=starts_with(f"{SQL_INSTANCE} CRITICAL - "))
        base = Command(["true"], 0)
        s_dropped, s_base = Series("dropped"), Series("ip netns exec true")
        for _ in range(ctx.runs):
            s_base.samples.append(run(base, ctx.env, spawn))
            s_dropped.samples.append(run(check, ctx.env, spawn))
    net = s_dropped.wall - s_base.wall
    return [
        *rows,
        measured("5b", f"scale: `check_digitalsentry --inventory FILE -t {DROPPED_TIMEOUT}` over {DROPPED_SITES} "
                       "sites behind a router that drops everything (exit 2)", s_dropped),
        Row("5", "scale: wall behind the dropping router (net of ip netns exec)", value=f"{net:.2f} s",
            target=f"<= {TARGET_DROPPED_WALL:.2f} s", result=at_most(net, TARGET_DROPPED_WALL, " s")),
    ]


def process_cpu(pid: int) -> float:
    """User + system seconds of a running process (its threads included), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_per_port(ctx: Context, inventory: str) -> list[Row]:
    """Peak RSS of ours over the first 1, 500, 2,000 and all 10,000 of the scale row's sites: the bytes each
    port adds over one site's run. Flat (or falling) means a fleet's memory grows with its ports, no faster.
    The peak is the child's own VmHWM (``peak_rss``): ru_maxrss cannot go below this script's size."""
    peaks = {}
    for sites in (1, *MEMORY_SITES, SCALE_SITES):
        part = ctx.workdir / f"scale{sites}.toml"
        part.write_text(subset_inventory(inventory, sites))
        argv = [script("check_digitalsentry"), "--inventory", str(part), "-t", str(SCALE_TIMEOUT)]
        peaks[sites] = max(peak_rss(argv, ctx.env) for _ in range(2))
    base = peaks.pop(1)
    per_port = {sites: (peak - base) / (sites * 8) for sites, peak in peaks.items()}
    first, last = per_port[min(per_port)], per_port[SCALE_SITES]
    shown = "; ".join(f"{sites:,} sites {peaks[sites] / 1e6:.0f} MB, {value:,.0f} B/port"
                      for sites, value in sorted(per_port.items()))
    return [Row("5", f"scale: peak RSS per port over one site's run ({base / 1e6:.0f} MB), 8 ports a site",
                value=shown, target=f"flat: {SCALE_SITES:,} sites <= {min(per_port)} sites",
                result="PASS" if last <= first * 1.1 else f"MISS: {last / first:.2f}x")]


def peak_rss(argv: list[str], env: dict[str, str]) -> int:
    """Bytes of a command's own peak RSS: its VmHWM (/proc/PID/status), read every 10 ms while it runs (a
    high-water mark: a read misses only what grows in its last 10 ms). It must exit 0."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: exit {proc.returncode}")
    return peak


def scale_submit(ctx: Context, inventory: str) -> list[Row]:
    """The scale row's 10,000 sites probed and submitted to a private Icinga 2, as a 5-minute cycle would."""
    note(f"scale: --submit icinga2 of {SCALE_SITES} sites to a private Icinga 2 ({SCALE_SUBMIT_RUNS} runs)")
    series, submitting, checked = submit_to_icinga(ctx, inventory, SCALE_SITES, SCALE_SUBMIT_RUNS,
                                                   SCALE_SUBMIT_TIMEOUT)
    ctx.notes.append(f"row 5c: the submission alone (the run's own figure) took {ms(submitting)} for "
                     f"{SCALE_SITES} results ({SCALE_SITES / submitting:.0f}/s); Icinga 2 held {checked} passive "
                     f"results afterwards")
    return [
        measured("5c", f"scale: `check_digitalsentry --inventory FILE --submit icinga2 ... -t "
                       f"{SCALE_SUBMIT_TIMEOUT}` over the {SCALE_SITES} sites, a result each to a real Icinga 2",
                 series),
        Row("5", "scale: probing and submitting 10,000 sites, wall", value=ms(series.wall),
            target=f"<= {TARGET_SCALE_SUBMIT_WALL:g} s (a 5-minute cycle)",
            result=at_most(series.wall, TARGET_SCALE_SUBMIT_WALL, " s")),
    ]


# --- 6. submit -------------------------------------------------------------------------------------------


def phase_submit(ctx: Context) -> list[Row]:
    """500 simulated sites probed and submitted as passive results to a real Icinga 2 (a private daemon with
    its API on loopback, as tests/test_submit_icinga2.py runs it), in one run of --submit icinga2."""
    sims = ctx.workdir / "submit-sim.toml"
    note(f"submit: {SUBMIT_SITES} simulated sites from {SUBMIT_FIRST}, a private Icinga 2; {ctx.runs} runs")
    with Simulator(["--sites", str(SUBMIT_SITES), "--audio-clients", "0", "--inventory", str(sims), "--address",
                    SUBMIT_FIRST, "--name", "sub", "--duration", str(300 + 30 * ctx.runs)], ctx.env,
                   ctx.workdir / "sim-submit.log"):
        series, submitting, checked = submit_to_icinga(ctx, sims.read_text(), SUBMIT_SITES, ctx.runs,
                                                       SUBMIT_TIMEOUT)
    ctx.notes.append(f"row 6: the submission alone (the run's own figure) took {ms(submitting)} for "
                     f"{SUBMIT_SITES} requests on 4 keep-alive connections: "
                     f"{SUBMIT_SITES / submitting:.0f} requests/s; "
                     f"Icinga 2 held {checked} passive results afterwards")
    return [
        measured("6a", f"submit: `check_digitalsentry --inventory FILE --submit icinga2 ... -t {SUBMIT_TIMEOUT}` "
                       f"over {SUBMIT_SITES} simulated sites x 8 ports, a result each to a real Icinga 2", series),
        Row("6", "submit: results submitted per second (submission alone)",
            value=f"{SUBMIT_SITES / submitting:.0f}/s", result="report"),
    ]


def submit_to_icinga(ctx: Context, inventory: str, sites: int, runs: int,
                     timeout: int) -> tuple[Series, float, int]:
    """``--submit icinga2`` of every site of ``inventory`` (a simulator's) to a private Icinga 2 holding the
    objects ``--icinga2-objects`` makes of them, after one warm-up run: the measured runs, the median of
    the submission's own seconds (the run's figure), and how many passive results Icinga holds after."""
    if shutil.which("icinga2") is None and not Path("/usr/sbin/icinga2").exists():
        raise BenchError("icinga2 is not installed (apt-get install icinga2)")
    if shutil.which("openssl") is None:
        raise BenchError("openssl is not installed (the private Icinga's certificates)")
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from icinga_api import CONTRIB_PASSWORD, IcingaApi
        from support import running
    finally:
        sys.path.remove(str(REPO / "tests"))
    workdir = Path(tempfile.mkdtemp(prefix=f"submit{sites}-", dir=ctx.workdir))
    inv = workdir / "passive.toml"
    inv.write_text('[defaults]\nicinga_template = "digitalsentry-passive"\n\n' + inventory)
    objects = subprocess.run([script("check_digitalsentry"), "--inventory", str(inv), "--icinga2-objects"],
                             capture_output=True, text=True, env=ctx.env, timeout=120)
    if objects.returncode != 0:
        raise BenchError(f"--icinga2-objects: exit {objects.returncode}\n{_tail(objects.stdout)}")
    icinga = IcingaApi(workdir / "icinga")
    icinga.configure(objects.stdout)
    password = workdir / "api.password"
    password.write_text(CONTRIB_PASSWORD + "\n")
    password.chmod(0o600)
    with running([icinga.binary, "daemon", *icinga.defines()], workdir / "icinga.log") as daemon:
        icinga.wait_ready(daemon, timeout=300)
        ours = Command([script("check_digitalsentry"), "--inventory", str(inv), "--submit", "icinga2",
                        "--api-url", icinga.url, "--api-ca", str(icinga.pki.ca), "--api-user",
                        "check_digitalsentry", "--api-password-file", str(password), "-t", str(timeout)],
                       0, timeout=timeout + 30,
                       validate=starts_with(f"{SQL_INSTANCE} SUBMIT OK - {sites} of {sites} results accepted by "
                                            "Icinga 2"))
        series = Series("submit")
        run(ours, ctx.env)  # warm-up
        seconds = []
        for _ in range(runs):
            series.samples.append(run(ours, ctx.env))
            found = re.search(r" in (\d+\.\d+) s", ours.output)
            if found:
                seconds.append(float(found.group(1)))
        stored = icinga.client.services()
    checked = sum(1 for attrs in stored.values() if attrs["last_check_result"] and
                  not attrs["last_check_result"]["active"])
    if checked != sites:
        raise BenchError(f"Icinga holds {checked} passive results, not {sites}")
    return series, statistics.median(seconds) if seconds else float("nan"), checked


# --- 8. blackbox_exporter -------------------------------------------------------------------------------


def blackbox_targets(inventory: dict[str, Any]) -> list[tuple[str, str]]:
    """(module, host:port) of every site of a simulator's inventory: the ports of its layout."""
    from check_digitalsentry.simulator.site import HIGH_PORTS  # the installed build's layout

    return [(module, f"{host}:{HIGH_PORTS[role]}") for site in inventory["sites"] for host in site["hosts"]
            for role, module in BLACKBOX_MODULES]


def phase_blackbox(ctx: Context) -> list[Row]:
    """The same simulated sites probed by ours (one run of the check) and by blackbox_exporter (driven as
    Prometheus drives it), at 500 and 2,000 sites; then sites with one fault each: what each side missed."""
    import blackbox

    if not blackbox.EXPORTER.exists():
        raise BenchError(f"{blackbox.EXPORTER} is missing: apt-get install prometheus-blackbox-exporter")
    from check_digitalsentry.simulator import fleet_addresses

    biggest = max(BLACKBOX_SIZES)
    addresses = fleet_addresses(biggest, BLACKBOX_FIRST)
    chunks = range(0, biggest, BLACKBOX_PER_SIMULATOR)
    runs = min(ctx.runs, 5)
    duration = str(600 + 120 * runs)
    sims = [Simulator(["--sites", str(min(BLACKBOX_PER_SIMULATOR, biggest - at)), "--name", f"b{at // 100:03d}",
                       "--audio-clients", "0", "--no-api", "--inventory", str(ctx.workdir / f"bb-{at}.toml"),
                       "--address", addresses[at], "--duration", duration], ctx.env,
                      ctx.workdir / f"sim-bb-{at}.log") for at in chunks]
    fault_addresses = fleet_addresses(FAULT_SITES * len(BLACKBOX_FAULTS), FAULT_FIRST)
    faulty = [Simulator(["--sites", str(FAULT_SITES), "--name", f"{role}-{fault}", "--audio-clients", "0",
                         "--no-api", "--fault", f"{role}={fault}", "--inventory",
                         str(ctx.workdir / f"fault-{n}.toml"), "--address", fault_addresses[n * FAULT_SITES],
                         "--duration", duration], ctx.env, ctx.workdir / f"sim-fault-{n}.log")
              for n, (role, fault, _) in enumerate(BLACKBOX_FAULTS)]
    note(f"blackbox: {biggest} simulated sites from {BLACKBOX_FIRST} in {len(sims)} simulators, "
         f"{len(faulty)} x {FAULT_SITES} faulty sites; ours and blackbox_exporter x {runs} at "
         f"{', '.join(map(str, BLACKBOX_SIZES))} sites")
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        for sim in [*sims, *faulty]:
            stack.enter_context(sim)
        parts = [(ctx.workdir / f"bb-{at}.toml").read_text() for at in chunks]
        exporter = stack.enter_context(blackbox.Exporter(ctx.workdir, BLACKBOX_PORT, ctx.env))
        one = ctx.workdir / "bb1.toml"  # what a run costs whatever its size: the interpreter, imports, output
        one.write_text(subset_inventory(parts[0], 1))
        start = Command([script("check_digitalsentry"), "--inventory", str(one)], 0,
                        validate=starts_with(f"{SQL_INSTANCE} OK - "))
        run(start, ctx.env)
        fixed = statistics.median(run(start, ctx.env).cpu for _ in range(runs))
        for size in BLACKBOX_SIZES:
            take = parts[:-(-size // BLACKBOX_PER_SIMULATOR)]
            inv = ctx.workdir / f"bb{size}.toml"
            inv.write_text(subset_inventory(join_inventories(take), size))
            targets = blackbox_targets(load_toml(inv))
            rows += blackbox_size(ctx, exporter, blackbox, size, inv, targets, runs, fixed)
        rows += blackbox_faults(ctx, exporter, blackbox)
    return rows


def blackbox_size(ctx: Context, exporter: Any, blackbox: Any, size: int, inv: Path,
                  targets: list[tuple[str, str]], runs: int, fixed: float) -> list[Row]:
    """Ours and the exporter over ``size`` sites, interleaved; ``fixed``: the CPU of ours over one site (what
    a check pays however few its ports: a long-running exporter pays it once)."""
    ports = len(BLACKBOX_MODULES)  # per site, for both sides' CPU per port (ours also asks the Browser)
    ours = Command([script("check_digitalsentry"), "--inventory", str(inv), "-t", str(BLACKBOX_TIMEOUT)], 0,
                   timeout=BLACKBOX_TIMEOUT + 30,
                   validate=starts_with(f"{SQL_INSTANCE} OK - {size} sites, {size * 5} ports as expected"))
    s_ours, s_bb = Series("ours"), Series("blackbox")
    driver: list[float] = []
    threads = 0

    def batch() -> Sample:
        nonlocal threads
        result = blackbox.probe_all(exporter, targets, BLACKBOX_CONCURRENCY)
        failed = [target for target, ok in result.success.items() if not ok]
        if failed:
            raise BenchError(f"blackbox_exporter failed {len(failed)} of {len(targets)} probes of healthy sites, "
                             f"e.g. {failed[:3]}")
        driver.append(result.driver_cpu)
        threads = max(threads, exporter.threads())
        return Sample(result.wall, result.cpu, result.rss_kb)

    run(ours, ctx.env)  # warm-up: byte-code, page cache; the exporter's goroutines and buffers
    batch()
    for _ in range(runs):  # interleaved
        s_ours.samples.append(run(ours, ctx.env))
        s_bb.samples.append(batch())
    per_ours, per_bb = s_ours.cpu / (size * ports), s_bb.cpu / (size * ports)
    ratio = per_ours / per_bb
    ctx.notes.append(f"row 8 at {size} sites: the driver (in Prometheus' place: {BLACKBOX_CONCURRENCY} keep-alive "
                     f"connections, a request at a time each) took {ms(statistics.median(driver))} CPU a batch; "
                     f"the exporter ran {threads} threads")
    rows = [
        measured("8a", f"blackbox: `check_digitalsentry --inventory FILE -t {BLACKBOX_TIMEOUT}` over {size} "
                        f"sites (Browser, SQL/TDS, video, diagnostics, web/TLS)", s_ours),
        measured("8b", f"blackbox: blackbox_exporter 0.23, {size * ports} `/probe` requests (tcp_connect: SQL, "
                        f"video, diagnostics; tls_connect: web), its CPU and peak RSS from /proc", s_bb),
        Row("8", f"blackbox: CPU per port at {size} sites, ours / blackbox_exporter",
            value=f"{ratio:.2f}x ({per_ours * 1000:.3f} ms / {per_bb * 1000:.3f} ms; {ports} ports a site for "
                  f"both); beyond a one-site run's {ms(fixed)} (start-up, imports, output): "
                  f"{(s_ours.cpu - fixed) / (size * ports) / per_bb:.2f}x", target=f"<= {TARGET_CPU_VS_BLACKBOX}x",
            result=at_most(ratio, TARGET_CPU_VS_BLACKBOX, "x")),
    ]
    if size == max(BLACKBOX_SIZES):
        rows.append(Row("8", f"blackbox: wall at {size} sites, ours / blackbox_exporter's batch",
                        value=f"{ms(s_ours.wall)} / {ms(s_bb.wall)}", target="<= 1x",
                        result=at_most(s_ours.wall, s_bb.wall, " s")))
    return rows


def blackbox_faults(ctx: Context, exporter: Any, blackbox: Any) -> list[Row]:
    """Each fault on FAULT_SITES sites: does each side fail the site (as it must)? Ours by its JSON
    document's site states, the exporter by any failed probe of the site."""
    import json

    passed_ours: list[str] = []
    passed_bb: list[str] = []
    cells = []
    for n, (role, fault, words) in enumerate(BLACKBOX_FAULTS):
        inv = ctx.workdir / f"fault-{n}.toml"
        state = "WARNING" if role == "diagnostics" else "CRITICAL"  # the catalogue's severities
        cmd = Command([script("check_digitalsentry"), "--inventory", str(inv), "--format", "json"],
                      1 if state == "WARNING" else 2, validate=contains(f'"state": "{state}"', f"a {state} site"))
        run(cmd, ctx.env)
        ours_caught = sum(1 for site in json.loads(cmd.output)["sites"] if site["state"] != "OK")
        result = blackbox.probe_all(exporter, blackbox_targets(load_toml(inv)), BLACKBOX_CONCURRENCY)
        hosts = [site["hosts"][0] for site in load_toml(inv)["sites"]]
        bb_caught = sum(1 for host in hosts if not all(ok for (_module, target), ok in result.success.items()
                                                       if target.startswith(host + ":")))
        cells.append(f"{role}={fault} ({words}): ours {ours_caught}/{FAULT_SITES}, blackbox "
                     f"{bb_caught}/{FAULT_SITES}")
        if ours_caught < FAULT_SITES:
            passed_ours.append(f"{words} x {FAULT_SITES - ours_caught}")
        if bb_caught < FAULT_SITES:
            passed_bb.append(f"{words} x {FAULT_SITES - bb_caught}")
    total = FAULT_SITES * len(BLACKBOX_FAULTS)
    ctx.notes.append("row 8c, faulty sites failed as they must be, per fault: " + "; ".join(cells))
    return [Row("8c", f"blackbox: {len(BLACKBOX_FAULTS)} faults x {FAULT_SITES} sites: the faulty sites each side "
                      "passed (wrongly)",
                value=f"ours: {', '.join(passed_ours) or 'none'}; blackbox_exporter: "
                      f"{', '.join(passed_bb) or 'none'} (of {total})", target="ours: none",
                result="PASS" if not passed_ours else f"MISS: {len(passed_ours)} faults passed")]


# --- 4. startup ------------------------------------------------------------------------------------------


IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def import_times(ctx: Context, code: str) -> list[dict[str, tuple[int, int]]]:
    """``python -X importtime -c CODE``, ``ctx.runs`` times: per run, module -> (self us, cumulative us)."""
    out = []
    for _ in range(ctx.runs):
        proc = subprocess.run([ctx.python, "-X", "importtime", "-c", code], capture_output=True, text=True,
                              env=ctx.env, cwd=ctx.workdir, timeout=60)
        if proc.returncode != 0:
            raise BenchError(f"python -X importtime -c {code!r}: exit {proc.returncode}\n{_tail(proc.stderr)}")
        times = {}
        for line in proc.stderr.splitlines():
            match = IMPORT_LINE.match(line)
            if match:
                times[match.group(4)] = (int(match.group(1)), int(match.group(2)))
        out.append(times)
    return out


def paired_difference(a: Series, b: Series) -> str:
    """Median of run-by-run CPU differences a - b (runs interleaved), and their range."""
    diffs = sorted(x.cpu - y.cpu for x, y in zip(a.samples, b.samples))
    return (f"{statistics.median(diffs) * 1000:.1f} ms (median of run-by-run differences; "
            f"{diffs[0] * 1000:.1f} to {diffs[-1] * 1000:.1f} ms)")


def phase_startup(ctx: Context) -> tuple[list[Row], str]:
    note(f"startup: --version, interpreter, floor, core imports, -X importtime; {ctx.runs} runs")
    version = Command([script("check_digitalsentry"), "--version"], 3,
                      validate=starts_with("check_digitalsentry "))
    bare = Command([ctx.python, "-c", "pass"])
    floor = floor_command(ctx)
    core = Command([ctx.python, "-c", f"{FLOOR_IMPORTS}; {CORE_IMPORTS}"])
    s_version, s_bare, s_floor, s_core = Series("version"), Series("bare"), Series("floor"), Series("core")
    for warm_up in (version, bare, floor, core):
        run(warm_up, ctx.env)
    for _ in range(ctx.runs):  # interleaved, and the floor measured again: compared within this loop
        s_version.samples.append(run(version, ctx.env))
        s_bare.samples.append(run(bare, ctx.env))
        s_floor.samples.append(run(floor, ctx.env))
        s_core.samples.append(run(core, ctx.env))
    floor_cpu = s_floor.cpu

    # -X importtime of the core imported AFTER the floor: what the floor loads is then already loaded, so
    # the core's lines (and their cumulative times) are exactly what it adds on top of the floor.
    in_floor = set().union(*import_times(ctx, FLOOR_IMPORTS))
    runs = import_times(ctx, f"{FLOOR_IMPORTS}; {CORE_IMPORTS}")
    added = set().union(*runs) - in_floor
    med = {name: (statistics.median(r.get(name, (0, 0))[0] for r in runs),
                  statistics.median(r.get(name, (0, 0))[1] for r in runs)) for name in added}
    ours_self = sum(v[0] for k, v in med.items() if k.split(".")[0] == "check_digitalsentry")
    added_self = sum(v[0] for v in med.values())
    top = sorted(med.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:8]
    table = markdown_table(
        ("module the core adds to the floor", "self", "cumulative"),
        [(f"`{name}`", f"{s / 1000:.1f} ms", f"{c / 1000:.1f} ms") for name, (s, c) in top])
    importtime = (f"Import cost of the core: `python -X importtime -c \"{FLOOR_IMPORTS}; {CORE_IMPORTS}\"`, "
                  f"the modules the floor does not load, top 8 by cumulative time (medians of {ctx.runs}; "
                  f"-X importtime inflates every figure: compare them with each other, and row 4 for real "
                  f"CPU). All {len(added)} added modules: {added_self / 1000:.1f} ms self, of which "
                  f"check_digitalsentry.*: {ours_self / 1000:.1f} ms.\n\n{table}")
    budget = (TARGET_HEALTHY_CPU_VS_FLOOR - 1) * floor_cpu  # what row 1's target leaves beyond the floor
    # Differences of runs made next to each other (a difference of two medians of a few ms is mostly noise).
    version_over_bare = paired_difference(s_version, s_bare)
    core_over_floor = paired_difference(s_core, s_floor)
    return [
        measured("4a", "startup: `check_digitalsentry --version` (exit 3)", s_version),
        measured("4b", "startup: `python -c pass` (the bare interpreter, same venv)", s_bare),
        measured("4c", f"floor: `python -c \"{FLOOR_IMPORTS}\"` (again, interleaved with 4a, 4b, 4d)", s_floor),
        measured("4d", f"startup: the floor + the core: `python -c \"{FLOOR_IMPORTS}; import "
                       "check_digitalsentry.cli.main, .cli.glue, .engine, .judge, .plugins\"`", s_core),
        Row("4", "startup: --version CPU over the bare interpreter",
            value=f"+{version_over_bare} ({s_version.cpu / floor_cpu:.2f}x the floor)",
            target="(report)", result="-"),
        Row("4", "startup: CPU the core's imports add to the floor (4d - 4c)",
            value=f"+{core_over_floor}, of the {ms(budget)} that row 1's target leaves for all ours does "
                  f"beyond the floor", target="(report)", result="-"),
    ], importtime


# --- 7. watch --------------------------------------------------------------------------------------------


def rounds_of(text: str) -> int:
    """The rounds a watch's summary says it ran: ``... ended (...) after 12 rounds in 13s``."""
    found = re.search(r"--watch ended \(.*\) after (\d+) rounds? in ", text)
    if not found:
        raise BenchError(f"no watch summary in its output\n{_tail(text)}")
    return int(found[1])


def phase_watch(ctx: Context) -> list[Row]:
    """CPU per round of ``--watch`` over one healthy site: a long and a short watch, run by run, whose CPU
    difference over their difference in rounds leaves out what both pay once (the interpreter, imports, the
    summary)."""
    sim_args = ["--address", WATCH_ADDRESS, "--ports", "standard", "--audio-clients", "0", "--no-api",
                "--duration", "900"]
    base = [script("check_digitalsentry"), "-H", WATCH_ADDRESS, "--web", "--sql-instance", SQL_INSTANCE, "--watch",
            "--interval", "1"]
    done = contains("--watch ended (--watch-for", "the watch's summary")
    short = Command([*base, "--watch-for", str(WATCH_SHORT)], 0, timeout=WATCH_SHORT + 30, validate=done)
    long = Command([*base, "--watch-for", str(WATCH_LONG)], 0, timeout=WATCH_LONG + 30, validate=done)
    s_short, s_long = Series("short"), Series("long")
    per_round: list[float] = []
    note(f"watch: simulated site on {WATCH_ADDRESS} (standard ports), watches of {WATCH_SHORT} s and "
         f"{WATCH_LONG} s, {ctx.runs} runs (~{ctx.runs * (WATCH_SHORT + WATCH_LONG + 2)} s)")
    with Simulator(sim_args, ctx.env, ctx.workdir / "sim-watch.log"):
        run(short, ctx.env)  # warm-up
        for _ in range(ctx.runs):
            a = run(short, ctx.env)
            rounds_a = rounds_of(short.output)
            b = run(long, ctx.env)
            rounds_b = rounds_of(long.output)
            if rounds_b <= rounds_a:
                raise BenchError(f"{long}: {rounds_b} rounds, no more than the short watch's {rounds_a}")
            s_short.samples.append(a)
            s_long.samples.append(b)
            per_round.append((b.cpu - a.cpu) / (rounds_b - rounds_a))
    per_round.sort()
    median = statistics.median(per_round)
    return [
        measured("7a", f"watch: `check_digitalsentry -H {WATCH_ADDRESS} --web --sql-instance {SQL_INSTANCE} "
                       f"--watch --interval 1 --watch-for {WATCH_SHORT}` (no terminal: one line per change)",
                 s_short),
        measured("7b", f"watch: the same, `--watch-for {WATCH_LONG}`", s_long),
        Row("7", "watch: CPU per round of one healthy site (Browser, SQL/TDS, video, diagnostics, web/TLS), "
                 "(7b - 7a) / their difference in rounds, run by run",
            value=f"{median * 1000:.1f} ms a round (runs {per_round[0] * 1000:.1f} to {per_round[-1] * 1000:.1f} "
                  f"ms): {median * 100:.1f} % of a core at the smallest --interval (1 s)",
            target="(report)", result="-"),
    ]


# --- main ------------------------------------------------------------------------------------------------


def child_environment() -> tuple[dict[str, str], list[str]]:
    dropped = sorted(name for name in os.environ if name.startswith("PYTHON"))
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    return env, dropped


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement, medians reported (7; >= 5)")
    parser.add_argument("--nmap-runs", type=int, default=1,
                        help="runs of the nmap unit of the fleet row (1: its UDP scan takes ~2 minutes)")
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    parser.add_argument("--serial", action="store_true",
                        help="run the C plugins' degraded runs one by one (default: concurrently, they are "
                             "timer-bound)")
    parser.add_argument("--fleet-address", default="127.0.1.1", metavar="ADDR",
                        help="first loopback address of the 500-site fleet (127.0.1.1)")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in PHASES]
    if unknown or not only:
        parser.error(f"--only: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(PHASES)}")
    if args.runs < 5:
        parser.error("--runs: at least 5 (medians of fewer runs are not worth printing)")
    if args.nmap_runs < 1:
        parser.error("--nmap-runs: at least 1")
    args.only = only
    return args


def _terminate(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)  # so that every finally (simulators, namespaces) runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if sys.prefix == sys.base_prefix:
        fail(f"{sys.executable} is not a virtual environment's python: run this from the venv made by "
             f"`pip install .` (e.g. /tmp/benchvenv/bin/python bench/run.py)")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    env, dropped = child_environment()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dsbench-") as tmp:
        check = script("check_digitalsentry")
        ctx = Context(runs=args.runs, nmap_runs=args.nmap_runs, serial=args.serial, env=env,
                      dropped_env=dropped, python=interpreter_of(check), workdir=Path(tmp),
                      fleet_first=args.fleet_address)
        build = installed_build(ctx)
        version = version_of([check, "--version"])
        head = header(ctx, build, version)
        rows: list[Row] = []
        extra = ""
        try:
            if "healthy" in args.only:
                rows += phase_healthy(ctx)
            if "degraded" in args.only:
                rows += phase_degraded(ctx)
            if "fleet" in args.only:
                rows += phase_fleet(ctx)
            if "blackbox" in args.only:  # before scale, whose 10,000 sites grow this process (see Sample)
                rows += phase_blackbox(ctx)
            if "scale" in args.only:
                rows += phase_scale(ctx)
            if "submit" in args.only:
                rows += phase_submit(ctx)
            if "watch" in args.only:
                rows += phase_watch(ctx)
            if "startup" in args.only:
                startup_rows, extra = phase_startup(ctx)
                rows += startup_rows
        except BenchError as exc:
            print(f"bench: ABORTED: {exc}", file=sys.stderr)
            return 1
    table = markdown_table(COLUMNS, [(r.id, r.what, r.runs, r.wall, r.cpu, r.rss, r.value, r.target, r.result)
                                     for r in rows])
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    notes = [*ctx.notes, f"whole benchmark: {time.monotonic() - started:.0f} s; load average at the end {load}"]
    report = "\n\n".join([head, table, *([extra] if extra else []), "\n".join(f"- {n}" for n in notes)]) + "\n"
    print(report, end="")
    if args.markdown:
        Path(args.markdown).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
