"""Options of the check plugin (check frontend): a fast parser that reads the option table (``table``:
``OPTIONS``, the run's own options, the submit targets' and one per site setting) as argparse does, and
the checked values (``Options``).

``parse`` reads a command line exactly as argparse reads it with the parser ``help.argparse_parser``
builds from the same table -- long options with ``=`` or a separate value, unique prefixes of long
options, clustered short flags (``-vvv``), values attached to short options (``-t2``, ``-t=2``), ``--``,
negative-number-like words, the mutual exclusion of ``-4`` and ``-6`` -- with the same errors, word for
word (``tests/test_options.py`` runs both over generated command lines). It exists because importing
argparse pulls in gettext and locale, ~3 ms of every run of a plugin that starts thousands of times a
day; argparse itself is imported only to print ``--help``.

Every valued option collects its words in a list, so that a setting given twice can be refused
(``Options``), never silently overridden.
"""

from __future__ import annotations

from check_digitalsentry import outputs, schema
from check_digitalsentry.cli.table import (
    DEFAULT,
    DESCRIPTION,
    EXAMPLES,
    GROUPS,
    NAGIOS,
    OPTIONS,
    SITE_FIELDS,
    SUBMIT_GROUP,
    USAGE,
    Option,
    Table,
    epilog,
    table,
)
from check_digitalsentry.kinds import DEFAULT_TIMEOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DEFAULT", "DESCRIPTION", "EXAMPLES", "GROUPS", "NAGIOS", "OPTIONS", "USAGE", "Option", "Options",
           "Table", "UsageError", "epilog", "option_words", "parse", "table"]


class UsageError(Exception):
    """Bad arguments or a bad inventory: one line, exit 3."""


# --- the fast parser (argparse's algorithm for optionals, without argparse) -----------------------


def _negative_number(word: str) -> bool:
    """argparse's ``^-\\d+$|^-\\d*\\.\\d+$`` (``\\d``: any decimal digit, as ``str.isdecimal``)."""
    body = word[1:]
    if word[:1] != "-" or not body:
        return False
    if body.isdecimal():
        return True
    whole, dot, fraction = body.partition(".")
    return bool(dot) and (not whole or whole.isdecimal()) and fraction.isdecimal() and fraction != ""


def _option_tuples(word: str, table: Table) -> list[tuple[Option, str, str | None]]:
    """argparse's ``_get_option_tuples``: the options a word could mean."""
    found: list[tuple[Option, str, str | None]] = []
    by_flag = table.by_flag
    if word[1] == "-":
        prefix, eq, explicit = word.partition("=")
        for flag, option in by_flag.items():
            if flag.startswith(prefix):
                found.append((option, flag, explicit if eq else None))
    else:
        short, attached = word[:2], word[2:]
        for flag, option in by_flag.items():
            if flag == short:
                found.append((option, flag, attached))
            elif flag.startswith(word):
                found.append((option, flag, None))
    return found


_NOT_AN_OPTION = None


def _classify(word: str, table: Table) -> tuple[Option | None, str, str | None] | None:
    """argparse's ``_parse_optional``: None for a value ('A'), else (option or None, flag, explicit)."""
    by_flag = table.by_flag
    if not word or word[0] != "-":
        return _NOT_AN_OPTION
    if word in by_flag:
        return by_flag[word], word, None
    if len(word) == 1:
        return _NOT_AN_OPTION
    if "=" in word:
        flag, _, explicit = word.partition("=")
        if flag in by_flag:
            return by_flag[flag], flag, explicit
    matches = _option_tuples(word, table)
    if len(matches) > 1:
        names = ", ".join(flag for _, flag, _ in matches)
        raise UsageError(f"ambiguous option: {word} could match {names}")
    if matches:
        return matches[0]
    if _negative_number(word) and not any(_negative_number(flag) for flag in by_flag):
        return _NOT_AN_OPTION
    if " " in word:
        return _NOT_AN_OPTION
    return None, word, None


