"""The pluggy side of the core's hooks (core layer): the built-in plugin -- the engine's own probes,
answering the ``digitalsentry_probe`` hook last, registered like any installed plugin -- and
``PluggyHooks``, the hooks a frontend hands the engine when a pluggy manager is in use.

Imported only then (``plugins.get_hooks`` when a plugin is installed, pytest_dsports always): without
pluggy, ``engine.probes.BuiltinHooks`` gives the same answers directly.
"""

from __future__ import annotations

import pluggy

from check_digitalsentry import catalogue, hookspecs, outputs
from check_digitalsentry.engine.probes import BuiltinHooks, default_probe
from check_digitalsentry.hookspecs import hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.engine.api import Probe
    from check_digitalsentry.model import PortResult, PortSpec
    from check_digitalsentry.outputs import Format, Target
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
        self._formats: tuple[Format, ...] | None = None
        self._targets: tuple[Target, ...] | None = None

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

    def formats(self) -> tuple[Format, ...]:
        if self._formats is None:
            extra = [fmt for added in self.pm.hook.digitalsentry_formats() for fmt in added or ()]
            self._formats = outputs.merge_formats(outputs.FORMATS, extra)
        return self._formats

    def targets(self) -> tuple[Target, ...]:
        if self._targets is None:
            extra = [target for added in self.pm.hook.digitalsentry_targets() for target in added or ()]
            self._targets = outputs.merge_targets(outputs.TARGETS, extra)
        return self._targets


def plugin_manager(group: str | None) -> pluggy.PluginManager:
    """A pluggy manager with the hook specs, this built-in plugin, and the plugins of the entry-point
    ``group`` (None: none)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Builtin(), name="builtin")
    if group:
        pm.load_setuptools_entrypoints(group)
    return pm
