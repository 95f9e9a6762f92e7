"""Simulated Digital Sentry sites on loopback (simulator layer): a test and demo tool.

A ``Simulator`` runs one or many simulated DS sites (``SimSite``) on loopback addresses: the SQL Server
Browser on UDP, the SQL Server PRELOGIN on TCP, the video, diagnostics and Pelco API ports, DSWebService
(TLS with the packaged self-signed certificate) and the silent audio UDP ports, with injectable faults.
It speaks the wire formats through the protocol codecs and never imports the probe engine: it is what
the engine (or anything else) probes. Nothing in the core imports it.

- ``site`` -- ``SimSite``: the model of a simulated site (roles, ports, faults, instances);
- ``servers`` -- the asyncio protocol of each role;
- ``runner`` -- ``Simulator``: binds the ports and serves them in a daemon thread;
- ``cli`` -- the ``dsports-simulator`` command (also ``python -m check_digitalsentry.simulator``);
- ``control`` -- its faults changed while it runs: ``--fault-schedule`` and commands on stdin.
"""

from check_digitalsentry.simulator.runner import Simulator
from check_digitalsentry.simulator.servers import (
    BROWSER_GARBAGE,
    CERT_CN,
    CERT_FILE,
    HTTP_OK,
    KEY_FILE,
    REQUEST_TIMEOUT,
    SQL_GARBAGE,
)
from check_digitalsentry.simulator.site import (
    DEFAULT_INSTANCE,
    DEFAULT_ROLES,
    DEFAULT_SQL_VERSION,
    FAULTS,
    FLEET_FIRST,
    HIGH_PORTS,
    LAYOUTS,
    SECOND_INSTANCE,
    STANDARD_PORTS,
    STANDARD_SQL_PORT,
    WRONG_INSTANCE,
    SimSite,
    fleet_addresses,
    inventory_toml,
)

__all__ = [
    "BROWSER_GARBAGE",
    "CERT_CN",
    "CERT_FILE",
    "DEFAULT_INSTANCE",
    "DEFAULT_ROLES",
    "DEFAULT_SQL_VERSION",
    "FAULTS",
    "FLEET_FIRST",
    "HIGH_PORTS",
    "HTTP_OK",
    "KEY_FILE",
    "LAYOUTS",
    "REQUEST_TIMEOUT",
    "SECOND_INSTANCE",
    "SQL_GARBAGE",
    "STANDARD_PORTS",
    "STANDARD_SQL_PORT",
    "WRONG_INSTANCE",
    "SimSite",
    "Simulator",
    "fleet_addresses",
    "inventory_toml",
]
