"""Prometheus' blackbox_exporter for the benchmark's blackbox row (7): the exporter as a process, and a
driver that asks it as Prometheus does -- ``GET /probe?module=M&target=HOST:PORT`` with the scrape-timeout
header, many requests in flight on keep-alive connections -- and reads its CPU and memory from ``/proc``.

Nothing here installs anything: Debian's package (``apt-get install prometheus-blackbox-exporter``) puts
the exporter at ``/usr/bin/prometheus-blackbox-exporter``. The driver is one thread over non-blocking
sockets (a selector), so that it takes as little as possible of the cores the exporter and the simulated
sites share; its own CPU is reported beside the exporter's.
"""

from __future__ import annotations

import os
import resource
import selectors
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

EXPORTER = Path("/usr/bin/prometheus-blackbox-exporter")
#: The modules the row asks for: a TCP connect (SQL, video, diagnostics) and a TLS handshake (web), each
#: within the 10 s a Prometheus scrape has by default (and a check's default budget).
CONFIG = """\
modules:
  tcp_connect:
    prober: tcp
    timeout: 10s
  tls_connect:
    prober: tcp
    timeout: 10s
    tcp:
      tls: true
      tls_config:
        insecure_skip_verify: true
"""
SCRAPE_TIMEOUT = 10  #: the X-Prometheus-Scrape-Timeout-Seconds Prometheus sends (its default scrape_timeout)
TICK = os.sysconf("SC_CLK_TCK")


class ExporterError(Exception):
    """The exporter did not start, or did not answer as it should."""


class Exporter:
    """``prometheus-blackbox-exporter`` on ``127.0.0.1:port`` with ``CONFIG``, in its own process group."""

    def __init__(self, workdir: Path, port: int, env: dict[str, str]) -> None:
        self.config = workdir / "blackbox.yml"
        self.config.write_text(CONFIG)
        self.port = port
        self.env = env
        self.log = workdir / "blackbox.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Exporter:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(EXPORTER), f"--config.file={self.config}", f"--web.listen-address=127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                start_new_session=True)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise ExporterError(f"the exporter exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise ExporterError(f"the exporter does not listen on 127.0.0.1:{self.port} after 30 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        """User + system seconds of the exporter so far (its threads included), from /proc/PID/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15 of stat(5)

    def reset_peak(self) -> None:
        """Start a new peak RSS (VmHWM) from now: clear_refs(5)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))


class Batch:
    """One batch of probes through the exporter: what it answered per target, and what it cost."""

    def __init__(self) -> None:
        self.success: dict[tuple[str, str], bool] = {}  #: (module, target) -> probe_success
        self.wall = 0.0
        self.cpu = 0.0  #: the exporter's
        self.driver_cpu = 0.0  #: this process's (the driver, in place of Prometheus)
        self.rss_kb = 0


def probe_all(exporter: Exporter, targets: list[tuple[str, str]], concurrency: int) -> Batch:
    """Ask the exporter for every (module, target), at most ``concurrency`` requests in flight on as many
    keep-alive connections (Prometheus keeps one per target: concurrency is what a scrape interval
    spreads), and wait for every answer. The exporter's CPU and peak RSS over the batch are measured."""
    batch = Batch()
    todo = list(reversed(targets))
    selector = selectors.DefaultSelector()
    exporter.reset_peak()
    cpu0, self0 = exporter.cpu(), _self_cpu()
    started = time.perf_counter()
    for _ in range(min(concurrency, len(targets))):
        conn = _Conn(("127.0.0.1", exporter.port))
        _send_next(conn, todo, selector)
    while selector.get_map():
        for key, _events in selector.select(SCRAPE_TIMEOUT * 3):
            conn = key.data
            done = conn.receive()
            if done is None:
                continue
            batch.success[conn.asked] = done
            selector.unregister(conn.sock)
            if todo:
                _send_next(conn, todo, selector)
            else:
                conn.sock.close()
    batch.wall = time.perf_counter() - started
    batch.cpu = exporter.cpu() - cpu0
    batch.driver_cpu = _self_cpu() - self0
    batch.rss_kb = exporter.peak_rss_kb()
    selector.close()
    if len(batch.success) != len(targets):
        raise ExporterError(f"{len(targets) - len(batch.success)} of {len(targets)} probes got no answer")
    return batch


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _send_next(conn: _Conn, todo: list[tuple[str, str]], selector: selectors.BaseSelector) -> None:
    conn.ask(todo.pop())
    selector.register(conn.sock, selectors.EVENT_READ, conn)


class _Conn:
    """One keep-alive HTTP/1.1 connection to the exporter: a request at a time."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.asked: tuple[str, str] = ("", "")
        self.buffer = b""

    def ask(self, asked: tuple[str, str]) -> None:
        module, target = asked
        self.asked, self.buffer = asked, b""
        self.sock.setblocking(True)
        self.sock.sendall(f"GET /probe?module={module}&target={quote(target)} HTTP/1.1\r\nHost: blackbox\r\n"
                          f"X-Prometheus-Scrape-Timeout-Seconds: {SCRAPE_TIMEOUT}\r\n\r\n".encode())
        self.sock.setblocking(False)

    def receive(self) -> bool | None:
        """probe_success of the answer once it is complete, else None (read more)."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ExporterError(f"the exporter closed the connection while probing {self.asked}")
        self.buffer += chunk
        head, sep, body = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.decode("latin-1").split("\r\n")
        if lines[0].split()[1:2] != ["200"]:
            raise ExporterError(f"the exporter answered {lines[0]!r} for {self.asked}")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if "content-length" in fields:
            if len(body) < int(fields["content-length"]):
                return None
        elif not body.endswith(b"0\r\n\r\n"):  # chunked: until the last chunk
            return None
        for line in body.decode("utf-8", "replace").splitlines():
            if line.startswith("probe_success "):
                return float(line.split()[1]) == 1.0
        raise ExporterError(f"no probe_success in the exporter's answer for {self.asked}")
