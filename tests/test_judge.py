"""The judgement both frontends share, table by table: every status x expected/forbidden x severity x
a role that must answer or not -- and the advice for each failure."""

from __future__ import annotations

import itertools

import pytest

from check_digitalsentry.engine.sites import SiteReport
from check_digitalsentry.judge import (
    JudgedRun,
    JudgedSite,
    advice,
    customer_advice,
    customer_found,
    judge,
    not_proved,
    up,
    worst,
)
from check_digitalsentry.model import PortResult, PortSpec, State, Status
from check_digitalsentry.ranges import Range
from check_digitalsentry.schema import Site

SITE = Site("hq", ("ds01",))
REACHABLE = {Status.OPEN, Status.INVALID}


def result(role: str, status: Status, severity: State = State.CRITICAL, *, forbidden: bool = False,
           port: int | None = 18772, transport: str = "tcp", seconds: float | None = None,
           detail: str = "what the probe saw", facts: dict[str, object] | None = None) -> PortResult:
    spec = PortSpec(role, port, transport, severity, forbidden)
    return PortResult(spec, "ds01", "192.0.2.10", status, seconds, detail, facts)


CASES = list(itertools.product(
    list(Status),
    [False, True],  # forbidden
    [State.OK, State.WARNING, State.CRITICAL],
    ["sql-browser", "video", "audio"],  # must answer (UDP), TCP, UDP that may be silent
))


@pytest.mark.parametrize(("status", "forbidden", "severity", "role"), CASES,
                         ids=[f"{s.value}-{'forbid' if f else 'expect'}-{v.name}-{r}" for s, f, v, r in CASES])
def test_every_status_is_judged_by_the_rules(status: Status, forbidden: bool, severity: State, role: str) -> None:
    transport = "tcp" if role == "video" else "udp"
    verdict = judge(SITE, result(role, status, severity, forbidden=forbidden, transport=transport))
    if forbidden:
        expected = severity if status in REACHABLE else State.OK
    elif status is Status.OPEN:
        expected = State.OK
    elif status is Status.OPEN_FILTERED and role != "sql-browser":
        expected = State.OK  # silence proves nothing, except from a role whose job is to answer
    else:
        expected = severity
    assert verdict.state is expected, verdict
    assert verdict.reason.startswith(f"{role} {18772}/{transport} {status.value}:") or "but slow" in verdict.reason
    assert (advice(verdict) == "") is (expected is State.OK and not not_proved(verdict))
    # never probed, and let pass: a forbidden port, or one whose failure the site tolerates (severity ok)
    assert not_proved(verdict) is ((forbidden or severity is State.OK) and status in (Status.UNRESOLVED,
                                                                                      Status.UNKNOWN))
    if forbidden and status in REACHABLE:
        assert verdict.reason.endswith(f"— block 18772/{transport}")
    plain_pass = (not forbidden and status is Status.OPEN) or (forbidden and status in (Status.CLOSED,
                                                                                       Status.FILTERED))
    if expected is State.OK and not plain_pass:
        assert verdict.note, verdict  # an OK that is not a plain pass says why
    elif plain_pass:
        assert not verdict.note, verdict


def test_an_internal_error_is_unknown_whatever_the_port() -> None:
    verdict = judge(SITE, result("video", Status.UNKNOWN, facts={"internal_error": True}))
    assert verdict.state is State.UNKNOWN
    assert advice(verdict) == "an internal error of the probe: please report it with this output"


@pytest.mark.parametrize(("limit", "seconds", "state"), [
    ("warning", 0.2, State.OK), ("warning", 0.6, State.WARNING), ("critical", 0.6, State.CRITICAL),
])
def test_a_slow_answer_breaks_the_sites_range(limit: str, seconds: float, state: State) -> None:
    site = Site("hq", ("ds01",), **{limit: Range.parse("0.5")})
    verdict = judge(site, result("video", Status.OPEN, seconds=seconds))
    assert verdict.state is state
    if state is not State.OK:
        assert f"but slow: answered in {seconds:.3f} s, outside the {limit} range 0.5" in verdict.reason
        assert advice(verdict) == "TCP 18772 answers, but slowly: check the link and the load on ds01"


