"""Site schema (core layer): a site's settings, declared once, and the ``Site`` value object.

Each setting of a site is one ``field(...)`` in the body of ``Site`` below: its type, its default, the
kind of value it holds (which checks it and says what is wrong), its command-line option and its help.
Everything else derives from that one declaration:

- the inventory's keys (``[[sites]]`` and ``[defaults]``) and their checks (``inventory``);
- the check plugin's site options (``-H``, ``--sql-port``, ``--port ROLE=PORT``...), their help and
  their checks (``nagios.options``);
- pytest_dsports' ad-hoc sites (``--dsports-host "HOST KEY=VALUE..."``, ``inventory.site_from_words``).

One ``Kind`` per kind of value (a port, seconds, a role table...) checks a value from TOML
(``Kind.check``) and a word from a command line (``Kind.parse``) with the same rule and the same
message; a mistake is a ``SchemaError`` whose ``path`` says which key (``("ports", "vidoe")``), so the
inventory can add ``file:line:`` and the check plugin the option's name.

No I/O here, and no imports that cost start-up time (``difflib`` only on the error path).
"""

from __future__ import annotations

from check_digitalsentry.model import State, label_part

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any, Union

    from check_digitalsentry.ranges import Range

    Path = tuple[Union[str, int], ...]

MAX_TIMEOUT = 3600.0
MAX_AUDIO_CLIENTS = 64
MAX_SQL_INSTANCE = 32  #: the SQL Server Browser's limit on instance names
MAX_TEXT = 4000  #: free text (description...): at most this many characters
MAX_NAME = 100  #: a site name
MAX_HOST = 253  #: a DNS name's length limit (RFC 1035)
FORBID_ROLE = "forbid"  #: the severity key of forbidden ports (catalogue.FORBID)

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_DIGITS = frozenset("0123456789")


