#!/usr/bin/env python3
"""Regenerate the examples of README.md and docs/*.md by running them: each names the simulated sites it
ran against (the exact ``dsports-simulator`` commands, faults included) and the files it read, so that a
reader reproduces every output shown.

Each example is a region of its page (``Example.doc``) between ``<!-- example NAME (...) -->`` and
``<!-- /example -->``: the simulator commands, the files (as code blocks), and the commands with their
output. This script starts the simulators (on the ``high`` port layout, or ephemeral ports: any user can
run it), writes the files into an empty directory, runs the commands there with the installed
``check_digitalsentry``, ``pytest`` and ``dsports-simulator``, and writes the regions. Usage:

    python contrib/readme_examples.py                          # print every region
    python contrib/readme_examples.py --update                 # rewrite every region of every page
    python contrib/readme_examples.py --update docs/check.md   # only that page's
    python contrib/readme_examples.py NAME...                  # only these examples

``tests/test_readme.py`` runs the same examples and compares them with the pages, digits aside
(times, ports and sizes vary from run to run; words, states and structure must not).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The simulator's "high" layout moves these two roles off their privileged ports (1434/udp, 443/tcp):
#: any user can start it. An inventory of simulated sites says so once, in [defaults.ports].
HIGH_PORTS = """\
[defaults.ports]        # the simulated sites' unprivileged ports (dsports-simulator --ports high);
sql-browser = 11434     # a real DS server needs none of this
web = 10443
"""
HIGH_OPTIONS = "--port sql-browser=11434 --port web=10443"

HANDOVER_TOML = """\
[defaults]
timeout = 5
forbid = ["3389/tcp", "445/tcp"]   # RDP and SMB must not be reachable from the client network
""" + HIGH_PORTS + """
[[sites]]
name = "hq"
description = "Head office"
customer = "Example Logistics Ltd"        # customer, location, reference: for the handover document
location = "1 Example Street, Springfield"
reference = "PO 4711"
hosts = ["127.0.0.10"]
sql_instance = "DIGITALSENTRY"
web = true
api = true
audio_clients = 1

[[sites]]
name = "branch-1"
description = "Branch 1, behind NAT"
hosts = ["127.0.0.11"]
sql_instance = "DIGITALSENTRY"
"""

#: Two sites, hq (with DSWebService) and branch-1.
HQ_AND_BRANCH = """
[[sites]]
name = "hq"
hosts = ["127.0.0.10"]
sql_instance = "DIGITALSENTRY"
web = true

