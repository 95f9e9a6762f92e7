"""The handover document (render layer): a judged run as one self-contained HTML file to print, sign and
hand to the customer. Used by both frontends (pytest_dsports' ``--dsports-report``, the check's
``--format html``).

No JavaScript and nothing loaded from anywhere: the stylesheet (``data/handover.css``) is inlined, fonts
are the system's, the only links are to anchors inside the file. It reads in a browser and in a mail
client, and prints: every site starts a page, rows are never cut, and the page margins name the site
and the page (CSS paged media: named pages and ``@page`` margin boxes; a repeated table caption names
the site where margin boxes are not supported).

Two readers. The body is the customer's, in the customer's words (``judge.customer_advice``, ``vantage``):
the first page (the overall verdict, a banner for each site whose test is not a test of the path its clients
take, one line per site, the open items with what to change, who tested when and from where), a page per
site (verdict, banner, identification, the ports and what the test found, the forbidden-port audit, the open
items), how to read the report, the sign-off. A technical appendix per site follows, for the technician:
the vantage point, every port's status, time, address, source and detail, what the probes learned, and the
technician's advice. Audio shows "not testable while no audio plays", never a pass. Every string that came
from the network or the inventory is escaped. It only presents the judgement (``judge``); never re-judges.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from check_digitalsentry import catalogue, words
from check_digitalsentry.judge import (
    advice,
    customer_advice,
    customer_found,
    not_proved,
    sources,
    untestable,
    where,
)
from check_digitalsentry.model import MEANING, State, Status
from check_digitalsentry.vantage import CLIENTS, NOT_A_TEST
from check_digitalsentry.words import seconds_text, site_sentence, stamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from check_digitalsentry.judge import JudgedRun, JudgedSite, Verdict
    from check_digitalsentry.model import PortResult, RunInfo
    from check_digitalsentry.outputs import Rendering

TITLE = "Digital Sentry port handover"
CLOSING = "Reading this report, and sign-off"
APPENDIX = "Technical appendix"
STYLE = Path(__file__).resolve().parent.parent / "data" / "handover.css"
#: Open items listed on the first page; the rest are with their sites.
FIRST_PAGE_ITEMS = 10
PURPOSE = {role.name: role.purpose.split(" (")[0].split(":")[0].split(",")[0] for role in catalogue.ROLES}
PURPOSE[catalogue.FORBID] = "must not be reachable"
NONE = '<span class="muted">none</span>'
#: The verdict in words: (css class, word, what it means for the handover).
WORDS = {
    State.OK: ("ok", "PASSED", "as required"),
    State.WARNING: ("warning", "PASSED WITH WARNINGS", "not as required (warning)"),
    State.CRITICAL: ("critical", "FAILED", "not as required"),
    State.UNKNOWN: ("unknown", "NOT JUDGED", "not judged (an internal error of the test)"),
}
_CONTROL = {c: "\ufffd" for c in (*range(0, 9), 11, 12, *range(14, 32), *range(127, 160))}
_CONTROL.update({c: "\ufffd" for c in range(0xD800, 0xE000)})
_CONTROL.update({c: "\ufffd" for c in range(0xFDD0, 0xFDF0)})
_CONTROL.update({plane + low: "\ufffd" for plane in range(0, 0x110000, 0x10000) for low in (0xFFFE, 0xFFFF)})


def esc(value: object) -> str:
    """Text for HTML: escaped, and without what HTML cannot carry (control characters, lone
    surrogates, noncharacters become U+FFFD)."""
    return escape(str(value).translate(_CONTROL), quote=True)


def css_string(text: str, limit: int = 70) -> str:
    """Text as a CSS string literal, every character but letters, digits and a few signs hex-escaped (so
    nothing in it can end the string or the style element; spaces too, or an escape would swallow one)."""
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    safe = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,_-()")
    return '"' + "".join(c if c in safe else f"\\{ord(c):06x}" for c in text.translate(_CONTROL)) + '"'


def site_word(judged: JudgedSite) -> tuple[str, str]:
    """A site's verdict: (css class, word). A site whose run cannot prove the path its clients take is NOT
    PROVED; one whose only open items are untested ports (forbidden, or not required) is INCOMPLETE:
    nothing proves them blocked, or tested."""
    if not judged.vantage.ok:
        return "unknown", "NOT PROVED"
    if judged.state is State.OK and judged.open:
        return "incomplete", "INCOMPLETE"
    css, word, _ = WORDS[judged.state]
    return css, word


def row_class(verdict: Verdict) -> str:
    if not_proved(verdict) or untestable(verdict):
        return "untested"
    return {State.OK: "", State.WARNING: "warn"}.get(verdict.state, "fail")


def badge(verdict: Verdict) -> str:
    if not_proved(verdict):
        return '<span class="badge incomplete">NOT TESTED</span>'
    if untestable(verdict):
        return '<span class="badge incomplete">NOT TESTABLE</span>'
    css = WORDS[verdict.state][0]
    mark = "&#8201;†" if verdict.result.status is Status.OPEN_FILTERED and verdict.ok else ""
    return f'<span class="badge {css}">{verdict.state}{mark}</span>'


def item_title(verdict: Verdict) -> str:
    r = verdict.result
    return (f"{esc(r.role)} {esc(where(r))} on {esc(r.host)}: "
            f"{'not tested' if not_proved(verdict) else esc(r.status)}")


def customer_title(verdict: Verdict) -> str:
    """``TCP 18772 — video to DS ControlPoint and DS Admin — on ds01: refused: nothing answers there``."""
    r = verdict.result
    port = "the database port" if r.port is None else r.port
    purpose = PURPOSE.get(r.role, r.role)
    return f"{r.transport.upper()} {port} — {esc(purpose)} — on {esc(r.host)}: {esc(customer_found(verdict))}"


# --- the parts of the document -----------------------------------------------------------------------


def masthead(info: RunInfo, heading: str, kicker: str = TITLE) -> str:
    started_utc, _ = stamp(info.started)
    return (f'<div class="masthead"><div><div class="kicker">{esc(kicker)}</div>{heading}</div>'
            f'<div class="ref">Tested {esc(started_utc[:10])}<br>by {esc(info.tester)}</div></div>')


def facts_table(rows: Iterable[tuple[str, str]], css: str = "facts") -> str:
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows if value)
    return f'<table class="{css}"><tbody>{body}</tbody></table>'


def run_record(run: JudgedRun, info: RunInfo) -> str:
    """Who tested, when, from where, and with what."""
    started_utc, started_local = stamp(info.started)
    ended_utc, ended_local = stamp(info.ended)
    vantage = sources(run.verdicts)
    inventories = "<br>".join(
        f'{esc(name)}<span class="sub mono">SHA-256 {esc(sha or "(could not be read)")}</span>'
        for name, sha in info.inventories) or '<span class="muted">none: sites from the command line</span>'
    rows = [
        ("Tested by", esc(info.tester)),
        ("Test machine", esc(info.host_name)),
        ("Tested from (source address)", "<br>".join(f'<span class="mono">{esc(a)}</span>' for a in vantage)
         or '<span class="muted">no test got as far as the network</span>'),
        ("Started", esc(started_utc) + _sub(started_local)),
        ("Ended", esc(ended_utc) + _sub(ended_local)),
        ("Duration", esc(f"{max(info.ended - info.started, 0.0):.1f} s")),
        ("Tool", esc(info.tool)),
        ("Inventory", inventories),
    ]
    return facts_table(rows)


def _sub(text: str) -> str:
    return f'<span class="sub">{esc(text)}</span>' if text else ""


def summary_rows(run: JudgedRun) -> str:
    rows = []
    for index, judged in enumerate(run.sites, 1):
        css, word = site_word(judged)
        wrong = "; ".join(f"{esc(v.result.role)} {esc(where(v.result))}: {esc(customer_found(v))}"
                          + (f' <span class="muted">on {esc(v.result.host)}</span>'
                             if len(judged.site.hosts) > 1 else "")
                          for v in judged.open)
        path = esc(judged.vantage.short)
        if not judged.vantage.ok:
            path = f'<b class="unknown">{esc(NOT_A_TEST[judged.vantage.required or ""])}</b>: {path}'
        rows.append(
            f'<tr><td class="nowrap"><a href="#site-{index}"><b>{esc(judged.site.name)}</b></a></td>'
            f"<td>{esc(judged.site.description)}</td>"
            f'<td class="nowrap"><span class="badge {css}">{word}</span></td>'
            f"<td>{path}</td>"
            f'<td class="num">{len(judged.open)} of {len(judged.verdicts)}</td>'
            f"<td>{wrong or NONE}</td></tr>")
    return "".join(rows)


def vantage_banner(judged: JudgedSite, name: bool = False) -> str:
    """The banner of a site whose run is not a test of the path its clients take ("not a test of the NAT"),
    with what to do; a note for a carrier-grade NAT address; "" otherwise."""
    vantage = judged.vantage
    who = f"{esc(judged.site.name)}: " if name else ""
    if not vantage.ok:
        return (f'<div class="verdict path unknown"><div class="word">{esc(NOT_A_TEST[vantage.required or ""])}'
                f'</div><div class="why">{who}{esc(vantage.customer_reason)} <b>To do:</b> '
                f"{esc(vantage.customer_advice)}.</div></div>")
    if vantage.customer_advice:
        return f'<div class="finding sev-unknown"><b>{who}Note:</b> {esc(vantage.customer_advice)}.</div>'
    return ""


def first_page(run: JudgedRun, info: RunInfo) -> str:
    opened = [(index, v) for index, judged in enumerate(run.sites, 1) for v in judged.open]
    failing_sites = sum(1 for judged in run.sites if judged.open)
    unproved = [judged for judged in run.sites if not judged.vantage.ok]
    if not run.sites:
        css, word, why = "unknown", "NOTHING TESTED", "No site was probed in this run."
    elif unproved:
        css, word = "unknown", "NOT PROVED"
        why = (f"{len(unproved)} of {len(run.sites)} site{'s' if len(run.sites) != 1 else ''}: the test did not "
               f"run the way the site's clients come (see below)"
               + (f"; {len(opened)} of {len(run.verdicts)} ports are not as required." if opened else "."))
    elif run.state is State.OK and opened:
        css, word = "incomplete", "INCOMPLETE"
        why = f"{len(opened)} forbidden port{'s' if len(opened) != 1 else ''} could not be tested."
    else:
        css, word, _ = WORDS[run.state]
        ports = len(run.verdicts)
        if not opened:
            why = (f"All {ports} ports of {'the site' if len(run.sites) == 1 else f'all {len(run.sites)} sites'} "
                   f"are as required.")
        else:
            why = (f"{len(opened)} of {ports} ports {'is' if len(opened) == 1 else 'are'} not as required, on "
                   f"{failing_sites} of {len(run.sites)} site{'s' if len(run.sites) != 1 else ''}: the open items "
                   f"below say what to change.")
    names = ", ".join(judged.site.name for judged in run.sites[:3]) + ("…" if len(run.sites) > 3 else "")
    customers = list(dict.fromkeys(judged.site.customer for judged in run.sites if judged.site.customer))
    kicker = f"Network acceptance{' for ' + ', '.join(customers) if customers else ''}"
    items = []
    for index, verdict in opened[:FIRST_PAGE_ITEMS]:
        items.append(f'<li><a href="#site-{index}"><b>{esc(verdict.site.name)}</b></a> — '
                     f"{customer_title(verdict)}. "
                     f'<span class="muted">To fix:</span> {esc(customer_advice(verdict))}.</li>')
    more = len(opened) - FIRST_PAGE_ITEMS
    open_items = (f'<ol class="items">{"".join(items)}</ol>'
                  + (f'<p class="muted">…and {more} more, each listed with its site.</p>' if more > 0 else "")
                  if opened else '<p class="muted">None: nothing is left to do.</p>' if not unproved
                  else '<p class="muted">None among the ports tested; the test itself must be repeated as said '
                       'above.</p>')
    return (
        f'<section class="sheet cover" id="summary">{masthead(info, f"<h1>{esc(TITLE)}</h1>", kicker)}'
        f'<p class="muted">Are the Digital Sentry servers reachable the way DS ControlPoint, DS Admin and Pelco '
        f'Mobile need them, from where the test ran? {len(run.sites)} site{"s" if len(run.sites) != 1 else ""}: '
        f'{esc(names)}.</p>'
        f'<div class="verdict big {css}"><div class="word">{word}</div><div class="why">{esc(why)}</div></div>'
        + "".join(vantage_banner(judged, name=True) for judged in run.sites)
        + f'<h3>Sites</h3><table><thead><tr><th>Site</th><th>Description</th><th>Verdict</th>'
        f'<th>Tested</th><th class="num">Open items</th><th>Ports not as required</th></tr></thead>'
        f"<tbody>{summary_rows(run)}</tbody></table>"
        f"<h3>Open items</h3>{open_items}"
        f"<h3>Who, when, from where</h3>{run_record(run, info)}</section>")


def main_source(verdicts: list[Verdict]) -> str | None:
    """The source address most probes of a site used (its vantage point), if any probe had one."""
    used = [v.result.source for v in verdicts if v.result.source]
    return max(dict.fromkeys(used), key=used.count) if used else None


def state_cell(verdict: Verdict) -> str:
    """The judged state of a port: a forbidden one's audit word, an expected one's badge."""
    return audit_cell(verdict) if verdict.result.spec.forbidden else badge(verdict)


def host_cell(r: PortResult) -> str:
    """A port's host, with the address it was probed at where that is not the host itself."""
    return f"<b>{esc(r.host)}</b>" + (f'<span class="sub">address {esc(r.address)}</span>'
                                      if r.address and r.address != r.host else "")


