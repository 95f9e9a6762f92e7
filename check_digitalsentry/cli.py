"""Nagios/Icinga frontend (the ``check_digitalsentry`` command), on nagiosplugin.

A thin layer: options -> sites, one call of the engine, the shared judgement, and presentation as
nagiosplugin Metrics/Contexts/Summary (or JSON / OpenMetrics). It never probes and never re-judges:
each port's nagiosplugin Result carries the state that ``judge`` gave it. This is the only module of
the package that imports nagiosplugin (ruff's banned-api rule keeps it so).

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN -- UNKNOWN also for bad arguments or a bad
inventory (never argparse's 2, which Icinga would read as CRITICAL), and, following the Monitoring
Plugins guidelines, for ``--help`` and ``--version``.
"""

from __future__ import annotations

import os
import sys
import time

from . import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import NoReturn

    from .inventory import InventoryError
    from .judge import Verdict
    from .model import SiteReport

    #: (flags, dest, action, metavar, default, help)
    Option = tuple[tuple[str, ...], str, str, "str | None", object, str]

NAME = "DIGITALSENTRY"
FORMATS = ("nagios", "json", "openmetrics")
#: Seconds kept free at the end of -t for judging and printing: the run ends inside -t.
OUTPUT_MARGIN = 0.15


class UsageError(Exception):
    """Bad arguments or a bad inventory: one line, exit 3."""


USAGE = "check_digitalsentry -H HOST [options] | --inventory FILE [--site NAME ...] | --demo"
DESCRIPTION = ("Check that a Pelco Digital Sentry server's ports are reachable the way DS ControlPoint, DS Admin "
               "and Pelco Mobile need them.")
EPILOG = ("Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad arguments, --help and --version). "
          "Roles: sql-browser, sql, video, diagnostics, web, api-system, api-playback, api-camera, audio, forbid.")

#: Every option, once: (flags, dest, action, metavar, default, help), by help group. Actions: "store",
#: "append", "true", "count", and "4"/"6" (the address family). The hot path parses with this table; the
#: argparse parser built from it only prints --help: importing argparse pulls in gettext and locale,
#: ~3 ms of every run of a plugin that starts thousands of times a day.
OPTIONS: tuple[tuple[str, tuple[Option, ...]], ...] = (
    ("target", (
        (("-H", "--hostname"), "hostname", "store", "HOST", None, "DS server to check (name or address)"),
        (("--inventory",), "inventory", "store", "FILE", None,
         "check sites from a TOML inventory instead of -H"),
        (("--site",), "site", "append", "NAME", None,
         "with --inventory: check only this site (repeatable; default all)"),
        (("--demo",), "demo", "true", None, False, "start an embedded simulated DS site on loopback and check it"),
        (("--demo-fault",), "demo_fault", "append", "ROLE=FAULT", None,
         "with --demo: inject a simulator fault, e.g. sql=tarpit (repeatable)"),
    )),
    ("Digital Sentry", (
        (("--sql-instance",), "sql_instance", "store", "NAME", None, "SQL Server instance of the DS database"),
        (("--sql-port",), "sql_port", "store", "PORT", None, "static SQL port (DS QuickSetup > Tools > "
         "Configure SQL Ports, DS 7.2.30+); default: ask the SQL Server Browser"),
        (("--web",), "web", "true", None, False, "DSWebService (Pelco Mobile) is expected on 443"),
        (("--api",), "api", "true", None, False,
         "the Pelco API bundle is expected (60001, 60002, 60010; DS 7.8.90+)"),
        (("--audio-clients",), "audio_clients", "store", "N", "0",
         "ControlPoint clients receiving audio: UDP 18778, 18779, ... (default 0)"),
        (("--port",), "port", "append", "ROLE=PORT", None,
         "external port of a role when NAT remaps it (repeatable)"),
        (("--forbid",), "forbid", "append", "PORT/PROTO", None,
         "a port that must NOT be reachable, e.g. 3389/tcp (repeatable)"),
        (("--severity",), "severity", "append", "ROLE=LEVEL", None,
         "state when ROLE fails: ok, warning or critical (repeatable)"),
        (("--tls-verify",), "tls_verify", "true", None, False, "verify the web certificate chain"),
    )),
    ("thresholds and timing", (
        (("-w", "--warning"), "warning", "store", "RANGE", None, "response time per port, seconds (range)"),
        (("-c", "--critical"), "critical", "store", "RANGE", None, "response time per port, seconds (range)"),
        (("-t", "--timeout"), "timeout", "store", "SECONDS", "10", "the whole run ends inside this (default 10)"),
        (("-4",), "family", "4", None, None, "use IPv4 only"),
        (("-6",), "family", "6", None, None, "use IPv6 only"),
    )),
    ("output", (
        (("--format",), "format", "store", "FORMAT", "nagios", "nagios (default), json or openmetrics"),
        (("--output",), "output", "store", "FILE", None, "also write the formatted result to FILE, atomically"),
        (("--quiet",), "quiet", "true", None, False, "print nothing and exit 0 when everything is OK (for cron)"),
        (("-v", "--verbose"), "verbose", "count", None, 0,
         "-v one line per port, -vv also the configuration, -vvv tracebacks"),
        (("-V", "--version"), "version", "true", None, False, "print the version (exits 3)"),
        (("-h", "--help"), "help", "true", None, False, "print this help (exits 3)"),
    )),
)
_BY_FLAG = {flag: option for _, group in OPTIONS for option in group for flag in option[0]}
_VALUED = ("store", "append")


