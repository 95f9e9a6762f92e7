"""Options of the check plugin (Nagios frontend): one table, and a fast parser that reads it as argparse.

The table ``OPTIONS`` has the run's own options (``--inventory``, ``-t``, ``--format``...) and one option
per site setting that has one, taken from the site schema (``schema.Site``: flag, metavar, help, group).
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

from check_digitalsentry import schema

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class UsageError(Exception):
    """Bad arguments or a bad inventory: one line, exit 3."""


class Option:
    """One option: ``action`` is "value" (each occurrence adds a word), "flag", "count" or "const"
    (store ``const`` in ``dest``; the "const" options of one ``dest`` exclude each other)."""

    __slots__ = ("action", "const", "dest", "flags", "group", "help", "metavar")

    def __init__(self, flags: tuple[str, ...], dest: str, action: str, help: str, *, metavar: str = "",
                 group: str = "output", const: object = None) -> None:
        self.flags = flags
        self.dest = dest
        self.action = action
        self.help = help
        self.metavar = metavar
        self.group = group
        self.const = const

    @property
    def name(self) -> str:
        """How argparse names the option in its messages: ``-t/--timeout``."""
        return "/".join(self.flags)

    def __repr__(self) -> str:
        return f"Option({self.name})"


USAGE = ("check_digitalsentry -H HOST [options] | --inventory FILE [--site NAME ...] | --demo; live: add --watch "
         "[--serve HOST:PORT]")
#: --help's examples: (command, what it does). tests/test_options.py parses and checks each.
EXAMPLES = (
    ("check_digitalsentry --demo", "a simulated DS site on loopback, checked (no root needed)"),
    ("check_digitalsentry --demo --demo-fault video=off", "the same with its video port closed: CRITICAL"),
    ("check_digitalsentry -H ds01.example.com --sql-instance SQLEXPRESS --web --audio-clients 2",
     "a DS server with DSWebService and two audio clients"),
    ("check_digitalsentry -H 192.0.2.10 --port video=28772 --forbid 3389/tcp -t 5",
     "behind NAT that remaps video; RDP must be blocked"),
    ("check_digitalsentry --inventory /etc/digitalsentry/sites.toml --quiet",
     "every site of an inventory, for cron: silent when all is OK"),
    ("check_digitalsentry --inventory sites.toml --format openmetrics --output /var/lib/prometheus/node-exporter/"
     "digitalsentry.prom --quiet", "metrics for node_exporter's textfile collector"),
    ("check_digitalsentry --inventory sites.toml --icinga2-objects --output /etc/icinga2/conf.d/ds.conf",
     "an Icinga 2 Host and its services per site"),
)
DESCRIPTION = ("Check that a Pelco Digital Sentry server's ports are reachable the way DS ControlPoint, DS Admin "
               "and Pelco Mobile need them.")
EPILOG = ("Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad arguments, --help and --version); "
          "with --submit: 0 every result went in, 1 some did, 2 none did. "
          "Roles: sql-browser, sql, video, diagnostics, web, api-system, api-playback, api-camera, audio, forbid.")
SUBMIT_GROUP = "passive results (--submit)"
WATCH_GROUP = "live view at the router (--watch)"
GROUPS = ("target", "Digital Sentry", "thresholds and timing", "output", WATCH_GROUP, SUBMIT_GROUP)

#: The site settings with an option: their values become a site (``-H`` mode) through the schema.
SITE_FIELDS: tuple[schema.Field, ...] = tuple(f for f in schema.FIELDS if f.option)

_RUN: tuple[Option, ...] = (
    Option(("--inventory",), "inventory", "value", "check sites from a TOML inventory instead of -H",
           metavar="FILE", group="target"),
    Option(("--site",), "site", "value", "with --inventory: check only this site (repeatable; default all)",
           metavar="NAME", group="target"),
    Option(("--demo",), "demo", "flag", "start an embedded simulated DS site on loopback and check it",
           group="target"),
    Option(("--demo-fault",), "demo_fault", "value",
           "with --demo: inject a simulator fault, e.g. sql=tarpit (repeatable)", metavar="ROLE=FAULT",
           group="target"),
    Option(("--icinga2-objects",), "icinga2_objects", "flag",
           "with --inventory: print an Icinga 2 Host per site and its Services (nothing is probed)",
           group="target"),
    Option(("-t", "--timeout"), "timeout", "value", "the whole run ends inside this (default 10)",
           metavar="SECONDS", group="thresholds and timing"),
    Option(("-4",), "family", "const", "use IPv4 only", group="thresholds and timing", const=4),
    Option(("-6",), "family", "const", "use IPv6 only", group="thresholds and timing", const=6),
    Option(("--format",), "format", "value", "nagios (default), json, openmetrics or html (the handover "
           "document)", metavar="FORMAT"),
    Option(("--output",), "output", "value", "also write the formatted result to FILE, atomically",
           metavar="FILE"),
    Option(("--quiet",), "quiet", "flag", "for cron: print nothing and exit 0 when everything is OK, else a "
           "line per port (as -v) without perfdata"),
    Option(("-v", "--verbose"), "verbose", "count", "-v one line per port, -vv also the configuration, -vvv "
                                                   "tracebacks"),
    Option(("-V", "--version"), "version", "flag", "print the version (exits 3)"),
    Option(("-h", "--help"), "help", "flag", "print this help (exits 3)"),
    Option(("--watch",), "watch", "flag", "with -H or --inventory: probe in rounds and keep one table up to date "
           "(one line per change without a terminal) until Ctrl-C, --watch-until or --watch-for; -t is each "
           "round's (default 5)", group=WATCH_GROUP),
    Option(("--interval",), "interval", "value", "with --watch: a round every SECONDS (default 2, at least 1)",
           metavar="SECONDS", group=WATCH_GROUP),
    Option(("--watch-until",), "watch_until", "value", "with --watch: ok -- end once every port has been as "
           "expected 3 rounds in a row", metavar="ok", group=WATCH_GROUP),
    Option(("--watch-for",), "watch_for", "value", "with --watch: end after DURATION (90, 90s, 15m, 2h; default "
           "and at most 4h)", metavar="DURATION", group=WATCH_GROUP),
    Option(("--serve",), "serve", "value", "with --watch: also serve the live view as a page for a phone on "
           "[HOST:]PORT (default host 127.0.0.1), behind a secret URL printed at the start", metavar="HOST:PORT",
           group=WATCH_GROUP),
    Option(("--submit",), "submit", "value", "with --inventory: post one passive result per site (or per role) "
           "to icinga2 (its REST API) or nagios (its command file), and print one line saying what went in",
           metavar="TARGET", group=SUBMIT_GROUP),
    Option(("--api-url",), "api_url", "value", "Icinga 2 API, e.g. https://icinga.example.com:5665",
           metavar="URL", group=SUBMIT_GROUP),
    Option(("--api-user",), "api_user", "value", "ApiUser (permission actions/process-check-result)",
           metavar="USER", group=SUBMIT_GROUP),
    Option(("--api-password-file",), "api_password_file", "value", "the ApiUser's password: the file's first "
           "line (a file every user may read is refused)", metavar="FILE", group=SUBMIT_GROUP),
    Option(("--api-ca",), "api_ca", "value", "CA certificate (PEM) of the Icinga node's certificate, e.g. "
           "/var/lib/icinga2/certs/ca.crt (default: the system's CAs)", metavar="FILE", group=SUBMIT_GROUP),
    Option(("--api-cert",), "api_cert", "value", "client certificate (PEM) for an ApiUser with client_cn",
           metavar="FILE", group=SUBMIT_GROUP),
    Option(("--api-key",), "api_key", "value", "the client certificate's key (PEM)", metavar="FILE",
           group=SUBMIT_GROUP),
    Option(("--ttl",), "ttl", "value", "seconds until Icinga runs the freshness check of a service that got no "
           "newer result (default 600: twice a 5-minute cron interval; 0: none)", metavar="SECONDS",
           group=SUBMIT_GROUP),
    Option(("--check-source",), "check_source", "value", "the check source Icinga shows (default: this "
           "machine's host name)", metavar="NAME", group=SUBMIT_GROUP),
    Option(("--command-file",), "command_file", "value", "with --submit nagios: the external command file "
           "(FIFO), e.g. /var/lib/nagios4/rw/nagios.cmd", metavar="FILE", group=SUBMIT_GROUP),
)
_SITE: tuple[Option, ...] = tuple(
    Option(f.option, f.name, "flag" if f.kind.option_action == "flag" else "value", f.help, metavar=f.metavar,
           group=f.group) for f in SITE_FIELDS)

#: Every option, in help order (and in the order argparse registers them, which its messages follow).
OPTIONS: tuple[Option, ...] = tuple(o for group in GROUPS for o in (*_SITE, *_RUN) if o.group == group)
_BY_FLAG: dict[str, Option] = {flag: o for o in OPTIONS for flag in o.flags}
_CONFLICTS: dict[Option, tuple[Option, ...]] = {
    o: tuple(p for p in OPTIONS if p.action == "const" and p.dest == o.dest and p is not o)
    for o in OPTIONS if o.action == "const"}


def defaults() -> dict[str, object]:
    """dest -> the value of an option not given: [] for "value", False, 0, None for "const"."""
    values: dict[str, object] = {}
    for option in OPTIONS:
        values[option.dest] = {"value": [], "flag": False, "count": 0}.get(option.action)
    for option in OPTIONS:
        if option.action == "value":
            values[option.dest] = []  # a fresh list each
    return values


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


def _option_tuples(word: str) -> list[tuple[Option, str, str | None]]:
    """argparse's ``_get_option_tuples``: the options a word could mean."""
    found: list[tuple[Option, str, str | None]] = []
    if word[1] == "-":
        prefix, eq, explicit = word.partition("=")
        for flag, option in _BY_FLAG.items():
            if flag.startswith(prefix):
                found.append((option, flag, explicit if eq else None))
    else:
        short, attached = word[:2], word[2:]
        for flag, option in _BY_FLAG.items():
            if flag == short:
                found.append((option, flag, attached))
            elif flag.startswith(word):
                found.append((option, flag, None))
    return found


