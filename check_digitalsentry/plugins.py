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

from check_digitalsentry.engine.probes import BuiltinHooks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    import pluggy

#: The entry-point group that installed plugins declare.
GROUP = "check_digitalsentry"
DISABLE_ENV = "DIGITALSENTRY_DISABLE_PLUGIN_AUTOLOAD"

__all__ = ["DISABLE_ENV", "GROUP", "BuiltinHooks", "get_hooks", "make_plugin_manager", "plugins_declared"]


def plugins_declared(group: str = GROUP, path: Iterable[str] | None = None) -> bool:
    """True when an installed distribution declares entry points in ``group`` (cheap: no metadata import)."""
    header = f"[{group}]".encode()
    stdlib = os.path.dirname(os.__file__)  # nothing is pip-installed into the standard library itself
    skip = (stdlib, os.path.join(stdlib, "lib-dynload")) if path is None else ()
    for entry in sys.path if path is None else path:
        if entry in skip:
            continue
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:  # bytes: no text decoder per file
                with open(os.path.join(entry or ".", name, "entry_points.txt"), "rb", buffering=0) as fh:
                    if header in fh.read():
                        return True
            except OSError:
                continue
    return False


def make_plugin_manager(*, autoload: bool = True) -> pluggy.PluginManager:
    """A pluggy manager with the hook specs, the built-in plugin and (unless disabled, by ``autoload`` or
    ``DIGITALSENTRY_DISABLE_PLUGIN_AUTOLOAD``) the installed plugins."""
    from check_digitalsentry import builtin

    return builtin.plugin_manager(GROUP if autoload and not os.environ.get(DISABLE_ENV) else None)


_default: BuiltinHooks | None = None


def get_hooks() -> BuiltinHooks:
    """The hooks for a run: pluggy when plugins are installed, the built-in fast path otherwise."""
    global _default
    if _default is None:
        if not os.environ.get(DISABLE_ENV) and plugins_declared():
            from check_digitalsentry.builtin import PluggyHooks

            _default = PluggyHooks(make_plugin_manager())
        else:
            _default = BuiltinHooks()
    return _default
