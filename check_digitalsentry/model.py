"""Shared model (core layer): the value objects every other layer passes around.

A site and its settings are ``schema.Site``, a site's results ``engine.SiteReport``; ``RunInfo`` records
who ran a run, when and with what. No I/O here (``RunInfo.here`` reads only the user and host names). Start-
up cost matters (a check plugin runs thousands of times a day), so these are plain ``__slots__`` classes
instead of dataclasses (``import dataclasses`` costs ~11 ms CPU, more than all of our own code), ``Status``
and ``State`` are closed sets of ``str``/``int`` constants rather than ``enum`` classes (an enum class costs
~0.25 ms to create), and nothing imports ``typing`` at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any, ClassVar


class _Members(type):
    """Iteration over the members of ``Status`` and ``State``, in declaration order (as ``enum`` gives)."""

    _members: Mapping[Any, Any]

    def __iter__(cls) -> Iterator[Any]:
        return iter(cls._members.values())

    def __len__(cls) -> int:
        return len(cls._members)


class Status(str, metaclass=_Members):
    """What a probe found at one port. These words are what users read: keep them.

    A closed set of ``str`` constants (``Status.OPEN == "open"``, ``Status("open") is Status.OPEN``): what
    ``enum.Enum`` would give, without its class-creation cost on every start of the check.
    """

    __slots__ = ()
    _members: ClassVar[dict[str, Status]] = {}

    OPEN: Status  #: TCP handshake completed / UDP reply received (and the reply is what the role needs)
    CLOSED: Status  #: TCP RST / ICMP port unreachable
    FILTERED: Status  #: no answer before the deadline, or ICMP unreachable other than port-unreachable
    OPEN_FILTERED: Status  #: UDP silence: a silent open port and a dropped one look the same
    INVALID: Status  #: something answered, but not what the role needs
    UNRESOLVED: Status  #: the host name does not resolve
    UNKNOWN: Status  #: not probed because what it depends on failed

    def __new__(cls, value: str) -> Status:
        try:
            return cls._members[value]
        except KeyError:
            raise ValueError(f"{value!r} is not a valid Status") from None

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.value.upper().replace("|", "_")

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"<Status.{self.name}: {str.__repr__(self)}>"

    @property
    def reachable(self) -> bool:
        """True when something answered at this port (forbidden ports: this is the finding)."""
        return self is Status.OPEN or self is Status.INVALID


for _word in ("open", "closed", "filtered", "open|filtered", "invalid", "unresolved", "unknown"):
    _status = Status._members[_word] = str.__new__(Status, _word)
    setattr(Status, _status.name, _status)

#: What each status means, for people (the handover document's status words).
MEANING: dict[Status, str] = {
    Status.OPEN: "the port answered as its role needs (for a forbidden port: it answered at all, which it must "
                 "not).",
    Status.CLOSED: "the server refused the connection: nothing listens there, or a firewall rejects it.",
    Status.FILTERED: "no answer before the deadline: a firewall drops the packets, or NAT sends them nowhere.",
    Status.OPEN_FILTERED: "UDP silence: open and silent, or dropped by a firewall; silence proves nothing either "
                          "way (the SQL Server Browser must answer).",
    Status.INVALID: "something answered, but not what the role needs (another service, or a wrong instance).",
    Status.UNRESOLVED: "the server's name does not resolve from the test machine: nothing could be tested.",
    Status.UNKNOWN: "not tested, because what it depends on failed first (the SQL port needs the Browser's "
                    "answer).",
}


class State(int, metaclass=_Members):
    """Monitoring state, numbered as the Nagios plugin API's exit codes: ``State.OK`` ... ``State.UNKNOWN``
    (an ``int``: ``State(2) is State.CRITICAL``, ``max()`` of states is the worst)."""

    __slots__ = ()
    _members: ClassVar[dict[int, State]] = {}
    _NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")

    OK: State
    WARNING: State
    CRITICAL: State
    UNKNOWN: State

    def __new__(cls, value: int) -> State:
        try:
            return cls._members[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a valid State") from None

    @property
    def name(self) -> str:
        return self._NAMES[self]

    @property
    def value(self) -> int:
        return int(self)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<State.{self.name}: {int(self)}>"

    @classmethod
    def parse(cls, text: str) -> State:
        """``ok``, ``warning``/``warn`` or ``critical``/``crit`` (any case) as a state; ValueError otherwise."""
        key = text.strip().upper()
        key = {"WARN": "WARNING", "CRIT": "CRITICAL"}.get(key, key)
        if key not in ("OK", "WARNING", "CRITICAL"):
            raise ValueError(f"expected ok, warning or critical, got {text!r}")
        return cls._members[cls._NAMES.index(key)]


for _number, _name in enumerate(State._NAMES):
    setattr(State, _name, State._members.setdefault(_number, int.__new__(State, _number)))
del _word, _status, _number, _name


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
    """What a probe learned at a port -- the SQL Server Browser's answer, the SQL Server's, the TLS
    certificate, this machine's limits, the addresses of a host -- read by attribute
    (``result.facts.sql_version``): every built-in fact is one attribute below, so the type checker
    knows each fact and its type. A fact that was not learned reads as None.

    The facts keep the order they were learned in, and ``as_dict`` gives them as the JSON document and the
    JUnit properties show them (a public format). A plugin's probe adds facts of its own with ``add`` and
    reads them with ``get``. A fact learned is an attribute of the object (its ``__dict__`` keeps the
    order); one not learned is the class's None. Plain attributes, no descriptors, no dataclass: a check
    reads facts of tens of thousands of ports, and every read is as cheap as Python's own.
    """

    # -- the SQL Server Browser (sql-browser)
    instances: list[Listed] | None = None  #: every instance the Browser lists
    server: str | None = None  #: the server name of the instance(s) chosen
    sql_ports: list[tuple[str, int]] | None = None  #: (instance, TCP port) of the chosen instances
    instance: str | None = None  #: the SQL instance (named by the Browser, or configured)
    sql_ssrp_version: str | None = None  #: the version the Browser lists for it
    # -- the SQL Server (sql): its PRELOGIN answer, and what the Browser said of its port
    sql_version: str | None = None
    sql_product: str | None = None  #: "SQL Server 2019"
    sql_encryption: str | None = None
    sql_strict: bool | None = None  #: TDS 8.0 strict: PRELOGIN answered inside TLS
    sql_instance_confirmed: bool | None = None  #: INSTOPT: None when the server did not say
    sql_port_from: str | None = None  #: "browser" for a port the Browser named
    sql_browser_ports: list[int] | None = None  #: what the Browser names instead of a static port
    bytes: int | None = None  #: bytes of an answer that was not the protocol's
    # -- TLS (web)
    tls_version: str | None = None
    tls_subject: str | None = None
    tls_issuer: str | None = None
    tls_not_before: str | None = None
    tls_not_after: str | None = None
    tls_days_left: int | None = None
    tls_self_signed: bool | None = None
    tls_validity: str | None = None  #: "valid", "expired" or "not yet valid"
    tls_client_certificate_required: bool | None = None
    # -- this machine, not the network
    errno: str | int | None = None  #: the socket error's name
    socket_wait: float | None = None  #: seconds the probe waited for a socket (the open-file limit)
    local_limit: bool | None = None  #: this machine's limit decided it: UNKNOWN, never the port's verdict
    internal_error: bool | None = None  #: a probe or hook failed: UNKNOWN
    observer_error: str | None = None  #: a ``digitalsentry_port_result`` observer failed
    # -- the host's addresses
    addresses_probed: int | None = None  #: each of this many addresses was probed (all_addresses)
    unprobed_addresses: list[str] | None = None  #: the addresses not probed (only the first was)
    # -- where the address is, seen from this machine (the vantage point)
    on_link: bool | None = None  #: the address is on one of this machine's own networks (None: not known here)
    local_network: str | None = None  #: which of them: "10.0.0.0/24"

    # No __init__: ``Facts()`` is made for every probe's outcome, at object()'s own cost.

    @classmethod
    def of(cls, facts: Facts | Mapping[str, object] | None) -> Facts:
        """``facts`` themselves, or the facts of a plain mapping (as a plugin's probe may give them; the
        Browser's instances as dictionaries)."""
        if isinstance(facts, Facts):
            return facts
        made = cls()
        if facts:
            learned = made.__dict__
            for name, value in facts.items():
                if name == "instances" and isinstance(value, list):
                    value = [Listed(str(item.get("instance", "")), item.get("server"), item.get("version"),
                                    item.get("tcp_port")) if isinstance(item, dict) else item for item in value]
                learned[name] = value
        return made

    def add(self, name: str, value: object) -> None:
        """A fact of a plugin's own (``rtsp_server``...): in ``as_dict``, readable with ``get``."""
        self.__dict__[name] = value

    def get(self, name: str, default: object = None) -> object:
        """Any fact by name (a plugin's own, mostly); ``default`` when it was not learned."""
        return self.__dict__.get(name, default)

    def update(self, other: Facts) -> None:
        """Learn ``other``'s facts too (theirs win)."""
        self.__dict__.update(other.__dict__)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    def __bool__(self) -> bool:
        return bool(self.__dict__)

    def as_dict(self) -> dict[str, object]:
        """The facts as the JSON document shows them, in the order they were learned: to read, not to change
        (without Browser instances to spell out, it is the facts' own dictionary: a fleet's document reads
        tens of thousands)."""
        values = self.__dict__
        listed = values.get("instances")
        if isinstance(listed, list):
            values = dict(values)
            values["instances"] = [item.as_dict() if isinstance(item, Listed) else item for item in listed]
        return values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Facts) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Facts({self.__dict__!r})"


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
    sentence; ``facts`` holds what the probe learned (``facts.Facts``: instance name, SQL version, TLS
    subject...).
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
        facts: Facts | Mapping[str, object] | None = None,
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
        self.facts = facts if facts.__class__ is Facts else Facts.of(facts)

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


