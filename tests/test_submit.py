"""--submit without a monitoring daemon: its options, URL, files and names (one line, exit 3, before anything
is probed: a witness port sees no probe), the passive results being what the active check prints, the
command lines for Nagios, and the answers a real Icinga 2.13 never gives from small TLS servers: 503 to
retry, 409 from 2.14 on, and a misbehaving API (not JSON, a login page, Infinity, nested JSON, 4 GB, an
endless or dripped answer, a status line that is not HTTP) -- each a result's outcome with its true
reason, never a traceback, in bounded memory and inside the run's time."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from api_servers import ACCEPTED, Answers, RawApi, Reply, http_server, raw_server, result, sent
from conftest import script
from icinga_api import Pki
from support import CheckRun, plugin_env

from check_digitalsentry.simulator import SimSite, Simulator, inventory_toml


@pytest.fixture
def witness() -> Iterator[socket.socket]:
    """A listening port that no one but a probe connects to: ``probed(witness)`` says whether one did."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        yield listener


def probed(witness: socket.socket) -> bool:
    try:
        connection, _ = witness.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


@pytest.fixture
def inventory(tmp_path: Path, witness: socket.socket) -> Path:
    """One site on 127.0.0.1 whose video port is the witness."""
    path = tmp_path / "sites.toml"
    path.write_text(f'[[sites]]\nname = "a"\nhosts = ["127.0.0.1"]\naudio_clients = 0\n[sites.ports]\n'
                    f"video = {witness.getsockname()[1]}\n")
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


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
     "--api-password-file: No such file or directory (the value given is not repeated here, in case it is the "
     "password: give the path of a file that holds it)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-cert", "NOPE", "--api-key", "NOPE"],
     "--api-cert NOPE: No such file or directory"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-user", "u", "--api-password-file", "PW",
      "--api-ca", "TEXT"], "--api-ca TEXT: not a PEM certificate"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-user", "", "--api-password-file", "PW"],
     "--api-user '': an empty value (give USER, or leave the option out)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h", "--api-user", "u", "--api-password-file", "PW",
      "--api-cert", "c.pem", "--api-key", "k.pem"],
     "--api-user and --api-cert cannot be combined: give one way to authenticate (an ApiUser's password, or a "
     "client certificate for an ApiUser with client_cn)"),
    # --api-url: refused before anything is probed, never a traceback from a worker thread
    (["INV", "--submit", "icinga2", "--api-url", "https://exa mple.com", "--api-user", "u", "--api-password-file",
      "PW"], "--api-url 'https://exa mple.com': a space or a control character (expected https://HOST:5665)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://a..b:5665", "--api-user", "u", "--api-password-file", "PW"],
     "--api-url 'https://a..b:5665': host name 'a..b': not a DNS name (label empty or too long)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://-h-:5665", "--api-user", "u", "--api-password-file", "PW"],
     "--api-url 'https://-h-:5665': host name '-h-': not a DNS name (letters, digits, '-', '_' and single dots, "
     "not beginning with '-' or '.')"),
    # credentials in the URL are refused, and not said back (cron mails the line)
    (["INV", "--submit", "icinga2", "--api-url", "https://u:s3cret@h:5665", "--api-user", "u", "--api-password-file",
      "PW"], "--api-url 'https://[redacted]@h:5665': expected https://HOST:PORT, without user, query or fragment"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h:5665/v1?password=s3cret", "--api-user", "u",
      "--api-password-file", "PW"], "--api-url 'https://h:5665/v1?[redacted]': expected https://HOST:PORT, without "
                                    "user, query or fragment"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h:0", "--api-user", "u", "--api-password-file", "PW"],
     "--api-url 'https://h:0': port '0': expected 1-65535 (Icinga 2's API: 5665)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h:", "--api-user", "u", "--api-password-file", "PW"],
     "--api-url 'https://h:': port '': expected 1-65535 (Icinga 2's API: 5665)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h:70000", "--api-user", "u", "--api-password-file", "PW"],
     "--api-url 'https://h:70000': port '70000': expected 1-65535 (Icinga 2's API: 5665)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://::1:5665", "--api-user", "u", "--api-password-file", "PW"],
     "--api-url 'https://::1:5665': an IPv6 address goes in brackets: https://[ADDRESS]:5665"),
    (["INV", "--submit", "icinga2", "--api-url", "https://[fe80::1%eth0]:5665", "--api-user", "u",
      "--api-password-file", "PW"], "--api-url 'https://[fe80::1%eth0]:5665': an IPv6 zone id (%eth0) is not "
                                    "supported: use a global address or a host name"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h:5665/\x7f", "--api-user", "u", "--api-password-file",
      "PW"], "--api-url 'https://h:5665/\\x7f': a space or a control character (expected https://HOST:5665)"),
    (["INV", "--submit", "icinga2", "--api-url", "https://h:5665/v\u00e9", "--api-user", "u",
      "--api-password-file", "PW"], "--api-url 'https://h:5665/v\u00e9': a path of ASCII characters only "
                                    "(percent-encode the others)"),
    # --command-file: checked before probing, not after (42 s at -t 60)
    (["INV", "--submit", "nagios", "--command-file", "NOPE"], "--command-file NOPE: no such file (is Nagios "
     "running, with check_external_commands=1 and command_file=NOPE?)"),
    (["INV", "--submit", "nagios", "--command-file", "TEXT"], "--command-file TEXT: a regular file, not a FIFO "
     "(Nagios makes its command_file a named pipe)"),
    (["INV", "--submit", "nagios", "--command-file", "DIR"], "--command-file DIR: a directory, not a FIFO "
     "(Nagios makes its command_file a named pipe)"),
    (["INV", "--submit", "nagios", "--command-file", ""], "--command-file '': an empty value (give FILE, or "
     "leave the option out)"),
])
def test_submit_options_that_cannot_work_are_one_line_exit_3_before_any_probe(
    check: Callable[..., CheckRun], inventory: Path, password: Path, witness: socket.socket, args: list[str],
    message: str
) -> None:
    words = [{"INV": ["--inventory", str(inventory)]}.get(arg, [arg]) for arg in args]
    places = {"PW": str(password), "TEXT": str(inventory), "DIR": str(inventory.parent)}
    argv = [places.get(w, w) for word in words for w in word]
    run = check(*argv, "-t", "2")
    assert run.code == 3, run
    expected = message.replace("TEXT", str(inventory)).replace("DIR", str(inventory.parent))
    assert run.lines[0].startswith(f"DIGITALSENTRY UNKNOWN - {expected}"), (run.lines[0], expected)
    assert len(run.lines) == 1 and run.stderr == "", run
    assert not probed(witness)


