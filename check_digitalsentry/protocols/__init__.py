"""Protocol layer: sans-I/O codecs for what a DS site speaks on the wire.

Nothing in this package opens a socket or reads a clock; ``ssrp``, ``tds`` and ``tds_login`` import only
``struct`` (``x509`` adds ``datetime``, and is imported only when a TLS probe runs): bytes in,
values out. The probe engine and the simulator own all I/O and call these functions.

- ``ssrp`` -- SQL Server Browser / SQL Server Resolution Protocol [MC-SQLR] on UDP 1434;
- ``tds`` -- TDS packet framing and the PRELOGIN exchange [MS-TDS] on the SQL port;
- ``tds_login`` -- what follows PRELOGIN: TLS inside TDS packets, LOGIN7 and the "Login failed" answer
  (the simulator speaks it; the probe stops after PRELOGIN);
- ``x509`` -- just enough DER to name a certificate's subject and expiry (the ``web`` role).

Every ``parse_*`` function raises ``MalformedReply`` -- and nothing else -- for bytes it cannot accept.
Misuse by the caller (a too-long instance name, say) is a ``ValueError`` from the ``build_*`` functions.
"""


class MalformedReply(Exception):
    """The peer sent bytes that are not a valid reply; the message says what is wrong."""


#: Characters never shown raw: C0 and C1 controls, DEL, line and paragraph separators, and the bidi
#: embedding, override and isolate controls (which can make shown text read differently than it is).
_HIDDEN = frozenset([*map(chr, range(32)), *map(chr, range(127, 160)), "\u2028", "\u2029",
                     *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), "\ufeff"])


def shown(text: object, limit: int = 200) -> str:
    """A string that came from the network, safe to put in a sentence: hidden characters escaped
    (``\\x0a``, ``\\u202e``), lone surrogates escaped, and at most ``limit`` characters (then ``...``)."""
    value = str(text)
    if len(value) > limit:
        value = value[:limit] + "..."
    if _HIDDEN.isdisjoint(value) and value.isprintable():
        return value
    out = []
    for char in value:
        code = ord(char)
        if char in _HIDDEN or 0xD800 <= code <= 0xDFFF or (not char.isprintable() and char != " "):
            out.append(f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