class Args:
    """The parsed options, as attributes (the ``dest`` names of ``OPTIONS``)."""

    hostname: str | None
    inventory: str | None
    site: list[str]
    demo: bool
    demo_fault: list[str]
    sql_instance: str | None
    sql_port: str | None
    web: bool
    api: bool
    audio_clients: str
    port: list[str]
    forbid: list[str]
    severity: list[str]
    tls_verify: bool
    warning: str | None
    critical: str | None
    timeout: str
    family: int | None
    format: str
    output: str | None
    quiet: bool
    verbose: int
    version: bool
    help: bool

    def __init__(self) -> None:
        for _, group in OPTIONS:
            for _flags, dest, action, _metavar, default, _help in group:
                setattr(self, dest, [] if action == "append" else default)


def parse_args(argv: Sequence[str]) -> Args:
    """Parse the command line with ``OPTIONS``, as argparse would: ``--opt=value``, unique prefixes of
    long options, clustered short flags (``-vvv``); UsageError in argparse's words otherwise."""
    args = Args()
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg.startswith("--") and len(arg) > 2:
            name, eq, inline = arg.partition("=")
            option = _long_option(name)
            if option[2] in _VALUED:
                if not eq:
                    inline = _value(option, rest)
                _apply(args, option, inline)
            elif eq:
                raise UsageError(f"argument {'/'.join(option[0])}: ignored explicit argument {inline!r}")
            else:
                _apply(args, option, None)
        elif arg.startswith("-") and len(arg) > 1:
            at = 1
            while at < len(arg):
                short = _BY_FLAG.get("-" + arg[at])
                if short is None:
                    raise UsageError(f"unrecognized arguments: {arg}")
                if short[2] in _VALUED:
                    _apply(args, short, arg[at + 1:] or _value(short, rest))
                    break
                _apply(args, short, None)
                at += 1
        else:
            raise UsageError(f"unrecognized arguments: {arg}")
    return args


def _long_option(name: str) -> Option:
    option = _BY_FLAG.get(name)
    if option is not None:
        return option
    matches = sorted({flag for flag in _BY_FLAG if flag.startswith(name) and flag.startswith("--")})
    if len(matches) == 1:
        return _BY_FLAG[matches[0]]
    if matches:
        raise UsageError(f"ambiguous option: {name} could match {', '.join(matches)}")
    raise UsageError(f"unrecognized arguments: {name}")


def _value(option: Option, rest: list[str]) -> str:
    if not rest or (rest[0].startswith("-") and len(rest[0]) > 1 and not rest[0][1:2].isdigit()):
        raise UsageError(f"argument {'/'.join(option[0])}: expected one argument")
    return rest.pop(0)


