"""Minimal X.509 reader: certificates made by the openssl CLI, hand-built DER edge cases, fuzzing."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import modules_loaded_by

from check_digitalsentry.protocols import MalformedReply, x509

FUZZ = settings(max_examples=500, deadline=None)
UTC = datetime.timezone.utc
MONTHS = {
    m: n
    for n, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)
}

# -- a tiny DER writer, to build certificates no CA would sign -----------------------------------------


def tlv(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw + content


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | arc & 0x7F)
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


OID_CN, OID_O, OID_OU, OID_C = "2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6"
UTF8, PRINTABLE, TELETEX, IA5, BMP = 0x0C, 0x13, 0x14, 0x16, 0x1E


def name(*rdns: list[tuple[str, int, bytes]]) -> bytes:
    """A Name from RDNs in DER order (the printed order is the reverse)."""
    return tlv(0x30, *(tlv(0x31, *(tlv(0x30, oid(t), tlv(tag, v)) for t, tag, v in rdn)) for rdn in rdns))


def utc(text: str) -> bytes:
    return tlv(0x17, text.encode())


def generalized(text: str) -> bytes:
    return tlv(0x18, text.encode())


DS01 = name([(OID_C, PRINTABLE, b"US")], [(OID_O, UTF8, b"Pelco")], [(OID_CN, UTF8, b"DS01")])


def certificate(
    subject: bytes = DS01,
    issuer: bytes = DS01,
    not_before: bytes = utc("250101000000Z"),
    not_after: bytes = utc("350101000000Z"),
    *,
    version: bytes | None = tlv(0xA0, tlv(0x02, b"\x02")),
    serial: bytes = tlv(0x02, b"\x01\x00"),
    validity: bytes | None = None,
    tail: bytes = b"",
) -> bytes:
    algorithm = tlv(0x30, oid("1.2.840.10045.4.3.2"))
    tbs = tlv(
        0x30,
        version or b"",
        serial,
        algorithm,
        issuer,
        validity if validity is not None else tlv(0x30, not_before, not_after),
        subject,
        tlv(0x30, tlv(0x30, oid("1.2.840.10045.2.1")), tlv(0x03, b"\x00\x04")),  # a stub public key
    )
    return tlv(0x30, tbs, algorithm, tlv(0x03, b"\x00" + bytes(70))) + tail


# -- certificates made by openssl ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the openssl CLI is not on PATH, and CI must run the x509 tests against it")
        pytest.skip("the openssl CLI is not installed (set CI=true to make this a failure)")
    return path


def run(*args: str) -> str:
    return subprocess.run(
        args, check=True, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
    ).stdout


def self_signed(openssl: str, directory: Path, subject: str, *extra: str) -> Path:
    der = directory / "cert.der"
    key = directory / "key.pem"
    run(
        openssl,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", str(key), "-outform", "DER", "-out", str(der), "-subj", subject, *extra),
    )
    return der


def openssl_says(openssl: str, der: Path) -> dict[str, str]:
    """subject, issuer (RFC 2253, UTF-8 left as is), notBefore, notAfter, serial: what openssl prints."""
    out = run(
        openssl,
        *("x509", "-inform", "DER", "-in", str(der), "-noout", "-subject", "-issuer", "-dates", "-serial"),
        *("-nameopt", "RFC2253,-esc_msb"),
    )
    return dict(line.split("=", 1) for line in out.splitlines())


def openssl_time(text: str) -> datetime.datetime:
    """``Nov  3 20:28:11 2026 GMT`` (openssl's fixed English format) as an aware datetime."""
    month, day, clock, year, zone = text.split()
    assert zone == "GMT"
    hour, minute, second = (int(part) for part in clock.split(":"))
    return datetime.datetime(int(year), MONTHS[month], int(day), hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("subject", "extra"),
    [
        ("/C=US/O=Pelco/OU=Video/CN=DS01", ["-days", "30"]),
        ('/C=US/O=Pelco, Inc./CN=DS01 "main"', ["-days", "30000"]),  # notAfter > 2049: GeneralizedTime
        ("/CN=Überwachung/O=Pelco/emailAddress=ops@example.com", ["-days", "1", "-utf8"]),
    ],
    ids=["plain", "escapes-generalizedtime", "utf8-email"],
)
def test_self_signed_certificate_matches_openssl(
    openssl: str, tmp_path: Path, subject: str, extra: list[str]
) -> None:
    der = self_signed(openssl, tmp_path, subject, *extra)
    said = openssl_says(openssl, der)
    cert = x509.parse_certificate(der.read_bytes())
    # openssl names emailAddress; RFC 4514 only names CN/O/OU/C/L/ST/STREET/DC/UID, others are OIDs.
    assert cert.subject == said["subject"].replace("emailAddress=", "1.2.840.113549.1.9.1=")
    assert cert.issuer == cert.subject
    assert cert.self_signed
    assert cert.not_before == openssl_time(said["notBefore"])
    assert cert.not_after == openssl_time(said["notAfter"])
    assert cert.not_after.tzinfo is UTC
    assert cert.serial_number == int(said["serial"], 16)


def test_ca_signed_certificate_is_not_self_signed(openssl: str, tmp_path: Path) -> None:
    ca_key, ca_pem, key, csr, der = (tmp_path / n for n in ("ca.key", "ca.pem", "key.pem", "csr.pem", "leaf.der"))
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run(openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_pem), "-subj", "/O=Pelco/CN=DS CA")
    run(openssl, "req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/O=Pelco/CN=ds01.example")
    run(
        openssl,
        *("x509", "-req", "-in", str(csr), "-CA", str(ca_pem), "-CAkey", str(ca_key), "-CAcreateserial"),
        *("-days", "10", "-outform", "DER", "-out", str(der)),
    )
    cert = x509.parse_certificate(der.read_bytes())
    assert (cert.subject, cert.issuer, cert.self_signed) == ("CN=ds01.example,O=Pelco", "CN=DS CA,O=Pelco", False)
    assert cert.not_after - cert.not_before == datetime.timedelta(days=10)


