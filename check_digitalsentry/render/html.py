"""The handover document (render layer): a judged run as one self-contained HTML file to print, sign and
hand to the customer. Used by both frontends (pytest_dsports' ``--dsports-report``, the check's
``--format html``).

No JavaScript and nothing loaded from anywhere: the stylesheet (``data/handover.css``) is inlined, fonts
are the system's, the only links are to anchors inside the file. It reads in a browser and in a mail
client, and prints: every site starts a page, rows are never cut, and the page margins name the site
and the page (CSS paged media: named pages and ``@page`` margin boxes; a repeated table caption names
the site where margin boxes are not supported).

What it shows, in order: the first page (the overall verdict, one line per site, the open items, and
who tested when and from where), then a page per site (verdict banner, identification, the port
matrix, what the probes learned, the forbidden-port audit, each open item with what to change), then
how to read the report and the sign-off. Every string that came from the network or the inventory is
escaped. It only presents the judgement (``judge``); it never re-judges.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from check_digitalsentry import catalogue
from check_digitalsentry.judge import advice, not_proved, sources, where
from check_digitalsentry.model import State, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from check_digitalsentry.judge import JudgedRun, JudgedSite, Verdict
    from check_digitalsentry.model import PortResult, RunInfo
    from check_digitalsentry.outputs import Rendering

TITLE = "Digital Sentry port handover"
CLOSING = "Reading this report, and sign-off"
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


def stamp(when: float) -> tuple[str, str]:
    """A Unix time in UTC and in local time with its offset: ``2026-11-30 20:35:07 UTC``,
    ``2026-11-30 21:35:07 CET (UTC+01:00)``."""
    local = time.localtime(when)
    offset = local.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    zone = f"{local.tm_zone} " if local.tm_zone and local.tm_zone[0] not in "+-" else ""
    return (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when)),
            time.strftime("%Y-%m-%d %H:%M:%S ", local) + f"{zone}(UTC{sign}{hours:02d}:{minutes:02d})")


def seconds_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def port_text(result: PortResult) -> str:
    return where(result)


def site_word(judged: JudgedSite) -> tuple[str, str]:
    """A site's verdict: (css class, word). A site whose only open items are untested ports (forbidden,
    or not required) is INCOMPLETE: nothing proves them blocked, or tested."""
    if judged.state is State.OK and judged.open:
        return "incomplete", "INCOMPLETE"
    css, word, _ = WORDS[judged.state]
    return css, word


def site_sentence(judged: JudgedSite) -> str:
    total, failing = len(judged.verdicts), len(judged.failing)
    untested = [v for v in judged.open if not_proved(v)]
    if judged.state is State.UNKNOWN:
        text = f"{failing} of {total} ports could not be judged or are not as required."
    elif failing:
        verb = "is" if failing == 1 else "are"
        text = f"{failing} of {total} port{'s' if total != 1 else ''} {verb} not as required."
    else:
        text = f"All {total} ports are as required." if total != 1 else "The port is as required."
    forbidden = [v for v in untested if v.result.spec.forbidden]
    tolerated = len(untested) - len(forbidden)
    if forbidden:
        text += (f" {len(forbidden)} forbidden port{'s' if len(forbidden) != 1 else ''} could not be tested, "
                 f"so {'it is' if len(forbidden) == 1 else 'they are'} not proved blocked.")
    if tolerated:
        text += (f" {tolerated} port{'s' if tolerated != 1 else ''} not required could not be tested "
                 "(tolerated, but not proved).")
    return text


def row_class(verdict: Verdict) -> str:
    if not_proved(verdict):
        return "untested"
    return {State.OK: "", State.WARNING: "warn"}.get(verdict.state, "fail")


def badge(verdict: Verdict) -> str:
    if not_proved(verdict):
        return '<span class="badge incomplete">NOT TESTED</span>'
    css = WORDS[verdict.state][0]
    mark = "&#8201;†" if verdict.result.status is Status.OPEN_FILTERED and verdict.ok else ""
    return f'<span class="badge {css}">{verdict.state}{mark}</span>'


def item_title(verdict: Verdict) -> str:
    r = verdict.result
    return (f"{esc(r.role)} {esc(port_text(r))} on {esc(r.host)}: "
            f"{'not tested' if not_proved(verdict) else esc(r.status)}")


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
         or '<span class="muted">no probe got as far as opening a socket</span>'),
        ("Started", f"{esc(started_utc)}<span class=\"sub\">{esc(started_local)}</span>"),
        ("Ended", f"{esc(ended_utc)}<span class=\"sub\">{esc(ended_local)}</span>"),
        ("Duration", esc(f"{max(info.ended - info.started, 0.0):.1f} s")),
        ("Tool", esc(info.tool)),
        ("Inventory", inventories),
        ("Command", f'<span class="mono">{esc(info.command)}</span>' if info.command else ""),
    ]
    return facts_table(rows)


def summary_rows(run: JudgedRun) -> str:
    rows = []
    for index, judged in enumerate(run.sites, 1):
        css, word = site_word(judged)
        wrong = "; ".join(f"{esc(v.result.role)} {esc(port_text(v.result))} {esc(v.result.status)}"
                          + (f' <span class="muted">on {esc(v.result.host)}</span>'
                             if len(judged.site.hosts) > 1 else "")
                          for v in judged.open)
        rows.append(
            f'<tr><td class="nowrap"><a href="#site-{index}"><b>{esc(judged.site.name)}</b></a></td>'
            f"<td>{esc(judged.site.description)}</td>"
            f'<td class="nowrap"><span class="badge {css}">{word}</span></td>'
            f'<td class="num">{len(judged.open)} of {len(judged.verdicts)}</td>'
            f"<td>{wrong or NONE}</td></tr>")
    return "".join(rows)


def first_page(run: JudgedRun, info: RunInfo) -> str:
    opened = [(index, v) for index, judged in enumerate(run.sites, 1) for v in judged.open]
    failing_sites = sum(1 for judged in run.sites if judged.open)
    if not run.sites:
        css, word, why = "unknown", "NOTHING TESTED", "No site was probed in this run."
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
        items.append(f'<li><a href="#site-{index}"><b>{esc(verdict.site.name)}</b></a> — {item_title(verdict)}. '
                     f'<span class="muted">To fix:</span> {esc(advice(verdict))}.</li>')
    more = len(opened) - FIRST_PAGE_ITEMS
    open_items = (f'<ol class="items">{"".join(items)}</ol>'
                  + (f'<p class="muted">…and {more} more, each listed with its site.</p>' if more > 0 else "")
                  if opened else '<p class="muted">None: nothing is left to do.</p>')
    return (
        f'<section class="sheet cover" id="summary">{masthead(info, f"<h1>{esc(TITLE)}</h1>", kicker)}'
        f'<p class="muted">Are the Digital Sentry servers reachable the way DS ControlPoint, DS Admin and Pelco '
        f'Mobile need them, from where the test ran? {len(run.sites)} site{"s" if len(run.sites) != 1 else ""}: '
        f'{esc(names)}.</p>'
        f'<div class="verdict big {css}"><div class="word">{word}</div><div class="why">{esc(why)}</div></div>'
        f'<h3>Sites</h3><table><thead><tr><th>Site</th><th>Description</th><th>Verdict</th>'
        f'<th class="num">Open items</th><th>Ports not as required</th></tr></thead>'
        f"<tbody>{summary_rows(run)}</tbody></table>"
        f"<h3>Open items</h3>{open_items}"
        f"<h3>Who, when, from where</h3>{run_record(run, info)}</section>")


def main_source(verdicts: list[Verdict]) -> str | None:
    """The source address most probes of a site used (its vantage point), if any probe had one."""
    used = [v.result.source for v in verdicts if v.result.source]
    return max(dict.fromkeys(used), key=used.count) if used else None


def port_rows(verdicts: list[Verdict], common: str | None, result_cell: Callable[[Verdict], str]) -> str:
    """Table rows: host (with its address, and the source address where it is not the common one), port,
    role, status, time, the result, and the detail."""
    rows = []
    for v in verdicts:
        r = v.result
        host = f"<b>{esc(r.host)}</b>"
        if r.address and r.address != r.host:
            host += f'<span class="sub">address {esc(r.address)}</span>'
        if r.source != common:
            host += f'<span class="sub">{"from " + esc(r.source) if r.source else "no socket opened"}</span>'
        silent = r.status is Status.OPEN_FILTERED and v.ok  # the † says it: UDP silence is explained once
        note = f'<span class="sub">{esc(v.note)}</span>' if v.note and not silent else ""
        rows.append(
            f'<tr class="{row_class(v)}"><td>{host}</td>'
            f'<td class="nowrap">{esc(port_text(r))}</td>'
            f'<td>{esc(r.role)}<span class="sub">{esc(PURPOSE.get(r.role, ""))}</span></td>'
            f'<td class="nowrap">{esc(r.status)}</td><td class="num">{seconds_text(r.seconds)}</td>'
            f"<td>{result_cell(v)}</td><td>{esc(v.detail)}{note}</td></tr>")
    return "".join(rows)


def port_table(judged: JudgedSite, verdicts: list[Verdict], what: str, result: str,
               result_cell: Callable[[Verdict], str]) -> str:
    common = main_source(judged.verdicts)
    caption = f"{esc(judged.site.name)} — {what}" + (f"; probed from {esc(common)}" if common else "")
    return (f'<table class="matrix"><thead><tr class="caption"><th colspan="7">{caption}</th></tr>'
            f"<tr><th>Host</th><th>Port</th><th>Role</th><th>Status</th>"
            f'<th class="num">Time</th><th>{result}</th><th>Detail</th></tr></thead>'
            f"<tbody>{port_rows(verdicts, common, result_cell)}</tbody></table>")


def port_matrix(judged: JudgedSite) -> str:
    expected = [v for v in judged.verdicts if not v.result.spec.forbidden]
    if not expected:
        return '<p class="muted">No port is expected of this site.</p>'
    return port_table(judged, expected, "port matrix", "State", badge)


def browser_facts(r: PortResult) -> list[tuple[str, str]]:
    listed = r.facts.instances
    if r.role != catalogue.BROWSER or listed is None:
        return []
    names = ", ".join(f"{i.instance} ({i.version or '?'}, "
                      f"{'TCP ' + str(i.tcp_port) if i.tcp_port else 'no TCP port'})"
                      for i in listed)
    return [("SQL Server Browser lists", esc(names or "nothing"))]


def sql_facts(r: PortResult) -> list[tuple[str, str]]:
    f = r.facts
    if r.role != catalogue.SQL or not (f.sql_version is not None or f.instance is not None or f.sql_strict):
        return []
    version = " ".join(str(value) for value in (f.sql_product, f.sql_version) if value)
    if not version:
        version = "TDS 8.0 strict (TLS first)" if f.sql_strict else "—"
    rows = [(f"SQL Server on {esc(port_text(r))}", esc(version))]
    if f.instance:
        how = " (port named by the SQL Server Browser)" if f.sql_port_from == "browser" else ""
        rows.append(("SQL instance", esc(f"{f.instance}{how}")))
    if f.sql_encryption:
        rows.append(("SQL encryption", esc(f.sql_encryption)))
    return rows


def tls_facts(r: PortResult) -> list[tuple[str, str]]:
    f = r.facts
    if f.tls_version is None and f.tls_subject is None:
        return []
    rows = [(f"TLS on {esc(port_text(r))}", esc(f.tls_version or "—"))]
    if f.tls_subject is not None:
        days = f.tls_days_left
        soon = ' class="critical"' if isinstance(days, int) and days < 30 else ""
        rows += [("Certificate subject", esc(f.tls_subject)),
                 ("Certificate issuer", esc(f"{f.tls_issuer or '—'}"
                                            f"{' (self-signed)' if f.tls_self_signed else ''}")),
                 ("Certificate expires", f'{esc(f.tls_not_after or "—")} <span{soon}>({esc(days)} days left)'
                                         f"</span>")]
    return rows


def learned(judged: JudgedSite) -> str:
    """What the probes learned, per host: the SQL Server and its instance, the Browser, the certificate."""
    out = []
    for host in judged.site.hosts:
        rows = [row for v in judged.verdicts if v.result.host == host and not v.result.spec.forbidden
                for row in (*browser_facts(v.result), *sql_facts(v.result), *tls_facts(v.result))]
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
    return port_table(judged, forbidden, "forbidden-port audit", "Result", audit_cell)


def findings(judged: JudgedSite) -> str:
    if not judged.open:
        return '<p class="ok">None: every port is as required.</p>'
    out = []
    for v in judged.open:
        css = "incomplete" if not_proved(v) else WORDS[v.state][0]
        r = v.result
        out.append(
            f'<div class="finding sev-{css}"><div class="title">{item_title(v)} '
            f'<span class="badge {css}">{"NOT TESTED" if not_proved(v) else v.state}</span></div>'
            f'<div class="small">{esc(v.detail)} <span class="muted">(time {seconds_text(r.seconds)}; '
            f'address {esc(r.address or "—")}; from {esc(r.source or "—")})</span></div>'
            f'<div class="fix"><b>To fix:</b> {esc(advice(v))}.</div></div>')
    return "".join(out)


def site_page(index: int, judged: JudgedSite, info: RunInfo, count: int) -> str:
    site = judged.site
    css, word = site_word(judged)
    vantage = sources(judged.verdicts)
    ident = [
        ("Site", f"<b>{esc(site.name)}</b>"),
        ("Description", esc(site.description)),
        ("Customer", esc(site.customer)),
        ("Location", esc(site.location).replace("\n", "<br>")),
        ("Reference", esc(site.reference)),
        ("Servers", "<br>".join(esc(h) for h in site.hosts)),
        ("Tested from", ", ".join(esc(a) for a in vantage) or "—"),
        ("Probed in", esc(f"{judged.report.seconds:.2f} s (time allowed {judged.report.budget:g} s)")),
    ]
    silent = any(v.result.status is Status.OPEN_FILTERED for v in judged.verdicts)
    return (
        f'<section class="sheet site" id="site-{index}">'
        f'{masthead(info, f"<h2>Site {index} of {count}: {esc(site.name)}</h2>")}'
        f'<div class="verdict {css}"><div class="word">{word}</div><div class="why">{esc(site_sentence(judged))}'
        f"</div></div>"
        f'<h3>Identification</h3><div class="two">{facts_table(ident[:4])}{facts_table(ident[4:])}</div>'
        f"<h3>Port matrix</h3>{port_matrix(judged)}"
        + ('<p class="small muted">† UDP silence: see “Reading this report” at the end.</p>' if silent else "")
        + f"<h3>What the probes learned</h3>{learned(judged)}"
        f"<h3>Forbidden-port audit</h3>{audit(judged)}"
        f"<h3>Open items and what to change</h3>{findings(judged)}</section>")


READING = (
    ("open", "the port answered as its role needs (for a forbidden port: it answered at all, which it must not)."),
    ("closed", "the server refused the connection: nothing listens there, or a firewall rejects it."),
    ("filtered", "no answer before the deadline: a firewall drops the packets, or NAT sends them nowhere."),
    ("open|filtered", "UDP silence. A UDP port answers only when the service has something to say: a silent "
                      "port may be open or may be dropped by a firewall, and from outside the two look the same. "
                      "So silence proves nothing either way: an expected UDP port that stays silent is not "
                      "counted as a failure (the SQL Server Browser is the exception: it must answer), and a "
                      "forbidden UDP port that stays silent is not proved blocked. These rows carry a †."),
    ("invalid", "something answered, but not what the role needs (another service, or a wrong instance)."),
    ("unresolved", "the server's name does not resolve from the test machine: nothing could be tested."),
    ("unknown", "not tested, because what it depends on failed first (the SQL port needs the Browser's answer)."),
)


def closing(run: JudgedRun, info: RunInfo) -> str:
    customers = list(dict.fromkeys(judged.site.customer for judged in run.sites if judged.site.customer))
    ended_utc, _ = stamp(info.ended)
    reading = "".join(f"<tr><th>{esc(word)}</th><td>{esc(text)}</td></tr>" for word, text in READING)
    party = (
        '<div class="party"><h4>{title}</h4><div class="line">{name}</div><div class="label">Name</div>'
        '<div class="line">{org}</div><div class="label">Company</div>'
        '<div class="line">{date}</div><div class="label">Date</div>'
        '<div class="line tall"></div><div class="label">Signature</div></div>')
    return (
        f'<section class="sheet closing" id="signoff">{masthead(info, f"<h2>{esc(CLOSING)}</h2>")}'
        "<h3>Reading this report</h3><p>Each port was probed from the test machine, at the source address shown: "
        "the result holds for that vantage point. A test from inside the site and one from outside read "
        "differently. The status words:</p>"
        f'<table class="facts reading"><tbody>{reading}</tbody></table>'
        "<p>The <b>State</b> column is the judgement: OK, WARNING (a port whose failure does not stop DS clients, "
        "or a slow answer) or CRITICAL (DS clients cannot work as required); NOT TESTED marks a forbidden port "
        "that could not be probed.</p>"
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
             f"@page closing {{ @top-right {{ content: {css_string(CLOSING)}; }} }}"]
    for index, judged in enumerate(run.sites, 1):
        customer = f" · {judged.site.customer}" if judged.site.customer else ""
        rules.append(f"@media print {{ #site-{index} {{ page: site-{index}; }} }}\n@page site-{index} "
                     f"{{ @top-right {{ content: {css_string(f'Site {judged.site.name}{customer}')}; }} }}")
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
    return (f'<section class="sheet appendix" id="changes">{masthead(info, f"<h2>{esc(APPENDIX)}</h2>")}'
            f"<p>{esc(watched)}</p>{table}</section>")


APPENDIX = "Appendix: what changed while it was watched"


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
