"""--submit without a monitoring daemon: its options (one line, exit 3, before anything is probed), the
passive results being what the active check prints, the command lines for Nagios, and the two Icinga
answers a real Icinga 2.13 never gives (503 to retry, 409 from 2.14 on) from a small TLS server."""

from __future__ import annotations

import http.server
import json
import os
import re
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, ClassVar

import pytest
from conftest import script
from icinga_api import Pki
from support import CheckRun

from check_digitalsentry.model import State
from check_digitalsentry.passive import PassiveResult
from check_digitalsentry.simulator import SimSite, Simulator, inventory_toml


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text('[[sites]]\nname = "a"\nhosts = ["127.0.0.1"]\n')
    return path


@pytest.fixture
def password(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text("secret\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["-H", "127.0.0.1", "--submit", "icinga2"],
     "--submit needs --inventory (it names each site's Icinga or Nagios host and service)"),
    (["INV", "--submit", "icinga"], "--submit: expected icinga2 or nagios, got 'icinga'"),
    (["INV", "--submit", "icinga2"], "--submit icinga2 needs --api-url https://HOST:5665"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h:5665"],
     "--submit icinga2 needs --api-user USER --api-password-file FILE, or --api-cert FILE --api-key FILE"),
    (["INV", "--api-url", "https://h:5665"], "--api-url needs --submit"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-cert", "c.pem"],
     "--api-cert and --api-key go together (the client certificate and its key)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-user", "u"],
     "--api-user and --api-password-file go together (the ApiUser and its password)"),
    (["INV", "--submit", "nagios"], "--submit nagios needs --command-file FILE (Nagios' command_file, e.g. "
                                    "/var/lib/nagios4/rw/nagios.cmd)"),
    (["INV", "--submit", "nagios", "--command-file", "f", "--api-url", "https://h"],
     "--api-url cannot be combined with --submit nagios"),
    (["INV", "--submit", "nagios", "--command-file", "f", "--format", "json"],
     "--format cannot be combined with --submit (it prints one line saying what was submitted)"),
    (["INV", "--submit", "icinga2", "--api-url", "http://h:5665", "--api-user", "u", "--api-password-file", "PW"],
     "--api-url 'http://h:5665': expected https://HOST:5665 (Icinga 2's API speaks HTTPS only)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-user", "u", "--api-password-file", "PW",
      "--ttl", "ten"], "--ttl: expected seconds >= 0 and <= 604800 (0: no ttl), got 'ten'"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-user", "u", "--api-password-file", "NOPE"],
     "--api-password-file NOPE: No such file or directory"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-cert", "NOPE", "--api-key", "NOPE"],
     "--api-cert/--api-key: NOPE: no such file"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-user", "u", "--api-password-file", "PW",
      "--api-ca", "TEXT"], "--api-ca TEXT: not a PEM certificate"),
])
def test_submit_options_that_cannot_work_are_one_line_exit_3(
    check: Callable[..., CheckRun], inventory: Path, password: Path, args: list[str], message: str
) -> None:
    words = [{"INV": ["--inventory", str(inventory)]}.get(arg, [arg]) for arg in args]
    argv = [str(password) if w == "PW" else w for word in words for w in word]
    argv = [str(inventory) if w == "TEXT" else w for w in argv]
    run = check(*argv, "-t", "2")
    assert run.code == 3, run
    expected = message.replace("TEXT", str(inventory))
    assert run.lines[0].startswith(f"DIGITALSENTRY UNKNOWN - {expected}"), (run.lines[0], expected)
    assert len(run.lines) == 1 and run.stderr == "", run


def test_a_password_file_every_user_may_read_is_refused(check: Callable[..., CheckRun], inventory: Path,
                                                      password: Path) -> None:
    password.chmod(0o644)
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", "https://127.0.0.1:1",
                "--api-user", "u", "--api-password-file", str(password))
    assert run.code == 3, run
    assert run.lines == [f"DIGITALSENTRY UNKNOWN - --api-password-file {password}: every user may read it (mode "
                         f"0644): chmod o-rw {password}"]