def test_every_truncation_of_a_real_certificate_is_malformed(openssl: str, tmp_path: Path) -> None:
    der = self_signed(openssl, tmp_path, "/O=Pelco/CN=DS01", "-days", "30").read_bytes()
    for end in range(len(der)):
        with pytest.raises(MalformedReply):
            x509.parse_certificate(der[:end])
    with pytest.raises(MalformedReply, match=r"^1 byte after the certificate$"):
        x509.parse_certificate(der + b"\x00")


# -- hand-built certificates ---------------------------------------------------------------------------


def test_hand_built_certificate() -> None:
    cert = x509.parse_certificate(certificate())
    assert cert == x509.Certificate(
        "CN=DS01,O=Pelco,C=US",
        "CN=DS01,O=Pelco,C=US",
        datetime.datetime(2025, 1, 1, tzinfo=UTC),
        datetime.datetime(2035, 1, 1, tzinfo=UTC),
        256,
    )
    assert repr(cert) == (
        "Certificate(subject='CN=DS01,O=Pelco,C=US', issuer='CN=DS01,O=Pelco,C=US', "
        "not_before=2025-01-01T00:00:00+00:00, not_after=2035-01-01T00:00:00+00:00)"
    )
    assert cert != "CN=DS01"


def test_version_1_certificate_has_no_version_field() -> None:
    assert x509.parse_certificate(certificate(version=None)).subject == "CN=DS01,O=Pelco,C=US"


def test_names() -> None:
    subject = name(
        [(OID_C, PRINTABLE, b"DE")],
        [(OID_O, TELETEX, b"Soci\xe9t\xe9")],
        [(OID_OU, UTF8, b"Video"), ("0.9.2342.19200300.100.1.1", UTF8, b"vid")],  # multi-valued RDN
        [("2.5.4.5", PRINTABLE, b"SN-1")],  # serialNumber: no RFC 4514 name
        [("0.9.2342.19200300.100.1.25", IA5, b"example")],
        [("2.5.4.7", BMP, "Köln".encode("utf-16-be"))],
        [(OID_CN, UTF8, b'#a,b+c"d\\e<f>g;h ')],
        [("1.3.6.1.4.1.99999.1", 0x04, b"\x01\x02")],  # an OCTET STRING value: # + hex of its DER
    )
    issuer = name([(OID_CN, UTF8, b" lead"), (OID_CN, UTF8, b"bad \xff utf8")])
    cert = x509.parse_certificate(certificate(subject, issuer))
    assert cert.subject == (
        "1.3.6.1.4.1.99999.1=#04020102,"
        'CN=\\#a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\ ,'
        "L=Köln,DC=example,2.5.4.5=SN-1,OU=Video+UID=vid,O=Société,C=DE"
    )
    assert cert.issuer == "CN=\\ lead+CN=bad \ufffd utf8"
    assert not cert.self_signed


