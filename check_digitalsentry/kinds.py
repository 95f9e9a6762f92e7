"""Kinds of value (core layer): how each kind of a site's setting is checked -- a port, seconds, a host
name, a role table... -- from TOML (``Kind.check``) and from a command-line word (``Kind.parse``), with the
same rule and the same message; a mistake is a ``SchemaError`` whose ``path`` says which key
(``("ports", "vidoe")``), so the inventory can add ``file:line:`` and the check plugin the option's name.

The settings themselves, each declared once with its kind, are ``schema.Site``'s fields. No I/O here, and
no imports that cost start-up time (``difflib`` only on the error path).
"""

from __future__ import annotations

from check_digitalsentry.catalogue import FORBID as FORBID_ROLE
from check_digitalsentry.model import State, label_part

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Union

    from check_digitalsentry.ranges import Range

    Path = tuple[Union[str, int], ...]

MAX_TIMEOUT = 3600.0
#: Seconds a run (a site) is given when neither the site nor the run sets a time (-t, timeout).
DEFAULT_TIMEOUT = 10.0
MAX_AUDIO_CLIENTS = 64
MAX_SQL_INSTANCE = 32  #: the SQL Server Browser's limit on instance names
MAX_TEXT = 4000  #: free text (description...): at most this many characters
MAX_NAME = 100  #: a site name
MAX_HOST = 253  #: a DNS name's length limit (RFC 1035)

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


#: The paths a site's clients take to its DS servers (``reached_from``): from the internet through the site's
#: public address (and its NAT), inside the site's own network, or through a VPN.
REACHED_FROM_PATHS = ("internet", "lan", "vpn")


def _reached_from(value: object, roles: Sequence[str]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in REACHED_FROM_PATHS:
        raise SchemaError(f"expected {', '.join(REACHED_FROM_PATHS[:-1])} or {REACHED_FROM_PATHS[-1]}, got "
                          f"{show(value)}")
    return value.strip().lower()


def _object_name(value: object, roles: Sequence[str]) -> str:
    """An Icinga 2 object name: printable, no '!' (Icinga's host!service separator), at most 255 characters."""
    if not isinstance(value, str) or not value.strip() or value != value.strip() or "!" in value \
            or not printable(value) or len(value) > 255:
        raise SchemaError(f"expected an Icinga object name (printable, no '!', at most 255 characters), "
                          f"got {show(value)}")
    return value


NAME, TEXT, HOSTS, INSTANCE = Kind(_name), Kind(_text), Kind(_hosts), Kind(_instance)
ROLES = Kind(_roles, _roles_word, option_action="item", merge=_replace)
OBJECT_NAME, REACHED_FROM = Kind(_object_name), Kind(_reached_from)
PORT, BOOL = Kind(_port, _port_word), Kind(_bool, _bool_word, option_action="flag")
AUDIO_CLIENTS = _count(0, MAX_AUDIO_CLIENTS)
SECONDS, RANGE, CERT_DAYS = Kind(_seconds, _seconds_word), Kind(_range), Kind(_cert_days)
FORBID = Kind(_forbid, _forbid_word, option_action="item")  # a site's list replaces the default list
PORTS = _table("port", "PORT", _port, _port_word)
SEVERITY = _table("'ok', 'warning' or 'critical'", "ok|warning|critical", _level, _level, (FORBID_ROLE,))
