"""The check's option table (check frontend): every option of ``check_digitalsentry`` in help order --
the run's own (``--inventory``, ``-t``, ``--format``, ``--watch``...), the submit targets' (``outputs``) and
one per site setting that has one (``schema.Site``) -- and what ``--help`` says around them. ``options``
reads a command line with it (as argparse would) and checks the values; ``help`` builds argparse's parser
from the same table. A plugin's submit target or format makes a table of its own (``table``).
"""

from __future__ import annotations

from check_digitalsentry import outputs, schema
from check_digitalsentry.kinds import DEFAULT_TIMEOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.engine.probes import BuiltinHooks


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
EXIT_CODES = ("Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad arguments, --help and --version); "
              "with --submit: 0 every result went in, 1 some did, 2 none did.")


def epilog(roles: Sequence[str]) -> str:
    """The end of --help: the exit codes and the roles (the catalogue's and the plugins'), then ``forbid``."""
    from check_digitalsentry.catalogue import FORBID

    return f"{EXIT_CODES} Roles: {', '.join((*roles, FORBID))}."


SUBMIT_GROUP = "passive results (--submit)"
WATCH_GROUP = "live view at the router (--watch)"
GROUPS = ("target", "Digital Sentry", "thresholds and timing", "output", WATCH_GROUP, SUBMIT_GROUP)

#: The check plugin's own output, Nagios text (status line, long output, perfdata: ``glue``), and the
#: formats of the registry (``outputs``) after it.
NAGIOS = outputs.Format("nagios", "text/plain", 50e-6, None, note="default", locale_text=True)
FORMATS: tuple[outputs.Format, ...] = (NAGIOS, *outputs.FORMATS)

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
    Option(("-t", "--timeout"), "timeout", "value",
           f"the whole run ends inside this (default {DEFAULT_TIMEOUT:g})", metavar="SECONDS",
           group="thresholds and timing"),
    Option(("-4",), "family", "const", "use IPv4 only", group="thresholds and timing", const=4),
    Option(("-6",), "family", "const", "use IPv6 only", group="thresholds and timing", const=6),
    Option(("--format",), "format", "value", outputs.described_formats(FORMATS), metavar="FORMAT"),
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
)
_SITE: tuple[Option, ...] = tuple(
    Option(f.option, f.name, "flag" if f.kind.option_action == "flag" else "value", f.help, metavar=f.metavar,
           group=f.group) for f in SITE_FIELDS)



def submit_options(known: Sequence[outputs.Target]) -> tuple[Option, ...]:
    """``--submit`` and each target's own options (``outputs``), in the order the help lists them."""
    return (Option(("--submit",), "submit", "value", f"with --inventory: post one passive result per site (or "
                   f"per role) to {outputs.described_targets(known)}, and print one line saying what went in",
                   metavar="TARGET", group=SUBMIT_GROUP),
            *(Option((o.flag,), o.dest, "value", o.help, metavar=o.metavar, group=SUBMIT_GROUP)
              for target in known for o in target.options))


class Table:
    """The options of a run: every option in help order (and in the order argparse registers them, which
    its messages follow), by flag, the submit targets whose options it has, and the formats ``--format``
    takes (the plugins' too, when a plugin adds any)."""

    __slots__ = ("by_flag", "conflicts", "formats", "options", "run", "targets")

    def __init__(self, known_targets: Sequence[outputs.Target] = outputs.TARGETS,
                 known_formats: Sequence[outputs.Format] = FORMATS) -> None:
        self.targets = tuple(known_targets)
        self.formats = tuple(known_formats)
        #: the run's own options (not the site settings')
        self.run: tuple[Option, ...] = (*_RUN, *submit_options(self.targets))
        self.options: tuple[Option, ...] = tuple(o for group in GROUPS for o in (*_SITE, *self.run)
                                                 if o.group == group)
        self.by_flag: dict[str, Option] = {flag: o for o in self.options for flag in o.flags}
        self.conflicts: dict[Option, tuple[Option, ...]] = {
            o: tuple(p for p in self.options if p.action == "const" and p.dest == o.dest and p is not o)
            for o in self.options if o.action == "const"}

    def defaults(self) -> dict[str, object]:
        """dest -> the value of an option not given: [] for "value", False, 0, None for "const"."""
        values: dict[str, object] = {}
        for option in self.options:
            values[option.dest] = {"value": [], "flag": False, "count": 0}.get(option.action)
        for option in self.options:
            if option.action == "value":
                values[option.dest] = []  # a fresh list each
        return values


#: The options without plugins (a plugin's target or format makes a table of its own: ``table``).
DEFAULT = Table()
OPTIONS = DEFAULT.options


def table(hooks: BuiltinHooks) -> Table:
    """The options of a run with these hooks: the built-in table, unless a plugin adds a target or a format
    (ValueError, naming the plugin's, for one that cannot be added)."""
    known_targets, known_formats = outputs.targets(hooks), (NAGIOS, *outputs.formats(hooks))
    if known_targets == DEFAULT.targets and known_formats == DEFAULT.formats:
        return DEFAULT
    return Table(known_targets, known_formats)
