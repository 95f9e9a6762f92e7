"""Site inventory (core layer): the ``sites.toml`` that both frontends and cron jobs read.

No I/O but reading the one file. TOML is parsed with ``tomllib`` (Python 3.11+) or the ``tomli``
backport, imported only when an inventory is actually read: the check plugin pays nothing for TOML
when it is run from options alone.

Schema (what users write)::

    [defaults]            # inherited by every site: any site key except name and hosts
    timeout = 10          # seconds for the whole run of a site: number > 0 and <= 3600
    warning = "1"         # response-time threshold per port: Monitoring Plugins range, string or number
    critical = "3"
    [defaults.ports]      # role -> external port (NAT remaps, or a simulator on high ports)
    video = 18772

    [[sites]]
    name = "hq"           # required, unique ignoring case, only [A-Za-z0-9._-] (pytest ids, perfdata)
    hosts = ["ds01.example.com", "192.0.2.10"]  # required, non-empty; a single string is accepted
    description = "Headquarters"                # optional free text
    sql_instance = "SQLEXPRESS"  # optional instance name alone (not SERVER\\INSTANCE), 1-32 chars
    sql_port = 1433       # optional static SQL port (DS QuickSetup "Configure SQL Ports", DS 7.2.30+)
    web = true            # DSWebService / Pelco Mobile on 443 expected (default false)
    api = false           # Pelco API bundle ports expected (default false)
    audio_clients = 2     # clients receiving audio, one UDP port each from 18778: 0-64 (default 0)
    tls_verify = false    # verify the web certificate chain (default false)
    forbid = ["1433/tcp", "3389/tcp", "445/tcp"]  # must NOT be reachable: "PORT/tcp" or "PORT/udp"
    [sites.ports]         # role -> external port; keys are catalogue roles (plus plugin roles)
    video = 28772         # for audio: the first port of the range
    [sites.severity]      # role -> "ok" | "warning" | "critical"; the key "forbid" is for forbidden ports
    diagnostics = "critical"

A site's values override ``[defaults]``; the ``ports`` and ``severity`` tables are merged key by key
(the site wins). Every mistake is an ``InventoryError`` of one line naming the file, the key and,
where it can be found, the line: ``sites.toml:14: sites[2].ports.vidoe: unknown role 'vidoe' (did you
mean 'video'?)``.
"""

from __future__ import annotations

import os
import sys

from .catalogue import BUILTIN_ROLE_NAMES, FORBID
from .model import Site, State
from .ranges import Range

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Union

    _Path = tuple[Union[str, int], ...]

#: The keys of a ``[[sites]]`` table, in the order the schema documents them.
SITE_KEYS: tuple[str, ...] = (
    "name", "hosts", "description", "sql_instance", "sql_port", "web", "api", "audio_clients",
    "tls_verify", "forbid", "ports", "severity", "timeout", "warning", "critical",
)
#: The keys of ``[defaults]``: every site key but the ones that make a site itself.
DEFAULT_KEYS: tuple[str, ...] = tuple(k for k in SITE_KEYS if k not in ("name", "hosts"))
TOP_KEYS: tuple[str, ...] = ("defaults", "sites")

MAX_TIMEOUT = 3600.0
MAX_AUDIO_CLIENTS = 64
MAX_SQL_INSTANCE = 32  # the SQL Server Browser's limit on instance names

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class InventoryError(Exception):
    """A bad inventory, as one line: ``FILE[:LINE]: [KEY: ]MESSAGE``.

    ``source``, ``line`` and ``key`` are also kept as attributes (None where unknown).
    """

    def __init__(
        self, message: str, source: str | None = None, line: int | None = None, key: str | None = None
    ) -> None:
        text = f"{key}: {message}" if key else message
        if source is not None:
            text = f"{source}{'' if line is None else f':{line}'}: {text}"
        super().__init__(text)
        self.message = message
        self.source = source
        self.line = line
        self.key = key