def _apply(args: Args, option: Option, value: str | None) -> None:
    flags, dest, action = option[0], option[1], option[2]
    if action == "store":
        setattr(args, dest, value)
    elif action == "append":
        getattr(args, dest).append(value)
    elif action == "true":
        setattr(args, dest, True)
    elif action == "count":
        setattr(args, dest, getattr(args, dest) + 1)
    else:  # -4 / -6
        if args.family not in (None, int(action)):
            raise UsageError(f"argument {flags[0]}: not allowed with argument -{args.family}")
        args.family = int(action)


def _print_help() -> None:
    """The help text, formatted by argparse (imported only here)."""
    import argparse

    parser = argparse.ArgumentParser(prog="check_digitalsentry", add_help=False, usage=USAGE,
                                     description=DESCRIPTION, epilog=EPILOG)
    for title, group in OPTIONS:
        section = parser.add_argument_group(title)
        for flags, dest, action, metavar, _default, text in group:
            kind = {"store": "store", "append": "append", "true": "store_true", "count": "count"}
            if action in kind:
                if metavar:
                    section.add_argument(*flags, dest=dest, action=kind[action], help=text, metavar=metavar)
                else:
                    section.add_argument(*flags, dest=dest, action=kind[action], help=text)
            else:
                section.add_argument(*flags, dest=f"family{action}", action="store_true", help=text)
    parser.print_help()


def _seconds(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option}: expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise UsageError(f"{option}: expected seconds > 0 and <= 3600, got {text!r}")
    return value


def _pairs(values: Sequence[str], option: str, what: str) -> dict[str, object]:
    pairs: dict[str, object] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise UsageError(f"{option}: expected {what}, got {value!r}")
        raw = raw.strip()
        pairs[key.strip()] = int(raw) if raw.isdigit() else raw
    return pairs


#: How an inventory key path reads on the command line, for error messages.
_OPTION_OF = {"ports": "--port", "forbid": "--forbid", "severity": "--severity", "sql_port": "--sql-port",
              "sql_instance": "--sql-instance", "audio_clients": "--audio-clients", "hosts": "-H",
              "warning": "-w", "critical": "-c"}


def _sites_from_options(args: Args) -> list[object]:
    """One site from the options, validated by the same code as an inventory site."""
    from .inventory import InventoryError, site_from_mapping

    raw: dict[str, object] = {"name": "cli", "hosts": [args.hostname], "web": args.web, "api": args.api,
                              "tls_verify": args.tls_verify,
                              "timeout": _seconds(args.timeout, "-t/--timeout")}
    if args.sql_instance is not None:
        raw["sql_instance"] = args.sql_instance
    if args.sql_port is not None:
        raw["sql_port"] = int(args.sql_port) if args.sql_port.isdigit() else args.sql_port
    audio = args.audio_clients
    raw["audio_clients"] = int(audio) if audio.isdigit() else audio
    if args.port:
        raw["ports"] = _pairs(args.port, "--port", "ROLE=PORT")
    if args.severity:
        raw["severity"] = _pairs(args.severity, "--severity", "ROLE=ok|warning|critical")
    if args.forbid:
        raw["forbid"] = list(args.forbid)
    for key in ("warning", "critical"):
        if getattr(args, key) is not None:
            raw[key] = getattr(args, key)
    try:
        return [site_from_mapping(raw, roles=_role_names())]
    except InventoryError as exc:
        raise UsageError(_cli_words(exc)) from None


def _cli_words(exc: InventoryError) -> str:
    """Say an option's mistake in the option's words: ``ports.vidoe`` is ``--port vidoe``."""
    key = exc.key or ""
    head, _, tail = key.partition(".")
    option = _OPTION_OF.get(head.split("[")[0])
    if option is None:
        return str(exc)
    return f"{option}{' ' + tail if tail else ''}: {exc.message}"


def _role_names() -> tuple[str, ...]:
    from .plugins import get_hooks

    return tuple(role.name for role in get_hooks().roles())


