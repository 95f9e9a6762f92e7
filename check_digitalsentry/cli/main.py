"""The check plugin's entry point (check frontend): options -> sites -> one engine run -> output, exit.

Thin: the schema builds the sites (``-H`` options, an inventory, or the demo's simulated site), the
engine probes them with the hooks ``plugins.get_hooks()`` gives, the judgement decides, and the
renderers present (nagiosplugin's output through ``glue``; JSON, OpenMetrics or the HTML handover document
from ``render``).

Every way out is an exit code 0-3 with at most one status line: bad options or inventories, an
internal fault, SIGINT and SIGTERM (what Icinga, Nagios and systemd send a plugin that outlives its
time) are UNKNOWN with one line -- the signal's line names what was still being probed -- and a
stdout that cannot be written (closed, full, its reader gone) still exits with the check's state.
"""

from __future__ import annotations

import gc
import signal
import sys
import time

from check_digitalsentry import __version__
from check_digitalsentry.cli import prints_objects
from check_digitalsentry.cli.options import NAGIOS, Options, UsageError, option_words, parse
from check_digitalsentry.cli.options import table as options_table
from check_digitalsentry.cli.output import OutputError, done, finish, write
from check_digitalsentry.model import Interrupted, PluginError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn, TextIO

    from check_digitalsentry.engine.probes import BuiltinHooks
    from check_digitalsentry.engine.sites import SitePlan
    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.schema import Site

