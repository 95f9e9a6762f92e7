"""Judged runs made by hand (no network) for the handover document's tests: any number of sites, ports,
hostile strings and facts; and the tools that look at a rendered report (headless Chromium, pdftotext,
a PNG reader)."""

from __future__ import annotations

import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

from conftest import need_program

from check_digitalsentry.engine.sites import SiteReport
from check_digitalsentry.judge import JudgedRun, JudgedSite
from check_digitalsentry.model import PortResult, PortSpec, RunInfo, State, Status
from check_digitalsentry.schema import Site

STARTED = 1_795_000_000.0  #: 2026-11-18 11:06:40 UTC
#: Headless Chromium on a machine whose network is closed: no background connections, a fresh profile.
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def info(**changes: object) -> RunInfo:
    values: dict[str, object] = {
        "tester": "Jane Doe", "host_name": "laptop-7", "started": STARTED, "ended": STARTED + 12.5,
        "tool": "pytest_dsports 0.1.0", "inventories": [("sites.toml", "ab" * 32)],
        "command": "pytest --dsports-inventory sites.toml"}
    values.update(changes)
    return RunInfo(**values)  # type: ignore[arg-type]


def port(role: str, number: int | None, status: Status, *, host: str = "ds01.example.com", detail: str = "",
         transport: str = "tcp", severity: State = State.CRITICAL, forbidden: bool = False,
         seconds: float | None = None, facts: dict[str, object] | None = None,
         source: str | None = "192.0.2.50") -> PortResult:
    spec = PortSpec(role, number, transport, severity, forbidden)
    answered = seconds if seconds is not None else (0.0042 if status is Status.OPEN else None)
    return PortResult(spec, host, "192.0.2.10" if status is not Status.UNRESOLVED else None, status, answered,
                      detail or f"{role} said {status}", facts, source=source if status is not Status.UNRESOLVED
                      else None)


def healthy_results(host: str = "ds01.example.com") -> list[PortResult]:
    return [
        port("sql-browser", 1434, Status.OPEN, host=host, transport="udp",
             facts={"instances": [{"instance": "DIGITALSENTRY", "version": "15.0.2000.5", "tcp_port": 49172}],
                    "instance": "DIGITALSENTRY", "sql_ports": [("DIGITALSENTRY", 49172)]}),
        port("sql", 49172, Status.OPEN, host=host, facts={
            "sql_version": "15.0.2000.5", "sql_product": "SQL Server 2019", "sql_encryption": "ENCRYPT_OFF",
            "instance": "DIGITALSENTRY", "sql_port_from": "browser"}),
        port("video", 18772, Status.OPEN, host=host),
        port("diagnostics", 17772, Status.OPEN, host=host, severity=State.WARNING),
        port("web", 443, Status.OPEN, host=host, facts={
            "tls_version": "TLSv1.3", "tls_subject": "CN=ds01.example.com", "tls_issuer": "CN=Example CA",
            "tls_not_after": "2027-03-01T00:00:00Z", "tls_days_left": 20, "tls_self_signed": False}),
        port("audio", 18778, Status.OPEN_FILTERED, host=host, transport="udp", severity=State.OK,
             detail="no reply and no ICMP error to 3 datagrams in 1.5 s: open and silent, or dropped by a firewall"),
        port("forbid", 3389, Status.CLOSED, host=host, forbidden=True, detail="connection refused (TCP reset)"),
    ]


def judged_site(name: str, results: list[PortResult], **settings: object) -> JudgedSite:
    hosts = tuple(dict.fromkeys(r.host for r in results)) or ("ds01.example.com",)
    return JudgedSite(SiteReport(Site(name, hosts, **settings), results, 1.25, 10.0))


