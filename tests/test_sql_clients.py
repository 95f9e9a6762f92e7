"""Real SQL clients nobody here wrote, against the simulator: FreeTDS ``tsql`` lists its instance through the
Browser and, like pytds and impacket, gets "Login failed for user" -- through TLS inside TDS (the server
answers ENCRYPT_OFF) and in plaintext (ENCRYPT_NOT_SUP) -- within seconds; tshark dissects a capture of a
check and of a login with nothing malformed and no expert error.

The programs come from Debian (freetds-bin, tshark) and the libraries from PyPI (the ``test`` extras):
missing, the tests skip -- under CI=true they fail. Capturing on ``lo`` and a Browser on UDP 1434 need
root. Every simulated site has a loopback address of its own (127.14.x.y and up, from the process id), so
that two test runs on one machine neither collide nor see each other's packets.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest
from conftest import IN_CI, need_program, need_root, script
from support import CheckRun, check_args

from check_digitalsentry.protocols import tds
from check_digitalsentry.simulator import CERT_FILE, SimSite, Simulator

Simulate = Callable[..., Simulator]
FAST = 5.0  #: "within a few seconds": each client's whole login attempt
_ADDRESSES = iter(range(64))


def need(what: str, why: str) -> None:
    message = f"{what} ({why})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def need_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        need(f"{name} is not installed: {exc}", "pip install '.[test]' installs it")
        raise


def address() -> str:
    """A loopback address of this process's own: 127.<14..>.<pid>.<n>."""
    pid, n = os.getpid(), next(_ADDRESSES)
    return f"127.{14 + n // 4}.{pid // 254 % 256}.{1 + pid % 254}"


def site(**kwargs: object) -> SimSite:
    kwargs.setdefault("roles", ["sql-browser", "sql", "video", "diagnostics"])
    return SimSite(name="sim", address=address(), audio_clients=0, **kwargs)  # type: ignore[arg-type]


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 30) -> tuple[str, float]:
    """Run a client; its stdout and stderr together, and how long it took."""
    started = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})
    return proc.stdout + proc.stderr, time.monotonic() - started


@pytest.fixture
def freetds(tmp_path: Path) -> dict[str, str]:
    """tsql's environment: a freetds.conf of our own (nothing from /etc or $HOME), and a TDSDUMP log."""
    conf = tmp_path / "freetds.conf"
    conf.write_text("[global]\n\ttds version = auto\n\tconnect timeout = 10\n\ttimeout = 10\n", encoding="utf-8")
    return {"FREETDSCONF": str(conf), "TDSDUMP": str(tmp_path / "tdsdump.log")}


# -- FreeTDS tsql ----------------------------------------------------------------------------------------


def test_tsql_lists_the_instance_and_its_port_through_the_browser(simulate: Simulate) -> None:
    tsql = need_program("tsql", "package freetds-bin")
    need_root("tsql -L asks UDP 1434, a privileged port for the simulated Browser")
    sim = simulate(site(ports={"sql-browser": 1434}))
    s = sim.sites[0]
    output, seconds = run([tsql, "-L", "-H", s.address])
    assert re.search(r"^\s*InstanceName DIGITALSENTRY$", output, re.M), output
    assert re.search(rf"^\s*tcp {s.sql_port}$", output, re.M), output
    assert re.search(r"^\s*ServerName SIM$", output, re.M) and "error:" not in output, output
    assert seconds < FAST


@pytest.mark.parametrize(("setting", "in_dump"), [
    (tds.ENCRYPT_OFF, "handshake succeeded"),  # TLS inside TDS, for the login only
    (tds.ENCRYPT_NOT_SUP, "detected crypt flag 2"),  # no certificate: the login in plaintext
])
def test_tsql_gets_login_failed(simulate: Simulate, freetds: dict[str, str], setting: int, in_dump: str) -> None:
    tsql = need_program("tsql", "package freetds-bin")
    s = simulate(site(sql_encryption=setting)).sites[0]
    output, seconds = run([tsql, "-H", s.address, "-p", str(s.sql_port), "-U", "dsadmin", "-P", "wrong"], freetds)
    assert "Msg 18456 (severity 14, state 1) from SIM\\DIGITALSENTRY Line 1:" in output, output
    assert "\"Login failed for user 'dsadmin'.\"" in output, output
    assert seconds < FAST
    dump = Path(freetds["TDSDUMP"]).read_text(encoding="utf-8", errors="replace")
    assert in_dump in dump


# -- pytds ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "options"), [
    # pytds sends ENCRYPT_OFF only with a CA file and enc_login_only: then TLS inside TDS for the login
    (tds.ENCRYPT_OFF, {"cafile": str(CERT_FILE), "validate_host": False, "enc_login_only": True}),
    (tds.ENCRYPT_OFF, {"cafile": str(CERT_FILE), "validate_host": False}),  # ENCRYPT_ON: all inside TLS
    (tds.ENCRYPT_NOT_SUP, {}),
])
def test_pytds_gets_login_failed(simulate: Simulate, setting: int, options: dict[str, object]) -> None:
    pytds = need_module("pytds")
    s = simulate(site(sql_encryption=setting)).sites[0]
    started = time.monotonic()
    with pytest.raises(pytds.OperationalError) as caught:
        pytds.connect(s.address, port=s.sql_port, user="dsadmin", password="wrong", login_timeout=FAST,
                      **options)
    assert time.monotonic() - started < FAST
    error = caught.value
    assert "Login failed for user 'dsadmin'." in str(error)
    assert (error.number, error.severity, error.state) == (18456, 14, 1)  # type: ignore[attr-defined]


