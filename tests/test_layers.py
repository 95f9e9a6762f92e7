"""The layers are real: ruff's banned-import rules (pyproject.toml) refuse a layer crossing, and the
package's modules import each other without a circle."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "check_digitalsentry"


def ruff_bans(path: str, code: str) -> list[str]:
    """The banned-import findings ruff reports for ``code`` as if it were the file ``path``."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed (pip install '.[test]')")
    run = subprocess.run([ruff, "check", "--no-cache", "--select", "TID251", "--output-format", "concise",
                          "--stdin-filename", path, "-"], input=code, capture_output=True, text=True, cwd=REPO)
    return [line for line in run.stdout.splitlines() if "TID251" in line]


@pytest.mark.parametrize(("path", "code"), [
    ("check_digitalsentry/engine/sites.py", "import nagiosplugin"),
    ("check_digitalsentry/judge.py", "import pytest"),
    ("check_digitalsentry/schema.py", "from _pytest.config import Config"),
    ("check_digitalsentry/engine/probes.py", "from check_digitalsentry.simulator import SimSite"),
    ("check_digitalsentry/plugins.py", "from check_digitalsentry.cli import main"),
    ("check_digitalsentry/inventory.py", "import pytest_dsports.plugin"),
    ("check_digitalsentry/judge.py", "from check_digitalsentry.render import text"),
    ("check_digitalsentry/protocols/tds.py", "def f():\n    from check_digitalsentry.simulator import servers\n"),
    ("check_digitalsentry/render/text.py", "import nagiosplugin"),
    ("check_digitalsentry/render/json.py", "from check_digitalsentry.render.text import plain"),
    ("check_digitalsentry/render/openmetrics.py", "from check_digitalsentry.cli.glue import render"),
    ("check_digitalsentry/render/text.py", "from check_digitalsentry.submit import icinga2"),
    ("check_digitalsentry/judge.py", "from check_digitalsentry.submit.nagios import submit"),
    ("check_digitalsentry/steady.py", "from check_digitalsentry.render.watch import table"),
    ("check_digitalsentry/render/watch.py", "from check_digitalsentry.render.watchpage import snapshot"),
    ("check_digitalsentry/render/watchpage.py", "from check_digitalsentry.cli.serve import LiveServer"),
    ("check_digitalsentry/steady.py", "from check_digitalsentry.simulator import Simulator"),
])
def test_a_layer_crossing_is_refused(path: str, code: str) -> None:
    assert ruff_bans(path, code), f"ruff let {path} do: {code}"


@pytest.mark.parametrize(("path", "code"), [
    ("check_digitalsentry/cli/glue.py", "import nagiosplugin"),
    ("check_digitalsentry/cli/main.py", "from check_digitalsentry.simulator import SimSite"),
    ("pytest_dsports/plugin.py", "import pytest\nfrom check_digitalsentry.render.text import handover_table"),
    ("check_digitalsentry/render/text.py", "from check_digitalsentry.judge import advice"),
    ("check_digitalsentry/cli/submit.py", "from check_digitalsentry.submit import icinga2"),
    ("check_digitalsentry/submit/icinga2.py", "from check_digitalsentry.passive import Receipt"),
    ("check_digitalsentry/render/text.py", "from check_digitalsentry.passive import PassiveResult"),
    ("check_digitalsentry/render/watch.py", "from check_digitalsentry.steady import Watch"),
    ("check_digitalsentry/cli/watch.py", "from check_digitalsentry.render import watchpage"),
])
def test_the_layers_above_may(path: str, code: str) -> None:
    assert not ruff_bans(path, code)


#: What submit/ may import of both packages: the core and its own modules (ruff lets it import its own
#: package, so this test keeps it off the layers above and off the renderers).
SUBMIT_MAY = ("check_digitalsentry.submit", "check_digitalsentry.passive", "check_digitalsentry.files",
              "check_digitalsentry.protocols", "check_digitalsentry.schema", "check_digitalsentry.model",
              "check_digitalsentry.outputs")


@pytest.mark.parametrize("path", sorted((PACKAGE / "submit").glob("*.py")), ids=lambda path: path.name)
def test_submit_imports_the_core_and_itself_only(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    ours = {name for name in names if name.startswith(("check_digitalsentry.", "pytest_dsports"))}
    assert all(name.startswith(SUBMIT_MAY) for name in ours), ours
    assert not names & {"nagiosplugin", "pytest", "_pytest"}, names


def runtime_imports(path: Path, type_only: bool = False) -> set[str]:
    """The check_digitalsentry modules ``path`` imports when it runs (and with ``type_only`` also those it
    imports for type checking, under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING" \
                    and not type_only:
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                assert not child.level, f"{path}: a relative import (ruff bans them: see pyproject.toml)"
                base = child.module or ""
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return {name for name in found if name.startswith(("check_digitalsentry", "pytest_dsports"))}


def import_graph(type_only: bool) -> dict[str, set[str]]:
    """module -> the modules of both packages it imports (its own packages aside)."""
    modules = {}
    for path in [*PACKAGE.rglob("*.py"), *(REPO / "pytest_dsports").rglob("*.py")]:
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        # Importing a.b.c runs a/__init__ and a/b/__init__ first; a module's own packages are already
        # being imported when it runs, so an edge to them is not a circle.
        targets = {".".join(m.split(".")[:end]) for m in runtime_imports(path, type_only)
                   for end in range(1, m.count(".") + 2)}
        graph[name] = {m for m in targets if m in modules and m != name and not name.startswith(m + ".")}
    return graph


@pytest.mark.parametrize("type_only", [False, True], ids=["run-time", "type-only-too"])
def test_the_packages_have_no_import_circle(type_only: bool) -> None:
    """No circle, not even through imports made for the type checker alone: a module below never names
    one above, so the layers read bottom-up."""
    graph = import_graph(type_only)
    state: dict[str, int] = {}
    trail: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        trail.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                walk(nxt)
        trail.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert "check_digitalsentry.engine.sites" in graph  # the walk saw the tree
    assert graph["check_digitalsentry.plugins"] >= {"check_digitalsentry.engine.probes"}  # frontends' hooks


def test_every_module_says_what_layer_it_is() -> None:
    for path in [*PACKAGE.rglob("*.py"), *(REPO / "pytest_dsports").rglob("*.py")]:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, f"{path.relative_to(REPO)} has no module docstring"


#: The most lines a module of either package may have: past it, a module does more than one job.
MAX_LINES = 600


def test_no_module_is_over_600_lines() -> None:
    long = {str(path.relative_to(REPO)): count for path in [*PACKAGE.rglob("*.py"), *(REPO / "pytest_dsports").rglob("*.py")]
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these along a real seam: {long}"
