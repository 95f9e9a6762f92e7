"""The check's own contract under hostile conditions: where it writes (--output), what it prints in any
locale and to any stdout, what a signal leaves behind, and how long its first line may get. Every run
ends with an exit code 0-3 and at most one status line."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from conftest import need_root, script
from support import CheckRun, check_args, plugin_env

from check_digitalsentry.cli.output import OutputError, write_file
from check_digitalsentry.simulator import SimSite, Simulator

Simulate = Callable[..., Simulator]
Check = Callable[..., CheckRun]


def faulty(simulate: Simulate, **faults: str) -> list[str]:
    """The check's arguments for a simulated site with these faults (default: video off), -t 3."""
    sim = simulate(faults=faults or {"video": "off"})
    return [*check_args(sim), "-t", "3"]


# --- 1. --output writes only where it must --------------------------------------------------------


def test_output_replaces_a_file_atomically_and_keeps_its_mode(simulate: Simulate, check: Check,
                                                               tmp_path: Path) -> None:
    target = tmp_path / "ds.prom"
    target.write_text("old\n")
    target.chmod(0o640)
    run = check(*faulty(simulate), "--format", "openmetrics", "--output", str(target))
    assert run.code == 2 and run.first.startswith("DIGITALSENTRY CRITICAL - video"), run
    assert target.read_text().endswith("# EOF\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.prom"]  # no temporary file left
    fresh = tmp_path / "new.prom"
    check(*faulty(simulate), "--format", "openmetrics", "--output", str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # node_exporter reads it as another user


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_output_refuses_anything_that_is_not_a_regular_file(simulate: Simulate, check: Check, tmp_path: Path,
                                                             kind: str) -> None:
    if kind == "device":
        target = Path("/dev/null")
    elif kind == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
    else:
        target = tmp_path / "dir"
        target.mkdir()
    before = target.stat()
    run = check(*faulty(simulate), "--format", "openmetrics", "--output", str(target), timeout=20)
    assert run.code == 3 and len(run.lines) == 1, run
    assert run.first.startswith(f"DIGITALSENTRY UNKNOWN - --output {target}: ")
    assert "not a regular file" in run.first
    after = target.stat()
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before.st_mode), before.st_ino)


def test_output_through_a_symlink_replaces_what_it_points_to(simulate: Simulate, check: Check,
                                                              tmp_path: Path) -> None:
    real = tmp_path / "real.prom"
    real.write_text("old\n")
    link = tmp_path / "link.prom"
    link.symlink_to(real)
    run = check(*faulty(simulate), "--format", "openmetrics", "--output", str(link))
    assert run.code == 2, run
    assert link.is_symlink() and os.readlink(link) == str(real)  # the link stays a link
    assert real.read_text().endswith("# EOF\n")


def test_a_planted_symlink_with_the_old_predictable_name_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "ds.prom"
    # The name the old implementation wrote through: .NAME.PID.tmp next to the target.
    (tmp_path / f".ds.prom.{os.getpid()}.tmp").symlink_to(victim)
    write_file(str(target), "metrics\n")
    assert victim.read_text() == "precious\n"
    assert target.read_text() == "metrics\n"


def test_a_failed_write_is_one_unknown_line_and_keeps_the_old_file(simulate: Simulate, check: Check,
                                                                    tmp_path: Path) -> None:
    need_root("a full filesystem of its own: a 16 KiB tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], check=True)
    try:
        target = mount / "ds.json"
        target.write_text("old\n")
        (mount / "filler").write_bytes(b"x" * 8192)  # what is left cannot hold a whole report
        many = [SimSite(name=f"s{i}", address=f"127.0.7.{i + 1}", audio_clients=0) for i in range(6)]
        sim = simulate(*many)
        inventory = tmp_path / "sites.toml"
        sim.inventory_toml(inventory)
        run = check("--inventory", str(inventory), "-t", "3", "--format", "json", "--output", str(target))
        assert run.code == 3 and len(run.lines) == 1, run
        assert run.first.startswith(f"DIGITALSENTRY UNKNOWN - --output {target}: No space left on device")
        assert target.read_text() == "old\n"
        assert sorted(p.name for p in mount.iterdir()) == ["ds.json", "filler"]
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(OutputError, match="Read-only file system"):
            write_file(str(target), "new\n")
        assert target.read_text() == "old\n"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_signal_half_way_through_a_write_leaves_no_temporary_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from check_digitalsentry import files
    from check_digitalsentry.model import Interrupted  # what SIGTERM raises in the check

    def interrupted(fd: int) -> None:
        raise Interrupted("SIGTERM")

    target = tmp_path / "ds.json"
    target.write_text("old\n")
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(Interrupted):
        files.replace(str(target), b"new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.json"] and target.read_text() == "old\n"


# --- 2. any locale ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env", [{"LANG": "de_DE.ISO-8859-1", "LC_ALL": "de_DE.ISO-8859-1"},
                                 {"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "latin-1"},
                                 {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}])