class Inventory:
    """The sites of one inventory, in file order."""

    __slots__ = ("_by_name", "sites", "source")

    def __init__(self, sites: Iterable[Site], source: str = "<inventory>") -> None:
        self.sites: list[Site] = list(sites)
        self.source = source
        self._by_name: dict[str, Site] = {}
        for site in self.sites:
            self._by_name.setdefault(site.name.lower(), site)

    def site(self, name: str) -> Site:
        """The site called ``name`` (ignoring case); KeyError naming the known sites otherwise."""
        try:
            return self._by_name[name.lower()]
        except KeyError:
            raise KeyError(self._no_site(name)) from None

    def select(self, names: Sequence[str]) -> list[Site]:
        """The sites called ``names``, in that order and each once; all sites when ``names`` is empty.

        InventoryError for a name that is not in the inventory.
        """
        if not names:
            return list(self.sites)
        selected: list[Site] = []
        for name in names:
            site = self._by_name.get(name.lower())
            if site is None:
                raise InventoryError(self._no_site(name))
            if site not in selected:
                selected.append(site)
        return selected

    def _no_site(self, name: str) -> str:
        return f"no site {name!r} in {self.source} (sites: {', '.join(s.name for s in self.sites)})"

    def __iter__(self) -> Iterator[Site]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    def __repr__(self) -> str:
        return f"Inventory({self.source!r}, {[s.name for s in self.sites]!r})"


def load_inventory(path: str | os.PathLike[str], roles: Iterable[str] | None = None) -> Inventory:
    """Read and check the inventory file at ``path``; InventoryError (one line) for any problem.

    ``roles`` names roles added by plugins, accepted in ``ports`` and ``severity`` besides the
    catalogue's built-in roles.
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise InventoryError(f"cannot read: {exc.strerror or exc}", source) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", source, line) from None
    return parse_inventory(text, source, roles)


def parse_inventory(
    text: str, source: str = "<inventory>", roles: Iterable[str] | None = None
) -> Inventory:
    """Check inventory TOML ``text``; ``source`` names it in error messages."""
    text = text[1:] if text.startswith("\ufeff") else text  # a BOM, as Windows editors write
    data = _loads(text, source)
    known = tuple(BUILTIN_ROLE_NAMES) + tuple(r for r in (roles or ()) if r not in BUILTIN_ROLE_NAMES)
    return _Loader(text, source, known).inventory(data)


def site_from_mapping(
    raw: Mapping[str, object], source: str = "command line", roles: Iterable[str] | None = None
) -> Site:
    """One site from a mapping shaped like a ``[[sites]]`` table, checked exactly as the inventory is.

    This is how a frontend turns its options into a Site: the same checks and messages as the TOML
    (InventoryError whose ``key`` is the site key path, e.g. ``ports.vidoe``).
    """
    known = tuple(BUILTIN_ROLE_NAMES) + tuple(r for r in (roles or ()) if r not in BUILTIN_ROLE_NAMES)
    return _Loader("", source, known).site(dict(raw), (), _Fields())


def _loads(text: str, source: str) -> dict[str, object]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the backport, a dependency on these versions
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        data: dict[str, object] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(str(exc), text, source) from None
    return data


def _syntax_error(message: str, text: str, source: str) -> InventoryError:
    """``Invalid value (at line 3, column 9)`` -> ``sites.toml:3: invalid TOML: invalid value (column 9)``."""
    line: int | None = None
    head, sep, where = message.rpartition(" (at ")
    if sep and where.endswith(")"):
        where = where[:-1]
        if where == "end of document":
            line, message = len(text.rstrip().split("\n")), f"{head} at end of file"
        elif where.startswith("line "):
            row, _, col = where[5:].partition(", column ")
            if row.isdigit() and col.isdigit():
                line, message = int(row), f"{head} (column {col})"
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    return InventoryError(f"invalid TOML: {message}", source, line)


class _Fields:
    """A site's values while they are merged: starts as the Site defaults, then [defaults], then the site."""

    __slots__ = (
        "api", "audio_clients", "critical", "description", "forbid", "hosts", "name", "ports",
        "severity", "sql_instance", "sql_port", "timeout", "tls_verify", "warning", "web",
    )

    def __init__(self) -> None:
        # The defaults of model.Site (tests/test_inventory.py checks they agree).
        self.name: str | None = None
        self.hosts: tuple[str, ...] | None = None
        self.description = ""
        self.sql_instance: str | None = None
        self.sql_port: int | None = None
        self.web = False
        self.api = False
        self.audio_clients = 0
        self.tls_verify = False
        self.forbid: tuple[tuple[int, str], ...] = ()
        self.ports: dict[str, int] = {}
        self.severity: dict[str, State] = {}
        self.timeout = 10.0
        self.warning: Range | None = None
        self.critical: Range | None = None

    def copy(self) -> _Fields:
        new = _Fields()
        for slot in _Fields.__slots__:
            setattr(new, slot, getattr(self, slot))
        new.ports = dict(self.ports)
        new.severity = dict(self.severity)
        return new