class Interrupted(BaseException):
    """A stop signal (``signal``: SIGTERM, SIGHUP, SIGINT) while a run was under way, with what it stopped:
    ``in_flight``, what was still being probed (``video 18772/tcp of hq/ds01``; set by the engine; None
    when no probe had run yet, [] when all had ended) and ``stage``, what the run was doing besides
    probing (``while submitting 12 results``), for the one line that says so."""

    def __init__(self, signal: str) -> None:
        super().__init__(signal)
        self.signal = signal
        self.in_flight: list[str] | None = None
        self.stage = ""


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def option_word(name: object) -> bool:
    """A name a plugin gives a role, a format or a submit target, which becomes an option word: lower-case
    letters, digits and '-', starting with a letter."""
    return isinstance(name, str) and bool(name) and name[0].isalpha() and _WORD_CHARS.issuperset(name)


class PluginError(ValueError):
    """An installed plugin's mistake -- a hook that failed or gave what cannot be used, a renderer or a
    submit target that failed --, in one line naming the plugin (``plugin``: its entry-point name; None
    when it is not known), for the frontends to say as they say bad input (the check: UNKNOWN, exit 3)."""

    def __init__(self, plugin: str | None, message: str) -> None:
        from check_digitalsentry.protocols import shown

        super().__init__(f"{'the plugin ' + shown(plugin, 60) if plugin else 'a plugin'}: {message}")
        self.plugin = plugin

    @staticmethod
    def said(exc: object) -> str:
        """What a plugin raised or returned, as one bounded line: ``KeyError('boom')``."""
        from check_digitalsentry.protocols import shown

        return shown(repr(exc), 200)