@pytest.mark.parametrize("fmt", ["nagios", "json", "openmetrics"])
def test_every_format_prints_in_any_locale(simulate: Simulate, check: Check, env: dict[str, str],
                                           fmt: str) -> None:
    args = faulty(simulate, **{"sql": "off", "video": "off"})
    utf8 = check(*args, "--format", fmt, "-v")
    other = check(*args, "--format", fmt, "-v", env=env)
    assert other.code == utf8.code == 2, other
    assert other.stdout and "Traceback" not in other.stderr, other
    if fmt == "nagios":
        assert "- forward TCP" in other.first or "— forward TCP" in other.first
        assert other.first.split(" | ")[0].replace("- forward", "— forward") == utf8.first


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "latin-1"},
                                 {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}])
def test_formats_that_name_their_encoding_are_utf8_in_any_locale(tmp_path: Path, env: dict[str, str]) -> None:
    """HTML declares UTF-8, OpenMetrics and JSON are UTF-8 by their specs: their bytes on stdout are UTF-8
    whatever the locale, the text unchanged (not escaped for the terminal)."""
    inventory = tmp_path / "sites.toml"
    host = "kö" + "a" * 64 + ".invalid"  # a label longer than DNS allows: it never resolves, and asks no server
    inventory.write_text(f'[[sites]]\nname = "koeln"\ncustomer = "Köln Ω 𝄞"\nhosts = ["{host}"]\n',
                         encoding="utf-8")
    for fmt, wanted in (("html", "Köln Ω 𝄞"), ("openmetrics", f'server="{host}"'), ("json", host)):
        proc = subprocess.run([script("check_digitalsentry"), "--inventory", str(inventory), "-t", "2",
                               "--format", fmt], capture_output=True, timeout=60, env=plugin_env(env))
        assert proc.returncode == 2 and not proc.stderr, (fmt, proc)
        text = proc.stdout.decode("utf-8")  # raises on Latin-1 bytes
        if fmt == "json":  # JSON may write \u escapes: what it says is what counts
            import json

            assert json.loads(text)["sites"][0]["hosts"] == [host], text[:300]
        else:
            assert wanted in text, (fmt, text[:300])


def test_a_network_string_is_escaped_not_dropped_in_an_ascii_locale(check: Check) -> None:
    from hostile import instance_record, svr_resp, udp_replier

    reply = svr_resp(instance_record("ÅSA".encode("latin-1"), 1))
    with udp_replier(lambda _: reply) as port:
        run = check("-H", "127.0.0.1", "--port", f"sql-browser={port}", "-t", "2", "-v",
                    env={"PYTHONIOENCODING": "ascii"})
    assert run.code == 2
    assert "\\xc5SA" in run.stdout  # shown as an escape, never raw bytes nor an encoding error


# --- 3. stdout that fails ----------------------------------------------------------------------------