class _Loader:
    """Turns parsed TOML into Sites; every check raises ``self.error(path, message)``."""

    __slots__ = ("_lines", "roles", "source", "text")

    def __init__(self, text: str, source: str, roles: tuple[str, ...]) -> None:
        self.text = text
        self.source = source
        self.roles = roles
        self._lines: _LineMap | None = None

    def error(self, path: _Path, message: str) -> InventoryError:
        if self._lines is None:
            self._lines = _LineMap(self.text)
        return InventoryError(message, self.source, self._lines.find(path), _dotted(path))

    def inventory(self, data: dict[str, object]) -> Inventory:
        for key in data:
            if key not in TOP_KEYS:
                if key in SITE_KEYS:
                    raise self.error((key,), f"{key!r} belongs in [defaults] or in a [[sites]] table")
                raise self.error((key,), _unknown("key", key, TOP_KEYS))
        defaults = _Fields()
        raw_defaults = data.get("defaults", {})
        if not isinstance(raw_defaults, dict):
            raise self.error(("defaults",), f"expected a [defaults] table, got {_show(raw_defaults)}")
        for key, value in raw_defaults.items():
            if key in ("name", "hosts"):
                raise self.error(("defaults", key), f"{key!r} cannot be a default: set it in each [[sites]]")
            self.field(defaults, ("defaults",), key, value)

        raw_sites = data.get("sites")
        if raw_sites is None or raw_sites == []:
            raise InventoryError(f"no [[sites]] in {self.source}")
        if not isinstance(raw_sites, list):
            raise self.error(("sites",), f"expected [[sites]] tables, got {_show(raw_sites)}")
        sites: list[Site] = []
        first: dict[str, int] = {}
        for index, raw in enumerate(raw_sites):
            path: _Path = ("sites", index)
            if not isinstance(raw, dict):
                raise self.error(path, f"expected a table, got {_show(raw)}")
            site = self.site(raw, path, defaults)
            seen = first.setdefault(site.name.lower(), index)
            if seen != index:
                earlier = sites[seen].name
                also = "" if earlier == site.name else f" as {earlier!r}"
                raise self.error(
                    (*path, "name"), f"duplicate site {site.name!r} (first at sites[{seen}]{also})"
                )
            sites.append(site)
        return Inventory(sites, self.source)

    def site(self, raw: dict[str, object], path: _Path, defaults: _Fields) -> Site:
        fields = defaults.copy()
        for key, value in raw.items():
            self.field(fields, path, key, value)
        if fields.name is None:
            raise self.error(path, "missing required key 'name'")
        if fields.hosts is None:
            raise self.error(path, "missing required key 'hosts'")
        base = fields.ports.get("audio", 18778)
        if fields.audio_clients and base + fields.audio_clients - 1 > 65535:
            raise self.error(
                (*path, "audio_clients"),
                f"{fields.audio_clients} audio clients from port {base} run past port 65535",
            )
        return Site(
            fields.name,
            fields.hosts,
            sql_instance=fields.sql_instance,
            sql_port=fields.sql_port,
            web=fields.web,
            api=fields.api,
            audio_clients=fields.audio_clients,
            ports=fields.ports,
            forbid=fields.forbid,
            severity=fields.severity,
            timeout=fields.timeout,
            warning=fields.warning,
            critical=fields.critical,
            tls_verify=fields.tls_verify,
            description=fields.description,
        )

    def field(self, fields: _Fields, table: _Path, key: str, value: object) -> None:
        """Check one ``key = value`` of a site or of [defaults] and store it in ``fields``."""
        path: _Path = (*table, key)
        if key == "name":
            fields.name = self.name(value, path)
        elif key == "hosts":
            fields.hosts = self.hosts(value, path)
        elif key == "description":
            fields.description = self.string(value, path)
        elif key == "sql_instance":
            fields.sql_instance = self.sql_instance(value, path)
        elif key == "sql_port":
            fields.sql_port = self.port(value, path)
        elif key == "web":
            fields.web = self.boolean(value, path)
        elif key == "api":
            fields.api = self.boolean(value, path)
        elif key == "tls_verify":
            fields.tls_verify = self.boolean(value, path)
        elif key == "audio_clients":
            fields.audio_clients = self.integer(value, path, 0, MAX_AUDIO_CLIENTS)
        elif key == "forbid":
            fields.forbid = self.forbid(value, path)
        elif key == "ports":
            fields.ports.update(self.ports(value, path))
        elif key == "severity":
            fields.severity.update(self.severity(value, path))
        elif key == "timeout":
            fields.timeout = self.timeout(value, path)
        elif key == "warning":
            fields.warning = self.range(value, path)
        elif key == "critical":
            fields.critical = self.range(value, path)
        else:
            known = DEFAULT_KEYS if table[:1] == ("defaults",) else SITE_KEYS
            raise self.error(path, _unknown("key", key, known))

    # -- one checker per kind of value -------------------------------------------------------------

    def name(self, value: object, path: _Path) -> str:
        if not isinstance(value, str) or not value or not _NAME_CHARS.issuperset(value):
            raise self.error(path, f"expected a name of letters, digits, '.', '_' or '-', got {_show(value)}")
        return value

    def hosts(self, value: object, path: _Path) -> tuple[str, ...]:
        if isinstance(value, str):
            items: list[object] = [value]
        elif isinstance(value, list):
            items = value
        else:
            raise self.error(path, f"expected a list of host names, got {_show(value)}")
        if not items:
            raise self.error(path, "expected at least one host, got []")
        hosts: list[str] = []
        for index, item in enumerate(items):
            where = path if isinstance(value, str) else (*path, index)
            if not isinstance(item, str):
                raise self.error(where, f"expected a host name, got {_show(item)}")
            host = item.strip()
            if not host:
                raise self.error(where, f"empty host name {item!r}")
            if len(host.split()) > 1:
                raise self.error(where, f"host name contains a space: {item!r}")
            if host.count(":") == 1:
                hint = "give the host alone, and remapped ports in [sites.ports]"
                raise self.error(where, f"{item!r} looks like HOST:PORT: {hint}")
            lowered = [h.lower() for h in hosts]
            if host.lower() in lowered:
                first = lowered.index(host.lower())
                raise self.error(where, f"duplicate host {item!r} (first at hosts[{first}])")
            hosts.append(host)
        return tuple(hosts)

    def string(self, value: object, path: _Path) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {_show(value)}")
        return value

    def sql_instance(self, value: object, path: _Path) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_SQL_INSTANCE or value != value.strip():
            what = f"an instance name of 1 to {MAX_SQL_INSTANCE} characters"
            raise self.error(path, f"expected {what}, got {_show(value)}")
        if "\\" in value:
            instance = value.rpartition("\\")[2]
            raise self.error(path, f"expected the instance name alone ({instance!r}), got {value!r}")
        return value

    def port(self, value: object, path: _Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise self.error(path, f"expected a port number 1-65535, got {_show(value)}")
        return value

    def boolean(self, value: object, path: _Path) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {_show(value)}")
        return value

    def integer(self, value: object, path: _Path, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(path, f"expected a whole number {low}-{high}, got {_show(value)}")
        return value

    def timeout(self, value: object, path: _Path) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
            raise self.error(path, f"expected seconds > 0 and <= {MAX_TIMEOUT:g}, got {_show(value)}")
        return float(value)

    def range(self, value: object, path: _Path) -> Range:
        try:
            return Range.coerce(value)
        except ValueError as exc:
            raise self.error(path, str(exc)) from None

    def forbid(self, value: object, path: _Path) -> tuple[tuple[int, str], ...]:
        if not isinstance(value, list):
            raise self.error(path, f"expected a list like [\"3389/tcp\", \"445/tcp\"], got {_show(value)}")
        entries: list[tuple[int, str]] = []
        for index, item in enumerate(value):
            port_text, transport = "", ""
            if isinstance(item, str):
                port_text, _, transport = item.strip().lower().partition("/")
            if transport not in ("tcp", "udp") or not (port_text.isascii() and port_text.isdigit()):
                raise self.error((*path, index), f"expected 'PORT/tcp' or 'PORT/udp', got {_show(item)}")
            port = int(port_text)
            if not 1 <= port <= 65535:
                raise self.error((*path, index), f"port {port} out of range 1-65535 in {item!r}")
            if (port, transport) not in entries:
                entries.append((port, transport))
        return tuple(entries)

    def ports(self, value: object, path: _Path) -> dict[str, int]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table of role = port, got {_show(value)}")
        ports: dict[str, int] = {}
        for role, port in value.items():
            if role not in self.roles:
                raise self.error((*path, role), _unknown("role", role, self.roles))
            ports[role] = self.port(port, (*path, role))
        return ports

    def severity(self, value: object, path: _Path) -> dict[str, State]:
        if not isinstance(value, dict):
            what = "a table of role = 'ok', 'warning' or 'critical'"
            raise self.error(path, f"expected {what}, got {_show(value)}")
        known = (*self.roles, FORBID)
        states: dict[str, State] = {}
        for role, word in value.items():
            if role not in known:
                raise self.error((*path, role), _unknown("role", role, known))
            if not isinstance(word, str):
                raise self.error((*path, role), f"expected ok, warning or critical, got {_show(word)}")
            try:
                states[role] = State.parse(word)
            except ValueError as exc:
                raise self.error((*path, role), str(exc)) from None
        return states


def _unknown(kind: str, key: str, known: Sequence[str]) -> str:
    import difflib  # only on this error path

    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    return f"unknown {kind} {key!r} ({hint})"


def _show(value: object) -> str:
    """A TOML value as users wrote it, near enough: ``'yes'``, ``true``, ``3``, ``['a']``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float, list, dict)):
        return repr(value)
    return str(value)  # dates and times


def _dotted(path: _Path) -> str:
    """``("sites", 2, "ports", "vidoe")`` -> ``sites[2].ports.vidoe``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            bare = part if part and _BARE_KEY_CHARS.issuperset(part) else f'"{part}"'
            text += f".{bare}" if text else bare
    return text


class _LineMap:
    """Best-effort line numbers of keys and tables, from a light scan of TOML that already parsed.

    Records the line of every ``[table]``/``[[array]]`` header and every ``key =`` at the top level of
    a line (not inside a multi-line string or array), by its full key path with array-of-tables
    indices: ``("sites", 2, "ports", "video")``. ``find`` falls back to the nearest enclosing key or
    table that was found, but never above a site: a wrong line is worse than none.
    """

    __slots__ = ("counts", "lines")

    def __init__(self, text: str) -> None:
        import re  # only on the error path

        header = re.compile(r"\s*(\[\[?)([^\]]*)\]\]?\s*(?:#.*)?$")
        part = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
        key = re.compile(rf"\s*({part}(?:\s*\.\s*{part})*)\s*=")
        self.lines: dict[_Path, int] = {}
        self.counts: dict[_Path, int] = {}  # arrays of tables: how many headers so far
        table: _Path = ()
        depth, quote = 0, ""
        for number, line in enumerate(text.split("\n"), 1):
            rest = line
            if depth == 0 and not quote:
                match = header.match(line)
                if match:
                    table = self._header(_split_key(match.group(2)), match.group(1) == "[[", number)
                    continue
                match = key.match(line)
                if match:
                    path = (*table, *_split_key(match.group(1)))
                    for end in range(len(table) + 1, len(path) + 1):
                        self.lines.setdefault(path[:end], number)
                    rest = line[match.end():]
            depth, quote = _scan(rest, depth, quote)

    def _header(self, keys: list[str], array: bool, number: int) -> _Path:
        path: _Path = ()
        for index, name in enumerate(keys):
            path = (*path, name)
            self.lines.setdefault(path, number)
            if array and index == len(keys) - 1:
                self.counts[path] = self.counts.get(path, 0) + 1
            if path in self.counts:
                path = (*path, self.counts[path] - 1)
            self.lines.setdefault(path, number)
        return path

    def find(self, path: _Path) -> int | None:
        if len(path) >= 2 and path[0] == "sites" and isinstance(path[1], int):
            if path[1] >= self.counts.get(("sites",), 0):
                return None  # sites written some other way than [[sites]] headers
            floor = 2
        else:
            floor = 1
        for end in range(len(path), floor - 1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _split_key(text: str) -> list[str]:
    """``sites . "ports"`` -> ``["sites", "ports"]`` (dotted keys, bare or quoted)."""
    parts: list[str] = []
    current, quote = "", ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _scan(text: str, depth: int, quote: str) -> tuple[int, str]:
    """Carry bracket depth and an open multi-line string (``\"\"\"`` or ``'''``) across one line."""
    i, size = 0, len(text)
    while i < size:
        if quote:
            if quote == '"""' and text[i] == "\\":
                i += 2
            elif text.startswith(quote, i):
                i, quote = i + 3, ""
            else:
                i += 1
            continue
        char = text[i]
        if char == "#":
            break
        if text.startswith('"""', i) or text.startswith("'''", i):
            i, quote = i + 3, text[i:i + 3]
            continue
        if char == '"':
            i += 1
            while i < size and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char == "'":
            end = text.find("'", i + 1)
            i = size if end < 0 else end
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        i += 1
    return depth, quote