def parse(argv: Sequence[str], table: Table = DEFAULT) -> dict[str, object]:
    """Parse a command line as argparse would (see the module docstring): dest -> value(s).

    UsageError with argparse's message for anything argparse would refuse.
    """
    words = list(argv)
    found: dict[int, tuple[Option | None, str, str | None]] = {}
    pattern: list[str] = []
    for index, word in enumerate(words):
        if word == "--":
            pattern.extend("-" + "A" * (len(words) - index - 1))
            break
        kind = _classify(word, table)
        if kind is None:
            pattern.append("A")
        else:
            found[index] = kind
            pattern.append("O")
    values = table.defaults()
    seen: set[Option] = set()
    extras: list[str] = []

    def take(option: Option, word: str | None) -> None:
        for other in table.conflicts.get(option, ()):
            if other in seen:
                raise UsageError(f"argument {option.name}: not allowed with argument {other.name}")
        seen.add(option)
        if option.action == "value":
            bucket = values[option.dest]
            assert isinstance(bucket, list)
            bucket.append(word)
        elif option.action == "flag":
            values[option.dest] = True
        elif option.action == "count":
            count = values[option.dest]
            assert isinstance(count, int)
            values[option.dest] = count + 1
        else:
            values[option.dest] = option.const

    def consume(start: int) -> int:
        option, flag, explicit = found[start]
        taken: list[tuple[Option, str | None]] = []
        while True:
            if option is None:
                extras.append(words[start])
                return start + 1
            if explicit is not None:
                if option.action != "value" and flag[1] != "-" and explicit != "":
                    taken.append((option, None))
                    flag = "-" + explicit[0]
                    rest = explicit[1:] or None
                    if flag not in table.by_flag:
                        raise UsageError(f"argument {option.name}: ignored explicit argument {explicit!r}")
                    option, explicit = table.by_flag[flag], rest
                elif option.action == "value":
                    taken.append((option, explicit))
                    stop = start + 1
                    break
                else:
                    raise UsageError(f"argument {option.name}: ignored explicit argument {explicit!r}")
            else:
                if option.action == "value":
                    if pattern[start + 1:start + 2] != ["A"]:
                        raise UsageError(f"argument {option.name}: expected one argument")
                    taken.append((option, words[start + 1]))
                    stop = start + 2
                else:
                    taken.append((option, None))
                    stop = start + 1
                break
        for option, word in taken:
            take(option, word)
        return stop

    start = 0
    last = max(found) if found else -1
    while start <= last:
        following = min(index for index in found if index >= start)
        if start not in found:
            extras.extend(words[start:following])
            start = following
        start = consume(start)
    extras.extend(words[start:])
    if extras:
        raise UsageError(f"unrecognized arguments: {' '.join(extras)}{suggestion(extras, table)}")
    return values


def suggestion(extras: Sequence[str], table: Table = DEFAULT) -> str:
    """``: did you mean --sql-instance?`` for the first unrecognized word that is a long option mistyped
    (``--sql-instace``, ``-sql-instance``, ``--sql-instace=X``); "" when none is close to one. argparse
    (3.11) says no more than "unrecognized arguments": this is the one place where the words differ."""
    import difflib  # only on this error path

    long_flags = [flag for flag in table.by_flag if flag.startswith("--")]
    for word in extras:
        flag = word.partition("=")[0]
        if len(flag) < 4 or not flag.startswith("-"):
            continue
        close = difflib.get_close_matches(flag if flag.startswith("--") else f"-{flag}", long_flags, n=1,
                                          cutoff=0.75)
        if close:
            return f": did you mean {close[0]}?"
    return ""


# --- the values, checked --------------------------------------------------------------------------

