"""SQL Server Browser (SSRP) codec -- protocol layer, no I/O.

Implements [MC-SQLR] 2.2.1-2.2.5: the client requests CLNT_BCAST_EX, CLNT_UCAST_EX, CLNT_UCAST_INST and
CLNT_UCAST_DAC, and the server's SVR_RESP with its RESP_DATA records (plus the 6-byte DAC form of SVR_RESP),
in both directions: ``build_request``/``parse_response`` for the probe engine, ``parse_request``/
``build_response`` for the simulator. Formats and quirks: [MC-SQLR] (cited by section) and the
conformance corpus in ``tests/data/conformance``.

Strategy: one UDP datagram is one message, so every function here takes or returns a whole datagram and
there is no buffering state. A reply is checked from the outside in (opcode, RESP_SIZE, then records) and
any doubt raises ``MalformedReply``; a request is the same in reverse for the simulator. RESP_DATA is
split into ``;`` tokens *as bytes* and only decoded at the end, so a byte that is not valid text can never
raise. Records are cut where ``ServerName`` follows ``;;`` (nmap's rule, not impacket's ``;;`` split,
because ``;;`` also appears inside a record when a value is empty), and inside a record keys are read
with their documented arity (``bv`` takes three values, every other key one), so an empty value never
shifts the key/value pairing.

Choices (where the spec or real clients leave room):

- RESP_SIZE is strict: it must equal the datagram length minus 3, as Microsoft's SqlClient and nmap
  require. A DAC reply (``05 06 00 01 pp pp``, whose RESP_SIZE counts the whole message) therefore fails
  ``parse_response`` and must be decoded with ``parse_dac_response``, by a caller that sent CLNT_UCAST_DAC.
- Spec note <4> (MDAC/SNAC drop CLNT_UCAST_EX replies over 4,096 bytes) is not followed: it is a client
  policy, not a format rule, and rejecting a well-formed reply would only hide instances. The
  1,024-bytes-per-instance and 255-bytes-per-protocol limits are not enforced either (SHOULD rules).
- Text is decoded as latin-1: total (never fails, whatever the server's ANSI code page), no codec module
  to import, and ``value.encode("latin-1")`` gives back the exact bytes sent. Non-ASCII names from a
  cp1252/cp932 server read as mojibake but never break a parse. Builders encode with latin-1 too and
  raise ``ValueError`` for a character it cannot encode.
- Malformed (raise): a first byte other than 0x05; fewer than 3 bytes; a RESP_SIZE mismatch; empty
  RESP_DATA; RESP_DATA that does not start with a ``ServerName`` record; a record without
  ``InstanceName``, ``IsClustered`` or ``Version``, or with an empty ``InstanceName``.
- Tolerated: keys in any case; a missing final ``;;``; stray empty fields between keys; empty values;
  unknown keys (read as ``key;value`` and kept in ``Instance.protocols``); a repeated key (the first one
  wins, as in SqlClient); ``IsClustered`` other than Yes/No (read as not clustered); a ``Version`` that is
  not digits and dots (kept as sent). An unusable ``tcp`` value (missing, ``0``, not all ASCII digits,
  out of 1..65535) gives ``tcp_port`` None, with the value as sent in ``raw_tcp``.
"""

from __future__ import annotations

from check_digitalsentry.protocols import MalformedReply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

CLNT_BCAST_EX = 0x02  #: broadcast/multicast: every instance of every server that hears it
CLNT_UCAST_EX = 0x03  #: one server: all its instances
CLNT_UCAST_INST = 0x04  #: one server: one named instance
CLNT_UCAST_DAC = 0x0F  #: one server: the dedicated admin connection (DAC) port of one instance
SVR_RESP = 0x05  #: the server's reply to any of the above
PROTOCOL_VERSION = 0x01  #: the PROTOCOLVERSION byte of CLNT_UCAST_DAC and of its reply
MAX_INSTANCE_NAME = 32  #: longest INSTANCENAME a request may carry, in bytes, not counting the NUL
MAX_RESP_DATA = 0xFFFF  #: RESP_SIZE is a u16
RECV_BUFFER = 65538  #: receive buffer a client should use: 3-byte header + 65,535 bytes of RESP_DATA

_ENCODING = "latin-1"
_REQUIRED = {b"instancename": "InstanceName", b"isclustered": "IsClustered", b"version": "Version"}
_ARITY = {b"bv": 3}  # every other key, known (np, tcp, via, rpc, spx, adsp) or not, takes one value
_FIELD_KEYS = ("servername", "instancename", "isclustered", "version")
_OPCODES = {CLNT_BCAST_EX: "CLNT_BCAST_EX", CLNT_UCAST_EX: "CLNT_UCAST_EX"}


