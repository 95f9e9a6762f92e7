"""The live view in a terminal (render layer): what ``check_digitalsentry --watch`` shows of a ``steady.Watch``
-- one table that the frontend redraws in place, one line per change where there is no terminal, and the
summary at the end.

- ``table``: a header (round, interval, verdict, how the watch ends, the phone page's address), one row
  per port (site/host, role, external port/protocol, state, status, since when, age of the last probe,
  the fix in one line), the last changes. Every line fits the terminal's width, the whole the height
  (rows that are as expected give way first). ANSI colours on the state only when ``colour``; the
  words say it all without them (``NO_COLOR``).
- ``event_line``: ``14:02:11 hq/ds01 video 18772/tcp filtered -> open (OK)``, with the fix when the
  row is not OK.
- ``summary``: why the watch ended, every change with its time, what is still not as expected.

ASCII only (``->``, ``...``): a terminal in any locale shows it. Strings from the network or the
inventory pass ``plain`` (one printable line).
"""

from __future__ import annotations

import time

from check_digitalsentry.model import State
from check_digitalsentry.protocols import shown
from check_digitalsentry.steady import FIRST

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.steady import Event, Row, Watch

#: ANSI SGR colour of each state word.
COLOURS = {"OK": "32", "WARNING": "33", "CRITICAL": "1;31", "UNKNOWN": "35", "FLAPPING": "1;33",
           "NOT TESTED": "36", "NOT TESTABLE": "36", "...": "2"}
RESET = "\x1b[0m"
#: Changes shown under the table at most.
LAST_CHANGES = 3
HEADINGS = ("SITE/HOST", "ROLE", "PORT", "STATE", "STATUS", "SINCE", "AGE", "FIX")


def plain(text: str) -> str:
    """One printable line: control characters escaped."""
    return shown(text, len(text))


def clock(at: float) -> str:
    """``14:02:11``, local time."""
    return time.strftime("%H:%M:%S", time.localtime(at))


