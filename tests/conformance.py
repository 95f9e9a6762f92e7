"""The conformance corpus (``tests/data/conformance``, copied from the team's shared corpus with each
sample's source in its README and ``expected.json``): loading, checking, classifying.

The corpus is part of the repository, so a missing corpus fails the tests that need it (with this
module's message), it never skips them. ``classify`` names the test branch that covers each sample; a sample
it does not know fails ``test_every_conformance_sample_is_covered`` instead of being left out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "conformance"
EXPECTED = CORPUS / "expected.json"

#: Every kind of sample and the test that covers it.
KINDS = {
    "ssrp-reply": "test_ssrp.py::test_conformance (parse_response, build_response)",
    "ssrp-dac": "test_ssrp.py::test_conformance (parse_dac_response; parse_response must refuse it)",
    "ssrp-request": "test_ssrp.py::test_conformance (parse_request, build_request)",
    "tds-reply": "test_tds.py::test_conformance (parse_prelogin_response, build_prelogin_response)",
    "tds-error": "test_tds.py::test_conformance (parse_prelogin_response raises MalformedReply)",
    "tds-request": "test_tds.py::test_conformance (parse_prelogin_request, build_prelogin)",
    "tds-login": "test_tds_login.py::test_conformance_login7 (parse_login7, build_login7)",
}

Sample = dict[str, Any]


def missing_reason() -> str | None:
    """Why the corpus cannot be used, or None when it can."""
    if not EXPECTED.is_file():
        return (
            f"conformance corpus not found: {EXPECTED} does not exist (it is part of the repository: "
            f"restore tests/data/conformance with git checkout)"
        )
    return None


def load_samples() -> list[Sample]:
    """Every sample of expected.json; fails the calling test when the corpus is missing."""
    reason = missing_reason()
    if reason:
        pytest.fail(reason, pytrace=False)
    samples: list[Sample] = json.loads(EXPECTED.read_text(encoding="utf-8"))["samples"]
    return samples


def sample_params(prefix: str, kind: str | None = None) -> list[Any]:
    """``pytest.param`` per sample whose file starts with ``prefix`` (and of ``kind``), id = the file name.

    At collection time a missing corpus must not turn into an empty (skipped) parametrisation, so it
    yields one param holding the reason, which ``read_sample`` turns into a failure.
    """
    reason = missing_reason()
    if reason is None:
        samples = json.loads(EXPECTED.read_text(encoding="utf-8"))["samples"]
        params = [
            pytest.param(s, id=Path(s["file"]).name)
            for s in samples
            if s["file"].startswith(prefix) and (kind is None or classify(s) == kind)
        ]
        if params:
            return params
        reason = f"no {kind or 'sample'} under {prefix!r} in {EXPECTED}"
    return [pytest.param(reason, id="corpus-missing")]


def read_sample(sample: Sample | str) -> bytes:
    """The sample's bytes, after checking its size and sha256 against expected.json."""
    if isinstance(sample, str):
        pytest.fail(sample, pytrace=False)
    data = (CORPUS / sample["file"]).read_bytes()
    assert len(data) == sample["size"], f"{sample['file']}: {len(data)} bytes, expected.json says {sample['size']}"
    assert hashlib.sha256(data).hexdigest() == sample["sha256"], f"{sample['file']}: sha256 differs"
    return data


def corpus_files(prefix: str) -> list[bytes]:
    """The bytes of every sample under ``prefix`` (for mutation tests); fails when there are none."""
    data = [read_sample(s) for s in load_samples() if s["file"].startswith(prefix)]
    assert data, f"no sample under {prefix!r} in {EXPECTED}"
    return data


def classify(sample: Sample) -> str:
    """The kind of a sample (a key of ``KINDS``); AssertionError for a sample no test knows."""
    name, expected = sample["file"], sample["expected"]
    if name.startswith("ssrp/"):
        kind = expected.get("type", "")
        if kind == "SVR_RESP":
            return "ssrp-reply"
        if kind == "SVR_RESP(DAC)":
            return "ssrp-dac"
        if kind.startswith("CLNT_"):
            return "ssrp-request"
    elif name.startswith("tds/"):
        if "error" in expected:
            return "tds-error"
        if expected.get("packet_type") == 0x04:
            return "tds-reply"
        if expected.get("packet_type") == 0x12:
            return "tds-request"
        if expected.get("packet_type") == 0x10:
            return "tds-login"
    raise AssertionError(f"no test covers conformance sample {name}: {expected}")