def _sites_from_inventory(args: Args) -> list[object]:
    from .inventory import InventoryError, load_inventory

    clash = [opt for opt, given in (("-H", args.hostname), ("--sql-instance", args.sql_instance),
                                    ("--sql-port", args.sql_port), ("--web", args.web), ("--api", args.api),
                                    ("--port", args.port), ("--forbid", args.forbid),
                                    ("--severity", args.severity),
                                    ("--audio-clients", args.audio_clients != "0")) if given]
    if clash:
        raise UsageError(f"{', '.join(clash)} cannot be combined with --inventory: set them in the inventory")
    try:
        assert args.inventory is not None
        inventory = load_inventory(args.inventory, roles=_role_names())
        sites = inventory.select(args.site) if args.site else list(inventory.sites)
    except InventoryError as exc:
        raise UsageError(str(exc)) from None
    from .ranges import Range

    for key in ("warning", "critical"):
        text = getattr(args, key)
        if text is not None:
            try:
                limit = Range.parse(text)
            except ValueError as exc:
                raise UsageError(f"-{key[0]}: {exc}") from None
            for site in sites:
                setattr(site, key, limit)
    return list(sites)


# --- presentation ---------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Nagios output cannot hold '|' (it starts perfdata): 'open|filtered' is shown as 'open/filtered'."""
    return text.replace("|", "/")


