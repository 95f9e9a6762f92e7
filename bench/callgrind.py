#!/usr/bin/env python3
"""Start-up cost in instructions: callgrind's count of a healthy check of one simulated site, and of
``--version``, for an installed build -- a figure that, unlike CPU time, a loaded machine does not move.

    python bench/callgrind.py [--runs 3] [--json FILE] [--compare FILE]

Run it with the python of a virtual environment made by ``pip install .`` (NOT editable), as root (the
simulated site uses the standard ports 443 and 1434). It starts ``dsports-simulator --address ADDRESS
--ports standard --audio-clients 0 --no-api`` from that environment, then runs under ``valgrind
--tool=callgrind`` (a run at a time):

- ``healthy``: ``check_digitalsentry -H ADDRESS --web --sql-instance DIGITALSENTRY`` (exit 0, ``OK``);
- ``version``: ``check_digitalsentry --version`` (exit 3).

Each command runs once unmeasured (byte-code, page cache), then ``--runs`` times; the report gives the
median and the lowest count of each. The environment is this one less every ``PYTHON*`` variable (as
Icinga or Nagios start a plugin: ``PYTHONDONTWRITEBYTECODE`` would recompile every import), with
``PYTHONHASHSEED=0`` so that runs hash alike. ``--json FILE`` writes the figures; ``--compare FILE`` reads
an earlier ``--json`` (e.g. of main) and prints the change of each median in percent.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent  #: the venv's bin directory (not resolved: that would leave the venv)
ADDRESS = "127.0.0.61"
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    return env


def commands(address: str) -> dict[str, tuple[list[str], int, str]]:
    """name -> (argv, expected exit code, expected start of the output)."""
    check = str(BIN / "check_digitalsentry")
    return {
        "healthy": ([check, "-H", address, "--web", "--sql-instance", "DIGITALSENTRY"], 0, "DIGITALSENTRY OK - "),
        "version": ([check, "--version"], 3, "check_digitalsentry "),
    }


def instructions(argv: list[str], code: int, start: str) -> int:
    """callgrind's instruction count of one run of ``argv``; SystemExit when the run did not do its work."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("callgrind: valgrind is not installed (apt-get install valgrind)")
    run = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                         capture_output=True, text=True, env=environment(), timeout=600)
    if run.returncode != code or not run.stdout.startswith(start):
        sys.exit(f"callgrind: {' '.join(argv)} exited {run.returncode} (expected {code}):\n{run.stdout}"
                 f"{run.stderr[-2000:]}")
    found = COLLECTED.findall(run.stderr)
    if not found:
        sys.exit(f"callgrind: no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(found[-1])


def simulator(address: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([str(BIN / "dsports-simulator"), "--address", address, "--ports", "standard",
                             "--audio-clients", "0", "--no-api", "--duration", "3600"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment(),
                            start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("site "):
        proc.kill()
        sys.exit(f"callgrind: the simulator did not start (as root?): {line}{proc.stdout.read()[:500]}")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each command (default 3)")
    parser.add_argument("--address", default=ADDRESS, help=f"the simulated site's address (default {ADDRESS})")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures to FILE")
    parser.add_argument("--compare", type=Path, metavar="FILE", help="compare with an earlier --json FILE")
    args = parser.parse_args()
    if not (BIN / "check_digitalsentry").exists():
        sys.exit(f"callgrind: no check_digitalsentry next to {sys.executable}: run this with the python of a "
                 "venv made by pip install .")
    sim = simulator(args.address)
    figures: dict[str, dict[str, object]] = {}
    try:
        for name, (argv, code, start) in commands(args.address).items():
            instructions(argv, code, start)  # unmeasured: byte-code, page cache
            counts = []
            for _ in range(args.runs):
                counts.append(instructions(argv, code, start))
                time.sleep(0.2)
            figures[name] = {"median": int(statistics.median(counts)), "min": min(counts), "runs": counts}
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait(timeout=30)
        if sim.stdout is not None:
            sim.stdout.close()
    earlier = json.loads(args.compare.read_text()) if args.compare else {}
    print("| command | median instructions | lowest | runs |" + (" change of the median |" if earlier else ""))
    print("|---|---|---|---|" + ("---|" if earlier else ""))
    for name, figure in figures.items():
        row = f"| {name} | {figure['median']:,} | {figure['min']:,} | {len(figure['runs'])} |"  # type: ignore[arg-type]
        if name in earlier:
            before = earlier[name]["median"]
            row += f" {(figure['median'] - before) / before * 100:+.2f} % (was {before:,}) |"  # type: ignore[operator]
        print(row)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