_NOT_AN_OPTION = None


def _classify(word: str) -> tuple[Option | None, str, str | None] | None:
    """argparse's ``_parse_optional``: None for a value ('A'), else (option or None, flag, explicit)."""
    if not word or word[0] != "-":
        return _NOT_AN_OPTION
    if word in _BY_FLAG:
        return _BY_FLAG[word], word, None
    if len(word) == 1:
        return _NOT_AN_OPTION
    if "=" in word:
        flag, _, explicit = word.partition("=")
        if flag in _BY_FLAG:
            return _BY_FLAG[flag], flag, explicit
    matches = _option_tuples(word)
    if len(matches) > 1:
        names = ", ".join(flag for _, flag, _ in matches)
        raise UsageError(f"ambiguous option: {word} could match {names}")
    if matches:
        return matches[0]
    if _negative_number(word) and not any(_negative_number(flag) for flag in _BY_FLAG):
        return _NOT_AN_OPTION
    if " " in word:
        return _NOT_AN_OPTION
    return None, word, None


def parse(argv: Sequence[str]) -> dict[str, object]:
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
        kind = _classify(word)
        if kind is None:
            pattern.append("A")
        else:
            found[index] = kind
            pattern.append("O")
    values = defaults()
    seen: set[Option] = set()
    extras: list[str] = []

    def take(option: Option, word: str | None) -> None:
        for other in _CONFLICTS.get(option, ()):
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
                    if flag not in _BY_FLAG:
                        raise UsageError(f"argument {option.name}: ignored explicit argument {explicit!r}")
                    option, explicit = _BY_FLAG[flag], rest
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
        raise UsageError(f"unrecognized arguments: {' '.join(extras)}{suggestion(extras)}")
    return values


