"""Hook specifications of the pytest_dsports plugin (pytest frontend), added through ``pytest_addhooks``.

Implement them in a ``conftest.py`` or a plugin::

    def pytest_dsports_site_loaded(site, config):
        if site.name == "hq":
            site.forbid += ((5900, "tcp"),)                  # also audit VNC
            site.severity["diagnostics"] = State.CRITICAL   # from check_digitalsentry.model

    def pytest_dsports_port_result(site, verdict, config):
        print(site.name, verdict.result.role, verdict.state)

The probe core's own hooks (``check_digitalsentry.hookspecs``: extra roles, probes, observers) apply
too: installed core plugins are loaded for every pytest_dsports run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from check_digitalsentry.judge import Verdict
    from check_digitalsentry.schema import Site


def pytest_dsports_site_loaded(site: Site, config: pytest.Config) -> None:
    """Adjust a site after it is loaded from the inventory (or built from ``--dsports-host``) and before
    its test items are made: change ``ports``, ``forbid``, ``severity``, ``timeout``... in place."""


def pytest_dsports_port_result(site: Site, verdict: Verdict, config: pytest.Config) -> None:
    """Observe each judged port result, as its test item runs (``verdict.result`` is the probe result,
    ``verdict.state`` the judged state)."""
