"""Just enough X.509 to name a certificate -- protocol layer, no I/O.

Implements the parts of RFC 5280 4.1 (``Certificate``, ``TBSCertificate``: version, serialNumber,
issuer, validity, subject) that the ``web`` probe reports, over a minimal DER reader (X.690 8.1: tag and
length octets, short and long length form), and RFC 4514 2 for printing a Name. The TLS probe runs without
verification, where ``ssl.getpeercert()`` returns ``{}``; it parses ``getpeercert(binary_form=True)``
with ``parse_certificate``. Kept apart from ``ssrp`` and ``tds``; it needs no ``datetime`` either,
until a caller asks for one.

Strategy: ``_tlv`` is the only function that reads tag and length octets; it returns (tag, start, end)
of one element and checks the element lies inside its parent, so every later step works on index ranges
already proven to be in bounds. The certificate is then walked top-down, asking for exactly the tag RFC 5280 puts
at each position; anything else -- a wrong tag, an indefinite or over-long length, bytes left after an
element, a time that is not ``YYMMDDHHMMSSZ``/``YYYYMMDDHHMMSSZ`` or not a real date -- raises
``MalformedReply``. Extensions, keys and the signature are not read.

Choices: the DER reader accepts non-minimal length encodings (BER leniency costs nothing here) but not the
indefinite form (not DER) nor multi-byte tags (no certificate field has one), nor lengths over 4 octets or
OID arcs over 9 octets (keeps ints small). UTCTime years 50-99 are 19xx, 00-49 20xx (RFC 5280 4.1.2.5.1);
times must be Zulu with seconds and no fraction, as RFC 5280 requires. Attribute values that are strings are
decoded leniently (UTF8String with ``errors="replace"``, BMPString and UniversalString likewise;
PrintableString, IA5String, TeletexString and VisibleString as latin-1), so a badly encoded name never fails
a probe; other value types print as RFC 4514 ``#`` + hex of their DER. CN, O, OU, C, L, ST, STREET, DC and
UID print by name, anything else as its dotted OID. ``self_signed`` compares subject and issuer names only;
no signature is checked.
"""

from __future__ import annotations

from check_digitalsentry.protocols import MalformedReply

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime

_SEQUENCE = 0x30
_SET = 0x31
_INTEGER = 0x02
_OID = 0x06
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_VERSION_TAG = 0xA0  # [0] EXPLICIT Version

_ATTRIBUTE_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
}
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # TeletexString (T.61; latin-1 is the common practice)
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


