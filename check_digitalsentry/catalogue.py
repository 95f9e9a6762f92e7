"""DS port catalogue (core layer): the one table of what a Digital Sentry server exposes, with sources.

A role is one line here, and everything about it comes from that line: its port and transport, the
state when it fails, the probe that proves it (a plain TCP connect or UDP datagram unless it names one),
what it depends on, the site setting that switches it on, its help line, and the port the simulator
serves it on. The role names here are the names used everywhere else (CLI, inventory, perfdata labels,
JSON, pytest ids). Plugins add roles through the ``digitalsentry_roles`` hook (see ``hookspecs``);
``schema.expected_ports`` turns a site into the list of ports to probe.

Sources (details and confidence in the project's ``reference/digital-sentry.md``):

- [KB10756] Schneider Electric Buildings KB AID=10756, "What network ports are required for a remote
  connection to a Digital Sentry System?" (ports 1434/udp, dynamic SQL, 17772, 18772, 443, 18778+).
- [PDN-API] Pelco Developer Network, "Differences in Integration Strategies Between DS and Endura"
  (Pelco API on 60001, 60002, 60010).
- [KB18944] Schneider Electric Buildings KB AID=18944, DigitalSENTRY maintenance and best practices
  guide (API Bundle: not installed by default, DS 7.8.90 and later).
"""

from __future__ import annotations

from check_digitalsentry.model import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    #: a probe function (``engine.api.Probe``; not imported here: the engine sits above the catalogue)
    Probe = Callable[[Any], Any]

#: When a role is expected: always, or when the site setting of this name is set -- a switch (``web``,
#: ``api``: true or false) or a count (``audio_clients``: one port per unit, from the role's port on).
ALWAYS, WEB, API, AUDIO = "always", "web", "api", "audio_clients"

#: The role of a port that must NOT be reachable (exposure audit).
FORBID = "forbid"
#: The two roles the DS orchestration joins: the SQL Server Browser names the dynamic SQL port.
BROWSER, SQL = "sql-browser", "sql"


class Role:
    """One row of the catalogue.

    ``port`` is None for a port learned at run time (the dynamic SQL port, named by the role it ``needs``,
    the SQL Server Browser), unless a site sets it. ``severity`` is the state when the port is expected
    but not usable. ``probe`` is the probe that proves the role: a probe function, ``"module:function"``
    (imported on first use), or None for the transport's plain probe (a TCP connect; a UDP datagram and
    an ear for ICMP). ``must_answer``: silence is a failure (a UDP role whose job is to answer).
    ``sim_port`` is the port the simulator's unprivileged ("high") layout serves it on (default: its own
    port, when that is 1024 or above). ``service`` names what runs behind the port in the customer's words
    ("the Digital Sentry video service"). ``live`` says when the server listens at all, for a port it opens
    only while something happens ("audio plays"): while it does not, nothing can be proved there, so the
    role's result is informational ("not testable while no audio plays") unless a site makes it strict
    (``--severity audio=warning``, for a test during a live session).
    """

    __slots__ = ("live", "must_answer", "name", "needs", "port", "probe", "purpose", "service", "severity",
                 "sim_port", "source", "transport", "when")

    def __init__(
        self,
        name: str,
        transport: str,
        port: int | None,
        when: str,
        severity: State,
        purpose: str,
        source: str,
        *,
        probe: str | Probe | None = None,
        needs: str | None = None,
        must_answer: bool = False,
        sim_port: int | None = None,
        service: str = "",
        live: str = "",
    ) -> None:
        self.name = name
        self.transport = transport
        self.port = port
        self.when = when
        self.severity = severity
        self.purpose = purpose
        self.source = source
        self.probe = probe
        self.needs = needs
        self.must_answer = must_answer
        self.sim_port = sim_port if sim_port is not None or port is None or port < 1024 else port
        self.service = service or f"the service behind {name}"
        self.live = live

    def __repr__(self) -> str:
        return f"Role({self.name!r}, {self.port}/{self.transport})"


OK, WARNING, CRITICAL = State.OK, State.WARNING, State.CRITICAL
_PROBES = "check_digitalsentry.engine.probes"

_API = "the Pelco API services (API Bundle)"

#: The built-in catalogue, in the order results are reported.
ROLES: tuple[Role, ...] = (
    Role(BROWSER, "udp", 1434, ALWAYS, CRITICAL,
         "SQL Server Browser: tells clients the dynamic SQL TCP port", "KB10756",
         probe=f"{_PROBES}:probe_browser", must_answer=True, sim_port=11434,
         service="the SQL Server Browser service"),
    Role(SQL, "tcp", None, ALWAYS, CRITICAL,
         "DS database (dynamic port, or static via DS QuickSetup > Tools > Configure SQL Ports, "
         "DS 7.2.30+)", "KB10756", probe=f"{_PROBES}:probe_tds", needs=BROWSER, sim_port=49172,
         service="the DS database (SQL Server)"),
    Role("video", "tcp", 18772, ALWAYS, CRITICAL,
         "video to DS ControlPoint and DS Admin", "KB10756", service="the Digital Sentry video service"),
    Role("diagnostics", "tcp", 17772, ALWAYS, WARNING,
         "ControlPoint Diagnostics and the server version (not required)", "KB10756",
         service="the Digital Sentry diagnostics service"),
    Role("web", "tcp", 443, WEB, CRITICAL,
         "DSWebService for Pelco Mobile, only when installed", "KB10756",
         probe="check_digitalsentry.engine.tls:probe_tls", sim_port=10443,
         service="DSWebService, for Pelco Mobile"),
    Role("api-system", "tcp", 60001, API, CRITICAL,
         "Pelco API system manager service (API Bundle, DS 7.8.90+)", "PDN-API, KB18944", service=_API),
    Role("api-playback", "tcp", 60002, API, CRITICAL,
         "Pelco API recorder/video playback service (API Bundle, DS 7.8.90+)", "PDN-API, KB18944",
         service=_API),
    Role("api-camera", "tcp", 60010, API, CRITICAL,
         "Pelco API camera interactions (API Bundle, DS 7.8.90+)", "PDN-API, KB18944", service=_API),
    # KB10756: "the next DS CP client that requests audio will use the next UDP port up": a port per client
    # receiving audio. Nothing says the server keeps it bound while no audio plays: on an idle server a
    # correct forward meets nothing listening (closed), a missing one is dropped (silence). Informational by
    # default; strict (--severity audio=warning) only during a live audio session.
    Role("audio", "udp", 18778, AUDIO, OK,
         "audio to DS ControlPoint, one port per client receiving audio (18778, 18779, ...)",
         "KB10756", service="the Digital Sentry audio service", live="audio plays"),
)

BUILTIN_ROLE_NAMES: tuple[str, ...] = tuple(r.name for r in ROLES)
BY_NAME: dict[str, Role] = {r.name: r for r in ROLES}


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


#: The built-in roles with a port per unit of a count setting (audio: one per client).
PER_UNIT: frozenset[str] = frozenset(role.name for role in ROLES if role.when == AUDIO)
