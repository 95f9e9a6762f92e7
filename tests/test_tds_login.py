"""TDS after PRELOGIN (``protocols.tds_login``) and the INSTOPT rules (``protocols.tds``): framing, LOGIN7
against the MS-TDS example, the "Login failed" answer, round trips and fuzzing."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from conformance import Sample, read_sample, sample_params
from hypothesis import given, settings
from hypothesis import strategies as st

from check_digitalsentry.protocols import MalformedReply, tds, tds_login
from check_digitalsentry.protocols.tds_login import Login7, ServerMessage

FUZZ = settings(max_examples=300, deadline=None)


# -- the conformance corpus: LOGIN7 ----------------------------------------------------------------------


@pytest.mark.parametrize("sample", sample_params("tds/", "tds-login"))
def test_conformance_login7(sample: Sample) -> None:
    data = read_sample(sample)
    expected: dict[str, Any] = sample["expected"]
    message = tds_login.take_message(data)
    assert message is not None
    kind, payload, rest = message
    assert (kind, len(data), rest) == (expected["packet_type"], expected["length"], b"")
    login = tds_login.parse_login7(payload)
    assert f"0x{login.tds_version:08x}" == expected["tds_version"]
    assert login.tds_version_name == expected["tds_version_name"]
    assert login.packet_size == expected["packet_size"]
    for key in ("hostname", "username", "password", "app_name", "server_name", "library", "language", "database"):
        assert getattr(login, key) == expected[key], key
    assert login.client_id.hex() == expected["client_id"]
    # The builder writes the same bytes (the fixed flags it sets are the example's).
    assert tds_login.build_packets(kind, tds_login.build_login7(login)) == data


# -- framing -------------------------------------------------------------------------------------------


def test_build_packets_splits_at_the_packet_size_with_eom_last() -> None:
    payload = bytes(range(256)) * 5  # 1280 bytes
    data = tds_login.build_packets(0x12, payload, packet_size=512, packet_id=255)
    headers = []
    pos = 0
    while pos < len(data):
        header = struct.unpack_from(">BBHHBB", data, pos)
        headers.append(header)
        pos += header[2]
    assert [h[2] for h in headers] == [512, 512, 8 + 1280 - 2 * 504]
    assert [h[1] for h in headers] == [0, 0, tds.STATUS_EOM]
    assert [h[4] for h in headers] == [255, 0, 1]  # PacketID counts on, mod 256
    assert tds_login.take_message(data) == (0x12, payload, b"")
    assert tds_login.build_packets(0x04, b"") == bytes.fromhex("0401000800000100")


def test_take_message_waits_for_eom_byte_by_byte() -> None:
    data = tds_login.build_packets(0x10, b"x" * 1000, packet_size=512) + b"\x12rest"
    for end in range(len(data) - 5):
        assert tds_login.take_message(data[:end]) is None
    assert tds_login.take_message(data) == (0x10, b"x" * 1000, b"\x12rest")


@pytest.mark.parametrize(("data", "message"), [
    (bytes.fromhex("1201000400000100"), r"^Length 4 is shorter"),
    (tds_login.build_packets(0x12, b"a" * 600, packet_size=512)[:512] + bytes.fromhex("0401000900000100") + b"z",
     r"^packet type 0x04 inside a message of type 0x12$"),
])
def test_take_message_refuses(data: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        tds_login.take_message(data)


def test_take_message_gives_up_without_eom() -> None:
    packet = bytes.fromhex("1200100000000100") + bytes(4088)
    with pytest.raises(MalformedReply, match="no EOM packet"):
        tds_login.take_message(packet * 17)


def test_wrap_tls_is_a_prelogin_message() -> None:
    records = b"\x16\x03\x01" + bytes(5000)
    assert tds_login.take_message(tds_login.wrap_tls(records)) == (tds.PACKET_PRELOGIN, records, b"")


@pytest.mark.parametrize("kwargs", [{"packet_size": 511}, {"packet_size": 32768}, {"spid": 70000}])
def test_build_packets_refuses(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        tds_login.build_packets(0x04, b"", **kwargs)


# -- LOGIN7 ----------------------------------------------------------------------------------------------

LOGIN = Login7(tds_version=0x71000001, hostname="WS01", username="dsadmin", password="sécret!", app_name="DS",
               server_name="127.0.0.1", library="DB-Library", language="us_english", database="DigitalSentry",
               client_id=b"\x00\x11\x22\x33\x44\x55", sspi=b"NTLMSSP\x00")


def test_login7_round_trips_every_field_and_the_password() -> None:
    payload = tds_login.build_login7(LOGIN)
    assert tds_login.parse_login7(payload) == LOGIN
    assert "sécret".encode("utf-16-le") not in payload  # obfuscated on the wire
    assert "sécret" not in repr(LOGIN) and "dsadmin" in repr(LOGIN)


def test_tds_version_names() -> None:
    assert Login7(tds_version=tds_login.TDS_7_4).tds_version_name == "7.4"
    assert Login7(tds_version=0x72090002).tds_version_name == "7.2"
    assert Login7(tds_version=tds_login.TDS_8_0).tds_version_name == "8.0"


def _payload_with(offset_at: int, value: int) -> bytes:
    payload = bytearray(tds_login.build_login7(LOGIN))
    struct.pack_into("<H", payload, offset_at, value)
    return bytes(payload)


@pytest.mark.parametrize(("payload", "message"), [
    (b"", r"^a LOGIN7 of 0 bytes is shorter than its 78-byte fixed part$"),
    (struct.pack("<I", 500) + tds_login.build_login7(LOGIN)[4:], r"^LOGIN7 Length says 500 but"),
    (tds_login.build_login7(LOGIN)[:4] + struct.pack("<I", 0x05000000) + tds_login.build_login7(LOGIN)[8:],
     r"^TDSVersion 0x05000000 is neither TDS 7.x nor 8.0$"),
    (_payload_with(40, 60000), r"^LOGIN7 username at offset 60000 length 14 lies outside"),
    (_payload_with(42, 1000), r"^LOGIN7 username at offset \d+ length 2000 lies outside"),
])
def test_parse_login7_refuses(payload: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        tds_login.parse_login7(payload)


NAMES = st.text(st.characters(min_codepoint=1, max_codepoint=0xD7FF), max_size=30)


@FUZZ
@given(NAMES, NAMES, NAMES, NAMES, st.binary(max_size=64), st.sampled_from([0x71000001, 0x72090002, 0x74000004]))
def test_login7_round_trips(user: str, password: str, host: str, database: str, sspi: bytes, version: int) -> None:
    login = Login7(tds_version=version, username=user, password=password, hostname=host, database=database,
                   sspi=sspi)
    assert tds_login.parse_login7(tds_login.build_login7(login)) == login


@FUZZ
@given(st.binary(max_size=200))
def test_random_login7_bytes_raise_only_malformed_reply(data: bytes) -> None:
    try:
        tds_login.parse_login7(data)
    except MalformedReply:
        pass


@FUZZ
@given(st.data())
def test_mutated_login7_raises_only_malformed_reply(data: st.DataObject) -> None:
    payload = bytearray(tds_login.build_login7(LOGIN))
    for _ in range(data.draw(st.integers(1, 6))):
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    try:
        tds_login.parse_login7(bytes(payload))
    except MalformedReply:
        pass


# -- the answer to a failed login ------------------------------------------------------------------------


def test_login_failed_is_error_18456_then_done_error_in_one_tabular_result() -> None:
    data = tds_login.build_login_failed("sa", server="DS01\\DIGITALSENTRY")
    assert data[:2] == b"\x04\x01" and struct.unpack_from(">H", data, 2)[0] == len(data)
    message = tds_login.take_message(data)
    assert message is not None
    kind, payload, _ = message
    assert kind == tds.PACKET_REPLY
    assert payload[0] == tds_login.TOKEN_ERROR
    messages, done = tds_login.parse_tokens(payload)
    assert messages == [ServerMessage(18456, 1, 14, "Login failed for user 'sa'.", "DS01\\DIGITALSENTRY")]
    assert repr(messages[0]) == ("Msg 18456, Level 14, State 1, Server DS01\\DIGITALSENTRY, Line 1: "
                                 "Login failed for user 'sa'.")
    assert done == [tds_login.DONE_ERROR]
    assert payload.endswith(bytes.fromhex("fd" "0200" "0000" "0000000000000000"))  # DONE: status, CurCmd, u64 count


def test_before_tds_7_2_the_line_number_and_row_count_are_narrow() -> None:
    wide = tds_login.build_login_failed("u", server="S", tds_version=0x72090002)
    narrow = tds_login.build_login_failed("u", server="S", tds_version=0x71000001)
    assert len(wide) - len(narrow) == 2 + 4  # LineNumber LONG vs USHORT, DONE row count u64 vs u32
    message = tds_login.take_message(narrow)
    assert message is not None
    messages, done = tds_login.parse_tokens(message[1], tds_version=0x71000001)
    assert messages[0].line == 1 and done == [tds_login.DONE_ERROR]


def test_parse_tokens_skips_loginack_and_envchange_and_reads_info() -> None:
    info = ServerMessage(5701, 2, 0, "Changed database context to 'master'.", "S", error=False)
    stream = (b"\xe3\x03\x00\x01\x00\x00" + tds_login.build_error_token(info) + b"\xad\x02\x00\x00\x00"
              + tds_login.build_done_token())
    messages, done = tds_login.parse_tokens(stream)
    assert messages == [info] and done == [0] and not messages[0].error and repr(info).startswith("Info 5701")


def _longer(token: bytes, extra: bytes) -> bytes:
    """``token`` with ``extra`` bytes inside it (its Length grown to match)."""
    length = struct.unpack_from("<H", token, 1)[0]
    return token[:1] + struct.pack("<H", length + len(extra)) + token[3:] + extra


@pytest.mark.parametrize(("stream", "message"), [
    (b"\x81\x00", r"^unexpected token 0x81 at 0"),
    (b"\xfd\x02\x00", r"^DONE token at 0 runs past"),
    (b"\xaa", r"^token 0xaa at 0 has no length$"),
    (b"\xaa\x10\x00abc", r"^token 0xaa at 0 of length 16 runs past"),
    (b"\xaa\x06\x00" + bytes(6), r"^ERROR token does not parse"),
    (_longer(tds_login.build_error_token(ServerMessage(1, 1, 1, "x")), b"zz"), r"^2 bytes after the ERROR token"),
])
def test_parse_tokens_refuses(stream: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        tds_login.parse_tokens(stream)


def test_builders_refuse_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        tds_login.build_error_token(ServerMessage(1, 1, 1, "x", server="s" * 256))
    with pytest.raises(ValueError):
        tds_login.build_login7(Login7(client_id=b"short"))


# -- INSTOPT: what a server answers ------------------------------------------------------------------------


@pytest.mark.parametrize(("instopt", "instance", "answer"), [
    (b"DIGITALSENTRY\x00", "DIGITALSENTRY", tds.INSTOPT_MATCH),
    (b"digitalsentry\x00", "DIGITALSENTRY", tds.INSTOPT_MATCH),  # names ignore case
    (b"\x00", "DIGITALSENTRY", tds.INSTOPT_MATCH),  # empty: any instance (SqlClient's managed SNI, our default)
    (None, "DIGITALSENTRY", tds.INSTOPT_MATCH),  # no INSTOPT at all (JDBC)
    (b"MSSQLServer\x00", "MSSQLSERVER", tds.INSTOPT_MATCH),  # FreeTDS/pytds/impacket to a default instance
    (b"MSSQLServer\x00", "DIGITALSENTRY", tds.INSTOPT_MISMATCH),  # ... and to a named one
    (b"DSOTHER\x00", "DIGITALSENTRY", tds.INSTOPT_MISMATCH),
    (b"DIGITALSENTRY", "DIGITALSENTRY", tds.INSTOPT_MATCH),  # without its NUL
])
def test_instopt_answer(instopt: bytes | None, instance: str, answer: int) -> None:
    assert tds.instopt_answer(instopt, instance) == answer


def test_a_probe_request_names_the_instance_as_real_clients_do() -> None:
    request = tds.parse_prelogin_request(tds.build_prelogin(instance="DIGITALSENTRY"))
    assert request.instopt == b"DIGITALSENTRY\x00" and request.instance == "DIGITALSENTRY"
    assert request.version == tds.CLIENT_VERSION == (9, 0, 0, 0)
