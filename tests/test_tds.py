"""TDS PRELOGIN codec: the conformance corpus, framing fed byte by byte and split, edge cases, fuzzing."""

from __future__ import annotations

import codecs
import struct
from typing import Any

import pytest
from conformance import Sample, classify, corpus_files, read_sample, sample_params
from hypothesis import given, settings
from hypothesis import strategies as st
from support import modules_loaded_by

from check_digitalsentry.protocols import MalformedReply, tds

FUZZ = settings(max_examples=500, deadline=None)

#: The message each malformed sample must be refused with (the whole corpus must at least raise).
ERRORS = {
    "edge_02_truncated_header_5_bytes.bin": r"^truncated TDS header \(5 of 8 bytes\)$",
    "edge_04_wrong_packet_type_0x03.bin": r"^packet type 0x03 is not a tabular response \(0x04\)$",
    "edge_05_terminator_missing.bin": r"^no 0xFF terminator in the option table",
    "edge_06_zeroed_table_tail.bin": r"^no 0xFF terminator in the option table",
    "honeypot_02_opencanary_2012_truncated.bin": r"^Length says 37 but only 33 bytes$",
    "honeypot_03_opencanary_2008r2_dot_length.bin": r"^Length says 46 but only 33 bytes$",
    "honeypot_05_beelzebub_table_without_data.bin": r"^Length says 43 but only 34 bytes$",
}
#: The reply of SQL Server 2008 SP3 (pytds fixture; real_01): VERSION, ENCRYPTION, INSTOPT, THREADID, MARS.
REPLY = bytes.fromhex("0401002b0000010000001a00060100200001020021000103002200000400220001ff0a0015880000020000")


def packet(
    body: bytes, *, kind: int = tds.PACKET_REPLY, status: int = tds.STATUS_EOM, packet_id: int = 1
) -> bytes:
    return struct.pack(">BBHHBB", kind, status, 8 + len(body), 0, packet_id, 0) + body


def table(*entries: tuple[int, int, int], data: bytes = b"") -> bytes:
    """An option table (token, offset, length)... + 0xFF, then ``data``."""
    return b"".join(struct.pack(">BHH", *entry) for entry in entries) + b"\xff" + data


def split(message: bytes, cuts: list[int]) -> bytes:
    """The one-packet ``message`` re-sent as several packets, its body cut at ``cuts``."""
    body = message[8:]
    bounds = [0, *sorted(set(cuts)), len(body)]
    chunks = [body[a:b] for a, b in zip(bounds, bounds[1:])]
    return b"".join(
        packet(
            chunk,
            kind=message[0],
            status=tds.STATUS_EOM if n == len(chunks) - 1 else 0,
            packet_id=(message[6] + n) % 256,
        )
        for n, chunk in enumerate(chunks)
    )


def threadid_length(message: bytes) -> int | None:
    """The THREADID option's length, read straight from the (single-packet) table."""
    body = message[8:]
    for pos in range(0, len(body), 5):
        if body[pos] == tds.TERMINATOR:
            return None
        if body[pos] == tds.THREADID:
            return int(body[pos + 3] << 8 | body[pos + 4])
    return None


