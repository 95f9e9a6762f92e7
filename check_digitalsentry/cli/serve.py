"""The live view's web server (check frontend): ``check_digitalsentry --watch --serve [HOST:]PORT``.
Imported only with ``--serve``: a watch without it, and every check, pay nothing for it.

One page and its data, read-only, behind a token: ``http://HOST:PORT/TOKEN/`` is the page
(``render.watchpage``), ``http://HOST:PORT/TOKEN/state.json`` the last round's snapshot. The token is 32
random URL-safe characters (``secrets``: 192 bits), compared in constant time (``hmac.compare_digest``).
Anything else -- another path, another method, a malformed request, a wrong token -- is the same small
404. A request reads what the watch last published: it never probes (the probes run only in the watch's
rounds, so a page open on ten phones costs the site nothing more).

HTTP only, on loopback unless an address is given: a phone reaches it through a TLS reverse proxy or an
ssh tunnel (docs/handover.md). Responses say ``no-store``, ``no-referrer``, ``nosniff``, no framing, and
the page's Content-Security-Policy. The server runs in daemon threads (``ThreadingHTTPServer``) and is
closed when the watch ends: the address then refuses connections.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: Seconds a client may take to send its request (a slow one holds a thread no longer).
REQUEST_TIMEOUT = 10.0
SECURITY_HEADERS = (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                    ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"))
NOT_FOUND = b"not found\n"


class ServeError(Exception):
    """The address cannot be served (in use, not this machine's, not allowed): one line saying why."""


class _Handler(BaseHTTPRequestHandler):
    server_version = "check_digitalsentry"
    sys_version = ""
    timeout = REQUEST_TIMEOUT
    server: _Server

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # any other method: the same 404
            return self._not_found
        raise AttributeError(name)

    def _answer(self, send_body: bool) -> None:
        live = self.server.live
        parts = self.path.split("?", 1)[0].split("/")
        if len(parts) != 3 or parts[0] or parts[2] not in ("", "state.json") \
                or not hmac.compare_digest(parts[1].encode("utf-8", "replace"), live.token.encode("ascii")):
            self._not_found(send_body)
            return
        if parts[2]:
            body, kind, policy = live.snapshot, "application/json", "default-src 'none'"
        else:
            body, kind, policy = live.page, "text/html; charset=utf-8", live.csp
        self._send(200, body, kind, policy, send_body)

    def _not_found(self, send_body: bool = True) -> None:
        self._send(404, NOT_FOUND, "text/plain; charset=utf-8", "default-src 'none'", send_body)

    def _send(self, code: int, body: bytes, kind: str, policy: str, send_body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", policy)
        for name, value in SECURITY_HEADERS:
            self.send_header(name, value)
        self.end_headers()
        if send_body and self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every request http.server itself refuses (malformed, too long, unsupported) is the same 404."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the request line did not parse: answer as HTTP/1.0
            self.request_version = "HTTP/1.0"
        self._not_found()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the terminal is the live view's."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    live: LiveServer


class LiveServer:
    """The page and the last snapshot, served from daemon threads until ``close()``."""

    def __init__(self, host: str, port: int, page: str, csp: str) -> None:
        self.token = secrets.token_urlsafe(24)
        self.page = page.encode("utf-8")
        self.csp = csp
        self.snapshot = b"{}"
        try:
            family, _, _, _, sockaddr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        except (OSError, UnicodeError) as exc:
            raise ServeError(f"--serve {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
        server_class = type("_Server", (_Server,), {"address_family": family})
        try:
            self.httpd: _Server = server_class(sockaddr[:2], _Handler)
        except OSError as exc:
            raise ServeError(f"--serve {host}:{port}: cannot listen there ({exc.strerror or exc})") from None
        self.httpd.live = self
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="check_digitalsentry --serve", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The page's address, with the token: on a wildcard address, by this machine's name."""
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname() or host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/{self.token}/"

    def publish(self, snapshot: bytes) -> None:
        """What a request reads from now on (one reference swap: a request reads a whole snapshot)."""
        self.snapshot = snapshot

    def close(self) -> None:
        """Stop serving and close the listening socket (waits for the serving loop, not for clients)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
