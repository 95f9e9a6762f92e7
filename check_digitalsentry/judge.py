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
  the port to the wrong machine, where DS clients would fail with "Instance failure".

``Verdict.detail`` is the probe's sentence as the judgement words it; ``Verdict.reason`` adds the port
and status in front: ``video 18772/tcp closed: connection refused ...``. Renderers present these and
never re-judge.
"""

from __future__ import annotations

import time

from check_digitalsentry import catalogue
from check_digitalsentry.catalogue import BROWSER, SQL
from check_digitalsentry.model import State, Status
from check_digitalsentry.protocols import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from check_digitalsentry.engine.sites import SiteReport
    from check_digitalsentry.model import PortResult
    from check_digitalsentry.schema import Site

#: Roles whose silence is a failure: their whole job is to answer (``catalogue.Role.must_answer``).
MUST_ANSWER = frozenset(role.name for role in catalogue.ROLES if role.must_answer)


class Verdict:
    """A judged port result: the state, and the sentence that says why (with what to do)."""

    __slots__ = ("detail", "note", "reason", "result", "site", "state")

    def __init__(self, site: Site, result: PortResult, state: State, reason: str, note: str = "",
                 detail: str | None = None) -> None:
        self.site = site
        self.result = result
        self.state = state
        self.reason = reason  #: one sentence, e.g. "video 18772/tcp filtered: no answer within 10.0 s"
        self.note = note  #: what an OK result still wants said (UDP silence, a skipped check)
        self.detail = result.detail if detail is None else detail  #: the probe's sentence, as judged

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


def judge_report(report: SiteReport) -> list[Verdict]:
    """Judge every result of a site report, in report order: the results of the roles the site reports
    (``Site.roles``; all when empty), not those probed only because a chosen role depends on them."""
    site = report.site
    return [judge(site, result) for result in report.results if site.reports(result.role)]


#: Statuses that mean the port was not tested at all: the name did not resolve, or the probe did not run.
UNTESTED = frozenset({Status.UNRESOLVED, Status.UNKNOWN})


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
    """One site's report, its verdicts in report order, its worst state, its failing verdicts, and its
    open items (the failing verdicts and the forbidden ports that were never probed, in report order)."""

    __slots__ = ("failing", "open", "report", "site", "state", "verdicts")

    def __init__(self, report: SiteReport, verdicts: list[Verdict] | None = None) -> None:
        self.report = report
        self.site = report.site
        self.verdicts: list[Verdict] = judge_report(report) if verdicts is None else verdicts
        self.state: State = worst(self.verdicts)
        self.failing = [v for v in self.verdicts if not v.ok]
        self.open = [v for v in self.verdicts if not v.ok or not_proved(v)]

    def part(self, role: str) -> JudgedSite:
        """The site as one role's monitoring object sees it: that role's verdicts of the one judgement."""
        return JudgedSite(self.report, [v for v in self.verdicts if v.result.role == role])


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


def advice(verdict: Verdict) -> str:
    """What to change, in one sentence, for a verdict that is not OK, or that proves nothing (a forbidden
    port never probed: what makes it testable); "" for any other OK verdict."""
    r = verdict.result
    where = f"{r.transport.upper()} {'the SQL port' if r.port is None else r.port}"
    if not_proved(verdict):
        until = f"until then nothing shows that {where} is {'blocked' if r.spec.forbidden else 'reachable'}"
        if r.status is Status.UNRESOLVED:
            return f"make {r.host} resolve from here (DNS or hosts file) and test again: {until}"
        if r.facts.local_limit:
            return (f"raise the check's open-file limit (ulimit -n; systemd: LimitNOFILE=), or check fewer sites "
                    f"in one run, and test again: {until}")
        if r.facts.internal_error:
            return f"an internal error of the probe: please report it with this output; {until}"
        return f"test again once the probe of {where} can run: {until}"
    if verdict.ok:
        return ""
    target = r.address or r.host
    status = r.status
    if r.spec.forbidden:
        return f"block {where} to {target} at the firewall: it must not be reachable from here"
    if status is Status.OPEN:
        if r.facts.tls_validity is not None and certificate_problem(verdict.site, r) is not None:
            return (f"install a valid certificate on the service behind {where} at {r.host} (DSWebService: "
                    f"IIS bindings), or renew it before it expires")
        return f"{where} answers, but slowly: check the link and the load on {r.host}"
    if r.facts.tls_client_certificate_required:
        return (f"the TLS server on {where} at {target} asks every client for a certificate: Pelco Mobile "
                f"presents none; turn client certificates off for DSWebService (IIS SSL settings: ignore)")
    if status is Status.UNRESOLVED:
        return f"make {r.host} resolve from here (DNS or hosts file), or use its address"
    if status is Status.UNKNOWN:
        if r.facts.internal_error:
            return "an internal error of the probe: please report it with this output"
        if r.facts.local_limit:
            return ("this machine could not probe it: raise the check's open-file limit (ulimit -n; systemd: "
                    "LimitNOFILE=), or check fewer sites in one run")
        return "fix what this port depends on first (the SQL Server Browser), or set a static SQL port"
    if status is Status.FILTERED:
        return f"allow and forward {where} to {target} through every firewall and NAT between here and the server"
    if status is Status.CLOSED:
        return (f"nothing listens on {where} at {target}: check that the DS service behind {r.role} runs, and "
                f"that NAT forwards {where} to the DS server itself")
    if status is Status.OPEN_FILTERED:
        return (f"allow UDP {r.port} to {target} and check that the SQL Server Browser service runs "
                f"(no reply came)")
    if r.role == SQL and r.facts.sql_instance_confirmed is False:
        name = shown(r.facts.instance, 40)
        return (f"another SQL Server than instance {name} answers on {where} at {target}: make every NAT and "
                f"port forward send {where} to the DS server that runs {name}, and check which instance "
                f"listens on {r.port} there (SQL Server Configuration Manager, TCP/IP, IPAll)")
    listed = r.facts.instances
    if r.role == BROWSER and listed is not None:
        names = ", ".join(shown(i.instance, 40) for i in listed[:10]) or "nothing"
        if len(listed) > 10:
            names += f" and {len(listed) - 10} more"
        return (f"the SQL Server Browser answers but names no usable port for the DS instance (it lists "
                f"{names}): check the instance name, that TCP/IP is enabled for it and that it is not hidden")
    return (f"something answers on {where} that is not what {r.role} needs: check where the firewall or NAT "
            f"sends {where}, and the service there")
