"""Headless Chromium driven over its DevTools protocol, with nothing but the standard library: a minimal
WebSocket client (RFC 6455: the handshake, masked text frames out, frames in, ping/pong) and a
``Browser`` that opens one page target, sends commands to it and keeps every event it gets (network
requests, navigations). What the live view's page tests need, nothing more."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reports import CHROMIUM


class WebSocket:
    """A client WebSocket over a plain TCP connection (DevTools listens on loopback, without TLS)."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"DevTools closed the connection during the handshake: {head!r}")
            head += chunk
        head, self.buffer = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"DevTools refused the WebSocket: {head!r}")

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send(self, text: str, opcode: int = 1) -> None:
        payload = text.encode("utf-8")
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def receive(self) -> str:
        """The next text message (continuation frames joined; pings answered)."""
        parts: list[bytes] = []
        while True:
            first, second = self._read(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            data = self._read(size)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = first & 0x0F
            if opcode == 9:
                self.send(data.decode("utf-8", "replace"), opcode=10)
                continue
            if opcode == 8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0, 1, 2):
                parts.append(data)
                if first & 0x80:
                    return b"".join(parts).decode("utf-8")

    def close(self) -> None:
        self.sock.close()


class Browser:
    """One headless Chromium and one page in it (flat sessions over the browser's WebSocket)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 page=False)["sessionId"]

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True,
             timeout: float = 30.0) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        self.ws.sock.settimeout(timeout)
        while True:
            answer = json.loads(self.ws.receive())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def until(self, expression: str, what: str, timeout: float = 30.0) -> Any:
        """Evaluate ``expression`` until it is true (an exception counts as not yet: the page may still be
        loading); its value. AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return false; }} }})()")
            if value:
                return value
            assert time.monotonic() < deadline, f"the page did not show {what} within {timeout:g} s"
            time.sleep(0.2)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def requests(self) -> list[str]:
        """The URL of every request the page made (Network.requestWillBeSent)."""
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def navigations(self) -> list[str]:
        """The URL of every navigation of the page's main frame (a reload is one more)."""
        return [e["params"]["frame"]["url"] for e in self.events
                if e["method"] == "Page.frameNavigated" and not e["params"]["frame"].get("parentId")]


@contextmanager
def chromium(program: str, profile: Path) -> Iterator[Browser]:
    """Headless Chromium with DevTools on a loopback port of its choosing, and a page in it."""
    profile.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([program, *CHROMIUM, "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                             f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    ws = None
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and len(active.read_text().split()) >= 2):
            assert proc.poll() is None, f"chromium exited ({proc.returncode}) before DevTools was up"
            assert time.monotonic() < deadline, "chromium's DevTools did not come up within 60 s"
            time.sleep(0.1)
        port, path = active.read_text().split()[:2]
        ws = WebSocket("127.0.0.1", int(port), path)
        yield Browser(ws)
    finally:
        if ws is not None:
            ws.close()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
