"""Just enough of TLS's record layer to see what a server asked for -- protocol layer, no I/O.

The TLS probe hands the handshake to ``ssl`` (over memory buffers) and keeps the bytes the server sent.
Up to TLS 1.2 the server's handshake flight is plaintext (RFC 5246 6.2.1 records, 7.4 handshake
messages), so a CertificateRequest (handshake type 13) is visible there; in TLS 1.3 it is encrypted,
and the server's refusal arrives after the handshake as the alert ``certificate_required`` (RFC 8446
6.2), which ``ssl`` reports. ``requests_client_certificate`` reads the plaintext flight; it never
raises: bytes that are not TLS records simply hold no request.
"""

from __future__ import annotations

_HANDSHAKE = 22
_CERTIFICATE_REQUEST = 13


def requests_client_certificate(server_bytes: bytes) -> bool:
    """True when the plaintext handshake messages in ``server_bytes`` (TLS records as the server sent
    them) include a CertificateRequest."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(server_bytes):
        kind = server_bytes[pos]
        length = int.from_bytes(server_bytes[pos + 3:pos + 5], "big")
        if kind != _HANDSHAKE:
            break  # ChangeCipherSpec, an alert, or encrypted records: the plaintext flight is over
        handshake += server_bytes[pos + 5:pos + 5 + length]
        pos += 5 + length
    at = 0
    while at + 4 <= len(handshake):
        if handshake[at] == _CERTIFICATE_REQUEST:
            return True
        at += 4 + int.from_bytes(handshake[at + 1:at + 4], "big")
    return False
