"""check_digitalsentry: probe core and check plugin (Nagios, Icinga, cron) for Pelco Digital Sentry port exposure.

Layers, bottom up (imports only flow upwards from here; ruff's banned-import rules in pyproject.toml
and tests/test_layers.py keep it so):

- ``protocols/`` -- sans-I/O codecs: SQL Server Browser (MC-SQLR), TDS PRELOGIN, X.509;
- ``model``, ``ranges``, ``catalogue``, ``addresses``, ``schema``, ``files``, ``inventory`` -- the value
  objects, the DS port catalogue, the kinds of an IP address, a site's settings declared once, local files
  read the safe way, and the TOML inventory;
- ``engine/`` -- the probe engine that owns sockets, DNS and time (probe API, probes, scheduler, DS
  orchestration); ``hookspecs`` (the plugin contract), ``builtin`` and ``plugins`` (the hooks a
  frontend hands the engine);
- ``judge`` -- the one judgement of probe results, shared by both frontends, with ``vantage`` (what path a
  run proved, against the one the site's clients take) and ``words`` (the judgement in people's words: a
  site's sentence, times, what the probes learned); ``passive`` -- the value
  objects of a passive submission (a result per monitoring object, and what became of it); ``steady``
  -- what a watch (``--watch``) shows of each port over rounds: steady, not flappy;
- ``render/`` -- presentation: Nagios text and perfdata (and the passive results), JSON, OpenMetrics, the
  HTML handover document;
- ``submit/`` -- passive submission (I/O): Icinga 2's REST API, Nagios' external command file;
- ``cli/`` -- the check plugin's frontend, for Nagios, Icinga and cron (the only place that imports
  nagiosplugin; "nagios" names a format and a submit target, never a package); the pytest
  frontend is the ``pytest_dsports`` package beside this one;
- ``simulator/`` -- simulated DS sites on loopback (a test and demo tool the core never imports).

This file stays tiny: a check plugin starts thousands of times a day, and ``--version`` must not
pay for anything it does not print.
"""

__version__ = "0.1.0"

#: What native Windows is told, in one line, by both frontends (the check: UNKNOWN; pytest: a usage error):
#: its sockets answer a non-blocking connect and a closed UDP port with other errors than POSIX systems
#: (every TCP port would read "filtered", a closed UDP port "reset"), and it lacks the signals and file flags
#: the frontends rely on. Linux and macOS are supported; WSL 2 runs it as Linux does.
WINDOWS = ("native Windows is not supported: run it under WSL 2 (the Windows Subsystem for Linux), where it "
           "runs as on Linux")
