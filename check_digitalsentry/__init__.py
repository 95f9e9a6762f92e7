"""check_digitalsentry: probe core and Nagios/Icinga frontend for Pelco Digital Sentry port exposure.

Package layout (imports only flow downwards in this list):

- ``protocols``  -- sans-I/O codecs: SQL Server Browser (MC-SQLR) and TDS PRELOGIN;
- ``catalogue``, ``model``, ``ranges``, ``inventory`` -- what a DS site exposes and how we describe it;
- ``engine``, ``plugins`` -- the probe engine that owns sockets and time, and its pluggy hooks;
- ``judge`` -- the one judgement of probe results, shared by both frontends;
- ``simulator`` -- an embedded simulated DS site on loopback;
- ``cli`` -- the Nagios/Icinga frontend (the only module that imports nagiosplugin).

This file stays tiny: a check plugin starts thousands of times a day, and ``--version`` must not
pay for anything it does not print.
"""

__version__ = "0.1.0"