def two_sites() -> JudgedRun:
    """A healthy site and a broken one (video closed, diagnostics closed, RDP reachable)."""
    broken = healthy_results("ds02.example.com")
    broken[2] = port("video", 18772, Status.CLOSED, host="ds02.example.com",
                     detail="connection refused (TCP reset): nothing listens on TCP 18772")
    broken[3] = port("diagnostics", 17772, Status.FILTERED, host="ds02.example.com", severity=State.WARNING,
                     detail="no answer within 10.0 s")
    broken[6] = port("forbid", 3389, Status.OPEN, host="ds02.example.com", forbidden=True,
                     detail="TCP handshake completed in 1.2 ms")
    return JudgedRun([judged_site("hq", healthy_results(), description="Head office", customer="Example Ltd",
                                  location="1 Example Street", reference="PO 4711"),
                      judged_site("branch-1", broken, description="Branch office 1, behind NAT")],
                     12.5, checked_at=STARTED + 12.5)


def many_sites(count: int, rows: int = 0) -> JudgedRun:
    """``count`` sites of one host each (the healthy ports), and ``rows`` extra forbidden ports each, every
    one with a detail whose first and last words name it (``row-3-7-begin ... row-3-7-end``)."""
    sites = []
    for index in range(count):
        results = healthy_results(f"ds{index:02d}.example.com")
        results += [port("forbid", 20000 + row, Status.FILTERED, host=f"ds{index:02d}.example.com", forbidden=True,
                         detail=f"row-{index}-{row}-begin no answer within 10.0 s: the firewall drops it, as it "
                                f"must, and this sentence is long enough to wrap in its cell row-{index}-{row}-end")
                    for row in range(rows)]
        sites.append(judged_site(f"site-{index}", results, description=f"Site number {index}"))
    return JudgedRun(sites, 30.0, checked_at=STARTED + 30)


# --- looking at a rendered report -----------------------------------------------------------------------


def chromium(*args: str, profile: Path) -> None:
    """Run headless Chromium with the flags above and a new, empty profile."""
    exe = need_program("chromium", "the handover document is proven in a real browser")
    profile.mkdir(parents=True, exist_ok=True)
    assert not any(profile.iterdir()), "the profile must start empty"
    subprocess.run([exe, *CHROMIUM, f"--user-data-dir={profile}", *args], check=True, capture_output=True,
                   timeout=120, stdin=subprocess.DEVNULL)


def print_to_pdf(page: Path, pdf: Path, profile: Path) -> None:
    chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri(), profile=profile)
    assert pdf.stat().st_size > 0


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page (``pdftotext -layout``)."""
    exe = need_program("pdftotext", "the printed handover document is read back")
    text = subprocess.run([exe, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdf_page_size(pdf: Path) -> tuple[float, float]:
    exe = need_program("pdfinfo", "the printed handover document is measured")
    out = subprocess.run([exe, str(pdf)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("Page size:"))
    width, _, height = line.split(":", 1)[1].split()[:3]
    return float(width), float(height)


def words(text: str) -> str:
    """Text with every run of whitespace made one space (what a wrapped line was before it wrapped)."""
    return " ".join(text.split())


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB(A) rows of an 8-bit truecolour PNG (what Chromium's screenshots are)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * step, [], bytearray(width * step)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - step] if x >= step else 0
            b, c = prev[x], prev[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line if step == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3)))
        prev = line
    return width, height, rows


class Structure(HTMLParser):
    """What a document loads or runs: its elements, attributes and style text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.style = ""
        self._in_style = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)


def sections(document: str) -> dict[str, str]:
    """The sheets of a handover document by id: ``summary``, ``site-1``..., ``signoff``, ``appendix``,
    ``appendix-1``..."""
    found = {}
    for part in document.split('<section class="sheet')[1:]:
        ident = part.split('id="', 1)[1].split('"', 1)[0]
        found[ident] = part.split("</section>", 1)[0]
    return found


def body(document: str) -> str:
    """The customer's part of a handover document: every sheet before the technical appendix, as text (the
    words a reader sees, tags and style left out)."""
    kept = "".join(f'<section class="sheet{html}</section>' for ident, html in sections(document).items()
                   if not ident.startswith("appendix"))
    return " ".join(" ".join(structure(kept).text).split())


def structure(document: str) -> Structure:
    parsed = Structure()
    parsed.feed(document)
    parsed.close()
    return parsed
