"""``dsports-simulator`` (simulator layer): serve simulated DS sites from the command line until Ctrl-C,
SIGTERM or ``--duration``, printing the ``check_digitalsentry`` command that checks each.

    dsports-simulator --sites 500 --inventory fleet.toml    # or python -m check_digitalsentry.simulator
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
import time

from check_digitalsentry.protocols import tds
from check_digitalsentry.simulator import control
from check_digitalsentry.simulator.runner import Simulator
from check_digitalsentry.simulator.site import (
    DEFAULT_INSTANCE,
    DEFAULT_ROLES,
    FAULTS,
    FLEET_FIRST,
    HIGH_PORTS,
    LAYOUTS,
    STANDARD_PORTS,
    SimSite,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType
    from typing import Any


#: ``--sql-encryption`` -> SimSite's ``sql_encryption``.
ENCRYPTION_SETTINGS = {"off": tds.ENCRYPT_OFF, "req": tds.ENCRYPT_REQ, "not-sup": tds.ENCRYPT_NOT_SUP,
                       "on": tds.ENCRYPT_ON}


class _Stop(BaseException):
    """SIGTERM: stop serving, exit 0."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _fault_option(text: str) -> tuple[str, str]:
    role, sep, fault = text.partition("=")
    if not sep or not role or not fault:
        raise argparse.ArgumentTypeError(f"expected ROLE=FAULT, got {text!r}")
    return role.strip(), fault.strip()


def _schedule_option(text: str) -> list[tuple[float, control.Change]]:
    try:
        return control.parse_schedule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= control.MAX_SECONDS:  # nan and inf too
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to {control.MAX_SECONDS:g} (a week), "
                                         f"got {text!r}")
    return seconds


