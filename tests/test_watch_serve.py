"""The live view's page server (``check_digitalsentry --watch --serve``) under hostile and broken clients, as
a scanner or a bad network gives them: clients that hang up half-way, that trickle their request, that
open connections by the hundred. The watch goes on, nothing is printed on its terminal, no client holds a
thread for long, and the page answers again once they are gone."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import script
from support import Watching, served_watch

from check_digitalsentry.cli.serve import MAX_CLIENTS, REQUEST_TIMEOUT
from check_digitalsentry.simulator import Simulator


@pytest.fixture
def live() -> Iterator[tuple[Watching, Simulator]]:
    with served_watch(script("check_digitalsentry")) as started:
        yield started


def first_round(live: Watching) -> int:
    deadline = time.monotonic() + 60
    while not live.state().get("round"):
        assert time.monotonic() < deadline, "no round in 60 s"
        time.sleep(0.2)
    return int(live.state()["round"])  # type: ignore[call-overload]


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("Threads:")).split()[1])


def ended(live: Watching) -> tuple[str, str]:
    live.proc.terminate()
    return live.proc.communicate(timeout=30)


def test_clients_that_hang_up_half_way_leave_nothing_on_the_terminal(live: tuple[Watching, Simulator]) -> None:
    watching, _ = live
    first_round(watching)
    for path in (f"/{watching.token}/", f"/{watching.token}/state.json", "/nothing"):
        for _ in range(15):  # the request, then a reset before the answer is read
            with socket.create_connection(("127.0.0.1", watching.port), timeout=10) as client:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    assert watching.get(f"/{watching.token}/")[0] == 200
    out, err = ended(watching)
    assert err == "", err  # socketserver's "Exception occurred during processing of request" tracebacks
    assert watching.proc.returncode == 2 and "Traceback" not in out


def test_a_client_that_trickles_its_request_is_cut_off(live: tuple[Watching, Simulator]) -> None:
    watching, _ = live
    first_round(watching)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", watching.port), timeout=10) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\n")
        cut = False
        while time.monotonic() - started < 6 * REQUEST_TIMEOUT:
            time.sleep(1)  # a header line a second: each read waits far less than REQUEST_TIMEOUT
            try:
                slow.sendall(b"X-Slow: 1\r\n")
                slow.settimeout(0.01)
                cut = slow.recv(1 << 16) == b"" or cut
            except socket.timeout:
                continue
            except OSError:
                cut = True
            if cut:
                break
    assert cut, f"a trickling client was still served after {6 * REQUEST_TIMEOUT:g} s"
    assert time.monotonic() - started < 6 * REQUEST_TIMEOUT


def test_a_flood_of_connections_holds_few_threads_and_the_watch_goes_on(live: tuple[Watching, Simulator]) -> None:
    watching, _ = live
    before = first_round(watching)
    flood = []
    try:
        for _ in range(4 * MAX_CLIENTS):  # silent connections: each would hold a thread until it times out
            flood.append(socket.create_connection(("127.0.0.1", watching.port), timeout=10))
            time.sleep(0.01)  # at a pace the server accepts them all (its listen backlog is short)
        most = 0
        for _ in range(10):
            time.sleep(0.1)
            most = max(most, threads(watching.proc.pid))
        assert most <= MAX_CLIENTS + 8, most
    finally:
        for client in flood:
            client.close()
    deadline = time.monotonic() + 3 * REQUEST_TIMEOUT
    while True:  # once they are gone, the page answers again, and the rounds went on meanwhile
        try:
            if int(watching.state()["round"]) > before:  # type: ignore[call-overload]
                break
        except (OSError, AssertionError):
            pass
        assert time.monotonic() < deadline, "the page did not answer again"
        time.sleep(0.5)
    out, err = ended(watching)
    assert err == "" and watching.proc.returncode == 2, (out, err)


def test_an_endless_request_is_answered_after_a_few_kilobytes(live: tuple[Watching, Simulator]) -> None:
    """4 MB of header lines: http.server alone would read (and keep) them all, waiting for their end; the
    server reads ``MAX_REQUEST`` bytes, answers and closes."""
    watching, _ = live
    with socket.create_connection(("127.0.0.1", watching.port), timeout=30) as client:
        def send() -> None:
            try:
                client.sendall(f"GET /{watching.token}/ HTTP/1.1\r\n".encode())
                for _ in range(64):
                    client.sendall(b"X-" + b"a" * 65000 + b": b\r\n")
            except OSError:
                pass  # the server stopped reading, answered and closed

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            answer = client.recv(100)
        except ConnectionResetError:
            answer = b"reset"
        sender.join(30)
    assert answer.startswith(b"HTTP/1.0 "), answer
