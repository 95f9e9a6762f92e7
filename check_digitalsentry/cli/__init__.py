"""The check frontend (the ``check_digitalsentry`` command, for Nagios, Icinga and cron): the only place
that imports nagiosplugin.

- ``table`` -- the option table (the run's, the submit targets', the site settings') and --help's words;
- ``options`` -- the fast argparse-exact parser, and the checked ``Options``;
- ``glue`` -- the judged run as nagiosplugin's Resource, Contexts and Summary (nagiosplugin's own style);
- ``main`` -- modes (``-H``, ``--inventory``, ``--demo``), one engine run, output, exit;
- ``watch`` -- ``--watch``: rounds, the live view in a terminal, its end and summary; ``serve`` -- its page
  for a phone (``--serve``, imported only then);
- ``run`` here -- the console script's entry point: ``--version`` at once, everything else via ``main``.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN -- UNKNOWN also for bad arguments or a bad
inventory (never argparse's 2, which Icinga would read as CRITICAL), and, following the Monitoring
Plugins guidelines, for ``--help`` and ``--version``.

Native Windows is refused at once, with one line (``check_digitalsentry.WINDOWS`` says why), before
anything that would fail there. Under WSL 2 it runs as on Linux.
"""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


def prints_objects(words: Sequence[str]) -> bool:
    """Whether the command line asks for ``--icinga2-objects`` (or an abbreviation): then stdout is the
    objects' file, and every error goes to stderr."""
    return any(len(word) >= 4 and "--icinga2-objects".startswith(word) for word in words)


def _stop_while_starting(words: Sequence[str]) -> None:
    """Until ``main`` sets its own handlers, a stop signal is one UNKNOWN line and exit 3 (SIGINT's
    default would print a KeyboardInterrupt traceback, SIGTERM's kill the check without a word); on
    stderr when the run prints configuration (``--icinga2-objects``, as ``main`` decides)."""
    import _signal  # type: ignore[import-not-found]  # not ``signal``: it imports enum (~2 ms)
    import os

    fd = 2 if prints_objects(words) else 1
    names = {getattr(_signal, name): name for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(_signal, name)}

    def stop(signum: int, frame: object) -> None:
        try:
            os.write(fd, f"DIGITALSENTRY UNKNOWN - {names.get(signum, signum)} while starting\n".encode())
        finally:
            os._exit(3)

    for signum in names:
        _signal.signal(signum, stop)


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of ``check_digitalsentry`` and ``python -m check_digitalsentry``.

    ``-V``/``--version`` alone (how monitoring systems ask) is answered before the option table, the site
    schema and the model are imported; anything else is parsed in full by ``main``.
    """
    started = time.monotonic()
    words = list(sys.argv[1:] if argv is None else argv)
    if sys.platform == "win32":
        from check_digitalsentry import WINDOWS

        try:
            sys.stdout.write(f"DIGITALSENTRY UNKNOWN - {WINDOWS}\n")
            sys.stdout.flush()
        except (AttributeError, OSError, ValueError):  # no stdout, or a closed one: the code says it
            pass
        sys.exit(3)
    _stop_while_starting(words)
    if words in (["-V"], ["--version"]):
        from check_digitalsentry import __version__
        from check_digitalsentry.cli.output import finish

        finish(f"check_digitalsentry {__version__}\n", 3)
    from check_digitalsentry.cli.main import main

    main(words, started)