def test_a_sql_port_named_by_the_browser_that_does_not_answer_says_forward_it() -> None:
    for status, verb in ((Status.FILTERED, "does not answer"), (Status.CLOSED, "refuses connections")):
        verdict = judge(SITE, result("sql", status, port=49172, detail="x", facts={"sql_port_from": "browser"}))
        assert verdict.reason == (f"sql 49172/tcp {status.value}: the SQL Server Browser names 49172 but it {verb} "
                                  f"(x) — forward TCP 49172")
        assert verdict.detail in verdict.reason
    static = judge(SITE, result("sql", Status.OPEN, port=1433, detail="ok", facts={"sql_browser_ports": [49172]}))
    assert static.state is State.OK
    assert static.detail == "ok; note: the SQL Server Browser names 49172, not 1433"


def test_a_sql_port_answered_by_another_instance_says_check_where_nat_forwards_it() -> None:
    facts = {"instance": "DIGITALSENTRY", "sql_instance_confirmed": False, "sql_version": "15.0.2000.0",
             "sql_product": "SQL Server 2019", "sql_port_from": "browser"}
    verdict = judge(SITE, result("sql", Status.INVALID, port=49172, detail="x", facts=facts))
    assert verdict.state is State.CRITICAL
    assert verdict.reason == ("sql 49172/tcp invalid: TCP 49172 reaches a SQL Server that is not instance "
                              "DIGITALSENTRY (SQL Server 2019 15.0.2000.0, PRELOGIN INSTOPT 1): check where NAT "
                              "forwards TCP 49172")
    assert advice(verdict) == ("another SQL Server than instance DIGITALSENTRY answers on TCP 49172 at 192.0.2.10: "
                               "make every NAT and port forward send TCP 49172 to the DS server that runs "
                               "DIGITALSENTRY, and check which instance listens on 49172 there (SQL Server "
                               "Configuration Manager, TCP/IP, IPAll)")
    confirmed = judge(SITE, result("sql", Status.OPEN, port=49172, detail="ok",
                                   facts={**facts, "sql_instance_confirmed": True}))
    assert confirmed.state is State.OK and confirmed.detail == "ok"


@pytest.mark.parametrize(("status", "role", "facts", "words"), [
    (Status.UNRESOLVED, "video", {}, "make ds01 resolve from here"),
    (Status.UNKNOWN, "sql", {}, "fix what this port depends on first (the SQL Server Browser)"),
    (Status.FILTERED, "video", {}, "allow and forward TCP 18772 to 192.0.2.10 through every firewall and NAT"),
    (Status.CLOSED, "video", {}, "nothing listens on TCP 18772 at 192.0.2.10: check that the DS service behind "
                                 "video runs"),
    (Status.OPEN_FILTERED, "sql-browser", {}, "allow UDP 18772 to 192.0.2.10 and check that the SQL Server "
                                              "Browser service runs"),
    (Status.INVALID, "sql-browser", {"instances": [{"instance": "DSOTHER"}]},
     "names no usable port for the DS instance (it lists DSOTHER)"),
    (Status.INVALID, "video", {}, "something answers on TCP 18772 that is not what video needs"),
])
def test_advice_says_what_to_change_for_each_failure(status: Status, role: str, facts: dict[str, object],
                                                     words: str) -> None:
    verdict = judge(SITE, result(role, status, facts=facts))
    assert verdict.state is State.CRITICAL
    assert words in advice(verdict)


def test_a_forbidden_port_that_answers_is_to_be_blocked() -> None:
    verdict = judge(SITE, result("forbid", Status.OPEN, forbidden=True, port=3389))
    assert advice(verdict) == "block TCP 3389 to 192.0.2.10 at the firewall: it must not be reachable from here"
    assert up(verdict) == 1
    assert up(judge(SITE, result("forbid", Status.CLOSED, forbidden=True))) == 0
    assert up(judge(SITE, result("video", Status.INVALID))) == 0


def test_the_worst_state_ranks_unknown_above_critical_and_a_run_is_judged_once() -> None:
    ok, crit = judge(SITE, result("video", Status.OPEN)), judge(SITE, result("video", Status.CLOSED))
    unknown = judge(SITE, result("video", Status.UNKNOWN, facts={"internal_error": True}))
    assert worst([]) is State.OK and worst([ok, crit]) is State.CRITICAL and worst([crit, unknown]) is State.UNKNOWN
    reports = [SiteReport(SITE, [result("video", Status.OPEN), result("diagnostics", Status.CLOSED, State.WARNING)],
                          0.1), SiteReport(Site("b", ("b1",)), [], 0.0)]
    run = JudgedRun([JudgedSite(r) for r in reports], 0.2)
    assert run.state is State.WARNING
    assert [s.state for s in run.sites] == [State.WARNING, State.OK]
    assert [v.result.role for v in run.failing] == ["diagnostics"]
    assert len(run.verdicts) == 2


