"""Parser robustness: the Hypothesis profile "fuzz" feeds each reply parser at least 100,000 inputs.

Each Hypothesis example draws a seed that expands (``random.Random``) into a batch of inputs: random
bytes, mutations of the real conformance messages (flips, cuts, insertions, length fields rewritten,
duplicated chunks) and reply-shaped text. Drawing every byte through Hypothesis costs ~0.5 ms an
input; a seed per batch keeps 3 x 100,000 inputs to seconds, and a failure still names its seed and
input. The only exception that may come out of a parser is ``MalformedReply``.
``DSPORTS_FUZZ_INPUTS`` changes the count per parser.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable, Iterator

import pytest
from conformance import load_samples, read_sample
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from check_digitalsentry.protocols import MalformedReply, ssrp, tds

INPUTS = int(os.environ.get("DSPORTS_FUZZ_INPUTS", "100000"))
BATCH = 100
settings.register_profile(
    "fuzz", max_examples=max(INPUTS // BATCH, 1), deadline=None, database=None,
    phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
)
FUZZ = settings.get_profile("fuzz")

pytestmark = pytest.mark.slow


def _real(prefix: str) -> list[bytes]:
    return [read_sample(s) for s in load_samples() if s["file"].startswith(prefix)]


SSRP_REPLIES = _real("ssrp/real_") + _real("ssrp/constructed_")
TDS_REPLIES = [b for b in _real("tds/") if b[:1] == b"\x04"]
DAC_REPLY = bytes.fromhex("0506000132df")
BROWSER_TOKENS = [b"ServerName", b"InstanceName", b"IsClustered", b"Version", b"tcp", b"np", b"via", b"bv",
                  b"rpc", b"Yes", b"No", b"", b"1433", b"0", b"70000", b"\xe9", b"\x00"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        kind = rng.randrange(5)
        if kind == 0 and out:  # flip a byte
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif kind == 1:  # cut
            del out[at:]
        elif kind == 2:  # insert
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif kind == 3:  # a plausible-but-wrong length field (SSRP's RESP_SIZE, TDS's Length)
            offset, layout = rng.choice([(1, "<H"), (2, ">H")])
            if len(out) >= offset + 2:
                struct.pack_into(layout, out, offset, rng.randrange(0x10000))
        else:  # duplicate a chunk
            out += out[at:at + rng.randint(0, 40)]
    return bytes(out)


def browser_text(rng: random.Random) -> bytes:
    parts = [rng.choice(BROWSER_TOKENS) if rng.random() < 0.8 else rng.randbytes(rng.randint(0, 6))
             for _ in range(rng.randint(0, 40))]
    body = b";".join(parts) + rng.choice([b"", b";;", b";"])
    size = len(body) if rng.random() < 0.7 else rng.randrange(0x10000)
    return b"\x05" + struct.pack("<H", size) + body


def inputs(seed: int, seeds: list[bytes], shaped: Callable[[random.Random], bytes] | None = None,
           max_random: int = 400) -> Iterator[bytes]:
    """A batch of inputs from one seed: a third random bytes, the rest mutated or reply-shaped."""
    rng = random.Random(seed)
    for _ in range(BATCH):
        pick = rng.random()
        if pick < 0.33:
            yield rng.randbytes(rng.randint(0, max_random))
        elif shaped is not None and pick < 0.55:
            yield shaped(rng)
        else:
            yield mutate(rng, rng.choice(seeds))


def survives(parse: Callable[[bytes], object], data: bytes) -> object:
    try:
        return parse(data)
    except MalformedReply:
        return None
    except Exception as exc:  # anything else is the bug this test exists for
        raise AssertionError(f"{parse.__name__}({data!r}) raised {exc!r}") from exc


@FUZZ
@given(st.integers(0, 2**64 - 1))
def test_the_browser_reply_parser_raises_only_malformed_reply(seed: int) -> None:
    for data in inputs(seed, SSRP_REPLIES, browser_text):
        instances = survives(ssrp.parse_response, data)
        for instance in instances or ():  # type: ignore[attr-defined]
            assert instance.tcp_port is None or 1 <= instance.tcp_port <= 65535, data


@FUZZ
@given(st.integers(0, 2**64 - 1))
def test_the_dac_reply_parser_raises_only_malformed_reply(seed: int) -> None:
    for data in inputs(seed, [DAC_REPLY], max_random=12):
        port = survives(ssrp.parse_dac_response, data)
        assert port is None or (isinstance(port, int) and 1 <= port <= 65535 and len(data) == 6), data


@FUZZ
@given(st.integers(0, 2**64 - 1))
def test_the_prelogin_reply_parser_raises_only_malformed_reply(seed: int) -> None:
    for data in inputs(seed, TDS_REPLIES):
        reply = survives(tds.parse_prelogin_response, data)
        if reply is not None:
            assert all(0 <= part <= 0xFFFF for part in reply.version), data  # type: ignore[attr-defined]
            assert tds.reply_complete(data), data


def test_the_fuzz_profile_feeds_at_least_100000_inputs_per_parser() -> None:
    if "DSPORTS_FUZZ_INPUTS" in os.environ:
        pytest.skip("DSPORTS_FUZZ_INPUTS is set: a shortened run")
    assert FUZZ.max_examples * BATCH >= 100_000
