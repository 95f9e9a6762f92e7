"""Site schema (core layer): a site's settings, declared once, and the ``Site`` value object.

Each setting of a site is one ``field(...)`` in the body of ``Site`` below: its type, its default, the
kind of value it holds (``kinds``: which checks it and says what is wrong), its command-line option and
its help. Everything else derives from that one declaration:

- the inventory's keys (``[[sites]]`` and ``[defaults]``) and their checks (``inventory``);
- the check plugin's site options (``-H``, ``--sql-port``, ``--port ROLE=PORT``...), their help and
  their checks (``cli.options``);
- pytest_dsports' ad-hoc sites (``--dsports-host "HOST KEY=VALUE..."``, ``inventory.site_from_words``).

The ports a site is expected to expose follow from its settings and the port catalogue
(``expected_ports``), and so does what a chosen role depends on (``selected``).
"""

from __future__ import annotations

from check_digitalsentry import catalogue
from check_digitalsentry.kinds import (
    AUDIO_CLIENTS,
    BOOL,
    CERT_DAYS,
    DEFAULT_TIMEOUT,
    FORBID,
    HOSTS,
    INSTANCE,
    MAX_AUDIO_CLIENTS,
    MAX_TIMEOUT,
    NAME,
    OBJECT_NAME,
    PORT,
    PORTS,
    RANGE,
    REACHED_FROM,
    ROLES,
    SECONDS,
    SEVERITY,
    TEXT,
    Kind,
    SchemaError,
    host_name,
    port_number,
    printable,
    seconds,
    show,
    unknown,
)
from check_digitalsentry.model import PortSpec, State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from check_digitalsentry.kinds import Path
    from check_digitalsentry.ranges import Range

__all__ = ["DEFAULT_TIMEOUT", "MAX_AUDIO_CLIENTS", "MAX_TIMEOUT", "SchemaError", "Site", "host_name",
           "port_number", "printable", "seconds", "show", "unknown"]


# --- fields ---------------------------------------------------------------------------------------


class Field:
    """One setting of a site (see ``field``)."""

    __slots__ = ("default", "group", "help", "kind", "metavar", "name", "option", "required")

    def __init__(self, kind: Kind, default: object, required: bool, option: tuple[str, ...], metavar: str,
                 group: str, help: str) -> None:
        self.kind = kind
        self.default = default
        self.required = required
        self.option = option
        self.metavar = metavar
        self.group = group
        self.help = help
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def site_only(self) -> bool:
        """A setting that makes a site itself (name, hosts): never in [defaults]."""
        return self.required

    def fresh_default(self) -> object:
        default = self.default
        return dict(default) if isinstance(default, dict) else default

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(kind: Kind, default: object = None, *, required: bool = False, option: tuple[str, ...] = (),
          metavar: str = "", group: str = "Digital Sentry", help: str = "") -> Any:
    """Declare a setting in the body of ``Site``: ``sql_port: int | None = field(PORT, option=...)``."""
    return Field(kind, default, required, option, metavar, group, help)