def port_rows(verdicts: list[Verdict], common: str | None) -> str:
    """The appendix's rows (the technician's): host (with its address, and the source address where it is not
    the common one), port, role, status, time, the judged state, and the probe's detail with the note."""
    rows = []
    for v in verdicts:
        r = v.result
        host = host_cell(r)
        if r.source != common:
            host += f'<span class="sub">{"from " + esc(r.source) if r.source else "no socket opened"}</span>'
        silent = r.status is Status.OPEN_FILTERED and v.ok and not untestable(v)  # the † explains it once
        note = f'<span class="sub">{esc(v.note)}</span>' if v.note and not silent else ""
        rows.append(
            f'<tr class="{row_class(v)}"><td>{host}</td>'
            f'<td class="nowrap">{esc(where(r))}</td>'
            f'<td>{esc(r.role)}<span class="sub">{esc(PURPOSE.get(r.role, ""))}</span></td>'
            f'<td class="nowrap">{esc(r.status)}</td><td class="num">{seconds_text(r.seconds)}</td>'
            f"<td>{state_cell(v)}</td><td>{esc(v.detail)}{note}</td></tr>")
    return "".join(rows)


def port_table(judged: JudgedSite, verdicts: list[Verdict], what: str) -> str:
    """The appendix's table of ports (``port_rows``), its caption naming the site and the vantage point."""
    common = main_source(judged.verdicts)
    caption = f"{esc(judged.site.name)} — {what}" + (f"; probed from {esc(common)}" if common else "")
    return (f'<table class="matrix"><thead><tr class="caption"><th colspan="7">{caption}</th></tr>'
            f"<tr><th>Host</th><th>Port</th><th>Role</th><th>Status</th>"
            f'<th class="num">Time</th><th>State</th><th>Detail</th></tr></thead>'
            f"<tbody>{port_rows(verdicts, common)}</tbody></table>")


