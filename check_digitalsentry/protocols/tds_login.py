"""TDS after PRELOGIN -- protocol layer, no I/O: TLS inside TDS packets, LOGIN7, and the server's answer.

What a SQL Server 2005+ does once the PRELOGIN exchange (``tds``) is over, as [MS-TDS] describes it and as
real clients (FreeTDS, pytds, impacket, SqlClient) expect it:

- **TLS inside TDS** (MS-TDS 2.2.6.5, 3.2.5.2): when both sides agreed to encrypt (the server answered
  ENCRYPT_OFF, ON or REQ), the TLS handshake records travel as the payload of TDS packets of type 0x12
  (PRELOGIN), in both directions, one message (packets up to EOM) per flight. After the handshake the TLS
  records go bare on the TCP stream and carry TDS packets inside. With ENCRYPT_OFF only the LOGIN7 message
  is encrypted; the server's answer and everything after it are plaintext again.
- **LOGIN7** (2.2.6.4, packet type 0x10): a fixed 36-byte header, then offset/length pairs (offsets from
  the start of the message, lengths in UTF-16 characters) for host, user, password, application, server,
  library, language and database names, the client id and SSPI data. ``parse_login7`` reads what a
  server needs to answer; ``build_login7`` writes one (tests, conformance round trips).
- **The answer to a failed login** (2.2.7.10 ERROR, 2.2.7.6 DONE): a tabular result (0x04) holding an
  ERROR token -- error 18456 "Login failed for user '<user>'.", class 14, state 1, as SQL Server reports it
  to the client whatever the real reason -- and a DONE token with DONE_ERROR; the server then closes.
  ``build_login_failed`` writes it; ``parse_tokens`` reads such a token stream back.

Framing (2.2.3.1) is generic here: ``build_packets`` splits a payload into packets of at most
``packet_size`` bytes with EOM on the last; ``take_message`` takes the first whole message off a byte
stream. The TDS version of the LOGIN7 (``Login7.tds_version``, the u32 as sent, little-endian) decides two
widths in the answer: ERROR's LineNumber (USHORT before TDS 7.2, LONG after) and DONE's row count (ULONG,
then ULONGLONG). Everything a parser cannot accept raises ``MalformedReply``; builders raise ValueError.
"""

from __future__ import annotations

import struct

from check_digitalsentry.protocols import MalformedReply
from check_digitalsentry.protocols.tds import HEADER_SIZE, MAX_MESSAGE, PACKET_PRELOGIN, PACKET_REPLY, STATUS_EOM

PACKET_LOGIN7 = 0x10
PACKET_SSPI = 0x11
DEFAULT_PACKET_SIZE = 4096  #: the packet size before LOGIN7 negotiates another (SQL Server's default)

TOKEN_ERROR = 0xAA
TOKEN_INFO = 0xAB
TOKEN_LOGINACK = 0xAD
TOKEN_ENVCHANGE = 0xE3
TOKEN_DONE = 0xFD
DONE_ERROR = 0x0002  #: DONE status bit: the command ended in an error

LOGIN_FAILED = 18456  #: "Login failed for user '%.*ls'.%.*ls%.*ls"
LOGIN_FAILED_CLASS = 14
LOGIN_FAILED_STATE = 1  #: what the client sees; the real reason's state goes to the server's error log only

TDS_7_4 = 0x74000004  #: LOGIN7 TDSVersion of a TDS 7.4 client (SQL Server 2012+), as the u32 reads
TDS_8_0 = 0x08000000  #: LOGIN7 TDSVersion of a TDS 8.0 ("strict", TLS first) client

_HEADER = struct.Struct(">BBHHBB")
_LOGIN_FIXED = struct.Struct("<IIIIIIBBBBiI")  #: Length ... ClientLCID: 36 bytes
_OFFSET = struct.Struct("<HH")
#: The offset/length pairs before ClientID, in order (cbUnused/cbExtension is a byte count, not characters).
_NAMES = ("hostname", "username", "password", "app_name", "server_name", "extension", "library", "language",
          "database")