class Site:
    """One DS site: where its servers are and what they are expected to expose.

    The class body is the schema: one ``field`` per setting. ``ports`` remaps a role to the external
    port it is reached on (NAT, or a simulator on high ports; for ``audio`` the first port of the
    range); ``forbid`` holds ``(port, transport)`` pairs; ``timeout`` None means the run's own limit.
    ``Site(name, hosts, **settings)`` takes the values as they are (the Python API); ``build_site``
    checks raw values first (what every frontend does).
    """

    name: str = field(NAME, required=True, help="site name: letters, digits, '.', '_' or '-', unique")
    hosts: tuple[str, ...] = field(HOSTS, required=True, option=("-H", "--hostname"), metavar="HOST",
                                   group="target", help="DS server to check (name or address)")
    description: str = field(TEXT, "", help="free text")
    # Who and where, for the handover document (inventory keys; no check options: a check by -H needs none).
    customer: str = field(TEXT, "", help="the customer the site is handed over to (handover document)")
    location: str = field(TEXT, "", help="where the site is, e.g. its address (handover document)")
    reference: str = field(TEXT, "", help="a contract, order or ticket reference (handover document)")
    sql_instance: str | None = field(
        INSTANCE, option=("--sql-instance",), metavar="NAME",
        help="SQL Server instance of the DS database (default: every instance the Browser lists)")
    sql_port: int | None = field(
        PORT, option=("--sql-port",), metavar="PORT",
        help="static SQL port (DS QuickSetup > Tools > Configure SQL Ports, DS 7.2.30+); default: ask the "
             "SQL Server Browser")
    web: bool = field(BOOL, False, option=("--web",), help="DSWebService (Pelco Mobile) is expected on 443")
    api: bool = field(BOOL, False, option=("--api",),
                      help="the Pelco API bundle is expected (60001, 60002, 60010; DS 7.8.90+)")
    audio_clients: int = field(AUDIO_CLIENTS, 0, option=("--audio-clients",), metavar="N",
                               help="ControlPoint clients receiving audio: UDP 18778, 18779, ... (default 0)")
    tls_verify: bool = field(BOOL, False, option=("--tls-verify",), help="verify the web certificate chain")
    reached_from: str | None = field(
        REACHED_FROM, option=("--reached-from",), metavar="PATH", group="target",
        help="the path the site's clients take, which the run must prove: internet (from outside, through the "
             "site's public address and its NAT), lan (inside the site network) or vpn; a run that cannot "
             "prove it is UNKNOWN (default: none required; every output still says what was proved)")
    all_addresses: bool = field(BOOL, False, option=("--all-addresses",), group="target",
                                help="probe every address a host name resolves to, each judged on its own "
                                     "(default: the first, as clients do)")
    forbid: tuple[tuple[int, str], ...] = field(
        FORBID, (), option=("--forbid",), metavar="PORT/PROTO",
        help="a port that must NOT be reachable, e.g. 3389/tcp (repeatable)")
    ports: dict[str, int] = field(PORTS, {}, option=("--port",), metavar="ROLE=PORT",
                                  help="external port of a role when NAT remaps it (repeatable)")
    severity: dict[str, State] = field(
        SEVERITY, {}, option=("--severity",), metavar="ROLE=LEVEL",
        help="state when ROLE fails: ok, warning or critical; 'forbid' for forbidden ports (repeatable)")
    timeout: float | None = field(SECONDS, help="seconds for the whole run of the site (default: the run's)")
    warning: Range | None = field(RANGE, option=("-w", "--warning"), metavar="RANGE",
                                  group="thresholds and timing", help="response time per port, seconds (range)")
    critical: Range | None = field(RANGE, option=("-c", "--critical"), metavar="RANGE",
                                   group="thresholds and timing", help="response time per port, seconds (range)")
    cert_days: tuple[int, int | None] | None = field(
        CERT_DAYS, option=("--cert-days",), metavar="WARN[,CRIT]", group="thresholds and timing",
        help="the web certificate's days left: WARNING below WARN, CRITICAL below CRIT (as check_http -C)")
    roles: tuple[str, ...] = field(
        ROLES, (), option=("--role",), metavar="ROLE", group="target",
        help="report only this role (repeatable; 'forbid' for the forbidden ports); what it depends on is still "
             "probed (sql needs the SQL Server Browser). Default: every role")
    # Icinga 2 (inventory keys): the objects --icinga2-objects prints and --submit posts results to.
    icinga_host: str | None = field(OBJECT_NAME, help="the site's Icinga Host object (default: the site name)")
    icinga_service: str = field(OBJECT_NAME, "digitalsentry",
                                help="the site's Icinga Service; per role: SERVICE-ROLE (default: digitalsentry)")
    icinga_per_role: bool = field(BOOL, False, help="one Icinga service per role (SERVICE-ROLE) instead of one "
                                                    "per site")
    icinga_template: str = field(OBJECT_NAME, "digitalsentry-service",
                                 help="the Service template --icinga2-objects imports: digitalsentry-service "
                                      "(active checks) or digitalsentry-passive (results from --submit)")

    def __init__(self, name: str, hosts: Iterable[str], **settings: Any) -> None:
        self.name = name
        self.hosts = (hosts,) if isinstance(hosts, str) else tuple(hosts)
        for spec in FIELDS[2:]:
            value = settings.pop(spec.name) if spec.name in settings else spec.fresh_default()
            setattr(self, spec.name, dict(value) if isinstance(value, dict) else value)
        if settings:
            raise TypeError(f"Site() got unknown settings: {', '.join(sorted(settings))}")

    def __setattr__(self, name: str, value: object) -> None:
        if name not in BY_NAME:  # a misspelt setting must not pass silently
            raise AttributeError(f"Site has no setting {name!r}")
        object.__setattr__(self, name, value)

    def reports(self, role: str) -> bool:
        """Whether the site reports a role: every role, or only those chosen (``--role``, ``roles = [...]``)."""
        return not self.roles or role in self.roles

    def copy(self, **changes: Any) -> Site:
        """A new site with the same settings, some changed."""
        values = {spec.name: getattr(self, spec.name) for spec in FIELDS}
        values.update(changes)
        return Site(values.pop("name"), values.pop("hosts"), **values)

    def __repr__(self) -> str:
        return f"Site({self.name!r}, hosts={self.hosts!r})"


#: Every setting, in the order the schema documents them (name and hosts first).
FIELDS: tuple[Field, ...] = tuple(v for v in vars(Site).values() if isinstance(v, Field))
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
SITE_KEYS: tuple[str, ...] = tuple(BY_NAME)
DEFAULT_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if not f.site_only)


# --- building sites -------------------------------------------------------------------------------


def check_settings(raw: Mapping[str, object], roles: Sequence[str], *, defaults: bool = False,
                   base: Mapping[str, object] | None = None) -> dict[str, object]:
    """Check the typed values of a ``[[sites]]`` table (or of ``[defaults]``) and merge them over ``base``;
    SchemaError with the key path for the first mistake."""
    known = DEFAULT_KEYS if defaults else SITE_KEYS
    values = dict(base or {})
    for key, value in raw.items():
        spec = BY_NAME.get(key)
        if spec is None or key not in known:
            if spec is not None:
                raise SchemaError(f"{key!r} cannot be a default: set it in each [[sites]]", (key,))
            raise SchemaError(unknown("key", key, known), (key,))
        try:
            checked = spec.kind.check(value, roles)
        except SchemaError as exc:
            raise exc.under(key) from None
        values[key] = spec.kind.merge(values[key], checked) if key in values else checked
    return values


