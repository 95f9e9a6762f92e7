"""Shared model (core layer): the value objects every other layer passes around.

A site and its settings are ``schema.Site``. No I/O here. Start-up cost matters (a check plugin runs
thousands of times a day), so these are plain ``__slots__`` classes instead of dataclasses (``import
dataclasses`` costs ~11 ms CPU, more than all of our own code) and nothing imports ``typing`` at run time.
"""

from __future__ import annotations

import enum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from check_digitalsentry.schema import Site


class Status(str, enum.Enum):
    """What a probe found at one port. These words are what users read: keep them."""

    OPEN = "open"  #: TCP handshake completed / UDP reply received (and the reply is what the role needs)
    CLOSED = "closed"  #: TCP RST / ICMP port unreachable
    FILTERED = "filtered"  #: no answer before the deadline, or ICMP unreachable other than port-unreachable
    OPEN_FILTERED = "open|filtered"  #: UDP silence: a silent open port and a dropped one look the same
    INVALID = "invalid"  #: something answered, but not what the role needs
    UNRESOLVED = "unresolved"  #: the host name does not resolve
    UNKNOWN = "unknown"  #: not probed because what it depends on failed

    def __str__(self) -> str:
        return self.value

    @property
    def reachable(self) -> bool:
        """True when something answered at this port (forbidden ports: this is the finding)."""
        return self in (Status.OPEN, Status.INVALID)


class State(enum.IntEnum):
    """Monitoring state, numbered as the Nagios plugin API's exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> State:
        """``ok``, ``warning``/``warn`` or ``critical``/``crit`` (any case) as a state; ValueError otherwise."""
        key = text.strip().upper()
        key = {"WARN": "WARNING", "CRIT": "CRITICAL"}.get(key, key)
        if key not in ("OK", "WARNING", "CRITICAL"):
            raise ValueError(f"expected ok, warning or critical, got {text!r}")
        return cls[key]


class PortSpec:
    """One port a site is expected to expose (or, when ``forbidden``, must not expose).

    ``port`` is None for a port that is discovered at run time (the dynamic SQL port, named by the
    SQL Server Browser). ``severity`` is the state when the expectation is not met.
    """

    __slots__ = ("forbidden", "port", "role", "severity", "transport")

    def __init__(
        self, role: str, port: int | None, transport: str, severity: State, forbidden: bool = False
    ) -> None:
        self.role = role
        self.port = port
        self.transport = transport
        self.severity = severity
        self.forbidden = forbidden

    @property
    def label(self) -> str:
        """``video[18772/tcp]``, ``forbid[3389/tcp]``, ``sql[dynamic/tcp]``: the id used everywhere."""
        return f"{self.role}[{'dynamic' if self.port is None else self.port}/{self.transport}]"

    def __repr__(self) -> str:
        return f"PortSpec({self.label}, severity={self.severity}{', forbidden' if self.forbidden else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortSpec) and _key(self) == _key(other)

    def __hash__(self) -> int:
        return hash(_key(self))


def _key(spec: PortSpec) -> tuple[object, ...]:
    return (spec.role, spec.port, spec.transport, spec.severity, spec.forbidden)


class PortResult:
    """What the engine found at one port of one host: data, never an exception.

    ``seconds`` is the time to the answer (None when nothing answered); ``detail`` is one human
    sentence; ``facts`` holds what the probe learned (instance name, SQL version, TLS subject...).
    """

    __slots__ = ("address", "detail", "facts", "host", "planned", "seconds", "source", "spec", "status")

    def __init__(
        self,
        spec: PortSpec,
        host: str,
        address: str | None,
        status: Status,
        seconds: float | None,
        detail: str,
        facts: Mapping[str, object] | None = None,
        planned: PortSpec | None = None,
        source: str | None = None,
    ) -> None:
        self.spec = spec
        #: the spec this result answers, as planned before the probe (the same object): for a SQL port
        #: named by the SQL Server Browser, ``spec`` has the port and ``planned`` is ``sql[dynamic/tcp]``
        self.planned = spec if planned is None else planned
        #: the local address the probe's socket used (the vantage point), when it had one
        self.source = source
        self.host = host
        self.address = address
        self.status = status
        self.seconds = seconds
        self.detail = detail
        self.facts: dict[str, object] = dict(facts or {})

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def port(self) -> int | None:
        return self.spec.port

    @property
    def transport(self) -> str:
        return self.spec.transport

    def __repr__(self) -> str:
        secs = "-" if self.seconds is None else f"{self.seconds:.3f}s"
        return f"PortResult({self.host} {self.spec.label} {self.status} {secs}: {self.detail})"


class SiteReport:
    """All port results of one site, in a stable order (host, then the catalogue's role order).

    ``seconds`` is how long the site's probes took; ``budget`` the time they were given (the site's
    own timeout, capped by the run's).
    """

    __slots__ = ("budget", "results", "seconds", "site")

    def __init__(self, site: Site, results: list[PortResult], seconds: float, budget: float = 10.0) -> None:
        self.site = site
        self.results = results
        self.seconds = seconds
        self.budget = budget

    def __repr__(self) -> str:
        return f"SiteReport({self.site.name!r}, {len(self.results)} results, {self.seconds:.3f}s)"