def test_the_witness_sees_a_probe(check: Callable[..., CheckRun], inventory: Path, witness: socket.socket) -> None:
    """The proof above proves something: a run that probes connects to the witness port."""
    check("--inventory", str(inventory), "-t", "2")
    assert probed(witness)


@pytest.mark.parametrize("typed", ["S3cret!pw", "pass word", "a/b#Secret", "-dash-first"])
def test_a_password_typed_where_its_file_goes_is_never_said_back(
    check: Callable[..., CheckRun], inventory: Path, witness: socket.socket, typed: str
) -> None:
    """Icinga shows the status line to everyone who may see the service, cron mails it: a password given as
    --api-password-file's value (the file's place) is refused without repeating it, before any probe."""
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", "https://127.0.0.1:1",
                "--api-user", "u", f"--api-password-file={typed}", "-t", "2")
    assert run.code == 3, run
    assert run.lines[0].startswith("DIGITALSENTRY UNKNOWN - --api-password-file: No such file or directory"), run
    assert typed not in run.stdout and typed not in run.stderr, run
    assert not probed(witness)


@pytest.mark.parametrize(("mode", "words"), [
    (0o644, "every user may read it (mode 0644)"),
    (0o602, "every user may write it (mode 0602)"),
    (0o606, "every user may read and write it (mode 0606)"),
])
def test_a_password_file_every_user_may_read_or_write_is_refused(
    check: Callable[..., CheckRun], inventory: Path, password: Path, mode: int, words: str
) -> None:
    password.chmod(mode)
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", "https://127.0.0.1:1",
                "--api-user", "u", "--api-password-file", str(password))
    assert run.code == 3, run
    assert run.lines == [f"DIGITALSENTRY UNKNOWN - --api-password-file {password}: {words}: chmod o-rw {password}"]


@pytest.fixture
def client_pem(tmp_path: Path, pki: Pki) -> tuple[Path, Path]:
    """A copy of the client certificate and its key (mode 0600)."""
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    cert.write_bytes(pki.client.read_bytes())
    key.write_bytes(pki.client_key.read_bytes())
    key.chmod(0o600)
    return cert, key


