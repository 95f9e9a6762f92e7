"""Site inventory (core layer): the ``sites.toml`` that both frontends and cron jobs read.

No I/O but reading the one file. TOML is parsed with ``tomllib`` (Python 3.11+) or the ``tomli``
backport, imported only when an inventory is actually read: the check plugin pays nothing for TOML
when it is run from options alone.

The keys of a ``[[sites]]`` table are the settings of ``schema.Site`` (declared there once, with their
checks); ``[defaults]`` takes every one of them but ``name`` and ``hosts``. ``contrib/sites.example.toml``
is a complete, commented example.

A site's values override ``[defaults]``; the ``ports`` and ``severity`` tables are merged key by key
(the site wins). Every mistake is an ``InventoryError`` of one line naming the file, the key and,
where it can be found, the line: ``sites.toml:14: sites[2].ports.vidoe: unknown role 'vidoe' (did you
mean 'video'?)``.

``site_from_words`` checks one site given as command-line words (pytest_dsports' ``--dsports-host``) with
the same schema code, its mistakes named the same way.
"""

from __future__ import annotations

import os
import sys

from check_digitalsentry import files
from check_digitalsentry.catalogue import BUILTIN_ROLE_NAMES, FORBID
from check_digitalsentry.model import label_part
from check_digitalsentry.schema import (
    BY_NAME,
    SITE_KEYS,
    SchemaError,
    Site,
    build_site,
    check_settings,
    expected_ports,
    parse_words,
    show,
    unknown,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from check_digitalsentry.kinds import Path as _Path

TOP_KEYS: tuple[str, ...] = ("defaults", "sites")
#: The largest inventory read (bytes): 10,000 sites take ~1.7 MB; this leaves room and parses in ~2 s.
MAX_BYTES = 8 << 20

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
    """The sites of one inventory, in file order. ``data`` is the file's bytes as read (None when the
    inventory did not come from a file); ``sha256`` their digest, for the handover record."""

    __slots__ = ("_by_name", "data", "sites", "source")

    def __init__(self, sites: Iterable[Site], source: str = "<inventory>", data: bytes | None = None) -> None:
        self.sites: list[Site] = list(sites)
        self.source = source
        self.data = data
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
        seen: set[int] = set()
        for name in names:
            site = self._by_name.get(name.lower())
            if site is None:
                raise InventoryError(self._no_site(name))
            if id(site) not in seen:
                seen.add(id(site))
                selected.append(site)
        return selected

    @property
    def sha256(self) -> str | None:
        """The SHA-256 (hex) of the file exactly as it was read and checked; None without a file."""
        if self.data is None:
            return None
        import hashlib  # only for a handover record: it loads OpenSSL

        return hashlib.sha256(self.data).hexdigest()

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
    data = _read(source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", source, line) from None
    inventory = parse_inventory(text, source, roles)
    inventory.data = data
    return inventory


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    """The SHA-256 (hex) of a file, or None when it cannot be read."""
    import hashlib

    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None


def _read(source: str) -> bytes:
    """The bytes of a regular file of sane size. A FIFO, a device (``/dev/zero``), a directory or a
    file over ``MAX_BYTES`` is refused before anything is read: none could hold an inventory, and
    reading one could block past the check's deadline or fill its memory."""
    import stat

    try:
        # a FIFO must not block the open (the flags are POSIX's: 0 where the system has none)
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InventoryError(f"cannot read: {exc.strerror or exc}", source) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InventoryError(f"cannot read: {files.kind(info.st_mode)}, not an inventory file", source)
        if info.st_size > MAX_BYTES:
            raise InventoryError(f"cannot read: {info.st_size} bytes, more than an inventory holds "
                                 f"(at most {MAX_BYTES >> 20} MiB)", source)
        data = files.read_capped(fd, MAX_BYTES)
        if data is None:
            raise InventoryError(f"cannot read: more than {MAX_BYTES >> 20} MiB", source)
        return data
    except OSError as exc:
        raise InventoryError(f"cannot read: {exc.strerror or exc}", source) from None
    finally:
        os.close(fd)


def parse_inventory(
    text: str, source: str = "<inventory>", roles: Iterable[str] | None = None
) -> Inventory:
    """Check inventory TOML ``text``; ``source`` names it in error messages."""
    text = text[1:] if text.startswith("\ufeff") else text  # a BOM, as Windows editors write
    data = _loads(text, source)
    return _Loader(text, source, _known_roles(roles)).inventory(data)


def site_from_words(
    words: Sequence[str], source: str = "command line", roles: Iterable[str] | None = None, name: str = "adhoc"
) -> Site:
    """One site from command-line words, checked exactly as an inventory site is: the host, and
    ``KEY=VALUE`` settings (``ds01.example.com sql_instance=DS web=true forbid=3389/tcp,445/tcp
    ports.video=28772``). ``name`` is the site's name unless a ``name=`` word gives one.

    The one word without ``=`` is the host (a site of several DS servers: ``hosts=ds01,ds02`` instead); a
    second such word is a mistake (a host name with a space in it, or a setting without its ``=``), never a
    second host. ``KEY`` is any other setting of ``schema.Site``; a table takes ``ports.ROLE=PORT`` (or
    ``ports=ROLE=PORT,ROLE=PORT``), a list commas (``forbid=3389/tcp,445/tcp``), a switch
    ``true``/``false``. Each value is checked by its kind's ``parse`` (as the check plugin's options are); a
    key given twice is a mistake. InventoryError whose ``source`` is ``source`` and whose ``key`` is the
    setting's path (``ports.vidoe``).
    """
    loader = _Loader("", source, _known_roles(roles))
    try:
        values = _word_settings(words, loader.roles)
        if "hosts" not in values:
            raise SchemaError(f"no host given: {WORDS_USAGE}")
        values.setdefault("name", name)
        site = build_site(values)
    except SchemaError as exc:
        raise loader.error(exc.path, exc.message) from None
    loader.check_roles(site, ())
    return site


#: What ``site_from_words`` reads, as its mistakes say it.
WORDS_USAGE = "HOST [KEY=VALUE...] (several DS servers: hosts=HOST,HOST)"


def _word_settings(words: Sequence[str], roles: Sequence[str]) -> dict[str, object]:
    """``HOST KEY=VALUE...`` -> checked values (``site_from_words``); SchemaError with the key path."""
    hosts: list[str] = []
    grouped: dict[str, list[str]] = {}
    switches: dict[str, object] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            if hosts:
                raise SchemaError(f"{hosts[0]!r} and {word!r}: one host, then KEY=VALUE settings, in "
                                  f"{WORDS_USAGE}", ("hosts",))
            hosts.append(word)
            continue
        head, dot, sub = key.strip().partition(".")
        spec = BY_NAME.get(head)
        if head == "hosts":
            if dot:
                raise SchemaError("'hosts' is not a table: give hosts=HOST,HOST", (head,))
            if hosts:
                raise SchemaError(f"given twice (as {hosts[0]!r} and as hosts=): give the hosts once", (head,))
            hosts.extend(value.split(","))
            continue
        if spec is None:
            raise SchemaError(unknown("key", head, SITE_KEYS), (head,))
        table = isinstance(spec.default, dict)  # ports, severity: role -> value
        if dot and not table:
            raise SchemaError(f"{head!r} is not a table: give {head}=VALUE", (head,))
        if spec.kind.option_action == "flag":
            if head in switches:
                raise SchemaError("given twice: give it once", (head,))
            try:
                switches[head] = spec.kind.parse(value, roles)
            except SchemaError as exc:
                raise exc.under(head) from None
        elif dot:
            grouped.setdefault(head, []).append(f"{sub}={value}")
        elif table or spec.kind.option_action == "item":
            grouped.setdefault(head, []).extend(value.split(","))
        else:
            grouped.setdefault(head, []).append(value)
    values = parse_words(grouped, roles)
    values.update(switches)
    if hosts:
        try:
            values["hosts"] = BY_NAME["hosts"].kind.check(hosts, roles)
        except SchemaError as exc:
            raise exc.under("hosts") from None
    return values


def _known_roles(roles: Iterable[str] | None) -> tuple[str, ...]:
    """The catalogue's roles, then the plugins' (``roles``)."""
    return tuple(BUILTIN_ROLE_NAMES) + tuple(r for r in (roles or ()) if r not in BUILTIN_ROLE_NAMES)


def _loads(text: str, source: str) -> dict[str, object]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the backport, a dependency on these versions
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        data: dict[str, object] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(str(exc), text, source) from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise InventoryError("invalid TOML: nested too deeply", source) from None
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
                raise self.error((key,), unknown("key", key, TOP_KEYS))
        raw_defaults = data.get("defaults", {})
        if not isinstance(raw_defaults, dict):
            raise self.error(("defaults",), f"expected a [defaults] table, got {show(raw_defaults)}")
        try:
            defaults = check_settings(raw_defaults, self.roles, defaults=True)
        except SchemaError as exc:
            raise self.error(("defaults", *exc.path), exc.message) from None
        raw_sites = data.get("sites")
        if raw_sites is None or raw_sites == []:
            raise InventoryError(f"no [[sites]] in {self.source}")
        if not isinstance(raw_sites, list):
            raise self.error(("sites",), f"expected [[sites]] tables, got {show(raw_sites)}")
        sites: list[Site] = []
        first: dict[str, int] = {}  # a site's perfdata label part -> its index
        objects: dict[str, int] = {}  # a site's Icinga host -> its index
        for index, raw in enumerate(raw_sites):
            path: _Path = ("sites", index)
            if not isinstance(raw, dict):
                raise self.error(path, f"expected a table, got {show(raw)}")
            site = self.site(raw, path, defaults)
            seen = first.setdefault(label_part(site.name), index)
            if seen != index:
                earlier = sites[seen].name
                if earlier.lower() == site.name.lower():
                    also = "" if earlier == site.name else f" as {earlier!r}"
                    message = f"duplicate site {site.name!r} (first at sites[{seen}]{also})"
                else:
                    message = (f"sites {earlier!r} (sites[{seen}]) and {site.name!r} would share the perfdata "
                               f"label part {label_part(site.name)!r}: rename one")
                raise self.error((*path, "name"), message)
            host = site.icinga_host or site.name
            other = objects.setdefault(host, index)
            if other != index:
                if "icinga_host" not in raw and "icinga_host" in raw_defaults:
                    raise self.error(("defaults", "icinga_host"), f"sites {sites[other].name!r} and {site.name!r} "
                                     f"would share the Icinga host {host!r}: set icinga_host in each [[sites]] "
                                     "table, not in [defaults]")
                key = "icinga_host" if site.icinga_host else "name"
                raise self.error((*path, key), f"the Icinga host {host!r} is site {sites[other].name!r}'s already "
                                               f"(sites[{other}]): give each site an icinga_host of its own")
            inherited = "roles" not in raw and "roles" in raw_defaults
            self.check_roles(site, ("defaults",) if inherited else path,
                             f" {site.name!r} (sites[{index}])" if inherited else "")
            sites.append(site)
        return Inventory(sites, self.source)

    def check_roles(self, site: Site, path: _Path, which: str = "") -> None:
        """A site's ``roles`` must be ports it expects: ``roles = ["audio"]`` with no audio clients is a
        mistake on that line, not an empty report. ``path`` is where ``roles`` was set (the site's table,
        or [defaults], then ``which`` names the site)."""
        if not site.roles:
            return
        planned = {spec.role for spec in expected_ports(site)}
        for index, role in enumerate(site.roles):
            if role not in planned and role in (*BUILTIN_ROLE_NAMES, FORBID):  # plugins plan their own
                raise self.error((*path, "roles", index),
                                 f"{role!r} is not a port of {'site' + which if which else 'this site'} (its "
                                 "settings expect none: see web, api, audio_clients, forbid)")

    def site(self, raw: dict[str, object], path: _Path, defaults: Mapping[str, object]) -> Site:
        """One ``[[sites]]`` table over the checked [defaults]."""
        try:
            return build_site(check_settings(raw, self.roles, base=defaults))
        except SchemaError as exc:
            raise self.error((*path, *exc.path), exc.message) from None


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
