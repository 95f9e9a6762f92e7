"""Probe engine (engine layer): owns sockets, DNS and time, and turns sites into site reports.

- ``api`` -- the probe API: ``Open``/``Wait`` requests, ``Outcome``, ``ProbeContext`` and the helpers
  probes are written with (``connect``, ``connect_udp``, ``read_until``...);
- ``probes`` -- the built-in probes, one generator per kind of port, and ``BuiltinHooks``;
- ``tls`` -- the TLS probes (imported only where one runs);
- ``scheduler`` -- the readiness loop (epoll): sockets, deadlines, the file-descriptor budget;
- ``resolver`` -- DNS in a few daemon threads, bounded by the same deadlines;
- ``sites`` -- the DS orchestration (Browser -> SQL port) and ``probe_sites``, the entry point.

Nothing a server does raises: it is all in the results. The engine never imports a frontend, the
simulator, the judgement or the renderers; the frontends hand it the core's hooks (``plugins``).
"""

from check_digitalsentry.engine.api import (
    READ,
    WRITE,
    Open,
    Outcome,
    ProbeContext,
    Wait,
    connect,
    connect_udp,
    oserror_outcome,
    read_until,
)
from check_digitalsentry.engine.probes import BuiltinHooks, default_probe
from check_digitalsentry.engine.sites import SitePlan, SiteReport, plan_sites, probe_sites
from check_digitalsentry.kinds import DEFAULT_TIMEOUT

__all__ = [
    "DEFAULT_TIMEOUT",
    "READ",
    "WRITE",
    "BuiltinHooks",
    "Open",
    "Outcome",
    "ProbeContext",
    "SitePlan",
    "SiteReport",
    "Wait",
    "connect",
    "connect_udp",
    "default_probe",
    "oserror_outcome",
    "plan_sites",
    "probe_sites",
    "read_until",
]