@pytest.mark.parametrize("option", ["--api-password-file", "--api-ca", "--api-cert", "--api-key"])
@pytest.mark.parametrize("kind", ["a FIFO", "a directory", "a device", "too large", "writable by every user"])
def test_a_file_option_takes_only_a_safe_regular_file_and_never_hangs(
    check: Callable[..., CheckRun], inventory: Path, password: Path, client_pem: tuple[Path, Path],
    tmp_path: Path, witness: socket.socket, option: str, kind: str
) -> None:
    """A FIFO would block open() forever (before the run's deadline is armed), a device never end: each file is
    opened O_NONBLOCK and checked with fstat before anything is read, one line, exit 3, nothing probed."""
    path = {"a FIFO": tmp_path / "fifo", "a directory": tmp_path / "dir", "a device": Path("/dev/zero"),
            "too large": tmp_path / "large", "writable by every user": tmp_path / "shared"}[kind]
    if kind == "a FIFO":
        os.mkfifo(path, 0o600)
    elif kind == "a directory":
        path.mkdir(mode=0o700)
    elif kind == "too large":
        with path.open("wb") as file:
            file.truncate(2 << 20)  # sparse: 2 MiB that take no room
        path.chmod(0o600)
    elif kind == "writable by every user":
        path.write_bytes(password.read_bytes() if option == "--api-password-file" else client_pem[1].read_bytes()
                         if option == "--api-key" else client_pem[0].read_bytes())
        path.chmod(0o662)
    cert, key = client_pem
    files = {"--api-password-file": password, "--api-ca": None, "--api-cert": cert, "--api-key": key, option: path}
    auth = (["--api-user", "u", "--api-password-file", str(files["--api-password-file"])]
            if option in ("--api-password-file", "--api-ca") else
            ["--api-cert", str(files["--api-cert"]), "--api-key", str(files["--api-key"])])
    ca = ["--api-ca", str(path)] if option == "--api-ca" else []
    started = time.monotonic()
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", "https://127.0.0.1:1", *auth,
                *ca, "-t", "3", timeout=20)
    assert time.monotonic() - started < 3
    reason = {"a FIFO": "a FIFO, not a regular file", "a directory": "a directory, not a regular file",
              "a device": "a device, not a regular file",
              "too large": "2097152 bytes, more than such a file holds (at most 1 MiB)",
              "writable by every user": f"every user may write it (mode 0662): chmod o-rw {path}"}[kind]
    assert (run.code, run.lines, run.stderr) == (3, [f"DIGITALSENTRY UNKNOWN - {option} {path}: {reason}"], ""), run
    assert not probed(witness)


def test_a_key_every_user_may_read_is_refused(check: Callable[..., CheckRun], inventory: Path,
                                              client_pem: tuple[Path, Path]) -> None:
    cert, key = client_pem
    key.chmod(0o644)
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", "https://127.0.0.1:1",
                "--api-cert", str(cert), "--api-key", str(key))
    assert run.lines == [f"DIGITALSENTRY UNKNOWN - --api-key {key}: every user may read it (mode 0644): chmod o-rw "
                         f"{key}"], run


@pytest.mark.parametrize(("what", "message"), [
    ("not a certificate", "--api-cert @CERT: not a PEM certificate (no -----BEGIN CERTIFICATE----- line)"),
    ("not a key", "--api-key @KEY: not a PEM private key (no -----BEGIN ... PRIVATE KEY----- line)"),
    ("garbled", "--api-cert @CERT: not a PEM certificate and key OpenSSL can load ("),
    ("another key", "--api-key @KEY: not the key of --api-cert @CERT (key values mismatch)"),
    ("encrypted", "--api-key @KEY: encrypted, and no passphrase can be given (write it unencrypted: openssl pkey "
                  "-in @KEY -out NEW.key; chmod 600 NEW.key)"),
])
def test_a_client_certificate_openssl_cannot_load_is_said_in_words(
    check: Callable[..., CheckRun], inventory: Path, client_pem: tuple[Path, Path], pki: Pki, what: str,
    message: str
) -> None:
    cert, key = client_pem
    if what == "not a certificate":
        cert.write_text("hello\n")
    elif what == "not a key":
        key.write_bytes(cert.read_bytes())
    elif what == "garbled":
        cert.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    elif what == "another key":
        key.write_bytes(pki.node_key.read_bytes())
    else:
        subprocess.run([pki.openssl, "pkey", "-in", str(pki.client_key), "-aes256", "-passout", "pass:secret",
                        "-out", str(key)], check=True, capture_output=True, timeout=30)
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", "https://127.0.0.1:1",
                "--api-cert", str(cert), "--api-key", str(key), timeout=20)
    expected = message.replace("@CERT", str(cert)).replace("@KEY", str(key))
    assert run.code == 3 and len(run.lines) == 1 and run.stderr == "", run
    assert run.lines[0].startswith(f"DIGITALSENTRY UNKNOWN - {expected}"), (run.lines[0], expected)
    assert "_ssl.c" not in run.lines[0]