@pytest.mark.parametrize("state", list(State))
def test_nagiosplugin_exits_with_the_judged_state(state: State) -> None:
    from check_digitalsentry.cli import glue
    from check_digitalsentry.render.text import NagiosText

    status = {State.OK: Status.OPEN, State.WARNING: Status.CLOSED, State.CRITICAL: Status.CLOSED,
              State.UNKNOWN: Status.UNKNOWN}[state]
    facts = {"internal_error": True} if state is State.UNKNOWN else {}
    severity = State.WARNING if state is State.WARNING else State.CRITICAL
    report = SiteReport(SITE, [result("video", Status.OPEN), result("diagnostics", status, severity, facts=facts)],
                        0.1)
    run = JudgedRun([JudgedSite(report)], 0.1)
    text, code = glue.render(NagiosText(run), 0)
    assert run.state is state
    assert code == int(state)
    assert text.startswith(f"DIGITALSENTRY {state.name} - ")


# --- audio: informational unless made strict --------------------------------------------------------------


def test_audio_is_informational_by_default_and_strict_on_request() -> None:
    """An idle DS server need not listen on its audio ports (KB10756: one port per client receiving audio):
    whatever the probe saw there is OK, saying what it saw and that it is not testable while no audio plays --
    unless the site makes audio strict (severity warning, for a test during a live audio session)."""
    from check_digitalsentry import catalogue
    from check_digitalsentry.judge import untestable
    from check_digitalsentry.schema import expected_ports

    assert catalogue.BY_NAME["audio"].severity is State.OK and catalogue.BY_NAME["audio"].live == "audio plays"
    [spec] = [s for s in expected_ports(Site("hq", ("ds01",), audio_clients=1)) if s.role == "audio"]
    assert spec.severity is State.OK
    for status in (Status.CLOSED, Status.FILTERED, Status.OPEN_FILTERED, Status.INVALID):
        verdict = judge(SITE, result("audio", status, State.OK, port=18778, transport="udp",
                                     detail="ICMP port unreachable: nothing listens on UDP 18778"))
        assert verdict.state is State.OK, verdict
        assert untestable(verdict) == "not testable while no audio plays"
        assert verdict.reason == f"audio 18778/udp {status}: ICMP port unreachable: nothing listens on UDP 18778"
        assert verdict.note == ("informational: not testable while no audio plays (an idle DS server need not "
                                "listen on UDP 18778); to test it, run with --severity audio=warning during a live "
                                "session")
        assert advice(verdict) == "" and not not_proved(verdict)
        strict = judge(SITE, result("audio", status, State.WARNING, port=18778, transport="udp"))
        assert untestable(strict) == ""
        assert strict.state is (State.OK if status is Status.OPEN_FILTERED else State.WARNING)
    answered = judge(SITE, result("audio", Status.OPEN, State.OK, port=18778, transport="udp"))
    assert answered.state is State.OK and untestable(answered) == "" and not answered.note
    never = judge(SITE, result("audio", Status.UNRESOLVED, State.OK, port=18778, transport="udp"))
    assert untestable(never) == "" and not_proved(never)  # not probed at all: NOT TESTED, as any port


# --- ISP filters ---------------------------------------------------------------------------------------------


