"""Plugin contract (core layer): the pluggy hook specifications of the probe core -- the contract only.

Project name ``digitalsentry``; plugins are found through the entry-point group
``check_digitalsentry`` (see ``plugins``, which also holds the built-in implementation) or registered by
a frontend. Both frontends -- the check plugin and pytest_dsports -- hand these hooks to the engine, so
every probe goes through them. Importing this module imports pluggy; the check plugin only does that
when a plugin is installed (see ``plugins`` for why). The probe API the hooks speak of (``Open``,
``Wait``, ``Outcome``, ``ProbeContext``) is ``engine.api``.

Example plugin (a module named in ``[project.entry-points.check_digitalsentry]``)::

    from check_digitalsentry.catalogue import ALWAYS, Role
    from check_digitalsentry.hookspecs import hookimpl
    from check_digitalsentry.model import State

    @hookimpl
    def digitalsentry_roles():
        return [Role("rtsp", "tcp", 554, ALWAYS, State.WARNING, "RTSP streaming", "site policy")]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.catalogue import Role
    from check_digitalsentry.engine.api import Probe
    from check_digitalsentry.model import PortResult, PortSpec
    from check_digitalsentry.outputs import Format, Target
    from check_digitalsentry.schema import Site

PROJECT = "digitalsentry"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def digitalsentry_roles() -> Sequence[Role]:
    """Add roles to the DS port catalogue (a role cannot replace a built-in one).

    :returns: ``catalogue.Role`` objects; a role with ``when=ALWAYS`` is expected on every site.
    """
    return ()


@hookspec
def digitalsentry_port_specs(site: Site, specs: list[PortSpec]) -> None:
    """Adjust the ports expected of a site before it is probed: append, remove or replace
    ``PortSpec`` objects in ``specs`` (e.g. change a severity, add a port)."""


@hookspec(firstresult=True)
def digitalsentry_probe(spec: PortSpec, site: Site) -> Probe | None:
    """Supply the probe for a port: a generator function taking an ``engine.api.ProbeContext`` that
    yields ``engine.api.Open``/``Wait`` requests and returns an ``engine.api.Outcome``. The first
    non-None answer wins; the built-in probes answer last."""


@hookspec
def digitalsentry_port_result(site: Site, result: PortResult) -> None:
    """Observe each port result as soon as its host is done (logging, metrics, audit trails)."""


@hookspec
def digitalsentry_formats() -> Sequence[Format]:
    """Add output formats (``outputs.Format``; a format cannot replace a built-in one): each is then a
    ``--format`` of the check plugin and, with ``suffixes``, a ``--dsports-report`` file of pytest_dsports.

    :returns: ``outputs.Format`` objects; the renderer takes a ``outputs.Rendering`` and returns text.
    """
    return ()


@hookspec
def digitalsentry_targets() -> Sequence[Target]:
    """Add submit targets (``outputs.Target``; a target cannot replace a built-in one, nor take another's
    option): each is then a ``--submit`` of the check plugin, with its own options.

    :returns: ``outputs.Target`` objects; the module (or object) named implements ``check_options`` and
        ``prepare`` (see ``outputs``).
    """
    return ()
