"""The handover document (render.html) and what feeds it: the run's record, the JSON twin, the check's
--format html, pytest_dsports' --dsports-report, the JUnit properties, and no false proof. The proof in a
real browser is tests/test_handover_browser.py."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import pytest
from reports import (
    STARTED,
    healthy_results,
    info,
    judged_site,
    many_sites,
    port,
    sections,
    structure,
    two_sites,
)
from support import CheckRun, check_args

from check_digitalsentry.judge import JudgedRun
from check_digitalsentry.model import State, Status
from check_digitalsentry.render import html
from check_digitalsentry.render import json as json_render
from check_digitalsentry.simulator import SimSite, Simulator

Simulate = Callable[..., Simulator]
HOSTILE = '<script>alert("x")</script><img src="http://evil.example/x.png"> & \'quote\' \u2028'


def test_the_first_page_says_the_verdict_per_site_and_the_open_items() -> None:
    doc = html.render(two_sites(), info())
    cover = sections(doc)["summary"]
    assert '<div class="word">FAILED</div>' in cover
    assert "3 of 14 ports are not as required, on 1 of 2 sites" in cover
    for name in ("hq", "branch-1", "Head office", "Branch office 1, behind NAT", "PASSED", "0 of 7", "3 of 7",
                 "from outside, through NAT"):
        assert name in cover
    assert ("video 18772/tcp: refused: nothing answers there; diagnostics 17772/tcp: no answer: blocked on the way, "
            "or not forwarded; forbid 3389/tcp: answered: it must be blocked") in cover
    items = cover.split('<ol class="items">', 1)[1].split("</ol>", 1)[0]
    assert items.count("<li>") == 3 and "block TCP 3389 at the firewall in front of 192.0.2.10" in items
    for record in ("Jane Doe", "laptop-7", "192.0.2.50", "2026-11-18 11:06:40 UTC", "2026-11-18 11:06:52 UTC",
                   "12.5 s", "pytest_dsports 0.1.0", "sites.toml", "SHA-256 " + "ab" * 32):
        assert record in cover, record
    assert "pytest --dsports-inventory sites.toml" in sections(doc)["appendix"]  # the command: for the technician


def test_local_time_is_shown_where_it_differs_from_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        monkeypatch.setenv("TZ", "America/New_York")
        time.tzset()
        assert html.stamp(STARTED) == ("2026-11-18 11:06:40 UTC", "2026-11-18 06:06:40 EST (UTC-05:00)")
        assert "2026-11-18 06:06:40 EST (UTC-05:00)" in html.render(two_sites(), info())
        for zone in ("UTC", "Europe/London"):  # London is UTC in November: the same time, not said twice
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            assert html.stamp(STARTED) == ("2026-11-18 11:06:40 UTC", "")
            cover = sections(html.render(two_sites(), info()))["summary"]
            assert "11:06:40" in cover and cover.count("11:06:40") == 1 and "(UTC+" not in cover
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_each_site_has_its_page_with_everything_a_handover_needs() -> None:
    doc = html.render(two_sites(), info())
    parts = sections(doc)
    hq, branch = parts["site-1"], parts["site-2"]
    assert '<div class="word">PASSED</div>' in hq
    assert "All 6 ports are as required. 1 audio port is not testable while no audio plays." in hq
    for field in ("Example Ltd", "1 Example Street", "PO 4711", "ds01.example.com", "192.0.2.50",
                  "from outside the site, through its internet address", '<a href="#appendix-1">appendix 1</a>'):
        assert field in hq
    assert '<span class="badge incomplete">NOT TESTABLE</span>' in hq  # audio: never a pass
    assert "not testable while no audio plays (an idle server need not answer)" in hq
    # what the probes learned: SQL Server and instance, encryption, the certificate and its days left
    learned = parts["appendix-1"]
    for fact in ("SQL Server 2019 15.0.2000.5", "DIGITALSENTRY (port named by the SQL Server Browser)",
                 "ENCRYPT_OFF", "CN=ds01.example.com", "CN=Example CA", "2027-03-01T00:00:00Z",
                 '<span class="critical">2027-03-01T00:00:00Z (20 days left)</span>', "DIGITALSENTRY (15.0.2000.5, TCP 49172)"):
        assert fact in learned and fact not in hq, fact
    assert '<div class="word">FAILED</div>' in branch and "3 of 6 ports are not as required." in branch
    audit = branch.split("Forbidden-port audit", 1)[1].split("Open items and what to change", 1)[0]
    assert "REACHABLE" in audit and "3389/tcp" in audit and "answered: it must be blocked" in audit
    findings = branch.split("Open items and what to change", 1)[1]
    assert findings.count('class="finding') == 3
    for fix in ("check that the Digital Sentry video service runs on the DS server",
                "router (192.0.2.10), forward TCP 17772 to the DS server",
                "block TCP 3389 at the firewall in front of 192.0.2.10"):
        assert fix in findings
    technical = parts["appendix-2"].split("Open items, for the technician", 1)[1]
    for fix in ("nothing listens on TCP 18772 at 192.0.2.10", "allow and forward TCP 17772 to 192.0.2.10",
                "block TCP 3389 to 192.0.2.10 at the firewall", "connection refused (TCP reset)"):
        assert fix in technical
    closing = parts["signoff"]
    for words in ("Tested by", "Accepted by", "Signature", "Date", "Jane Doe", "Example Ltd", "NOT TESTABLE",
                  "silence proves nothing either way", "not a test of the NAT"):
        assert words in closing
    assert "open|filtered" in parts["appendix"] and "silence proves nothing either way" in parts["appendix"]


def test_every_page_names_the_site_and_the_page_in_its_margins() -> None:
    doc = html.render(two_sites(), info())
    style = structure(doc).style
    assert 'content: "Page " counter(page) " of " counter(pages)' in style
    assert "@page site-2 { @top-right { content: " + html.css_string("Site branch-1") in style
    assert "@page appendix-2 { @top-right { content: " + html.css_string("Technical appendix: site branch-1") in style
    assert "#site-2 { page: site-2; }" in style and "#appendix-2 { page: appendix-2; }" in style
    assert "break-inside: avoid" in style and ".sheet + .sheet { break-before: page; }" in style
    # where margin boxes are not supported, a repeated caption names the site
    assert '<tr class="caption"><th colspan="5">branch-1 — port matrix' in doc
    assert '<tr class="caption"><th colspan="7">branch-1 — every port' in doc


def test_every_string_from_the_network_or_the_inventory_is_escaped() -> None:
    bad = port("video", 18772, Status.INVALID, detail=HOSTILE, facts={"tls_subject": HOSTILE, "tls_version": "x"})
    site = judged_site("evil", [*healthy_results()[:2], bad], description=HOSTILE, customer=HOSTILE + "\x07",
                       location=HOSTILE, reference=HOSTILE)
    doc = html.render(JudgedRun([site], 1.0, checked_at=STARTED), info(tester=HOSTILE, host_name=HOSTILE,
                                                                       command=HOSTILE))
    parsed = structure(doc)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not [a for a in parsed.attributes if a[1] == "src" or (a[1] == "href" and not a[2].startswith("#"))]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in doc and "&#x27;quote&#x27;" in doc
    assert "\x07" not in doc and "\ufffd" in doc
    assert "</style" not in parsed.style and "<" not in parsed.style and '"x"' not in parsed.style
    assert html.css_string('a"; } body { display: none } /*') == (
        '"a\\000022\\00003b\\000020\\00007d\\000020body\\000020\\00007b\\000020display\\00003a\\000020none\\000020'
        '\\00007d\\000020\\00002f\\00002a"')


def test_a_forbidden_port_that_was_not_probed_is_not_proof() -> None:
    unresolved = [port(r.role, r.port, Status.UNRESOLVED, host="ds09.example.com", forbidden=r.spec.forbidden,
                       transport=r.transport, detail="name does not resolve")
                  for r in healthy_results("ds09.example.com")]
    doc = html.render(JudgedRun([judged_site("lost", unresolved)], 1.0, checked_at=STARTED), info())
    assert "NOT TESTED" in doc and "nothing shows that TCP 3389 is blocked" in doc
    assert "BLOCKED" not in doc.split("Forbidden-port audit", 1)[1]
    assert "7 of 7 ports are not as required" in doc  # the forbidden port counts as open
    assert "1 forbidden port could not be tested, so it is not proved blocked." in doc


def test_an_empty_run_says_nothing_was_tested() -> None:
    doc = html.render(JudgedRun([], 0.0, checked_at=STARTED), info(inventories=[]))
    assert "NOTHING TESTED" in doc and "none: sites from the command line" in doc
    from check_digitalsentry.render import json as json_render

    data = json.loads(json_render.render(JudgedRun([], 0.0, checked_at=STARTED), "", info(inventories=[])))
    assert (data["state"], data["exit_code"], data["sites"]) == ("UNKNOWN", 3, [])  # never an OK for nothing
    assert data["summary"] == "nothing tested: no site was probed in this run"


def test_fifty_sites_stay_small_and_fast() -> None:
    run = many_sites(50)
    started = time.perf_counter()
    doc = html.render(run, info())
    seconds = time.perf_counter() - started
    size = len(doc.encode("utf-8"))
    print(f"50 sites, {len(run.verdicts)} ports: {size} bytes, rendered in {seconds * 1000:.1f} ms")
    assert doc.count('<section class="sheet site"') == 50
    assert size < 600_000 and seconds < 1.0


def test_the_json_report_has_the_same_record() -> None:
    doc = json.loads(json_render.render(two_sites(), "summary", info()))
    assert doc["run"] == {
        "tester": "Jane Doe", "host_name": "laptop-7", "started": "2026-11-18T11:06:40Z",
        "ended": "2026-11-18T11:06:52Z", "tool": "pytest_dsports 0.1.0",
        "inventories": [{"file": "sites.toml", "sha256": "ab" * 32}], "command": "pytest --dsports-inventory sites.toml",
        "sources": ["192.0.2.50"]}
    hq, branch = doc["sites"]
    assert (hq["customer"], hq["location"], hq["reference"]) == ("Example Ltd", "1 Example Street", "PO 4711")
    video = next(p for p in branch["ports"] if p["role"] == "video")
    assert video["advice"].startswith("nothing listens on TCP 18772") and video["source"] == "192.0.2.50"


# --- the frontends --------------------------------------------------------------------------------------


def handover_sites(simulate: Simulate) -> Simulator:
    return simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0),
                    SimSite(name="branch", address="127.0.3.2", audio_clients=0, faults={"video": "off"}))


def test_pytest_writes_the_reports_and_the_junit_record(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = handover_sites(simulate)
    text = sim.inventory_toml().replace('name = "branch"', 'name = "branch"\ndescription = "Branch <one>"\n'
                                                            'customer = "Example & Sons"')
    (pytester.path / "sites.toml").write_text(text, encoding="utf-8")
    (pytester.path / "out").mkdir()
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "--dsports-report", "handover.html",
                                "--dsports-report", "out/handover.json", "--dsports-tester", "Jane Doe",
                                "--junitxml", "handover.xml")
    result.assert_outcomes(passed=15, failed=1)
    result.stdout.fnmatch_lines(["dsports: handover report written to handover.html (2 site(s), * bytes)",
                                 "dsports: handover report written to out/handover.json (2 site(s), * bytes)"])
    sha = hashlib.sha256((pytester.path / "sites.toml").read_bytes()).hexdigest()
    doc = (pytester.path / "handover.html").read_text(encoding="utf-8")
    assert "Jane Doe" in doc and f"SHA-256 {sha}" in doc and "127.0.0.1" in doc
    assert "Branch &lt;one&gt;" in doc and "Example &amp; Sons" in doc and "<script" not in doc
    data = json.loads((pytester.path / "out" / "handover.json").read_text(encoding="utf-8"))
    assert data["run"]["tester"] == "Jane Doe" and data["run"]["sources"] == ["127.0.0.1"]
    assert data["run"]["inventories"] == [{"file": "sites.toml", "sha256": sha}]
    assert data["run"]["command"].startswith("pytest --dsports-inventory sites.toml")
    assert [s["state"] for s in data["sites"]] == ["OK", "CRITICAL"]
    root = ET.parse(pytester.path / "handover.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.find("properties") or []}
    assert props["dsports_tester"] == "Jane Doe" and props["dsports_source_addresses"] == "127.0.0.1"
    assert props["dsports_host_name"] and props["dsports_version"].startswith("pytest_dsports ")
    assert props["dsports_inventory_sha256"] == f"{sha}  sites.toml"
    assert props["dsports_started"] <= props["dsports_ended"] and props["dsports_ended"].endswith("Z")
    for case in root.iter("testcase"):
        item = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert item["description"] == ("Branch <one>" if "branch" in (case.get("classname") or "") else "")
        assert item["source"] == "127.0.0.1"


def test_the_report_is_written_as_the_checks_output_is(pytester: pytest.Pytester, simulate: Simulate) -> None:
    """Atomically through an unpredictable name: a link planted at the old predictable temporary name is
    never written through; a symlink given as the report is followed (the link stays); a device or a
    FIFO is refused before anything runs."""
    import os

    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0))
    sim.inventory_toml(pytester.path / "sites.toml")
    victim = pytester.path / "victim.txt"
    victim.write_text("precious\n")
    for pid in range(os.getpid() - 50, os.getpid() + 5000):  # what a predictable name would have been
        with contextlib.suppress(FileExistsError):
            (pytester.path / f".r.json.{pid}.tmp").symlink_to(victim)
    (pytester.path / "real.json").write_text("old\n")
    (pytester.path / "linked.json").symlink_to(pytester.path / "real.json")
    result = pytester.runpytest_subprocess("--dsports-inventory", "sites.toml", "--dsports-report", "r.json",
                                           "--dsports-report", "linked.json")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert victim.read_text() == "precious\n"
    assert json.loads((pytester.path / "r.json").read_text())["sites"][0]["name"] == "hq"
    assert (pytester.path / "linked.json").is_symlink()
    assert json.loads((pytester.path / "real.json").read_text())["sites"][0]["name"] == "hq"
    os.mkfifo(pytester.path / "fifo.json")
    (pytester.path / "dev.json").symlink_to("/dev/null")
    for target, kind in (("fifo.json", "a FIFO"), ("dev.json", "a device")):
        refused = pytester.runpytest_subprocess("--dsports-inventory", "sites.toml", "--dsports-report", target)
        assert refused.ret == pytest.ExitCode.USAGE_ERROR
        refused.stderr.fnmatch_lines([f"ERROR: --dsports-report {target}: {kind}, not a regular file: give the "
                                      "path of a file to replace"])


def test_the_tester_defaults_to_the_os_user(pytester: pytest.Pytester, simulate: Simulate,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "integrator7")
    monkeypatch.setenv("USER", "integrator7")
    sim = simulate(SimSite(name="hq", address="127.0.3.1", audio_clients=0))
    sim.inventory_toml(pytester.path / "sites.toml")
    pytester.runpytest("--dsports-inventory", "sites.toml", "--dsports-report", "r.json")
    assert json.loads((pytester.path / "r.json").read_text())["run"]["tester"] == "integrator7"


def test_an_ad_hoc_host_takes_an_inventory_sites_settings(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = simulate(SimSite(name="x", address="127.0.3.1", audio_clients=1))
    site = sim.sites[0]
    remaps = " ".join(f"ports.{role}={number}" for role, number in site.remapped_ports().items())
    result = pytester.runpytest(
        "--dsports-host", f"127.0.3.1 name=hq sql_instance={site.sql_instance} web=true api=true audio_clients=1 "
                          f"forbid=3389/tcp,445/tcp {remaps} severity.audio=warning warning=2 critical=3 timeout=4 "
                          f"description='Head office' customer='Example Ltd'",
        "--dsports-host", "127.0.3.9", "--dsports-timeout", "3", "-v", "--dsports-report", "r.json")
    result.stdout.fnmatch_lines([f"dsports::hq::127.0.3.1::web[[]{site.ports['web']}/tcp] PASSED*",
                                 f"dsports::hq::127.0.3.1::audio[[]{site.ports['audio']}/udp] PASSED*",
                                 "dsports::hq::127.0.3.1::forbid[[]3389/tcp] PASSED*",
                                 "dsports::hq::127.0.3.1::forbid[[]445/tcp] PASSED*",
                                 "dsports::adhoc::127.0.3.9::video[[]18772/tcp] FAILED*"], consecutive=False)
    assert "::hq::127.0.3.1::" in result.stdout.str() and "FAILED dsports::hq::" not in result.stdout.str()
    doc = json.loads((pytester.path / "r.json").read_text())
    hq = doc["sites"][0]
    assert (hq["name"], hq["description"], hq["customer"]) == ("hq", "Head office", "Example Ltd")
    assert len(hq["ports"]) == 11 and doc["sites"][1]["name"] == "adhoc"


def test_tests_bound_to_an_unselected_site_are_skipped(pytester: pytest.Pytester, simulate: Simulate) -> None:
    sim = handover_sites(simulate)
    sim.inventory_toml(pytester.path / "sites.toml")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.dsports(site="branch")
        def test_branch(dsports_site_report):
            pass

        @pytest.mark.dsports(site="hq")
        def test_hq(dsports_site_report):
            assert dsports_site_report.site.name == "hq"

        @pytest.mark.dsports(site="nowhere")
        def test_nowhere(dsports_site):
            pass

        def test_branch_by_name(dsports_report):  # a fixture naming the site, no marker
            assert dsports_report("branch").site.name == "branch"
    """)
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "--dsports-site", "hq", "-m",
                                "not dsports_port", "-rsE")
    result.assert_outcomes(passed=1, skipped=2, errors=1)
    result.stdout.fnmatch_lines_random(["SKIPPED * dsports site 'branch' is not selected (--dsports-site hq)",
                                        "SKIPPED *fixtures.py:*: dsports site 'branch' is not selected*"])
    out = result.stdout.str()
    error = out.split("ERROR at setup of test_nowhere", 1)[1].split("=====", 1)[0]
    assert error.count("no dsports site 'nowhere' (sites: hq)") == 1 and "During handling" not in error