# -- the conformance corpus ----------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sample_params("tds/"))
def test_conformance(sample: Sample) -> None:
    data = read_sample(sample)
    expected: dict[str, Any] = sample["expected"]
    kind = classify(sample)
    checked = {"encryption_note", "notes"}
    if kind == "tds-error":
        name = sample["file"].rsplit("/", 1)[-1]
        with pytest.raises(MalformedReply, match=ERRORS.get(name, "")):
            tds.parse_prelogin_response(data)
        # The engine reads until reply_complete says True (or EOF): it must never wait on these forever.
        assert tds.reply_complete(data) or len(data) < struct.unpack_from(">H", data, 2)[0]
        checked |= {"error", "partial"}
    elif kind == "tds-reply":
        reply = tds.parse_prelogin_response(data)
        assert data[0] == expected["packet_type"]
        assert struct.unpack_from(">H", data, 2)[0] == expected["length"] == len(data)
        if "status" in expected:
            assert data[1] == expected["status"]
        assert reply.version_string == expected["version"]
        assert reply.encryption == expected["encryption"]
        assert expected["encryption_note"].startswith(f"{reply.encryption_name}({reply.encryption})")
        for key, attribute in (("instopt", "instopt"), ("mars", "mars"), ("fedauthrequired", "fedauth_required")):
            if key in expected:
                assert getattr(reply, attribute) == expected[key], key
        if "options" in expected:
            assert reply.options == expected["options"]
        if "threadid_len" in expected:
            assert threadid_length(data) == expected["threadid_len"]
        if expected.get("honeypot"):
            # Parsed like any server: telling a honeypot apart is the judge's business, not the codec's.
            assert reply.packet_id == 0 or reply.version[0] > 16
        else:
            assert reply.packet_id == 1
        assert tds.reply_complete(data)
        # The simulator's builder writes what real servers wrote, byte for byte.
        rebuilt = tds.build_prelogin_response(
            version=reply.version,
            encryption=reply.encryption,
            instopt=reply.instopt,
            mars=reply.mars,
            fedauth_required=reply.fedauth_required,
            packet_id=reply.packet_id,
        )
        assert rebuilt == data
        checked |= {"packet_type", "status", "length", "version", "encryption", "instopt", "mars", "options"}
        checked |= {"fedauthrequired", "threadid_len", "honeypot"}
    elif kind == "tds-request":
        request = tds.parse_prelogin_request(data)
        assert data[0] == expected["packet_type"]
        assert struct.unpack_from(">H", data, 2)[0] == expected["length"] == len(data)
        assert request.version_string == expected["client_version"]
        assert request.encryption == expected["encryption"]
        assert expected["encryption_note"].startswith(f"{request.encryption_name}({request.encryption})")
        assert request.instopt == codecs.escape_decode(expected["instopt"].encode())[0]
        if "threadid" in expected:
            assert request.threadid == expected["threadid"]
        if "threadid_raw" in expected:
            assert request.threadid is not None
            assert struct.pack("<I", request.threadid).hex() == expected["threadid_raw"]
        if "mars" in expected:
            assert request.mars == expected["mars"]
        assert tds.request_complete(data)
        # build_prelogin can say the same (it always sends PacketID 1).
        assert request.encryption is not None and request.instance is not None
        assert request.threadid is not None
        rebuilt = tds.build_prelogin(
            encryption=request.encryption,
            version=request.version,
            instance=request.instance,
            threadid=request.threadid,
            mars=request.mars,
        )
        assert rebuilt == data[:6] + b"\x01" + data[7:]
        checked |= {"packet_type", "length", "client_version", "encryption", "instopt", "threadid"}
        checked |= {"threadid_raw", "mars"}
    elif kind == "tds-login":
        # Its fields are test_tds_login.py's; to the PRELOGIN codec a LOGIN7 is neither a reply nor a request.
        with pytest.raises(MalformedReply, match=r"^packet type 0x10 is not a tabular response"):
            tds.parse_prelogin_response(data)
        with pytest.raises(MalformedReply, match=r"^packet type 0x10 is not a PRELOGIN request"):
            tds.parse_prelogin_request(data)
        checked |= set(expected)
    else:
        pytest.fail(f"{sample['file']} is a {kind} sample under tds/")
    assert not set(expected) - checked, f"expected.json fields no test checks: {set(expected) - checked}"


# -- framing: whole, byte by byte, split ---------------------------------------------------------------