def age(seconds: float) -> str:
    """``3s``, ``2m05s``, ``1h02m``."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def status_word(row: Row) -> str:
    """``closed``; ``closed -> open?`` while a differing result waits for a second round."""
    if row.flapping:
        return "/".join(row.seen())
    assert row.shown is not None
    pending = f" -> {row.pending.status}?" if row.pending is not None else ""
    return f"{row.shown.status}{pending}"


def where(row: Row, qualified: bool) -> str:
    """``hq/ds01`` in inventory mode (``qualified``); the host alone for a check by ``-H``."""
    return plain(row.where if qualified else row.host + (f" ({row.address})" if row.address else ""))


def _cut(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."[:width]


def _paint(text: str, word: str, colour: bool) -> str:
    code = COLOURS.get(word)
    return f"\x1b[{code}m{text}{RESET}" if colour and code and text.strip() else text


def table(watch: Watch, now: float, *, width: int, height: int, colour: bool, qualified: bool,
          header: Sequence[str] = ()) -> list[str]:
    """The screen: ``header`` lines (the frontend's: round, verdict, how it ends, the page), the rows, the
    last changes; at most ``height`` lines of at most ``width`` characters (colour codes aside)."""
    width = max(width, 20)
    lines = [_cut(plain(line), width) for line in header]
    changes = watch.changes[-LAST_CHANGES:]
    room = max(height - len(lines) - 2 - (len(changes) + 1 if changes else 0), 2)
    rows = list(watch.rows.values())
    if len(rows) > room - 1:  # the rows not as expected first, then as many others as fit
        keep = [row for row in rows if row.state is not State.OK][:room - 2]
        keep += [row for row in rows if row.state is State.OK][:room - 2 - len(keep)]
        hidden = len(rows) - len(keep)
        rows = [row for row in rows if row in keep]
    else:
        hidden = 0
    cells = [(("SITE/HOST" if qualified else "HOST"), *HEADINGS[1:])] + [
        (where(row, qualified), row.role, f"{'dynamic' if row.port is None else row.port}/{row.transport}",
         row.word, status_word(row), clock(row.since),
         age(now - row.last.at) if row.last is not None else "-", plain(row.fix) or "-")
        for row in rows]
    widths = [max(len(cell[i]) for cell in cells) for i in range(len(HEADINGS) - 1)]
    lines.append("")
    for index, cell in enumerate(cells):
        left = "  ".join(text.ljust(w) for text, w in zip(cell, widths))
        line = _cut(f"{left}  {cell[-1]}", width)
        if index and colour:  # colour the state's cell: its position in the line is known
            start = sum(w + 2 for w in widths[:3])
            state = cell[3]
            if start < len(line):
                line = line[:start] + _paint(line[start:start + len(state)], state, colour) \
                    + line[start + len(state):]
        lines.append(line)
    if hidden:
        lines.append(_cut(f"... and {hidden} more as expected (a taller terminal shows them)", width))
    if changes:
        lines.append("")
        lines += [_cut(f"{clock(e.at)} {where(e.row, qualified)} {plain(e.text)}", width) for e in changes]
    return lines[:max(height, 1)]


def event_line(event: Event, qualified: bool) -> str:
    """One line for a watch without a terminal: ``14:02:11 hq/ds01 video 18772/tcp filtered -> open (OK)``,
    and the fix when the row is not OK."""
    row = event.row
    fix = f" -- fix: {plain(row.fix)}" if event.state is not State.OK and row.fix and event.kind != "port" else ""
    who = where(row, qualified)
    return f"{clock(event.at)} {who + ' ' if who else ''}{plain(event.text)}{fix}"


def summary(watch: Watch, *, ended: str, started: float, now: float, qualified: bool) -> str:
    """What the watch saw, for the end: why it ended, every change with its time, what is still not as
    expected (the frontend adds the final round's status line)."""
    rounds = watch.rounds
    lines = [f"check_digitalsentry --watch ended ({ended}) after {rounds} round{'s' if rounds != 1 else ''} in "
             f"{age(now - started)}, {clock(started)}-{clock(now)}"]
    changes = [e for e in watch.changes if e.kind != FIRST]
    if watch.dropped:
        lines.append(f"changes: the first {watch.dropped} are not kept; the last {len(changes)}:")
    elif changes:
        lines.append(f"changes ({len(changes)}):")
    else:
        lines.append("changes: none" if rounds > 1 else "changes: none (one round)")
    lines += [f"  {clock(e.at)} {where(e.row, qualified)} {plain(e.text)}" for e in changes]
    wrong = watch.not_as_expected()
    if wrong:
        lines.append(f"not as expected at the end ({len(wrong)}):")
        lines += [f"  {where(row, qualified)} {row.label} {status_word(row)} ({row.word}): "
                  f"{plain(row.fix)}" for row in wrong]
    return "\n".join(lines) + "\n"


def header(watch: Watch, now: float, *, interval: float, timeout: float, probing: bool, ends: str,
           url: str = "") -> list[str]:
    """The table's header: the round and the verdict, how the watch ends, the phone page's address."""
    rounds = f"round {watch.rounds + 1} probing..." if probing else f"round {watch.rounds}"
    lines = [f"check_digitalsentry --watch: {rounds}, one every {interval:g} s (-t {timeout:g}); {verdict(watch)}",
             ends, *proved(watch)]
    if url:
        lines.append(f"phone (read-only): {url}")
    return lines


def proved(watch: Watch) -> list[str]:
    """What the last round proved of each site's path (the vantage point): one line, or one per site where
    they differ, and why a site is not proved."""
    lines = [plain(f"{site}: NOT PROVED: {vantage.reason}") for site, vantage in watch.proved if not vantage.ok]
    said = list(dict.fromkeys(vantage.proved for _, vantage in watch.proved))
    if len(said) == 1:
        lines.insert(0, plain(f"proved: {said[0]}"))
    elif said:
        each = "; ".join(f"{site} {vantage.proved}" for site, vantage in watch.proved)
        lines.insert(0, plain(f"proved: {each}"))
    return lines


def verdict(watch: Watch) -> str:
    """``CRITICAL: 2 of 9 ports not as expected``, ``OK: all 9 ports as expected``."""
    if watch.state is None:
        return "the first round is under way"
    wrong, total = len(watch.not_as_expected()), len(watch.rows)
    return f"{watch.state}: all {total} ports as expected" if not wrong else \
        f"{watch.state}: {wrong} of {total} ports not as expected"


def ends_text(watch: Watch, now: float, *, ends_at: float, until_ok: bool) -> str:
    """How the watch ends: ``ends: Ctrl-C, or at 18:01:40 (in 3h59m)``."""
    from check_digitalsentry.steady import UNTIL_OK_ROUNDS

    until = (f", once every port is as expected {UNTIL_OK_ROUNDS} rounds in a row (now {watch.ok_rounds})"
             if until_ok else "")
    return f"ends: Ctrl-C{until}, or at {clock(ends_at)} (in {age(ends_at - now)})"


def watched(watch: Watch, *, interval: float) -> str:
    """The sentence before the changes in the handover document's appendix."""
    first, last = watch.first_at or 0.0, watch.last_at or 0.0
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(first))
    return (f"Watched from {when} to {clock(last)} {time.strftime('%Z', time.localtime(last))}: {watch.rounds} "
            f"round{'s' if watch.rounds != 1 else ''}, one every {interval:g} s; this document shows the final "
            f"round. A port changes once two rounds in a row agree; one that keeps changing is marked flapping "
            f"until four rounds agree.")
