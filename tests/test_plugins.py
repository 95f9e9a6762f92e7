"""Core plugins installed as distributions are found (cheaply) and loaded through the entry-point group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import script

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
    clean = {key: value for key, value in os.environ.items() if key != plugins.DISABLE_ENV}  # as a user has it
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         env={**clean, **env})
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


BAD_HEADER = '''
from check_digitalsentry.catalogue import ALWAYS, Role
from check_digitalsentry.hookspecs import hookimpl
from check_digitalsentry.model import State
from check_digitalsentry.outputs import Format, Target, TargetOption

def rtsp(**more):
    return Role("rtsp", "tcp", 554, ALWAYS, State.WARNING, "RTSP", "test", **more)

def box(*options):
    return Target("box", "a box", "put in", list(options), __name__)

def check_options(values):
    pass
'''
#: (what the plugin does wrong, its module after BAD_HEADER, more arguments, what the one line says after
#: "the plugin bad: ")
BAD_PLUGINS = [
    ("import", "raise RuntimeError('half-installed')", [], "cannot be loaded (bad_plugin): "
                                                           "RuntimeError('half-installed')"),
    ("hook-raises", "@hookimpl\ndef digitalsentry_roles():\n    return {}['x']", [],
     "its hook digitalsentry_roles failed: KeyError('x')"),
    ("not-a-list", "@hookimpl\ndef digitalsentry_formats():\n    return 'csv'", [],
     "its hook digitalsentry_formats returned 'csv': expected a list of check_digitalsentry.outputs.Format"),
    ("generator-raises", "@hookimpl\ndef digitalsentry_roles():\n    yield rtsp()\n    raise KeyError('y')", [],
     "its hook digitalsentry_roles failed: KeyError('y')"),
    ("role-taken", "@hookimpl\ndef digitalsentry_roles():\n    r = rtsp(); r.name = 'video'; return [r]", [],
     "its role 'video': there is a role of that name already"),
    ("role-port", "@hookimpl\ndef digitalsentry_roles():\n    r = rtsp(); r.port = 99999; return [r]", [],
     "its role 'rtsp': port 99999: expected 1-65535 or None"),
    ("role-when", "@hookimpl\ndef digitalsentry_roles():\n    r = rtsp(); r.when = 'sometimes'; return [r]", [],
     "its role 'rtsp': when 'sometimes': expected 'always' or a site setting"),
    ("format-name", "@hookimpl\ndef digitalsentry_formats():\n    return [Format('C S V', 'text/csv', 0, str)]", [],
     "its format 'C S V': a format name is lower-case letters"),
    ("format-taken", "@hookimpl\ndef digitalsentry_formats():\n    return [Format('json', 'text/csv', 0, str)]", [],
     "its format 'json': there is a format of that name already"),
    ("format-cost", "@hookimpl\ndef digitalsentry_formats():\n    return [Format('csv', 'text/csv', float('nan'), str)]",
     [], "its format 'csv': port_cost nan: expected seconds from 0 to 0.01"),
    ("renderer-raises", "@hookimpl\ndef digitalsentry_formats():\n    return [Format('csv', 'text/csv', 0, "
                        "lambda r: 1 / 0)]", ["--format", "csv"],
     "its format csv: the renderer failed: ZeroDivisionError('division by zero')"),
    ("renderer-none", "@hookimpl\ndef digitalsentry_formats():\n    return [Format('csv', 'text/csv', 0, "
                      "lambda r: None)]", ["--format", "csv"], "its format csv: the renderer gave NoneType, not text"),
    ("target-taken", "@hookimpl\ndef digitalsentry_targets():\n    t = box(); t.name = 'nagios'; return [t]", [],
     "its submit target 'nagios': there is a target of that name already"),
    ("target-option", "@hookimpl\ndef digitalsentry_targets():\n    return [box(TargetOption('--box-dir', "
                      "'inventory', 'DIR', 'where'))]", [], "its submit target 'box': its option --box-dir "
                                                          "(inventory) is one of the check's own"),
    ("port-specs-raises", "@hookimpl\ndef digitalsentry_port_specs(site, specs):\n    raise KeyError(site.name)",
     [], "its hook digitalsentry_port_specs failed: KeyError('cli')"),
    ("prepare-raises", "def prepare(values, sites, inventory):\n    raise OSError('no box')\n"
                       "@hookimpl\ndef digitalsentry_targets():\n    return [box()]", ["--submit", "box"],
     "its submit target box: prepare failed: OSError('no box')"),
]


def install_bad_plugin(where: Path, module: str) -> dict[str, str]:
    """The plugin ``bad`` (module ``bad_plugin``: BAD_HEADER and ``module``) installed in ``where`` as pip
    leaves a distribution; the environment that finds it (autoload on)."""
    (where / "bad_plugin.py").write_text(BAD_HEADER + module + "\n")
    info = where / "bad_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[check_digitalsentry]\nbad = bad_plugin\n")
    env = {key: value for key, value in os.environ.items() if key != plugins.DISABLE_ENV}
    return {**env, "PYTHONPATH": str(where)}


@pytest.mark.parametrize(("module", "more", "said"), [case[1:] for case in BAD_PLUGINS],
                         ids=[case[0] for case in BAD_PLUGINS])
def test_a_plugin_that_gives_garbage_is_one_unknown_line_naming_it(tmp_path: Path, module: str, more: list[str],
                                                                   said: str) -> None:
    env = install_bad_plugin(tmp_path, module)
    inventory = tmp_path / "sites.toml"
    inventory.write_text('[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\n')
    target = ["--inventory", str(inventory)] if "--submit" in more else ["-H", "127.0.0.1"]
    run = subprocess.run([script("check_digitalsentry"), *target, "-t", "2", *more], capture_output=True, text=True,
                         timeout=60, env=env)
    assert (run.returncode, run.stderr) == (3, ""), run
    assert run.stdout.startswith(f"DIGITALSENTRY UNKNOWN - the plugin bad: {said}"), run.stdout
    assert run.stdout.count("\n") == 1, run.stdout


@pytest.mark.parametrize(("module", "said", "code"), [
    ("raise RuntimeError('half-installed')", "ERROR: dsports: the plugin bad: cannot be loaded (bad_plugin): "
                                             "RuntimeError('half-installed')", 4),
    ("@hookimpl\ndef digitalsentry_formats():\n    return [Format('csv', 'text/csv', 0, lambda r: 1 / 0, "
     "suffixes=['.csv'])]", "dsports: could not write the handover report handover.csv: the plugin bad: its format "
                            "csv: the renderer failed: ZeroDivisionError('division by zero')", 1),
    ("@hookimpl\ndef digitalsentry_port_specs(site, specs):\n    raise KeyError(site.name)",
     "ERROR: dsports: the plugin bad: its hook digitalsentry_port_specs failed: KeyError('hq')", 4),
], ids=["cannot-be-loaded", "renderer-raises", "port-specs-raises"])
def test_pytest_dsports_says_a_plugins_mistake_in_one_line_naming_it(tmp_path: Path, module: str, said: str,
                                                                     code: int) -> None:
    env = install_bad_plugin(tmp_path, module)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "sites.toml").write_text('[[sites]]\nname = "hq"\nhosts = ["127.0.0.1"]\nroles = ["video"]\n')
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dsports-inventory",
                          "sites.toml", "--dsports-report", "handover.csv", "--dsports-timeout", "2"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == code and "INTERNALERROR" not in run.stdout + run.stderr, run
    assert said in (run.stdout + run.stderr).splitlines(), run


def test_an_internal_error_is_one_short_line(tmp_path: Path) -> None:
    """Whatever fails inside (here a plugin breaks the judgement with an exception of 20 KB): one UNKNOWN line of
    a bounded length -- not a status line of the whole exception, which Icinga, cron mails and the journal
    would carry."""
    env = install_bad_plugin(tmp_path, "import check_digitalsentry.judge as judge\n"
                                       "def of(*args, **kwargs):\n    raise ValueError('x' * 20000)\n"
                                       "judge.JudgedRun.of = staticmethod(of)")
    run = subprocess.run([script("check_digitalsentry"), "-H", "127.0.0.1", "-t", "2"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert (run.returncode, run.stderr) == (3, ""), run
    assert run.stdout.startswith("DIGITALSENTRY UNKNOWN - internal error: ValueError('xxx") and \
        run.stdout.count("\n") == 1 and len(run.stdout) < 300, run.stdout[:300]