_CLIENT_ID_AT = _LOGIN_FIXED.size + 4 * len(_NAMES)  #: 72; then ibSSPI/cbSSPI, ibAtchDBFile, ibChangePassword
_VARIABLE_AT = _CLIENT_ID_AT + 6 + 4 * 3 + 4  #: 94: where a TDS 7.2+ LOGIN7's variable part starts


# -- framing -------------------------------------------------------------------------------------------


def build_packets(packet_type: int, payload: bytes, *, packet_size: int = DEFAULT_PACKET_SIZE,
                  packet_id: int = 1, spid: int = 0) -> bytes:
    """``payload`` as one TDS message: packets of at most ``packet_size`` bytes (header included), EOM on
    the last, PacketID counting up from ``packet_id`` (mod 256). An empty payload is one bare header.
    ValueError for a packet size below 512 or above 32,767 (the limits LOGIN7 may negotiate)."""
    if not 512 <= packet_size <= 32767:
        raise ValueError(f"packet size must be 512-32767, got {packet_size}")
    if not 0 <= packet_type <= 0xFF or not 0 <= spid <= 0xFFFF:
        raise ValueError(f"packet type {packet_type} or SPID {spid} out of range")
    room = packet_size - HEADER_SIZE
    chunks = [payload[i : i + room] for i in range(0, len(payload), room)] or [b""]
    out = bytearray()
    for number, chunk in enumerate(chunks):
        status = STATUS_EOM if number == len(chunks) - 1 else 0
        out += _HEADER.pack(packet_type, status, HEADER_SIZE + len(chunk), spid, (packet_id + number) % 256, 0)
        out += chunk
    return bytes(out)


def take_message(data: bytes) -> tuple[int, bytes, bytes] | None:
    """The first whole message in ``data``: (packet type, payload of all its packets, the bytes after it);
    None while it is incomplete. MalformedReply for a Length below 8, a packet type that changes inside
    the message, or ``MAX_MESSAGE`` bytes without EOM."""
    pos = 0
    kind: int | None = None
    payload = bytearray()
    while True:
        if len(data) - pos < HEADER_SIZE:
            if pos >= MAX_MESSAGE:
                raise MalformedReply(f"no EOM packet in {pos} bytes")
            return None
        packet_type, status, length = data[pos], data[pos + 1], data[pos + 2] << 8 | data[pos + 3]
        if length < HEADER_SIZE:
            raise MalformedReply(f"Length {length} is shorter than the {HEADER_SIZE}-byte header")
        if kind is not None and packet_type != kind:
            raise MalformedReply(f"packet type 0x{packet_type:02x} inside a message of type 0x{kind:02x}")
        if len(data) - pos < length:
            return None
        kind = packet_type
        payload += data[pos + HEADER_SIZE : pos + length]
        pos += length
        if status & STATUS_EOM:
            return kind, bytes(payload), data[pos:]


def wrap_tls(records: bytes, *, packet_size: int = DEFAULT_PACKET_SIZE) -> bytes:
    """TLS handshake bytes as the PRELOGIN (0x12) message that carries them during the TLS handshake."""
    return build_packets(PACKET_PRELOGIN, records, packet_size=packet_size)


# -- LOGIN7 --------------------------------------------------------------------------------------------


