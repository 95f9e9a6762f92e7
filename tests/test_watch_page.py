"""The live view on the technician's phone (``check_digitalsentry --watch --serve``), for real: the check as a
subprocess watching a simulated site, its page in headless Chromium at a phone's viewport (390x844) driven
over the DevTools protocol (tests/cdp.py). The video port's fault is lifted while the page is open: its
row turns green without a reload; every request stays on the page's origin; without the token everything
is 404; page loads never probe; the address is gone when the watch ends."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cdp import chromium
from conftest import need_program, script
from reports import png_pixels
from support import check_args

from check_digitalsentry.simulator import SimSite, Simulator

URL = re.compile(r"live view \(read-only\) is at (http://127\.0\.0\.1:(\d+)/([A-Za-z0-9_-]+)/)")
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
GREEN, RED = (0xE3, 0xF4, 0xE8), (0xFD, 0xE7, 0xE5)  #: the page's OK and CRITICAL chip backgrounds


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


@pytest.fixture(params=[0.0])
def watching(request: pytest.FixtureRequest) -> Iterator[tuple[Watching, Simulator]]:
    """``--watch --serve 127.0.0.1:0`` over a simulated site whose video port is off (its replies delayed by
    the parameter's seconds, and -t as much longer)."""
    sim = Simulator([SimSite(faults={"video": "off"}, audio_clients=0, latency=request.param)], record=True).start()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}  # as cron or a shell starts it
    proc = subprocess.Popen([script("check_digitalsentry"), *check_args(sim), "--watch", "--interval", "1",
                             "-t", f"{5 + request.param:g}", "--watch-for", "180", "--serve", "127.0.0.1:0"],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = URL.search(line)
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


def test_the_page_turns_the_row_green_without_a_reload(watching: tuple[Watching, Simulator], tmp_path: Path) -> None:
    live, sim = watching
    program = need_program("chromium", "the live view's page is proven in a real browser")
    with chromium(program, tmp_path / "profile") as page:
        page.call("Emulation.setDeviceMetricsOverride", PHONE)
        page.call("Network.enable")
        page.call("Page.enable")
        page.call("Page.navigate", {"url": live.url})
        video = "document.querySelector('li[data-role=\"video\"]')"
        page.until(f"{video} && {video}.getAttribute('data-state') === 'critical'", "the video row CRITICAL")
        page.evaluate("window.loadedOnce = 'yes'")  # a reload would lose it
        chip = f"getComputedStyle({video}.querySelector('.chip')).backgroundColor"
        assert page.evaluate(chip) == f"rgb{RED}"
        assert page.evaluate(f"{video}.textContent").startswith("video ")
        assert "nothing listens on TCP" in page.evaluate(f"{video}.querySelector('.fix').textContent")
        red = page.screenshot(tmp_path / "critical.png")

        sim.set_fault("video", None)  # the technician fixes the forward
        page.until(f"{video}.getAttribute('data-state') === 'ok'", "the video row turning OK", timeout=30)
        assert page.evaluate("window.loadedOnce") == "yes", "the page was reloaded"
        assert page.evaluate(chip) == f"rgb{GREEN}"
        page.until("document.getElementById('changes').textContent.includes('closed -> open (OK)')",
                   "the change in the page's change log")
        assert page.evaluate("document.getElementById('verdict').textContent").startswith("OK: all 8 ports")
        green = page.screenshot(tmp_path / "ok.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "wider than the phone"

        requests = page.requests()
        origin = f"http://127.0.0.1:{live.port}/"
        assert requests and all(url.startswith(origin) for url in requests), requests
        assert requests[0] == live.url and requests.count(live.url) == 1  # one page load ...
        assert sum(1 for url in requests if url == live.url + "state.json") >= 3  # ... and its polls
        assert page.navigations() == [live.url]
    for shot, colour in ((red, RED), (green, GREEN)):
        width, height, rows = png_pixels(shot)
        assert (width, height) == (780, 1688)  # 390x844 at twice the pixels
        pixels = {row[i:i + 3] for row in rows[::2] for i in range(0, len(row), 6)}
        assert bytes(colour) in pixels, f"{shot.name}: no chip of the verdict's colour"


@pytest.mark.parametrize("watching", [10.0], indirect=True)
def test_a_page_opened_before_the_first_round_ends_waits_for_it(watching: tuple[Watching, Simulator],
                                                                tmp_path: Path) -> None:
    live, _ = watching
    program = need_program("chromium", "the live view's page is proven in a real browser")
    with chromium(program, tmp_path / "profile") as page:
        page.call("Emulation.setDeviceMetricsOverride", PHONE)
        page.call("Page.navigate", {"url": live.url})
        page.until("document.getElementById('meta').textContent === 'the first round is under way'",
                   "that the first round is under way", timeout=20)
        assert live.state()["round"] == 0  # every reply comes after 10 s: the first round is not over
        assert page.evaluate("document.getElementById('verdict').textContent") == "waiting for the first round..."
        page.until("document.querySelectorAll('li[data-role]').length === 8", "the rows of the first round",
                   timeout=60)
        assert page.evaluate("document.getElementById('verdict').textContent").startswith("CRITICAL: ")


def test_without_the_token_everything_is_404(watching: tuple[Watching, Simulator]) -> None:
    live, _ = watching
    token = live.token
    status, headers, body = live.get(f"/{token}/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'sha256-" in headers["content-security-policy"] and "connect-src 'self'" in \
        headers["content-security-policy"]
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert b"<script>" in body and b"://" not in body  # nothing loaded from anywhere
    for path in ("/", f"/{token}", f"/{token}/x", f"/{token}/state.json/", f"/{token[:-1]}/",
                 f"/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}/", f"/{token}x/",
                 f"/{token.upper() if token.upper() != token else token.lower()}/", "/state.json",
                 f"/../{token}/", "/favicon.ico"):
        status, _, body = live.get(path)
        assert (status, body) == (404, b"not found\n"), path
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "BREW"):
        status, _, _ = live.get(f"/{token}/", method)
        assert status == 404, method
    with __import__("socket").create_connection(("127.0.0.1", live.port), timeout=10) as raw:
        raw.sendall(b"garbage\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.0 404 ")


def test_page_loads_never_probe_and_the_server_is_gone_when_the_watch_ends(
        watching: tuple[Watching, Simulator]) -> None:
    live, sim = watching
    deadline = time.monotonic() + 30
    while not live.state().get("round"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for _ in range(60):  # a busy phone, and nine more
        assert live.get(f"/{live.token}/")[0] == 200
        assert live.get(f"/{live.token}/state.json")[0] == 200
    rounds = int(live.state()["round"])  # type: ignore[call-overload]
    assert sim.arrivals is not None
    arrivals = list(sim.arrivals)
    web = sim.sites[0].ports["web"]
    assert 1 <= sum(1 for _, _, port in arrivals if port == web) <= rounds + 1  # one a round (+ one under way)
    live.proc.send_signal(signal.SIGINT)
    out, _ = live.proc.communicate(timeout=20)
    assert live.proc.returncode == 2, out  # the last verdict: video still closed
    with pytest.raises(ConnectionRefusedError):
        live.get(f"/{live.token}/")
