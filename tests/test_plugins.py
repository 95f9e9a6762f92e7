"""Core plugins installed as distributions are found (cheaply) and loaded through the entry-point group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from check_digitalsentry import plugins

PLUGIN = '''
from check_digitalsentry.catalogue import ALWAYS, Role
from check_digitalsentry.hookspecs import hookimpl
from check_digitalsentry.model import State

@hookimpl
def digitalsentry_roles():
    return [Role("rtsp", "tcp", 554, ALWAYS, State.WARNING, "RTSP streaming", "test plugin")]
'''


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Path:
    """A distribution on disk, as pip would leave it: a module and its dist-info with entry points."""
    (tmp_path / "ds_rtsp_plugin.py").write_text(PLUGIN)
    info = tmp_path / "ds_rtsp_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ds-rtsp-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[check_digitalsentry]\nrtsp = ds_rtsp_plugin\n")
    return tmp_path


def test_the_cheap_scan_finds_a_declared_plugin_and_nothing_else(installed_plugin: Path, tmp_path: Path) -> None:
    assert plugins.plugins_declared(path=[str(installed_plugin)])
    assert not plugins.plugins_declared(path=[str(installed_plugin)], group="another_group")
    assert not plugins.plugins_declared(path=[str(tmp_path / "missing")])


def _roles_in_fresh_interpreter(path: Path, **env: str) -> list[str]:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from check_digitalsentry.plugins import get_hooks; "
            "hooks = get_hooks(); print(type(hooks).__name__, *[r.name for r in hooks.roles()])")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return run.stdout.split()


def test_an_installed_plugin_is_loaded_through_pluggy(installed_plugin: Path) -> None:
    words = _roles_in_fresh_interpreter(installed_plugin)
    assert words[0] == "PluggyHooks" and words[-1] == "rtsp"


def test_without_plugins_the_builtin_fast_path_is_used(tmp_path: Path) -> None:
    words = _roles_in_fresh_interpreter(tmp_path)
    assert words[0] == "BuiltinHooks" and "rtsp" not in words


def test_autoload_can_be_turned_off(installed_plugin: Path) -> None:
    words = _roles_in_fresh_interpreter(installed_plugin, DIGITALSENTRY_DISABLE_PLUGIN_AUTOLOAD="1")
    assert words[0] == "BuiltinHooks" and "rtsp" not in words


@pytest.mark.parametrize("name", ["forbid", "Rtsp Stream!", "a=b", "rtsp_stream", "-rtsp", "9rtsp", "", "r" * 33])
def test_a_plugin_role_name_that_cannot_be_an_option_word_label_or_service_name_is_refused(name: str) -> None:
    from check_digitalsentry.catalogue import ALWAYS, Role, merge_roles
    from check_digitalsentry.model import State

    with pytest.raises(ValueError) as caught:
        merge_roles([Role(name, "tcp", 554, ALWAYS, State.WARNING, "RTSP", "site policy")])
    assert repr(name) in str(caught.value) and "lower-case letters, digits and '-'" in str(caught.value)
    assert [r.name for r in merge_roles([Role("rtsp-2", "tcp", 554, ALWAYS, State.WARNING, "RTSP", "x")])][-1] \
        == "rtsp-2"
