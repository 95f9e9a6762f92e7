#!/usr/bin/env python3
"""Regenerate the table "simulator fault -> status per role" of docs/simulator.md by running the code.

Every simulator fault becomes one simulated site (its own loopback address), all of them are probed in
one engine run, and each site's results are judged as the check plugin judges them. Usage:

    python contrib/fault_table.py              # print the markdown table
    python contrib/fault_table.py --update docs/simulator.md   # rewrite the table between its markers
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from check_digitalsentry.catalogue import BUILTIN_ROLE_NAMES
from check_digitalsentry.engine import probe_sites
from check_digitalsentry.judge import judge_report, worst
from check_digitalsentry.simulator import FAULTS

START = "<!-- fault-table:start (python contrib/fault_table.py --update docs/simulator.md) -->"
END = "<!-- fault-table:end -->"
TIMEOUT = 2.0


def cases() -> list[tuple[str, dict[str, str]]]:
    """(label, faults) for the healthy site and every single fault the simulator offers."""
    found = [("none (healthy)", {})]
    found += [(f"{role} {fault}", {role: fault}) for role, faults in FAULTS.items() for fault in faults]
    return found


#: Each simulated site runs in a process of its own, as each DS server is a machine of its own: sharing
#: one event loop (or this process) with the others, a fault that acts within milliseconds of the
#: handshake (``reset``) could come after the probe has settled on a busy machine.
SERVE = """
import json, sys
from check_digitalsentry.simulator import SimSite, Simulator
index, faults = json.loads(sys.argv[1])
site = SimSite(name=f"case{index}", address=f"127.0.90.{index + 1}", audio_clients=1, faults=faults)
with Simulator([site]) as sim:
    print(sim.inventory_toml(), "END", sep="", flush=True)
    sys.stdin.read()  # serve until the caller closes our stdin
"""


def table() -> str:
    import json
    import subprocess

    from check_digitalsentry.inventory import parse_inventory

    rows = cases()
    servers = [subprocess.Popen([sys.executable, "-c", SERVE, json.dumps([index, faults])],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for index, (_, faults) in enumerate(rows)]
    try:
        models = []
        for server in servers:
            assert server.stdout is not None
            models += parse_inventory("".join(iter(server.stdout.readline, "END\n")), "simulator").sites
        for model in models:
            model.timeout = TIMEOUT
        reports = probe_sites(models)
    finally:
        for server in servers:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.close()
            server.wait(timeout=30)
            server.stdout.close()
    head = ["fault", *BUILTIN_ROLE_NAMES, "check"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (label, _), report in zip(rows, reports):
        verdicts = judge_report(report)
        cells = []
        for role in BUILTIN_ROLE_NAMES:
            statuses = [str(v.result.status) for v in verdicts if v.result.role == role]
            marked = [s if not any(v.result.role == role and not v.ok and str(v.result.status) == s
                                   for v in verdicts) else f"**{s}**" for s in statuses]
            cells.append(", ".join(dict.fromkeys(marked)) or "-")
        lines.append(f"| {label} | " + " | ".join(c.replace("|", "\\|") for c in cells)
                     + f" | {worst(verdicts)} |")
    return "\n".join(lines) + "\n"


def update(path: Path, text: str, start: str = START, end: str = END) -> None:
    """Rewrite the region of ``path`` between the markers ``start`` and ``end`` with ``text``."""
    doc = path.read_text(encoding="utf-8")
    if start not in doc or end not in doc:
        sys.exit(f"{path}: the markers {start!r} and {end!r} are missing")
    before, rest = doc.split(start, 1)
    _, after = rest.split(end, 1)
    path.write_text(f"{before}{start}\n{text}{end}{after}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", metavar="PAGE", type=Path, help="rewrite the table in this file")
    args = parser.parse_args()
    text = table()
    if args.update:
        update(args.update, text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