def test_names_nagios_cannot_take_are_refused_before_probing(
    check: Callable[..., CheckRun], inventory: Path, witness: socket.socket, tmp_path: Path
) -> None:
    """';' separates an external command's fields: a host or service name with one cannot be written. Said once,
    naming the site and the inventory key, before anything is probed (and before the command file is opened)."""
    inventory.write_text(inventory.read_text().replace('audio_clients = 0\n',
                                                       'audio_clients = 0\nicinga_service = "ports;x"\n'))
    run = check("--inventory", str(inventory), "--submit", "nagios", "--command-file", str(tmp_path / "nagios.cmd"))
    assert (run.code, run.lines) == (3, [f"DIGITALSENTRY UNKNOWN - --inventory {inventory}: site a: icinga_service "
                                         "'ports;x': a ';' or a line break cannot go into Nagios' external command "
                                         "file (--submit nagios)"]), run
    assert not probed(witness)


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


@pytest.fixture
def fake_icinga(pki: Pki) -> Iterator[tuple[str, Pki]]:
    with http_server(pki.node, pki.node_key) as url:
        yield url, pki


def test_503_is_retried_and_409_is_counted_not_retried(fake_icinga: tuple[str, Pki], tmp_path: Path) -> None:
    from check_digitalsentry.cli.submit import report
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
    kinds = [outcome.kind for outcome in submission.receipts]
    assert kinds == ["accepted", "stale"], submission.receipts
    assert submission.receipts[0].attempts == 3 and submission.retries == 2
    assert len(Answers.seen) == 4 and Answers.seen[0][1]["ttl"] == 600 and Answers.seen[0][1]["check_source"] == "here"
    code, lines = report(submission, results, f"Icinga 2 at {url}", "accepted by")
    assert code == 1
    assert lines[0].endswith("; 1 stale (409) (2 retries); results: 2 CRITICAL"), lines
    assert lines[1] == ("ds01!digitalsentry CRITICAL stale: Icinga has a newer result for service digitalsentry on "
                        "host ds01 (409: Newer check result already present.)")
    assert submission.connections == 1  # one connection kept alive for all four requests


# --- a misbehaving API: every answer is data, in bounded memory, inside the run's time ---------------------

MIB = b"y" * (1 << 20)  # made once: the server's allocations stay out of the client's measured memory


def forever(head: bytes, piece: bytes, pause: float = 0.0) -> Reply:
    """``head``, then ``piece`` again and again (every ``pause`` s) until the client goes away."""
    def reply(conn: ssl.SSLSocket) -> None:
        conn.sendall(head)
        while True:
            conn.sendall(piece)
            time.sleep(pause)
    return reply


def dripped(conn: ssl.SSLSocket) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" * 100:
        conn.sendall(bytes([byte]))
        time.sleep(0.1)


