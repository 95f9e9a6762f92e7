"""Judgement (core layer): the one place where a probe result becomes OK, WARNING or CRITICAL.

Both frontends call ``judge_report`` and only present what it says, so "as expected" means the same in
Icinga, in cron and in a pytest handover run. Rules:

- an expected port that is ``open`` is OK, unless its response time breaks the site's ``critical`` or
  ``warning`` range (seconds, Monitoring Plugins syntax);
- ``open|filtered`` (UDP silence) is OK with a note -- silence proves nothing either way -- except for
  roles that must answer (the SQL Server Browser), where it is a failure;
- any other status (closed, filtered, invalid, unresolved, unknown) of an expected port gives the
  port's severity (catalogue default, or the site's override);
- a forbidden port that is reachable (``open``/``invalid``) gives its severity (CRITICAL by default);
  one that is ``open|filtered`` is OK with a note (it could not be proved closed);
- a probe that crashed (an internal error, not the network) is UNKNOWN;
- what the SQL Server Browser said about the SQL port becomes advice in the sentence: a port it names
  that does not answer is "forward TCP N" (the NAT failure DS sites actually have); a static port it
  does not name is noted;
- a SQL port answered by another instance than the expected one (PRELOGIN INSTOPT 1, the probe's fact
  ``sql_instance_confirmed: false``) is "TCP N reaches a SQL Server that is not instance X": NAT sends
  the port to the wrong machine, where DS clients would fail with "Instance failure";
- a port the server opens only while something happens (``catalogue.Role.live``: audio, while audio plays)
  is informational by default (severity ok): OK whatever an idle server shows, its note saying that it is
  not testable now (``untestable``); a site that makes it strict (``--severity audio=warning``) judges it
  as any port, for a test during a live session;
- the site's vantage point is judged once per site (``vantage``): a run that cannot prove the path the
  site's clients take (``reached_from``) leaves the site UNKNOWN, whatever its ports say.

Every piece of advice exists for two readers (``advice`` and ``customer_advice``, written side by side in
``advice_pair``): the technician's names options, statuses and protocols; the customer's says what to change in
the words of whoever runs the site's router and servers. A silent SQL Server Browser while the server's TCP
ports answer names internet providers' filters of UDP 1434 too (``Verdict.others_answer``).

``Verdict.detail`` is the probe's sentence as the judgement words it; ``Verdict.reason`` adds the port
and status in front: ``video 18772/tcp closed: connection refused ...``. Renderers present these and
never re-judge.
"""

from __future__ import annotations

import time

from check_digitalsentry import catalogue
from check_digitalsentry.addresses import CGNAT as CGNAT_KIND
from check_digitalsentry.addresses import PUBLIC, kind
from check_digitalsentry.catalogue import BROWSER, SQL
from check_digitalsentry.model import State, Status
from check_digitalsentry.protocols import shown
from check_digitalsentry.vantage import CGNAT_ADVICE, Vantage, judge_vantage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from check_digitalsentry.engine.sites import SiteReport
    from check_digitalsentry.model import PortResult
    from check_digitalsentry.schema import Site

#: Roles whose silence is a failure: their whole job is to answer (``catalogue.Role.must_answer``).
MUST_ANSWER = frozenset(role.name for role in catalogue.ROLES if role.must_answer)
#: Roles whose port the server opens only while something happens (``catalogue.Role.live``), and what.
LIVE = {role.name: role.live for role in catalogue.ROLES if role.live}
#: What runs behind each role's port, in the customer's words (``catalogue.Role.service``).
SERVICE = {role.name: role.service for role in catalogue.ROLES}


class Verdict:
    """A judged port result: the state, and the sentence that says why (with what to do)."""

    __slots__ = ("detail", "note", "others_answer", "reason", "result", "site", "state")

    def __init__(self, site: Site, result: PortResult, state: State, reason: str, note: str = "",
                 detail: str | None = None) -> None:
        self.site = site
        self.result = result
        self.state = state
        self.reason = reason  #: one sentence, e.g. "video 18772/tcp filtered: no answer within 10.0 s"
        self.note = note  #: what an OK result still wants said (UDP silence, a skipped check)
        self.detail = result.detail if detail is None else detail  #: the probe's sentence, as judged
        #: for a silent port that must answer (the Browser): a TCP port of the same address answered
        #: (``judge_report``), so the silence is a filter on the way (an internet provider's, a router's) or a
        #: stopped service, not a server that is down
        self.others_answer = False

    @property
    def ok(self) -> bool:
        return self.state is State.OK

    def __repr__(self) -> str:
        return f"Verdict({self.state}, {self.reason!r})"


