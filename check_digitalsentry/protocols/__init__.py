"""Protocol layer: sans-I/O codecs for what a DS site speaks on the wire.

Nothing in this package opens a socket or reads a clock; ``ssrp`` and ``tds`` import only ``struct``
(``x509`` adds ``datetime``, and is imported only when a TLS probe runs): bytes in,
values out. The probe engine and the simulator own all I/O and call these functions.

- ``ssrp`` -- SQL Server Browser / SQL Server Resolution Protocol [MC-SQLR] on UDP 1434;
- ``tds`` -- TDS packet framing and the PRELOGIN exchange [MS-TDS] on the SQL port;
- ``x509`` -- just enough DER to name a certificate's subject and expiry (the ``web`` role).

Every ``parse_*`` function raises ``MalformedReply`` -- and nothing else -- for bytes it cannot accept.
Misuse by the caller (a too-long instance name, say) is a ``ValueError`` from the ``build_*`` functions.
"""


class MalformedReply(Exception):
    """The peer sent bytes that are not a valid reply; the message says what is wrong."""
