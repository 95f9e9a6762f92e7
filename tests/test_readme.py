"""README.md and docs/*.md promise things that code produces: keep them in step.

Every example with output is a generated region of its page (``contrib/readme_examples.py``), run again
here against the simulators it names; the fault table is ``contrib/fault_table.py``'s; every relative
link and anchor resolves; and CI runs the README's Quick start exactly as it stands.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest
from conftest import REPO

#: The pages of the documentation: the front door and what it links to.
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])


def _contrib(name: str) -> dict[str, object]:
    sys.path.insert(0, str(REPO / "contrib"))
    try:
        return runpy.run_path(str(REPO / "contrib" / name))
    finally:
        sys.path.remove(str(REPO / "contrib"))


def test_the_fault_table_is_what_the_code_produces() -> None:
    fault_table = _contrib("fault_table.py")
    start, end = fault_table["START"], fault_table["END"]
    assert isinstance(start, str) and isinstance(end, str)
    page = re.search(r"--update (\S+)\)", start)
    assert page, start
    text = (REPO / page[1]).read_text(encoding="utf-8")
    assert text.count(start) == 1 and end in text, f"{page[1]} lost its fault-table markers"
    assert not [p.name for p in PAGES if p != REPO / page[1] and start in p.read_text(encoding="utf-8")]
    documented = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert documented == fault_table["table"]().strip(), f"regenerate: python contrib/fault_table.py --update {page[1]}"  # type: ignore[operator]


def test_the_role_table_is_the_catalogue() -> None:
    role_table = _contrib("role_table.py")
    start, end = role_table["START"], role_table["END"]
    assert isinstance(start, str) and isinstance(end, str)
    page = re.search(r"--update (\S+)\)", start)
    assert page, start
    text = (REPO / page[1]).read_text(encoding="utf-8")
    assert text.count(start) == 1 and end in text, f"{page[1]} lost its role-table markers"
    documented = text.split(start, 1)[1].split(end, 1)[0].strip()
    assert documented == role_table["table"]().strip(), f"regenerate: python contrib/role_table.py --update {page[1]}"  # type: ignore[operator]
    from check_digitalsentry.catalogue import ROLES

    assert all(f"| `{role.name}` |" in documented for role in ROLES)


def _regions() -> tuple[dict[str, object], dict[str, str]]:
    """readme_examples' namespace, and every page's example regions by example name."""
    examples = _contrib("readme_examples.py")
    found: dict[str, str] = {}
    for page in PAGES:
        for name, region in examples["regions"](page.read_text(encoding="utf-8")).items():  # type: ignore[operator]
            assert name not in found, f"example {name!r} is on two pages"
            found[name] = region
    return examples, found


def test_every_example_region_is_on_its_page_once() -> None:
    examples, found = _regions()
    declared = {example.name: example.doc for example in examples["EXAMPLES"]}  # type: ignore[attr-defined]
    assert sorted(found) == sorted(declared), "regenerate: python contrib/readme_examples.py --update"
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for name, doc in declared.items():
            if examples["regions"](text).get(name):  # type: ignore[operator]
                assert page == REPO / doc, f"example {name} belongs on {doc}, not {page.relative_to(REPO)}"
        starts = text.count(examples["START"])  # type: ignore[arg-type]
        assert starts == len(examples["regions"](text)) == text.count(examples["END"]), (  # type: ignore[operator, arg-type]
            f"{page.relative_to(REPO)}: a region marker that names no example")


@pytest.mark.slow
def test_every_example_is_what_the_code_produces_against_the_simulators_it_names() -> None:
    """Each example region names its simulators and files; run them again and compare, digits aside
    (times, ports and sizes vary from run to run; words, states and structure must not). The simulators
    run on unprivileged ports: this runs as any user."""
    examples, documented = _regions()
    comparable = examples["comparable"]
    for example in examples["EXAMPLES"]:  # type: ignore[attr-defined]
        made = examples["run"](example)  # type: ignore[operator]
        assert comparable(documented[example.name]) == comparable(made), (  # type: ignore[operator]
            f"{example.doc}: example {example.name!r} is stale; regenerate: python contrib/readme_examples.py "
            f"--update {example.doc}\n--- page\n{documented[example.name]}\n--- now\n{made}")


def test_every_command_shown_with_output_is_in_an_example_region() -> None:
    """No hand-written output: a '$ command' line followed by output lives inside a generated region."""
    examples = _contrib("readme_examples.py")
    for page in PAGES:
        outside = page.read_text(encoding="utf-8")
        for region in examples["regions"](outside).values():  # type: ignore[operator]
            outside = outside.replace(region, "")
        for block in outside.split("```")[1::2]:
            lines = block.splitlines()[1:]
            for index, line in enumerate(lines[:-1]):
                if line.startswith("$ ") and not lines[index + 1].startswith("$ "):
                    raise AssertionError(f"{page.relative_to(REPO)} shows output of {line!r} outside an example "
                                         "region")


def test_no_simulator_instruction_needs_root_unless_it_says_so() -> None:
    """Non-root first: a simulator on the standard ports (443, 1434 are privileged) is shown only as root's
    (with sudo, or in a paragraph that says root), beside the way any user runs it."""
    for page in PAGES:  # bench/README.md: the benchmark as a whole needs root, and says so first
        text = page.read_text(encoding="utf-8")
        for paragraph in re.split(r"\n\s*\n", text):
            for line in paragraph.splitlines():
                if "dsports-simulator" in line and "--ports standard" in line:
                    assert "sudo " in line or re.search(r"\broot\b", paragraph), (page.name, line)


# --- links --------------------------------------------------------------------------------------------

MARKDOWN = sorted(p for p in REPO.rglob("*.md") if not any(part.startswith(".") for part in
                                                              p.relative_to(REPO).parts))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than '-' and '_' dropped, spaces as '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings (outside code blocks), numbered as GitHub numbers repeats."""
    found: set[str] = set()
    for block, text in enumerate(page.read_text(encoding="utf-8").split("```")):
        if block % 2:
            continue
        for heading in re.findall(r"(?m)^#{1,6} (.+)$", text):
            base = slug(heading)
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def links(page: Path) -> list[str]:
    """The targets of a page's links and images, outside code blocks and code spans."""
    prose = "".join(part for index, part in enumerate(page.read_text(encoding="utf-8").split("```"))
                    if index % 2 == 0)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return re.findall(r"\]\(([^)\s]+)\)", prose)


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto: -- not ours to check offline
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(REPO)}: link to {target}: no such file"
        assert resolved == REPO or REPO in resolved.parents, f"{page.relative_to(REPO)}: {target} leaves the repository"
        if anchor:
            assert resolved.suffix == ".md", f"{page.relative_to(REPO)}: {target}: an anchor into a non-page"
            assert anchor in anchors(resolved), (f"{page.relative_to(REPO)}: link to {target}: no heading has that "
                                                 f"anchor (has: {sorted(anchors(resolved))})")


def test_the_readme_links_every_docs_page_and_stays_short() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for target in links(REPO / "README.md")}
    assert {f"docs/{page.name}" for page in (REPO / "docs").glob("*.md")} <= linked
    assert len(readme.splitlines()) <= 300, "the README is the front door: depth goes to docs/"


# --- the Quick start is what CI runs ------------------------------------------------------------------


def test_ci_runs_the_quick_start_as_written_as_root_and_as_an_unprivileged_user() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    install = readme.split("\n## Install\n", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0].strip()
    quick = readme.split("\n## Quick start\n", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    test_command = [line.split("#")[0].strip() for line in quick.splitlines() if line.startswith("pytest")]
    assert install == "python3 -m venv .venv && . .venv/bin/activate && pip install '.[test]'", install
    assert test_command == ["pytest"], quick
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines()]
    assert lines.count(install) == 2 and lines.count("pytest") == 2, "CI: the Quick start, as root and as a user"
    unprivileged = ci.split("runuser -u", 1)
    assert len(unprivileged) == 2 and install in ci.split("quick_start=", 1)[1].split("runuser", 1)[0]
