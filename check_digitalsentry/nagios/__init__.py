"""The Nagios/Icinga frontend (the ``check_digitalsentry`` command): the only place that imports
nagiosplugin.

- ``options`` -- the option table, the fast argparse-exact parser, and the checked ``Options``;
- ``glue`` -- the judged run as nagiosplugin's Resource, Contexts and Summary (nagiosplugin's own style);
- ``main`` -- the entry point: modes (``-H``, ``--inventory``, ``--demo``), one engine run, output, exit.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN -- UNKNOWN also for bad arguments or a bad
inventory (never argparse's 2, which Icinga would read as CRITICAL), and, following the Monitoring
Plugins guidelines, for ``--help`` and ``--version``.
"""
