"""A private Icinga 2 with its REST API on loopback (test support): its own CA and certificates made with
openssl, an ApiListener on 127.0.0.1 at a free port, the contrib ApiUsers and passive template, and a
small client of its own (http.client) to read the results back -- independent of the code under test."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import REPO, need_program
from icinga import Icinga

CONTRIB = REPO / "contrib" / "icinga2"
PASSIVE = CONTRIB / "digitalsentry-passive.conf"
COMMAND = CONTRIB / "digitalsentry-command.conf"
SERVICES = CONTRIB / "digitalsentry-services.conf"  # the Host template of generated objects
API_USER = CONTRIB / "digitalsentry-api-user.conf"
NODE = "icinga-e2e.invalid"  #: NodeName, the CN of the node's certificate
SUBMITTER_CN = "digitalsentry-submitter"  #: client_cn of the contrib ApiUser "check_digitalsentry-cert"
CONTRIB_PASSWORD = "CHANGE-ME"  #: the contrib ApiUser's placeholder password
READER, READER_PASSWORD = "e2e-reader", "reader-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Pki:
    """A CA, the Icinga node's certificate (CN NODE, SAN 127.0.0.1 and localhost), a client certificate
    (CN SUBMITTER_CN) and another CA that signed nothing of these (for the verification failure)."""

    def __init__(self, root: Path) -> None:
        self.openssl = need_program("openssl", "the private Icinga 2's CA and certificates")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.ca, self.ca_key = self._ca("ca", "e2e Icinga CA")
        self.other_ca, _ = self._ca("other-ca", "some other CA")
        self.node, self.node_key = self._cert(NODE, f"subjectAltName=DNS:{NODE},DNS:localhost,IP:127.0.0.1")
        self.client, self.client_key = self._cert(SUBMITTER_CN, "extendedKeyUsage=clientAuth")

    def _run(self, *args: str) -> None:
        subprocess.run([self.openssl, *args], check=True, capture_output=True, cwd=self.root, timeout=60)

    def _ca(self, name: str, cn: str) -> tuple[Path, Path]:
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                  "-keyout", f"{name}.key", "-out", f"{name}.crt", "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return self.root / f"{name}.crt", self.root / f"{name}.key"

    def _cert(self, cn: str, extension: str) -> tuple[Path, Path]:
        self._run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{cn}.key",
                  "-out", f"{cn}.csr")
        (self.root / f"{cn}.ext").write_text(extension + "\n")
        self._run("x509", "-req", "-in", f"{cn}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                  "-days", "2", "-out", f"{cn}.crt", "-extfile", f"{cn}.ext")
        return self.root / f"{cn}.crt", self.root / f"{cn}.key"


class Client:
    """The test's own client of the Icinga API (by default user READER: every permission).

    ``check_hostname=False`` for a node whose certificate Icinga made (``icinga2 node setup``): it names
    the node (its CN), never 127.0.0.1; the chain is still verified against ``ca``."""

    def __init__(self, port: int, ca: Path, user: str = READER, password: str = READER_PASSWORD,
                 check_hostname: bool = True) -> None:
        self.port = port
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.check_hostname = check_hostname
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Accept": "application/json", "Authorization": f"Basic {token}"}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float = 10) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.context)
        try:
            headers = dict(self.headers)
            if method == "GET" and body is not None:  # Icinga's way to send a query body
                headers["X-HTTP-Method-Override"] = "GET"
                method = "POST"
            conn.request(method, path, json.dumps(body).encode() if body is not None else None, headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()

    def ready(self) -> bool:
        try:
            return self.call("GET", "/v1/status/IcingaApplication", timeout=2)[0] == 200
        except OSError:
            return False

    def services(self, *more: str) -> dict[str, dict[str, Any]]:
        """``HOST!SERVICE`` -> the service's attributes (state, last_check_result, next_check..., and the
        attributes named in ``more``)."""
        status, doc = self.call("GET", "/v1/objects/services", {
            "attrs": ["__name", "state", "last_check_result", "next_check", "last_check", "check_interval", *more]})
        assert status == 200, doc
        return {item["attrs"]["__name"]: item["attrs"] for item in doc["results"]}

    def host_result(self, host: str, exit_status: int) -> dict[str, Any]:
        status, doc = self.call("POST", "/v1/actions/process-check-result", {
            "type": "Host", "host": host, "exit_status": exit_status, "plugin_output": "set by the test"})
        assert status == 200, doc
        return doc


class IcingaApi(Icinga):
    """A private Icinga 2 (tests/icinga.py) whose ApiListener listens on 127.0.0.1:``port``."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pki = Pki(root / "pki")
        certs = self.var / "data" / "certs"  # where Icinga 2.13 looks: DataDir/certs/NodeName.crt, ca.crt
        certs.mkdir(parents=True, exist_ok=True)
        for source, name in ((self.pki.node, f"{NODE}.crt"), (self.pki.node_key, f"{NODE}.key"),
                             (self.pki.ca, "ca.crt")):
            (certs / name).write_bytes(source.read_bytes())
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.client = Client(self.port, self.pki.ca)

    def configure(self, objects: str, extra: str = "") -> None:
        self.conf.write_text(
            self.header(NODE, NODE)
            + f'object Endpoint NodeName {{ }}\nobject Zone ZoneName {{ endpoints = [ NodeName ] }}\n'
            f'object ApiListener "api" {{\n  bind_host = "127.0.0.1"\n  bind_port = {self.port}\n}}\n'
            'object CheckerComponent "checker" { }\n'
            f'include "{COMMAND}"\ninclude "{SERVICES}"\ninclude "{PASSIVE}"\ninclude "{API_USER}"\n'
            f'object ApiUser "{READER}" {{\n  password = "{READER_PASSWORD}"\n  permissions = [ "*" ]\n}}\n'
            + extra + objects)

    def wait_ready(self, daemon: Any, timeout: float = 60) -> None:
        daemon.until(self.client.ready, "the Icinga 2 API", timeout=timeout)


def until(probe: Any, what: str, timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"no {what} within {timeout:g} s"
        time.sleep(interval)