NAME = "DIGITALSENTRY"
#: Seconds kept free at the end of -t for judging and printing, plus per port probed (finishing its
#: probe at the deadline, judging it, rendering it: measured on a 2-core CI machine with Debian 12's
#: own Python 3.11.2 and nagiosplugin 1.3.2, the slower of the interpreters it runs on, with room to
#: spare): the run ends inside -t whatever the inventory's size.
#: The per-port cost is the format's (``outputs.Format.port_cost``).
OUTPUT_MARGIN = 0.15
#: Seconds that planning a port's probe takes on that machine: how fast this machine is right now (a
#: busy or slow one plans slower, and will judge and render slower too) scales the per-port margin.
PLAN_COST = 1.0e-6
#: Site settings that may go with --inventory or --demo (they apply to every site checked).
OVERRIDES = ("warning", "critical", "cert_days", "roles")


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM, SIGHUP or SIGINT: stop, say what was still being probed, exit UNKNOWN."""
    raise Interrupted(signal.Signals(signum).name)


def _line(text: str) -> str:
    """One line of Nagios output: '|' would start perfdata, a control character a new line."""
    from check_digitalsentry.render.text import plain

    return plain(text)


#: Where the UNKNOWN line goes: stdout for a check (Nagios reads it there); stderr when the run prints
#: configuration (--icinga2-objects), so that ``> objects.conf`` never catches an error in place of objects.
_ERRORS: list[TextIO | None] = [None]


def _unknown(message: str) -> NoReturn:
    finish(f"{NAME} UNKNOWN - {_line(message)}\n", 3, _ERRORS[0])


def _stopped(exc: Interrupted) -> str:
    """``terminated (SIGTERM) while probing video 18772/tcp of hq/ds01 and 3 more``."""
    how = f"interrupted ({exc.signal})" if exc.signal == "SIGINT" else f"terminated ({exc.signal})"
    if exc.stage:
        return f"{how} {exc.stage}"
    pending = exc.in_flight
    if not pending:
        return f"{how}{' before any probe ran' if pending is None else ' after the probes, before the output'}"
    shown = ", ".join(pending[:3])
    more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
    return f"{how} while probing {shown}{more}"


def main(argv: Sequence[str] | None = None, started: float | None = None) -> NoReturn:
    """The check plugin (``check_digitalsentry.cli.main`` is its entry point, through ``cli.run``)."""
    started = time.monotonic() if started is None else started
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if hasattr(signal, name):  # SIGHUP is POSIX's
            signal.signal(getattr(signal, name), _interrupted)
    verbose = 0
    words = list(sys.argv[1:] if argv is None else argv)
    if prints_objects(words):
        _ERRORS[0] = sys.stderr  # stdout is the objects' file: errors never go into it
    try:
        from check_digitalsentry.plugins import get_hooks

        hooks = get_hooks()  # the built-in ones unless a plugin is installed: no pluggy then
        try:  # the options of the plugins' submit targets and formats too
            table = options_table(hooks)
        except ValueError as exc:  # an installed plugin's mistake: said as for bad input
            raise UsageError(str(exc)) from None
        try:
            opts = Options(parse(words, table), table)
        except UsageError as exc:
            _unknown(f"{exc} (see --help)")
        verbose = opts.verbose
        if opts.help:
            from check_digitalsentry.cli.help import argparse_parser

            try:  # the plugins' roles too
                roles = [role.name for role in hooks.roles()]
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            finish(argparse_parser(roles, table).format_help(), 3)
        if opts.version:
            finish(f"check_digitalsentry {__version__}\n", 3)
        # No cyclic collection for a run that ends the process: each collection would walk every result of
        # a fleet again (at 10,000 sites, a second of judging and printing). Not for --watch, which runs for
        # hours; back on for a caller that runs the check in its own process.
        collecting = gc.isenabled()
        if not opts.watch:
            gc.disable()
        try:
            _run(opts, started, hooks)
        finally:
            if collecting:
                gc.enable()
    except (UsageError, OutputError, PluginError) as exc:
        _unknown(str(exc))
    except SystemExit:
        raise
    except KeyboardInterrupt:  # SIGINT before our handler was set
        _unknown(_stopped(Interrupted("SIGINT")))
    except Interrupted as exc:
        if _ERRORS[0] is not None and exc.signal != "SIGINT":  # --icinga2-objects: nothing is probed there
            _unknown(f"terminated ({exc.signal}) before the Icinga 2 objects were complete")
        _unknown(_stopped(exc))
    except BaseException as exc:  # an internal fault: UNKNOWN, traceback only with -vvv
        import traceback

        lines = [f"{NAME} UNKNOWN - internal error: {_line(PluginError.said(exc))}"]
        if verbose >= 3:
            lines += [_line(line) for line in traceback.format_exc().splitlines()]
        finish("\n".join(lines) + "\n", 3, _ERRORS[0])
    sys.exit(3)  # pragma: no cover - _run always exits


def _run(opts: Options, started: float, hooks: BuiltinHooks) -> NoReturn:
    opts.check()
    deadline = started + opts.timeout  #: the one end of the run: everything below derives from it
    try:
        roles = [role.name for role in hooks.roles()]
    except ValueError as exc:  # an installed plugin's mistake: say which, as for bad input
        raise UsageError(str(exc)) from None
    if opts.demo:
        _run_demo(opts, started, deadline, hooks)
    sites = _inventory_sites(opts, roles, deadline) if opts.inventory else [_option_site(opts, roles)]
    if opts.icinga2_objects:
        _icinga2_objects(opts, sites, hooks)
    if opts.submit:
        from check_digitalsentry.cli.submit import submit

        submit(opts, sites, started, deadline, hooks, probe)
    if opts.watch:
        from check_digitalsentry.cli.watch import watch

        watch(opts, *_planned(opts, sites, hooks), hooks)
    _check(opts, sites, started, deadline, hooks)


def _option_site(opts: Options, roles: Sequence[str]) -> Site:
    """The one site of ``-H`` and the site options, checked by the schema."""
    from check_digitalsentry.schema import SchemaError, build_site

    values = opts.site_values(roles)
    values["name"] = "cli"
    try:
        return build_site(values)
    except SchemaError as exc:
        raise UsageError(option_words(exc)) from None


def _overrides(opts: Options, roles: Sequence[str], mode: str) -> dict[str, object]:
    """With --inventory or --demo only -w/-c, --cert-days and --role may be given (for every site); with
    --icinga2-objects only --role (the active checks read their thresholds from the inventory); anything
    else is a mistake."""
    from check_digitalsentry.schema import BY_NAME

    allowed = ("roles",) if opts.icinga2_objects else OVERRIDES
    clash = [BY_NAME[key].option[0] for key in opts.site_words() if key not in allowed]
    if clash:
        mode = "--icinga2-objects" if opts.icinga2_objects else mode
        raise UsageError(f"{', '.join(clash)} cannot be combined with {mode}"
                         f"{': set them in the inventory' if mode != '--demo' else ''}")
    return opts.site_values(roles, [BY_NAME[key] for key in allowed])


class _Late(Exception):
    """The run's time ran out before the inventory was read."""


