"""Redaction (submit layer, no I/O): the credentials a submission sends, taken out of whatever comes back
before any of it is printed. A server -- Icinga, or a proxy or login page in front of it -- may echo a
request: its ``Authorization`` header, the user and the password, in any encoding. Every text from an
answer (its words, its start, a ``Location``, an error's text) passes a ``Redactor`` before it is cut to
length, so that no part of a secret survives the cut either, and before it reaches the status line, the
long output or a ``-v`` line (cron mail, the journal, Icinga's own history).

- Every known encoding of a secret is replaced where it stands by ``MARK``: as is; base64, standard and
  URL-safe, with or without padding, also inside a longer base64 text (at each of its three alignments);
  percent-encoding (upper- or lower-case hex, ``+`` for a space); HTML and JSON escapes; hex.
- What is left is decoded every way a server may have encoded it (HTML entities, percent-encoding, JSON
  and backslash escapes, each run of base64); a text in which a secret then shows is withheld whole
  (``WITHHELD``): whatever way it was spelt, it is not printed.

Only text that came from elsewhere is redacted, never the tool's own sentences: a password that is also a
word of them (``Icinga``) would otherwise be pointed out by the very gap it left.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

MARK = "[redacted]"
WITHHELD = "[withheld: it held the credentials]"
#: Characters of base64 at least for a piece of a secret (inside a longer base64 text) to be replaced.
MIN_PIECE = 8
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{4,}={0,2}")
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))")
_PERCENT = re.compile(r"%[0-9A-F]{2}")
_URL_SAFE = str.maketrans("-_", "+/")


def _base64(data: bytes) -> set[str]:
    """The base64 of ``data`` alone (padded and not), and the characters that encode nothing but ``data``
    where it stands inside a longer text, at each of the three alignments."""
    whole = base64.b64encode(data).decode("ascii")
    forms = {whole, whole.rstrip("=")}
    for shift in range(3):
        text = base64.b64encode(b"\0" * shift + data).decode("ascii")
        piece = text[4 if shift else 0:(shift + len(data)) // 3 * 4]
        if len(piece) >= MIN_PIECE:
            forms.add(piece)
    return forms | {form.translate(str.maketrans("+/", "-_")) for form in forms}


def encodings(secret: str) -> set[str]:
    """The ways a server may spell ``secret`` back."""
    data = secret.encode("utf-8")
    forms = {secret, html.escape(secret), html.escape(secret, quote=False), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1], data.hex(), data.hex().upper()}
    for percent in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        forms |= {percent, _PERCENT.sub(lambda m: m.group().lower(), percent)}
    return {form for form in forms | _base64(data) if form}


def _unescaped(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def decodings(text: str, shortest: int = 1) -> Iterator[str]:
    """``text`` decoded each way a server may have encoded what it echoes (each only where the text holds
    what that encoding writes; base64 runs only as long as the encoding of ``shortest`` bytes)."""
    yield text
    if "&" in text:
        yield html.unescape(text)
    if "%" in text or "+" in text:
        yield unquote(text)
        yield unquote_plus(text)
    if "\\" in text:
        yield _unescaped(text)
    if "&" in text or "%" in text or "\\" in text:
        yield html.unescape(unquote_plus(_unescaped(text)))
    least = max(4, (shortest * 4 + 2) // 3)  # the base64 of SHORTEST bytes, unpadded
    for run in _BASE64_RUN.findall(text):
        word = run.rstrip("=")
        if len(word) < least:
            continue
        word = word[:-1] if len(word) % 4 == 1 else word
        if "-" in word or "_" in word:  # URL-safe base64
            word = word.translate(_URL_SAFE)
        try:
            yield binascii.a2b_base64(word + "=" * (-len(word) % 4)).decode("utf-8", "replace")
        except binascii.Error:
            continue


class Redactor:
    """Takes ``secrets`` out of a text from elsewhere (see the module's docstring); with no secrets (a
    client certificate authenticates), hands the text back as it is."""

    __slots__ = ("forms", "pattern", "secrets", "shortest")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [secret for secret in dict.fromkeys(secrets) if secret]
        forms = {form for secret in self.secrets for form in encodings(secret)}
        self.forms = sorted(forms, key=lambda form: (-len(form), form))  # the longest first: "u:pw" before "pw"
        self.pattern = re.compile("|".join(map(re.escape, self.forms))) if self.forms else None
        self.shortest = min((len(secret.encode()) for secret in self.secrets), default=1)

    def __call__(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        text = self.pattern.sub(MARK, text)
        if any(secret in decoded for decoded in decodings(text, self.shortest) for secret in self.secrets):
            return WITHHELD
        return text
