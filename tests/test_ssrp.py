"""SQL Server Browser codec: the conformance corpus, hand-made edge cases, round trips and fuzzing."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from conformance import KINDS, Sample, classify, corpus_files, load_samples, read_sample, sample_params
from hypothesis import given, settings
from hypothesis import strategies as st

from check_digitalsentry.protocols import MalformedReply, ssrp

FUZZ = settings(max_examples=500, deadline=None)
KIND_CODES = {
    "CLNT_BCAST_EX": ssrp.CLNT_BCAST_EX,
    "CLNT_UCAST_EX": ssrp.CLNT_UCAST_EX,
    "CLNT_UCAST_INST": ssrp.CLNT_UCAST_INST,
    "CLNT_UCAST_DAC": ssrp.CLNT_UCAST_DAC,
}
RECORD = b"ServerName;DS01;InstanceName;SQLEXPRESS;IsClustered;No;Version;15.0.2000.5;tcp;1433;;"


def svr_resp(data: bytes) -> bytes:
    """An SVR_RESP header with the right RESP_SIZE around ``data``."""
    return struct.pack("<BH", ssrp.SVR_RESP, len(data)) + data


def instance_fields(inst: ssrp.Instance) -> dict[str, Any]:
    return {
        "server": inst.server_name,
        "instance": inst.instance_name,
        "clustered": inst.is_clustered,
        "version": inst.version,
        "tcp": inst.tcp_port,
        "np": inst.pipe_name,
    }


# -- the conformance corpus ----------------------------------------------------------------------------


def test_every_conformance_sample_is_covered() -> None:
    samples = load_samples()
    kinds = {sample["file"]: classify(sample) for sample in samples}
    assert set(kinds.values()) <= set(KINDS)
    # test_ssrp parametrises over ssrp/, test_tds over tds/: nothing may live anywhere else.
    assert all(name.startswith(("ssrp/", "tds/")) for name in kinds), kinds


@pytest.mark.parametrize("sample", sample_params("ssrp/"))
def test_conformance(sample: Sample) -> None:
    data = read_sample(sample)
    expected = sample["expected"]
    kind = classify(sample)
    checked = {"type"}
    if kind == "ssrp-reply":
        assert data[1] | data[2] << 8 == expected["resp_size"]
        instances = ssrp.parse_response(data)
        assert [instance_fields(inst) for inst in instances] == [
            {key: want[key] for key in ("server", "instance", "clustered", "version", "tcp", "np")}
            for want in expected["instances"]
        ]
        for inst, want in zip(instances, expected["instances"]):
            if "tcp_on_wire" in want:
                assert inst.raw_tcp == want["tcp_on_wire"]
        # The simulator's builder writes what real servers wrote, byte for byte.
        assert ssrp.build_response(instances) == data
        checked |= {"resp_size", "instances"}
    elif kind == "ssrp-dac":
        assert ssrp.parse_dac_response(data) == expected["dac_port"]
        assert data[1] | data[2] << 8 == expected["resp_size"]
        assert data[3] == expected["protocol_version"]
        with pytest.raises(MalformedReply, match=r"^RESP_SIZE 6 but 3 bytes follow"):
            ssrp.parse_response(data)
        assert ssrp.build_dac_response(expected["dac_port"]) == data
        checked |= {"dac_port", "resp_size", "protocol_version", "as_generic_svr_resp", "context"}
    elif kind == "ssrp-request":
        request = ssrp.parse_request(data)
        want = ssrp.Request(
            KIND_CODES[expected["type"]], expected.get("instance"), expected.get("nul_terminated", False)
        )
        assert request == want
        if request.kind == ssrp.CLNT_UCAST_DAC:
            assert data[1] == expected["protocol_version"]
            assert request.instance is not None
            assert ssrp.build_dac_request(request.instance) == data
        elif request.kind == ssrp.CLNT_UCAST_INST:
            assert request.instance is not None
            # A builder always sends the NUL, even where a real client left it out.
            assert ssrp.build_request(request.instance) == data + (b"" if request.nul_terminated else b"\x00")
        elif request.kind == ssrp.CLNT_UCAST_EX:
            assert ssrp.build_request() == data
        checked |= {"instance", "nul_terminated", "protocol_version"}
    else:
        pytest.fail(f"{sample['file']} is a {kind} sample under ssrp/")
    assert not set(expected) - checked, f"expected.json fields no test checks: {set(expected) - checked}"


# -- client requests -----------------------------------------------------------------------------------


def test_build_request_without_a_name_asks_for_every_instance() -> None:
    assert ssrp.build_request() == b"\x03"


def test_build_request_with_a_name_is_nul_terminated() -> None:
    assert ssrp.build_request("DIGITALSENTRY") == b"\x04DIGITALSENTRY\x00"
    assert ssrp.build_dac_request("DIGITALSENTRY") == b"\x0f\x01DIGITALSENTRY\x00"


def test_build_request_accepts_32_bytes_and_latin1() -> None:
    assert ssrp.build_request("A" * 32) == b"\x04" + b"A" * 32 + b"\x00"
    assert ssrp.build_request("CAMÉRA") == b"\x04CAM\xc9RA\x00"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("A" * 33, "33 bytes; at most 32"),
        ("É" * 33, "33 bytes; at most 32"),
        ("", "empty instance name"),
        ("A\x00B", "contains a NUL"),
        ("监控", "not encodable as latin-1"),
    ],
    ids=["33-bytes", "33-latin1-bytes", "empty", "nul", "not-latin1"],
)
def test_build_request_refuses_bad_names(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ssrp.build_request(name)
    with pytest.raises(ValueError, match=message):
        ssrp.build_dac_request(name)


# -- server replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datagram", "message"),
    [
        (b"", r"^empty datagram"),
        (b"\x04\x03\x00abc", r"^first byte 0x04 is not SVR_RESP \(0x05\)$"),
        (b"\x05\x00", r"^SVR_RESP of 2 bytes is shorter than its 3-byte header$"),
        (b"\x05\x06\x00\x012\xdf", r"^RESP_SIZE 6 but 3 bytes follow \(a DAC reply"),
        (b"\x05\x83\x00" + RECORD[:65], r"^RESP_SIZE 131 but 65 bytes follow$"),
        (b"\x05\x01\x00" + RECORD, r"^RESP_SIZE 1 but 85 bytes follow$"),
        (b"\x05\x00\x00", r"^empty RESP_DATA"),
        (svr_resp(b";;"), r"^RESP_DATA does not start with a ServerName record$"),
        (svr_resp(b"x;" + RECORD), r"^RESP_DATA does not start with a ServerName record$"),
        (svr_resp(b"Server;DS01;;"), r"^RESP_DATA does not start with a ServerName record$"),
        (svr_resp(RECORD.replace(b"InstanceName", b"Instance")), r"^record 1 has no InstanceName$"),
        (svr_resp(RECORD + RECORD.replace(b"IsClustered;No;", b"")), r"^record 2 has no IsClustered$"),
        (svr_resp(RECORD.replace(b"Version;15.0.2000.5;", b"")), r"^record 1 has no Version$"),
        (svr_resp(RECORD.replace(b"SQLEXPRESS", b"")), r"^record 1 has an empty InstanceName$"),
        (
            svr_resp(b"ServerName;DS01;IsClustered;No;Version;1;InstanceName"),
            r"^record 1 has an empty InstanceName$",
        ),
    ],
    ids=[
        "empty",
        "wrong-opcode",
        "short-header",
        "dac-reply",
        "resp-size-too-big",
        "resp-size-too-small",
        "empty-resp-data",
        "only-terminator",
        "junk-before-record",
        "no-servername",
        "no-instancename",
        "no-isclustered",
        "no-version",
        "empty-instancename",
        "cut-after-key",
    ],
)
def test_parse_response_refuses(datagram: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        ssrp.parse_response(datagram)


def test_parse_response_reads_keys_in_any_case_and_a_missing_terminator() -> None:
    (inst,) = ssrp.parse_response(
        svr_resp(b"SERVERNAME;ds01;instancename;SQL;ISCLUSTERED;yes;VERSION;16.0;TCP;1434")
    )
    assert (inst.server_name, inst.instance_name, inst.is_clustered, inst.version) == ("ds01", "SQL", True, "16.0")
    assert inst.tcp_port == 1434
    assert inst.protocols == {"tcp": "1434"}


def test_parse_response_splits_records_without_terminator_between_them() -> None:
    data = RECORD[:-2] + b";" + RECORD.replace(b"DS01", b"DS02")
    assert [i.server_name for i in ssrp.parse_response(svr_resp(data))] == ["DS01", "DS02"]


def test_parse_response_is_not_fooled_by_names_that_look_like_keys() -> None:
    # nmap-style substring splitting on "ServerName;" would cut these records apart.
    data = (
        b"ServerName;SERVERNAME;InstanceName;ServerName;IsClustered;No;Version;1;tcp;1433;;"
        b"ServerName;MYSERVERNAME;InstanceName;X;IsClustered;No;Version;1;np;;;"
    )
    first, second = ssrp.parse_response(svr_resp(data))
    assert (first.server_name, first.instance_name, first.tcp_port) == ("SERVERNAME", "ServerName", 1433)
    assert (second.server_name, second.instance_name, second.pipe_name) == ("MYSERVERNAME", "X", "")


def test_parse_response_reads_bv_with_empty_fields_as_three_values() -> None:
    # The nmap comment: "bv;;@COMPNAME;;tcp;1433;;" -- a ";;" inside a record.
    data = b"ServerName;OLD;InstanceName;MSSQLSERVER;IsClustered;No;Version;8.00.194;bv;;@COMPNAME;;tcp;1433;;"
    (inst,) = ssrp.parse_response(svr_resp(data))
    assert inst.protocols == {"bv": ";@COMPNAME;", "tcp": "1433"}
    assert inst.tcp_port == 1433


def test_parse_response_keeps_sql2000_protocols_and_unknown_keys() -> None:
    data = RECORD[:-2] + b";via;DS01,0:1433;rpc;DS01;spx;SVC;adsp;OBJ;future;thing;;"
    (inst,) = ssrp.parse_response(svr_resp(data))
    assert inst.protocols == {
        "tcp": "1433",
        "via": "DS01,0:1433",
        "rpc": "DS01",
        "spx": "SVC",
        "adsp": "OBJ",
        "future": "thing",
    }


def test_parse_response_first_of_a_repeated_key_wins() -> None:
    (inst,) = ssrp.parse_response(svr_resp(RECORD[:-2] + b";tcp;1434;InstanceName;OTHER;;"))
    assert (inst.instance_name, inst.tcp_port) == ("SQLEXPRESS", 1433)


@pytest.mark.parametrize(
    ("raw", "port"),
    [
        (b"1433", 1433),
        (b"1", 1),
        (b"65535", 65535),
        (b"01433", 1433),
        (b"0", None),
        (b"65536", None),
        (b"99999", None),
        (b"000001433", None),
        (b"", None),
        (b" 1433", None),
        (b"14a3", None),
        (b"-1", None),
        (b"\xb2", None),  # latin-1 '²': str.isdigit() says yes, int() says no
        (b"\xd9\xa1", None),  # Arabic-Indic digit one in UTF-8
    ],
)
def test_tcp_port_is_none_unless_usable(raw: bytes, port: int | None) -> None:
    (inst,) = ssrp.parse_response(svr_resp(RECORD.replace(b"tcp;1433", b"tcp;" + raw)))
    assert inst.tcp_port == port
    assert inst.raw_tcp == raw.decode("latin-1")


def test_named_pipes_only_instance_has_no_tcp() -> None:
    (inst,) = ssrp.parse_response(svr_resp(RECORD.replace(b"tcp;1433", b"np;\\\\DS01\\pipe\\sql\\query")))
    assert (inst.tcp_port, inst.raw_tcp, inst.pipe_name) == (None, None, "\\\\DS01\\pipe\\sql\\query")


def test_non_ascii_names_never_fail_and_keep_their_bytes() -> None:
    cp1252 = "VIDÉO-ÜBERWACHUNG".encode("cp1252")
    cp932 = "監視".encode("cp932")
    data = RECORD.replace(b"DS01", cp1252).replace(b"SQLEXPRESS", cp932 + b"\xff\x00")
    (inst,) = ssrp.parse_response(svr_resp(data))
    assert inst.server_name == "VIDÉO-ÜBERWACHUNG"
    assert inst.instance_name.encode("latin-1") == cp932 + b"\xff\x00"


def test_is_clustered_is_lenient() -> None:
    for value, clustered in ((b"Yes", True), (b"YES", True), (b"No", False), (b"", False), (b"maybe", False)):
        (inst,) = ssrp.parse_response(svr_resp(RECORD.replace(b"IsClustered;No", b"IsClustered;" + value)))
        assert inst.is_clustered is clustered


def test_largest_possible_reply_parses() -> None:
    pipe = "\\\\DS01\\pipe\\" + "p" * 1000
    instances = [ssrp.Instance("DS01", f"I{n:04d}", tcp_port=1024 + n, pipe_name=pipe) for n in range(58)]
    size = len(ssrp.build_response(instances)) - 3
    instances[-1].pipe_name = pipe + "p" * (ssrp.MAX_RESP_DATA - size)
    datagram = ssrp.build_response(instances)
    assert len(datagram) == ssrp.RECV_BUFFER
    assert ssrp.parse_response(datagram) == instances


# -- DAC -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datagram", "message"),
    [
        (b"", r"^DAC reply is 0 bytes, expected 6$"),
        (b"\x05\x06\x00\x012", r"^DAC reply is 5 bytes, expected 6$"),
        (b"\x05\x06\x00\x012\xdf\x00", r"^DAC reply is 7 bytes, expected 6$"),
        (b"\x04\x06\x00\x012\xdf", r"^first byte 0x04 is not SVR_RESP"),
        (b"\x05\x03\x00\x012\xdf", r"^DAC reply RESP_SIZE 3, expected 6$"),
        (b"\x05\x06\x01\x012\xdf", r"^DAC reply RESP_SIZE 262, expected 6$"),
        (b"\x05\x06\x00\x022\xdf", r"^DAC reply PROTOCOLVERSION 2, expected 1$"),
        (b"\x05\x06\x00\x01\x00\x00", r"^DAC reply names port 0$"),
    ],
)
def test_parse_dac_response_refuses(datagram: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        ssrp.parse_dac_response(datagram)


def test_dac_round_trip() -> None:
    for port in (1, 1434, 57138, 65535):
        assert ssrp.parse_dac_response(ssrp.build_dac_response(port)) == port
    for port in (0, -1, 65536):
        with pytest.raises(ValueError, match="DAC port must be 1-65535"):
            ssrp.build_dac_response(port)


def test_a_normal_reply_is_not_a_dac_reply() -> None:
    with pytest.raises(MalformedReply):
        ssrp.parse_dac_response(svr_resp(b"ServerName;"))


# -- the simulator's side ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datagram", "expected"),
    [
        (b"\x02", ssrp.Request(ssrp.CLNT_BCAST_EX)),
        (b"\x03", ssrp.Request(ssrp.CLNT_UCAST_EX)),
        (b"\x04SQLEXPRESS\x00", ssrp.Request(ssrp.CLNT_UCAST_INST, "SQLEXPRESS", True)),
        (b"\x04SQLEXPRESS", ssrp.Request(ssrp.CLNT_UCAST_INST, "SQLEXPRESS", False)),
        (b"\x04" + b"A" * 32 + b"\x00", ssrp.Request(ssrp.CLNT_UCAST_INST, "A" * 32, True)),
        (b"\x04" + b"A" * 32, ssrp.Request(ssrp.CLNT_UCAST_INST, "A" * 32, False)),
        (b"\x0f\x01SQLEXPRESS\x00", ssrp.Request(ssrp.CLNT_UCAST_DAC, "SQLEXPRESS", True)),
        (b"\x0f\x01SQLEXPRESS", ssrp.Request(ssrp.CLNT_UCAST_DAC, "SQLEXPRESS", False)),
        (b"\x04CAM\xc9RA\x00", ssrp.Request(ssrp.CLNT_UCAST_INST, "CAMÉRA", True)),
    ],
)
def test_parse_request(datagram: bytes, expected: ssrp.Request) -> None:
    assert ssrp.parse_request(datagram) == expected


@pytest.mark.parametrize(
    ("datagram", "message"),
    [
        (b"", r"^empty datagram"),
        (b"\x01", r"^unknown request opcode 0x01$"),
        (b"\x05\x00\x00", r"^unknown request opcode 0x05$"),
        (b"\x00F", r"^unknown request opcode 0x00$"),  # the b'\0F' bug of a public client
        (b"\x03\x00", r"^CLNT_UCAST_EX is 1 byte, got 2$"),
        (b"\x02abc", r"^CLNT_BCAST_EX is 1 byte, got 4$"),
        (b"\x04", r"^request names no instance$"),
        (b"\x04\x00", r"^request names no instance$"),
        (b"\x04AB\x00CD", r"^instance name has bytes after its NUL$"),
        (b"\x04AB\x00\x00", r"^instance name has bytes after its NUL$"),
        (b"\x04" + b"A" * 33 + b"\x00", r"^instance name of 33 bytes exceeds 32$"),
        (b"\x04" + b"\n" * 200, r"^instance name of 200 bytes exceeds 32$"),  # MS02-039
        (b"\x0f", r"^CLNT_UCAST_DAC PROTOCOLVERSION must be 0x01, got nothing$"),
        (b"\x0f\x02SQL\x00", r"^CLNT_UCAST_DAC PROTOCOLVERSION must be 0x01, got 0x02$"),
        (b"\x0f\x01\x00", r"^request names no instance$"),
    ],
)
def test_parse_request_refuses(datagram: bytes, message: str) -> None:
    with pytest.raises(MalformedReply, match=message):
        ssrp.parse_request(datagram)


def test_request_round_trips() -> None:
    assert ssrp.parse_request(ssrp.build_request()) == ssrp.Request(ssrp.CLNT_UCAST_EX, None, False)
    for name in ("SQLEXPRESS", "A" * 32, "ÿ"):
        assert ssrp.parse_request(ssrp.build_request(name)) == ssrp.Request(ssrp.CLNT_UCAST_INST, name, True)
        assert ssrp.parse_request(ssrp.build_dac_request(name)) == ssrp.Request(ssrp.CLNT_UCAST_DAC, name, True)


def test_build_response_writes_the_documented_record() -> None:
    inst = ssrp.Instance("DS01", "SQLEXPRESS", tcp_port=1433, pipe_name="\\\\DS01\\pipe\\sql\\query")
    data = (
        b"ServerName;DS01;InstanceName;SQLEXPRESS;IsClustered;No;Version;15.0.2000.5;"
        b"tcp;1433;np;\\\\DS01\\pipe\\sql\\query;;"
    )
    assert ssrp.build_response([inst]) == svr_resp(data)
    clustered = ssrp.Instance("DS01", "SQL", is_clustered=True, version="16.0.1000.6")
    assert ssrp.build_response([clustered]) == svr_resp(
        b"ServerName;DS01;InstanceName;SQL;IsClustered;Yes;Version;16.0.1000.6;;"
    )


def test_build_response_puts_tcp_and_np_first() -> None:
    inst = ssrp.Instance("DS01", "SQL")
    inst.protocols["via"] = "DS01,0:1433"
    inst.pipe_name = "p"
    inst.tcp_port = 1433
    assert ssrp.build_response([inst]).endswith(b";tcp;1433;np;p;via;DS01,0:1433;;")


def test_build_response_can_send_an_unusable_tcp_port() -> None:
    inst = ssrp.Instance("DS01", "SQL")
    inst.protocols["tcp"] = "0"
    (parsed,) = ssrp.parse_response(ssrp.build_response([inst]))
    assert (parsed.raw_tcp, parsed.tcp_port) == ("0", None)


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([], "no instance to list"),
        ([ssrp.Instance("DS;01", "SQL")], "contains ';'"),
        ([ssrp.Instance("DS01", "SQL", version="1;2")], "contains ';'"),
        ([ssrp.Instance("DS01", "SQL", pipe_name="a;b")], "wrong number of ';'"),
        ([ssrp.Instance("DS01", "")], "empty instance name"),
        ([ssrp.Instance("监控", "SQL")], "not encodable as latin-1"),
        ([ssrp.Instance("DS01", "SQL", pipe_name="p" * 65536)], r"RESP_DATA of \d+ bytes exceeds 65535"),
    ],
    ids=["none", "semicolon-server", "semicolon-version", "semicolon-pipe", "empty-name", "not-latin1", "too-big"],
)
def test_build_response_refuses(instances: list[ssrp.Instance], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ssrp.build_response(instances)


@pytest.mark.parametrize(
    ("key", "value"),
    [("servername", "x"), ("Version", "x"), ("", "x"), ("a;b", "x"), ("bv", "a;b"), ("tcp", "1;2")],
)
def test_build_response_refuses_bad_protocol_entries(key: str, value: str) -> None:
    inst = ssrp.Instance("DS01", "SQL")
    inst.protocols[key] = value
    with pytest.raises(ValueError):
        ssrp.build_response([inst])


def test_instance_port_setter() -> None:
    inst = ssrp.Instance("DS01", "SQL", tcp_port=1433)
    assert (inst.tcp_port, inst.raw_tcp, inst.protocols) == (1433, "1433", {"tcp": "1433"})
    inst.tcp_port = None
    assert (inst.tcp_port, inst.raw_tcp, inst.protocols) == (None, None, {})
    for bad in (0, 65536):
        with pytest.raises(ValueError, match="TCP port must be 1-65535"):
            inst.tcp_port = bad
    with pytest.raises(ValueError):
        ssrp.Instance("DS01", "SQL", tcp_port=0)


def test_instance_equality_and_repr() -> None:
    one = ssrp.Instance("DS01", "SQL", tcp_port=1433)
    assert one == ssrp.Instance("DS01", "SQL", tcp_port=1433)
    assert one != ssrp.Instance("DS01", "SQL", tcp_port=1434)
    assert one != ("DS01", "SQL")
    assert repr(one) == (
        "Instance('DS01', 'SQL', is_clustered=False, version='15.0.2000.5', protocols={'tcp': '1433'})"
    )
    assert repr(ssrp.Request(4, "SQL", True)) == "Request(0x04, 'SQL', nul_terminated=True)"


# -- property tests ------------------------------------------------------------------------------------

# latin-1 text without ';' (the separator); NUL and non-ASCII are fine in a reply.
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=255, blacklist_characters=";"), max_size=40)
INSTANCES = st.builds(
    ssrp.Instance,
    TEXT,
    TEXT.filter(bool),
    is_clustered=st.booleans(),
    version=TEXT,
    tcp_port=st.none() | st.integers(1, 65535),
    pipe_name=st.none() | TEXT,
)


@FUZZ
@given(st.lists(INSTANCES, min_size=1, max_size=8))
def test_build_then_parse_response_round_trips(instances: list[ssrp.Instance]) -> None:
    assert ssrp.parse_response(ssrp.build_response(instances)) == instances


@FUZZ
@given(st.text(st.characters(min_codepoint=1, max_codepoint=255), min_size=1, max_size=32))
def test_build_then_parse_request_round_trips(name: str) -> None:
    assert ssrp.parse_request(ssrp.build_request(name)) == ssrp.Request(ssrp.CLNT_UCAST_INST, name, True)
    assert ssrp.parse_request(ssrp.build_dac_request(name)) == ssrp.Request(ssrp.CLNT_UCAST_DAC, name, True)


def survives(datagram: bytes) -> None:
    """Every parser either accepts ``datagram`` or raises MalformedReply -- nothing else."""
    try:
        instances = ssrp.parse_response(datagram)
    except MalformedReply:
        pass
    else:
        assert instances
        for inst in instances:
            assert inst.instance_name
            assert inst.tcp_port is None or 0 < inst.tcp_port < 65536
    try:
        assert 0 < ssrp.parse_dac_response(datagram) < 65536
    except MalformedReply:
        pass
    try:
        request = ssrp.parse_request(datagram)
    except MalformedReply:
        pass
    else:
        assert request.kind in KIND_CODES.values()


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_malformed_reply(datagram: bytes) -> None:
    survives(datagram)


TOKENS = st.sampled_from(
    [
        *(b"ServerName", b"servername", b"InstanceName", b"IsClustered", b"Version", b"tcp", b"np", b"bv"),
        *(b"via", b"", b"", b"Yes", b"No", b"1433", b"0", b"x", b"\xe9\x00", b"65536"),
    ]
)


@FUZZ
@given(st.lists(TOKENS, max_size=40), st.booleans())
def test_random_records_raise_only_malformed_reply(tokens: list[bytes], terminate: bool) -> None:
    survives(svr_resp(b";".join(tokens) + (b";;" if terminate else b"")))


@FUZZ
@given(st.data())
def test_mutated_samples_raise_only_malformed_reply(data: st.DataObject) -> None:
    sample = bytearray(data.draw(st.sampled_from(corpus_files("ssrp/")), label="sample"))
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        if sample:
            sample[data.draw(st.integers(0, len(sample) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(sample)), label="cut")
    survives(bytes(sample[:cut]) if data.draw(st.booleans(), label="truncate") else bytes(sample))