# --- the passive result is what the active check says ------------------------------------------------


def read_fifo(path: Path, lines: list[str]) -> threading.Thread:
    def read() -> None:
        with path.open() as fifo:
            lines.extend(fifo.read().splitlines())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def unescaped(text: str) -> str:
    """What Nagios 4 makes of an external command's plugin output: \\n a newline, \\\\ a backslash."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def core_view(output: str) -> tuple[str, list[str]]:
    """A plugin's output as Nagios and Icinga store it: the text without perfdata, and the perfdata items."""
    text, perf = [], []
    for line in output.splitlines():
        head, bar, tail = line.partition("|")
        if head.strip():
            text.append(head.rstrip())
        if bar:
            perf += tail.split()
    return "\n".join(text), perf


def numbers(text: str) -> str:
    """Times differ from one run to the next: every number becomes N."""
    return re.sub(r"\d+(\.\d+)?", "N", text)


@pytest.mark.parametrize("selection", [[], ["--role", "video", "--role", "sql"]])
def test_the_passive_result_is_what_the_active_check_of_that_site_prints(
    tmp_path: Path, simulate: Callable[..., Simulator], check: Callable[..., CheckRun], selection: list[str]
) -> None:
    """The result --submit sends for a site (or a site's role) is, number for number of ports and word for
    word, what `check_digitalsentry --inventory F --site NAME [--role ROLE] -v -t T` prints, with T the probes'
    part of the submit run's -t: the same status line, long output and perfdata labels and thresholds."""
    sim = simulate(SimSite(name="good", address="127.0.151.1", audio_clients=0),
                   SimSite(name="bad", address="127.0.151.2", audio_clients=0, faults={"video": "off"}),
                   SimSite(name="several", address="127.0.151.3", audio_clients=0, faults={"sql-browser": "several"}))
    inv = tmp_path / "sites.toml"
    inv.write_text(inventory_toml(sim.sites))
    fifo = tmp_path / "cmd"
    os.mkfifo(fifo)
    lines: list[str] = []
    reader = read_fifo(fifo, lines)
    time.sleep(0.1)
    run = check("--inventory", str(inv), "--submit", "nagios", "--command-file", str(fifo), "-t", "10", *selection)
    reader.join(5)
    assert run.code == 0, run
    roles = selection[1::2]
    assert len(lines) == 3 * max(1, len(roles))
    for line in lines:
        _, host, service, code, output = line.split(";", 4)
        role = service.removeprefix("digitalsentry-") if roles else None
        active = check("--inventory", str(inv), "--site", host, *(["--role", role] if role else []), "-v", "-t", "7")
        text, perf = core_view(active.stdout)
        passive_text, passive_perf = core_view(unescaped(output))
        assert int(code) == active.code
        assert numbers(passive_text) == numbers(text), (passive_text, text)
        assert [numbers(p) for p in passive_perf] == [numbers(p) for p in perf]


# --- Nagios command lines --------------------------------------------------------------------------


def result(output: str, perfdata: list[str]) -> PassiveResult:
    return PassiveResult(host="ds01", service="digitalsentry", state=State.CRITICAL, output=output,
                         perfdata=perfdata, started=0.0, ended=1.0, site="ds01")