class SchemaError(ValueError):
    """A value that does not fit its setting: ``message`` says what is wrong, ``path`` where (the key,
    and below it the table key or list index: ``("ports", "vidoe")``, ``("forbid", 2)``)."""

    def __init__(self, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def under(self, *prefix: str | int) -> SchemaError:
        """The same error one level down: ``("sites", 2)`` + ``("ports", "vidoe")``."""
        return SchemaError(self.message, (*prefix, *self.path))


def show(value: object) -> str:
    """A value as users wrote it, near enough: ``'yes'``, ``true``, ``3``, ``['a']``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float, list, dict)):
        return repr(value)
    return str(value)  # TOML dates and times


def unknown(kind: str, key: str, known: Sequence[str]) -> str:
    """``unknown role 'vidoe' (did you mean 'video'?)``, or the known words when nothing is close."""
    import difflib  # only on this error path

    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return f"unknown {kind} {key!r} ({hint})"


#: Line and paragraph separators, and the bidirectional embeddings, overrides and isolates that make text
#: read other than it is (U+202E turns "exe.txt" into "txt.exe" on screen and in a handover document).
_UNSEEN = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> bool:
    """No control characters (C0, DEL, C1), no line or paragraph separators, no bidirectional controls."""
    return not any(ord(c) < 32 or 127 <= ord(c) < 160 or c in _UNSEEN for c in text)


# --- kinds of value -------------------------------------------------------------------------------
#
# Each kind is one ``Kind`` holding plain functions rather than a class of its own: a class costs about
# 0.1 ms to create at import, and this module is on every check's start-up path.


def _replace(old: Any, new: Any) -> Any:
    return new


def _merge_tables(old: Any, new: Any) -> Any:
    return {**old, **new}  # key by key: the site wins


class Kind:
    """A kind of value: ``check(value, roles)`` takes a typed value (TOML), ``parse(text, roles)`` a
    command-line word; both give the value a ``Site`` holds, or raise ``SchemaError``. ``roles`` are the
    known role names (the catalogue's and the plugins'). ``option_action`` is how its option takes words:
    "value" (one word), "flag" (a switch) or "item" (repeatable, each word adds one item); ``merge`` is
    how a site's value combines with the [defaults] one."""

    __slots__ = ("check", "merge", "option_action", "parse")

    def __init__(self, check: Callable[[object, Sequence[str]], Any],
                 parse: Callable[[str, Sequence[str]], Any] | None = None, *, option_action: str = "value",
                 merge: Callable[[Any, Any], Any] = _replace) -> None:
        self.check = check
        self.parse = parse or check
        self.option_action = option_action
        self.merge = merge


def _name(value: object, roles: Sequence[str]) -> str:
    if not isinstance(value, str) or not value or not _NAME_CHARS.issuperset(value):
        raise SchemaError(f"expected a name of letters, digits, '.', '_' or '-', got {show(value)}")
    if len(value) > MAX_NAME:
        raise SchemaError(f"expected a name of at most {MAX_NAME} characters, got {len(value)}")
    return value


def _text(value: object, roles: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"expected a string, got {show(value)}")
    if not printable(value.replace("\n", " ").replace("\t", " ")) or len(value) > MAX_TEXT:
        raise SchemaError(f"expected text of at most {MAX_TEXT} characters without control characters, "
                          f"got {show(value[:60])}{'...' if len(value) > 60 else ''}")
    return value


def host_name(value: object) -> str:
    """A host name or address as the engine takes it: ``[::1]`` becomes ``::1``; SchemaError otherwise."""
    if not isinstance(value, str):
        raise SchemaError(f"expected a host name, got {show(value)}")
    host = value.strip()
    if host.startswith("[") and host.endswith("]") and ":" in host:
        host = host[1:-1]  # an IPv6 literal as in a URL
    if not host:
        raise SchemaError(f"empty host name {value!r}")
    if not printable(host) or any(c.isspace() for c in host):
        raise SchemaError(f"host name contains a space or a control character: {value!r}")
    if len(host) > MAX_HOST:
        raise SchemaError(f"host name longer than {MAX_HOST} characters: {value[:40]!r}...")
    if host.count(":") == 1:
        raise SchemaError(f"{value!r} looks like HOST:PORT: give the host alone, and remapped ports in "
                          f"[sites.ports]")
    if "/" in host or "@" in host or "\\" in host or "[" in host or "]" in host:
        raise SchemaError(f"expected a host name or an address (an IPv6 address may stand in brackets: [::1]), "
                          f"got {value!r}")
    return host


def _hosts(value: object, roles: Sequence[str]) -> tuple[str, ...]:
    """A list of hosts (a single string is one host)."""
    if isinstance(value, str):
        return (host_name(value),)
    if not isinstance(value, list):
        raise SchemaError(f"expected a list of host names, got {show(value)}")
    if not value:
        raise SchemaError("expected at least one host, got []")
    hosts: list[str] = []
    parts: list[str] = []
    for index, item in enumerate(value):
        try:
            host = host_name(item)
        except SchemaError as exc:
            raise exc.under(index) from None
        part = label_part(host)
        if part in parts:
            first = parts.index(part)
            if hosts[first].lower() == host.lower():
                raise SchemaError(f"duplicate host {item!r} (first at hosts[{first}])", (index,))
            raise SchemaError(f"hosts {hosts[first]!r} (hosts[{first}]) and {item!r} would share the perfdata "
                              f"label part {part!r}: give one of them as an address", (index,))
        hosts.append(host)
        parts.append(part)
    return tuple(hosts)


def _instance(value: object, roles: Sequence[str]) -> str:
    what = f"an instance name of 1 to {MAX_SQL_INSTANCE} characters"
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_SQL_INSTANCE or value != value.strip():
        raise SchemaError(f"expected {what}, got {show(value)}")
    if "\\" in value:
        raise SchemaError(f"expected the instance name alone ({value.rpartition(chr(92))[2]!r}), got {value!r}")
    if not printable(value):
        raise SchemaError(f"expected {what} without control characters, got {value!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise SchemaError(f"expected {what} that the SQL Server Browser can carry (Latin-1 letters), "
                          f"got {value!r}") from None
    return value


def port_number(value: object) -> int:
    """A TCP/UDP port 1-65535 from an int or from ASCII digits; SchemaError otherwise."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise SchemaError(f"expected a port number 1-65535, got {show(value)}")
    return value


def _port(value: object, roles: Sequence[str] = ()) -> int:
    if isinstance(value, str):  # TOML wants a number; a command-line word is text
        raise SchemaError(f"expected a port number 1-65535, got {show(value)}")
    return port_number(value)


def _port_word(text: str, roles: Sequence[str] = ()) -> int:
    return port_number(text.strip())


def _bool(value: object, roles: Sequence[str]) -> bool:
    if not isinstance(value, bool):
        raise SchemaError(f"expected true or false, got {show(value)}")
    return value


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False,
               "0": False}


def _bool_word(text: str, roles: Sequence[str]) -> bool:
    found = _BOOL_WORDS.get(text.strip().lower())
    if found is None:
        raise SchemaError(f"expected true or false, got {text!r}")
    return found


def _count(low: int, high: int) -> Kind:
    """A whole number ``low``-``high``."""

    def check(value: object, roles: Sequence[str]) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SchemaError(f"expected a whole number {low}-{high}, got {show(value)}")
        return value

    def parse(text: str, roles: Sequence[str]) -> int:
        word = text.strip()
        return check(int(word) if word.isascii() and word.isdigit() and len(word) < 10 else text, roles)

    return Kind(check, parse)


def seconds(value: object, what: str = "seconds") -> float:
    """Seconds > 0 and <= 3600 from a number or from a decimal word (``2``, ``0.5``); SchemaError otherwise."""
    number: object = value
    if isinstance(value, str):
        word = value.strip()
        number = float(word) if word and set(word) <= _DIGITS | {"."} and word.count(".") <= 1 \
            and word != "." else value
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number <= MAX_TIMEOUT:
        raise SchemaError(f"expected {what} > 0 and <= {MAX_TIMEOUT:g}, got {show(value)}")
    return float(number)


def _seconds(value: object, roles: Sequence[str]) -> float:
    if isinstance(value, str):
        raise SchemaError(f"expected seconds > 0 and <= {MAX_TIMEOUT:g}, got {show(value)}")
    return seconds(value)


def _seconds_word(text: str, roles: Sequence[str]) -> float:
    return seconds(text)


def _range(value: object, roles: Sequence[str]) -> Range:
    from check_digitalsentry.ranges import Range  # only when a threshold is set

    try:
        return Range.coerce(value)
    except ValueError as exc:
        raise SchemaError(str(exc)) from None


def forbid_entry(value: object) -> tuple[int, str]:
    """``"3389/tcp"`` -> ``(3389, "tcp")``; SchemaError otherwise."""
    port_text, transport = "", ""
    if isinstance(value, str):
        port_text, _, transport = value.strip().lower().partition("/")
    if transport not in ("tcp", "udp") or not (port_text.isascii() and port_text.isdigit()):
        raise SchemaError(f"expected 'PORT/tcp' or 'PORT/udp', got {show(value)}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise SchemaError(f"port {port} out of range 1-65535 in {value!r}")
    return port, transport


def _forbid(value: object, roles: Sequence[str]) -> tuple[tuple[int, str], ...]:
    """A list of ``PORT/tcp`` / ``PORT/udp``."""
    if not isinstance(value, list):
        raise SchemaError(f"expected a list like [\"3389/tcp\", \"445/tcp\"], got {show(value)}")
    entries: list[tuple[int, str]] = []
    for index, item in enumerate(value):
        try:
            entry = forbid_entry(item)
        except SchemaError as exc:
            raise exc.under(index) from None
        if entry not in entries:
            entries.append(entry)
    return tuple(entries)


def _forbid_word(text: str, roles: Sequence[str]) -> tuple[tuple[int, str], ...]:
    return (forbid_entry(text),)


def _table(what: str, word_what: str, value: Callable[[object], Any], word: Callable[[str], Any],
           extra_keys: tuple[str, ...] = ()) -> Kind:
    """A table ``role = value`` (ports, severity); each command-line word is one ``ROLE=VALUE``."""

    def check(table: object, roles: Sequence[str]) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise SchemaError(f"expected a table of role = {what}, got {show(table)}")
        known = (*roles, *extra_keys)
        checked: dict[str, Any] = {}
        for key, item in table.items():
            if key not in known:
                raise SchemaError(unknown("role", key, known), (key,))
            try:
                checked[key] = value(item)
            except SchemaError as exc:
                raise exc.under(key) from None
        return checked

    def parse(text: str, roles: Sequence[str]) -> dict[str, Any]:
        key, sep, raw = text.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise SchemaError(f"expected ROLE={word_what}, got {text!r}")
        known = (*roles, *extra_keys)
        if key not in known:
            raise SchemaError(unknown("role", key, known), (key,))
        try:
            return {key: word(raw)}
        except SchemaError as exc:
            raise exc.under(key) from None

    return Kind(check, parse, option_action="item", merge=_merge_tables)


def _cert_days(value: object, roles: Sequence[str] = ()) -> tuple[int, int | None]:
    """``30`` or ``"30,14"`` or ``[30, 14]``: warn below 30 days left, critical below 14 (check_http -C)."""
    what = "days as WARN or WARN,CRIT (whole numbers 0-3650, CRIT <= WARN)"
    items: list[object]
    if isinstance(value, list):
        items = list(value)
    elif isinstance(value, str):
        items = [word.strip() for word in value.split(",")]
    else:
        items = [value]
    numbers: list[int] = []
    for item in items:
        if isinstance(item, str) and item.isascii() and item.isdigit() and len(item) <= 4:
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 3650:
            raise SchemaError(f"expected {what}, got {show(value)}")
        numbers.append(item)
    if not 1 <= len(numbers) <= 2 or (len(numbers) == 2 and numbers[1] > numbers[0]):
        raise SchemaError(f"expected {what}, got {show(value)}")
    return numbers[0], numbers[1] if len(numbers) == 2 else None


def _level(value: object) -> State:
    if not isinstance(value, str):
        raise SchemaError(f"expected ok, warning or critical, got {show(value)}")
    try:
        return State.parse(value)
    except ValueError as exc:
        raise SchemaError(str(exc)) from None


def _role(value: object, roles: Sequence[str]) -> str:
    known = (*roles, FORBID_ROLE)
    if not isinstance(value, str):
        raise SchemaError(f"expected a role name, got {show(value)}")
    if value.strip() not in known:
        raise SchemaError(unknown("role", value.strip(), known))
    return value.strip()


def _roles(value: object, roles: Sequence[str]) -> tuple[str, ...]:
    """A list of role names ('forbid' for the forbidden ports), each once, in the order given."""
    if not isinstance(value, list):
        raise SchemaError(f"expected a list of roles like [\"sql\", \"video\"], got {show(value)}")
    chosen: list[str] = []
    for index, item in enumerate(value):
        try:
            role = _role(item, roles)
        except SchemaError as exc:
            raise exc.under(index) from None
        if role not in chosen:
            chosen.append(role)
    return tuple(chosen)


def _roles_word(text: str, roles: Sequence[str]) -> tuple[str, ...]:
    return (_role(text, roles),)


def _object_name(value: object, roles: Sequence[str]) -> str:
    """An Icinga 2 object name: printable, no '!' (Icinga's host!service separator), at most 255 characters."""
    if not isinstance(value, str) or not value.strip() or value != value.strip() or "!" in value \
            or not printable(value) or len(value) > 255:
        raise SchemaError(f"expected an Icinga object name (printable, no '!', at most 255 characters), "
                          f"got {show(value)}")
    return value


NAME, TEXT, HOSTS, INSTANCE = Kind(_name), Kind(_text), Kind(_hosts), Kind(_instance)
ROLES = Kind(_roles, _roles_word, option_action="item", merge=_replace)
OBJECT_NAME = Kind(_object_name)
PORT, BOOL = Kind(_port, _port_word), Kind(_bool, _bool_word, option_action="flag")
AUDIO_CLIENTS = _count(0, MAX_AUDIO_CLIENTS)
SECONDS, RANGE, CERT_DAYS = Kind(_seconds, _seconds_word), Kind(_range), Kind(_cert_days)
FORBID = Kind(_forbid, _forbid_word, option_action="item")  # a site's list replaces the default list
PORTS = _table("port", "PORT", _port, _port_word)
SEVERITY = _table("'ok', 'warning' or 'critical'", "ok|warning|critical", _level, _level, (FORBID_ROLE,))


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
    audio_clients = settings.get("audio_clients", 0)
    ports = settings.get("ports", {})
    assert isinstance(audio_clients, int) and isinstance(ports, dict)
    base = ports.get("audio", 18778)
    if audio_clients and base + audio_clients - 1 > 65535:
        raise SchemaError(f"{audio_clients} audio clients from port {base} run past port 65535",
                          (*path, "audio_clients"))
    name, hosts = settings.pop("name"), settings.pop("hosts")
    assert isinstance(name, str) and isinstance(hosts, tuple)
    return Site(name, hosts, **settings)
