"""The live view in a terminal, for real: ``check_digitalsentry --watch`` in a tmux pane (send-keys,
capture-pane) watching a simulated site while the test changes the site's faults -- the technician at the
router. And the same watch without a terminal, as ``ssh host check_digitalsentry --watch | tee`` runs it:
one line per change, nothing redrawn. The check runs with a minimal environment, as a shell on a
monitoring server would start it."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import need_program, script
from support import check_args, watch_lines

from check_digitalsentry.simulator import SimSite, Simulator

HEADER = re.compile(r"check_digitalsentry --watch: round (\d+)( probing\.\.\.)?")


class Pane:
    """One tmux server of the test's own (its own socket), one pane running a command."""

    def __init__(self, tmux: str, directory: Path) -> None:
        self.tmux = tmux
        self.socket = directory / "tmux.sock"

    def run(self, *args: str) -> str:
        done = subprocess.run([self.tmux, "-S", str(self.socket), "-f", "/dev/null", *args], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, f"tmux {' '.join(args[:2])}: {done.stderr}"
        return done.stdout

    def start(self, argv: list[str], env: dict[str, str], width: int = 160, height: int = 40) -> None:
        """Run ``argv`` in a new pane with only ``env``; then print its exit code and keep the pane (bash: on
        Ctrl-C it waits for the command and goes on when the command handled the signal; sh would end)."""
        command = (f"env -i {' '.join(shlex.quote(f'{k}={v}') for k, v in env.items())} {shlex.join(argv)}; "
                   f"echo \"exit=$?\"; sleep 600")
        self.run("new-session", "-d", "-x", str(width), "-y", str(height), "bash", "-c", command)

    def screen(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "0")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "0", *keys)

    def until(self, test: Callable[[str], object], what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if test(text):
                return text
            assert time.monotonic() < deadline, f"the pane did not show {what} within {timeout:g} s:\n{text}"
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    tmux = need_program("tmux", "the live view is driven in a real terminal")
    started = Pane(tmux, tmp_path)
    yield started
    started.close()


@pytest.fixture
def site() -> Iterator[Simulator]:
    """A simulated site whose video port is off (connections refused), counting every probe."""
    sim = Simulator([SimSite(faults={"video": "off"}, audio_clients=0)], record=True).start()
    yield sim
    sim.close()


def environment(**more: str) -> dict[str, str]:
    return {"PATH": f"{Path(script('check_digitalsentry')).parent}:/usr/bin:/bin", "TERM": "screen",
            "LANG": "C.UTF-8", "HOME": "/nonexistent", **more}


def watch_argv(sim: Simulator, *more: str) -> list[str]:
    return ["check_digitalsentry", *check_args(sim), "--watch", *more]


def video_row(screen: str) -> str:
    [row] = [line for line in screen.splitlines() if re.match(r"127\.0\.0\.1\s+video\s", line)]
    return row


def rounds_done(screen: str) -> int:
    found = HEADER.search(screen)
    assert found, screen
    return int(found[1]) - (1 if found[2] else 0)


def test_a_lifted_fault_turns_the_row_green_within_two_rounds_and_is_logged(pane: Pane, site: Simulator) -> None:
    pane.start(watch_argv(site, "--interval", "1", "--watch-for", "300"), environment())
    screen = pane.until(lambda s: "CRITICAL" in video_row(s) if HEADER.search(s) and "video" in s else False,
                        "the video row CRITICAL")
    assert "closed" in video_row(screen) and "nothing listens on TCP" in video_row(screen)
    assert re.search(r"^HOST +ROLE +PORT +STATE +STATUS +SINCE +AGE +FIX$", screen, re.M)  # -H: no site name
    before = rounds_done(pane.screen())
    site.set_fault("video", None)  # the technician fixes the forward
    screen = pane.until(lambda s: " OK " in video_row(s), "the video row OK")
    after = rounds_done(screen)
    # Round before+1 may have probed before the fix; before+2 surely after it: the row is green by the second
    # round that saw it open, and not before two rounds saw it.
    assert before + 2 <= after <= before + 3, (before, after, screen)
    port = site.sites[0].ports["video"]
    assert re.search(rf"^\d\d:\d\d:\d\d 127\.0\.0\.1 video {port}/tcp closed -> open \(OK\)$", screen, re.M), screen
    assert screen.count("\ncheck_digitalsentry --watch: round") == 0  # one table, redrawn in place
    pane.keys("C-c")
    screen = pane.until(lambda s: "exit=" in s, "the exit code")
    assert "check_digitalsentry --watch ended (Ctrl-C)" in screen
    assert re.search(rf"changes \(1\):\n  \d\d:\d\d:\d\d 127\.0\.0\.1 video {port}/tcp closed -> open \(OK\)", screen)
    assert "DIGITALSENTRY OK - 8 ports as expected on 127.0.0.1" in screen and "exit=0" in screen


def test_a_flapping_port_shows_as_flapping(pane: Pane, site: Simulator) -> None:
    stop = threading.Event()

    def flap() -> None:  # the forward keeps coming and going
        fault: str | None = None
        while not stop.wait(1.4):
            site.set_fault("video", fault)
            fault = None if fault else "off"

    pane.start(watch_argv(site, "--interval", "1", "--watch-for", "300"), environment())
    pane.until(lambda s: HEADER.search(s) and "video" in s, "the first round")
    flapper = threading.Thread(target=flap, daemon=True)
    flapper.start()
    try:
        screen = pane.until(lambda s: "FLAPPING" in video_row(s), "the video row FLAPPING", timeout=90)
    finally:
        stop.set()
        flapper.join()
    row = video_row(screen)
    assert "closed" in row and "open" in row and "it keeps changing between" in row and " OK " not in row
    assert re.search(r"video \d+/tcp flapping: \d changes in the last \d rounds", screen)
    pane.keys("C-c")
    screen = pane.until(lambda s: "exit=" in s, "the exit code")
    assert "flapping: " in screen.split("check_digitalsentry --watch ended (Ctrl-C)", 1)[1]


@pytest.mark.parametrize("no_color", ["", "1"])
def test_ctrl_c_prints_the_summary_and_exits_with_the_verdict(pane: Pane, site: Simulator, no_color: str) -> None:
    env = environment(**({"NO_COLOR": no_color} if no_color else {}))
    pane.start(watch_argv(site, "--interval", "1"), env)
    pane.until(lambda s: rounds_done(s) >= 2 if HEADER.search(s) else False, "two rounds")
    coloured = pane.screen(escapes=True)
    red = re.search(r"\x1b\[[0-9;]*31m\s*CRITICAL", coloured) or re.search(r"\x1b\[1m\x1b\[31mCRITICAL", coloured)
    green = "\x1b[32mOK" in coloured
    if no_color:
        assert not re.search(r"\x1b\[[0-9;]*3[1-7]m", coloured), "colours despite NO_COLOR"
    else:
        assert red and green, coloured
    pane.keys("C-c")
    screen = pane.until(lambda s: "exit=" in s, "the exit code")
    summary = screen.split("check_digitalsentry --watch ended (Ctrl-C) after ", 1)[1]
    assert "changes: none" in summary
    port = site.sites[0].ports["video"]
    assert f"not as expected at the end (1):\n  127.0.0.1 video {port}/tcp closed (CRITICAL): nothing listens" in \
        summary
    assert "DIGITALSENTRY CRITICAL - video" in summary and "exit=2" in summary


def test_without_a_terminal_only_changes_are_printed(site: Simulator) -> None:
    run = watch_lines([script("check_digitalsentry"), *check_args(site), "--watch", "--interval", "1"],
                      environment(TERM="xterm-256color"), 8, lambda: site.set_fault("video", None),
                      before=2.5)  # more rounds, nothing changes: nothing is printed; then the fix
    port = site.sites[0].ports["video"]
    assert [line.split(" ", 3)[2] for line in run.first] == ["sql-browser", "sql", "video", "diagnostics", "web",
                                                            "api-system", "api-playback", "api-camera"]
    assert re.fullmatch(rf"\d\d:\d\d:\d\d 127\.0\.0\.1 video {port}/tcp closed \(CRITICAL\) -- fix: nothing listens "
                        rf"on TCP {port} at 127\.0\.0\.1: .*\n", run.first[2])
    assert re.fullmatch(rf"\d\d:\d\d:\d\d 127\.0\.0\.1 video {port}/tcp closed -> open \(OK\)\n", run.line)
    assert run.rest.startswith("check_digitalsentry --watch ended (SIGTERM) after "), run.rest
    assert "\x1b" not in "".join(run.first) + run.line + run.rest
    assert run.rest.splitlines()[-1].startswith("DIGITALSENTRY OK - 8 ports as expected") and run.code == 0


def test_a_reader_that_is_gone_ends_a_watch_that_has_nothing_to_print(site: Simulator) -> None:
    """``check_digitalsentry --watch | head -1``: head exits with its line; the watch, which prints nothing
    while nothing changes, notices without writing and ends with its verdict -- not at --watch-for."""
    site.set_fault("video", None)  # healthy: after the first round, nothing more is printed
    started = time.monotonic()
    proc = subprocess.Popen([script("check_digitalsentry"), *check_args(site), "--watch", "--interval", "1",
                             "--watch-for", "240"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environment())
    assert proc.stdout is not None and proc.stderr is not None
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # head -1 has its line and exits
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    errors = proc.stderr.read()
    proc.stderr.close()
    assert b" sql-browser " in first
    assert code == 0 and errors == b""
    assert time.monotonic() - started < 120  # not the 240 s of --watch-for


@pytest.mark.parametrize(("host", "width", "more"), [
    ("監視監視監視監視監視監視監視監視監視監視.example", 80, {}),  # each character takes two columns
    ("überwachung-zürich-ößäü-überwachung.example", 80, {"PYTHONIOENCODING": "ascii"}),  # each ü shown as \xfc
    ("127.0.0.1", 12, {}),  # a terminal narrower than any line
], ids=["wide-characters", "ascii-stream", "tiny-terminal"])
def test_the_table_fits_the_terminal_so_the_redraw_leaves_no_copies(pane: Pane, host: str, width: int,
                                                                     more: dict[str, str]) -> None:
    """A line one column wider than the terminal wraps, and the next redraw, which goes back up as many lines
    as it wrote, leaves the top of the old table behind: copies pile up round after round."""
    pane.start(["check_digitalsentry", "-H", host, "--watch", "--interval", "1", "-t", "1"], environment(**more),
               width=width, height=30)
    pane.until(lambda s: "check_di" in s, "the table")
    deadline = time.monotonic() + 8  # several redraws: the rounds, and the ages ticking in between
    while time.monotonic() < deadline:
        screen = pane.screen()
        assert sum(1 for line in screen.splitlines() if line.startswith("check_di")) == 1, screen
        time.sleep(0.3)
    assert sum(1 for line in screen.splitlines() if line.startswith("HOST")) == 1, screen


def test_a_terminal_that_gives_no_size_gets_the_table(site: Simulator) -> None:
    """A terminal nobody gave a size (0 columns, 0 lines: ``script`` started from a pipe or cron, some serial
    consoles) is drawn as 80x24, as ``shutil`` sizes it: not one "." line a round and no table."""
    import pty

    site.set_fault("video", None)
    main, terminal = pty.openpty()  # a new pty is 0x0 until someone sets its size
    assert os.get_terminal_size(terminal) == (0, 0)
    proc = subprocess.Popen([script("check_digitalsentry"), *check_args(site), "--watch", "--interval", "1",
                             "--watch-until", "ok"], stdin=subprocess.DEVNULL, stdout=terminal,
                            stderr=subprocess.PIPE, env=environment())
    os.close(terminal)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the watch ended and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
        assert proc.stderr is not None
        proc.stderr.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode())
    assert re.search(r"^HOST +ROLE +PORT +STATE +STATUS", text, re.M), text
    assert re.search(r"^127\.0\.0\.1 +video +\d+/tcp +OK", text, re.M), text
    assert code == 0


def test_ctrl_z_gives_the_shell_its_cursor_back_and_fg_redraws(pane: Pane, site: Simulator) -> None:
    pane.start(watch_argv(site, "--interval", "1"), environment())
    pane.until(lambda s: rounds_done(s) >= 1 if HEADER.search(s) else False, "the first round")
    assert pane.run("display", "-p", "-t", "0", "#{cursor_flag}").strip() == "0"  # hidden while it draws
    pane.keys("C-z")
    deadline = time.monotonic() + 30
    while pane.run("display", "-p", "-t", "0", "#{cursor_flag}").strip() != "1":
        assert time.monotonic() < deadline, "the cursor stayed hidden after Ctrl-Z"
        time.sleep(0.2)
    stopped = rounds_done(pane.screen())
    os.killpg(os.getpgid(int(pane.run("display", "-p", "-t", "0", "#{pane_pid}"))), signal.SIGCONT)  # fg
    pane.until(lambda s: HEADER.search(s) is not None and rounds_done(s) > stopped, "rounds again after fg")
    assert pane.run("display", "-p", "-t", "0", "#{cursor_flag}").strip() == "0"
    pane.keys("C-c")
    screen = pane.until(lambda s: "exit=" in s, "the exit code")
    assert "check_digitalsentry --watch ended (Ctrl-C)" in screen and "exit=2" in screen
    assert pane.run("display", "-p", "-t", "0", "#{cursor_flag}").strip() == "1"
