"""The check's handover document (Nagios frontend): ``--format html`` -- the run's record (the OS user,
this host, the run's start and end, the inventory's SHA-256) and the judged run, rendered by
``render.html``, the renderer pytest_dsports' ``--dsports-report`` uses too. Imported only for
``--format html``."""

from __future__ import annotations

from check_digitalsentry import __version__
from check_digitalsentry.inventory import file_sha256
from check_digitalsentry.model import RunInfo
from check_digitalsentry.render import html

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.nagios.options import Options


def handover(opts: Options, run: JudgedRun, changes: Sequence[tuple[float, str, str]] | None = None,
             watched: str = "") -> str:
    """The handover document of a check run; of a watch's final round, with what changed as an appendix
    (``changes``: time, host, change; ``watched``: the sentence before them)."""
    inventories = [(opts.inventory, file_sha256(opts.inventory))] if opts.inventory else []
    info = RunInfo.here(started=run.checked_at - run.seconds, ended=run.checked_at,
                        tool=f"check_digitalsentry {__version__}", inventories=inventories)
    return html.render(run, info, changes, watched)
