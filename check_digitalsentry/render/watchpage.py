"""The live view on a phone (render layer): the one self-contained page that ``check_digitalsentry --watch
--serve`` serves, and the JSON snapshot of a ``steady.Watch`` it polls.

``page`` is made once per watch: HTML with its style and its script inline, nothing loaded from anywhere
(no font, image, icon or library), and the Content-Security-Policy that says so to the browser (the
script and the style allowed by their hashes, requests only to the page's own origin). The script asks
for ``state.json`` beside the page every second and draws the rows from it with ``textContent`` (never
as HTML: the strings come from the network and the inventory); it never reloads the page. When the
answers stop (the watch ended, or the phone lost the network) it says so, greys the rows and keeps
asking. Ages are counted on the phone from the server's clock (the snapshot carries ``now``).

``snapshot`` is the round's state as JSON: the verdict, how the watch ends, one entry per row (where, role,
port, state, status, since, last probe, fix) and the last changes; every time is a Unix time, shown in the
phone's own time zone. The page lists the rows not as expected first, then the others, each in report
order: a row the technician fixes moves down, and its change tops the change log. A page load or a poll
reads the last snapshot: it never probes.
"""

from __future__ import annotations

import base64
import hashlib
import json

from check_digitalsentry.model import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.steady import Row, Watch

#: Changes the page lists at most (the newest first).
PAGE_CHANGES = 10

STYLE = """
:root { color-scheme: light; --ok: #1b7f3b; --ok-bg: #e3f4e8; --warn: #8a5a00; --warn-bg: #fff3d6;
  --crit: #b3261e; --crit-bg: #fde7e5; --unk: #6b3fa0; --unk-bg: #efe7fa; --test: #1f5f8b; --test-bg: #e2eef7;
  --ink: #17212b; --muted: #5f6b7a; --line: #d5dbe3; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: #f4f6f9; }
header { position: sticky; top: 0; z-index: 1; background: #fff; border-bottom: 1px solid var(--line);
  padding: 10px 14px 8px; }
h1 { font-size: 15px; margin: 0 0 6px; color: var(--muted); font-weight: 600; letter-spacing: .02em; }
.verdict { font-size: 22px; font-weight: 700; padding: 6px 10px; border-radius: 8px; }
.meta, .ends { font-size: 13px; color: var(--muted); margin: 4px 0 0; }
main { padding: 10px 12px 24px; max-width: 760px; margin: 0 auto; }
ul { list-style: none; margin: 0; padding: 0; }
.row { background: #fff; border: 1px solid var(--line); border-left: 8px solid var(--line); border-radius: 8px;
  padding: 9px 11px; margin: 0 0 8px; }
.top { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; }
.what { font-weight: 700; font-size: 17px; overflow-wrap: anywhere; }
.chip { font-size: 13px; font-weight: 700; padding: 2px 8px; border-radius: 999px; white-space: nowrap; }
.sub { font-size: 13px; color: var(--muted); margin-top: 2px; overflow-wrap: anywhere; }
.fix { font-size: 14px; margin-top: 5px; overflow-wrap: anywhere; }
.s-ok { border-left-color: var(--ok); } .s-ok .chip, .verdict.s-ok { background: var(--ok-bg); color: var(--ok); }
.s-warning { border-left-color: var(--warn); }
.s-warning .chip, .verdict.s-warning { background: var(--warn-bg); color: var(--warn); }
.s-critical { border-left-color: var(--crit); }
.s-critical .chip, .verdict.s-critical { background: var(--crit-bg); color: var(--crit); }
.s-unknown { border-left-color: var(--unk); }
.s-unknown .chip, .verdict.s-unknown { background: var(--unk-bg); color: var(--unk); }
.s-flapping { border-left-color: var(--warn); border-left-style: dashed; }
.s-flapping .chip { background: var(--warn); color: #fff; }
.s-untested { border-left-color: var(--test); }
.s-untested .chip { background: var(--test-bg); color: var(--test); }
.verdict.s-waiting { background: #e8ebef; color: var(--muted); }
h2 { font-size: 14px; color: var(--muted); margin: 18px 0 6px; }
.changes li { font-size: 13px; padding: 3px 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.changes time { font-variant-numeric: tabular-nums; color: var(--muted); margin-right: 6px; }
.stale { display: none; background: #3b4350; color: #fff; font-size: 14px; padding: 8px 14px; }
body.is-stale .stale { display: block; }
body.is-stale main { opacity: .45; filter: grayscale(1); }
footer { font-size: 12px; color: var(--muted); text-align: center; padding: 0 12px 20px; }
"""

