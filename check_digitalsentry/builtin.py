"""The pluggy side of the core's hooks (core layer): the built-in plugin -- the engine's own probes,
answering the ``digitalsentry_probe`` hook last, registered like any installed plugin -- and
``PluggyHooks``, the hooks a frontend hands the engine when a pluggy manager is in use.

Imported only then (``plugins.get_hooks`` when a plugin is installed, pytest_dsports always): without
pluggy, ``engine.probes.BuiltinHooks`` gives the same answers directly.
"""

from __future__ import annotations

import pluggy

from check_digitalsentry import catalogue, hookspecs
from check_digitalsentry.engine.probes import BuiltinHooks, default_probe
from check_digitalsentry.hookspecs import hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.engine.api import Probe
    from check_digitalsentry.model import PortResult, PortSpec
    from check_digitalsentry.schema import Site


class Builtin:
    """The built-in plugin: the probes the catalogue's roles name (and the plugins' roles, once merged),
    answering the ``digitalsentry_probe`` hook last."""

    def __init__(self) -> None:
        self.roles: dict[str, catalogue.Role] = dict(catalogue.BY_NAME)

    @hookimpl(trylast=True)
    def digitalsentry_probe(self, spec: PortSpec, site: Site) -> Probe:
        return default_probe(spec, self.roles)


class PluggyHooks(BuiltinHooks):
    """The hooks through a pluggy ``PluginManager`` (built-in plugin plus whatever is registered)."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._roles: tuple[catalogue.Role, ...] | None = None
        self._added: dict[str, list[object]] = {}

    def roles(self) -> tuple[catalogue.Role, ...]:
        if self._roles is None:
            extra = [role for added in self.pm.hook.digitalsentry_roles() for role in added or ()]
            self._roles = catalogue.merge_roles(extra)
            builtin = self.pm.get_plugin("builtin")
            if isinstance(builtin, Builtin):
                builtin.roles = {role.name: role for role in self._roles}
        return self._roles

    def port_specs(self, site: Site, specs: list[PortSpec]) -> list[PortSpec]:
        self.pm.hook.digitalsentry_port_specs(site=site, specs=specs)
        return specs

    def probe_for(self, spec: PortSpec, site: Site) -> Probe:
        probe: Probe = self.pm.hook.digitalsentry_probe(spec=spec, site=site)
        return probe

    def port_result(self, site: Site, result: PortResult) -> None:
        self.pm.hook.digitalsentry_port_result(site=site, result=result)

    def added(self, hook: str) -> list[object]:
        found = self._added.get(hook)
        if found is None:
            found = self._added[hook] = [item for added in getattr(self.pm.hook, hook)() for item in added or ()]
        return found


def plugin_manager(group: str | None) -> pluggy.PluginManager:
    """A pluggy manager with the hook specs, this built-in plugin, and the plugins of the entry-point
    ``group`` (None: none)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Builtin(), name="builtin")
    if group:
        pm.load_setuptools_entrypoints(group)
    return pm
