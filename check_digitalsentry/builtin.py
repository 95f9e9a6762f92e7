"""The built-in plugin (core layer): the engine's own probes, answering the ``digitalsentry_probe`` hook
last, registered with pluggy like any installed plugin (``plugins.make_plugin_manager``).

Without pluggy (no plugin installed), ``engine.probes.BuiltinHooks`` gives the same answers directly.
"""

from __future__ import annotations

from check_digitalsentry.engine.probes import default_probe
from check_digitalsentry.hookspecs import hookimpl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.engine.api import Probe
    from check_digitalsentry.model import PortSpec
    from check_digitalsentry.schema import Site


@hookimpl(trylast=True)
def digitalsentry_probe(spec: PortSpec, site: Site) -> Probe:
    return default_probe(spec)
