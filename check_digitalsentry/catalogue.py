"""DS port catalogue (core layer): the one table of what a Digital Sentry server exposes, with sources.

Every row names its source; the role names here are the names used everywhere else (CLI, inventory,
perfdata labels, JSON, pytest ids). Plugins can add roles through the ``digitalsentry_roles`` hook
(see ``hookspecs``); ``expected_ports`` turns a site into the list of ports to probe.

Sources (details and confidence in the project's ``reference/digital-sentry.md``):

- [KB10756] Schneider Electric Buildings KB AID=10756, "What network ports are required for a remote
  connection to a Digital Sentry System?" (ports 1434/udp, dynamic SQL, 17772, 18772, 443, 18778+).
- [PDN-API] Pelco Developer Network, "Differences in Integration Strategies Between DS and Endura"
  (Pelco API on 60001, 60002, 60010).
- [KB18944] Schneider Electric Buildings KB AID=18944, DigitalSENTRY maintenance and best practices
  guide (API Bundle: not installed by default, DS 7.8.90 and later).
"""

from __future__ import annotations

from check_digitalsentry.model import PortSpec, State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from check_digitalsentry.schema import Site

#: When a role is expected: always, only with ``web``/``api`` set on the site, or per audio client.
ALWAYS, WEB, API, AUDIO = "always", "web", "api", "audio"

#: The role of a port that must NOT be reachable (exposure audit).
FORBID = "forbid"


class Role:
    """One row of the catalogue.

    ``port`` is None for the dynamic SQL port (learned from the SQL Server Browser, or set statically).
    ``severity`` is the state when the port is expected but not usable.
    """

    __slots__ = ("name", "port", "purpose", "severity", "source", "transport", "when")

    def __init__(
        self,
        name: str,
        transport: str,
        port: int | None,
        when: str,
        severity: State,
        purpose: str,
        source: str,
    ) -> None:
        self.name = name
        self.transport = transport
        self.port = port
        self.when = when
        self.severity = severity
        self.purpose = purpose
        self.source = source

    def __repr__(self) -> str:
        return f"Role({self.name!r}, {self.port}/{self.transport})"


OK, WARNING, CRITICAL = State.OK, State.WARNING, State.CRITICAL

#: The built-in catalogue, in the order results are reported.
ROLES: tuple[Role, ...] = (
    Role("sql-browser", "udp", 1434, ALWAYS, CRITICAL,
         "SQL Server Browser: tells clients the dynamic SQL TCP port", "KB10756"),
    Role("sql", "tcp", None, ALWAYS, CRITICAL,
         "DS database (dynamic port, or static via DS QuickSetup > Tools > Configure SQL Ports, "
         "DS 7.2.30+)", "KB10756"),
    Role("video", "tcp", 18772, ALWAYS, CRITICAL,
         "video to DS ControlPoint and DS Admin", "KB10756"),
    Role("diagnostics", "tcp", 17772, ALWAYS, WARNING,
         "ControlPoint Diagnostics and the server version (not required)", "KB10756"),
    Role("web", "tcp", 443, WEB, CRITICAL,
         "DSWebService for Pelco Mobile, only when installed", "KB10756"),
    Role("api-system", "tcp", 60001, API, CRITICAL,
         "Pelco API system manager service (API Bundle, DS 7.8.90+)", "PDN-API, KB18944"),
    Role("api-playback", "tcp", 60002, API, CRITICAL,
         "Pelco API recorder/video playback service (API Bundle, DS 7.8.90+)", "PDN-API, KB18944"),
    Role("api-camera", "tcp", 60010, API, CRITICAL,
         "Pelco API camera interactions (API Bundle, DS 7.8.90+)", "PDN-API, KB18944"),
    Role("audio", "udp", 18778, AUDIO, WARNING,
         "audio to DS ControlPoint, one port per client receiving audio (18778, 18779, ...)",
         "KB10756"),
)

BUILTIN_ROLE_NAMES: tuple[str, ...] = tuple(r.name for r in ROLES)


_ROLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def merge_roles(extra: Iterable[Role]) -> tuple[Role, ...]:
    """The built-in roles followed by roles added by plugins (a plugin cannot replace a built-in).

    A plugin's role name must be lower-case letters, digits and '-', starting with a letter, at most 32
    characters, and not ``forbid``: it becomes an option word (``--port NAME=PORT``), a perfdata label and
    part of an Icinga service name. ValueError otherwise, naming the role."""
    roles = list(ROLES)
    seen = {r.name for r in roles}
    for role in extra:
        name = role.name
        if (not isinstance(name, str) or not name or not name[0].isalpha() or len(name) > 32
                or not _ROLE_CHARS.issuperset(name) or name == FORBID):
            raise ValueError(f"a plugin's role {name!r}: a role name is lower-case letters, digits and '-', "
                             f"starting with a letter, at most 32 characters, and not {FORBID!r}")
        if role.name not in seen:
            roles.append(role)
            seen.add(role.name)
    return tuple(roles)


def expected_ports(site: Site, roles: Sequence[Role] = ROLES) -> list[PortSpec]:
    """The ports a site is expected to expose, then its forbidden ports, in report order.

    The SQL port comes out as ``port=None`` unless the site sets a static ``sql_port``; the engine
    learns the dynamic port from the SQL Server Browser.
    """
    specs: list[PortSpec] = []
    for role in roles:
        severity = site.severity.get(role.name, role.severity)
        if (role.when == WEB and not site.web) or (role.when == API and not site.api):
            continue
        if role.when == AUDIO:
            base = site.ports.get(role.name, role.port)
            assert base is not None
            specs.extend(PortSpec(role.name, base + i, role.transport, severity)
                         for i in range(site.audio_clients))
            continue
        port = site.sql_port if role.name == "sql" else role.port
        port = site.ports.get(role.name, port)
        specs.append(PortSpec(role.name, port, role.transport, severity))
    forbid_severity = site.severity.get(FORBID, CRITICAL)
    specs.extend(PortSpec(FORBID, port, transport, forbid_severity, forbidden=True)
                 for port, transport in site.forbid)
    return specs