class Login7:
    """What a server reads from a LOGIN7: ``tds_version`` (the u32 as it reads little-endian, e.g.
    0x74000004), ``packet_size``, ``client_version`` and ``client_pid``, the names (str, "" when absent),
    ``password`` (deobfuscated), ``client_id`` (6 bytes, often a MAC address) and ``sspi`` (bytes: Windows
    authentication instead of a user name)."""

    __slots__ = ("app_name", "client_id", "client_pid", "client_version", "database", "hostname", "language",
                 "library", "packet_size", "password", "server_name", "sspi", "tds_version", "username")

    def __init__(self, *, tds_version: int = TDS_7_4, packet_size: int = DEFAULT_PACKET_SIZE,
                 client_version: int = 0, client_pid: int = 0, hostname: str = "", username: str = "",
                 password: str = "", app_name: str = "", server_name: str = "", library: str = "",
                 language: str = "", database: str = "", client_id: bytes = bytes(6), sspi: bytes = b"") -> None:
        self.tds_version = tds_version
        self.packet_size = packet_size
        self.client_version = client_version
        self.client_pid = client_pid
        self.hostname = hostname
        self.username = username
        self.password = password
        self.app_name = app_name
        self.server_name = server_name
        self.library = library
        self.language = language
        self.database = database
        self.client_id = client_id
        self.sspi = sspi

    @property
    def tds_version_name(self) -> str:
        """``7.4``, ``7.2``, ``7.1``... (``8.0``): the TDS version by its major byte."""
        major = 0x80 if self.tds_version == TDS_8_0 else self.tds_version >> 24
        return f"{major >> 4}.{major & 0xF}"

    def __repr__(self) -> str:  # no password
        return (f"Login7(tds {self.tds_version_name}, user {self.username!r}, host {self.hostname!r}, "
                f"app {self.app_name!r}, library {self.library!r}, server {self.server_name!r}, "
                f"database {self.database!r}, sspi {len(self.sspi)} bytes)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Login7) and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)


def parse_login7(payload: bytes) -> Login7:
    """The LOGIN7 in ``payload`` (the message's packets' payloads, joined); MalformedReply when it is not one.
    Only what a server answers with is read: the header, the names and the SSPI data (not cbSSPILong,
    the attach file, the new password or the feature extensions)."""
    size = len(payload)
    if size < _CLIENT_ID_AT + 6:
        raise MalformedReply(f"a LOGIN7 of {size} bytes is shorter than its {_CLIENT_ID_AT + 6}-byte fixed part")
    length, tds_version, packet_size, client_version, client_pid = _LOGIN_FIXED.unpack_from(payload)[:5]
    if not _CLIENT_ID_AT + 6 <= length <= size:
        raise MalformedReply(f"LOGIN7 Length says {length} but the message holds {size} bytes")
    if tds_version >> 28 != 7 and tds_version != TDS_8_0:
        raise MalformedReply(f"TDSVersion 0x{tds_version:08x} is neither TDS 7.x nor 8.0")
    names: dict[str, str] = {}
    for index, name in enumerate(_NAMES):
        offset, count = _OFFSET.unpack_from(payload, _LOGIN_FIXED.size + 4 * index)
        if name == "extension":
            continue  # ibExtension points at a DWORD offset to the feature extensions (TDS 7.4): unused here
        raw = _field(payload, name, offset, 2 * count)
        if name == "password":
            names[name] = _unscramble(raw)
            continue
        try:
            names[name] = raw.decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise MalformedReply(f"LOGIN7 {name} is not UTF-16: {exc.reason}") from None
    sspi = b""
    if size >= _CLIENT_ID_AT + 10:
        offset, count = _OFFSET.unpack_from(payload, _CLIENT_ID_AT + 6)
        sspi = _field(payload, "SSPI", offset, count)
    return Login7(tds_version=tds_version, packet_size=packet_size, client_version=client_version,
                  client_pid=client_pid, client_id=payload[_CLIENT_ID_AT : _CLIENT_ID_AT + 6], sspi=sspi, **names)


def build_login7(login: Login7) -> bytes:
    """The LOGIN7 payload for ``login`` (TDS 7.2+ layout, no feature extensions): a client's message, for
    tests and the simulator's own round trips. Send it with ``build_packets(PACKET_LOGIN7, ...)``."""
    texts = {name: getattr(login, name) for name in _NAMES if name != "extension"}
    data = bytearray()
    pairs = []
    for name in _NAMES:
        if name == "extension":
            pairs.append((_VARIABLE_AT + len(data), 0))
            continue
        raw = texts[name].encode("utf-16-le")
        pairs.append((_VARIABLE_AT + len(data), len(raw) // 2))
        data += _scramble(raw) if name == "password" else raw
    sspi_at = _VARIABLE_AT + len(data)
    data += login.sspi
    end = _VARIABLE_AT + len(data)
    length = end
    fixed = _LOGIN_FIXED.pack(length, login.tds_version, login.packet_size, login.client_version,
                              login.client_pid, 0, 0xE0, 0x03, 0, 0, 0, 0x0409)
    table = b"".join(_OFFSET.pack(offset, count) for offset, count in pairs)
    if length > 0xFFFF or len(login.client_id) != 6:
        raise ValueError(f"a LOGIN7 of {length} bytes, or a client id of {len(login.client_id)} bytes (not 6)")
    tail = login.client_id + _OFFSET.pack(sspi_at, len(login.sspi)) + _OFFSET.pack(end, 0) * 2 + bytes(4)
    return fixed + table + tail + bytes(data)


def _field(payload: bytes, name: str, offset: int, size: int) -> bytes:
    if size and (offset < _CLIENT_ID_AT or offset + size > len(payload)):
        raise MalformedReply(f"LOGIN7 {name} at offset {offset} length {size} lies outside the "
                             f"{len(payload)}-byte message")
    return payload[offset : offset + size]


def _scramble(raw: bytes) -> bytes:
    """The LOGIN7 password on the wire (2.2.6.4): each byte's nibbles swapped, then XOR 0xA5."""
    return bytes(((b << 4 | b >> 4) & 0xFF) ^ 0xA5 for b in raw)


def _unscramble(raw: bytes) -> str:
    """The LOGIN7 password in clear: XOR 0xA5, then the nibbles swapped back (undecodable units replaced)."""
    plain = bytes((((b ^ 0xA5) << 4) | ((b ^ 0xA5) >> 4)) & 0xFF for b in raw)
    return plain.decode("utf-16-le", "replace")


def wide_fields(tds_version: int) -> bool:
    """True from TDS 7.2 on (and for 8.0): ERROR's LineNumber is a LONG and DONE's row count a ULONGLONG."""
    return tds_version >> 24 >= 0x72 or tds_version == TDS_8_0


# -- the server's answer -------------------------------------------------------------------------------


class ServerMessage:
    """An ERROR or INFO token: ``number``, ``state``, ``severity`` (the class), ``text``, ``server``,
    ``procedure``, ``line``; ``error`` is True for ERROR (0xAA)."""

    __slots__ = ("error", "line", "number", "procedure", "server", "severity", "state", "text")

    def __init__(self, number: int, state: int, severity: int, text: str, server: str = "", procedure: str = "",
                 line: int = 1, *, error: bool = True) -> None:
        self.number = number
        self.state = state
        self.severity = severity
        self.text = text
        self.server = server
        self.procedure = procedure
        self.line = line
        self.error = error

    def __repr__(self) -> str:
        kind = "Msg" if self.error else "Info"
        return (f"{kind} {self.number}, Level {self.severity}, State {self.state}, Server {self.server}, "
                f"Line {self.line}: {self.text}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerMessage) and all(
            getattr(self, s) == getattr(other, s) for s in self.__slots__)


def login_failed_text(user: str) -> str:
    """``Login failed for user 'sa'.``: SQL Server's text of error 18456 as the client sees it."""
    return f"Login failed for user '{user}'."


def build_error_token(message: ServerMessage, *, tds_version: int = TDS_7_4) -> bytes:
    """One ERROR (or INFO) token; ValueError for text longer than its length fields allow."""
    line = struct.pack("<i" if wide_fields(tds_version) else "<H", message.line)
    body = (struct.pack("<iBB", message.number, message.state, message.severity)
            + _varchar(message.text, 2) + _varchar(message.server, 1) + _varchar(message.procedure, 1) + line)
    if len(body) > 0xFFFF:
        raise ValueError(f"an ERROR token of {len(body)} bytes does not fit its USHORT Length")
    return bytes((TOKEN_ERROR if message.error else TOKEN_INFO,)) + struct.pack("<H", len(body)) + body


def build_done_token(status: int = 0, *, tds_version: int = TDS_7_4) -> bytes:
    """A DONE token: ``status`` (DONE_ERROR...), CurCmd 0, row count 0 (ULONGLONG from TDS 7.2 on)."""
    count = bytes(8 if wide_fields(tds_version) else 4)
    return bytes((TOKEN_DONE,)) + struct.pack("<HH", status, 0) + count


def build_login_failed(user: str, *, server: str, tds_version: int = TDS_7_4,
                       packet_size: int = DEFAULT_PACKET_SIZE) -> bytes:
    """SQL Server's whole answer to a LOGIN7 it refuses: a tabular result (0x04) holding ERROR 18456 (class
    14, state 1, line 1) from ``server`` and DONE with DONE_ERROR. The server closes the connection after."""
    error = ServerMessage(LOGIN_FAILED, LOGIN_FAILED_STATE, LOGIN_FAILED_CLASS, login_failed_text(user), server)
    tokens = build_error_token(error, tds_version=tds_version) + build_done_token(DONE_ERROR,
                                                                                  tds_version=tds_version)
    return build_packets(PACKET_REPLY, tokens, packet_size=packet_size)


def parse_tokens(payload: bytes, *, tds_version: int = TDS_7_4) -> tuple[list[ServerMessage], list[int]]:
    """The messages (ERROR, INFO) and the DONE statuses in a login answer's token stream; LOGINACK and
    ENVCHANGE are skipped. MalformedReply for any other token, or a token that runs past the end."""
    messages: list[ServerMessage] = []
    done: list[int] = []
    wide = wide_fields(tds_version)
    pos = 0
    size = len(payload)
    while pos < size:
        token = payload[pos]
        if token == TOKEN_DONE:
            end = pos + 5 + (8 if wide else 4)
            if end > size:
                raise MalformedReply(f"DONE token at {pos} runs past the {size}-byte stream")
            done.append(struct.unpack_from("<H", payload, pos + 1)[0])
            pos = end
            continue
        if token not in (TOKEN_ERROR, TOKEN_INFO, TOKEN_LOGINACK, TOKEN_ENVCHANGE):
            raise MalformedReply(f"unexpected token 0x{token:02x} at {pos} in a login answer")
        if pos + 3 > size:
            raise MalformedReply(f"token 0x{token:02x} at {pos} has no length")
        length = struct.unpack_from("<H", payload, pos + 1)[0]
        end = pos + 3 + length
        if end > size:
            raise MalformedReply(f"token 0x{token:02x} at {pos} of length {length} runs past the "
                                 f"{size}-byte stream")
        if token in (TOKEN_ERROR, TOKEN_INFO):
            messages.append(_message(payload[pos + 3 : end], wide, error=token == TOKEN_ERROR))
        pos = end
    return messages, done


def _message(body: bytes, wide: bool, *, error: bool) -> ServerMessage:
    try:
        number, state, severity = struct.unpack_from("<iBB", body)
        at = 6
        text, at = _read_varchar(body, at, 2)
        server, at = _read_varchar(body, at, 1)
        procedure, at = _read_varchar(body, at, 1)
        (line,) = struct.unpack_from("<i" if wide else "<H", body, at)
        at += 4 if wide else 2
    except (struct.error, UnicodeDecodeError) as exc:
        raise MalformedReply(f"{'ERROR' if error else 'INFO'} token does not parse: {exc}") from None
    if at != len(body):
        raise MalformedReply(f"{len(body) - at} bytes after the {'ERROR' if error else 'INFO'} token's LineNumber")
    return ServerMessage(number, state, severity, text, server, procedure, line, error=error)


def _varchar(text: str, width: int) -> bytes:
    raw = text.encode("utf-16-le")
    limit = 0xFFFF if width == 2 else 0xFF
    if len(raw) // 2 > limit:
        raise ValueError(f"{text[:20]!r}... is longer than {limit} characters")
    return (struct.pack("<H", len(raw) // 2) if width == 2 else bytes((len(raw) // 2,))) + raw


def _read_varchar(body: bytes, at: int, width: int) -> tuple[str, int]:
    count = struct.unpack_from("<H" if width == 2 else "<B", body, at)[0]
    at += width
    raw = body[at : at + 2 * count]
    if len(raw) != 2 * count:
        raise struct.error(f"a {count}-character string runs past the token")
    return raw.decode("utf-16-le"), at + 2 * count