class Instance:
    """One SQL Server instance as the Browser describes it.

    ``protocols`` maps each lower-case protocol key (``tcp``, ``np``, ``via``, ``rpc``, ``spx``, ``adsp``,
    ``bv``, or anything unknown) to its value as sent (``bv``'s three values joined with ``;``).
    ``raw_tcp``, ``tcp_port`` and ``pipe_name`` are views of it; setting ``tcp_port`` or ``pipe_name``
    (None removes the entry) updates it, which is what ``build_response`` writes.
    """

    __slots__ = ("instance_name", "is_clustered", "protocols", "server_name", "version")

    def __init__(
        self,
        server_name: str,
        instance_name: str,
        *,
        is_clustered: bool = False,
        version: str = "15.0.2000.5",
        tcp_port: int | None = None,
        pipe_name: str | None = None,
    ) -> None:
        self.server_name = server_name
        self.instance_name = instance_name
        self.is_clustered = is_clustered
        self.version = version
        self.protocols: dict[str, str] = {}
        self.tcp_port = tcp_port
        self.pipe_name = pipe_name

    @property
    def raw_tcp(self) -> str | None:
        """The ``tcp`` value as sent, or None when the instance lists no ``tcp`` protocol."""
        return self.protocols.get("tcp")

    @property
    def tcp_port(self) -> int | None:
        """The TCP port to connect to; None when there is none that is usable (see the module docstring)."""
        raw = self.protocols.get("tcp")
        # str.isdigit() is True for '²' and friends: test ASCII digits only (and keep int() cheap).
        if raw is None or not (0 < len(raw) <= 5 and raw.isascii() and raw.isdigit()):
            return None
        port = int(raw)
        return port if 0 < port < 65536 else None

    @tcp_port.setter
    def tcp_port(self, port: int | None) -> None:
        if port is None:
            self.protocols.pop("tcp", None)
        elif not 0 < port < 65536:
            raise ValueError(f"TCP port must be 1-65535, got {port}")
        else:
            self.protocols["tcp"] = str(port)

    @property
    def pipe_name(self) -> str | None:
        """The named-pipe path (``np``), or None when named pipes are not listed."""
        return self.protocols.get("np")

    @pipe_name.setter
    def pipe_name(self, pipe: str | None) -> None:
        if pipe is None:
            self.protocols.pop("np", None)
        else:
            self.protocols["np"] = pipe

    def __repr__(self) -> str:
        return (
            f"Instance({self.server_name!r}, {self.instance_name!r}, is_clustered={self.is_clustered!r}, "
            f"version={self.version!r}, protocols={self.protocols!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instance) and _instance_key(self) == _instance_key(other)


def _instance_key(inst: Instance) -> tuple[object, ...]:
    return (inst.server_name, inst.instance_name, inst.is_clustered, inst.version, inst.protocols)


class Request:
    """A client request as the simulator sees it.

    ``kind`` is the opcode (``CLNT_BCAST_EX``, ``CLNT_UCAST_EX``, ``CLNT_UCAST_INST``, ``CLNT_UCAST_DAC``);
    ``instance`` the requested instance name (None for the two ``_EX`` kinds); ``nul_terminated`` whether
    the name ended with the NUL the spec asks for (always False when there is no name).
    """

    __slots__ = ("instance", "kind", "nul_terminated")

    def __init__(self, kind: int, instance: str | None = None, nul_terminated: bool = False) -> None:
        self.kind = kind
        self.instance = instance
        self.nul_terminated = nul_terminated

    def __repr__(self) -> str:
        return f"Request(0x{self.kind:02x}, {self.instance!r}, nul_terminated={self.nul_terminated!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Request) and (self.kind, self.instance, self.nul_terminated) == (
            other.kind,
            other.instance,
            other.nul_terminated,
        )


# -- client side ---------------------------------------------------------------------------------------


def build_request(instance: str | None = None) -> bytes:
    """CLNT_UCAST_EX (``03``: all instances) without a name, CLNT_UCAST_INST (``04`` name ``00``) with one.

    The name is encoded as latin-1; ValueError when it is empty, holds a NUL or a character latin-1
    cannot encode, or is longer than ``MAX_INSTANCE_NAME`` bytes.
    """
    if instance is None:
        return bytes((CLNT_UCAST_EX,))
    return bytes((CLNT_UCAST_INST,)) + _encode_instance(instance) + b"\x00"