def run_with_stdout(args: list[str], stdout: object, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([script("check_digitalsentry"), *args], stdout=stdout, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=60, env=plugin_env(),
                          **kwargs)  # type: ignore[call-overload]


def run_into(sink: str, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """The check with its stdout ``sink``: "full" (/dev/full: ENOSPC), "gone" (a pipe whose reader has
    gone: EPIPE), "closed" (no descriptor 1 at all), or "pipe" (a reader that takes everything)."""
    if sink == "full":
        with open("/dev/full", "wb") as full:
            return run_with_stdout(args, full)
    if sink == "gone":
        read, write = os.pipe()
        os.close(read)  # nobody will ever read: every write is EPIPE
        try:
            return run_with_stdout(args, write)
        finally:
            os.close(write)
    if sink == "closed":
        return subprocess.run(["sh", "-c", 'exec "$0" "$@" >&-', script("check_digitalsentry"), *args],
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=60, env=plugin_env())
    return run_with_stdout(args, subprocess.PIPE)


@contextlib.contextmanager
def command_file_reader(path: Path) -> Iterator[None]:
    """A FIFO at ``path`` that a thread reads to the end, again and again, as Nagios reads its command file."""
    import threading

    os.mkfifo(path)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            with open(path, "rb") as fifo:
                fifo.read()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield
    finally:
        stop.set()
        with open(path, "wb"):  # wakes the reader waiting in open()
            pass
        reader.join(timeout=10)


#: mode -> (its arguments, the exit code it gives with a stdout that takes everything). With a stdout
#: that fails, each mode exits as it would have (the state is what Nagios reads), except the Icinga 2
#: objects, which are the product itself: UNKNOWN, said on stderr.
MODES = {
    "status line": (["{check}"], 2),
    "long output": (["{check}", "-v"], 2),
    "quiet": (["{check}", "--quiet"], 2),
    "json": (["{check}", "--format", "json"], 2),
    "openmetrics": (["{check}", "--format", "openmetrics", "-v"], 2),
    "html": (["{check}", "--format", "html"], 2),
    "output file": (["{check}", "--format", "openmetrics", "--output", "{tmp}/x.prom"], 2),
    "icinga2-objects": (["--inventory", "{inventory}", "--icinga2-objects"], 0),
    "submit nagios": (["--inventory", "{inventory}", "--submit", "nagios", "--command-file", "{tmp}/nagios.cmd",
                       "-t", "3"], 0),
    "submit, nobody reading": (["--inventory", "{inventory}", "--submit", "nagios", "--command-file",
                                "{tmp}/unread.cmd"], 2),
    "demo": (["--demo", "--demo-fault", "video=off", "-t", "3"], 2),
    "help": (["--help"], 3),
    "version": (["--version"], 3),
    "version, parsed": (["-V", "-t", "3"], 3),
    "usage error": (["-H", "h", "--bogus"], 3),
    "bad inventory": (["--inventory", "{tmp}/missing.toml"], 3),
}


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_exits_0_to_3_on_a_full_a_gone_and_a_closed_stdout(simulate: Simulate, tmp_path: Path,
                                                                     mode: str) -> None:
    """Run as Icinga, Nagios and cron run it (no PYTHONUNBUFFERED: what the interpreter still buffers at exit
    must not fail the run with exit 120), each output path of each mode into each broken stdout."""
    template, code = MODES[mode]
    sim = simulate(faults={"video": "off"})
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    os.mkfifo(tmp_path / "unread.cmd")
    args: list[str] = []
    for word in template:
        args += faulty_args(sim) if word == "{check}" else [
            word.format(tmp=tmp_path, inventory=inventory)]
    with command_file_reader(tmp_path / "nagios.cmd"):
        normal = run_into("pipe", args)
        assert normal.returncode == code and normal.stdout, (mode, normal)
        for sink in ("full", "gone", "closed"):
            proc = run_into(sink, args)
            expected = 3 if mode == "icinga2-objects" else code
            assert proc.returncode == expected, (mode, sink, proc)
            assert b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr, (mode, sink, proc)
            if mode == "icinga2-objects":
                assert proc.stderr.startswith(b"DIGITALSENTRY UNKNOWN - --icinga2-objects: stdout "), proc


def faulty_args(sim: Simulator) -> list[str]:
    return [*check_args(sim), "-t", "3"]


# --- 4. SIGTERM -------------------------------------------------------------------------------------


def terminate_after(argv: list[str], seconds: float, signum: int = signal.SIGTERM) -> tuple[int, str, float]:
    proc = subprocess.Popen([script("check_digitalsentry"), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL, env=plugin_env())
    time.sleep(seconds)
    sent = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    return proc.returncode, out, time.monotonic() - sent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_is_one_unknown_line_naming_what_was_being_probed(simulate: Simulate, signum: int) -> None:
    sim = simulate(faults={"sql": "tarpit"})
    code, out, took = terminate_after([*check_args(sim), "-t", "20"], 1.0, signum)
    assert code == 3 and len(out.splitlines()) == 1, out
    name = signal.Signals(signum).name
    assert out.startswith(f"DIGITALSENTRY UNKNOWN - {'terminated' if name == 'SIGTERM' else 'interrupted'} "
                          f"({name}) while probing sql {sim.sites[0].sql_port}/tcp of cli/127.0.0.1"), out
    assert took < 2


def test_sigterm_in_inventory_mode_names_sites_and_hosts(simulate: Simulate, tmp_path: Path) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.8.1", audio_clients=0, faults={"sql": "tarpit"}),
                   SimSite(name="branch", address="127.0.8.2", audio_clients=0, faults={"sql": "tarpit"}))
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    code, out, _ = terminate_after(["--inventory", str(inventory), "-t", "20"], 1.0)
    assert code == 3 and len(out.splitlines()) == 1, out
    assert "terminated (SIGTERM) while probing sql " in out
    assert "of hq/127.0.8.1" in out and "of branch/127.0.8.2" in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_output_is_written_keeps_its_one_status_line_and_its_code(
    check: Check, tmp_path: Path, signum: int
) -> None:
    """A reader that stops reading (a pipe full), then the monitoring core's signal: the status line
    already written stays the only one, and the exit code is its state, not a second UNKNOWN line."""
    hosts = [f"127.9.{i // 250}.{i % 250 + 1}" for i in range(600)]  # nothing listens: a long -v output
    inventory = tmp_path / "sites.toml"
    inventory.write_text('[[sites]]\nname = "big"\nhosts = [' + ", ".join(f'"{h}"' for h in hosts) + "]\n")
    proc = subprocess.Popen([script("check_digitalsentry"), "--inventory", str(inventory), "-t", "5", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=plugin_env())
    assert proc.stdout is not None
    first = proc.stdout.read(1024)  # the first line is out: the rest waits for the reader
    time.sleep(1.0)  # the check blocks on the full pipe
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=30)
    out = (first + rest).decode()
    assert out.startswith("DIGITALSENTRY CRITICAL - "), out[:200]
    assert out.count("DIGITALSENTRY ") == 1, [line for line in out.splitlines() if "DIGITALSENTRY" in line][:3]
    assert proc.returncode == 2 and b"Traceback" not in err, (proc.returncode, err[-300:])


# --- 8. a bounded first line -------------------------------------------------------------------------


def test_a_thousand_failing_hosts_give_a_bounded_first_line_and_every_perfdata_item(check: Check,
                                                                                    tmp_path: Path) -> None:
    hosts = [f"127.9.{i // 250}.{i % 250 + 1}" for i in range(1000)]  # nothing listens there
    inventory = tmp_path / "sites.toml"
    inventory.write_text('[[sites]]\nname = "big"\nhosts = [' + ", ".join(f'"{h}"' for h in hosts) + "]\n")
    run = check("--inventory", str(inventory), "-t", "8")
    assert run.code == 2, run.first[:300]
    first = run.stdout.split("\n", 1)[0]
    assert len(first) <= 1200, len(first)
    assert "|" not in first  # the perfdata moved below: it would not fit a monitoring core's first line
    assert first.endswith("more (-v)"), first[-80:]
    labels = run.perfdata
    assert len([label for label in labels if label.endswith("__video")]) == 1000
    assert labels["failing"].startswith("4000;")
    assert run.first.startswith("DIGITALSENTRY CRITICAL - big/127.9.0.1 sql-browser 1434/udp closed")


def test_a_browser_listing_500_instances_gives_a_bounded_first_line(check: Check) -> None:
    from hostile import instance_record, svr_resp, udp_replier

    records = b"".join(instance_record(f"INST{i:03d}".encode(), 40000 + i) for i in range(500))
    assert len(records) < 65000  # one datagram
    with udp_replier(lambda _: svr_resp(records)) as port:
        run = check("-H", "127.0.0.1", "--port", f"sql-browser={port}", "--sql-instance", "DIGITALSENTRY",
                    "-t", "2")
    assert run.code == 2
    assert len(run.stdout.split("\n", 1)[0]) <= 1500
    assert "instance DIGITALSENTRY not found; the Browser lists INST000, INST001" in run.first
    assert "more" in run.first


def test_the_exit_code_is_never_outside_0_to_3_for_an_internal_fault(tmp_path: Path) -> None:
    """A plugin whose hook raises at import: still one UNKNOWN line and exit 3."""
    (tmp_path / "ds_broken.py").write_text("raise RuntimeError('broken plugin')\n")
    info = tmp_path / "ds_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ds-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[check_digitalsentry]\nbroken = ds_broken\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                           "from check_digitalsentry.cli import run; sys.argv[1:] = ['-H', '127.0.0.1', "
                           "'-t', '1']; run()", str(tmp_path)], capture_output=True, text=True, timeout=60,
                          env=plugin_env())
    assert proc.returncode == 3 and proc.stdout.startswith("DIGITALSENTRY UNKNOWN - internal error: "), proc
    assert len(proc.stdout.splitlines()) == 1