class _Outcome:
    """The judged run: reports, verdicts, and the presentation helpers shared by every format."""

    def __init__(self, reports: list[SiteReport], timeout: float, started: float) -> None:
        from .judge import judge_report, worst

        self.reports = reports
        self.timeout = timeout
        self.seconds = time.monotonic() - started
        self.verdicts = [v for report in reports for v in judge_report(report)]
        self.state = worst(self.verdicts)
        self.qualified = len(reports) > 1 or any(len(r.site.hosts) > 1 for r in reports)
        sql_hosts = [(v.site.name, v.result.host) for v in self.verdicts if v.result.role == "sql"]
        self.several_sql = {key for key in sql_hosts if sql_hosts.count(key) > 1}

    def label(self, verdict: Verdict) -> str:
        """Perfdata label of a port: built from the role name, unique, and stable run to run."""
        result = verdict.result
        if result.spec.forbidden:
            base = f"forbid_{result.port}_{result.transport}"
        elif result.role == "audio":
            base = f"audio_{result.port}"
        elif result.role == "sql" and (verdict.site.name, result.host) in self.several_sql:
            base = f"sql_{str(result.facts.get('instance', result.port)).lower()}"
        else:
            base = result.role.replace("-", "_")
        return f"{verdict.site.name}/{result.host}/{base}" if self.qualified else base

    def failing(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.ok]

    def who(self, verdict: Verdict) -> str:
        return f"{verdict.site.name}/{verdict.result.host} " if self.qualified else ""

    def summary(self) -> str:
        failing = self.failing()
        if failing:
            return "; ".join(_plain(self.who(v) + v.reason) for v in failing)
        sites = len(self.reports)
        ports = len(self.verdicts)
        if sites == 1:
            report = self.reports[0]
            hosts = ", ".join(report.site.hosts)
            text = f"{ports} ports as expected on {hosts}"
        else:
            text = f"{sites} sites, {ports} ports as expected"
        sql = [v.result for v in self.verdicts if v.result.role == "sql" and "sql_version" in v.result.facts]
        if len(self.reports) == 1 and sql:
            facts = sql[0].facts
            inst = facts.get("instance")
            text += (f"; {facts.get('sql_product')} {facts.get('sql_version')}"
                     f"{f' (instance {inst} on {sql[0].port}/tcp)' if inst else f' on {sql[0].port}/tcp'}")
        notes = [v for v in self.verdicts if v.note]
        if notes:
            text += f"; {len(notes)} note{'s' if len(notes) != 1 else ''} (-v)"
        return _plain(text)

    def lines(self, verbose: int) -> list[str]:
        out = []
        for v in self.verdicts:
            r = v.result
            port = "dynamic" if r.port is None else str(r.port)
            secs = "" if r.seconds is None else f" in {r.seconds:.3f} s"
            line = f"{self.who(v)}{r.role} {port}/{r.transport} {v.state} {r.status}{secs}: {r.detail}"
            if v.note:
                line += f" [{v.note}]"
            out.append(_plain(line))
        if verbose >= 2:
            for report in self.reports:
                s = report.site
                out.append(_plain(
                    f"site {s.name}: hosts {', '.join(s.hosts)}; instance {s.sql_instance or '(any)'}; "
                    f"sql port {s.sql_port or 'from the Browser'}; web {s.web}; api {s.api}; "
                    f"audio clients {s.audio_clients}; ports {s.ports or '{}'}; "
                    f"forbid {[f'{p}/{t}' for p, t in s.forbid]}; timeout {s.timeout:g}s; "
                    f"warning {s.warning}; critical {s.critical}; took {report.seconds:.3f}s"))
        return out

    # -- JSON

    def json(self) -> str:
        import json

        doc = {
            "state": str(self.state),
            "exit_code": int(self.state),
            "summary": self.summary(),
            "version": __version__,
            "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(self.seconds, 6),
            "sites": [self._json_site(report) for report in self.reports],
        }
        return json.dumps(doc, indent=2, default=str) + "\n"

    def _json_site(self, report: SiteReport) -> dict[str, object]:
        from .judge import worst

        verdicts = [v for v in self.verdicts if v.site is report.site]
        return {
            "name": report.site.name,
            "hosts": list(report.site.hosts),
            "state": str(worst(verdicts)),
            "seconds": round(report.seconds, 6),
            "ports": [{
                "host": v.result.host,
                "address": v.result.address,
                "role": v.result.role,
                "port": v.result.port,
                "transport": v.result.transport,
                "forbidden": v.result.spec.forbidden,
                "status": str(v.result.status),
                "state": str(v.state),
                "seconds": None if v.result.seconds is None else round(v.result.seconds, 6),
                "detail": v.result.detail,
                "reason": v.reason,
                "note": v.note,
                "facts": v.result.facts,
            } for v in verdicts],
        }

    # -- OpenMetrics

    def openmetrics(self) -> str:
        from .judge import worst

        def labels(v: Verdict) -> str:
            r = v.result
            port = "dynamic" if r.port is None else str(r.port)
            pairs = (("site", v.site.name), ("host", r.host), ("role", r.role), ("port", port),
                     ("transport", r.transport))
            return "{" + ",".join(f'{k}="{_escape(val)}"' for k, val in pairs) + "}"

        out = [
            "# HELP digitalsentry_port_up 1 when an expected port answered as its role needs, or a "
            "forbidden port answered at all; else 0.",
            "# TYPE digitalsentry_port_up gauge",
        ]
        out += [f"digitalsentry_port_up{labels(v)} {_up(v)}" for v in self.verdicts]
        out += ["# HELP digitalsentry_port_response_seconds Time from the start of the probe to the answer.",
                "# TYPE digitalsentry_port_response_seconds gauge",
                "# UNIT digitalsentry_port_response_seconds seconds"]
        out += [f"digitalsentry_port_response_seconds{labels(v)} {v.result.seconds:.6f}"
                for v in self.verdicts if v.result.seconds is not None]
        out += ["# HELP digitalsentry_port_state Judged state of the port: 0 OK, 1 WARNING, 2 CRITICAL, "
                "3 UNKNOWN.", "# TYPE digitalsentry_port_state gauge"]
        out += [f"digitalsentry_port_state{labels(v)} {int(v.state)}" for v in self.verdicts]
        out += ["# HELP digitalsentry_site_state Worst state of the site's ports.",
                "# TYPE digitalsentry_site_state gauge"]
        for report in self.reports:
            state = worst(v for v in self.verdicts if v.site is report.site)
            out.append(f'digitalsentry_site_state{{site="{_escape(report.site.name)}"}} {int(state)}')
        out += ["# HELP digitalsentry_last_run_timestamp_seconds When this check ran (Unix time).",
                "# TYPE digitalsentry_last_run_timestamp_seconds gauge",
                "# UNIT digitalsentry_last_run_timestamp_seconds seconds",
                f"digitalsentry_last_run_timestamp_seconds {time.time():.3f}",
                "# EOF"]
        return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _up(verdict: Verdict) -> int:
    from .model import Status

    status = verdict.result.status
    return int(status.reachable if verdict.result.spec.forbidden else status is Status.OPEN)


# --- nagiosplugin mapping -------------------------------------------------------------------------