def _inventory_sites(opts: Options, roles: Sequence[str], deadline: float) -> list[Site]:
    """The selected sites of the inventory, read by ``deadline`` (``time.monotonic()``: -t bounds the
    reading too -- a big inventory on a slow disk is UNKNOWN in time, not a check that outlives -t)."""
    from check_digitalsentry.inventory import InventoryError, load_inventory

    overrides = _overrides(opts, roles, "--inventory")
    assert opts.inventory is not None

    def late(signum: int, frame: object) -> None:
        raise _Late()

    timed = hasattr(signal, "setitimer")  # POSIX: the read is interrupted at the deadline
    if timed:
        previous = signal.signal(signal.SIGALRM, late)
        signal.setitimer(signal.ITIMER_REAL, max(deadline - 0.05 - time.monotonic(), 0.001))
    try:
        inventory = load_inventory(opts.inventory, roles=roles)
        sites = inventory.select(opts.sites)
    except InventoryError as exc:
        raise UsageError(str(exc)) from None
    except _Late:
        raise UsageError(f"--inventory {opts.inventory}: not read within -t ({opts.timeout:g} s): a smaller "
                         f"inventory, or a longer -t") from None
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    for site in sites:
        for key, value in overrides.items():
            setattr(site, key, value)
        if "roles" in overrides:
            site.icinga_per_role = True  # --role: a service per role (Icinga objects, submitted results)
    return sites


def _icinga2_objects(opts: Options, sites: Sequence[Site], hooks: BuiltinHooks) -> NoReturn:
    """Print the Icinga 2 objects of the inventory's (selected) sites, and exit 0."""
    import os
    import shlex

    from check_digitalsentry.engine import plan_sites
    from check_digitalsentry.render import icinga2
    from check_digitalsentry.schema import printable

    assert opts.inventory is not None
    inventory = os.path.abspath(opts.inventory)
    if not printable(inventory) or not _utf8(inventory):
        raise UsageError(f"--inventory: an Icinga string holds printable UTF-8 text; this path does not: "
                         f"{inventory!r}")
    plans = plan_sites(sites, hooks)
    _check_roles(plans)
    plans = [plan for plan in plans if plan.roles]  # --role: the sites that have none of them get no objects
    command = " ".join(shlex.quote(word) for word in ["check_digitalsentry", *sys.argv[1:]])
    text = icinga2.render(plans, inventory, command if printable(command) and _utf8(command)
                          else "check_digitalsentry --icinga2-objects")
    if opts.output:
        from check_digitalsentry.cli.output import write_file

        write_file(opts.output, text)  # atomic: a failed or interrupted run leaves the old objects
        done(0)
    if sys.stdout is None:  # started with the descriptor closed
        raise OutputError("--icinga2-objects: stdout is closed: use --output FILE, which replaces the file "
                          "atomically")
    try:  # Icinga reads its configuration as UTF-8, whatever this process's locale
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
    except (OSError, ValueError, AttributeError) as exc:
        raise OutputError(f"--icinga2-objects: stdout could not take the objects ({exc}): use --output FILE, "
                          f"which replaces the file atomically") from None
    done(0)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes of another encoding in a file name, kept as surrogates
        return False
    return True


def _check(opts: Options, sites: Sequence[Site], started: float, deadline: float, hooks: BuiltinHooks) -> NoReturn:
    _present(opts, probe(opts, sites, started, deadline, hooks))


def probe(opts: Options, sites: Sequence[Site], started: float, deadline: float, hooks: BuiltinHooks) -> JudgedRun:
    """Probe every site at once and judge: done by ``deadline`` (``time.monotonic()``), less the time that
    judging and printing take (--submit gives the probes a part of -t here, keeping the rest)."""
    from check_digitalsentry.engine import probe_sites
    from check_digitalsentry.judge import JudgedRun

    planning = time.monotonic()
    plans, family = _planned(opts, sites, hooks)
    ports = sum(len(plan.specs) * len(plan.site.hosts) for plan in plans)
    planning = time.monotonic() - planning
    slower = min(max(planning / (ports * PLAN_COST), 1.0), 4.0) if ports > 5000 else 1.0
    margin = OUTPUT_MARGIN + ports * opts.output_format.port_cost * slower
    reports = probe_sites(plans, deadline=deadline - margin, family=family, hooks=hooks)
    return JudgedRun.of(reports, time.monotonic() - started)


