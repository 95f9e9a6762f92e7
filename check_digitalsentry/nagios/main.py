"""The check plugin's entry point (Nagios frontend): options -> sites -> one engine run -> output, exit.

Thin: the schema builds the sites (``-H`` options, an inventory, or the demo's simulated site), the
engine probes them with the hooks ``plugins.get_hooks()`` gives, the judgement decides, and the
renderers present (nagiosplugin's output through ``glue``; JSON, OpenMetrics or the HTML handover document
from ``render``).
"""

from __future__ import annotations

import os
import sys
import time

from check_digitalsentry import __version__
from check_digitalsentry.nagios.options import Options, UsageError, option_words, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

    from check_digitalsentry.engine.probes import BuiltinHooks
    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.schema import Site

NAME = "DIGITALSENTRY"
#: Seconds kept free at the end of -t for judging and printing: the run ends inside -t.
OUTPUT_MARGIN = 0.15
#: Site settings that may go with --inventory or --demo (they apply to every site checked).
OVERRIDES = ("warning", "critical")


def _plain(text: str) -> str:
    return text.replace("|", "/")


def _unknown(message: str) -> NoReturn:
    print(f"{NAME} UNKNOWN - {_plain(message)}")
    sys.exit(3)


def main(argv: Sequence[str] | None = None, started: float | None = None) -> NoReturn:
    """The check plugin (``check_digitalsentry.nagios.main`` is its entry point, through ``nagios.run``)."""
    started = time.monotonic() if started is None else started
    try:
        opts = Options(parse(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        _unknown(f"{exc} (see --help)")
    if opts.help:
        from check_digitalsentry.nagios.help import print_help

        print_help()
        sys.exit(3)
    if opts.version:
        print(f"check_digitalsentry {__version__}")
        sys.exit(3)
    try:
        _run(opts, started)
    except UsageError as exc:
        _unknown(str(exc))
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _unknown("interrupted")
    except BaseException as exc:  # an internal fault: UNKNOWN, traceback only with -vvv
        import traceback

        print(f"{NAME} UNKNOWN - internal error: {_plain(repr(exc))}")
        if opts.verbose >= 3:
            print(_plain(traceback.format_exc()), end="")
        sys.exit(3)
    sys.exit(3)  # pragma: no cover - _run always exits


def _run(opts: Options, started: float) -> NoReturn:
    opts.check()
    timeout = opts.timeout
    from check_digitalsentry.plugins import get_hooks

    hooks = get_hooks()
    roles = [role.name for role in hooks.roles()]
    if opts.demo:
        _run_demo(opts, started, timeout, hooks)
    sites = _inventory_sites(opts, roles) if opts.inventory else [_option_site(opts, roles)]
    _check(opts, sites, started, timeout, hooks)


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
    """With --inventory or --demo only -w/-c may be given (for every site); anything else is a mistake."""
    from check_digitalsentry.schema import BY_NAME

    clash = [BY_NAME[key].option[0] for key in opts.site_words() if key not in OVERRIDES]
    if clash:
        raise UsageError(f"{', '.join(clash)} cannot be combined with {mode}"
                         f"{': set them in the inventory' if mode == '--inventory' else ''}")
    return opts.site_values(roles, [BY_NAME[key] for key in OVERRIDES])


def _inventory_sites(opts: Options, roles: Sequence[str]) -> list[Site]:
    from check_digitalsentry.inventory import InventoryError, load_inventory

    overrides = _overrides(opts, roles, "--inventory")
    assert opts.inventory is not None
    try:
        inventory = load_inventory(opts.inventory, roles=roles)
        sites = inventory.select(opts.sites)
    except InventoryError as exc:
        raise UsageError(str(exc)) from None
    for site in sites:
        for key, value in overrides.items():
            setattr(site, key, value)
    return sites


def _check(opts: Options, sites: Sequence[Site], started: float, timeout: float, hooks: BuiltinHooks) -> NoReturn:
    import socket

    from check_digitalsentry.engine import probe_sites
    from check_digitalsentry.judge import JudgedRun

    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(opts.family, 0)
    reports = probe_sites(sites, timeout=timeout, family=family, hooks=hooks,
                          deadline=started + timeout - OUTPUT_MARGIN)
    _present(opts, JudgedRun.of(reports, time.monotonic() - started))


def _present(opts: Options, run: JudgedRun) -> NoReturn:
    from check_digitalsentry.nagios import glue
    from check_digitalsentry.render.text import NagiosText

    quiet_ok = opts.quiet and run.state == 0
    verbose = max(opts.verbose, 1) if opts.quiet and not quiet_ok else opts.verbose  # cron mails it all
    text = NagiosText(run)
    nagios, _code = glue.render(text, verbose)
    if opts.format == "json":
        from check_digitalsentry.render import json

        formatted = json.render(run, text.summary())
    elif opts.format == "openmetrics":
        from check_digitalsentry.render import openmetrics

        formatted = openmetrics.render(run)
    elif opts.format == "html":
        from check_digitalsentry.nagios.report import handover

        formatted = handover(opts, run)
    else:
        formatted = nagios
    if opts.output:
        try:
            _write_atomically(opts.output, formatted)
        except OSError as exc:
            raise UsageError(f"--output {opts.output}: {exc.strerror or exc}") from None
        formatted = nagios
    if not quiet_ok:
        sys.stdout.write(formatted)
        sys.stdout.flush()
    sys.exit(0 if quiet_ok else int(run.state))


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


def _run_demo(opts: Options, started: float, timeout: float, hooks: BuiltinHooks) -> NoReturn:
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
        print(f"demo: a simulated DS site runs on {sim_site.address}; the check below is the same as\n"
              f"demo:   {sim_site.command_line()}", file=sys.stderr)
        _check(opts, [sim_site.to_site(**overrides)], started, timeout, hooks)
