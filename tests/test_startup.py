"""Start-up cost: a check plugin starts thousands of times a day, so what it imports is a feature.

The figures themselves are measured in bench/; these tests pin the design that keeps them low: the
check's path imports none of the modules that cost tens of milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Callable

from conftest import script
from support import check_args, modules_loaded_by

from check_digitalsentry.simulator import Simulator

#: Each costs 10-40 ms of CPU here; none is needed to check a DS server by address.
HEAVY = {"asyncio", "dataclasses", "pluggy", "importlib.metadata", "typing", "inspect", "tomllib", "tomli",
         "threading", "ssl", "datetime", "argparse", "gettext", "locale"}
#: nagiosplugin itself imports threading (logging does): what the check's run adds is the rest.
RUN_HEAVY = HEAVY - {"threading"}


def imported_by_check(*args: str) -> set[str]:
    """The modules one run of the check_digitalsentry console script imports (from -X importtime)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", script("check_digitalsentry"), *args],
                          capture_output=True, text=True, timeout=60)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert names, proc.stderr
    return names


def test_importing_the_check_and_the_engine_loads_nothing_heavy() -> None:
    loaded = modules_loaded_by("import check_digitalsentry.cli.main, check_digitalsentry.engine, "
                               "check_digitalsentry.judge, check_digitalsentry.inventory, "
                               "check_digitalsentry.render.text, check_digitalsentry.plugins")
    assert not loaded & HEAVY, loaded & HEAVY


def test_a_check_by_address_without_web_imports_no_ssl_no_threads_no_pluggy(
    simulate: Callable[..., Simulator],
) -> None:
    sim = simulate(roles=("sql-browser", "sql", "video", "diagnostics"))
    loaded = imported_by_check(*check_args(sim), "-t", "3")
    assert "nagiosplugin" in loaded  # the check did run to the end
    assert not loaded & RUN_HEAVY, loaded & RUN_HEAVY


def test_only_the_web_probe_brings_in_ssl(simulate: Callable[..., Simulator]) -> None:
    sim = simulate(roles=("sql-browser", "sql", "video", "diagnostics", "web"))
    loaded = imported_by_check(*check_args(sim), "-t", "3")
    assert "ssl" in loaded and "check_digitalsentry.protocols.x509" in loaded
    assert not loaded & (RUN_HEAVY - {"ssl", "datetime"}), loaded & RUN_HEAVY


def test_version_imports_neither_nagiosplugin_nor_the_engine() -> None:
    loaded = imported_by_check("--version")
    assert not loaded & {"nagiosplugin", "check_digitalsentry.engine", "socket"}


#: The live view's own modules: a check (and a watch without --serve) never loads the page server.
WATCH_ONLY = {"check_digitalsentry.steady", "check_digitalsentry.cli.watch", "check_digitalsentry.render.watch"}
SERVE_ONLY = {"check_digitalsentry.cli.serve", "check_digitalsentry.render.watchpage", "http.server", "secrets",
              "hmac"}


def test_the_watch_costs_a_check_nothing(simulate: Callable[..., Simulator]) -> None:
    sim = simulate(roles=("sql-browser", "sql", "video", "diagnostics"))
    loaded = imported_by_check(*check_args(sim), "-t", "3")
    assert "nagiosplugin" in loaded and not loaded & (WATCH_ONLY | SERVE_ONLY), loaded & (WATCH_ONLY | SERVE_ONLY)


def test_a_watch_without_serve_loads_no_server(simulate: Callable[..., Simulator]) -> None:
    sim = simulate(roles=("sql-browser", "sql", "video", "diagnostics"))
    loaded = imported_by_check(*check_args(sim), "--watch", "--watch-for", "1", "-t", "1")
    assert loaded >= WATCH_ONLY and not loaded & SERVE_ONLY, loaded & SERVE_ONLY
    assert not loaded & (RUN_HEAVY - {"threading"}), loaded & RUN_HEAVY