class RunInfo:
    """Who ran a run, when, and with what: the record a handover document starts with.

    ``tester`` is the person (pytest_dsports' ``--dsports-tester``, else the OS user); ``host_name`` the
    machine that probed; ``started`` and ``ended`` Unix times; ``tool`` the program and its version;
    ``inventories`` each inventory file as given, with the SHA-256 of its bytes (None when unreadable);
    ``command`` the command line. Where the probes came from is not here: each ``PortResult.source``
    says it. The frontends fill it in (``RunInfo.here`` reads the user and host names).
    """

    __slots__ = ("command", "ended", "host_name", "inventories", "started", "tester", "tool")

    def __init__(self, *, tester: str, host_name: str, started: float, ended: float, tool: str,
                 inventories: Sequence[tuple[str, str | None]] = (), command: str = "") -> None:
        self.tester = tester
        self.host_name = host_name
        self.started = started
        self.ended = ended
        self.tool = tool
        self.inventories = tuple(inventories)
        self.command = command

    @classmethod
    def here(cls, *, started: float, ended: float, tool: str, tester: str | None = None,
             inventories: Sequence[tuple[str, str | None]] = (), command: str = "") -> RunInfo:
        """A record of a run on this machine: the OS user (unless ``tester`` is given) and host name."""
        return cls(tester=tester or os_user(), host_name=host_name(), started=started, ended=ended, tool=tool,
                   inventories=inventories, command=command)

    def __repr__(self) -> str:
        return f"RunInfo({self.tester!r} on {self.host_name!r}, {self.tool!r})"


def os_user() -> str:
    """The OS user running this process, or "unknown" when there is none to name."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no USER/LOGNAME and no passwd entry (a bare container)
        return "unknown"


def host_name() -> str:
    """This machine's host name."""
    import socket

    return socket.gethostname() or "unknown"


_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")

_LABEL_PARTS: dict[str, str] = {}


def label_part(text: str) -> str:
    """A label component of lower-case letters, digits and single '_': ``ds01.example.com`` ->
    ``ds01_example_com``, ``::1`` -> ``1``, ``DIGITALSENTRY`` -> ``digitalsentry``."""
    found = _LABEL_PARTS.get(text)
    if found is None:
        word = "".join(c if c in _LABEL_CHARS else "_" for c in text.lower())
        while "__" in word:
            word = word.replace("__", "_")
        found = _LABEL_PARTS[text] = word.strip("_") or "x"
    return found
