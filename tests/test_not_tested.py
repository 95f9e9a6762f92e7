"""No false finding: a forbidden port that was never probed -- its host's name does not resolve, or no
socket could be had under the open-file limit -- is NOT TESTED in every output: the check's status line,
long output and perfdata, the JSON document, OpenMetrics, the handover document, the paragraph
pytest_dsports prints for a failing port, and the live view (--watch). Never REACHABLE, never "block TCP
N at the firewall", never "not reachable, as required", never a 0 that reads as "blocked", and
``not_proved`` in the JSON."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from reports import info
from support import CheckRun

from check_digitalsentry.judge import JudgedRun, Verdict, advice, not_proved
from check_digitalsentry.model import State, Status

NOWHERE = "a" * 64 + ".invalid"  #: a label longer than DNS allows: it never resolves, and asks no server
#: What no output may say of a forbidden port that was never probed.
FINDINGS = ("REACHABLE", "BLOCKED", "block TCP 3389", "not reachable, as required", "forbid_3389_tcp=")


def forbidden(doc: dict[str, object]) -> list[dict[str, object]]:
    return [p for site in doc["sites"] for p in site["ports"] if p["forbidden"]]  # type: ignore[attr-defined]


# --- the name does not resolve: the real check, in each format ---------------------------------------------


@pytest.mark.parametrize("roles", [("--role", "forbid"), ()], ids=["the forbidden port alone", "the whole site"])
def test_the_checks_text_says_not_tested_and_has_no_value_for_it(check: Callable[..., CheckRun],
                                                                   roles: tuple[str, ...]) -> None:
    run = check("-H", NOWHERE, "--forbid", "3389/tcp", *roles, "-t", "2", "-v")
    printed = run.stdout
    assert "NOT TESTED: nothing shows that 3389/tcp is blocked" in printed, printed
    for finding in FINDINGS:
        assert finding not in printed, (finding, printed)
    assert "forbid_3389_tcp" not in run.perfdata  # no 0 that a graph would read as "blocked"
    if roles:  # only the forbidden port: OK (the check keeps it so), but not "as expected"
        assert run.code == 0, run
        assert run.first == f"DIGITALSENTRY OK - 0 ports as expected on {NOWHERE}; 1 not tested (-v)", run.first
    else:  # the site's required ports fail for the name, as they should
        assert run.code == 2 and "video 18772/tcp CRITICAL unresolved" in printed, run


def test_the_json_document_says_not_proved_with_what_makes_it_testable(check: Callable[..., CheckRun]) -> None:
    run = check("-H", NOWHERE, "--forbid", "3389/tcp", "-t", "2", "--format", "json")
    (port,) = forbidden(json.loads(run.stdout))
    assert port["not_proved"] is True and port["status"] == "unresolved" and port["state"] == "OK", port
    assert port["advice"] == (f"make {NOWHERE} resolve from here (DNS or hosts file) and test again: until then "
                              "nothing shows that TCP 3389 is blocked"), port
    assert port["note"] == "NOT TESTED: nothing shows that 3389/tcp is blocked", port
    assert "as required" not in str(port["reason"]) and "block" in str(port["reason"]), port


def test_openmetrics_has_no_reachability_for_it_and_says_it_was_not_tested(check: Callable[..., CheckRun]) -> None:
    run = check("-H", NOWHERE, "--forbid", "3389/tcp", "-t", "2", "--format", "openmetrics")
    series = dict(line.rsplit(" ", 1) for line in run.stdout.splitlines() if 'role="forbid"' in line)
    assert not [name for name in series if name.startswith("digitalsentry_port_up{")], series
    assert {name.split("{")[0]: value for name, value in series.items()} == {
        "digitalsentry_port_ok": "0", "digitalsentry_port_state": "0", "digitalsentry_port_tested": "0"}, series
    assert 'digitalsentry_port_tested{site="cli",server="' + NOWHERE + '",role="video"' in run.stdout


def test_the_handover_document_says_not_tested(check: Callable[..., CheckRun]) -> None:
    run = check("-H", NOWHERE, "--forbid", "3389/tcp", "-t", "2", "--format", "html")
    audit = run.stdout.split("Forbidden-port audit", 1)[1].split("</table>", 1)[0]
    assert "NOT TESTED" in audit and "REACHABLE" not in audit and "BLOCKED" not in audit, audit
    assert "block TCP 3389" not in run.stdout


# --- no socket to be had: the engine's own outcome, through every renderer ---------------------------------


@pytest.fixture
def no_socket_run() -> Iterator[JudgedRun]:
    """Two forbidden ports and a budget of one socket: the first (UDP, to a port that swallows datagrams)
    holds it until the deadline, so the second (TCP 3389) never gets one -- "no socket could be had"."""
    from check_digitalsentry.engine import probe_sites
    from check_digitalsentry.schema import Site

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        site = Site("lost", ("127.0.0.1",), forbid=((silent.getsockname()[1], "udp"), (3389, "tcp")),
                    roles=("forbid",))
        started = time.monotonic()
        reports = probe_sites([site], deadline=started + 1.0, max_sockets=1)
        yield JudgedRun.of(reports, time.monotonic() - started)


def unprobed(run: JudgedRun) -> Verdict:
    (verdict,) = [v for v in run.verdicts if v.result.port == 3389]
    assert verdict.result.facts.local_limit is True, verdict.result  # the limit decided it
    return verdict


def test_a_port_no_socket_could_be_had_for_is_unknown_and_not_tested(no_socket_run: JudgedRun) -> None:
    verdict = unprobed(no_socket_run)
    assert verdict.state is State.UNKNOWN and verdict.result.status is Status.UNKNOWN and not_proved(verdict)
    assert advice(verdict) == ("raise the check's open-file limit (ulimit -n; systemd: LimitNOFILE=), or check "
                               "fewer sites in one run, and test again: until then nothing shows that TCP 3389 is "
                               "blocked")
    assert verdict.reason.startswith("forbid 3389/tcp unknown: not tested (not probed: no socket could be had")
    assert verdict.reason.endswith("): nothing shows that it is blocked")


def test_every_renderer_says_not_tested_for_it(no_socket_run: JudgedRun) -> None:
    from check_digitalsentry.render import html, openmetrics
    from check_digitalsentry.render import json as json_render
    from check_digitalsentry.render.handover import failure_paragraph, handover_table
    from check_digitalsentry.render.text import NagiosText, perf_text
    from check_digitalsentry.render.watch import table
    from check_digitalsentry.steady import Watch

    text = NagiosText(no_socket_run)
    lines = text.lines(1)
    (line,) = [line for line in lines if " 3389/tcp " in line]
    assert line.endswith("[NOT TESTED: nothing shows that 3389/tcp is blocked]"), line
    assert "no socket could be had" in text.summary()
    perfdata = " ".join(perf_text(perf) for perf, _ in text.perfdata())
    assert "forbid_3389_tcp=" not in perfdata and "forbid_3389_tcp_time" not in perfdata, perfdata

    (port,) = [p for p in forbidden(json.loads(json_render.render(no_socket_run, "x"))) if p["port"] == 3389]
    assert (port["not_proved"], port["state"], port["status"]) == (True, "UNKNOWN", "unknown"), port
    assert "block TCP" not in str(port["advice"]) and "ulimit -n" in str(port["advice"]), port

    metrics = openmetrics.render(no_socket_run)
    assert re.search(r'digitalsentry_port_tested\{[^}]*port="3389"[^}]*\} 0', metrics), metrics
    assert re.search(r'digitalsentry_port_ok\{[^}]*port="3389"[^}]*\} 0', metrics), metrics
    assert not re.search(r'digitalsentry_port_up\{[^}]*port="3389"', metrics), metrics

    doc = html.render(no_socket_run, info())
    audit = doc.split("Forbidden-port audit", 1)[1].split("</table>", 1)[0]
    row = audit.split("3389/tcp", 1)[1].split("</tr>", 1)[0]
    assert "NOT TESTED" in row and "REACHABLE" not in row, row
    assert "block TCP 3389" not in doc

    paragraph = failure_paragraph("lost", unprobed(no_socket_run))  # what pytest_dsports prints for its item
    assert "— NOT TESTED (a forbidden port that was not probed proves nothing)" in paragraph, paragraph
    assert "to fix   raise the check's open-file limit" in paragraph and "block TCP" not in paragraph, paragraph
    assert any(row.split()[-2:] == ["NOT", "TESTED"] for row in handover_table(no_socket_run.sites)
               if "3389/tcp" in row)

    watch = Watch()  # the live view (--watch), terminal and phone page alike
    watch.observe(no_socket_run, time.time())
    (row,) = [row for row in watch.rows.values() if row.port == 3389]
    assert (row.word, row.state) == ("NOT TESTED", State.UNKNOWN) and "block TCP" not in row.fix, (row.word, row.fix)
    (line,) = [line for line in table(watch, time.time(), width=300, height=20, colour=False, qualified=False)
               if "3389/tcp" in line]
    assert "NOT TESTED" in line and "raise the check's open-file limit" in line, line