@pytest.mark.parametrize("sample", sample_params("tds/", "tds-reply"))
def test_reply_fed_one_byte_at_a_time(sample: Sample) -> None:
    data = read_sample(sample)
    assert not tds.reply_complete(b"")
    for end in range(1, len(data)):
        assert not tds.reply_complete(data[:end]), end
    assert tds.reply_complete(data)
    assert tds.parse_prelogin_response(data) == tds.parse_prelogin_response(bytes(bytearray(data)))


@pytest.mark.parametrize("sample", sample_params("tds/", "tds-reply"))
def test_reply_split_into_packets_parses_the_same(sample: Sample) -> None:
    data = read_sample(sample)
    whole = tds.parse_prelogin_response(data)
    body_size = len(data) - 8
    for cuts in ([1], [5], [body_size - 1], [1, 2, 3], list(range(1, body_size))):
        message = split(data, cuts)
        assert tds.parse_prelogin_response(message) == whole, cuts
        for end in range(len(message)):
            assert not tds.reply_complete(message[:end]), (cuts, end)
        assert tds.reply_complete(message)


@FUZZ
@given(st.lists(st.integers(0, len(REPLY) - 8), max_size=10), st.binary(max_size=20))
def test_split_points_never_matter(cuts: list[int], extra: bytes) -> None:
    message = split(REPLY, cuts)
    assert tds.parse_prelogin_response(message) == tds.parse_prelogin_response(REPLY)
    assert tds.reply_complete(message + extra)
    if extra:
        with pytest.raises(MalformedReply, match=r"^\d+ bytes? after the final \(EOM\) packet$"):
            tds.parse_prelogin_response(message + extra)


def test_empty_packets_are_allowed_before_eom() -> None:
    message = packet(b"", status=0) + packet(b"", status=0) + packet(REPLY[8:], packet_id=3)
    assert tds.parse_prelogin_response(message).packet_id == 1


def test_other_status_bits_are_ignored() -> None:
    assert tds.parse_prelogin_response(REPLY[:1] + b"\x09" + REPLY[2:]) == tds.parse_prelogin_response(REPLY)


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x00\xa5\x01\x00\x00",  # a TLS ClientHello/ServerHello record
        b"\x15\x03\x03\x00\x02\x02\x28",  # a TLS alert (handshake failure)
        b"\x15",  # one byte is already not a TDS reply
        b"\x03\x01\x00\x2b",  # wrong packet type
        b"HTTP/1.1 400 Bad Request\r\n",
        REPLY[:2] + b"\x00\x07" + REPLY[4:8],  # Length below the header size
    ],
    ids=["tls-handshake", "tls-alert", "one-byte", "wrong-type", "http", "length-7"],
)
def test_reply_complete_stops_early_on_what_can_be_rejected(data: bytes) -> None:
    assert tds.reply_complete(data)
    with pytest.raises(MalformedReply):
        tds.parse_prelogin_response(data)