def where(result: PortResult) -> str:
    """``18772/tcp``, or ``dynamic/tcp`` for a SQL port nobody named."""
    port = "dynamic" if result.port is None else str(result.port)
    return f"{port}/{result.transport}"


def _detail(result: PortResult) -> str:
    """The probe's sentence, with what the SQL Server Browser's answer means for the SQL port."""
    facts, status, port = result.facts, result.status, result.port
    if result.role != SQL or result.spec.forbidden:
        return result.detail
    if facts.sql_instance_confirmed is False:
        return (f"TCP {port} reaches a SQL Server that is not instance {shown(facts.instance, 40)} "
                f"({facts.sql_product} {facts.sql_version}, PRELOGIN INSTOPT 1): check where NAT "
                f"forwards TCP {port}")
    if facts.sql_port_from == "browser" and status in (Status.FILTERED, Status.CLOSED):
        verb = "does not answer" if status is Status.FILTERED else "refuses connections"
        return f"the SQL Server Browser names {port} but it {verb} ({result.detail}) — forward TCP {port}"
    named = facts.sql_browser_ports
    if named:
        return f"{result.detail}; note: the SQL Server Browser names {', '.join(map(str, named))}, not {port}"
    return result.detail


def judge(site: Site, result: PortResult) -> Verdict:
    """Judge one port result against what the site expects of it."""
    spec, status = result.spec, result.status
    head = f"{spec.role} {where(result)} {status}"
    detail = _detail(result)
    machine = bool(result.facts.internal_error or result.facts.local_limit)  # this machine decided, not the port
    if spec.forbidden and untested(result):
        # Never probed: nothing was observed there, so nothing is found either way -- NOT TESTED. OK when
        # its host's name did not resolve (the site's expected ports fail for it anyway), UNKNOWN when this
        # machine could not probe it, as for any port.
        return Verdict(site, result, State.UNKNOWN if machine else State.OK,
                       f"{head}: not tested ({detail}): nothing shows that it is blocked",
                       f"NOT TESTED: nothing shows that {where(result)} is blocked", detail)
    if machine:
        return Verdict(site, result, State.UNKNOWN, f"{head}: {detail}", detail=detail)
    if spec.forbidden:
        if status.reachable:
            note = "reachable, tolerated (severity ok)" if spec.severity is State.OK else ""
            return Verdict(site, result, spec.severity,
                           f"{head}: reachable but must not be ({detail}) — block {where(result)}", note, detail)
        note = "silent: could not be proved closed (UDP)" if status is Status.OPEN_FILTERED else ""
        return Verdict(site, result, State.OK, f"{head}: not reachable, as required", note, detail)
    if status is Status.OPEN:
        return _judge_time(site, result, head, detail)
    live = LIVE.get(spec.role)
    if live and spec.severity is State.OK and status not in UNTESTED:
        return Verdict(site, result, State.OK, f"{head}: {detail}",
                       f"informational: not testable while no {live} (an idle DS server need not listen on "
                       f"{result.transport.upper()} {result.port}); to test it, run with --severity "
                       f"{spec.role}=warning during a live session", detail)
    if status is Status.OPEN_FILTERED and spec.role not in MUST_ANSWER:
        return Verdict(site, result, State.OK, f"{head}: {detail}",
                       "silence proves nothing either way: not counted as a failure", detail)
    state = spec.severity
    note = f"{status} tolerated (severity ok)" if state is State.OK else ""
    return Verdict(site, result, state, f"{head}: {detail}", note, detail)