def _make_check(outcome: _Outcome, verbose: int) -> object:
    import nagiosplugin as nag

    states = {0: nag.Ok, 1: nag.Warn, 2: nag.Critical, 3: nag.Unknown}

    class Ports(nag.Resource):  # type: ignore[misc]
        """The probed ports, as Metrics: one reachability and (when measured) one time per port."""

        name = NAME

        def probe(self) -> Iterator[object]:
            for v in outcome.verdicts:
                label = outcome.label(v)
                yield nag.Metric(label, v, context="port")
                if v.result.seconds is not None:
                    yield nag.Metric(f"{label}_time", v, context="time")
            yield nag.Metric("failing", len(outcome.failing()), context="failing")

    class PortContext(nag.Context):  # type: ignore[misc]
        def evaluate(self, metric: object, resource: object) -> object:
            v: Verdict = metric.value  # type: ignore[attr-defined]
            return self.result_cls(states[int(v.state)], _plain(v.reason), metric)

        def performance(self, metric: object, resource: object) -> object:
            v: Verdict = metric.value  # type: ignore[attr-defined]
            spec = v.result.spec
            warn = crit = ""
            if spec.forbidden:
                crit, warn = ("~:0", "") if int(spec.severity) >= 2 else ("", "~:0")
            elif not (v.result.transport == "udp" and v.result.role not in _must_answer()):
                if int(spec.severity) >= 2:
                    crit = "1:"
                elif int(spec.severity) == 1:
                    warn = "1:"
            return nag.Performance(metric.name, _up(v), "", warn, crit, 0, 1)  # type: ignore[attr-defined]

    class TimeContext(nag.Context):  # type: ignore[misc]
        def evaluate(self, metric: object, resource: object) -> object:
            return self.result_cls(nag.Ok, None, metric)  # judged with its port

        def performance(self, metric: object, resource: object) -> object:
            v: Verdict = metric.value  # type: ignore[attr-defined]
            site = v.site
            return nag.Performance(metric.name, f"{v.result.seconds:.6f}", "s",  # type: ignore[attr-defined]
                                   _range(site.warning), _range(site.critical), 0, f"{site.timeout:g}")

    class FailingContext(nag.Context):  # type: ignore[misc]
        def evaluate(self, metric: object, resource: object) -> object:
            return self.result_cls(nag.Ok, None, metric)

        def performance(self, metric: object, resource: object) -> object:
            return nag.Performance("failing", metric.value, "", "", "", 0,  # type: ignore[attr-defined]
                                   len(outcome.verdicts))

    class Summary(nag.Summary):  # type: ignore[misc]
        def ok(self, results: object) -> str:
            return outcome.summary()

        def problem(self, results: object) -> str:
            return outcome.summary()

        def verbose(self, results: object) -> list[str]:
            return outcome.lines(verbose)

    check = nag.Check(Ports(), PortContext("port"), TimeContext("time"), FailingContext("failing"), Summary())
    check.name = NAME
    return check


def _range(limit: object) -> str:
    return "" if limit is None else str(limit)


def _must_answer() -> frozenset[str]:
    from .judge import MUST_ANSWER

    return MUST_ANSWER


# --- main -----------------------------------------------------------------------------------------


def _write_atomically(path: str, text: str) -> None:
    """Write next to the target and rename: a reader (node_exporter) never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _unknown(message: str, code: int = 3) -> NoReturn:
    print(f"{NAME} UNKNOWN - {_plain(message)}")
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``check_digitalsentry`` console script."""
    started = time.monotonic()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        _unknown(f"{exc} (see --help)")
    if args.help:
        _print_help()
        sys.exit(3)
    if args.version:
        print(f"check_digitalsentry {__version__}")
        sys.exit(3)
    verbose = min(args.verbose, 3)
    try:
        _run(args, verbose, started)
    except UsageError as exc:
        _unknown(str(exc))
    except SystemExit:
        raise
    except BaseException as exc:  # an internal fault: UNKNOWN, traceback only with -vvv
        if isinstance(exc, KeyboardInterrupt):
            _unknown("interrupted")
        import traceback

        print(f"{NAME} UNKNOWN - internal error: {_plain(repr(exc))}")
        if verbose >= 3:
            print(_plain(traceback.format_exc()), end="")
        sys.exit(3)
    sys.exit(3)  # pragma: no cover - _run always exits