[[sites]]
name = "branch-1"
hosts = ["127.0.0.11"]
sql_instance = "DIGITALSENTRY"
"""
FIRST_HANDOVER_TOML = "[defaults]\ntimeout = 5\n" + HIGH_PORTS + HQ_AND_BRANCH
TWO_TOML = HIGH_PORTS + HQ_AND_BRANCH + "timeout = 5\n"

MISTAKE_TOML = """\
[[sites]]
name = "hq"
hosts = ["ds01.example.com"]
[sites.ports]
vidoe = 28772
"""

HEALTHY = "dsports-simulator --address 127.0.0.10 --ports high"
BROKEN = "dsports-simulator --address 127.0.0.11 --ports high --fault sql=tarpit --fault video=off " \
         "--fault diagnostics=off"
BRANCH = "dsports-simulator --address 127.0.0.11 --ports high --no-api --audio-clients 0 --fault video=off " \
         "--fault sql-browser=wrong-instance"
HQ_FIRST = "dsports-simulator --address 127.0.0.10 --ports high --no-api --audio-clients 0"
BRANCH_FIRST = "dsports-simulator --address 127.0.0.11 --ports high --no-web --no-api --audio-clients 0 " \
               "--fault video=off"
VIDEO_OFF = "dsports-simulator --address 127.0.0.11 --ports high --fault video=off"
HQ_HIGH = "dsports-simulator --name hq --address 127.0.3.1 --ports high --inventory hq.toml"
BRANCH_HIGH = "dsports-simulator --name branch --address 127.0.3.2 --ports high --fault video=off " \
              "--inventory branch.toml"
CRON_SITE = "dsports-simulator --name hq --address 127.0.3.1 --ports high --audio-clients 0 --fault video=off " \
            "--inventory sites.toml"


class Example:
    """One example of a page (``doc``, relative to the repository): simulators to start, files to write,
    commands to run (``cwd`` is where the page says they ran: the run's own directory is shown as that)."""

    def __init__(self, name: str, doc: str, commands: list[str], simulators: tuple[str, ...] = (),
                 files: dict[str, str] | None = None, setup: tuple[str, ...] = (), cwd: str = "",
                 shown_files: tuple[str, ...] = ()) -> None:
        self.name = name
        self.doc = doc
        self.commands = commands
        self.simulators = simulators
        self.files = files or {}
        self.setup = setup  #: shell commands run (and shown) after the simulators started
        self.cwd = cwd
        self.shown_files = shown_files  #: files whose content the region shows

    @property
    def start(self) -> str:
        return f"<!-- example {self.name} (python contrib/readme_examples.py --update {self.doc}) -->"


END = "<!-- /example -->"
#: How every region starts, whatever its example and page.
START = "<!-- example "
README, CHECK, ADMIN, INVENTORY, HANDOVER = ("README.md", "docs/check.md", "docs/admin.md", "docs/inventory.md",
                                            "docs/handover.md")

EXAMPLES = [
    Example("demo", README, ["check_digitalsentry --demo"]),
    Example("first-check", README, [f"check_digitalsentry -H 127.0.0.11 {HIGH_OPTIONS} "
                                    "--sql-instance DIGITALSENTRY --web --api -t 5"], (VIDEO_OFF,)),
    Example("first-handover", README, ["pytest --dsports-inventory sites.toml --dsports-report handover.html "
                                       "--dsports-tester 'A. Integrator'"],
            (HQ_FIRST, BRANCH_FIRST), files={"sites.toml": FIRST_HANDOVER_TOML, "pytest.ini": "[pytest]\n"},
            cwd="/home/you/handover", shown_files=("sites.toml",)),
    Example("first-cron", README, ["check_digitalsentry --inventory sites.toml --quiet"], (CRON_SITE,)),
    Example("usage-error", CHECK, ["check_digitalsentry -H 127.0.0.10 --port vidoe=28772",
                                   "check_digitalsentry -H 127.0.0.10 --sql-instace DIGITALSENTRY"]),
    Example("healthy", CHECK, [f"check_digitalsentry -H 127.0.0.10 {HIGH_OPTIONS} --sql-instance DIGITALSENTRY "
                               "--web --api --audio-clients 2 -v"], (HEALTHY,)),
    Example("broken", CHECK, [f"check_digitalsentry -H 127.0.0.11 {HIGH_OPTIONS} --sql-instance DIGITALSENTRY "
                              "--web --api -t 5"], (BROKEN,)),
    Example("instance-and-forbid", CHECK, [
        f"check_digitalsentry -H 127.0.0.10 {HIGH_OPTIONS} --sql-instance SQLEXPRESS -t 3",
        f"check_digitalsentry -H 127.0.0.10 {HIGH_OPTIONS} --sql-instance DIGITALSENTRY --web --forbid 3389/tcp "
        "--forbid 18772/tcp",
    ], (HEALTHY,)),
    Example("icinga-objects", ADMIN, [
        "check_digitalsentry --inventory /etc/digitalsentry/sites.toml --icinga2-objects --site branch "
        "--role video --role sql",
        "check_digitalsentry --inventory sites.toml --site branch --role video",
        "check_digitalsentry --inventory sites.toml --site branch --role sql",
    ], (HQ_HIGH, BRANCH_HIGH), setup=("cat hq.toml branch.toml > sites.toml",), cwd="/etc/digitalsentry"),
    Example("submit-nagios", ADMIN, [
        "check_digitalsentry --inventory sites.toml --submit nagios --command-file nagios.cmd",
        "sleep 1; cat received.txt   # once cat has read to the end",
    ], (HQ_HIGH, BRANCH_HIGH), setup=(
        "cat hq.toml branch.toml > sites.toml",
        "mkfifo nagios.cmd; (cat nagios.cmd > received.txt &); sleep 1   # cat reads the FIFO as Nagios would",
    )),
    Example("submit-icinga-down", ADMIN, [
        "check_digitalsentry --inventory sites.toml --submit icinga2 --api-url https://127.0.0.1:5665 "
        "--api-user check_digitalsentry --api-password-file api.password -t 3",
    ], (HQ_HIGH, BRANCH_HIGH), setup=(
        "cat hq.toml branch.toml > sites.toml",
        "echo 'the-password' > api.password; chmod 600 api.password",
    )),
    Example("inventory-mistake", INVENTORY, ["check_digitalsentry --inventory sites.toml"],
            files={"sites.toml": MISTAKE_TOML}, shown_files=("sites.toml",)),
    Example("two-sites", INVENTORY, ["check_digitalsentry --inventory two.toml"], (HEALTHY, BROKEN),
            files={"two.toml": TWO_TOML}, shown_files=("two.toml",)),
    Example("handover", HANDOVER, ["pytest --dsports-inventory sites.toml --junitxml=handover.xml "
                                   "--dsports-report handover.html --dsports-tester 'A. Integrator'"],
            (HEALTHY, BRANCH),
            files={"sites.toml": HANDOVER_TOML, "pytest.ini": "[pytest]\n"}, cwd="/srv/handover",
            shown_files=("sites.toml",)),
    Example("handover-one-site", HANDOVER, ["pytest --dsports-inventory sites.toml --dsports-site hq -v"],
            (HEALTHY,), files={"sites.toml": HANDOVER_TOML, "pytest.ini": "[pytest]\n"}, cwd="/srv/handover"),
    Example("adhoc-mistake", HANDOVER, ['pytest --dsports-host "ds01.example.com ports.vidoe=28772"',
                                        "pytest --dsports-host 'ds01 ds02'"],
            files={"pytest.ini": "[pytest]\n"}, cwd="/srv/handover"),
]

#: Lines of pytest's header that name this machine's versions and plugins: shown, never compared.
MACHINE_LINES = ("platform ", "rootdir: ", "plugins: ", "cachedir: ", "configfile: ")


def _bin() -> str:
    return os.path.dirname(sys.executable)


def _start(command: str, cwd: Path) -> subprocess.Popen[str]:
    argv = shlex.split(command)
    argv[0] = os.path.join(_bin(), argv[0])
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "site NAME on ADDRESS: ..." once it serves
    if not line.startswith("site "):
        proc.kill()
        raise SystemExit(f"readme_examples: {command!r} did not start: {line.strip()} {proc.stdout.read()[:500]}")
    while line and "site(s) up" not in line:  # its last word (stderr): --inventory's file is written by then
        line = proc.stdout.readline()
    return proc


def run(example: Example) -> str:
    """The example's region: what it ran against, and each command with its output."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for name, text in example.files.items():
            (where / name).write_text(text, encoding="utf-8")
        sims = [_start(command, where) for command in example.simulators]
        try:
            env = {**os.environ, "PATH": _bin() + os.pathsep + os.environ.get("PATH", ""), "COLUMNS": "100",
                   "LC_ALL": "C.UTF-8", "PYTEST_ADDOPTS": "-p no:cacheprovider", "PY_COLORS": "0"}
            env.pop("CI", None)
            for command in example.setup:
                subprocess.run(command, shell=True, cwd=where, env=env, check=True)
            transcript = []
            for command in example.commands:
                shown = command
                if example.cwd:
                    command = command.replace(example.cwd, str(where))
                done = subprocess.run(command, shell=True, cwd=where, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, timeout=120)  # as a terminal shows
                out = done.stdout.replace(_bin() + os.sep, ".venv/bin/")  # no path of this machine in the README
                if example.cwd:
                    out = out.replace(str(where.resolve()), example.cwd).replace(str(where), example.cwd)
                transcript.append(f"$ {shown}\n{out}")
        finally:
            for sim in sims:
                sim.terminate()
                sim.wait(timeout=15)
                if sim.stdout is not None:
                    sim.stdout.close()
    parts = [example.start]
    if example.simulators or example.setup:
        lines = [f"{command} &" for command in example.simulators] + list(example.setup)
        parts += ["```sh", *lines, "```"]
    for name in example.shown_files:
        parts += ["```toml", f"# {name}", example.files[name].rstrip("\n"), "```"]
    parts += ["```", "".join(transcript).rstrip("\n"), "```", END]
    return "\n".join(parts)


def regions(doc: str) -> dict[str, str]:
    """The example regions of a page's text, by name."""
    found = {}
    for example in EXAMPLES:
        if example.start in doc:
            found[example.name] = example.start + doc.split(example.start, 1)[1].split(END, 1)[0] + END
    return found


def comparable(region: str) -> str:
    """A region with what varies from run to run taken out: digits, runs of spaces, machine lines."""
    lines = [line for line in region.splitlines() if not line.startswith(MACHINE_LINES)]
    text = re.sub(r"\d+", "N", "\n".join(lines))
    text = re.sub(r"-+|=+|_+", "-", text)  # pytest's rulers are as long as the words in them
    return re.sub(r"[ \t]+", " ", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", metavar="PAGE", nargs="?", const="", type=str,
                        help="rewrite the regions in place: of every page, or of this one (README.md, docs/...)")
    parser.add_argument("names", nargs="*", help="only these examples")
    args = parser.parse_args()
    chosen = [e for e in EXAMPLES if (not args.names or e.name in args.names)
              and (not args.update or e.doc == args.update)]
    if args.update and not chosen:
        raise SystemExit(f"readme_examples: no example is on {args.update} (pages: "
                         f"{', '.join(sorted({e.doc for e in EXAMPLES}))})")
    made = {example.name: run(example) for example in chosen}
    if args.update is None:
        print("\n\n".join(made.values()))
        return
    for page in sorted({example.doc for example in chosen}):
        path = REPO / page
        doc = path.read_text(encoding="utf-8")
        have = regions(doc)
        for example in (e for e in chosen if e.doc == page):
            if example.name not in have:
                raise SystemExit(f"readme_examples: {page} has no region {example.name!r}: add the line "
                                 f"{example.start} and {END}")
            doc = doc.replace(have[example.name], made[example.name])
        path.write_text(doc, encoding="utf-8")


if __name__ == "__main__":
    main()