def _port_number(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return int(text)


def _port_option(text: str) -> tuple[str, int]:
    role, sep, port = text.partition("=")
    if not sep or not role.strip():
        raise argparse.ArgumentTypeError(f"expected ROLE=PORT, got {text!r}")
    return role.strip(), _port_number(port)


def _ports(layout: str | None, args: argparse.Namespace, roles: list[str]) -> str | dict[str, int] | None:
    """The ``ports`` of each SimSite: the layout, with ``--port ROLE=PORT`` on top of it (and without the
    layout's SQL port when ``--sql-port`` sets it)."""
    if not args.port:
        return layout
    ports = dict({"standard": STANDARD_PORTS, "high": HIGH_PORTS}.get(layout or "", {}))
    if args.sql_port is not None:
        ports.pop("sql", None)
    for role, port in args.port:
        if role not in DEFAULT_ROLES:
            raise ValueError(f"--port {role}={port}: no such role (roles: {', '.join(DEFAULT_ROLES)})")
        if role not in roles:
            raise ValueError(f"--port {role}={port}: {role} does not run (--no-web/--no-api)")
        if role == "audio" and not args.audio_clients:
            raise ValueError(f"--port {role}={port}: audio does not run (--audio-clients 0)")
        ports[role] = port
    return ports


def main(argv: Sequence[str] | None = None) -> int:
    """``dsports-simulator``: serve simulated DS sites until Ctrl-C, SIGTERM or ``--duration``."""
    parser = argparse.ArgumentParser(
        prog="dsports-simulator",
        description="Run simulated Pelco Digital Sentry sites on loopback, and print the check_digitalsentry "
                    "command line that checks each.",
        epilog="faults: " + "; ".join(f"{role}: {', '.join(faults)}" for role, faults in FAULTS.items()),
    )
    parser.add_argument("--address", help=f"loopback address of the site, or the first of a fleet "
                                           f"(default 127.0.0.1; fleet {FLEET_FIRST})")
    parser.add_argument("--sites", type=int, metavar="N", help="a fleet of N sites on consecutive addresses")
    parser.add_argument("--name", default="sim", help="the site's name, or the prefix of a fleet's: NAME-001, "
                                                      "NAME-002... (default sim)")
    parser.add_argument("--ports", choices=LAYOUTS,
                        help="port layout (default: ephemeral for one site, high for a fleet)")
    parser.add_argument("--port", action="append", default=[], type=_port_option, metavar="ROLE=PORT",
                        help="serve ROLE on PORT, over the layout (repeatable; audio: the first audio port); "
                             "the printed command says --port ROLE=PORT, as for NAT remapping the port")
    parser.add_argument("--sql-port", type=_port_number, metavar="PORT",
                        help="a static SQL port (DS QuickSetup's): the SQL Server listens there, the Browser "
                             "names it, and the printed command and inventory say --sql-port/sql_port")
    parser.add_argument("--fault", action="append", default=[], type=_fault_option, metavar="ROLE=FAULT",
                        help="make a role misbehave (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds before every reply")
    parser.add_argument("--instance", default=DEFAULT_INSTANCE, help=f"SQL instance name ({DEFAULT_INSTANCE})")
    parser.add_argument("--sql-encryption", choices=ENCRYPTION_SETTINGS, default="off",
                        help="what the SQL Server answers an ENCRYPT_OFF client: off (a certificate, the login "
                             "encrypted: SQL Server 2005+), req (Force Encryption), not-sup (no certificate), "
                             "on (default: off)")
    parser.add_argument("--no-web", action="store_true", help="no DSWebService (web role)")
    parser.add_argument("--no-api", action="store_true", help="no Pelco API bundle (api-* roles)")
    parser.add_argument("--audio-clients", type=int, default=2, metavar="N", help="audio UDP ports (2)")
    parser.add_argument("--inventory", metavar="FILE", help="write a TOML inventory of the sites to FILE")
    parser.add_argument("--duration", type=_duration, metavar="S", help="serve S seconds, then exit (default: "
                                                                    "until Ctrl-C or SIGTERM)")
    parser.add_argument("--in-netns", action="store_true",
                        help="allow a non-loopback --address: only inside a network namespace you made")
    parser.add_argument("--fault-schedule", action="append", default=[], type=_schedule_option,
                        metavar="T:[SITE/]ROLE=FAULT,...",
                        help="change faults while it runs, T seconds after the start, e.g. "
                             "10:video=off,30:video=ok (ok: no fault; without SITE/ on every site; "
                             "repeatable). It also reads such changes on stdin: type video=ok and Enter "
                             "('help' lists the commands)")
    args = parser.parse_args(argv)
    schedule = [item for items in args.fault_schedule for item in items]
    roles = [role for role in DEFAULT_ROLES
             if not (args.no_web and role == "web") and not (args.no_api and role.startswith("api-"))]
    options: dict[str, Any] = {"roles": roles, "faults": dict(args.fault), "latency": args.latency,
                               "instances": [args.instance], "audio_clients": args.audio_clients,
                               "sql_encryption": ENCRYPTION_SETTINGS[args.sql_encryption],
                               "static_sql_port": args.sql_port}
    try:
        if args.sites is not None:
            sim = Simulator.fleet(args.sites, ports=_ports(args.ports or "high", args, roles),
                                  first=args.address or FLEET_FIRST, name=args.name, **options)
        else:
            sim = Simulator([SimSite(name=args.name, address=args.address or "127.0.0.1",
                                     ports=_ports(args.ports, args, roles), in_netns=args.in_netns, **options)])
    except ValueError as exc:
        parser.error(str(exc))
    try:
        control.checked(sim, schedule)
    except (ValueError, KeyError) as exc:
        parser.error(f"--fault-schedule: {exc.args[0]}")
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with sim:
            # What start-up made lives as long as the process: out of the cyclic collector's way, whose full
            # collections walked every site's servers again and again (a tenth of a fleet's CPU).
            gc.freeze()
            if args.inventory:  # before the site lines: who reads one may read the inventory at once
                sim.inventory_toml(args.inventory)
            for site in sim.sites:
                print(f"site {site.name} on {site.address}: {site.command_line()}")
            sys.stdout.flush()
            print(f"dsports-simulator: {len(sim.sites)} site(s) up in {sim.start_seconds or 0:.2f} s"
                  f"{'' if args.duration is None else f' for {args.duration:g} s'}; Ctrl-C to stop",
                  file=sys.stderr, flush=True)
            control.start_reading(sim)
            control.run_schedule(sim, schedule, time.monotonic(),
                                 None if args.duration is None else time.monotonic() + args.duration)
    except OSError as exc:
        print(f"dsports-simulator: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
