"""Engine tests against bare loopback sockets: the port states the kernel produces by itself.

The simulated DS site (tests/test_engine.py) covers the protocol-level states; here each test makes
the one socket situation it needs: a listener, a port bound then closed, a full accept queue, a silent
UDP socket.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from check_digitalsentry.builtin import PluggyHooks
from check_digitalsentry.engine import Outcome, ProbeContext, api, probe_sites, probes, scheduler
from check_digitalsentry.model import PortResult, Status
from check_digitalsentry.plugins import BuiltinHooks, make_plugin_manager
from check_digitalsentry.schema import Site

LOOPBACK = "127.0.0.1"


def only_tcp_site(port: int, timeout: float, ports: dict[str, int] | None = None) -> Site:
    """A site with video on ``port`` (the other built-in roles stay on their loopback defaults)."""
    return Site("t", (LOOPBACK,), ports={"video": port, **(ports or {})}, timeout=timeout)


def result_for(results: list[PortResult], role: str) -> PortResult:
    [found] = [r for r in results if r.role == role]
    return found


@pytest.fixture
def free_port() -> int:
    """A TCP/UDP port number that nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        s.listen(1024)  # never accepts: the queue must hold every probe's connection
        yield int(s.getsockname()[1])


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: Linux drops further SYNs, so connects hang (filtered)."""
    with socket.socket() as server:
        server.bind((LOOPBACK, 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        clients = []
        try:
            for _ in range(4):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex((LOOPBACK, port))
                clients.append(c)
            time.sleep(0.1)
            yield port
        finally:
            for c in clients:
                c.close()


def test_a_listening_tcp_port_is_open_with_a_time(listener: int) -> None:
    [report] = probe_sites([only_tcp_site(listener, timeout=2)])
    video = result_for(report.results, "video")
    assert video.status is Status.OPEN
    assert video.seconds is not None and 0 <= video.seconds < 1
    assert video.address == LOOPBACK and video.port == listener


def test_a_tcp_port_nobody_listens_on_is_closed_at_once(free_port: int) -> None:
    started = time.monotonic()
    [report] = probe_sites([Site("t", (LOOPBACK,), ports={"video": free_port, "sql-browser": free_port},
                                 sql_port=free_port, timeout=5)])
    video = result_for(report.results, "video")
    assert video.status is Status.CLOSED
    assert "refused" in video.detail
    assert time.monotonic() - started < 1


def test_a_dropped_syn_is_filtered_when_the_deadline_comes(full_backlog: int, free_port: int) -> None:
    started = time.monotonic()
    [report] = probe_sites([Site("t", (LOOPBACK,), ports={"video": full_backlog, "sql-browser": free_port},
                                 sql_port=free_port, timeout=0.6)])
    wall = time.monotonic() - started
    video = result_for(report.results, "video")
    assert video.status is Status.FILTERED
    assert "no answer to the TCP handshake within 0.6 s" in video.detail
    assert 0.55 <= wall <= 0.6 + 0.25


def test_udp_to_a_closed_port_is_closed_by_icmp(free_port: int) -> None:
    site = Site("t", (LOOPBACK,), audio_clients=1, ports={"audio": free_port}, timeout=2)
    [report] = probe_sites([site])
    audio = result_for(report.results, "audio")
    assert audio.status is Status.CLOSED
    assert "ICMP port unreachable" in audio.detail


def test_udp_silence_is_open_or_filtered_never_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((LOOPBACK, 0))
        port = silent.getsockname()[1]
        site = Site("t", (LOOPBACK,), audio_clients=1, ports={"audio": port}, timeout=3)
        started = time.monotonic()
        [report] = probe_sites([site])
    audio = result_for(report.results, "audio")
    assert audio.status is Status.OPEN_FILTERED
    assert audio.seconds is None
    # silence need not wait for the whole deadline
    assert time.monotonic() - started < probes.UDP_LISTEN + 0.5


def test_a_name_that_cannot_resolve_is_unresolved_on_every_port() -> None:
    # A 64-character label is refused before any query leaves the machine.
    site = Site("t", ("a" * 64 + ".invalid",), timeout=2)
    [report] = probe_sites([site])
    assert report.results
    assert {r.status for r in report.results} == {Status.UNRESOLVED}
    assert all("does not resolve" in r.detail for r in report.results)
    assert all(r.address is None for r in report.results)


def test_localhost_is_resolved_by_name(listener: int) -> None:
    [report] = probe_sites([Site("t", ("localhost",), ports={"video": listener}, timeout=2)],
                           family=socket.AF_INET)
    video = result_for(report.results, "video")
    assert video.status is Status.OPEN
    assert video.address == LOOPBACK and video.host == "localhost"


def test_ipv6_loopback_is_probed(free_port: int) -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    try:
        server = socket.socket(socket.AF_INET6)
        server.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server:
        server.listen(4)
        port = server.getsockname()[1]
        [report] = probe_sites([Site("t", ("::1",), ports={"video": port}, timeout=2)])
    video = result_for(report.results, "video")
    assert video.status is Status.OPEN and video.address == "::1"


def test_a_socket_budget_smaller_than_the_probes_still_probes_everything(listener: int) -> None:
    sites = [Site(f"s{i}", (LOOPBACK,), ports={"video": listener, "diagnostics": listener}, timeout=3)
             for i in range(20)]
    scheduler_peaks = []
    original = scheduler.Scheduler.close

    def record(self: scheduler.Scheduler) -> None:
        scheduler_peaks.append(self.peak_sockets)
        original(self)

    scheduler.Scheduler.close = record  # type: ignore[method-assign]
    try:
        reports = probe_sites(sites, max_sockets=3)
    finally:
        scheduler.Scheduler.close = original  # type: ignore[method-assign]
    assert scheduler_peaks == [3]
    for report in reports:
        video = result_for(report.results, "video")
        assert video.status is Status.OPEN
        assert result_for(report.results, "diagnostics").status is Status.OPEN
        # time spent waiting for a socket is not response time
        assert video.seconds is not None and video.seconds < 0.1


class _BuggyProbePlugin:
    from check_digitalsentry.hookspecs import hookimpl

    @hookimpl
    def digitalsentry_probe(self, spec: object, site: object) -> object:
        if getattr(spec, "role", None) != "video":
            return None

        def probe(ctx: ProbeContext) -> api.ProbeGen:
            raise RuntimeError("plugin bug")
            yield  # pragma: no cover

        return probe


def test_a_crashing_probe_is_one_unknown_result_not_a_crash(listener: int) -> None:
    pm = make_plugin_manager(autoload=False)
    pm.register(_BuggyProbePlugin())
    site = only_tcp_site(listener, timeout=2, ports={"diagnostics": listener})
    [report] = probe_sites([site], hooks=PluggyHooks(pm))
    video = result_for(report.results, "video")
    assert video.status is Status.UNKNOWN
    assert video.facts.internal_error is True
    assert "plugin bug" in video.detail
    assert result_for(report.results, "diagnostics").status is Status.OPEN


def test_a_probe_that_ignores_the_deadline_is_cut_off(listener: int) -> None:
    class Stubborn:
        from check_digitalsentry.hookspecs import hookimpl

        @hookimpl
        def digitalsentry_probe(self, spec: object, site: object) -> object:
            if getattr(spec, "role", None) != "video":
                return None

            def probe(ctx: ProbeContext) -> api.ProbeGen:
                sock = yield from api.open_socket(ctx.family, socket.SOCK_DGRAM)
                sock.bind((LOOPBACK, 0))
                while True:  # never takes no for an answer
                    yield from api.wait(sock, api.READ)
                return Outcome(Status.OPEN, "unreachable")  # pragma: no cover

            return probe

    pm = make_plugin_manager(autoload=False)
    pm.register(Stubborn())
    started = time.monotonic()
    [report] = probe_sites([only_tcp_site(listener, timeout=0.4)], hooks=PluggyHooks(pm))
    assert time.monotonic() - started < 0.4 + 0.25
    video = result_for(report.results, "video")
    assert video.status is Status.FILTERED


def test_the_pluggy_path_and_the_builtin_fast_path_agree(listener: int, free_port: int) -> None:
    def run(hooks: BuiltinHooks) -> list[tuple[str, object, str, Status]]:
        site = Site("t", (LOOPBACK,), audio_clients=1, api=True, sql_port=free_port,
                    ports={"video": listener, "diagnostics": free_port, "sql-browser": free_port,
                           "audio": free_port, "api-system": listener, "api-playback": free_port,
                           "api-camera": listener},
                    forbid=((free_port, "tcp"), (listener, "tcp")), timeout=2)
        [report] = probe_sites([site], hooks=hooks)
        return [(r.role, r.port, r.transport, r.status) for r in report.results]

    assert run(BuiltinHooks()) == run(PluggyHooks(make_plugin_manager(autoload=False)))


def test_a_probe_the_kernel_connects_to_itself_is_closed_not_open(
    free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On loopback the kernel can pick the destination port as the probe's own source port: TCP then
    # completes a simultaneous open with itself and UDP hears its own datagram. Force that case.
    original = scheduler.Scheduler._new_socket

    def same_source_port(self: scheduler.Scheduler, task: scheduler._Task, request: api.Open) -> object:
        sock = original(self, task, request)
        if isinstance(sock, socket.socket) and task.ctx.spec.role in ("video", "audio"):
            sock.bind((LOOPBACK, free_port))
        return sock

    monkeypatch.setattr(scheduler.Scheduler, "_new_socket", same_source_port)
    site = Site("t", (LOOPBACK,), ports={"video": free_port, "audio": free_port}, audio_clients=1, timeout=2)
    [report] = probe_sites([site])
    for role in ("video", "audio"):
        result = result_for(report.results, role)
        assert result.status is Status.CLOSED, result
        assert "the probe was connected to itself" in result.detail