# -- impacket ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "tls"), [(tds.ENCRYPT_OFF, True), (tds.ENCRYPT_NOT_SUP, False)])
def test_impacket_mssqlclient_gets_login_failed(simulate: Simulate, setting: int, tls: bool) -> None:
    need_module("impacket.tds")
    mssqlclient = script("mssqlclient.py")
    s = simulate(site(sql_encryption=setting)).sites[0]
    output, seconds = run([sys.executable, mssqlclient, "-port", str(s.sql_port), f"dsadmin:wrong@{s.address}"])
    assert "ERROR(SIM\\DIGITALSENTRY): Line 1: Login failed for user 'dsadmin'." in output, output
    assert ("Encryption required, switching to TLS" in output) is tls, output
    assert seconds < FAST


# -- tshark ----------------------------------------------------------------------------------------------------


class Capture:
    """dumpcap on lo with a capture filter, into a file; stopped (SIGINT, its own pid) by ``stop``."""

    def __init__(self, dumpcap: str, path: Path, capture_filter: str) -> None:
        self.path = path
        self.proc = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-f", capture_filter, "-w", str(path)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # "Capturing on 'Loopback: lo'" once the filter is in place
        if "Capturing on" not in line:
            self.stop()
            pytest.fail(f"dumpcap did not start: {line}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            time.sleep(0.2)  # the last packets of a closed connection
            self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=10)


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Callable[[str], Capture]]:
    """``start(capture_filter)``: a ``Capture`` on lo (as root), stopped at the latest when the test ends."""
    dumpcap = need_program("dumpcap", "package wireshark-common, which tshark brings")
    need_root("capturing on lo")
    started: list[Capture] = []

    def start(capture_filter: str) -> Capture:
        started.append(Capture(dumpcap, tmp_path / "sql.pcapng", capture_filter))
        return started[-1]

    yield start
    for cap in started:
        cap.stop()


def expert_sections(text: str) -> dict[str, list[str]]:
    """``tshark -z expert`` output as severity heading ("Errors", "Warns", "Notes", "Chats") -> its lines."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        heading = re.match(r"^(\w+) \(\d+\)$", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        elif line.strip() and not line.startswith("="):
            current.append(line)
    return sections


def test_tshark_dissects_a_check_and_a_tls_login_without_malformed_packets_or_expert_errors(
        simulate: Simulate, check: Callable[..., CheckRun], capture: Callable[[str], Capture],
        freetds: dict[str, str]) -> None:
    tshark = need_program("tshark", "package tshark")
    tsql = need_program("tsql", "package freetds-bin")
    sim = simulate(site())
    s = sim.sites[0]
    cap = capture(f"host {s.address} and tcp port {s.sql_port}")
    result = check(*check_args(sim), "-t", "5")
    assert result.code == 0, result
    run([tsql, "-H", s.address, "-p", str(s.sql_port), "-U", "dsadmin", "-P", "wrong"], freetds)
    cap.stop()
    decode = ["-r", str(cap.path), "-d", f"tcp.port=={s.sql_port},tds"]

    verbose, _ = run([tshark, *decode, "-V"])
    assert "Tabular Data Stream" in verbose and "Malformed" not in verbose, verbose[-3000:]
    expert, _ = run([tshark, *decode, "-q", "-z", "expert"])
    sections = expert_sections(expert)
    assert "Errors" not in sections, expert
    assert not [line for line in sections.get("Warns", []) if re.search(r"\b(TDS|TLS)\b", line)], expert

    fields = ["tcp.srcport", "tds.type", "tds.prelogin.option.version", "tds.prelogin.option.instopt",
              "tls.handshake.type", "tds.error.number", "_ws.expert.severity"]
    table, _ = run([tshark, *decode, "-T", "fields", "-E", "separator=|", *[x for f in fields for x in ("-e", f)]])
    rows = [dict(zip(fields, line.split("|"))) for line in table.splitlines() if line.count("|") == len(fields) - 1]
    sql = str(s.sql_port)
    requests = [r for r in rows if r["tds.type"] == "18" and r["tds.prelogin.option.version"]]
    replies = [r for r in rows if r["tds.type"] == "4" and r["tcp.srcport"] == sql and r["tds.prelogin.option.version"]]
    # the check's PRELOGIN names the instance with client version 9.0.0; tsql's names MSSQLServer
    assert {(r["tds.prelogin.option.version"], r["tds.prelogin.option.instopt"]) for r in requests} == {
        (str(0x09000000), "DIGITALSENTRY"), (str(0x09000000), "MSSQLServer")}, rows
    assert {r["tds.prelogin.option.version"] for r in replies} == {str(0x0F0007D0)}, rows  # 15.0.2000
    # the TLS handshake inside TDS PRELOGIN packets: ClientHello, ServerHello...Done, ClientKeyExchange
    inside = {t for r in rows if r["tds.type"] == "18" for t in r["tls.handshake.type"].split(",") if t}
    assert {"1", "2", "11", "14", "16"} <= inside, rows
    assert any(r["tds.error.number"] == "18456" and r["tcp.srcport"] == sql for r in rows), rows
    errors = [r for r in rows for v in r["_ws.expert.severity"].split(",") if v and int(v) >= 0x00800000]
    assert not errors, errors
