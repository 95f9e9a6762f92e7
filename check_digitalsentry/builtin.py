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
from check_digitalsentry.model import PluginError

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


def _kind(hook: str) -> type[catalogue.Role | Format | Target]:
    """What a hook that adds to a registry returns a list of."""
    if hook == "digitalsentry_roles":
        return catalogue.Role
    from check_digitalsentry import outputs

    return {"digitalsentry_formats": outputs.Format, "digitalsentry_targets": outputs.Target}[hook]


class PluggyHooks(BuiltinHooks):
    """The hooks through a pluggy ``PluginManager`` (built-in plugin plus whatever is registered).

    Each plugin's implementation of a hook is called on its own, so that whatever goes wrong -- a hook
    that raises, one that returns what is not a list of the registry's objects, a role, format or target
    that cannot be added -- is a ``model.PluginError`` naming the plugin."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._roles: tuple[catalogue.Role, ...] | None = None
        self._added: dict[str, list[object]] = {}

    def roles(self) -> tuple[catalogue.Role, ...]:
        if self._roles is None:
            extra = [role for role in self.added("digitalsentry_roles") if isinstance(role, catalogue.Role)]
            roles = catalogue.merge_roles(extra)
            from check_digitalsentry.schema import BY_NAME

            for role in extra:
                if role.when != catalogue.ALWAYS and role.when not in BY_NAME:
                    raise PluginError(role.plugin, f"its role {role.name!r}: when {role.when!r}: expected "
                                                   f"{catalogue.ALWAYS!r} or a site setting (web, api, "
                                                   "audio_clients)")
            self._roles = roles
            builtin = self.pm.get_plugin("builtin")
            if isinstance(builtin, Builtin):
                builtin.roles = {role.name: role for role in self._roles}
        return self._roles

    def port_specs(self, site: Site, specs: list[PortSpec]) -> list[PortSpec]:
        self._each("digitalsentry_port_specs", site=site, specs=specs)
        return specs

    def probe_for(self, spec: PortSpec, site: Site) -> Probe:
        probe: Probe = self.pm.hook.digitalsentry_probe(spec=spec, site=site)
        return probe

    def port_result(self, site: Site, result: PortResult) -> None:
        self.pm.hook.digitalsentry_port_result(site=site, result=result)

    def added(self, hook: str) -> list[object]:
        found = self._added.get(hook)
        if found is None:
            kind = _kind(hook)
            what = f"{kind.__module__}.{kind.__name__}"
            found = []
            for plugin, added in self._each(hook):
                if added is None:
                    continue
                if isinstance(added, (str, bytes, dict, kind)) or not hasattr(added, "__iter__"):
                    raise PluginError(plugin, f"its hook {hook} returned {PluginError.said(added)}: expected a "
                                              f"list of {what}")
                try:
                    items = list(added)  # a list, a tuple, a generator...
                except Exception as exc:
                    raise PluginError(plugin, f"its hook {hook} failed: {PluginError.said(exc)}") from None
                for item in items:
                    if not isinstance(item, kind):
                        raise PluginError(plugin, f"its hook {hook} returned {PluginError.said(item)}: expected "
                                                  f"a {what}")
                    item.plugin = plugin
                    found.append(item)
            self._added[hook] = found
        return found

    def _each(self, hook: str, **kwargs: object) -> list[tuple[str | None, object]]:
        """Each plugin's answer to ``hook``, in pluggy's order: (the plugin's name, what it returned); a
        plugin's hook that raises is a PluginError naming it. With a hook wrapper among them, the hook is
        called as pluggy calls it (then no answer is known to come from one plugin)."""
        caller = getattr(self.pm.hook, hook)
        impls = list(reversed(caller.get_hookimpls()))
        if any(impl.hookwrapper or getattr(impl, "wrapper", False) for impl in impls):
            try:
                return [(None, answer) for answer in caller(**kwargs)]
            except Exception as exc:
                raise PluginError(None, f"its hook {hook} failed: {PluginError.said(exc)}") from None
        answers: list[tuple[str | None, object]] = []
        for impl in impls:
            try:
                answer = impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:
                if impl.plugin_name == "builtin":
                    raise
                raise PluginError(impl.plugin_name, f"its hook {hook} failed: {PluginError.said(exc)}") from None
            if answer is not None:
                answers.append((impl.plugin_name, answer))
        return answers


def plugin_manager(group: str | None) -> pluggy.PluginManager:
    """A pluggy manager with the hook specs, this built-in plugin, and the plugins of the entry-point
    ``group`` (None: none). A plugin that cannot be imported or registered is a ``model.PluginError``
    naming it (pluggy's own loading says only what failed, not whose it was)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Builtin(), name="builtin")
    if group:
        import importlib.metadata

        for dist in list(importlib.metadata.distributions()):
            for entry in dist.entry_points:
                if entry.group != group or pm.get_plugin(entry.name) or pm.is_blocked(entry.name):
                    continue
                try:
                    pm.register(entry.load(), name=entry.name)
                except Exception as exc:
                    raise PluginError(entry.name, f"cannot be loaded ({entry.value}): {PluginError.said(exc)}"
                                      ) from None
    return pm
