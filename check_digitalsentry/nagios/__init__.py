"""The Nagios/Icinga frontend (the ``check_digitalsentry`` command): the only place that imports
nagiosplugin.

- ``options`` -- the option table, the fast argparse-exact parser, and the checked ``Options``;
- ``glue`` -- the judged run as nagiosplugin's Resource, Contexts and Summary (nagiosplugin's own style);
- ``main`` -- modes (``-H``, ``--inventory``, ``--demo``), one engine run, output, exit;
- ``run`` here -- the console script's entry point: ``--version`` at once, everything else via ``main``.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN -- UNKNOWN also for bad arguments or a bad
inventory (never argparse's 2, which Icinga would read as CRITICAL), and, following the Monitoring
Plugins guidelines, for ``--help`` and ``--version``.
"""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of ``check_digitalsentry`` and ``python -m check_digitalsentry``.

    ``-V``/``--version`` alone (how monitoring systems ask) is answered before the option table, the site
    schema and the model are imported; anything else is parsed in full by ``main``.
    """
    started = time.monotonic()
    words = list(sys.argv[1:] if argv is None else argv)
    if words in (["-V"], ["--version"]):
        from check_digitalsentry import __version__
        from check_digitalsentry.nagios.output import write

        write(f"check_digitalsentry {__version__}\n")
        sys.exit(3)
    from check_digitalsentry.nagios.main import main

    main(words, started)