def test_a_silent_browser_while_tcp_answers_names_isp_filters_and_the_fix_without_a_browser() -> None:
    """UDP 1434 silent while the same server's TCP ports answer: besides a missing forward or a stopped
    Browser, several internet providers filter UDP 1434; the fix that needs no Browser is a static SQL port
    (DS QuickSetup > Tools > Configure SQL Ports) given as sql_port, and a test from a second network."""
    browser = result("sql-browser", Status.OPEN_FILTERED, port=1434, transport="udp")
    video = result("video", Status.OPEN)
    [silent, _] = JudgedSite(SiteReport(SITE, [browser, video], 0.1)).verdicts
    assert silent.state is State.CRITICAL and silent.others_answer
    text = advice(silent)
    assert text.startswith("allow UDP 1434 to 192.0.2.10 and check that the SQL Server Browser service runs")
    for words in ("the internet provider may filter UDP 1434", "SQL Slammer",
                  "a static SQL port on the DS server (DS QuickSetup > Tools > Configure SQL Ports)",
                  "given as sql_port (--sql-port)", "test again from a second network"):
        assert words in text, words
    customer = customer_advice(silent)
    assert "your internet provider may be blocking UDP 1434" in customer
    assert "DS QuickSetup > Tools > Configure SQL Ports" in customer and "second internet connection" in customer
    assert "sql_port" not in customer and "--" not in customer
    # the server's TCP ports do not answer either: nothing points at a filter of UDP alone
    down = result("video", Status.FILTERED)
    [alone, _] = JudgedSite(SiteReport(SITE, [browser, down], 0.1)).verdicts
    assert not alone.others_answer and "internet provider" not in advice(alone)
    # a forbidden TCP port that answers says nothing of the DS server's
    rdp = result("forbid", Status.OPEN, forbidden=True, port=3389)
    assert not JudgedSite(SiteReport(SITE, [browser, rdp], 0.1)).verdicts[0].others_answer


def test_a_silent_static_sql_port_1433_names_isp_filters() -> None:
    verdict = judge(SITE, result("sql", Status.FILTERED, port=1433))
    assert "some internet providers filter TCP 1433" in advice(verdict)
    assert "some internet providers block this port" in customer_advice(verdict)


# --- the customer's words ------------------------------------------------------------------------------------

#: Words of the technician's world: option names, inventory keys, protocol and socket jargon.
JARGON = ("--", "sql_port", "sql_instance", "reached_from", "socket", "ENCRYPT", "PRELOGIN", "INSTOPT", "ICMP",
          "TDS", "SSRP", "errno", "RST", "reset", "ulimit", "LimitNOFILE", "IPAll", "TLS", "open|filtered",
          "filtered", "probe")

CUSTOMER_CASES = [
    ("video", Status.FILTERED, {}), ("video", Status.CLOSED, {}), ("video", Status.INVALID, {}),
    ("video", Status.UNRESOLVED, {}), ("sql", Status.UNKNOWN, {}), ("sql", Status.FILTERED, {}),
    ("video", Status.UNKNOWN, {"internal_error": True}), ("video", Status.UNKNOWN, {"local_limit": True}),
    ("sql-browser", Status.OPEN_FILTERED, {}), ("sql-browser", Status.INVALID, {"instances": [{"instance": "X"}]}),
    ("sql", Status.INVALID, {"instance": "DS", "sql_instance_confirmed": False}),
    ("web", Status.INVALID, {"tls_client_certificate_required": True}),
    ("web", Status.OPEN, {"tls_validity": "expired", "tls_not_before": "a", "tls_not_after": "b"}),
    ("video", Status.OPEN, {}),  # slow: below
]


@pytest.mark.parametrize(("role", "status", "facts"), CUSTOMER_CASES,
                         ids=[f"{r}-{s.value}-{'-'.join(f) or 'plain'}" for r, s, f in CUSTOMER_CASES])
@pytest.mark.parametrize("address", ["192.0.2.10", "10.0.0.5"])
def test_every_advice_has_the_customers_words_too(role: str, status: Status, facts: dict[str, object],
                                                  address: str) -> None:
    site = Site("hq", ("ds01",), critical=Range.parse("0.5"))
    spec = PortSpec(role, 1434 if role == "sql-browser" else 18772, "udp" if role == "sql-browser" else "tcp",
                    State.CRITICAL)
    r = PortResult(spec, "ds01", None if status is Status.UNRESOLVED else address, status,
                   0.9 if status is Status.OPEN else None, "the probe's own words", facts)
    verdict = judge(site, r)
    assert not verdict.ok, verdict
    technician, customer = advice(verdict), customer_advice(verdict)
    assert technician and customer and technician != customer
    assert not [word for word in JARGON if word in customer], customer
    assert "the probe's own words" not in customer
    found = customer_found(verdict)
    assert not [word for word in JARGON if word in found], found
    if status is Status.FILTERED and role != "sql":
        where = f"{spec.transport.upper()} {spec.port}"
        expected = (f"let {where} through to the DS server 10.0.0.5" if address == "10.0.0.5"
                    else f"at the site's router (192.0.2.10), forward {where} to the DS server")
        assert customer.startswith(expected), customer