def test_reply_complete_gives_up_after_max_message_without_eom() -> None:
    chunk = packet(bytes(4000), status=0)
    endless = chunk * (tds.MAX_MESSAGE // len(chunk))
    assert not tds.reply_complete(endless)
    assert tds.reply_complete(endless + chunk)
    with pytest.raises(MalformedReply, match=r"^Length says 4008 but only 4005 bytes in packet 17$"):
        tds.parse_prelogin_response((endless + chunk)[:-3])


def test_looks_like_tls() -> None:
    assert tds.looks_like_tls(b"\x16\x03\x01\x02\x00")
    assert tds.looks_like_tls(b"\x15\x03\x03")
    assert not tds.looks_like_tls(b"\x16")
    assert not tds.looks_like_tls(b"")
    assert not tds.looks_like_tls(b"\x16\x02")
    assert not tds.looks_like_tls(b"\x17\x03\x03")
    assert not tds.looks_like_tls(REPLY)


def test_a_tls_answer_is_named_in_the_error() -> None:
    with pytest.raises(
        MalformedReply, match=r"^packet type 0x16 is not a tabular response \(0x04\): a TLS handshake"
    ):
        tds.parse_prelogin_response(b"\x16\x03\x01\x00\x05hello")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^truncated TDS header \(0 of 8 bytes\)$"),
        (REPLY[:7], r"^truncated TDS header \(7 of 8 bytes\)$"),
        (REPLY[:1] + b"\x00" + REPLY[2:], r"^no EOM status bit in 1 packet\(s\): the message is cut$"),
        (split(REPLY, [3])[:-5], r"^Length says 40 but only 35 bytes in packet 2$"),
        (split(REPLY, [3])[:11] + b"\x12" + split(REPLY, [3])[12:], r"^packet type 0x12 in packet 2 is not"),
        (split(REPLY, [3])[:13] + b"\x00\x05" + split(REPLY, [3])[15:], r"^Length 5 in packet 2 is shorter"),
        (REPLY[:2] + b"\x00\x00" + REPLY[4:], r"^Length 0 is shorter than the 8-byte header$"),
        (REPLY + b"\x00", r"^1 byte after the final \(EOM\) packet$"),
        (REPLY + REPLY, r"^43 bytes after the final \(EOM\) packet$"),
        (packet(b""), r"^no 0xFF terminator in the option table \(0-byte body\)$"),
        (packet(b"\x00\x00\x06\x00"), r"^no 0xFF terminator in the option table \(4-byte body\)$"),
        (packet(REPLY[8:37]), r"^option VERSION at offset 26 length 6 runs past the 29-byte body$"),
        (packet(table((0, 0xFFFF, 2), data=b"x")), r"^option VERSION at offset 65535 length 2 runs past"),
        (packet(table((0, 2, 6), data=bytes(8))), r"^option VERSION at offset 2 points into the 6-byte table$"),
        (packet(table((0x42, 0, 0), data=bytes(8))), r"^option 0x42 at offset 0 points into the 6-byte table$"),
        (packet(b"\xff"), r"^no VERSION option in the PRELOGIN reply$"),
        (packet(table((1, 6, 1), data=b"\x02")), r"^no VERSION option in the PRELOGIN reply$"),
        (packet(table((0, 6, 6), data=bytes(6))), r"^no ENCRYPTION option in the PRELOGIN reply$"),
        (packet(table((0, 11, 5), (1, 16, 1), data=bytes(6))), r"^option VERSION has 5 bytes, expected 6$"),
        (packet(table((0, 11, 7), (1, 18, 1), data=bytes(8))), r"^option VERSION has 7 bytes, expected 6$"),
        (packet(table((0, 11, 6), (1, 17, 2), data=bytes(8))), r"^option ENCRYPTION has 2 bytes, expected 1$"),
        (packet(table((0, 11, 6), (1, 17, 0), data=bytes(6))), r"^option ENCRYPTION has 0 bytes, expected 1$"),
        (
            packet(table((0, 16, 6), (1, 22, 1), (4, 23, 2), data=bytes(9))),
            r"^option MARS has 2 bytes, expected 1$",
        ),
        (
            packet(table((0, 16, 6), (1, 22, 1), (2, 23, 12), data=bytes(19))),
            r"^option INSTOPT has 12 bytes, expected 1$",
        ),
        (
            packet(table((0, 16, 6), (1, 22, 1), (0, 16, 6), data=bytes(7))),
            r"^option VERSION appears twice$",
        ),
    ],
    ids=[
        "empty",
        "header-7-bytes",
        "no-eom",
        "second-packet-cut",
        "second-packet-wrong-type",
        "second-packet-length-5",
        "length-0",
        "trailing-byte",
        "two-replies",
        "empty-body",
        "table-cut",
        "version-runs-past",
        "no-16-bit-wrap",
        "offset-into-table",
        "unknown-offset-into-table",
        "terminator-only",
        "no-version",
        "no-encryption",
        "version-5",
        "version-7",
        "encryption-2",
        "encryption-0",
        "mars-2",
        "instopt-name",
        "duplicate",
    ],
)
def test_parse_prelogin_response_refuses(data: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        tds.parse_prelogin_response(data)


def test_unknown_options_and_threadid_are_only_bounds_checked() -> None:
    body = table(
        (0x42, 21, 3),
        (0, 24, 6),
        (3, 30, 4),
        (1, 34, 1),
        data=b"abc" + b"\x10\x00\x03\xe8\x00\x00" + b"tid!" + b"\x03",
    )
    reply = tds.parse_prelogin_response(packet(body + b"ignored tail"))
    assert reply.options == [0x42, tds.VERSION, tds.THREADID, tds.ENCRYPTION]
    assert (reply.version_string, reply.encryption_name) == ("16.0.1000.0", "ENCRYPT_REQ")
    assert (reply.instopt, reply.mars, reply.fedauth_required) == (None, None, None)


def test_zero_length_option_may_point_at_the_end_of_the_body() -> None:
    body = table((0, 16, 6), (1, 22, 1), (3, 23, 0), data=bytes(6) + b"\x00")
    assert tds.parse_prelogin_response(packet(body)).options == [0, 1, 3]


def test_encryption_is_kept_raw() -> None:
    for value, name in ((0, "ENCRYPT_OFF"), (1, "ENCRYPT_ON"), (2, "ENCRYPT_NOT_SUP"), (3, "ENCRYPT_REQ")):
        assert tds.parse_prelogin_response(tds.build_prelogin_response(encryption=value)).encryption_name == name
    odd = tds.parse_prelogin_response(tds.build_prelogin_response(encryption=0x20))
    assert (odd.encryption, odd.encryption_name) == (0x20, "0x20")
    assert tds.Prelogin((1, 0, 0, 0), 0x81).encryption_name == "ENCRYPT_ON|ENCRYPT_CLIENT_CERT"


def test_version_fields() -> None:
    reply = tds.parse_prelogin_response(tds.build_prelogin_response(version=(255, 254, 65535, 258)))
    assert reply.version == (255, 254, 65535, 258)
    assert reply.version_string == "255.254.65535.258"


# -- builders ------------------------------------------------------------------------------------------


def test_build_prelogin_default_is_an_ordinary_client_request() -> None:
    data = tds.build_prelogin()
    assert data[:8] == bytes.fromhex("1201002f00000100")
    request = tds.parse_prelogin_request(data)
    assert request == tds.PreloginRequest(
        (9, 0, 0, 0),  # what FreeTDS sends (TDS 7.2+), not 0.0.0.0
        encryption=tds.ENCRYPT_OFF,
        instopt=b"\x00",
        threadid=0,
        mars=0,
        options=[tds.VERSION, tds.ENCRYPTION, tds.INSTOPT, tds.THREADID, tds.MARS],
        packet_id=1,
    )
    assert request.instance == ""
    assert tds.request_complete(data)


def test_build_prelogin_reproduces_the_ms_tds_example() -> None:
    example = bytes.fromhex(
        "1201002f0000010000001a00060100200001020021000103002200040400260001ff0900000000000100b80d000001"
    )
    assert tds.build_prelogin(encryption=tds.ENCRYPT_ON, version=(9, 0, 0, 0), threadid=3512, mars=1) == example


@pytest.mark.parametrize(
    "kwargs",
    [
        {"encryption": 256},
        {"encryption": -1},
        {"version": (256, 0, 0, 0)},
        {"version": (0, 0, 65536, 0)},
        {"version": (0, 0, 0, -1)},
        {"version": (1, 2, 3)},
        {"threadid": 2**32},
        {"instance": "A\x00"},
        {"instance": "监控"},
        {"instance": "A" * 70000},
    ],
)
def test_build_prelogin_refuses(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        tds.build_prelogin(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"encryption": 256},
        {"version": (0, 0, 70000, 0)},
        {"instopt": -1},
        {"fedauth_required": 300},
        {"packet_id": 256},
    ],
)
def test_build_prelogin_response_refuses(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        tds.build_prelogin_response(**kwargs)


def test_build_prelogin_response_defaults() -> None:
    data = tds.build_prelogin_response()
    assert len(data) == 43
    assert tds.parse_prelogin_response(data) == tds.Prelogin(
        (15, 0, 2000, 0), tds.ENCRYPT_NOT_SUP, instopt=0, mars=0, options=[0, 1, 2, 3, 4], packet_id=1
    )
    short = tds.build_prelogin_response(mars=None, instopt=None, fedauth_required=1, packet_id=0)
    assert tds.parse_prelogin_response(short) == tds.Prelogin(
        (15, 0, 2000, 0), tds.ENCRYPT_NOT_SUP, fedauth_required=1, options=[0, 1, 3, 6], packet_id=0
    )


VERSIONS = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 65535), st.integers(0, 65535))
BYTE = st.integers(0, 255)


