"""Small TLS servers on loopback that answer ``POST /v1/actions/process-check-result`` the ways servers do
and Icinga 2.13 does not (test support): raw bytes of a test's making (``raw_server``), Python's own
http.server over TLS (``http_server``: HTTP/1.0, or ``Connection: close``, the body in a TLS record of its
own), and a server that closes each connection right after its answer, unasked (``closing_server``). Each
records the requests it read, so that a test can count what was sent and what it carried."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from check_digitalsentry.model import State
from check_digitalsentry.passive import PassiveResult

Reply = Callable[[ssl.SSLSocket], None]
ACCEPTED = b'{"results":[{"code":200.0,"status":"Successfully processed check result for object."}]}'


def result(output: str, perfdata: list[str] | None = None, service: str = "digitalsentry") -> PassiveResult:
    return PassiveResult(host="ds01", service=service, state=State.CRITICAL, output=output,
                         perfdata=perfdata or [], started=0.0, ended=1.0, site="ds01")


def sent(status: bytes, body: bytes, headers: bytes = b"") -> Reply:
    """An answer of one write: ``HTTP/1.1 STATUS``, Content-Length, ``headers``, ``body``."""
    def reply(conn: ssl.SSLSocket) -> None:
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n" + headers + b"\r\n" + body)
    return reply


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def read_request(read: Callable[[], bytes]) -> bytes | None:
    """One HTTP request (head and body, by its Content-Length) from ``read``; None at the end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = read()
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = read()
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


class Server:
    """A TLS server on ``listener``, a thread per connection (``handle``), recording the requests it read
    and counting the connections it accepted."""

    def __init__(self, context: ssl.SSLContext, listener: socket.socket) -> None:
        self.context = context
        self.listener = listener
        self.requests: list[bytes] = []
        self.connections = 0

    def handle(self, raw: socket.socket) -> None:
        raise NotImplementedError

    def serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(raw,), daemon=True).start()


class RawApi(Server):
    """``api(reply)`` -> the URL of a TLS server on 127.0.0.1 that reads each request (``requests``) and
    answers it with ``reply(connection)``: raw bytes, as no Icinga ever sends them."""

    def __init__(self, context: ssl.SSLContext, listener: socket.socket) -> None:
        super().__init__(context, listener)
        self.replies: list[Reply] = []

    def handle(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError), self.context.wrap_socket(raw, server_side=True) as conn:
            while True:
                request = read_request(lambda: conn.recv(65536))
                if request is None:
                    return
                self.requests.append(request)
                self.replies[0](conn)

    def __call__(self, reply: Reply) -> str:
        self.replies.append(reply)
        threading.Thread(target=self.serve, daemon=True).start()
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}"


@contextlib.contextmanager
def raw_server(cert: Path, key: Path) -> Iterator[RawApi]:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield RawApi(server_context(cert, key), listener)
    finally:
        listener.close()


class Answers(http.server.BaseHTTPRequestHandler):
    """Python's http.server answering as a test scripts it (``script``: status and JSON document, then
    "accepted" for good), recording each request's Authorization header and body (``seen``). The head is
    one write, the body another: a TLS record of its own, as nginx, Apache and http.server send it when
    they pass an answer on as it comes. ``protocol_version`` HTTP/1.0 closes the connection after each
    answer; with ``close`` HTTP/1.1 says ``Connection: close``; ``length`` False sends no Content-Length
    (the body ends where the connection does)."""

    protocol_version = "HTTP/1.1"
    close = False
    length = True
    script: ClassVar[list[tuple[int, Mapping[str, object]]]] = []
    seen: ClassVar[list[tuple[str, dict[str, object]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers.get("Authorization", ""), body))
        status, doc = type(self).script.pop(0) if type(self).script else (200, {"results": [
            {"code": 200, "status": "Successfully processed check result."}]})
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if self.length:
            self.send_header("Content-Length", str(len(data)))
        if self.close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server(cert: Path, key: Path, handler: type[Answers] = Answers) -> Iterator[str]:
    """``handler`` served over TLS on 127.0.0.1, a thread per connection: yields the URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = server_context(cert, key).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.seen = []
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ClosingApi(Server):
    """A TLS server that answers one request per connection and closes it right away, unasked (no
    ``Connection: close``), as a server does whose keep-alive time ran out: the answer, TLS close_notify
    and TCP FIN in one write, so that the close is there before the client can ask anything more."""

    def handle(self, raw: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)

        def receive() -> bytes:
            raw.sendall(outgoing.read())
            chunk = raw.recv(65536)
            if not chunk:
                raise EOFError
            incoming.write(chunk)
            return b""

        def read() -> bytes:
            while True:
                try:
                    return tls.read(65536)
                except ssl.SSLWantReadError:
                    receive()

        with raw, contextlib.suppress(OSError, EOFError, ssl.SSLError):
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    receive()
            raw.sendall(outgoing.read())
            request = read_request(read)
            if request is None:
                return
            self.requests.append(request)
            tls.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(ACCEPTED)).encode() + b"\r\n\r\n" + ACCEPTED)
            with contextlib.suppress(ssl.SSLWantReadError):
                tls.unwrap()  # close_notify; the client's own is not waited for
            raw.sendall(outgoing.read())  # the answer and close_notify, in one write
            raw.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def closing_server(cert: Path, key: Path) -> Iterator[tuple[str, ClosingApi]]:
    listener = socket.create_server(("127.0.0.1", 0))
    api = ClosingApi(server_context(cert, key), listener)
    threading.Thread(target=api.serve, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}", api
    finally:
        listener.close()
