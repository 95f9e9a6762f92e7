"""A private nginx as a TLS reverse proxy on loopback (test support): what stands in front of an Icinga 2 API
in many places. Its own configuration, logs and temporary directories under a temporary directory, run in
the foreground by the invoking user; its access log says how many requests reached it and how each was
answered (one line per request: ``METHOD URI STATUS``)."""

from __future__ import annotations

import contextlib
import getpass
import socket
from collections.abc import Iterator
from pathlib import Path

from conftest import need_program
from icinga_api import free_port
from support import running


class Nginx:
    """nginx listening with TLS on 127.0.0.1 (``url``), passing ``PREFIX/...`` on to an HTTPS upstream."""

    def __init__(self, root: Path, cert: Path, key: Path) -> None:
        self.binary = need_program("nginx", "--submit icinga2 through a real TLS reverse proxy")
        self.root = root
        for sub in ("logs", "temp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.cert, self.key = cert, key
        self.port = free_port()
        self.access_log = root / "logs" / "access.log"

    def config(self, upstream: str, ca: Path, prefix: str, server: str) -> str:
        """nginx.conf: ``server`` is the server block's own directives (how it answers: keep-alive or not)."""
        temp = self.root / "temp"
        return (f"user {getpass.getuser()};\ndaemon off;\nworker_processes 1;\npid {self.root}/nginx.pid;\n"
                f"error_log {self.root}/logs/error.log info;\nevents {{ worker_connections 64; }}\n"
                "http {\n"
                "  log_format requests '$request_method $request_uri $status';\n"
                f"  access_log {self.access_log} requests;\n"
                + "".join(f"  {kind}_temp_path {temp}/{kind};\n"
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
                + f"  server {{\n    listen 127.0.0.1:{self.port} ssl;\n"
                f"    ssl_certificate {self.cert};\n    ssl_certificate_key {self.key};\n"
                f"    {server}\n"
                f"    location {prefix}/ {{\n      proxy_pass {upstream}/;\n"
                f"      proxy_ssl_trusted_certificate {ca};\n      proxy_buffering off;\n      proxy_ssl_verify on;\n"
                "      proxy_ssl_name localhost;\n    }\n  }\n}\n")

    @contextlib.contextmanager
    def proxy(self, upstream: str, ca: Path, *, prefix: str = "/icinga",
              server: str = "keepalive_timeout 0;") -> Iterator[str]:
        """Run nginx in front of ``upstream`` (verified against ``ca``) for the length of the block; yields
        the proxy's URL (``https://127.0.0.1:PORT/icinga``). The default ``keepalive_timeout 0`` makes it
        answer every request with ``Connection: close``, as many proxies do."""
        conf = self.root / "nginx.conf"
        conf.write_text(self.config(upstream, ca, prefix, server))
        with running([self.binary, "-p", str(self.root), "-e", str(self.root / "logs" / "error.log"), "-c",
                      str(conf)], self.root / "logs" / "stdout.log", self.root / "logs" / "error.log") as daemon:
            daemon.until(self.listening, f"nginx listening on 127.0.0.1:{self.port}", timeout=30)
            yield f"https://127.0.0.1:{self.port}{prefix}"

    def listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def requests(self) -> list[str]:
        """The access log's lines so far (``POST /icinga/v1/actions/process-check-result 200``)."""
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