@FUZZ
@given(VERSIONS, BYTE, st.none() | BYTE, st.none() | BYTE, st.none() | BYTE, BYTE)
def test_prelogin_response_round_trips(
    version: tuple[int, int, int, int],
    encryption: int,
    instopt: int | None,
    mars: int | None,
    fedauth: int | None,
    packet_id: int,
) -> None:
    data = tds.build_prelogin_response(
        version=version,
        encryption=encryption,
        instopt=instopt,
        mars=mars,
        fedauth_required=fedauth,
        packet_id=packet_id,
    )
    reply = tds.parse_prelogin_response(data)
    assert (reply.version, reply.encryption, reply.instopt, reply.mars, reply.fedauth_required) == (
        version,
        encryption,
        instopt,
        mars,
        fedauth,
    )
    assert reply.packet_id == packet_id


@FUZZ
@given(
    VERSIONS,
    BYTE,
    st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=40),
    st.integers(0, 2**32 - 1),
    st.none() | BYTE,
)
def test_prelogin_request_round_trips(
    version: tuple[int, int, int, int], encryption: int, instance: str, threadid: int, mars: int | None
) -> None:
    data = tds.build_prelogin(
        encryption=encryption, version=version, instance=instance, threadid=threadid, mars=mars
    )
    request = tds.parse_prelogin_request(data)
    assert (request.version, request.encryption, request.instance, request.threadid, request.mars) == (
        version,
        encryption,
        instance,
        threadid,
        mars,
    )
    assert request.packet_id == 1


