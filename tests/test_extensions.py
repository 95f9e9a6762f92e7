"""The extension points, each used as a contributor would: one installed plugin (a module and its dist-info,
as pip leaves them) adds a plain TCP role, an output format and a submit target -- and nothing else is
edited. The role works in the check and in pytest_dsports, the format as ``--format`` and as a
``--dsports-report`` suffix, the target as ``--submit`` with its own option. docs/api.md shows the same."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import script

PLUGIN = '''
"""An example plugin of check_digitalsentry: a role, a format and a submit target."""

import os

from check_digitalsentry.catalogue import ALWAYS, Role
from check_digitalsentry.hookspecs import hookimpl
from check_digitalsentry.model import State
from check_digitalsentry.outputs import Format, Target, TargetOption
from check_digitalsentry.passive import ACCEPTED, Destination, Receipt, SetupError, Submission


@hookimpl
def digitalsentry_roles():
    return [Role("rtsp", "tcp", 554, ALWAYS, State.WARNING, "RTSP streaming to a video wall", "site policy")]


def render_csv(rendering):
    lines = ["site,host,role,port,status,state"]
    lines += [f"{v.site.name},{v.result.host},{v.result.role},{v.result.port},{v.result.status},{v.state}"
              for v in rendering.run.verdicts]
    return "\\n".join(lines) + "\\n"


@hookimpl
def digitalsentry_formats():
    return [Format("csv", "text/csv", 20e-6, "ds_example_plugin:render_csv", suffixes=(".csv",))]


def check_options(values):
    if not values.get("outbox_dir"):
        raise SetupError("--submit outbox needs --outbox-dir DIR")


class Outbox(Destination):
    def __init__(self, path):
        self.path = path
        self.where = f"the outbox {path}"

    def submit(self, results, deadline):
        receipts = []
        for index, result in enumerate(results):
            with open(os.path.join(self.path, f"{index}.txt"), "w") as out:
                out.write(f"{result.host};{result.service};{int(result.state)};{result.output}\\n")
            receipts.append(Receipt(result, ACCEPTED, "filed", 1))
        return Submission(receipts, requests=len(results))


def prepare(values, sites, inventory):
    path = values["outbox_dir"]
    if not os.path.isdir(path):
        raise SetupError(f"--outbox-dir {path}: no such directory")
    return Outbox(path)


@hookimpl
def digitalsentry_targets():
    return [Target("outbox", "a directory of files", "filed in",
                   [TargetOption("--outbox-dir", "outbox_dir", "DIR", "where --submit outbox files each result")],
                   "ds_example_plugin")]
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """The plugin installed as pip would leave it: the module and its dist-info with the entry point."""
    where = tmp_path / "site-packages"
    where.mkdir()
    (where / "ds_example_plugin.py").write_text(PLUGIN)
    info = where / "ds_example_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ds-example-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[check_digitalsentry]\nexample = ds_example_plugin\n")
    return where


@pytest.fixture
def rtsp() -> Iterator[int]:
    """A real RTSP-ish listener on loopback: the port the plugin's role expects."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def run(plugin: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The check (or pytest) as installed, with the plugin on its path."""
    env = {**os.environ, "PYTHONPATH": str(plugin)}
    env.pop("DIGITALSENTRY_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def test_a_plugin_role_is_probed_judged_and_labelled_by_the_check(plugin_path: Path, rtsp: int) -> None:
    check = script("check_digitalsentry")
    up = run(plugin_path, check, "-H", "127.0.0.1", "--role", "rtsp", "--port", f"rtsp={rtsp}", "-t", "3")
    assert up.returncode == 0, up
    assert up.stdout.startswith("DIGITALSENTRY OK - 1 port as expected on 127.0.0.1; proved on this machine itself "
                                "(loopback): no network in between | "), up.stdout
    assert " rtsp=1;1:;;0;1 " in up.stdout  # its own label, and its severity (WARNING) as the threshold
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = free.getsockname()[1]
    down = run(plugin_path, check, "-H", "127.0.0.1", "--role", "rtsp", "--port", f"rtsp={closed}", "-t", "3")
    assert down.returncode == 1, down  # the role's default severity
    assert down.stdout.startswith(f"DIGITALSENTRY WARNING - rtsp {closed}/tcp closed"), down.stdout
    help_text = run(plugin_path, check, "--help").stdout
    assert "forbid" in help_text and "audio, rtsp, forbid." in help_text.replace("\n", " ")


def test_a_plugin_format_is_a_format_of_the_check(plugin_path: Path, rtsp: int, tmp_path: Path) -> None:
    check = script("check_digitalsentry")
    done = run(plugin_path, check, "-H", "127.0.0.1", "--role", "rtsp", "--port", f"rtsp={rtsp}", "-t", "3",
               "--format", "csv")
    assert done.returncode == 0, done
    assert list(csv.reader(io.StringIO(done.stdout))) == [
        ["site", "host", "role", "port", "status", "state"], ["cli", "127.0.0.1", "rtsp", str(rtsp), "open", "OK"]]
    unknown = run(plugin_path, check, "-H", "127.0.0.1", "--format", "xml")
    assert unknown.stdout.startswith("DIGITALSENTRY UNKNOWN - --format: expected one of nagios, json, openmetrics, "
                                     "html, csv, got 'xml'"), unknown.stdout


def test_a_plugin_submit_target_takes_its_options_and_files_each_result(plugin_path: Path, rtsp: int,
                                                                         tmp_path: Path) -> None:
    inventory = tmp_path / "sites.toml"
    inventory.write_text(f'[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\nroles = ["rtsp"]\n'
                         f"[sites.ports]\nrtsp = {rtsp}\n")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    check = script("check_digitalsentry")
    done = run(plugin_path, check, "--inventory", str(inventory), "--submit", "outbox", "--outbox-dir", str(outbox),
               "-t", "3")
    assert done.returncode == 0, done
    assert done.stdout.startswith(f"DIGITALSENTRY SUBMIT OK - 1 of 1 result filed in the outbox {outbox} in "), done
    assert (outbox / "0.txt").read_text().startswith("hq;digitalsentry;0;DIGITALSENTRY OK - 1 port as expected")
    missing = run(plugin_path, check, "--inventory", str(inventory), "--submit", "outbox", "-t", "3")
    assert missing.stdout == "DIGITALSENTRY UNKNOWN - --submit outbox needs --outbox-dir DIR\n", missing
    foreign = run(plugin_path, check, "--inventory", str(inventory), "--submit", "nagios", "--outbox-dir", "x")
    assert foreign.stdout.startswith("DIGITALSENTRY UNKNOWN - --outbox-dir cannot be combined with --submit nagios")
    without = subprocess.run([check, "--inventory", str(inventory), "--submit", "outbox"], capture_output=True,
                             text=True, timeout=60)  # not installed: not a target
    assert without.stdout.startswith("DIGITALSENTRY UNKNOWN - --submit: expected icinga2 or nagios, got 'outbox'")


def test_the_role_and_the_format_work_in_pytest_dsports(plugin_path: Path, rtsp: int, tmp_path: Path) -> None:
    (tmp_path / "sites.toml").write_text(f'[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\nroles = ["rtsp"]\n'
                                         f"[sites.ports]\nrtsp = {rtsp}\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = run(plugin_path, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v",
               "--dsports-inventory", "sites.toml", "--dsports-report", "handover.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"sites.toml::hq::127.0.0.1::rtsp[{rtsp}/tcp] PASSED" in done.stdout, done.stdout
    assert (tmp_path / "handover.csv").read_text().splitlines()[1] == f"hq,127.0.0.1,rtsp,{rtsp},open,OK"
    wrong = run(plugin_path, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dsports-inventory",
                "sites.toml", "--dsports-report", "handover.xml", cwd=tmp_path)
    assert "expected a file ending in .csv, .html or .json" in wrong.stderr, wrong.stderr