def _planned(opts: Options, sites: Sequence[Site], hooks: BuiltinHooks) -> tuple[list[SitePlan], int]:
    """The sites' plans and the address family (0, AF_INET or AF_INET6), the mistakes -4/-6 and --role can
    show said first."""
    import socket

    from check_digitalsentry.engine import plan_sites
    from check_digitalsentry.engine.scheduler import poller_choice

    try:
        poller_choice()  # the test and diagnostic knob CHECK_DIGITALSENTRY_POLLER: a mistake is one line
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(opts.family, 0)
    if family:
        _check_family(sites, opts.family)
    plans = plan_sites(sites, hooks)
    _check_roles(plans)
    return plans, family


def _check_roles(plans: Sequence[SitePlan]) -> None:
    """``--role web`` where no site expects a web port can only mean a mistake: say so. Sites that expect
    some of the chosen roles report those (an inventory's own ``roles`` are checked when it is read)."""
    chosen = {role for plan in plans for role in plan.site.roles}
    planned = {spec.role for plan in plans for spec in plan.specs}
    for role in sorted(chosen - planned):
        if len(plans) == 1:
            site = plans[0].site
            where = f"-H {site.hosts[0]}" if site.name == "cli" else f"site {site.name}"
            raise UsageError(f"--role {role}: {where} has no {role} port (its settings expect none)")
        raise UsageError(f"--role {role}: none of the {len(plans)} sites has a {role} port (their settings "
                         f"expect none)")


def _check_family(sites: Sequence[Site], version: int) -> None:
    """``-4`` with an IPv6 address (or ``-6`` with an IPv4 one) can only mean a mistake: say so."""
    for site in sites:
        for host in site.hosts:
            other = 6 if version == 4 else 4
            if (":" in host) if other == 6 else (host.replace(".", "").isdigit() and host.count(".") == 3):
                where = "-H" if site.name == "cli" and len(sites) == 1 else f"site {site.name}"
                raise UsageError(f"-{version}: {where} {host} is an IPv{other} address")


def _present(opts: Options, run: JudgedRun) -> NoReturn:
    from check_digitalsentry.cli import glue
    from check_digitalsentry.render.text import NagiosText

    quiet_ok = opts.quiet and run.state == 0
    verbose = max(opts.verbose, 1) if opts.quiet and not quiet_ok else opts.verbose  # cron mails it all
    text = NagiosText(run, qualified=bool(opts.inventory))
    fmt = opts.output_format
    if fmt is NAGIOS:
        formatted = glue.render(text, verbose)[0]
    else:
        from check_digitalsentry.cli.report import record
        from check_digitalsentry.outputs import Rendering

        formatted = fmt.render(Rendering(run, text.summary(), lambda: record(opts, run)))
    if opts.output:
        from check_digitalsentry.cli.output import write_file

        write_file(opts.output, formatted)
        formatted = formatted if fmt is NAGIOS else glue.render(text, verbose)[0]
    if quiet_ok:
        done(0)
    if opts.quiet and (fmt is NAGIOS or opts.output):
        formatted = _for_people(formatted)
    # a stdout that cannot take it does not change the state: Nagios reads the code
    finish(formatted, int(run.state), encoding=None if fmt.locale_text or opts.output else "utf-8")


def _for_people(output: str) -> str:
    """--quiet's report of a problem, which cron mails and the journal keeps: the status line and a line per
    port, without the perfdata line (its last, with -v), which is for graphs -- a monitoring core or the
    --output file has them -- and only made the mail longer (2 KB for one site)."""
    return "".join(line for line in output.splitlines(keepends=True) if not line.startswith("| "))


def _run_demo(opts: Options, started: float, deadline: float, hooks: BuiltinHooks) -> NoReturn:
    """Start the simulator on loopback, say what it is, and check its site like any DS server."""
    from check_digitalsentry.simulator import SimSite, Simulator

    overrides = _overrides(opts, [role.name for role in hooks.roles()], "--demo")
    faults: dict[str, str] = {}
    for word in opts.demo_faults:
        role, sep, fault = word.partition("=")
        if not sep or not role.strip() or not fault.strip():
            raise UsageError(f"--demo-fault: expected ROLE=FAULT, got {word!r}")
        faults[role.strip()] = fault.strip()
    try:
        sim_site = SimSite(name="demo", faults=faults)
    except ValueError as exc:
        raise UsageError(f"--demo-fault: {exc}") from None
    with Simulator([sim_site]):
        write(f"demo: a simulated DS site runs on {sim_site.address}; the check below is the same as\n"
              f"demo:   {sim_site.command_line()}\n", sys.stderr)
        _check(opts, [sim_site.to_site(**overrides)], started, deadline, hooks)