# -- the simulator's side ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (REPLY, r"^packet type 0x04 is not a PRELOGIN request \(0x12\)$"),
        (packet(table((1, 11, 1), (0, 12, 6), data=bytes(7)), kind=0x12), r"^VERSION is not the first option"),
        (packet(b"\xff", kind=0x12), r"^VERSION is not the first option"),
        (
            packet(table((0, 11, 6), (3, 17, 3), data=bytes(9)), kind=0x12),
            r"^option THREADID has 3 bytes, expected 4$",
        ),
        (packet(table((0, 6, 5), data=bytes(5)), kind=0x12), r"^option VERSION has 5 bytes, expected 6$"),
        (packet(table((0, 11, 6), (1, 17, 2), data=bytes(8)), kind=0x12), r"^option ENCRYPTION has 2 bytes"),
    ],
)
def test_parse_prelogin_request_refuses(data: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        tds.parse_prelogin_request(data)


def test_minimal_request_has_only_a_version() -> None:
    request = tds.parse_prelogin_request(packet(table((0, 6, 6), data=b"\x0f\x00\x07\xd0\x00\x00"), kind=0x12))
    assert (request.version_string, request.encryption, request.encryption_name) == ("15.0.2000.0", None, None)
    assert (request.instopt, request.instance, request.threadid, request.mars) == (None, None, None, None)
    assert tds.parse_prelogin_request(tds.build_prelogin(mars=None, threadid=7)).threadid == 7


def test_request_complete_mirrors_reply_complete() -> None:
    data = tds.build_prelogin()
    for end in range(len(data)):
        assert not tds.request_complete(data[:end])
    assert tds.request_complete(data)
    assert tds.request_complete(b"\x16\x03\x01")  # a TLS-first (TDS 8.0) client
    assert tds.reply_complete(data)  # a request is not a reply: stop and let parse refuse it


def test_value_objects_compare_and_print() -> None:
    reply = tds.parse_prelogin_response(REPLY)
    assert reply == tds.Prelogin((10, 0, 5512, 0), 2, instopt=0, mars=0, options=[0, 1, 2, 3, 4])
    assert reply != tds.Prelogin((10, 0, 5512, 0), 2)
    assert reply != "10.0.5512.0"
    assert repr(reply) == (
        "Prelogin(10.0.5512.0, ENCRYPT_NOT_SUP, instopt=0, mars=0, fedauth_required=None, "
        "options=[0, 1, 2, 3, 4], packet_id=1)"
    )
    request = tds.parse_prelogin_request(tds.build_prelogin(instance="SQL"))
    assert request.instance == "SQL"
    assert "instopt=b'SQL\\x00'" in repr(request)
    assert request != reply


# -- property tests: only MalformedReply, whatever arrives ---------------------------------------------


def survives(data: bytes) -> None:
    """Both parsers accept ``data`` or raise MalformedReply -- nothing else -- and framing agrees."""
    try:
        reply = tds.parse_prelogin_response(data)
    except MalformedReply:
        pass
    else:
        assert tds.reply_complete(data)
        assert len(reply.version) == 4 and 0 <= reply.encryption <= 255
    try:
        tds.parse_prelogin_request(data)
    except MalformedReply:
        pass
    else:
        assert tds.request_complete(data)
    tds.reply_complete(data)
    tds.request_complete(data)
    tds.looks_like_tls(data)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_malformed_reply(data: bytes) -> None:
    survives(data)


@FUZZ
@given(st.sampled_from([tds.PACKET_REPLY, tds.PACKET_PRELOGIN]), st.binary(max_size=120))
def test_random_bodies_raise_only_malformed_reply(kind: int, body: bytes) -> None:
    survives(packet(body, kind=kind))


ENTRIES = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 80) | st.integers(0, 0xFFFF), st.integers(0, 12)))


