"""README.md promises things that code produces: keep them in step."""

from __future__ import annotations

import runpy
import sys

from conftest import REPO


def test_the_fault_table_in_the_readme_is_what_the_code_produces() -> None:
    sys.path.insert(0, str(REPO / "contrib"))
    try:
        fault_table = runpy.run_path(str(REPO / "contrib" / "fault_table.py"))
    finally:
        sys.path.remove(str(REPO / "contrib"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = fault_table["START"], fault_table["END"]
    assert start in readme and end in readme, "the README lost its fault-table markers"
    documented = readme.split(start, 1)[1].split(end, 1)[0].strip()
    regenerate = "regenerate: python contrib/fault_table.py --update README.md"
    assert documented == fault_table["table"]().strip(), regenerate
