"""TDS packet framing and the PRELOGIN exchange -- protocol layer, no I/O.

Implements [MS-TDS] 2.2.3.1 (the 8-byte packet header and multi-packet messages) and 2.2.6.5 (PRELOGIN:
the option table and its VERSION, ENCRYPTION, INSTOPT, THREADID, MARS and FEDAUTHREQUIRED options), for
the client (``build_prelogin``, ``reply_complete``, ``parse_prelogin_response``) and for the simulator
(``request_complete``, ``parse_prelogin_request``, ``instopt_answer``, ``build_prelogin_response``). TDS 8.0
"strict" servers speak TLS first; ``looks_like_tls`` recognises their answer. What follows PRELOGIN (TLS
inside TDS, LOGIN7, the login's answer) is ``tds_login``. Formats and quirks: [MS-TDS] (cited by section)
and the conformance corpus in ``tests/data/conformance``.

Strategy: framing and content are separate steps. ``reply_complete`` only walks packet headers, so the
engine can feed it whatever it has read so far and stop reading once it says True -- a whole message, or
bytes that can already be rejected (a TLS record, a wrong packet type). The parsers then reassemble the
bodies of all packets up to the one with the EOM status bit and hand the body to one option-table walker,
shared by requests and replies. The walker reads the whole table first (so a missing 0xFF terminator is
reported as such), then checks every entry against the body with Python ints -- offset at or after the
end of the table, offset + length within the body -- so nothing wraps at 16 bits and no slice can come
back short. Values are read only after those checks. Everything raises ``MalformedReply``.

Choices:

- Every packet of the message must have the expected type (0x04 for a reply, 0x12 for a request); status
  bits other than EOM, the SPID and the Window byte are ignored; ``packet_id`` is the first packet's.
- Bytes after the EOM packet are rejected: a SQL Server sends nothing after its PRELOGIN reply until the
  client speaks again. Bytes after the last option's data *inside* the body are ignored (unlike zgrab2).
- A reply must carry VERSION (6 bytes) and ENCRYPTION (1 byte); INSTOPT, MARS and FEDAUTHREQUIRED are
  optional but must be 1 byte when present (as nmap checks). THREADID and unknown tokens are only
  bounds-checked. A known token twice is malformed. The ENCRYPTION byte is kept raw, even outside 0-3.
- VERSION is major, minor, build (u16 big-endian, as on the wire in every real sample) and sub-build,
  also read big-endian as nmap does (real servers send 0; SqlClient writes its own little-endian).
- ``reply_complete`` also says True once ``MAX_MESSAGE`` bytes have come without an EOM packet (a real
  reply is under 100 bytes), so a peer that streams packets cannot keep the engine reading.
- A request's VERSION must be its first option (a real server closes the connection otherwise); its
  ENCRYPTION is optional; its THREADID is 4 bytes (u32 LE) or empty; INSTOPT is kept as raw bytes.
"""

from __future__ import annotations

import struct

from check_digitalsentry.protocols import MalformedReply

PACKET_REPLY = 0x04  #: "tabular result": the type of the server's PRELOGIN reply
PACKET_PRELOGIN = 0x12  #: the type of the client's PRELOGIN
STATUS_EOM = 0x01  #: status bit of the last packet of a message
HEADER_SIZE = 8  #: type, status, length (u16 BE, header included), SPID (u16 BE), packet id, window
MAX_MESSAGE = 65536  #: ``reply_complete`` gives up waiting for EOM beyond this many bytes

ENCRYPT_OFF = 0x00
ENCRYPT_ON = 0x01
ENCRYPT_NOT_SUP = 0x02
ENCRYPT_REQ = 0x03
ENCRYPT_CLIENT_CERT = 0x80  #: a client may OR this into its ENCRYPTION value

#: The client VERSION a probe sends: 9.0.0.0, as FreeTDS (TDS 7.2+) and the MS-TDS 4.1 example do. A server
#: only logs it; 0.0.0.0 (JDBC) reads as "no version".
CLIENT_VERSION = (9, 0, 0, 0)
#: The name of a default instance, as clients write it in INSTOPT (FreeTDS, pytds, impacket, nmap).
DEFAULT_INSTANCE = "MSSQLServer"
INSTOPT_MATCH = 0x00  #: a server's INSTOPT: the client named this instance (or none)
INSTOPT_MISMATCH = 0x01  #: a server's INSTOPT: the client named another one (SqlClient: "Instance failure")

VERSION = 0x00
ENCRYPTION = 0x01
INSTOPT = 0x02
THREADID = 0x03
MARS = 0x04
TRACEID = 0x05
FEDAUTHREQUIRED = 0x06
NONCEOPT = 0x07
TERMINATOR = 0xFF

