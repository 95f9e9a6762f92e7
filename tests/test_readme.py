"""README.md promises things that code produces: keep them in step."""

from __future__ import annotations

import runpy
import sys

from conftest import REPO


def _table(script: str) -> None:
    """The README's region that ``contrib/SCRIPT`` generates is what it generates now."""
    sys.path.insert(0, str(REPO / "contrib"))
    try:
        generator = runpy.run_path(str(REPO / "contrib" / script))
    finally:
        sys.path.remove(str(REPO / "contrib"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = generator["START"], generator["END"]
    assert start in readme and end in readme, f"the README lost the markers of {script}"
    documented = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert documented == generator["table"]().strip(), f"regenerate: python contrib/{script} --update README.md"


def test_the_fault_table_in_the_readme_is_what_the_code_produces() -> None:
    _table("fault_table.py")


def test_the_role_table_in_the_readme_is_the_catalogue() -> None:
    _table("role_table.py")
    from check_digitalsentry.catalogue import ROLES

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert all(f"| `{role.name}` |" in readme for role in ROLES)


def _examples() -> dict[str, object]:
    sys.path.insert(0, str(REPO / "contrib"))
    try:
        return runpy.run_path(str(REPO / "contrib" / "readme_examples.py"))
    finally:
        sys.path.remove(str(REPO / "contrib"))


def test_every_readme_example_is_what_the_code_produces_against_the_simulators_it_names() -> None:
    """Each example region names its simulators and files; run them again and compare, digits aside
    (times, ports and sizes vary from run to run; words, states and structure must not)."""
    import os

    import pytest

    if os.geteuid() != 0:
        pytest.skip("the README's examples run simulators on the standard ports (443, 1434): needs root")
    examples = _examples()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    documented = examples["regions"](readme)
    names = [example.name for example in examples["EXAMPLES"]]
    assert sorted(documented) == sorted(names), "regenerate: python contrib/readme_examples.py --update README.md"
    comparable = examples["comparable"]
    for example in examples["EXAMPLES"]:
        made = examples["run"](example)
        assert comparable(documented[example.name]) == comparable(made), (
            f"README example {example.name!r} is stale; regenerate: python contrib/readme_examples.py --update "
            f"README.md\n--- README\n{documented[example.name]}\n--- now\n{made}")


def test_every_command_shown_with_output_is_in_an_example_region() -> None:
    """No hand-written output: a '$ command' line followed by output lives inside a generated region."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    outside = readme
    for region in _examples()["regions"](readme).values():
        outside = outside.replace(region, "")
    for block in outside.split("```")[1::2]:
        lines = block.splitlines()[1:]
        for index, line in enumerate(lines[:-1]):
            if line.startswith("$ ") and not lines[index + 1].startswith("$ "):
                raise AssertionError(f"README shows output of {line!r} outside an example region")