def certificate_problem(site: Site, result: PortResult) -> tuple[State, str] | None:
    """What is wrong with the certificate a TLS probe saw, and how bad: outside its validity period
    (the port's severity), or fewer days left than the site's ``cert_days`` thresholds."""
    facts = result.facts
    validity = facts.tls_validity
    period = f"valid {facts.tls_not_before} to {facts.tls_not_after}"
    if validity == "expired":
        return result.spec.severity, f"the certificate has expired ({period})"
    if validity == "not yet valid":
        return result.spec.severity, f"the certificate is not valid yet ({period})"
    days = facts.tls_days_left
    if site.cert_days is not None and isinstance(days, int):
        warn, crit = site.cert_days
        for limit, state, word in ((crit, State.CRITICAL, "critical"), (warn, State.WARNING, "warning")):
            if limit is not None and days < limit:
                return state, (f"the certificate expires in {days} days ({facts.tls_not_after}), fewer "
                               f"than the {word} threshold of {limit} days")
    return None


def _judge_time(site: Site, result: PortResult, head: str, detail: str) -> Verdict:
    problem = certificate_problem(site, result) if result.facts.tls_validity is not None else None
    if problem is not None and problem[0] is not State.OK:
        return Verdict(site, result, problem[0], f"{head}: {problem[1]}", detail=detail)
    seconds = result.seconds
    if seconds is not None:
        for limit, state, word in ((site.critical, State.CRITICAL, "critical"),
                                   (site.warning, State.WARNING, "warning")):
            if limit is not None and limit.violated_by(seconds):
                return Verdict(site, result, state, f"{head} but slow: answered in {seconds:.3f} s, outside the "
                                                    f"{word} range {limit}", detail=detail)
    return Verdict(site, result, State.OK, f"{head}: {detail}", detail=detail)


#: Statuses that mean the port was not tested at all: the name did not resolve, or the probe did not run.
UNTESTED = frozenset({Status.UNRESOLVED, Status.UNKNOWN})


def judge_report(report: SiteReport) -> list[Verdict]:
    """Judge every result of a site report, in report order: the results of the roles the site reports
    (``Site.roles``; all when empty), not those probed only because a chosen role depends on them."""
    site = report.site
    verdicts = [judge(site, result) for result in report.results if site.reports(result.role)]
    silent = [v for v in verdicts if v.result.status is Status.OPEN_FILTERED and v.result.role in MUST_ANSWER]
    if silent:
        answering = {(r.host, r.address) for r in report.results
                     if r.transport == "tcp" and r.status is Status.OPEN and not r.spec.forbidden}
        for v in silent:
            v.others_answer = (v.result.host, v.result.address) in answering
    return verdicts


def untestable(verdict: Verdict) -> str:
    """"not testable while no audio plays" for an informational result of a port the server opens only
    while something happens (``LIVE``, severity ok); "" for any other verdict."""
    r = verdict.result
    live = LIVE.get(r.role)
    if not live or r.spec.forbidden or r.spec.severity is not State.OK or r.status is Status.OPEN \
            or r.status in UNTESTED:
        return ""
    return f"not testable while no {live}"


def untested(result: PortResult) -> bool:
    """Nothing was observed at the port: it was never probed, or not in full -- its host's name did not
    resolve, what it depends on failed, no socket could be had (this machine's open-file limit), the probe
    failed. Its status is then no finding about the port, either way."""
    return result.status in UNTESTED or bool(result.facts.internal_error or result.facts.local_limit)


def not_proved(verdict: Verdict) -> bool:
    """A verdict that proves nothing, as its port was never probed (``untested``): a forbidden port,
    whatever its state (OK when its host's name did not resolve, UNKNOWN when this machine could not probe
    it) -- never proof that it is blocked, nor that it is reachable --, or an expected one whose failure
    the site tolerates (severity ok). Every output says NOT TESTED for it, with what makes it testable."""
    return untested(verdict.result) and (verdict.ok or verdict.result.spec.forbidden)


def sources(verdicts: Iterable[Verdict]) -> list[str]:
    """The local addresses the probes used (the vantage points), each once, in order of first use."""
    return list(dict.fromkeys(v.result.source for v in verdicts if v.result.source))


def worst(verdicts: Iterable[Verdict]) -> State:
    """The overall state: the worst verdict (UNKNOWN ranks above CRITICAL, as in nagiosplugin)."""
    return max((v.state for v in verdicts), default=State.OK)