def test_empty_names() -> None:
    cert = x509.parse_certificate(certificate(tlv(0x30), tlv(0x30)))
    assert (cert.subject, cert.issuer, cert.self_signed) == ("", "", True)


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        (utc("491231235959Z"), datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (utc("500101000000Z"), datetime.datetime(1950, 1, 1, tzinfo=UTC)),
        (utc("000229120000Z"), datetime.datetime(2000, 2, 29, 12, tzinfo=UTC)),
        (generalized("20500101000000Z"), datetime.datetime(2050, 1, 1, tzinfo=UTC)),
        (generalized("99991231235959Z"), datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_times(time: bytes, expected: datetime.datetime) -> None:
    assert x509.parse_certificate(certificate(not_after=time)).not_after == expected


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", r"^DER element at offset 0 is cut \(0 bytes left\)$"),
        (b"\x30", r"^DER element at offset 0 is cut"),
        (b"\x30\x80" + certificate()[2:], r"^indefinite length at offset 0 \(not DER\)$"),
        (b"\x30\x85\x00\x00\x00\x00\x10", r"^DER length of 5 bytes at offset 0$"),
        (b"\x30\x82\x01", r"^DER length at offset 0 is cut$"),
        (b"\x30\x04\x30\x03\x02\x01", r"^DER element at offset 4 says 3 bytes, only 2 left$"),
        (b"\x1f\x01\x00", r"^multi-byte DER tag at offset 0$"),
        (b"\x31\x00", r"^Certificate: expected tag 0x30, got 0x31 at offset 0$"),
        (certificate(tail=b"\x00\x00"), r"^2 bytes after the certificate$"),
        (certificate(serial=tlv(0x30)), r"^serialNumber: expected tag 0x02"),
        (certificate(version=tlv(0xA1, b"")), r"^serialNumber: expected tag 0x02, got 0xa1"),
        (certificate(issuer=tlv(0x31)), r"^issuer Name: expected tag 0x30"),
        (certificate(subject=tlv(0x04)), r"^subject Name: expected tag 0x30"),
        (certificate(subject=tlv(0x30, tlv(0x30))), r"^RelativeDistinguishedName: expected tag 0x31"),
        (certificate(subject=tlv(0x30, tlv(0x31, tlv(0x31)))), r"^AttributeTypeAndValue: expected tag 0x30"),
        (certificate(subject=tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x0C))))), r"^AttributeType: expected tag 0x06"),
        (certificate(subject=tlv(0x30, tlv(0x31, tlv(0x30, oid(OID_CN))))), r"^DER element at offset \d+ is cut"),
        (
            certificate(subject=tlv(0x30, tlv(0x31, tlv(0x30, oid(OID_CN), tlv(0x0C), tlv(0x0C))))),
            r"^AttributeTypeAndValue holds more than a type and a value$",
        ),
        (
            certificate(subject=tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06), tlv(0x0C))))),
            r"OBJECT IDENTIFIER is empty",
        ),
        (
            certificate(subject=tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x84"), tlv(0x0C))))),
            r"^OBJECT IDENTIFIER is empty or cut$",
        ),
        (
            certificate(
                subject=tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55" + b"\xff" * 9 + b"\x01"), tlv(0x0C))))
            ),
            r"^OBJECT IDENTIFIER arc longer than 9 bytes$",
        ),
        (certificate(validity=tlv(0x30, utc("250101000000Z"))), r"^DER element at offset \d+ is cut \(0 bytes"),
        (
            certificate(validity=tlv(0x30, utc("250101000000Z"), utc("250101000000Z"), utc("250101000000Z"))),
            r"^validity holds more than notBefore and notAfter$",
        ),
        (certificate(not_before=tlv(0x02, b"\x01")), r"^notBefore is not a UTCTime or GeneralizedTime"),
        (certificate(not_after=utc("3501010000Z")), r"^notAfter is not a UTCTime or GeneralizedTime"),
        (certificate(not_after=utc("35010100000 Z")), r"^notAfter b'2035010100000 Z' is not YYYYMMDDHHMMSSZ$"),
        (certificate(not_after=utc("350101000000X")), r"^notAfter b'20350101000000X' is not YYYYMMDDHHMMSSZ$"),
        (certificate(not_after=utc("+50101000000Z")), r"^notAfter b'20\+50101000000Z' is not YYYYMMDDHHMMSSZ$"),
        (certificate(not_after=utc("350230000000Z")), r"^notAfter 20350230000000Z is not a valid date$"),
        (certificate(not_after=utc("351301000000Z")), r"^notAfter 20351301000000Z is not a valid date$"),
        (certificate(not_after=utc("350101240000Z")), r"^notAfter 20350101240000Z is not a valid date$"),
        (certificate(not_after=generalized("20350101000000.5Z")), r"^notAfter is not a UTCTime or Generalized"),
        (certificate(not_after=generalized("00000101000000Z")), r"^notAfter 00000101000000Z is not a valid date$"),
    ],
)
def test_malformed(der: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        x509.parse_certificate(der)


# -- property tests ------------------------------------------------------------------------------------


def survives(der: bytes) -> None:
    try:
        cert = x509.parse_certificate(der)
    except MalformedReply:
        pass
    else:
        assert cert.not_before.tzinfo is UTC and cert.not_after.tzinfo is UTC


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_malformed_reply(der: bytes) -> None:
    survives(der)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_in_a_sequence_raise_only_malformed_reply(content: bytes) -> None:
    survives(tlv(0x30, tlv(0x30, content)))


@FUZZ
@given(st.data())
def test_mutated_certificates_raise_only_malformed_reply(data: st.DataObject) -> None:
    der = bytearray(certificate(version=data.draw(st.sampled_from([None, tlv(0xA0, tlv(0x02, b"\x02"))]))))
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(der)), label="cut")
    survives(bytes(der[:cut]) if data.draw(st.booleans(), label="truncate") else bytes(der))


# -- start-up cost -------------------------------------------------------------------------------------


def test_importing_x509_loads_only_datetime() -> None:
    loaded = modules_loaded_by("import check_digitalsentry.protocols.x509")
    ours = {"check_digitalsentry", "check_digitalsentry.protocols", "check_digitalsentry.protocols.x509"}
    assert loaded - ours <= {"datetime", "_datetime", "math", "operator", "_operator"}, loaded - ours