@pytest.fixture
def raw_api(pki: Pki) -> Iterator[RawApi]:
    """``raw_api(reply)`` -> the URL of a TLS server that answers each request with ``reply(connection)``."""
    with raw_server(pki.node, pki.node_key) as api:
        yield api


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What escaped a thread (a traceback on stderr in a real run): must stay empty."""
    escaped: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(repr(args.exc_value)))
    return escaped


NOT_ICINGA = "not an Icinga 2 API answer "
MISBEHAVIOURS: dict[str, tuple[Reply, str]] = {
    "a login page": (sent(b"200 OK", b"<html><body>Please log in</body></html>"),
                     r"\(HTTP 200: not valid JSON \(Expecting value: .*\): '<html><body>Please log in"),
    "Infinity": (sent(b"200 OK", b'{"results":[{"code":Infinity,"status":"x"}]}'),
                 r"\(HTTP 200: not valid JSON \(Infinity is no JSON number\)"),
    "1e999": (sent(b"200 OK", b'{"results":[{"code":1e999,"status":"x"}]}'),
              r"\(HTTP 200: not valid JSON \(1e999 is out of range\)"),
    "nested JSON": (sent(b"200 OK", b"[" * 30000 + b"]" * 30000), r"\(HTTP 200: JSON nested too deeply\)"),
    "JSON of no result": (sent(b"200 OK", b"{}"), r"\(HTTP 200: JSON without results or error: '\{\}'\)"),
    "no result for the object": (sent(b"200 OK", b'{"results":[]}'), r"\(HTTP 200: 0 results for one object\)"),
    "a code that is no status": (sent(b"200 OK", b'{"results":[{"code":401.9}]}'),
                                 r"\(HTTP 200: results\[0\]\.code is 401\.9, not an HTTP status\)"),
    "an error document of 200": (sent(b"200 OK", b'{"error":200,"status":"fine"}'),
                                 r"\(HTTP 200: error 200 is not an HTTP error status\)"),
    "success in a 500": (sent(b"500 Internal Server Error", ACCEPTED), r"\(HTTP 500: code 200 in the results\)"),
    "a redirect": (sent(b"302 Found", b"", b"Location: https://127.0.0.1:1/login\r\n"),
                   r"\(HTTP 302 to https://127\.0\.0\.1:1/login: an empty body\)"),
    "a status line that is not HTTP": (lambda conn: conn.sendall(b"garbage\r\n\r\n"),
                                       r"\(127\.0\.0\.1:\d+: garbage\)"),
    "4 GB": (forever(b"HTTP/1.1 200 OK\r\nContent-Length: 4000000000\r\n\r\n", MIB),
             r"\(HTTP 200: larger than 65536 bytes\)"),
    "endless chunks": (forever(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                               b"100000\r\n" + MIB + b"\r\n"), r"\(HTTP 200: larger than 65536 bytes\)"),
}


@pytest.mark.parametrize("what", MISBEHAVIOURS)
def test_an_answer_that_is_not_icingas_fails_its_result_with_the_true_reason_at_once(
    raw_api: Callable[[Reply], str], password: Path, pki: Pki, thread_errors: list[str], what: str
) -> None:
    """200 counts only with Icinga's JSON saying 200 for the object: anything else fails the result, says what
    came instead, is not retried (it would only say the same again), and is read at most 64 KiB far."""
    import tracemalloc

    from check_digitalsentry.submit import icinga2

    reply, reason = MISBEHAVIOURS[what]
    url = raw_api(reply)
    api = icinga2.Api(url, user="u", password_file=str(password), ca=str(pki.ca))
    results = [result("DIGITALSENTRY OK - fine", []), result("DIGITALSENTRY OK - also", [])]
    started = time.monotonic()
    tracemalloc.start()
    try:
        submission = icinga2.submit(api, results, started + 5, connections=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2, "not at once"
    assert [o.kind for o in submission.receipts] == ["failed", "failed"], submission.receipts
    for outcome in submission.receipts:
        assert re.match(re.escape(NOT_ICINGA) + reason, outcome.message), outcome.message
        assert outcome.attempts == 1
    assert submission.requests == 2 and submission.retries == 0 and not submission.fatal
    assert peak < 2 << 20, f"{peak} bytes of memory at most"
    assert thread_errors == []


@pytest.mark.parametrize(("what", "reply", "reason"), [
    ("a dripped answer", dripped, "did not answer within"),
    ("an endless 100 Continue", forever(b"", b"HTTP/1.1 100 Continue\r\n\r\n", 0.01), "did not answer within"),
    ("an endless slow body", forever(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\nx\r\n", 0.05),
     "did not finish its answer within"),
])
def test_an_answer_that_never_ends_is_cut_at_the_attempts_deadline(
    raw_api: Callable[[Reply], str], password: Path, pki: Pki, thread_errors: list[str], what: str, reply: Reply,
    reason: str
) -> None:
    """Each read waits only for what is left of the attempt: an answer that trickles in, byte by byte, can
    no more stretch an attempt than one that never comes."""
    from check_digitalsentry.submit import icinga2

    url = raw_api(reply)
    api = icinga2.Api(url, user="u", password_file=str(password), ca=str(pki.ca))
    started = time.monotonic()
    submission = icinga2.submit(api, [result("DIGITALSENTRY OK - fine", [])], started + 1.5)
    assert time.monotonic() - started < 1.5 + 0.2
    (outcome,) = submission.receipts
    assert outcome.kind == "failed" and f"127.0.0.1:{url.rsplit(':', 1)[1]} {reason} " in outcome.message, outcome
    assert thread_errors == []


class Unconvertible:
    def __int__(self) -> int:
        raise RuntimeError("a state that is no number")


def test_an_exception_in_a_worker_is_that_results_outcome_not_a_traceback(
    raw_api: Callable[[Reply], str], password: Path, pki: Pki, thread_errors: list[str]
) -> None:
    """Whatever a worker thread meets that nobody foresaw fails that one result, with what it was; the others
    still go in, and no result is said to have had "no answer before the run's deadline"."""
    from check_digitalsentry.submit import icinga2

    api = icinga2.Api(raw_api(sent(b"200 OK", ACCEPTED)), user="u", password_file=str(password), ca=str(pki.ca))
    broken = result("DIGITALSENTRY OK - fine", [])
    broken.state = Unconvertible()  # type: ignore[assignment]
    submission = icinga2.submit(api, [result("a", []), broken, result("b", [])], time.monotonic() + 5,
                                connections=1)
    assert [o.kind for o in submission.receipts] == ["accepted", "failed", "accepted"], submission.receipts
    assert submission.receipts[1].message == (f"unexpected RuntimeError while submitting to {api.where}: a state "
                                              "that is no number")
    assert thread_errors == []


def test_an_ipv6_api_is_named_in_brackets() -> None:
    from check_digitalsentry.submit import icinga2

    assert icinga2.parse_url("https://[::1]:5665/") == ("::1", 5665, "")
    assert icinga2.parse_url("https://[::1]:5665/v1") == ("::1", 5665, "")  # the API's root, as the docs write it
    assert icinga2.parse_url("https://icinga:5665/proxy/v1/") == ("icinga", 5665, "/proxy")
    assert icinga2.parse_url("https://ICINGA.example.com") == ("icinga.example.com", 5665, "")
    assert icinga2.parse_url("https://b\u00fccher.example:5666/proxy/") == ("xn--bcher-kva.example", 5666, "/proxy")
    api = icinga2.Api("https://[::1]:5665", cert=None)
    assert api.where == "[::1]:5665"
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6) as closed:
            port = closed.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback")
    submission = icinga2.submit(icinga2.Api(f"https://[::1]:{port}"), [result("x", [])], time.monotonic() + 0.3)
    assert submission.receipts[0].message.startswith(f"[::1]:{port} refused the connection"), submission.receipts


@pytest.mark.parametrize(("what", "reply", "reason"), [
    ("a login page", sent(b"200 OK", b"<html>Please log in</html>"), "4 failed: not an Icinga 2 API answer (HTTP 200: "
                                                                    "not valid JSON ("),
    ("a dripped answer", dripped, "did not answer within"),
])
def test_a_misbehaving_api_is_one_line_exit_2_inside_the_runs_time(
    raw_api: Callable[[Reply], str], check: Callable[..., CheckRun], inventory: Path, password: Path, pki: Pki,
    what: str, reply: Reply, reason: str
) -> None:
    """The real console script: no traceback, no false success, one line, the run ends inside -t."""
    inventory.write_text(inventory.read_text().replace("audio_clients = 0\n", "audio_clients = 0\nicinga_per_role = "
                                                                               "true\n"))
    url = raw_api(reply)
    started = time.monotonic()
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", url, "--api-ca", str(pki.ca),
                "--api-user", "u", "--api-password-file", str(password), "-t", "3")
    assert time.monotonic() - started < 3 + 0.3
    assert run.code == 2 and run.stderr == "", run
    assert run.lines[0].startswith("DIGITALSENTRY SUBMIT CRITICAL - 0 of "), run
    assert reason in run.stdout, run
    assert len(run.lines) == 1 or all(" failed: " in line for line in run.lines[1:]), run


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
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=plugin_env())
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (3, "DIGITALSENTRY UNKNOWN - terminated (SIGTERM) while submitting 1 "
                                              "result\n", "")