_TOKEN_NAMES = {
    VERSION: "VERSION",
    ENCRYPTION: "ENCRYPTION",
    INSTOPT: "INSTOPT",
    THREADID: "THREADID",
    MARS: "MARS",
    TRACEID: "TRACEID",
    FEDAUTHREQUIRED: "FEDAUTHREQUIRED",
    NONCEOPT: "NONCEOPT",
}
_ENCRYPT_NAMES = {
    ENCRYPT_OFF: "ENCRYPT_OFF",
    ENCRYPT_ON: "ENCRYPT_ON",
    ENCRYPT_NOT_SUP: "ENCRYPT_NOT_SUP",
    ENCRYPT_REQ: "ENCRYPT_REQ",
}
_TYPE_NAMES = {PACKET_REPLY: "a tabular response (0x04)", PACKET_PRELOGIN: "a PRELOGIN request (0x12)"}
_TLS_RECORDS = {0x15: "alert", 0x16: "handshake"}
_VERSION = struct.Struct(">BBHH")
_OPTION = struct.Struct(">BHH")
_HEADER = struct.Struct(">BBHHBB")


class Prelogin:
    """A server's PRELOGIN reply.

    ``version`` is (major, minor, build, sub-build); ``encryption`` the raw ENCRYPTION byte; ``instopt``,
    ``mars`` and ``fedauth_required`` the option's byte or None when the server left it out; ``options``
    the tokens in table order; ``packet_id`` the PacketID of the first packet (real servers send 1).
    """

    __slots__ = ("encryption", "fedauth_required", "instopt", "mars", "options", "packet_id", "version")

    def __init__(
        self,
        version: tuple[int, int, int, int],
        encryption: int,
        *,
        instopt: int | None = None,
        mars: int | None = None,
        fedauth_required: int | None = None,
        options: list[int] | None = None,
        packet_id: int = 1,
    ) -> None:
        self.version = version
        self.encryption = encryption
        self.instopt = instopt
        self.mars = mars
        self.fedauth_required = fedauth_required
        self.options: list[int] = list(options or ())
        self.packet_id = packet_id

    @property
    def version_string(self) -> str:
        """``15.0.2000.0``: the product version, as SQL Server's ``@@VERSION`` prints it."""
        return ".".join(map(str, self.version))

    @property
    def encryption_name(self) -> str:
        """``ENCRYPT_OFF``, ``ENCRYPT_ON``, ``ENCRYPT_NOT_SUP``, ``ENCRYPT_REQ``, else the byte in hex."""
        return _encryption_name(self.encryption)

    def __repr__(self) -> str:
        return (
            f"Prelogin({self.version_string}, {self.encryption_name}, instopt={self.instopt!r}, "
            f"mars={self.mars!r}, fedauth_required={self.fedauth_required!r}, options={self.options!r}, "
            f"packet_id={self.packet_id!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prelogin) and _prelogin_key(self) == _prelogin_key(other)


def _prelogin_key(p: Prelogin) -> tuple[object, ...]:
    return (p.version, p.encryption, p.instopt, p.mars, p.fedauth_required, p.options, p.packet_id)


class PreloginRequest:
    """A client's PRELOGIN, as the simulator sees it.

    ``version`` is the client's (major, minor, build, sub-build); ``encryption``, ``mars`` and
    ``fedauth_required`` the option's byte or None when absent; ``instopt`` the raw INSTOPT bytes (the
    instance name the client expects, NUL-terminated) or None; ``threadid`` the client's thread id (u32
    LE) or None; ``options`` the tokens in table order; ``packet_id`` that of the first packet.
    """

    __slots__ = ("encryption", "fedauth_required", "instopt", "mars", "options", "packet_id", "threadid",
                 "version")

    def __init__(
        self,
        version: tuple[int, int, int, int],
        *,
        encryption: int | None = None,
        instopt: bytes | None = None,
        threadid: int | None = None,
        mars: int | None = None,
        fedauth_required: int | None = None,
        options: list[int] | None = None,
        packet_id: int = 1,
    ) -> None:
        self.version = version
        self.encryption = encryption
        self.instopt = instopt
        self.threadid = threadid
        self.mars = mars
        self.fedauth_required = fedauth_required
        self.options: list[int] = list(options or ())
        self.packet_id = packet_id

    @property
    def version_string(self) -> str:
        """``9.0.0.0``: the client's version."""
        return ".".join(map(str, self.version))

    @property
    def encryption_name(self) -> str | None:
        """The ENCRYPTION value by name (``ENCRYPT_ON|ENCRYPT_CLIENT_CERT`` ...), None when absent."""
        return None if self.encryption is None else _encryption_name(self.encryption)

    @property
    def instance(self) -> str | None:
        """The instance name in INSTOPT, up to its NUL and decoded as latin-1 ("" = default instance)."""
        return None if self.instopt is None else self.instopt.split(b"\x00", 1)[0].decode("latin-1")

    def __repr__(self) -> str:
        return (
            f"PreloginRequest({self.version_string}, {self.encryption_name}, instopt={self.instopt!r}, "
            f"threadid={self.threadid!r}, mars={self.mars!r}, fedauth_required={self.fedauth_required!r}, "
            f"options={self.options!r}, packet_id={self.packet_id!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PreloginRequest) and _request_key(self) == _request_key(other)


def _request_key(p: PreloginRequest) -> tuple[object, ...]:
    return (p.version, p.encryption, p.instopt, p.threadid, p.mars, p.fedauth_required, p.options, p.packet_id)


#: SQL Server's major version -> its product year (what people call it).
SQL_PRODUCTS = {8: "2000", 9: "2005", 10: "2008", 11: "2012", 12: "2014", 13: "2016",
                14: "2017", 15: "2019", 16: "2022", 17: "2025"}


def sql_product(version: tuple[int, ...]) -> str:
    """"SQL Server 2019" for (15, 0, ...); 10.50 is 2008 R2; unknown majors are said as such."""
    major, minor = version[0], version[1]
    year = SQL_PRODUCTS.get(major)
    if year is None:
        return f"SQL Server (unknown major version {major})"
    return f"SQL Server {year}{' R2' if (major, minor) == (10, 50) else ''}"


def _encryption_name(value: int) -> str:
    name = _ENCRYPT_NAMES.get(value & ~ENCRYPT_CLIENT_CERT)
    if name is None:
        return f"0x{value:02x}"
    return name + "|ENCRYPT_CLIENT_CERT" if value & ENCRYPT_CLIENT_CERT else name


# -- client side ---------------------------------------------------------------------------------------


def build_prelogin(
    *,
    encryption: int = ENCRYPT_OFF,
    version: tuple[int, int, int, int] = CLIENT_VERSION,
    instance: str = "",
    threadid: int = 0,
    mars: int | None = 0,
) -> bytes:
    """One client PRELOGIN packet (type 0x12, status EOM, PacketID 1).

    Options in this order: VERSION (``version``), ENCRYPTION (``encryption``, OFF by default: a probe
    records what the server answers), INSTOPT (``instance`` + NUL, the instance the client expects, which
    the server confirms or denies; just the NUL by default: any instance), THREADID
    (``threadid``, u32 LE) and MARS (``mars``; None leaves the option out, as nmap's probe does).
    ValueError for values that do not fit their fields.
    """
    options = [(VERSION, _encode_version(version)), (ENCRYPTION, _byte("encryption", encryption))]
    try:
        options.append((INSTOPT, instance.encode("latin-1") + b"\x00"))
    except UnicodeEncodeError:
        raise ValueError(f"instance name {instance!r} is not encodable as latin-1") from None
    if "\x00" in instance:
        raise ValueError(f"instance name {instance!r} contains a NUL")
    if not 0 <= threadid <= 0xFFFFFFFF:
        raise ValueError(f"threadid must fit in 32 bits, got {threadid}")
    options.append((THREADID, struct.pack("<I", threadid)))
    if mars is not None:
        options.append((MARS, _byte("mars", mars)))
    return _build_packet(PACKET_PRELOGIN, options, 1)


def looks_like_tls(data: bytes) -> bool:
    """True when ``data`` starts like a TLS record (0x15 alert or 0x16 handshake, then 0x03): the answer of
    a TDS 8.0 "strict" server, which expects TLS before PRELOGIN."""
    return len(data) >= 2 and data[0] in _TLS_RECORDS and data[1] == 0x03


def reply_complete(data: bytes) -> bool:
    """True when ``data`` holds a whole reply message (packets up to one with the EOM bit) or can already
    be rejected (a packet of another type, e.g. a TLS record; a Length below 8; ``MAX_MESSAGE`` bytes
    without EOM). Then stop reading and call ``parse_prelogin_response``; False means read more."""
    return _message_complete(data, PACKET_REPLY)


def parse_prelogin_response(data: bytes) -> Prelogin:
    """The PRELOGIN reply in ``data``, all the bytes the server sent; MalformedReply if it is not one."""
    body, packet_id = _reassemble(data, PACKET_REPLY)
    options, values = _walk_options(body)
    encryption = _one_byte(values, ENCRYPTION)
    if VERSION not in values:
        raise MalformedReply("no VERSION option in the PRELOGIN reply")
    if encryption is None:
        raise MalformedReply("no ENCRYPTION option in the PRELOGIN reply")
    return Prelogin(
        _decode_version(values[VERSION]),
        encryption,
        instopt=_one_byte(values, INSTOPT),
        mars=_one_byte(values, MARS),
        fedauth_required=_one_byte(values, FEDAUTHREQUIRED),
        options=options,
        packet_id=packet_id,
    )


# -- server side (the simulator) -----------------------------------------------------------------------


def instopt_answer(instopt: bytes | None, instance: str) -> int:
    """A server's INSTOPT for a client's (raw bytes up to the NUL, or None): ``INSTOPT_MATCH`` when the client
    names ``instance`` (ignoring case; ``MSSQLServer`` names a default instance) or none, else MISMATCH."""
    asked = (instopt or b"").split(b"\x00", 1)[0].decode("latin-1").lower()
    return INSTOPT_MATCH if asked in ("", instance.lower()) else INSTOPT_MISMATCH


def request_complete(data: bytes) -> bool:
    """``reply_complete`` for the simulator: True when ``data`` holds a whole PRELOGIN request (type 0x12)
    or can already be rejected."""
    return _message_complete(data, PACKET_PRELOGIN)


def parse_prelogin_request(data: bytes) -> PreloginRequest:
    """The client PRELOGIN in ``data``; MalformedReply for anything else (a real server would close)."""
    body, packet_id = _reassemble(data, PACKET_PRELOGIN)
    options, values = _walk_options(body)
    if not options or options[0] != VERSION:
        raise MalformedReply("VERSION is not the first option of the PRELOGIN request")
    threadid = values.get(THREADID)
    if threadid is not None and len(threadid) not in (0, 4):
        raise MalformedReply(f"option THREADID has {len(threadid)} bytes, expected 4")
    return PreloginRequest(
        _decode_version(values[VERSION]),
        encryption=_one_byte(values, ENCRYPTION),
        instopt=values.get(INSTOPT),
        threadid=struct.unpack("<I", threadid)[0] if threadid else None,
        mars=_one_byte(values, MARS),
        fedauth_required=_one_byte(values, FEDAUTHREQUIRED),
        options=options,
        packet_id=packet_id,
    )


def build_prelogin_response(
    *,
    version: tuple[int, int, int, int] = (15, 0, 2000, 0),
    encryption: int = ENCRYPT_NOT_SUP,
    instopt: int | None = 0,
    mars: int | None = 0,
    fedauth_required: int | None = None,
    packet_id: int = 1,
) -> bytes:
    """One PRELOGIN reply packet (type 0x04, status EOM) as SQL Server writes it.

    Options: VERSION, ENCRYPTION, INSTOPT, THREADID (empty), MARS, FEDAUTHREQUIRED; None leaves the
    option out (a server answers only the options the client sent: MARS None gives the 37-byte reply to
    a 4-option request). ValueError for values that do not fit their fields.
    """
    options = [(VERSION, _encode_version(version)), (ENCRYPTION, _byte("encryption", encryption))]
    if instopt is not None:
        options.append((INSTOPT, _byte("instopt", instopt)))
    options.append((THREADID, b""))
    if mars is not None:
        options.append((MARS, _byte("mars", mars)))
    if fedauth_required is not None:
        options.append((FEDAUTHREQUIRED, _byte("fedauth_required", fedauth_required)))
    return _build_packet(PACKET_REPLY, options, _byte("packet_id", packet_id)[0])


# -- shared machinery ----------------------------------------------------------------------------------


def _message_complete(data: bytes, packet_type: int) -> bool:
    size = len(data)
    if size >= MAX_MESSAGE:
        return True
    pos = 0
    while pos < size:
        if data[pos] != packet_type:
            return True
        if size - pos < HEADER_SIZE:
            return False
        length = data[pos + 2] << 8 | data[pos + 3]
        if length < HEADER_SIZE:
            return True
        if size - pos < length:
            return False
        if data[pos + 1] & STATUS_EOM:
            return True
        pos += length
    return False


def _reassemble(data: bytes, packet_type: int) -> tuple[bytes, int]:
    """The body of the message in ``data`` (all its packets' payloads) and the first packet's PacketID."""
    size = len(data)
    bodies: list[bytes] = []
    pos = 0
    packet_id = 0
    while True:
        left = size - pos
        where = f" in packet {len(bodies) + 1}" if bodies else ""
        if left and data[pos] != packet_type:
            tls = ""
            if not pos and looks_like_tls(data):
                who = "server expects" if packet_type == PACKET_REPLY else "client starts with"
                tls = f": a TLS {_TLS_RECORDS[data[0]]} record (a TDS 8.0 strict {who} TLS)"
            raise MalformedReply(f"packet type 0x{data[pos]:02x}{where} is not {_TYPE_NAMES[packet_type]}{tls}")
        if left < HEADER_SIZE:
            if bodies and not left:
                raise MalformedReply(f"no EOM status bit in {len(bodies)} packet(s): the message is cut")
            raise MalformedReply(f"truncated TDS header{where} ({left} of {HEADER_SIZE} bytes)")
        _, status, length, _, pid, _ = _HEADER.unpack_from(data, pos)
        if length < HEADER_SIZE:
            raise MalformedReply(f"Length {length}{where} is shorter than the {HEADER_SIZE}-byte header")
        if length > left:
            raise MalformedReply(f"Length says {length} but only {left} bytes{where}")
        if not bodies:
            packet_id = pid
        bodies.append(data[pos + HEADER_SIZE : pos + length])
        pos += length
        if status & STATUS_EOM:
            break
    if pos != size:
        extra = size - pos
        raise MalformedReply(f"{extra} byte{'s' if extra > 1 else ''} after the final (EOM) packet")
    return b"".join(bodies), packet_id


def _walk_options(body: bytes) -> tuple[list[int], dict[int, bytes]]:
    """The option tokens in table order and the known tokens' data, every entry bounds-checked."""
    size = len(body)
    entries = []
    pos = 0
    while True:
        if pos >= size or (body[pos] != TERMINATOR and pos + 5 > size):
            raise MalformedReply(f"no 0xFF terminator in the option table ({size}-byte body)")
        if body[pos] == TERMINATOR:
            break
        entries.append(_OPTION.unpack_from(body, pos))
        pos += 5
    table_end = pos + 1
    options = []
    values: dict[int, bytes] = {}
    for token, offset, length in entries:
        name = _TOKEN_NAMES.get(token, f"0x{token:02x}")
        if offset < table_end:
            raise MalformedReply(f"option {name} at offset {offset} points into the {table_end}-byte table")
        if offset + length > size:
            raise MalformedReply(
                f"option {name} at offset {offset} length {length} runs past the {size}-byte body"
            )
        if token in values:
            raise MalformedReply(f"option {name} appears twice")
        options.append(token)
        if token in _TOKEN_NAMES:
            values[token] = body[offset : offset + length]
    return options, values


def _one_byte(values: dict[int, bytes], token: int) -> int | None:
    value = values.get(token)
    if value is None:
        return None
    if len(value) != 1:
        raise MalformedReply(f"option {_TOKEN_NAMES[token]} has {len(value)} bytes, expected 1")
    return value[0]


def _decode_version(value: bytes) -> tuple[int, int, int, int]:
    if len(value) != 6:
        raise MalformedReply(f"option VERSION has {len(value)} bytes, expected 6")
    major, minor, build, sub_build = _VERSION.unpack(value)
    return (major, minor, build, sub_build)


def _encode_version(version: tuple[int, int, int, int]) -> bytes:
    if len(version) != 4:
        raise ValueError(f"version must be (major, minor, build, sub-build), got {version!r}")
    major, minor, build, sub_build = version
    if not (0 <= major <= 0xFF and 0 <= minor <= 0xFF and 0 <= build <= 0xFFFF and 0 <= sub_build <= 0xFFFF):
        raise ValueError(f"version {version!r} does not fit bytes major, minor and u16 build, sub-build")
    return _VERSION.pack(major, minor, build, sub_build)


def _byte(what: str, value: int) -> bytes:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} must be 0-255, got {value}")
    return bytes((value,))


def _build_packet(packet_type: int, options: list[tuple[int, bytes]], packet_id: int) -> bytes:
    offset = 5 * len(options) + 1
    length = HEADER_SIZE + offset + sum(len(value) for _, value in options)
    if length > 0xFFFF:
        raise ValueError(f"a packet of {length} bytes does not fit the u16 Length")
    table = bytearray()
    for token, value in options:
        table += _OPTION.pack(token, offset, len(value))
        offset += len(value)
    table.append(TERMINATOR)
    body = bytes(table) + b"".join(value for _, value in options)
    return _HEADER.pack(packet_type, STATUS_EOM, length, 0, packet_id, 0) + body