def customer_table(judged: JudgedSite, verdicts: list[Verdict], what: str, result: str,
                   result_cell: Callable[[Verdict], str]) -> str:
    """The body's table of ports (the customer's): server, port, what it is for, the result, and what the test
    found, in words; the statuses, times and probe details are in the appendix."""
    rows = []
    for v in verdicts:
        r = v.result
        rows.append(f'<tr class="{row_class(v)}"><td>{host_cell(r)}</td><td class="nowrap">{esc(where(r))}</td>'
                    f"<td>{esc(PURPOSE.get(r.role, r.role))}</td><td>{result_cell(v)}</td>"
                    f"<td>{esc(customer_found(v))}</td></tr>")
    return (f'<table class="matrix customer"><thead><tr class="caption"><th colspan="5">{esc(judged.site.name)} — '
            f"{what}</th></tr><tr><th>Server</th><th>Port</th><th>What it is for</th><th>{result}</th>"
            f"<th>What the test found</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def port_matrix(judged: JudgedSite) -> str:
    expected = [v for v in judged.verdicts if not v.result.spec.forbidden]
    if not expected:
        return '<p class="muted">No port is expected of this site.</p>'
    return customer_table(judged, expected, "port matrix", "State", badge)


def learned(judged: JudgedSite) -> str:
    """What the probes learned, per host: the SQL Server and its instance, the Browser, the certificate."""
    out = []
    for host in judged.site.hosts:
        rows = [(esc(label), f'<span class="critical">{esc(text)}</span>' if alarming else esc(text))
                for v in judged.verdicts if v.result.host == host and not v.result.spec.forbidden
                for label, text, alarming in words.learned(v.result)]
        body = (facts_table(rows) if rows else
                '<p class="muted small">Nothing: no SQL Server, Browser or TLS answer came from this host.</p>')
        out.append(f"<div><p><b>{esc(host)}</b></p>{body}</div>")
    return f'<div class="two">{"".join(out)}</div>' if len(out) > 1 else "".join(out)


def audit_cell(v: Verdict) -> str:
    if not_proved(v):
        return '<span class="badge incomplete">NOT TESTED</span>'
    if not v.ok:
        return f'<span class="badge {WORDS[v.state][0]}">REACHABLE</span>'
    if v.result.status is Status.OPEN_FILTERED:
        return '<span class="badge warning">NOT PROVED&#8201;†</span>'
    return '<span class="badge ok">BLOCKED</span>'


def audit(judged: JudgedSite) -> str:
    forbidden = [v for v in judged.verdicts if v.result.spec.forbidden]
    if not forbidden:
        return '<p class="muted">No forbidden ports are set for this site: nothing was audited.</p>'
    return customer_table(judged, forbidden, "forbidden-port audit", "Result", audit_cell)


def findings(judged: JudgedSite, technician: bool = False) -> str:
    """The open items, what is wrong and what to change: in the customer's words, or (``technician``, the
    appendix) with the probe's detail, time, address and source, and the technician's advice."""
    if not judged.open:
        return '<p class="ok">None: every port is as required.</p>'
    out = []
    for v in judged.open:
        css = "incomplete" if not_proved(v) else WORDS[v.state][0]
        r = v.result
        if technician:
            title = item_title(v)
            text = (f'<div class="small">{esc(v.detail)} <span class="muted">(time {seconds_text(r.seconds)}; '
                    f'address {esc(r.address or "—")}; from {esc(r.source or "—")})</span></div>')
        else:
            title, text = customer_title(v), ""
        out.append(f'<div class="finding sev-{css}"><div class="title">{title} <span class="badge {css}">'
                   f'{"NOT TESTED" if not_proved(v) else v.state}</span></div>{text}'
                   f'<div class="fix"><b>To fix:</b> {esc(advice(v) if technician else customer_advice(v))}.</div>'
                   f"</div>")
    return "".join(out)


def site_page(index: int, judged: JudgedSite, info: RunInfo, count: int) -> str:
    site = judged.site
    css, word = site_word(judged)
    vantage, required = sources(judged.verdicts), judged.vantage.required
    ident = [
        ("Site", f"<b>{esc(site.name)}</b>"),
        ("Description", esc(site.description)),
        ("Customer", esc(site.customer)),
        ("Location", esc(site.location).replace("\n", "<br>")),
        ("Servers", "<br>".join(esc(h) for h in site.hosts)),
        ("Reference", esc(site.reference)),
        ("Clients come", esc(f"{CLIENTS[required]}: the test must show that path") if required else ""),
        ("Tested", esc(judged.vantage.customer_proved)),
        ("Tested from", ", ".join(esc(a) for a in vantage) or "—"),
        ("Technical detail", f'<a href="#appendix-{index}">appendix {index}</a>, for the technician'),
    ]
    silent = any(v.result.status is Status.OPEN_FILTERED and v.ok and not untestable(v) for v in judged.verdicts)
    return (
        f'<section class="sheet site" id="site-{index}">'
        f'{masthead(info, f"<h2>Site {index} of {count}: {esc(site.name)}</h2>")}'
        f'<div class="verdict {css}"><div class="word">{word}</div><div class="why">{esc(site_sentence(judged))}'
        f"</div></div>{vantage_banner(judged)}"
        f'<h3>Identification</h3><div class="two">{facts_table(ident[:5])}{facts_table(ident[5:])}</div>'
        f"<h3>Port matrix</h3>{port_matrix(judged)}"
        + ('<p class="small muted">† No reply: see “Reading this report” at the end.</p>' if silent else "")
        + f"<h3>Forbidden-port audit</h3>{audit(judged)}"
        f"<h3>Open items and what to change</h3>{findings(judged)}</section>")


def appendix_intro(info: RunInfo) -> str:
    """The first page of the technical appendix: what it holds, and the status words."""
    reading = "".join(f"<tr><th>{esc(word)}</th><td>{esc(text)}</td></tr>" for word, text in MEANING.items())
    return (f'<section class="sheet appendix" id="appendix">{masthead(info, f"<h2>{esc(APPENDIX)}</h2>")}'
            "<p>For the technician: for each site, the path its probes took (the addresses, their kinds, and the "
            "source address), every port with the status the probe saw, its time and the probe's own words, "
            "what the probes learned from the SQL Server Browser, the SQL Server and the TLS certificate, and "
            "each open item with the technician's advice (the options and settings to change).</p>"
            f'<h3>The status words</h3><table class="facts reading"><tbody>{reading}</tbody></table>'
            + (f'<h3>The command</h3><p class="mono">{esc(info.command)}</p>' if info.command else "")
            + "</section>")


def appendix_page(index: int, judged: JudgedSite, info: RunInfo) -> str:
    """A site's technical appendix: the vantage point, every port with its status, time and the probe's
    detail, what the probes learned, and the open items with the technician's advice."""
    site, vantage = judged.site, judged.vantage
    points = "<br>".join(esc(point.where()) for point in vantage.points) or "no address was probed"
    rows = [("Addresses probed", points), ("Proved", esc(vantage.proved)),
            ("Required (reached_from)", esc(vantage.required or "nothing: no reached_from is set")),
            ("Not proved", esc(vantage.reason)), ("Advice", esc(vantage.advice)),
            ("Probed in", esc(f"{judged.report.seconds:.2f} s (time allowed {judged.report.budget:g} s)"))]
    return (
        f'<section class="sheet appendix" id="appendix-{index}">'
        f'{masthead(info, f"<h2>Appendix {index}: {esc(site.name)}</h2>", f"{APPENDIX}, for the technician")}'
        f"<h3>Vantage point</h3>{facts_table(rows)}"
        f"<h3>Every port</h3>{port_table(judged, judged.verdicts, 'every port')}"
        f"<h3>What the probes learned</h3>{learned(judged)}"
        f"<h3>Open items, for the technician</h3>{findings(judged, technician=True)}</section>")


def closing(run: JudgedRun, info: RunInfo) -> str:
    customers = list(dict.fromkeys(judged.site.customer for judged in run.sites if judged.site.customer))
    ended_utc, _ = stamp(info.ended)
    party = (
        '<div class="party"><h4>{title}</h4><div class="line">{name}</div><div class="label">Name</div>'
        '<div class="line">{org}</div><div class="label">Company</div>'
        '<div class="line">{date}</div><div class="label">Date</div>'
        '<div class="line tall"></div><div class="label">Signature</div></div>')
    return (
        f'<section class="sheet closing" id="signoff">{masthead(info, f"<h2>{esc(CLOSING)}</h2>")}'
        "<h3>Reading this report</h3><p>Each port was tested from the test machine, at the source address shown: "
        "the result holds for that path, and no other. Each site's <b>Tested</b> line says which: from outside, "
        "through the site's internet address (as clients on the internet come), or from inside the site's "
        "network, which shows nothing about the router's port forwarding: a site whose clients come from the "
        "internet is then NOT PROVED (“not a test of the NAT”), whatever its ports show.</p>"
        "<p>The <b>State</b> column is the judgement: OK, WARNING (a port whose failure does not stop DS clients, "
        "or a slow answer) or CRITICAL (DS clients cannot work as required); NOT TESTED marks a port that could "
        "not be tested; NOT TESTABLE a port the DS server opens only while something happens (audio: while a "
        "ControlPoint client listens): an idle server need not answer there; it is tested during a live audio "
        "session, on request. † No reply: some ports (UDP) answer only when the service has something to say, "
        "so a silent port may be open or blocked on the way, and silence proves nothing either way: an expected "
        "port that stays silent is not a failure (the SQL Server Browser must answer), and a forbidden one is "
        "not proved blocked. The technical appendix at the end says what the probes saw, for the "
        "technician.</p>"
        '<div class="signing"><h3>Sign-off</h3><p>The undersigned confirm that the tests in this report were '
        "carried out at the time and from the vantage point stated, with the results shown.</p>"
        '<div class="signoff">'
        + party.format(title="Tested by", name=esc(info.tester), org="", date="")
        + party.format(title="Accepted by", name="", org=esc(", ".join(customers)), date="")
        + '</div><p class="choices"><span><span class="box"></span>Accepted</span>'
        '<span><span class="box"></span>Accepted with the open items listed</span>'
        '<span><span class="box"></span>Not accepted</span></p></div>'
        f'<footer class="end">{esc(info.tool)} · {esc(ended_utc)} · {len(run.sites)} site(s), '
        f"{len(run.verdicts)} port(s)</footer></section>")


def page_rules(run: JudgedRun, info: RunInfo) -> str:
    """The margin boxes of each named page: the site on its pages, the tester and date on all."""
    started_utc, _ = stamp(info.started)
    left = css_string(f"{TITLE} · tested {started_utc[:10]} by {info.tester}")
    rules = [f"@page {{ @bottom-left {{ content: {left}; font-size: 7.5pt; color: #5f6b7a; }} }}",
             f"@page cover {{ @top-right {{ content: {css_string('Summary')}; }} }}",
             f"@page closing {{ @top-right {{ content: {css_string(CLOSING)}; }} }}",
             f"@media print {{ #appendix {{ page: appendix; }} }}\n@page appendix {{ @top-right {{ content: "
             f"{css_string(APPENDIX)}; }} }}"]
    for index, judged in enumerate(run.sites, 1):
        customer = f" · {judged.site.customer}" if judged.site.customer else ""
        rules.append(f"@media print {{ #site-{index} {{ page: site-{index}; }} }}\n@page site-{index} "
                     f"{{ @top-right {{ content: {css_string(f'Site {judged.site.name}{customer}')}; }} }}")
        rules.append(f"@media print {{ #appendix-{index} {{ page: appendix-{index}; }} }}\n@page appendix-{index} "
                     f"{{ @top-right {{ content: {css_string(f'{APPENDIX}: site {judged.site.name}')}; }} }}")
    top = "font-size: 7.5pt; color: #5f6b7a;"
    rules.append(f"@page {{ @top-right {{ {top} }} }}")
    return "\n".join(rules)


def change_log(info: RunInfo, changes: Sequence[tuple[float, str, str]], watched: str) -> str:
    """The appendix of a watched run (``check_digitalsentry --watch``): what changed, and when."""
    rows = "".join(
        f'<tr><td class="nowrap">{esc(time.strftime("%H:%M:%S", time.localtime(at)))}'
        f'<span class="sub">{esc(stamp(at)[0])}</span></td><td>{esc(where_)}</td><td>{esc(text)}</td></tr>'
        for at, where_, text in changes)
    table = (f'<table class="matrix"><thead><tr><th>Time</th><th>Host</th><th>Change</th></tr></thead>'
             f"<tbody>{rows}</tbody></table>" if changes else
             '<p class="muted">No port changed while it was watched.</p>')
    return (f'<section class="sheet appendix" id="appendix-changes">'
            f'{masthead(info, f"<h2>{esc(CHANGES)}</h2>", f"{APPENDIX}, for the technician")}'
            f"<p>{esc(watched)}</p>{table}</section>")


CHANGES = "Appendix: what changed while it was watched"


def render(run: JudgedRun, info: RunInfo, changes: Sequence[tuple[float, str, str]] | None = None,
           watched: str = "") -> str:
    """The handover document of a judged run, as one HTML file (text). ``changes`` (time, host, change), when
    given, are the appendix of a watched run (``--watch``), ``watched`` the sentence that introduces them."""
    count = len(run.sites)
    date = stamp(info.started)[0][:10]
    names = ", ".join(judged.site.name for judged in run.sites[:5]) + ("…" if count > 5 else "")
    pages = [first_page(run, info)]
    pages += [site_page(index, judged, info, count) for index, judged in enumerate(run.sites, 1)]
    pages.append(closing(run, info))
    if run.sites:
        pages.append(appendix_intro(info))
    pages += [appendix_page(index, judged, info) for index, judged in enumerate(run.sites, 1)]
    if changes is not None:
        pages.append(change_log(info, changes, watched))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="{esc(info.tool)}">\n'
        f"<title>{esc(TITLE)}: {esc(names or 'no site')}, {esc(date)}</title>\n"
        f"<style>\n{STYLE.read_text(encoding='utf-8')}\n{page_rules(run, info)}\n</style>\n</head>\n<body>\n"
        + "\n".join(pages) + "\n</body>\n</html>\n")


def document(rendering: Rendering) -> str:
    """The ``html`` format (``outputs``): the handover document, with the run's record."""
    return render(rendering.run, rendering.info, rendering.changes, rendering.watched)