def suggestion(extras: Sequence[str]) -> str:
    """``: did you mean --sql-instance?`` for the first unrecognized word that is a long option mistyped
    (``--sql-instace``, ``-sql-instance``, ``--sql-instace=X``); "" when none is close to one. argparse
    (3.11) says no more than "unrecognized arguments": this is the one place where the words differ."""
    import difflib  # only on this error path

    long_flags = [flag for flag in _BY_FLAG if flag.startswith("--")]
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

FORMATS = ("nagios", "json", "openmetrics", "html")
SUBMIT_TARGETS = ("icinga2", "nagios")
ICINGA2_OPTIONS = ("--api-url", "--api-user", "--api-password-file", "--api-ca", "--api-cert", "--api-key",
                   "--ttl", "--check-source")
NAGIOS_OPTIONS = ("--command-file",)
#: Seconds after a result until Icinga runs a service's freshness check (``digitalsentry-passive``): twice
#: the 5-minute interval of contrib/cron and contrib/systemd, so one late or lost run is not yet an alarm.
DEFAULT_TTL = 600.0
MAX_TTL = 7 * 86400.0  #: a week
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

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values
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
        self.format = self._one("format") or "nagios"
        timeout = self._one("timeout")
        self.timeout_text = timeout
        self.submit = self._one("submit")
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
        for option in _RUN:
            given = self.values[option.dest]
            if option.action == "value" and option.dest not in self.REPEATABLE:
                assert isinstance(given, list)
                if len(given) > 1:
                    raise UsageError(f"{option.name}: given {len(given)} times "
                                     f"({', '.join(map(repr, given))}): give it once")
            if option.action == "value" and isinstance(given, list) and any(not str(v).strip() for v in given):
                raise UsageError(f"{option.name} {next(str(v) for v in given if not str(v).strip())!r}: an empty "
                                 f"value (give {option.metavar or 'a value'}, or leave the option out)")
        if self.format not in FORMATS:
            raise UsageError(f"--format: expected one of {', '.join(FORMATS)}, got {self.format!r}")
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

    def _check_watch(self) -> None:
        """--watch and its options: what goes together, and their values (checked before anything runs)."""
        given = [o.flags[0] for o in _RUN if o.dest in WATCH_OPTIONS and self.values[o.dest]]
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
        if self.format != "nagios" and not self.output:
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
        """--submit and its options: what goes together (the files are read later, by ``submit``)."""
        given = [o.flags[0] for o in _RUN
                 if o.group == SUBMIT_GROUP and o.dest != "submit" and self.values[o.dest]]
        if self.submit is None:
            if given:
                raise UsageError(f"{given[0]} needs --submit")
            return
        if self.submit not in SUBMIT_TARGETS:
            raise UsageError(f"--submit: expected {' or '.join(SUBMIT_TARGETS)}, got {self.submit!r}")
        if not self.inventory:
            raise UsageError("--submit needs --inventory (it names each site's Icinga or Nagios host and service)")
        if self.icinga2_objects:
            raise UsageError("--icinga2-objects cannot be combined with --submit: print the objects first, then "
                             "submit their results")
        for flag, dest in (("--format", "format"), ("--output", "output")):
            if self.values[dest]:
                raise UsageError(f"{flag} cannot be combined with --submit (it prints one line saying what was "
                                 "submitted)")
        own = NAGIOS_OPTIONS if self.submit == "nagios" else ICINGA2_OPTIONS
        foreign = [flag for flag in given if flag not in own]
        if foreign:
            raise UsageError(f"{foreign[0]} cannot be combined with --submit {self.submit}")
        if self.submit == "nagios":
            if not self.values["command_file"]:
                raise UsageError("--submit nagios needs --command-file FILE (Nagios' command_file, e.g. "
                                 "/var/lib/nagios4/rw/nagios.cmd)")
            return
        if not self.values["api_url"]:
            raise UsageError("--submit icinga2 needs --api-url https://HOST:5665")
        if not self.values["api_user"] and not self.values["api_cert"]:
            raise UsageError("--submit icinga2 needs --api-user USER --api-password-file FILE, or --api-cert FILE "
                             "--api-key FILE")
        if bool(self.values["api_cert"]) != bool(self.values["api_key"]):
            raise UsageError("--api-cert and --api-key go together (the client certificate and its key)")
        if bool(self.values["api_user"]) != bool(self.values["api_password_file"]):
            raise UsageError("--api-user and --api-password-file go together (the ApiUser and its password)")
        if self.values["api_user"] and self.values["api_cert"]:
            raise UsageError("--api-user and --api-cert cannot be combined: give one way to authenticate (an "
                             "ApiUser's password, or a client certificate for an ApiUser with client_cn)")
        self.ttl  # noqa: B018 - checked here, before anything is probed

    @property
    def ttl(self) -> float:
        """``--ttl`` in seconds (default ``DEFAULT_TTL``; 0: none)."""
        text = self._one("ttl")
        if text is None:
            return DEFAULT_TTL
        value = _decimal(text)
        if value is not None and value <= MAX_TTL:
            return value
        raise UsageError(f"--ttl: expected seconds >= 0 and <= {MAX_TTL:g} (0: no ttl), got {text!r}")

    @property
    def timeout(self) -> float:
        """``-t`` in seconds (default 10)."""
        if self.timeout_text is None:
            return 10.0
        try:
            return schema.seconds(self.timeout_text)
        except schema.SchemaError as exc:
            raise UsageError(f"-t/--timeout: {exc.message}") from None

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
