#!/usr/bin/env python3
"""Regenerate the pictures of the handover document in docs/handover.md (docs/handover-*.png).

Runs two simulated DS sites on loopback -- "hq", healthy, and "branch-1", with its video service down,
the diagnostics port closed and RDP answering where it must not -- checks them from an inventory as a
handover run does, renders the handover document (render.html), prints it to PDF with headless
Chromium, and turns its first page and branch-1's page into small PNGs with pdftoppm::

    python contrib/handover_screenshot.py            # writes docs/handover-summary.png, docs/handover-site.png
    python contrib/handover_screenshot.py --keep DIR # also keeps report.html and report.pdf in DIR

Needs chromium and pdftoppm (Debian: chromium, poppler-utils).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from check_digitalsentry import __version__
from check_digitalsentry.engine import probe_sites
from check_digitalsentry.inventory import load_inventory
from check_digitalsentry.judge import JudgedRun
from check_digitalsentry.model import RunInfo
from check_digitalsentry.render import html
from check_digitalsentry.simulator import STANDARD_PORTS, SimSite, Simulator

REPO = Path(__file__).resolve().parent.parent
#: Headless Chromium on a machine without a network: no background connections, a fresh profile.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INVENTORY = """\
[defaults]
customer = "Example Logistics Ltd"
forbid = ["3389/tcp", "445/tcp"]

[[sites]]
name = "hq"
description = "Head office, server room 1"
location = "1 Example Street, Springfield"
reference = "PO 4711 / handover 2026-11"
hosts = ["127.0.0.10"]
sql_instance = "DIGITALSENTRY"
web = true
api = true
audio_clients = 1
[sites.ports]
web = 10443

[[sites]]
name = "branch-1"
description = "Branch office 1, behind NAT"
location = "12 Sample Road, Shelbyville"
reference = "PO 4711 / handover 2026-11"
hosts = ["127.0.0.11"]
sql_instance = "DIGITALSENTRY"
"""


def chromium_pdf(page: Path, pdf: Path, profile: Path) -> None:
    subprocess.run([shutil.which("chromium") or "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                    "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)


def page_png(pdf: Path, number: int, out: Path, dpi: int) -> None:
    stem = out.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(number), "-l", str(number), "-singlefile",
                    str(pdf), str(stem)], check=True, timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="also keep report.html and report.pdf in this directory")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go (default docs/)")
    parser.add_argument("--dpi", type=int, default=80, help="resolution of the PNGs (default 80)")
    args = parser.parse_args(argv)
    os.environ["TZ"] = "Europe/Berlin"  # the pictures show local time with its offset, as an integrator's laptop
    time.tzset()
    hq = SimSite(name="hq", address="127.0.0.10", audio_clients=1, ports={**STANDARD_PORTS, "web": 10443})
    branch = SimSite(name="branch-1", address="127.0.0.11", audio_clients=0, roles=("sql-browser", "sql", "video",
                     "diagnostics"), ports=STANDARD_PORTS, faults={"video": "off", "diagnostics": "off"})
    with tempfile.TemporaryDirectory() as tmp, Simulator([hq, branch]), socket.socket() as rdp:
        work = Path(tmp)
        rdp.bind(("127.0.0.11", 3389))  # a remote desktop that answers where it must not
        rdp.listen()
        inventory_path = work / "sites.toml"
        inventory_path.write_text(INVENTORY, encoding="utf-8")
        inventory = load_inventory(inventory_path)
        started = time.time()
        reports = probe_sites(inventory.sites, deadline=time.monotonic() + 5)
        run = JudgedRun.of(reports, time.time() - started)
        info = RunInfo(tester="A. Integrator", host_name="handover-laptop", started=started, ended=run.checked_at,
                       tool=f"pytest_dsports {__version__}", inventories=[("sites.toml", inventory.sha256)],
                       command="pytest --dsports-inventory sites.toml --dsports-report handover.html")
        page = work / "report.html"
        page.write_text(html.render(run, info), encoding="utf-8")
        pdf = work / "report.pdf"
        chromium_pdf(page, pdf, work / "profile")
        args.out.mkdir(parents=True, exist_ok=True)
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        branch_page = next(i for i, p in enumerate(text.split("\f"), 1) if "Site 2 of 2: branch-1" in p)
        for name, number in (("handover-summary.png", 1), ("handover-site.png", branch_page)):
            page_png(pdf, number, args.out / name, args.dpi)
            print(f"{args.out / name}: page {number}, {(args.out / name).stat().st_size} bytes")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(page, args.keep / "report.html")
            shutil.copy(pdf, args.keep / "report.pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
