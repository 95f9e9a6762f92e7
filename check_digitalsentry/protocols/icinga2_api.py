"""Icinga 2 API (protocol layer): the ``POST /v1/actions/process-check-result`` request body and how its
answer reads -- sans I/O: ``submit.icinga2`` owns the connections. An answer counts only as Icinga's: JSON
whose ``results`` hold the one object's code, or an error document; anything else is (None, what it is).
"""

from __future__ import annotations

import json
import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: Characters of Icinga's words (``status``) kept in a reason.
MAX_WORDS = 200
#: Bytes of an answer that is not Icinga's looked at for its start (of which 60 characters are shown).
MAX_ANSWER_START = 4096


def request_body(service: str, exit_status: int, output: str, perfdata: Sequence[str], started: float,
                 ended: float, *, check_source: str = "", ttl: float = 0.0) -> bytes:
    """The JSON of one ``process-check-result``: the object by name (``HOST!SERVICE``), the result."""
    body: dict[str, object] = {
        "type": "Service", "service": service, "exit_status": exit_status, "plugin_output": output,
        "performance_data": list(perfdata), "execution_start": round(started, 6),
        "execution_end": round(ended, 6),
    }
    if check_source:
        body["check_source"] = check_source
    if ttl:
        body["ttl"] = ttl
    return json.dumps(body).encode("utf-8")


def _refuse_constant(word: str) -> object:
    raise ValueError(f"{word} is no JSON number")


def _finite(word: str) -> float:
    number = float(word)
    if not math.isfinite(number):
        raise ValueError(f"{word[:20]} is out of range")
    return number


def _http_code(value: object) -> int | None:
    """An HTTP status code as Icinga writes it (``200`` or ``200.0``), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not (math.isfinite(value) and value == int(value) and 100 <= value <= 599):
        return None
    return int(value)


def words(text: object, limit: int = MAX_WORDS) -> str:
    """Text from an answer, for a reason: its whitespace made single spaces, at most ``limit`` characters."""
    words = " ".join(str(text).split())
    return words if len(words) <= limit else words[:limit - 3] + "..."


def _same(text: str) -> str:
    return text


def said(text: object, limit: int = MAX_WORDS, clean: Callable[[str], str] = _same) -> str:
    """``words`` of a text from elsewhere that first passes ``clean`` (the redaction of the submitter's
    credentials: as it came, and again with its whitespace made single spaces) -- before it is cut, so
    that no piece of what ``clean`` takes out is left at the cut."""
    cleaned = clean(str(text))
    spaced = " ".join(cleaned.split())
    return words(spaced if spaced == cleaned else clean(spaced), limit)


def answer(status: int, data: bytes, clean: Callable[[str], str] = _same) -> tuple[int | None, str]:
    """The code and the words of an Icinga 2 API answer: the action's own result (``results``: one, for the
    one object named), or an error document (``{"error": 404, "status": "No objects found."}``). Anything
    else is not Icinga's: (None, what it is instead). Every text taken from the answer passes ``clean``
    (the submitter's redaction of its credentials) before it is cut to length."""

    def start() -> str:
        return repr(said(data[:MAX_ANSWER_START].decode("utf-8", "replace"), 60, clean))

    if not data.strip():
        return None, "an empty body"
    try:
        doc = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:  # not JSON, not UTF-8, NaN, Infinity, 1e999, an integer of 5000 digits
        return None, f"not valid JSON ({said(exc, 80, clean)}): {start()}"
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        results = doc["results"]
        if len(results) != 1 or not isinstance(results[0], dict):
            return None, f"{len(results)} results for one object"
        code = _http_code(results[0].get("code"))
        if code is None:
            return None, f"results[0].code is {said(repr(results[0].get('code')), 40, clean)}, not an HTTP status"
        return code, said(results[0].get("status", ""), clean=clean)
    if isinstance(doc, dict) and "error" in doc:
        code = _http_code(doc["error"])
        if code is None or code < 400:
            return None, f"error {said(repr(doc['error']), 40, clean)} is not an HTTP error status"
        return code, said(doc.get("status", ""), clean=clean)
    return None, f"JSON without results or error: {start()}"