def parse_words(words: Mapping[str, Sequence[str]], roles: Sequence[str]) -> dict[str, object]:
    """Check command-line words per setting (``{"sql_port": ["1433"], "ports": ["video=28772"]}``).

    A setting of one value given more than once is a mistake, and so is the same table key twice
    (``--port video=1 --port video=2``): nothing is silently dropped.
    """
    values: dict[str, object] = {}
    for key, given in words.items():
        spec = BY_NAME[key]
        action = spec.kind.option_action
        if action == "flag":
            if given:
                values[key] = True
            continue
        if action == "value" and len(given) > 1:
            raise SchemaError(f"given {len(given)} times ({', '.join(map(repr, given))}): give it once", (key,))
        for word in given:
            try:
                item = spec.kind.parse(word, roles)
            except SchemaError as exc:
                raise exc.under(key) from None
            if key not in values:
                values[key] = item
            elif isinstance(item, dict):
                old = values[key]
                assert isinstance(old, dict)
                twice = [k for k in item if k in old]
                if twice:
                    raise SchemaError(f"given twice ({old[twice[0]]!s} and {item[twice[0]]!s}): give it once",
                                      (key, twice[0]))
                values[key] = {**old, **item}
            else:
                old_items = values[key]
                assert isinstance(old_items, tuple) and isinstance(item, tuple)
                values[key] = old_items + tuple(i for i in item if i not in old_items)
    return values


def build_site(values: Mapping[str, object], path: Path = ()) -> Site:
    """The Site of checked values (``check_settings``/``parse_words``); SchemaError when a required
    setting is missing or the settings do not fit together."""
    for spec in FIELDS:
        if spec.required and spec.name not in values:
            raise SchemaError(f"missing required key {spec.name!r}", path)
    settings = dict(values)
    ports = settings.get("ports", {})
    assert isinstance(ports, dict)
    for role in catalogue.ROLES:  # a count of ports from the role's port on must stay below 65536
        count = settings.get(role.when, 0) if role.when != catalogue.ALWAYS else 0
        base = ports.get(role.name, role.port)
        if isinstance(count, int) and not isinstance(count, bool) and count and base is not None \
                and base + count - 1 > 65535:
            what = role.when.replace("_", " ")
            raise SchemaError(f"{count} {what} from port {base} run past port 65535", (*path, role.when))
    name, hosts = settings.pop("name"), settings.pop("hosts")
    assert isinstance(name, str) and isinstance(hosts, tuple)
    return Site(name, hosts, **settings)


# --- the ports a site expects ---------------------------------------------------------------------


def expected_ports(site: Site, roles: Sequence[catalogue.Role] = catalogue.ROLES) -> list[PortSpec]:
    """The ports a site is expected to expose, then its forbidden ports, in report order.

    A role is expected always, or when the site setting it names (``Role.when``) is set: a switch
    (``web``) gives its one port, a count (``audio_clients``) that many ports from the role's port on.
    A role's port is the site's (``ports``, and ``sql_port`` for SQL), else the catalogue's; a port the
    catalogue leaves to run time (the dynamic SQL port) comes out as ``port=None``.
    """
    specs: list[PortSpec] = []
    for role in roles:
        severity = site.severity.get(role.name, role.severity)
        count = 1
        if role.when != catalogue.ALWAYS:
            switch = getattr(site, role.when, None)
            if not switch:
                continue
            if not isinstance(switch, bool) and isinstance(switch, int):
                count = switch
        port = site.sql_port if role.name == catalogue.SQL else role.port
        port = site.ports.get(role.name, port)
        if count > 1:
            assert port is not None
            specs.extend(PortSpec(role.name, port + i, role.transport, severity) for i in range(count))
        else:
            specs.append(PortSpec(role.name, port, role.transport, severity))
    forbid_severity = site.severity.get(catalogue.FORBID, State.CRITICAL)
    specs.extend(PortSpec(catalogue.FORBID, port, transport, forbid_severity, forbidden=True)
                 for port, transport in site.forbid)
    return specs


def selected(site: Site, specs: list[PortSpec],
             roles: Sequence[catalogue.Role] = catalogue.ROLES) -> list[PortSpec]:
    """The ports of the roles a site reports (``roles``; all when empty) and of what they depend on: a
    role whose port is learned at run time needs the role that names it (``Role.needs``: the SQL Server
    Browser for a SQL port that is not static). The judgement reports only the chosen roles."""
    if not site.roles:
        return specs
    needs = {role.name: role.needs for role in roles if role.needs}
    keep = set(site.roles)
    keep.update(needs[spec.role] for spec in specs
                if spec.role in keep and spec.port is None and not spec.forbidden and spec.role in needs)
    return [spec for spec in specs if spec.role in keep]