def build_dac_request(instance: str) -> bytes:
    """CLNT_UCAST_DAC (``0F 01`` name ``00``): ask for the DAC port of ``instance``; ValueError as above."""
    return bytes((CLNT_UCAST_DAC, PROTOCOL_VERSION)) + _encode_instance(instance) + b"\x00"


def parse_response(datagram: bytes) -> list[Instance]:
    """The instances listed by an SVR_RESP datagram, in the order sent; MalformedReply if it is not one."""
    size = len(datagram)
    if not size:
        raise MalformedReply("empty datagram, not an SVR_RESP")
    if datagram[0] != SVR_RESP:
        raise MalformedReply(f"first byte 0x{datagram[0]:02x} is not SVR_RESP (0x05)")
    if size < 3:
        raise MalformedReply(f"SVR_RESP of {size} bytes is shorter than its 3-byte header")
    resp_size = datagram[1] | datagram[2] << 8
    if resp_size != size - 3:
        hint = " (a DAC reply? decode it with parse_dac_response)" if resp_size == size == 6 else ""
        raise MalformedReply(f"RESP_SIZE {resp_size} but {size - 3} bytes follow{hint}")
    if not resp_size:
        raise MalformedReply("empty RESP_DATA: no instance listed")
    return _parse_resp_data(bytes(datagram[3:]))


def parse_dac_response(datagram: bytes) -> int:
    """The DAC port from the reply to CLNT_UCAST_DAC: exactly ``05 06 00 01 pp pp`` (port LE, 1-65535)."""
    if len(datagram) != 6:
        raise MalformedReply(f"DAC reply is {len(datagram)} bytes, expected 6")
    if datagram[0] != SVR_RESP:
        raise MalformedReply(f"first byte 0x{datagram[0]:02x} is not SVR_RESP (0x05)")
    resp_size = datagram[1] | datagram[2] << 8
    if resp_size != 6:
        raise MalformedReply(f"DAC reply RESP_SIZE {resp_size}, expected 6")
    if datagram[3] != PROTOCOL_VERSION:
        raise MalformedReply(f"DAC reply PROTOCOLVERSION {datagram[3]}, expected 1")
    port = datagram[4] | datagram[5] << 8
    if not port:
        raise MalformedReply("DAC reply names port 0")
    return port


def _encode_instance(instance: str) -> bytes:
    if not instance:
        raise ValueError("empty instance name")
    try:
        raw = instance.encode(_ENCODING)
    except UnicodeEncodeError:
        raise ValueError(f"instance name {instance!r} is not encodable as latin-1") from None
    if b"\x00" in raw:
        raise ValueError(f"instance name {instance!r} contains a NUL")
    if len(raw) > MAX_INSTANCE_NAME:
        raise ValueError(f"instance name {instance!r} is {len(raw)} bytes; at most {MAX_INSTANCE_NAME}")
    return raw


def _parse_resp_data(data: bytes) -> list[Instance]:
    tokens = data.split(b";")
    # A record starts at a ServerName token that opens RESP_DATA or follows an empty token (";;").
    starts = [i for i, tok in enumerate(tokens) if tok.lower() == b"servername" and (i == 0 or not tokens[i - 1])]
    if not starts or any(tokens[: starts[0]]):
        raise MalformedReply("RESP_DATA does not start with a ServerName record")
    records: list[dict[bytes, list[bytes]]] = []
    for start, end in zip(starts, [*starts[1:], len(tokens)]):
        record: dict[bytes, list[bytes]] = {}
        i = start
        while i < end:
            key = tokens[i].lower()
            if not key:  # the ";;" that ends a record, or a stray empty field: nothing to pair
                i += 1
                continue
            if key == b"servername" and record:  # a record that lacks its ";;" terminator
                records.append(record)
                record = {}
            arity = _ARITY.get(key, 1)
            record.setdefault(key, tokens[i + 1 : min(i + 1 + arity, end)])
            i += 1 + arity
        records.append(record)
    return [_instance(number, record) for number, record in enumerate(records, 1)]


def _instance(number: int, record: dict[bytes, list[bytes]]) -> Instance:
    for key, name in _REQUIRED.items():
        if key not in record:
            raise MalformedReply(f"record {number} has no {name}")
    fields = {key: b";".join(values).decode(_ENCODING) for key, values in record.items()}
    if not fields[b"instancename"]:
        raise MalformedReply(f"record {number} has an empty InstanceName")
    inst = Instance(
        fields.pop(b"servername"),
        fields.pop(b"instancename"),
        is_clustered=fields.pop(b"isclustered").lower() == "yes",
        version=fields.pop(b"version"),
    )
    inst.protocols = {key.decode(_ENCODING): value for key, value in fields.items()}
    return inst