class Certificate:
    """What the ``web`` probe reports about a server certificate.

    ``subject`` and ``issuer`` are RFC 4514 strings (``CN=DS01,O=Pelco``); ``not_before_epoch`` and
    ``not_after_epoch`` are Unix times, and ``not_before`` / ``not_after`` the same as aware ``datetime``
    objects in UTC (made on first use: the probe itself needs no ``datetime``, ~3 ms of start-up);
    ``serial_number`` is the serial as an int. The constructor takes Unix times or aware datetimes.
    """

    __slots__ = ("issuer", "not_after_epoch", "not_before_epoch", "serial_number", "subject")

    def __init__(
        self,
        subject: str,
        issuer: str,
        not_before: int | datetime.datetime,
        not_after: int | datetime.datetime,
        serial_number: int = 0,
    ) -> None:
        self.subject = subject
        self.issuer = issuer
        self.not_before_epoch = not_before if isinstance(not_before, int) else int(not_before.timestamp())
        self.not_after_epoch = not_after if isinstance(not_after, int) else int(not_after.timestamp())
        self.serial_number = serial_number

    @property
    def not_before(self) -> datetime.datetime:
        return _datetime(self.not_before_epoch)

    @property
    def not_after(self) -> datetime.datetime:
        return _datetime(self.not_after_epoch)

    @property
    def self_signed(self) -> bool:
        """True when subject and issuer are the same name (the signature is not checked)."""
        return self.subject == self.issuer

    def __repr__(self) -> str:
        return (
            f"Certificate(subject={self.subject!r}, issuer={self.issuer!r}, "
            f"not_before={self.not_before.isoformat()}, not_after={self.not_after.isoformat()})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and _key(self) == _key(other)


def _key(cert: Certificate) -> tuple[object, ...]:
    return (cert.subject, cert.issuer, cert.not_before_epoch, cert.not_after_epoch, cert.serial_number)


def _datetime(epoch: int) -> datetime.datetime:
    import datetime

    utc = datetime.timezone.utc
    return datetime.datetime(1970, 1, 1, tzinfo=utc) + datetime.timedelta(seconds=epoch)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Unix time of a UTC civil date (proleptic Gregorian; H. Hinnant's days_from_civil)."""
    y = year - (month <= 2)
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def parse_certificate(der: bytes) -> Certificate:
    """The subject, issuer, validity and serial of a DER certificate; MalformedReply if it is not one."""
    der = bytes(der)
    cert_start, cert_end = _expect(der, 0, len(der), _SEQUENCE, "Certificate")
    if cert_end != len(der):
        extra = len(der) - cert_end
        raise MalformedReply(f"{extra} byte{'s' if extra > 1 else ''} after the certificate")
    tbs_start, tbs_end = _expect(der, cert_start, cert_end, _SEQUENCE, "tbsCertificate")
    pos = tbs_start
    if pos < tbs_end and der[pos] == _VERSION_TAG:
        pos = _tlv(der, pos, tbs_end)[2]
    serial_start, serial_end = _expect(der, pos, tbs_end, _INTEGER, "serialNumber")
    serial = int.from_bytes(der[serial_start:serial_end], "big", signed=True)
    alg_end = _expect(der, serial_end, tbs_end, _SEQUENCE, "signature AlgorithmIdentifier")[1]
    issuer_start, issuer_end = _expect(der, alg_end, tbs_end, _SEQUENCE, "issuer Name")
    validity_start, validity_end = _expect(der, issuer_end, tbs_end, _SEQUENCE, "validity")
    not_before, pos = _time(der, validity_start, validity_end, "notBefore")
    not_after, pos = _time(der, pos, validity_end, "notAfter")
    if pos != validity_end:
        raise MalformedReply("validity holds more than notBefore and notAfter")
    subject_start, subject_end = _expect(der, validity_end, tbs_end, _SEQUENCE, "subject Name")
    return Certificate(
        _name(der, subject_start, subject_end),
        _name(der, issuer_start, issuer_end),
        not_before,
        not_after,
        serial,
    )


def _tlv(der: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``pos``, which must end by ``end``."""
    if end - pos < 2:
        raise MalformedReply(f"DER element at offset {pos} is cut ({max(end - pos, 0)} bytes left)")
    tag = der[pos]
    if tag & 0x1F == 0x1F:
        raise MalformedReply(f"multi-byte DER tag at offset {pos}")
    first = der[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise MalformedReply(f"indefinite length at offset {pos - 2} (not DER)")
    else:
        count = first & 0x7F
        if count > 4:
            raise MalformedReply(f"DER length of {count} bytes at offset {pos - 2}")
        if end - pos < count:
            raise MalformedReply(f"DER length at offset {pos - 2} is cut")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if length > end - pos:
        raise MalformedReply(f"DER element at offset {pos} says {length} bytes, only {end - pos} left")
    return tag, pos, pos + length


def _expect(der: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    got, start, stop = _tlv(der, pos, end)
    if got != tag:
        raise MalformedReply(f"{what}: expected tag 0x{tag:02x}, got 0x{got:02x} at offset {pos}")
    return start, stop


def _time(der: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """A UTCTime or GeneralizedTime in RFC 5280 form, as Unix time."""
    tag, start, stop = _tlv(der, pos, end)
    text = der[start:stop]
    if tag == _UTC_TIME and len(text) == 13:
        year = int(text[:2]) if text[:2].isdigit() else -1
        text = (b"19" if year >= 50 else b"20") + text
    elif tag != _GENERALIZED_TIME or len(text) != 15:
        raise MalformedReply(f"{what} is not a UTCTime or GeneralizedTime in RFC 5280 form")
    if not (text[:14].isdigit() and text[:14].isascii() and text.endswith(b"Z")):
        raise MalformedReply(f"{what} {text!r} is not YYYYMMDDHHMMSSZ")
    year, month, day = int(text[0:4]), int(text[4:6]), int(text[6:8])
    hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14])
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)
            and hour < 24 and minute < 60 and second < 60):
        raise MalformedReply(f"{what} {text.decode('ascii')} is not a valid date")
    return _epoch(year, month, day, hour, minute, second), stop


def _name(der: bytes, pos: int, end: int) -> str:
    """RFC 4514: the RDNs last to first, joined with ``,``; the attributes of one RDN joined with ``+``."""
    rdns = []
    while pos < end:
        inner, set_end = _expect(der, pos, end, _SET, "RelativeDistinguishedName")
        pos = set_end
        attributes = []
        while inner < set_end:
            attr_start, attr_end = _expect(der, inner, set_end, _SEQUENCE, "AttributeTypeAndValue")
            inner = attr_end
            oid_start, oid_end = _expect(der, attr_start, attr_end, _OID, "AttributeType")
            tag, value_start, value_end = _tlv(der, oid_end, attr_end)
            if value_end != attr_end:
                raise MalformedReply("AttributeTypeAndValue holds more than a type and a value")
            oid = _oid(der[oid_start:oid_end])
            codec = _STRING_CODECS.get(tag)
            if codec is None:
                value = "#" + der[oid_end:value_end].hex()
            else:
                value = _escape(der[value_start:value_end].decode(codec, "replace"))
            attributes.append(f"{_ATTRIBUTE_NAMES.get(oid, oid)}={value}")
        rdns.append("+".join(attributes))
    return ",".join(reversed(rdns))


def _oid(raw: bytes) -> str:
    if not raw or raw[-1] & 0x80:
        raise MalformedReply("OBJECT IDENTIFIER is empty or cut")
    arcs = []
    value = 0
    length = 0
    for byte in raw:
        value = value << 7 | byte & 0x7F
        length += 1
        if length > 9:  # 63 bits: more than any real arc, and keeps str() of it cheap
            raise MalformedReply("OBJECT IDENTIFIER arc longer than 9 bytes")
        if not byte & 0x80:
            arcs.append(value)
            value = 0
            length = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def _escape(value: str) -> str:
    """RFC 4514 2.4: backslash the specials, a leading ``#`` or space, a trailing space; NUL as ``\\00``."""
    last = len(value) - 1
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (i == 0 and ch in "# ") or (i == last and ch == " "):
            out.append("\\" + ch)
        else:
            out.append("\\00" if ch == "\x00" else ch)
    return "".join(out)