def _run(args: Args, verbose: int, started: float) -> NoReturn:
    if args.format not in FORMATS:
        raise UsageError(f"--format: expected one of {', '.join(FORMATS)}, got {args.format!r}")
    timeout = _seconds(args.timeout, "-t/--timeout")
    modes = [m for m, on in (("-H", args.hostname), ("--inventory", args.inventory), ("--demo", args.demo)) if on]
    if len(modes) != 1:
        raise UsageError("give one of -H HOST, --inventory FILE or --demo" if not modes
                         else f"{' and '.join(modes)} cannot be combined")
    if args.site and not args.inventory:
        raise UsageError("--site needs --inventory")
    if args.demo_fault and not args.demo:
        raise UsageError("--demo-fault needs --demo")
    family = {4: __import__("socket").AF_INET, 6: __import__("socket").AF_INET6}.get(args.family or 0, 0)
    if args.demo:
        _run_demo(args, verbose, started, timeout, family)
    sites = _sites_from_inventory(args) if args.inventory else _sites_from_options(args)
    _check(args, sites, verbose, started, timeout, family)


def _check(args: Args, sites: Sequence[object], verbose: int, started: float,
           timeout: float, family: int) -> NoReturn:
    from .engine import probe_sites

    budget = max(timeout - (time.monotonic() - started) - OUTPUT_MARGIN, 0.05)
    reports = probe_sites(sites, timeout=budget, family=family)  # type: ignore[arg-type]
    outcome = _Outcome(reports, timeout, started)
    _present(args, outcome, verbose)


def _present(args: Args, outcome: _Outcome, verbose: int) -> NoReturn:
    quiet_ok = args.quiet and outcome.state == 0
    if args.quiet and not quiet_ok:
        verbose = max(verbose, 1)  # a problem mailed by cron says everything
    nagios = _nagios_text(outcome, verbose)
    if args.format == "json":
        text = outcome.json()
    elif args.format == "openmetrics":
        text = outcome.openmetrics()
    else:
        text = nagios
    if args.output:
        try:
            _write_atomically(args.output, text)
        except OSError as exc:
            raise UsageError(f"--output {args.output}: {exc.strerror or exc}") from None
        text = nagios
    if not quiet_ok:
        sys.stdout.write(text)
        sys.stdout.flush()
    sys.exit(0 if quiet_ok else int(outcome.state))


def _nagios_text(outcome: _Outcome, verbose: int) -> str:
    """The Nagios plugin output, rendered by nagiosplugin from our Resource/Contexts/Summary."""
    import nagiosplugin as nag

    check = _make_check(outcome, verbose)
    check()  # type: ignore[operator]
    runtime = nag.Runtime()
    runtime.verbose = verbose
    output = nag.output.Output(runtime.logchan, verbose)
    output.add(check)
    assert int(check.exitcode) == int(outcome.state), "nagiosplugin and the judgement disagree"  # type: ignore[attr-defined]
    return str(output)


def _run_demo(args: Args, verbose: int, started: float, timeout: float, family: int) -> NoReturn:
    """Start the simulator on loopback, say what it is, and check it like any DS server."""
    import shlex

    from .simulator import SimSite, Simulator

    faults = _pairs(args.demo_fault, "--demo-fault", "ROLE=FAULT")
    try:
        sim_site = SimSite(name="demo", faults={k: str(v) for k, v in faults.items()})
    except ValueError as exc:
        raise UsageError(f"--demo-fault: {exc}") from None
    with Simulator([sim_site]) as sim:
        print(f"demo: a simulated DS site runs on {sim_site.address}; the check below is the same as\n"
              f"demo:   {sim.command_line(sim_site)}", file=sys.stderr)
        argv = shlex.split(sim.command_line(sim_site))[1:]
        sub = parse_args(argv)
        for key in ("format", "output", "quiet", "warning", "critical", "timeout", "verbose"):
            setattr(sub, key, getattr(args, key))
        _check(sub, _sites_from_options(sub), verbose, started, timeout, family)


if __name__ == "__main__":  # pragma: no cover
    main()
