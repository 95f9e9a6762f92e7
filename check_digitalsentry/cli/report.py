"""The check's run record (check frontend): who ran a check, on which machine, when, with which
inventory (its SHA-256) -- what ``--format html`` (the handover document, ``render.html``, the renderer
pytest_dsports' ``--dsports-report`` uses too) and any format that wants it read (``outputs.Rendering``)."""

from __future__ import annotations

from check_digitalsentry import __version__
from check_digitalsentry.inventory import file_sha256
from check_digitalsentry.model import RunInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.cli.options import Options
    from check_digitalsentry.judge import JudgedRun


def record(opts: Options, run: JudgedRun) -> RunInfo:
    """The record of a check run."""
    inventories = [(opts.inventory, file_sha256(opts.inventory))] if opts.inventory else []
    return RunInfo.here(started=run.checked_at - run.seconds, ended=run.checked_at,
                        tool=f"check_digitalsentry {__version__}", inventories=inventories)