def test_no_false_proof(pytester: pytest.Pytester) -> None:
    nowhere = "a" * 64 + ".invalid"  # a label longer than DNS allows: it never resolves, and asks no server
    (pytester.path / "sites.toml").write_text(f'[[sites]]\nname = "lost"\nhosts = ["{nowhere}"]\n'
                                              f'forbid = ["3389/tcp"]\ntimeout = 2\n')
    pytester.makepyfile(f"""
        def test_unreachable(dsports_probe):
            dsports_probe("{nowhere}", port=3389, timeout=2).assert_unreachable()

        def test_closed(dsports_probe):
            dsports_probe("{nowhere}", port=3389, timeout=2).assert_closed()
    """)
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "-k", "forbid or unreachable or closed")
    result.assert_outcomes(failed=3, deselected=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # once each in the failures (the short summary repeats them whole under CI=true, where pytest
    # does not cut its lines to the terminal's width)
    out = "\n".join(line for line in result.stdout.lines if not line.startswith("FAILED "))
    assert out.count("expected unreachable, but the port could not be tested (unresolved") == 1
    assert out.count("expected closed, but the port could not be tested (unresolved") == 1
    result.stdout.fnmatch_lines([f"lost / {nowhere}: forbid 3389/tcp is unresolved — NOT TESTED*",
                                 f"  to fix   make {nowhere} resolve from here (DNS or hosts file) and test again*"])


def test_a_tolerated_port_that_was_not_tested_is_skipped_not_passed(pytester: pytest.Pytester) -> None:
    """severity ok says a port is not required -- not that it was tested: never probed, it is skipped
    (and NOT TESTED in the report), not passed."""
    nowhere = "a" * 64 + ".invalid"
    (pytester.path / "sites.toml").write_text(f'[defaults.severity]\ndiagnostics = "ok"\n[[sites]]\nname = "lost"\n'
                                              f'hosts = ["{nowhere}"]\ntimeout = 2\n')
    result = pytester.runpytest("--dsports-inventory", "sites.toml", "-k", "diagnostics", "-rs",
                                "--dsports-report", "r.json")
    result.assert_outcomes(skipped=1, deselected=3)
    result.stdout.fnmatch_lines(["SKIPPED*not tested: unresolved: *(tolerated: severity ok)"])
    port = json.loads((pytester.path / "r.json").read_text())["sites"][0]["ports"]
    assert [p["not_proved"] for p in port if p["role"] == "diagnostics"] == [True]


def test_the_check_writes_the_handover_document(simulate: Simulate, check: Callable[..., CheckRun],
                                                tmp_path: Path) -> None:
    sim = handover_sites(simulate)
    sim.inventory_toml(tmp_path / "sites.toml")
    out = tmp_path / "report.html"
    run = check("--inventory", str(tmp_path / "sites.toml"), "-t", "3", "--format", "html", "--output", str(out))
    assert run.code == 2 and run.first.startswith("DIGITALSENTRY CRITICAL - branch/127.0.3.2 video")
    doc = out.read_text(encoding="utf-8")
    sha = hashlib.sha256((tmp_path / "sites.toml").read_bytes()).hexdigest()
    assert "check_digitalsentry 0.1.0" in doc and f"SHA-256 {sha}" in doc and "127.0.0.1" in doc
    assert doc.count('<section class="sheet site"') == 2 and "<script" not in doc
    one = check(*check_args(sim, sim.sites[0]), "-t", "3", "--format", "html")
    assert one.code == 0 and one.stdout.startswith("<!DOCTYPE html>")
    assert "none: sites from the command line" in one.stdout


def test_only_format_html_imports_the_html_renderer(simulate: Simulate) -> None:
    sim = simulate(roles=("sql-browser", "sql", "video", "diagnostics"))
    from test_startup import imported_by_check

    assert "check_digitalsentry.render.html" not in imported_by_check(*check_args(sim), "-t", "3")
    assert "check_digitalsentry.render.html" in imported_by_check(*check_args(sim), "-t", "3", "--format", "html")


def test_the_handover_pictures_are_current_and_small() -> None:
    repo = Path(__file__).resolve().parent.parent
    for name in ("handover-summary.png", "handover-site.png"):
        picture = repo / "docs" / name
        assert picture.stat().st_size < 200_000, f"{name}: regenerate with python contrib/handover_screenshot.py"
        assert f"]({name})" in (repo / "docs" / "handover.md").read_text(encoding="utf-8")


def test_the_screenshot_command_runs(tmp_path: Path) -> None:
    from conftest import need_program

    need_program("chromium", "contrib/handover_screenshot.py draws docs/handover.md's pictures")
    need_program("pdftoppm", "contrib/handover_screenshot.py draws docs/handover.md's pictures")
    repo = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, str(repo / "contrib" / "handover_screenshot.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=180, env={**os.environ, "TZ": "UTC"})
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handover-site.png", "handover-summary.png"]
    assert all(p.stat().st_size < 200_000 for p in tmp_path.iterdir())


def test_a_warning_site_reads_passed_with_warnings() -> None:
    results = healthy_results()
    results[3] = port("diagnostics", 17772, Status.CLOSED, severity=State.WARNING)
    doc = html.render(JudgedRun([judged_site("hq", results)], 1.0, checked_at=STARTED), info())
    assert doc.count('<div class="word">PASSED WITH WARNINGS</div>') == 2  # the first page and the site's