SCRIPT = """
(function () {
  'use strict';
  var rows = document.getElementById('rows'), changes = document.getElementById('changes');
  var todo = document.getElementById('todo'), todoTitle = document.getElementById('todo-title');
  var rowsTitle = document.getElementById('rows-title');
  var verdict = document.getElementById('verdict'), meta = document.getElementById('meta');
  var ends = document.getElementById('ends'), stale = document.getElementById('stale');
  var data = null, drawn = -1, skew = 0, answered = 0;
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function clock(t) { var d = new Date(t * 1000); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' +
    pad(d.getSeconds()); }
  function age(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) { return s + ' s'; }
    if (s < 3600) { return Math.floor(s / 60) + ' min ' + pad(s % 60) + ' s'; }
    return Math.floor(s / 3600) + ' h ' + pad(Math.floor(s % 3600 / 60)) + ' min';
  }
  function now() { return Date.now() / 1000 - skew; }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; } return e; }
  function line(row) { return row.where + ' \\u00b7 ' + row.status + ' since ' + clock(row.since) +
    ' \\u00b7 probed ' + age(now() - row.last) + ' ago'; }
  function card(row) {
    var li = el('li', 'row s-' + row.css); li.setAttribute('data-role', row.role);
    li.setAttribute('data-where', row.where); li.setAttribute('data-state', row.css);
    var top = el('div', 'top'); top.appendChild(el('span', 'what', row.role + ' ' + row.port));
    top.appendChild(el('span', 'chip', row.state)); li.appendChild(top);
    li.appendChild(el('div', 'sub', line(row)));
    if (row.fix) { li.appendChild(el('div', 'fix', row.fix)); }
    return li;
  }
  function draw() {
    verdict.textContent = data.verdict_text; verdict.className = 'verdict s-' + data.verdict_class;
    var bad = document.createDocumentFragment(), good = document.createDocumentFragment(), wrong = 0;
    data.rows.forEach(function (row) {
      if (row.css === 'ok') { good.appendChild(card(row)); } else { wrong += 1; bad.appendChild(card(row)); }
    });
    todo.textContent = ''; todo.appendChild(bad); rows.textContent = ''; rows.appendChild(good);
    todoTitle.textContent = wrong ? 'Not as expected (' + wrong + ')' : '';
    rowsTitle.textContent = data.rows.length ? 'As expected (' + (data.rows.length - wrong) + ')' : '';
    var log = document.createDocumentFragment();
    data.changes.forEach(function (c) {
      var li = el('li'); li.appendChild(el('time', '', clock(c.at))); li.appendChild(document.createTextNode(
        c.where + ' ' + c.text)); log.appendChild(li);
    });
    if (!data.changes.length) { log.appendChild(el('li', '', 'none yet')); }
    changes.textContent = ''; changes.appendChild(log);
    drawn = data.round;
  }
  function tick() {
    if (!data || !data.rows) { return; }
    meta.textContent = data.round ? 'round ' + data.round + ' \\u00b7 every ' + data.interval +
      ' s \\u00b7 last round ' + clock(data.at) + ' (' + age(now() - data.at) + ' ago)' :
      'the first round is under way';
    var subs = document.querySelectorAll('li[data-role] .sub'), order = data.rows.filter(function (row) {
      return row.css !== 'ok'; }).concat(data.rows.filter(function (row) { return row.css === 'ok'; }));
    order.forEach(function (row, i) { if (subs[i]) { subs[i].textContent = line(row); } });
    ends.textContent = 'ends: Ctrl-C' + (data.until_ok ? ', once every port is as expected 3 rounds in a ' +
      'row (now ' + data.ok_rounds + ')' : '') + ', or at ' + clock(data.ends_at) + ' (in ' +
      age(data.ends_at - now()) + ')';
    var silent = Date.now() - answered > 5000;
    document.body.classList.toggle('is-stale', silent || data.ended);
    stale.textContent = data.ended ? 'The watch has ended: this is its last round.' :
      'No answer from the watch for ' + age((Date.now() - answered) / 1000) +
      ': it has ended, or the connection dropped. Still trying.';
  }
  function poll() {
    fetch('state.json', {cache: 'no-store', credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) { throw new Error(r.status); } return r.json();
    }).then(function (d) {
      if (!d || !Array.isArray(d.rows)) { throw new Error('not a snapshot'); }
      skew = Date.now() / 1000 - d.now; answered = Date.now(); data = d;
      if (d.round !== drawn) { draw(); }
    }).catch(function () {}).then(function () {
      try { tick(); } finally { setTimeout(poll, 1000); }  // whatever happened, ask again
    });
  }
  setInterval(tick, 1000);
  poll();
}());
"""


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def page(title: str) -> tuple[str, str]:
    """The page (HTML text) and its Content-Security-Policy header: everything inline, allowed by its
    hash; requests to the page's own origin only; no frame may hold it, no form send anything."""
    csp = (f"default-src 'none'; script-src {_digest(SCRIPT)}; style-src {_digest(STYLE)}; connect-src 'self'; "
           f"img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    from html import escape

    body = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<header><h1>{escape(title)}</h1><div id="verdict" class="verdict s-waiting">waiting for the first '
        'round...</div><p id="meta" class="meta"></p><p id="ends" class="ends"></p></header>\n'
        '<div id="stale" class="stale" role="status"></div>\n'
        '<main><noscript><p>This live view needs JavaScript: the terminal that runs the watch shows the same.'
        '</p></noscript><h2 id="todo-title"></h2><ul id="todo"></ul><h2 id="rows-title"></h2><ul id="rows"></ul>'
        '<h2>Changes (newest first)</h2><ul id="changes" class="changes"></ul></main>\n'
        '<footer>Read-only. It goes away when the watch ends. The probes run from the machine that runs the '
        'watch, not from this phone.</footer>\n'
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
    return body, csp


def css(row: Row) -> str:
    """The row's class: ok, warning, critical, unknown, flapping or untested."""
    return {"FLAPPING": "flapping", "NOT TESTED": "untested", "NOT TESTABLE": "untested"}.get(row.word,
                                                                                               row.word.lower())


def status_word(row: Row) -> str:
    if row.flapping:
        return "flapping between " + " and ".join(row.seen())
    assert row.shown is not None
    pending = f" (now {row.pending.status}?)" if row.pending is not None else ""
    return f"{row.shown.status}{pending}"


def snapshot(watch: Watch, now: float, *, interval: float, ends_at: float, until_ok: bool, qualified: bool,
             ended: bool = False, changes: int = PAGE_CHANGES) -> bytes:
    """The round's state for the page (JSON, UTF-8)."""
    wrong = watch.not_as_expected()
    state = watch.state
    if state is None:
        verdict_class, verdict_text = "waiting", "waiting for the first round..."
    else:
        verdict_class = str(state).lower()
        total = len(watch.rows)
        verdict_text = (f"{state}: all {total} ports as expected" if not wrong else
                        f"{state}: {len(wrong)} of {total} ports not as expected")
        unproved = [site for site, vantage in watch.proved if not vantage.ok]
        said = list(dict.fromkeys(vantage.proved for _, vantage in watch.proved))
        if unproved:  # the ports may all be fine: the path is not the one the site's clients take
            verdict_text += f"; NOT PROVED ({', '.join(unproved)}): not the path the site's clients take"
        elif len(said) == 1:
            verdict_text += f"; proved {said[0]}"
    rows = [{"where": row.where if qualified else row.host, "role": row.role,
             "port": f"{'dynamic' if row.port is None else row.port}/{row.transport}", "state": row.word,
             "css": css(row), "status": status_word(row), "since": row.since,
             "last": row.last.at if row.last is not None else now, "fix": row.fix}
            for row in watch.rows.values()]
    recent = watch.changes[-changes:][::-1]
    return json.dumps({
        "round": watch.rounds, "at": watch.last_at or now, "now": now, "interval": interval, "ends_at": ends_at,
        "until_ok": until_ok, "ok_rounds": watch.ok_rounds,
        "ended": ended, "verdict": str(state) if state is not None else None, "verdict_class": verdict_class,
        "verdict_text": verdict_text, "rows": rows,
        "proved": [{"site": site, "proved": vantage.proved, "ok": vantage.ok, "reason": vantage.reason}
                   for site, vantage in watch.proved],
        "changes": [{"at": e.at, "where": e.row.where if qualified else e.row.host, "text": e.text,
                     "css": str(e.state).lower() if e.state is not State.OK else "ok"} for e in recent],
    }, ensure_ascii=False).encode("utf-8")