# -- server side (the simulator) -----------------------------------------------------------------------


def parse_request(datagram: bytes) -> Request:
    """The client request in ``datagram``; MalformedReply for anything a real Browser would ignore.

    A CLNT_UCAST_INST or CLNT_UCAST_DAC name without its NUL is accepted (SQL Server 2008 and 2012
    answer such requests) and reported with ``nul_terminated`` False.
    """
    datagram = bytes(datagram)
    if not datagram:
        raise MalformedReply("empty datagram, not a request")
    kind = datagram[0]
    if kind in _OPCODES:
        if len(datagram) != 1:
            raise MalformedReply(f"{_OPCODES[kind]} is 1 byte, got {len(datagram)}")
        return Request(kind)
    if kind == CLNT_UCAST_INST:
        raw = datagram[1:]
    elif kind == CLNT_UCAST_DAC:
        if len(datagram) < 2 or datagram[1] != PROTOCOL_VERSION:
            got = f"0x{datagram[1]:02x}" if len(datagram) > 1 else "nothing"
            raise MalformedReply(f"CLNT_UCAST_DAC PROTOCOLVERSION must be 0x01, got {got}")
        raw = datagram[2:]
    else:
        raise MalformedReply(f"unknown request opcode 0x{kind:02x}")
    nul_terminated = raw.endswith(b"\x00")
    if nul_terminated:
        raw = raw[:-1]
    if not raw:
        raise MalformedReply("request names no instance")
    if b"\x00" in raw:
        raise MalformedReply("instance name has bytes after its NUL")
    if len(raw) > MAX_INSTANCE_NAME:
        raise MalformedReply(f"instance name of {len(raw)} bytes exceeds {MAX_INSTANCE_NAME}")
    return Request(kind, bytes(raw).decode(_ENCODING), nul_terminated)


def build_response(instances: Sequence[Instance]) -> bytes:
    """SVR_RESP listing ``instances``; records are ``ServerName;S;InstanceName;I;IsClustered;No;Version;V``
    then ``tcp``, ``np`` and any other ``protocols`` entries, then ``;;``.

    ValueError when there is no instance (a real Browser stays silent), a value holds ``;`` (``bv`` holds
    exactly two, between its three values), an instance name is empty, text is not latin-1 encodable, or
    RESP_DATA would exceed 65,535 bytes.
    """
    if not instances:
        raise ValueError("no instance to list: a real Browser sends nothing")
    records = []
    for inst in instances:
        if not inst.instance_name:
            raise ValueError("empty instance name")
        fields = [
            "ServerName",
            inst.server_name,
            "InstanceName",
            inst.instance_name,
            "IsClustered",
            "Yes" if inst.is_clustered else "No",
            "Version",
            inst.version,
        ]
        for field in fields:
            if ";" in field:
                raise ValueError(f"{field!r} contains ';'")
        ordered = sorted(inst.protocols.items(), key=lambda item: (item[0] != "tcp", item[0] != "np"))
        for key, value in ordered:
            if not key or ";" in key or key.lower() in _FIELD_KEYS:
                raise ValueError(f"bad protocol key {key!r}")
            if value.count(";") != (2 if key.lower() == "bv" else 0):
                raise ValueError(f"{key} value {value!r} has the wrong number of ';'")
            fields += [key, value]
        records.append(";".join(fields) + ";;")
    try:
        data = "".join(records).encode(_ENCODING)
    except UnicodeEncodeError as exc:
        raise ValueError(f"not encodable as latin-1: {exc.object[exc.start : exc.end]!r}") from None
    if len(data) > MAX_RESP_DATA:
        raise ValueError(f"RESP_DATA of {len(data)} bytes exceeds {MAX_RESP_DATA}")
    return bytes((SVR_RESP, len(data) & 0xFF, len(data) >> 8)) + data


def build_dac_response(port: int) -> bytes:
    """The reply to CLNT_UCAST_DAC: ``05 06 00 01`` + port (u16 LE); ValueError unless 1 <= port <= 65535."""
    if not 0 < port < 65536:
        raise ValueError(f"DAC port must be 1-65535, got {port}")
    return bytes((SVR_RESP, 6, 0, PROTOCOL_VERSION, port & 0xFF, port >> 8))
