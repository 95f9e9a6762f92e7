"""Plugin manager (core layer): the hooks a frontend hands the engine -- built-in plugin, installed
plugins, and the pluggy-free fast path.

The contract is ``hookspecs``; the built-in implementation (the probes of ``engine.probes``) is
``builtin``, registered like any plugin. Imports flow one way: this module imports the engine and the contract; the
engine imports neither (a frontend passes ``get_hooks()`` to ``engine.probe_sites``).

Strategy: ``import pluggy`` costs ~30 ms CPU here (half the floor of interpreter + nagiosplugin + ssl)
and ``importlib.metadata`` ~35 ms, in a process that runs thousands of times a day. So a pluggy
``PluginManager`` is made only when it can change anything: when a frontend asks for it (pytest
always has pluggy loaded), or when an installed distribution declares the ``check_digitalsentry``
entry-point group -- found by reading ``entry_points.txt`` files, ~1 ms. Otherwise the engine talks to
``BuiltinHooks``, which gives exactly what the manager would give with only the built-in plugin
registered (a test holds the two to the same reports).

Set ``DIGITALSENTRY_DISABLE_PLUGIN_AUTOLOAD=1`` to ignore installed plugins (as pytest's
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``).
"""

from __future__ import annotations

import os
import sys

from check_digitalsentry import catalogue
from check_digitalsentry.engine.probes import BuiltinHooks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    import pluggy

    from check_digitalsentry.engine.api import Probe
    from check_digitalsentry.model import PortResult, PortSpec
    from check_digitalsentry.schema import Site

#: The entry-point group that installed plugins declare.
GROUP = "check_digitalsentry"
DISABLE_ENV = "DIGITALSENTRY_DISABLE_PLUGIN_AUTOLOAD"

__all__ = ["DISABLE_ENV", "GROUP", "BuiltinHooks", "PluggyHooks", "get_hooks", "make_plugin_manager",
           "plugins_declared"]


class PluggyHooks(BuiltinHooks):
    """The hooks through a pluggy ``PluginManager`` (built-in plugin plus whatever is registered)."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._roles: tuple[catalogue.Role, ...] | None = None

    def roles(self) -> tuple[catalogue.Role, ...]:
        if self._roles is None:
            extra = [role for added in self.pm.hook.digitalsentry_roles() for role in added or ()]
            self._roles = catalogue.merge_roles(extra)
        return self._roles

    def port_specs(self, site: Site, specs: list[PortSpec]) -> list[PortSpec]:
        self.pm.hook.digitalsentry_port_specs(site=site, specs=specs)
        return specs

    def probe_for(self, spec: PortSpec, site: Site) -> Probe:
        probe: Probe = self.pm.hook.digitalsentry_probe(spec=spec, site=site)
        return probe

    def port_result(self, site: Site, result: PortResult) -> None:
        self.pm.hook.digitalsentry_port_result(site=site, result=result)


def plugins_declared(group: str = GROUP, path: Iterable[str] | None = None) -> bool:
    """True when an installed distribution declares entry points in ``group`` (cheap: no metadata import)."""
    header = f"[{group}]"
    for entry in sys.path if path is None else path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as fh:
                    if header in fh.read():
                        return True
            except (OSError, UnicodeDecodeError):
                continue
    return False


def make_plugin_manager(*, autoload: bool = True) -> pluggy.PluginManager:
    """A pluggy manager with the hook specs, the built-in plugin and (unless disabled) installed plugins."""
    import pluggy

    from check_digitalsentry import builtin, hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="builtin")
    if autoload and not os.environ.get(DISABLE_ENV):
        pm.load_setuptools_entrypoints(GROUP)
    return pm


_default: BuiltinHooks | None = None


def get_hooks() -> BuiltinHooks:
    """The hooks for a run: pluggy when plugins are installed, the built-in fast path otherwise."""
    global _default
    if _default is None:
        if not os.environ.get(DISABLE_ENV) and plugins_declared():
            _default = PluggyHooks(make_plugin_manager())
        else:
            _default = BuiltinHooks()
    return _default