#: --watch: a round every --interval seconds, never more often than one a second (one probe of a port per
#: second at most); -t of each round unless given; --watch-for by default and at most.
WATCH_INTERVAL, WATCH_MIN_INTERVAL, WATCH_TIMEOUT, WATCH_MAX = 2.0, 1.0, 5.0, 4 * 3600.0
WATCH_OPTIONS = ("interval", "watch_until", "watch_for", "serve")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _same_file(one: str, other: str) -> bool:
    """Whether two paths name one file (through links too); a missing one is no other's."""
    import os

    try:
        return os.path.samefile(one, other)
    except (OSError, ValueError):
        return os.path.realpath(one) == os.path.realpath(other)


def _decimal(text: str) -> float | None:
    """A plain decimal number (``2``, ``0.5``; ASCII digits, no sign, no exponent), or None."""
    word = text.strip()
    return float(word) if word and word.replace(".", "", 1).isdecimal() and word.isascii() else None


class Options:
    """The parsed command line, checked: the run's settings, and the words of the site settings."""

    #: run options that may be given more than once
    REPEATABLE = ("site", "demo_fault")

    def __init__(self, values: dict[str, object], table: Table = DEFAULT) -> None:
        self.values = values
        self.table = table
        self.inventory = self._one("inventory")
        self.sites: list[str] = self._list("site")
        self.demo = bool(values["demo"])
        self.demo_faults: list[str] = self._list("demo_fault")
        self.icinga2_objects = bool(values["icinga2_objects"])
        self.output = self._one("output")
        self.quiet = bool(values["quiet"])
        verbose = values["verbose"]
        assert isinstance(verbose, int)
        self.verbose = min(verbose, 3)
        self.version = bool(values["version"])
        self.help = bool(values["help"])
        family = values["family"]
        self.family = family if isinstance(family, int) else 0
        self.format = self._one("format") or NAGIOS.name
        self.output_format = NAGIOS  #: the Format of --format (the plugins' too), found by ``check``
        self.timeout_text = self._one("timeout")
        #: -t in seconds: parsed once, by ``check`` (its default until then)
        self.timeout = DEFAULT_TIMEOUT
        self.submit = self._one("submit")
        self.target: outputs.Target | None = None  #: --submit's target, found by ``check``
        self.watch = bool(values["watch"])

    def _one(self, dest: str) -> str | None:
        given = self.values[dest]
        assert isinstance(given, list)
        return given[0] if given else None

    def _list(self, dest: str) -> list[str]:
        given = self.values[dest]
        assert isinstance(given, list)
        return list(given)

    def check(self) -> None:
        """The checks that can fail the run (after --help and --version are handled)."""
        known = self.table.formats
        for option in self.table.run:
            given = self.values[option.dest]
            if option.action == "value" and option.dest not in self.REPEATABLE:
                assert isinstance(given, list)
                if len(given) > 1:
                    raise UsageError(f"{option.name}: given {len(given)} times "
                                     f"({', '.join(map(repr, given))}): give it once")
            if option.action == "value" and isinstance(given, list) and any(not str(v).strip() for v in given):
                raise UsageError(f"{option.name} {next(str(v) for v in given if not str(v).strip())!r}: an empty "
                                 f"value (give {option.metavar or 'a value'}, or leave the option out)")
        chosen = [f for f in known if f.name == self.format]
        if not chosen:
            raise UsageError(f"--format: expected one of {', '.join(f.name for f in known)}, got {self.format!r}")
        self.output_format = chosen[0]
        modes = [m for m, on in (("-H", self.values["hosts"]), ("--inventory", self.inventory),
                                 ("--demo", self.demo)) if on]
        if len(modes) > 1:
            raise UsageError(f"{' and '.join(modes)} cannot be combined")
        if self.sites and not self.inventory:
            raise UsageError("--site needs --inventory")
        if self.demo_faults and not self.demo:
            raise UsageError("--demo-fault needs --demo")
        if self.icinga2_objects:
            self._check_objects()
        self._check_watch()
        self._check_submit()
        if self.output and self.inventory and _same_file(self.output, self.inventory):
            raise UsageError(f"--output {self.output}: that is the inventory (--inventory {self.inventory}): give "
                             "another file")
        if not modes:
            raise UsageError("give one of -H HOST, --inventory FILE or --demo")
        if self.timeout_text is not None:
            try:
                self.timeout = schema.seconds(self.timeout_text)
            except schema.SchemaError as exc:
                raise UsageError(f"-t/--timeout: {exc.message}") from None

    def _check_objects(self) -> None:
        """--icinga2-objects prints configuration: it needs an inventory, and options that shape a run are
        mistakes there (the active checks read their settings from the inventory)."""
        if not self.inventory:
            raise UsageError("--icinga2-objects needs --inventory: the objects describe its sites")
        for flags, given in ((("--format",), self.values["format"]), (("--quiet",), self.quiet),
                             (("-t", "--timeout"), self.timeout_text), (("-4", "-6"), self.family),
                             (("-v",), self.verbose)):
            if given:
                raise UsageError(f"{'/'.join(flags)} has no effect with --icinga2-objects, which probes nothing "
                                 f"and prints Icinga 2 configuration (--output FILE writes it to a file)")

    def target_values(self) -> dict[str, str | None]:
        """The options of --submit's target: dest -> the word given, or None."""
        assert self.target is not None
        return {o.dest: self._one(o.dest) for o in self.target.options}

    def _check_watch(self) -> None:
        """--watch and its options: what goes together, and their values (checked before anything runs)."""
        given = [o.flags[0] for o in self.table.run if o.dest in WATCH_OPTIONS and self.values[o.dest]]
        if not self.watch:
            if given:
                raise UsageError(f"{given[0]} needs --watch")
            return
        if self.demo:
            raise UsageError("--watch needs -H HOST or --inventory FILE (the demo's site cannot be fixed while it "
                             "is watched: run dsports-simulator, and watch the site it prints)")
        for flag, on in (("--icinga2-objects", self.icinga2_objects), ("--submit", self.submit is not None)):
            if on:
                raise UsageError(f"{flag} cannot be combined with --watch")
        for flag, on in (("--quiet", self.quiet), ("-v", self.verbose > 0)):
            if on:
                raise UsageError(f"{flag} has no effect with --watch: it shows every port, and each change")
        if self.format != NAGIOS.name and not self.output:
            raise UsageError(f"--format {self.format} with --watch needs --output FILE (the final round goes "
                             f"there; stdout shows the live view)")
        self.interval, self.watch_until, self.watch_for, self.serve_address  # noqa: B018 - checked here

    @property
    def interval(self) -> float:
        """``--interval`` in seconds (default 2; at least 1: never more than one probe of a port a second)."""
        text = self._one("interval")
        if text is None:
            return WATCH_INTERVAL
        value = _decimal(text)
        if value is not None and WATCH_MIN_INTERVAL <= value <= 3600:
            return value
        raise UsageError(f"--interval: expected seconds >= {WATCH_MIN_INTERVAL:g} (a port is never probed more "
                         f"than once a second) and <= 3600, got {text!r}")

    @property
    def watch_until(self) -> str | None:
        """``--watch-until``: "ok", or None."""
        text = self._one("watch_until")
        if text is None or text.strip().lower() == "ok":
            return None if text is None else "ok"
        raise UsageError(f"--watch-until: expected ok (every port as expected 3 rounds in a row), got {text!r}")

    @property
    def watch_for(self) -> float:
        """``--watch-for`` in seconds (default and at most 4 h): 90, 90s, 15m, 2h, 1.5h."""
        text = self._one("watch_for")
        if text is None:
            return WATCH_MAX
        word = text.strip().lower()
        unit = _UNITS.get(word[-1:], 0.0) if word else 0.0
        number = _decimal(word[:-1] if unit else word)
        if number is not None and 0 < number * (unit or 1.0) <= WATCH_MAX:
            return number * (unit or 1.0)
        raise UsageError(f"--watch-for: expected a duration above 0 and at most 4h (a watch never runs on "
                         f"unattended), e.g. 90, 90s, 15m or 2h; got {text!r}")

    @property
    def round_timeout(self) -> float:
        """-t of each round of a watch (default 5)."""
        return WATCH_TIMEOUT if self.timeout_text is None else self.timeout

    @property
    def serve_address(self) -> tuple[str, int] | None:
        """``--serve [HOST:]PORT`` as (host, port): 127.0.0.1 without a host; ``[::1]:8080`` for IPv6."""
        text = self._one("serve")
        if text is None:
            return None
        word = text.strip()
        host, sep, port = word.rpartition(":")
        if not sep:
            host, port = "", word
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if port.isdecimal() and port.isascii() and int(port) <= 65535 and (host == "" or "[" not in host) \
                and " " not in host:
            return host or "127.0.0.1", int(port)
        raise UsageError(f"--serve: expected [HOST:]PORT, e.g. 8080, 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 "
                         f"(port 0: any free port), got {text!r}")

    def _check_submit(self) -> None:
        """--submit and its options: what goes together (the files are read later, by the target's
        ``prepare``)."""
        given = [o.flags[0] for o in self.table.run
                 if o.group == SUBMIT_GROUP and o.dest != "submit" and self.values[o.dest]]
        if self.submit is None:
            if given:
                raise UsageError(f"{given[0]} needs --submit")
            return
        names = [t.name for t in self.table.targets]
        if self.submit not in names:
            raise UsageError(f"--submit: expected {', '.join(names[:-1])} or {names[-1]}, got {self.submit!r}")
        if not self.inventory:
            raise UsageError("--submit needs --inventory (it names each site's Icinga or Nagios host and service)")
        if self.icinga2_objects:
            raise UsageError("--icinga2-objects cannot be combined with --submit: print the objects first, then "
                             "submit their results")
        for flag, dest in (("--format", "format"), ("--output", "output")):
            if self.values[dest]:
                raise UsageError(f"{flag} cannot be combined with --submit (it prints one line saying what was "
                                 "submitted)")
        self.target = target = self.table.targets[names.index(self.submit)]
        own = [o.flag for o in target.options]
        foreign = [flag for flag in given if flag not in own]
        if foreign:
            raise UsageError(f"{foreign[0]} cannot be combined with --submit {self.submit}")
        from check_digitalsentry.passive import SetupError

        try:
            target.module.check_options(self.target_values())
        except SetupError as exc:
            raise UsageError(str(exc)) from None

    def site_words(self, fields: Sequence[schema.Field] = SITE_FIELDS) -> dict[str, list[str]]:
        """Setting name -> the words given for it, for the settings given on the command line."""
        words: dict[str, list[str]] = {}
        for spec in fields:
            given = self.values[spec.name]
            if isinstance(given, list) and given:
                words[spec.name] = given
            elif given is True:
                words[spec.name] = ["true"]
        return words

    def site_values(self, roles: Sequence[str], fields: Sequence[schema.Field] = SITE_FIELDS) -> dict[str, object]:
        """The site settings given on the command line, checked by the schema; UsageError in the words of
        the options (``--port vidoe: unknown role 'vidoe' (did you mean 'video'?)``)."""
        try:
            return schema.parse_words(self.site_words(fields), roles)
        except schema.SchemaError as exc:
            raise UsageError(option_words(exc)) from None


def option_words(exc: schema.SchemaError) -> str:
    """A schema error in the words of the command line: ``ports.vidoe`` is ``--port vidoe``."""
    head = str(exc.path[0]) if exc.path else ""
    spec = schema.BY_NAME.get(head)
    if spec is None or not spec.option:
        return exc.message
    tail = " ".join(str(part) for part in exc.path[1:])
    return f"{'/'.join(spec.option)}{' ' + tail if tail else ''}: {exc.message}"