@FUZZ
@given(st.sampled_from([tds.PACKET_REPLY, tds.PACKET_PRELOGIN]), ENTRIES, st.binary(max_size=60))
def test_random_option_tables_raise_only_malformed_reply(
    kind: int, entries: list[tuple[int, int, int]], data: bytes
) -> None:
    survives(packet(table(*entries, data=data), kind=kind))


@FUZZ
@given(st.data())
def test_mutated_samples_raise_only_malformed_reply(data: st.DataObject) -> None:
    sample = bytearray(data.draw(st.sampled_from(corpus_files("tds/")), label="sample"))
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        if sample:
            sample[data.draw(st.integers(0, len(sample) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(sample)), label="cut")
    survives(bytes(sample[:cut]) if data.draw(st.booleans(), label="truncate") else bytes(sample))


# -- start-up cost -------------------------------------------------------------------------------------


def test_importing_ssrp_and_tds_loads_only_cheap_modules() -> None:
    loaded = modules_loaded_by("import check_digitalsentry.protocols.ssrp, check_digitalsentry.protocols.tds")
    ours = {"check_digitalsentry", "check_digitalsentry.protocols"}
    ours |= {"check_digitalsentry.protocols.ssrp", "check_digitalsentry.protocols.tds"}
    assert loaded - ours <= {"struct", "_struct"}, loaded - ours
