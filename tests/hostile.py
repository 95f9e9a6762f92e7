"""Hostile peers on loopback for the tests: a UDP server that answers with whatever bytes a test gives it,
a TLS server with a certificate of the test's making (expired, not yet valid, for an IP address, one that
demands a client certificate), and the certificates themselves, made by the openssl CLI."""

from __future__ import annotations

import contextlib
import datetime
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from conftest import need_program


@contextlib.contextmanager
def udp_replier(reply: Callable[[bytes], bytes | None], address: str = "127.0.0.1") -> Iterator[int]:
    """A UDP port that answers every datagram with ``reply(datagram)`` (None: silence); yields the port."""
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65536)
            except OSError:
                continue
            answer = reply(data)
            if answer is not None:
                try:
                    sock.sendto(answer, peer)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


def svr_resp(text: bytes) -> bytes:
    """An SSRP SVR_RESP datagram carrying ``text`` as RESP_DATA ([MC-SQLR] 2.2.5), bytes as given."""
    return b"\x05" + len(text).to_bytes(2, "little") + text


def instance_record(name: bytes, port: int, server: bytes = b"DS01", version: bytes = b"15.0.2000.5") -> bytes:
    return (b"ServerName;" + server + b";InstanceName;" + name + b";IsClustered;No;Version;" + version
            + b";tcp;" + str(port).encode() + b";;")


# --- certificates -------------------------------------------------------------------------------------


def openssl() -> str:
    return need_program("openssl", "the tests make their own certificates")


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


class Certs:
    """A test CA and certificates it signs, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.openssl = openssl()
        self.ca_key, self.ca = directory / "ca.key", directory / "ca.pem"
        _run(self.openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(self.ca_key), "-out", str(self.ca), "-subj", "/O=Test/CN=Test CA", "-days", "30")

    def issue(self, name: str, *, ip: str | None = None, dns: str | None = None, days: int = 30) -> tuple[Path, Path]:
        """A certificate for ``ip``/``dns``, signed by the CA: (cert, key)."""
        key, csr, cert = self.dir / f"{name}.key", self.dir / f"{name}.csr", self.dir / f"{name}.pem"
        ext = self.dir / f"{name}.ext"
        alt = ",".join(x for x in (f"IP:{ip}" if ip else "", f"DNS:{dns}" if dns else "") if x)
        ext.write_text(f"subjectAltName={alt}\n" if alt else "basicConstraints=CA:FALSE\n")
        _run(self.openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/O=Test/CN={name}")
        _run(self.openssl, "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self.ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", str(days), "-extfile", str(ext))
        return cert, key

    def with_validity(self, name: str, not_before: datetime.datetime, not_after: datetime.datetime) -> tuple[Path, Path]:
        """A certificate whose validity period is exactly the given one. Its signature no longer matches
        (the dates are rewritten in the DER), which an unverified TLS probe never looks at."""
        cert, key = self.issue(name)
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
        times = [i for i in range(len(der) - 15) if der[i:i + 2] == b"\x17\x0d" and der[i + 14:i + 15] == b"Z"]
        assert len(times) >= 2, "no UTCTime pair in the certificate"
        start, end = times[0], times[1]
        stamp = "%y%m%d%H%M%SZ"
        der = (der[:start + 2] + not_before.strftime(stamp).encode() + der[start + 15:end + 2]
               + not_after.strftime(stamp).encode() + der[end + 15:])
        cert.write_text(ssl.DER_cert_to_PEM_cert(der))
        return cert, key


@contextlib.contextmanager
def tls_server(cert: Path, key: Path, *, require_client_cert: Path | None = None,
               version: ssl.TLSVersion | None = None, address: str = "127.0.0.1") -> Iterator[int]:
    """A TLS server on loopback that completes handshakes (then answers nothing and closes): yields its port.
    ``require_client_cert``: a CA file; clients without a certificate it signed are refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    if require_client_cert is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(require_client_cert)
    listener = socket.create_server((address, 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def have(program: str) -> bool:
    return shutil.which(program) is not None
