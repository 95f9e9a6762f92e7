"""The handover record of a pytest run (pytest frontend): ``--dsports-report FILE`` (``.html``: the
handover document of ``render.html``, the check's ``--format html`` renderer too; ``.json``: the same
data as JSON) and the run-level JUnit properties.

The record says who tested (``--dsports-tester``, else the OS user), on which machine, from which source
addresses (each probe's, from its socket), when (start and end), with which tool, and the SHA-256 of each
inventory file as it was read.
"""

from __future__ import annotations

import os
import shlex
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from check_digitalsentry import files

if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.model import RunInfo
    from check_digitalsentry.outputs import Format
    from pytest_dsports.state import DsportsState

def suffixes(config: pytest.Config) -> dict[str, Format]:
    """Each report suffix and the format it writes: the registry's (``outputs``), the plugins' too."""
    from check_digitalsentry.outputs import by_suffix, formats
    from pytest_dsports.state import core_hooks

    try:
        return by_suffix(formats(core_hooks(config)))
    except ValueError as exc:  # a plugin's mistake
        raise pytest.UsageError(f"dsports: {exc}") from None


def report_paths(config: pytest.Config) -> list[Path]:
    """The ``--dsports-report`` files, checked before anything runs: a known suffix, an existing folder."""
    paths = []
    values = config.getoption("dsports_report") or []
    known = suffixes(config) if values else {}
    for value in values:
        path = Path(value)
        if path.suffix.lower() not in known:
            shown = sorted({fmt.suffixes[0] for fmt in known.values()})
            words = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
            raise pytest.UsageError(f"--dsports-report {value}: expected a file ending in {words}")
        if not path.absolute().parent.is_dir():
            raise pytest.UsageError(f"--dsports-report {value}: no such directory {str(path.parent)!r}")
        try:
            mode: int | None = os.stat(path).st_mode
        except OSError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            raise pytest.UsageError(f"--dsports-report {value}: {files.kind(mode)}, not a regular file: give the "
                                    "path of a file to replace")
        paths.append(path.absolute())
    return paths


def run_info(config: pytest.Config, state: DsportsState) -> RunInfo:
    from check_digitalsentry import __version__
    from check_digitalsentry.model import RunInfo

    ended = state.ended if state.ended is not None else time.time()
    inventories = [(_shown(source.path), source.sha256) for source in state.sources if source.path is not None]
    return RunInfo.here(started=state.started, ended=ended, tester=config.getoption("dsports_tester"),
                        tool=f"pytest_dsports {__version__} (pytest {pytest.__version__})",
                        inventories=inventories, command=shlex.join(["pytest", *config.invocation_params.args]))


def render(config: pytest.Config, path: Path, run: JudgedRun, info: RunInfo) -> str:
    """The report ``path`` in the format its suffix names."""
    from check_digitalsentry.outputs import Rendering
    from check_digitalsentry.render.text import NagiosText

    summary = NagiosText(run).summary() if run.sites else ""
    return suffixes(config)[path.suffix.lower()].render(Rendering(run, summary, lambda: info, handover=True))


class Written:
    """What became of one report: ``ok`` (written), and the line that says so, or why not."""

    __slots__ = ("line", "ok")

    def __init__(self, ok: bool, line: str) -> None:
        self.ok = ok
        self.line = line


def write_reports(config: pytest.Config, state: DsportsState, paths: list[Path]) -> list[Written]:
    """Write each report; what became of each (the lines to show at the end)."""
    run, info = state.judged_run(), run_info(config, state)
    written = []
    for path in paths:
        text = render(config, path, run, info)
        try:  # atomically, never through a planted link: as the check's --output
            files.replace(str(path), text.encode("utf-8"))
        except files.WriteError as exc:
            written.append(Written(False, f"dsports: could not write the handover report {_shown(path)}: {exc}"))
            continue
        written.append(Written(True, f"dsports: handover report written to {_shown(path)} ({len(run.sites)} "
                                     f"site(s), {len(text.encode('utf-8'))} bytes)"))
    return written


def junit_properties(config: pytest.Config, state: DsportsState) -> None:
    """Run-level properties of the JUnit XML (``<testsuite><properties>``), when --junitxml writes one; an
    inventory's is written as ``sha256sum`` prints it (``HASH  FILE``)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest moved it
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    from check_digitalsentry.judge import sources

    info = run_info(config, state)
    run = state.judged_run()
    utc = "%Y-%m-%dT%H:%M:%SZ"
    for name, value in (
        ("dsports_tester", info.tester),
        ("dsports_host_name", info.host_name),
        ("dsports_source_addresses", " ".join(sources(run.verdicts))),
        ("dsports_version", info.tool),
        *(("dsports_inventory_sha256", f"{sha or '(unreadable)'}  {name}") for name, sha in info.inventories),
        ("dsports_started", time.strftime(utc, time.gmtime(info.started))),
        ("dsports_ended", time.strftime(utc, time.gmtime(info.ended))),
    ):
        xml.add_global_property(name, value)


def _shown(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