def test_a_command_line_escapes_newlines_and_backslashes_and_stays_one_pipe_write() -> None:
    from check_digitalsentry.submit.nagios import command_line

    line = command_line(result("DIGITALSENTRY CRITICAL - a\\b\nline 2", ["x=1;;1:;0;1", "failing=1"]), 1700000000)
    assert line == (b"[1700000000] PROCESS_SERVICE_CHECK_RESULT;ds01;digitalsentry;2;DIGITALSENTRY CRITICAL - "
                    b"a\\\\b|x=1;;1:;0;1 failing=1\\nline 2\n")
    long = result("STATUS\n" + "\n".join(f"port {n} " + "x" * 80 for n in range(100)), [f"p{n}=1" for n in range(50)])
    cut = command_line(long, 1700000000, limit=4096)
    assert len(cut) <= 4096 and cut.endswith(b"\n") and cut.count(b"\n") == 1
    text = cut.decode()
    assert "|" + " ".join(f"p{n}=1" for n in range(50)) + "\\nport 0 " in text  # the perfdata stays whole
    assert re.search(r"\\n\(\d+ more lines: check_digitalsentry -v\)\n$", text), text[-100:]


# --- 503 and 409: a small TLS server, as Icinga 2.13 never sends them ------------------------------------


class Answers(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: ClassVar[list[tuple[int, dict[str, object]]]] = []
    seen: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        status, doc = type(self).script.pop(0) if type(self).script else (200, {"results": [
            {"code": 200, "status": "Successfully processed check result."}]})
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_icinga(tmp_path: Path) -> Iterator[tuple[str, Pki]]:
    pki = Pki(tmp_path / "pki")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.node, pki.node_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Answers.seen = []
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", pki
    finally:
        server.shutdown()
        server.server_close()


def test_503_is_retried_and_409_is_counted_not_retried(fake_icinga: tuple[str, Pki], tmp_path: Path) -> None:
    from check_digitalsentry.nagios.submit import report
    from check_digitalsentry.submit import icinga2

    url, pki = fake_icinga
    unavailable = (503, {"results": [{"code": 503, "status": "Icinga is shutting down."}]})
    newer = (409, {"results": [{"code": 409, "status": "Newer check result already present."}]})
    accepted = (200, {"results": [{"code": 200, "status": "Successfully processed check result."}]})
    Answers.script = [unavailable, unavailable, accepted, newer]
    password = tmp_path / "pw"
    password.write_text("secret")
    password.chmod(0o600)
    api = icinga2.Api(url, user="u", password_file=str(password), ca=str(pki.ca), check_source="here", ttl=600)
    results = [result("DIGITALSENTRY OK - fine", []), result("DIGITALSENTRY OK - also", [])]
    submission = icinga2.submit(api, results, time.monotonic() + 5, connections=1)
    kinds = [outcome.kind for outcome in submission.outcomes]
    assert kinds == ["accepted", "stale"], submission.outcomes
    assert submission.outcomes[0].attempts == 3 and submission.retries == 2
    assert len(Answers.seen) == 4 and Answers.seen[0]["ttl"] == 600 and Answers.seen[0]["check_source"] == "here"
    code, lines = report(submission, results, f"Icinga 2 at {url}")
    assert code == 1
    assert lines[0].endswith("; 1 stale (409) (2 retries); results: 2 CRITICAL"), lines
    assert lines[1] == ("ds01!digitalsentry CRITICAL stale: Icinga has a newer result for service digitalsentry on "
                        "host ds01 (409: Newer check result already present.)")
    assert submission.connections == 1  # one connection kept alive for all four requests


def test_sigterm_while_submitting_is_one_unknown_line(tmp_path: Path, simulate: Callable[..., Simulator],
                                                       password: Path) -> None:
    import signal
    import socket

    sim = simulate(SimSite(name="one", address="127.0.151.9", audio_clients=0))
    inv = tmp_path / "sites.toml"
    inv.write_text(inventory_toml(sim.sites))
    with socket.socket() as stalled:  # accepts connections, never answers: the submission waits
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(4)
        proc = subprocess.Popen([script("check_digitalsentry"), "--inventory", str(inv), "--submit", "icinga2",
                                 "--api-url", f"https://127.0.0.1:{stalled.getsockname()[1]}", "--api-user", "u",
                                 "--api-password-file", str(password), "-t", "20"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (3, "DIGITALSENTRY UNKNOWN - terminated (SIGTERM) while submitting 1 "
                                              "result\n", "")
