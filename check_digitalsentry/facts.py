"""Facts (core layer): what a probe learned at a port -- the SQL Server Browser's answer, the SQL Server's,
the TLS certificate, this machine's limits, the addresses of a host -- as one value object read by
attribute (``result.facts.sql_version``), so that the type checker knows every fact and its type.

A fact that was not learned reads as None. The facts keep the order they were learned in, and
``as_dict`` gives them as the JSON document and the JUnit properties show them: the same keys and values
as ever (a public format). A plugin's probe adds facts of its own with ``add`` and reads them with
``get``. Plain ``__slots__`` and a descriptor per fact, no dataclass and no ``typing`` at run time: this
module is on every check's start-up path (see ``model``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any


class _Fact:
    """One fact: read from, and written to, the facts' ordered values."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, facts: Facts | None, owner: type) -> Any:
        if facts is None:
            return self
        return facts._values.get(self.name)

    def __set__(self, facts: Facts, value: object) -> None:
        facts._values[self.name] = value


def _fact() -> Any:
    """Declare a fact in the body of ``Facts``: ``sql_version: str | None = _fact()``."""
    return _Fact()


class Listed:
    """One instance the SQL Server Browser lists: its name, the server's, its version and its TCP port."""

    __slots__ = ("instance", "server", "tcp_port", "version")

    def __init__(self, instance: str, server: str | None, version: str | None, tcp_port: int | None) -> None:
        self.instance = instance
        self.server = server
        self.version = version
        self.tcp_port = tcp_port

    def as_dict(self) -> dict[str, object]:
        return {"instance": self.instance, "server": self.server, "version": self.version,
                "tcp_port": self.tcp_port}

    def __repr__(self) -> str:
        return f"Listed({self.instance!r} on {self.tcp_port})"


class Facts:
    """What a probe learned (see the module docstring). Every built-in fact is one attribute below (no
    ``__slots__``: the facts are descriptors, which the type checker reads as attributes)."""

    # -- the SQL Server Browser (sql-browser)
    instances: list[Listed] | None = _fact()  #: every instance the Browser lists
    server: str | None = _fact()  #: the server name of the instance(s) chosen
    sql_ports: list[tuple[str, int]] | None = _fact()  #: (instance, TCP port) of the chosen instances
    instance: str | None = _fact()  #: the SQL instance (named by the Browser, or configured)
    sql_ssrp_version: str | None = _fact()  #: the version the Browser lists for it
    # -- the SQL Server (sql): its PRELOGIN answer, and what the Browser said of its port
    sql_version: str | None = _fact()
    sql_product: str | None = _fact()  #: "SQL Server 2019"
    sql_encryption: str | None = _fact()
    sql_strict: bool | None = _fact()  #: TDS 8.0 strict: PRELOGIN answered inside TLS
    sql_instance_confirmed: bool | None = _fact()  #: INSTOPT: None when the server did not say
    sql_port_from: str | None = _fact()  #: "browser" for a port the Browser named
    sql_browser_ports: list[int] | None = _fact()  #: what the Browser names instead of a static port
    bytes: int | None = _fact()  #: bytes of an answer that was not the protocol's
    # -- TLS (web)
    tls_version: str | None = _fact()
    tls_subject: str | None = _fact()
    tls_issuer: str | None = _fact()
    tls_not_before: str | None = _fact()
    tls_not_after: str | None = _fact()
    tls_days_left: int | None = _fact()
    tls_self_signed: bool | None = _fact()
    tls_validity: str | None = _fact()  #: "valid", "expired" or "not yet valid"
    tls_client_certificate_required: bool | None = _fact()
    # -- this machine, not the network
    errno: str | int | None = _fact()  #: the socket error's name
    socket_wait: float | None = _fact()  #: seconds the probe waited for a socket (the open-file limit)
    local_limit: bool | None = _fact()  #: this machine's limit decided it: UNKNOWN, never the port's verdict
    internal_error: bool | None = _fact()  #: a probe or hook failed: UNKNOWN
    observer_error: str | None = _fact()  #: a ``digitalsentry_port_result`` observer failed
    # -- the host's addresses
    addresses_probed: int | None = _fact()  #: each of this many addresses was probed (all_addresses)
    unprobed_addresses: list[str] | None = _fact()  #: the addresses not probed (only the first was)

    def __init__(self, values: Mapping[str, object] | None = None) -> None:
        self._values: dict[str, object] = {}
        if values:
            for name, value in values.items():
                if name == "instances" and isinstance(value, list):
                    value = [Listed(str(item.get("instance", "")), item.get("server"), item.get("version"),
                                    item.get("tcp_port")) if isinstance(item, dict) else item for item in value]
                self._values[name] = value

    @classmethod
    def of(cls, facts: Facts | Mapping[str, object] | None) -> Facts:
        """A copy of ``facts`` (or the facts of a plain mapping, as a plugin's probe may give them)."""
        made = cls()
        if isinstance(facts, Facts):
            made._values = dict(facts._values)
        elif facts:
            made = cls(facts)
        return made

    def add(self, name: str, value: object) -> None:
        """A fact of a plugin's own (``rtsp_server``...): in ``as_dict``, readable with ``get``."""
        self._values[name] = value

    def get(self, name: str, default: object = None) -> object:
        """Any fact by name (a plugin's own, mostly); ``default`` when it was not learned."""
        return self._values.get(name, default)

    def update(self, other: Facts) -> None:
        """Learn ``other``'s facts too (theirs win)."""
        self._values.update(other._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __bool__(self) -> bool:
        return bool(self._values)

    def as_dict(self) -> dict[str, object]:
        """The facts as the JSON document shows them, in the order they were learned."""
        values = dict(self._values)
        listed = values.get("instances")
        if isinstance(listed, list):
            values["instances"] = [item.as_dict() if isinstance(item, Listed) else item for item in listed]
        return values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Facts) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Facts({self._values!r})"


def internal_error() -> Facts:
    """A probe or a hook failed: the port is UNKNOWN, never the network's verdict."""
    facts = Facts()
    facts.internal_error = True
    return facts


def socket_error(name: str | int, *, local: bool = False) -> Facts:
    """A socket error (its errno name), or -- ``local`` -- this machine's limit that decided the probe."""
    facts = Facts()
    facts.errno = name
    if local:
        facts.local_limit = True
    return facts


def local_limit(socket_wait: float | None = None) -> Facts:
    """This machine's open-file limit decided the probe (``socket_wait``: seconds it waited for a socket)."""
    facts = Facts()
    if socket_wait is not None:
        facts.socket_wait = socket_wait
    facts.local_limit = True
    return facts