def up(verdict: Verdict) -> int:
    """1 when an expected port answered as its role needs, or a forbidden port answered at all; else 0.
    Outputs leave it out for a port NOT TESTED (``not_proved``): its 0 would read as a finding."""
    status = verdict.result.status
    return int(status.reachable if verdict.result.spec.forbidden else status is Status.OPEN)


class JudgedSite:
    """One site's report, its verdicts in report order, its vantage point (``vantage.Vantage``: what path
    the run proved, and whether that is the one the site requires), its worst state (the vantage's
    included: a path not proved is UNKNOWN), its failing verdicts, and its open items (the failing
    verdicts and the forbidden ports that were never probed, in report order)."""

    __slots__ = ("failing", "open", "report", "site", "state", "vantage", "verdicts")

    def __init__(self, report: SiteReport, verdicts: list[Verdict] | None = None,
                 vantage: Vantage | None = None) -> None:
        self.report = report
        self.site = report.site
        self.verdicts: list[Verdict] = judge_report(report) if verdicts is None else verdicts
        self.vantage = judge_vantage(self.site, report.results) if vantage is None else vantage
        self.state: State = max(worst(self.verdicts), self.vantage.state)
        self.failing = [v for v in self.verdicts if not v.ok]
        self.open = [v for v in self.verdicts if not v.ok or not_proved(v)]

    def part(self, role: str) -> JudgedSite:
        """The site as one role's monitoring object sees it: that role's verdicts of the one judgement (and
        the site's vantage point: a path not proved leaves every part of the site unproved)."""
        return JudgedSite(self.report, [v for v in self.verdicts if v.result.role == role], self.vantage)


class JudgedRun:
    """A run judged once: ``sites`` (JudgedSite), all ``verdicts`` in order, the overall ``state``. What
    every renderer reads; building it is linear in the number of ports.

    ``seconds`` is how long the run took (its caller's clock); ``checked_at`` the Unix time it ended.
    """

    def __init__(self, sites: Sequence[JudgedSite], seconds: float, checked_at: float | None = None) -> None:
        self.sites = list(sites)
        self.reports = [judged.report for judged in self.sites]
        self.verdicts: list[Verdict] = [v for judged in self.sites for v in judged.verdicts]
        self.state: State = max((judged.state for judged in self.sites), default=State.OK)
        self.failing: list[Verdict] = [v for judged in self.sites for v in judged.failing]
        self.seconds = seconds
        self.checked_at = time.time() if checked_at is None else checked_at

    @classmethod
    def of(cls, reports: Sequence[SiteReport], seconds: float) -> JudgedRun:
        """Judge the reports of one engine run."""
        return cls([JudgedSite(report) for report in reports], seconds)


#: What the test found at a port, in the customer's words, by status (expected ports, forbidden ones).
FOUND = {
    Status.OPEN: ("answered as it should", "answered: it must be blocked"),
    Status.CLOSED: ("refused: nothing answers there", "blocked, as required (refused)"),
    Status.FILTERED: ("no answer: blocked on the way, or not forwarded", "blocked, as required (no answer)"),
    Status.OPEN_FILTERED: ("no reply (a silent port proves nothing either way)", "no reply: not proved blocked"),
    Status.INVALID: ("something else answered", "answered: it must be blocked"),
    Status.UNRESOLVED: ("not tested: the server's name was not found", "not tested: the name was not found"),
    Status.UNKNOWN: ("not tested: it depends on another port", "not tested"),
}


def customer_found(verdict: Verdict) -> str:
    """What the test found at a port, in the customer's words (the twin of the probe's ``detail``): no
    protocol words, no probe details."""
    r = verdict.result
    idle = untestable(verdict)
    if idle:
        return f"{idle} (an idle server need not answer)"
    if not_proved(verdict) and r.status not in UNTESTED:  # probed, but not in full: this machine's limit
        return "not tested: the test machine could not test it"
    if r.status is Status.OPEN and not verdict.ok and not r.spec.forbidden:
        problem = certificate_problem(verdict.site, r) if r.facts.tls_validity is not None else None
        return f"answered, but {problem[1]}" if problem is not None else "answered, but slowly"
    return FOUND[r.status][1 if r.spec.forbidden else 0]


