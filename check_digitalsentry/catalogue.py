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

from check_digitalsentry.model import PluginError, State, option_word

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
    (``--severity audio=warning``, for a test during a live session). ``plugin``: the plugin that added it
    (None: the catalogue's own).
    """

    __slots__ = ("live", "must_answer", "name", "needs", "plugin", "port", "probe", "purpose", "service",
                 "severity", "sim_port", "source", "transport", "when")

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
        self.plugin: str | None = None

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


def merge_roles(extra: Iterable[Role]) -> tuple[Role, ...]:
    """The built-in roles followed by roles added by plugins.

    A plugin's role name must be lower-case letters, digits and '-', starting with a letter, at most 32
    characters, and not ``forbid``: it becomes an option word (``--port NAME=PORT``), a perfdata label and
    part of an Icinga service name; and no other role's (a plugin cannot replace a built-in). Its transport
    is tcp or udp, its port a port number (or None: learned at run time), its severity a ``State``, what it
    ``needs`` a role before it, its probe a function or ``"module:function"`` (its ``when``, a site
    setting, is checked where the settings are known: ``builtin``). ``model.PluginError`` (a ValueError)
    otherwise, naming the plugin and the role."""
    roles = list(ROLES)
    seen = {r.name for r in roles}
    for role in extra:
        name = role.name
        if not option_word(name) or len(name) > 32 or name == FORBID:
            raise PluginError(role.plugin, f"its role {name!r}: a role name is lower-case letters, digits and "
                              f"'-', starting with a letter, at most 32 characters, and not {FORBID!r}")
        if name in seen:
            raise PluginError(role.plugin, f"its role {name!r}: there is a role of that name already")
        wrong = _wrong_role(role, seen)
        if wrong:
            raise PluginError(role.plugin, f"its role {name!r}: {wrong}")
        roles.append(role)
        seen.add(name)
    return tuple(roles)


def _port_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _wrong_role(role: Role, known: set[str]) -> str:
    """What is wrong with a plugin's role besides its name ("" for nothing)."""
    probe = role.probe
    for wrong, why in (
            (role.transport not in ("tcp", "udp"), f"transport {role.transport!r}: expected 'tcp' or 'udp'"),
            (role.port is not None and not _port_number(role.port), f"port {role.port!r}: expected 1-65535 or "
                                                                     "None"),
            (role.sim_port is not None and not _port_number(role.sim_port), f"sim_port {role.sim_port!r}: "
                                                                             "expected 1-65535 or None"),
            (not isinstance(role.severity, State), f"severity {role.severity!r}: expected a model.State"),
            (role.needs is not None and role.needs not in known, f"needs {role.needs!r}: not a role before it"),
            (not (probe is None or callable(probe) or (isinstance(probe, str) and probe.count(":") == 1
                                                      and all(probe.split(":")))),
             f"probe {probe!r}: expected a function or 'module:function'"),
            (not all(isinstance(text, str) for text in (role.purpose, role.source, role.service, role.live)),
             "purpose, source, service and live: expected text")):
        if wrong:
            return why
    return ""


#: The built-in roles with a port per unit of a count setting (audio: one per client).
PER_UNIT: frozenset[str] = frozenset(role.name for role in ROLES if role.when == AUDIO)