def advice(verdict: Verdict) -> str:
    """What to change, in one sentence, for a verdict that is not OK, or that proves nothing (a forbidden
    port never probed: what makes it testable); "" for any other OK verdict. The technician's words (options,
    statuses, protocols); ``customer_advice`` says the same to the customer."""
    return advice_pair(verdict)[0]


def customer_advice(verdict: Verdict) -> str:
    """``advice`` in the customer's words: what to change at the site's router, firewall or servers, with
    no option names and no protocol jargon (the handover document's body)."""
    return advice_pair(verdict)[1]


def _forward(r: PortResult, where: str) -> str:
    """The customer's "forward TCP 18772 ...": at the site's router for a public address, to the DS server
    itself for a private one (the test reached it without the router's NAT)."""
    target = r.address or r.host
    if r.address is not None and kind(r.address) != PUBLIC:
        return (f"let {where} through to the DS server {target} (every firewall on the way, the server's own "
                f"included), and forward it there where a router stands in between")
    return f"at the site's router ({target}), forward {where} to the DS server, and let it through every firewall"


def advice_pair(verdict: Verdict) -> tuple[str, str]:
    """(the technician's advice, the customer's), side by side, case by case."""
    r = verdict.result
    if verdict.ok and not untested(r):  # the common case, first: nothing to change
        return "", ""
    where = f"{r.transport.upper()} {'the SQL port' if r.port is None else r.port}"
    said = f"{r.transport.upper()} {'the database port' if r.port is None else r.port}"
    service = SERVICE.get(r.role, f"the service behind {r.role}")
    if not_proved(verdict):
        until = f"until then nothing shows that {where} is {'blocked' if r.spec.forbidden else 'reachable'}"
        customer_until = f"nothing shows that {said} is {'blocked' if r.spec.forbidden else 'reachable'}"
        if r.status is Status.UNRESOLVED:
            return (f"make {r.host} resolve from here (DNS or hosts file) and test again: {until}",
                    f"the name {r.host} could not be found from the test machine, so {customer_until}: check the "
                    f"name, or give the server's address, and test again")
        if r.facts.local_limit:
            return (f"raise the check's open-file limit (ulimit -n; systemd: LimitNOFILE=), or check fewer sites "
                    f"in one run, and test again: {until}",
                    f"the test machine could not test {said} (too many at once), so {customer_until}: test again")
        if r.facts.internal_error:
            return (f"an internal error of the probe: please report it with this output; {until}",
                    f"the test itself failed on {said}, so {customer_until}: report it to whoever ran the test")
        return (f"test again once the probe of {where} can run: {until}",
                f"{said} could not be tested, so {customer_until}: test again")
    if verdict.ok:
        return "", ""
    target = r.address or r.host
    status = r.status
    if r.spec.forbidden:
        return (f"block {where} to {target} at the firewall: it must not be reachable from here",
                f"block {said} at the firewall in front of {target}: it answered, and it must not be "
                f"reachable from where the test ran")
    if status is Status.OPEN:
        if r.facts.tls_validity is not None and certificate_problem(verdict.site, r) is not None:
            return (f"install a valid certificate on the service behind {where} at {r.host} (DSWebService: "
                    f"IIS bindings), or renew it before it expires",
                    f"renew the certificate of {service} on {said} (on the DS server), before it expires")
        return (f"{where} answers, but slowly: check the link and the load on {r.host}",
                f"{said} answers, but slowly: check the site's internet line and the load on the DS server")
    if r.facts.tls_client_certificate_required:
        return (f"the TLS server on {where} at {target} asks every client for a certificate: Pelco Mobile "
                f"presents none; turn client certificates off for DSWebService (IIS SSL settings: ignore)",
                f"{service} on {said} asks every client for a certificate, which Pelco Mobile cannot give: have "
                f"it set to ignore client certificates")
    if status is Status.UNRESOLVED:
        return (f"make {r.host} resolve from here (DNS or hosts file), or use its address",
                f"the name {r.host} could not be found from the test machine: check the name, or use the "
                f"server's address")
    if status is Status.UNKNOWN:
        if r.facts.internal_error:
            return ("an internal error of the probe: please report it with this output",
                    "the test itself failed on this port: report it to whoever ran the test")
        if r.facts.local_limit:
            return ("this machine could not probe it: raise the check's open-file limit (ulimit -n; systemd: "
                    "LimitNOFILE=), or check fewer sites in one run",
                    "the test machine could not test this port (too many at once): test again")
        return ("fix what this port depends on first (the SQL Server Browser), or set a static SQL port",
                f"{service} could not be tested, because the SQL Server Browser gave no answer: fix that "
                f"first, or have the DS database set to a fixed port (DS QuickSetup > Tools > Configure SQL "
                f"Ports)")
    if status is Status.FILTERED:
        technician = f"allow and forward {where} to {target} through every firewall and NAT between here and " \
                     f"the server"
        customer = f"{_forward(r, said)}: no answer came"
        if r.address is not None and kind(r.address) == CGNAT_KIND and verdict.site.reached_from != "vpn":
            technician += f"; but {CGNAT_ADVICE[0].format(address=r.address)}"
            customer = CGNAT_ADVICE[1]
        elif r.transport == "tcp" and r.port == 1433:
            technician += "; some internet providers filter TCP 1433 (since the SQL Slammer worm): if it stays " \
                          "silent, use another static SQL port"
            customer += "; some internet providers block this port: if so, the DS database needs another one"
        return technician, customer
    if status is Status.CLOSED:
        return (f"nothing listens on {where} at {target}: check that the DS service behind {r.role} runs, and "
                f"that NAT forwards {where} to the DS server itself",
                f"check that {service} runs on the DS server, and that any port forward of {said} points at "
                f"the DS server itself, not at another machine")
    if status is Status.OPEN_FILTERED:
        technician = (f"allow UDP {r.port} to {target} and check that the SQL Server Browser service runs "
                      f"(no reply came)")
        customer = (f"{_forward(r, said)}, and check that the SQL Server Browser service runs on the DS "
                    f"server: no reply came")
        if verdict.others_answer and r.role == BROWSER:
            technician += (f"; the server's TCP ports answer, so the internet provider may filter UDP {r.port} "
                           f"(several do, since the SQL Slammer worm). The fix that needs no Browser: a static "
                           f"SQL port on the DS server (DS QuickSetup > Tools > Configure SQL Ports), forwarded "
                           f"and given as sql_port (--sql-port); then test again from a second network")
            customer += (f". The server's other ports do answer, so your internet provider may be blocking "
                         f"UDP {r.port} (several do, against an old virus): ask your internet provider, or "
                         f"have the DS database set to a fixed port that is forwarded like the others (DS "
                         f"QuickSetup > Tools > Configure SQL Ports), and test again from a second internet "
                         f"connection")
        return technician, customer
    if r.role == SQL and r.facts.sql_instance_confirmed is False:
        name = shown(r.facts.instance, 40)
        return (f"another SQL Server than instance {name} answers on {where} at {target}: make every NAT and "
                f"port forward send {where} to the DS server that runs {name}, and check which instance "
                f"listens on {r.port} there (SQL Server Configuration Manager, TCP/IP, IPAll)",
                f"{said} reaches a database that is not the DS server's: make the port forward of {said} "
                f"point at the DS server, not at another machine")
    listed = r.facts.instances
    if r.role == BROWSER and listed is not None:
        names = ", ".join(shown(i.instance, 40) for i in listed[:10]) or "nothing"
        if len(listed) > 10:
            names += f" and {len(listed) - 10} more"
        return (f"the SQL Server Browser answers but names no usable port for the DS instance (it lists "
                f"{names}): check the instance name, that TCP/IP is enabled for it and that it is not hidden",
                "the SQL Server Browser on the DS server answers, but does not name the DS database: have the "
                "integrator check the database setup on the DS server")
    return (f"something answers on {where} that is not what {r.role} needs: check where the firewall or NAT "
            f"sends {where}, and the service there",
            f"something answers on {said} that is not {service}: check that {said} is forwarded to the DS "
            f"server, not to another machine")
