"""Steady, not flappy (judge layer): what a watch (``check_digitalsentry --watch``) shows of a port over many
rounds of probes. No I/O and no clock: the caller hands each judged round in with its time.

One row per port of every host of every site (``key``): the planned port, so that the SQL port the SQL
Server Browser names keeps its row when the Browser names another number. Each round is an observation
of the row: its status and its judged state (``value``). The rules:

- **The first result shows at once.**
- **Afterwards a row changes only when two rounds agree**: an observation that differs from what is
  shown is *pending* until the next round; if that round sees the same, the row changes, and its time
  (``since``, the change's time) is the first of the two rounds. A single odd round changes nothing.
- **A port that keeps changing is flapping**: a row whose last ``WINDOW`` (8) observations hold
  ``FLAP_CHANGES`` (3) or more changes from one round to the next is shown as flapping -- never as
  green: its state is the worst it flapped between, at least WARNING -- until ``STEADY_ROUNDS`` (4)
  rounds in a row agree; then it shows what they saw, and counts changes afresh from those rounds.
- **A changed SQL port is an event at once**: the port a SQL row was probed at is what the Browser said
  this round; when it differs from the last number, that is logged, whatever the status.

``Watch.observe`` returns the events of a round (``Event``: a row's first result, a change, the start and
the end of flapping, a new SQL port) and keeps the changes in ``Watch.changes`` (at most ``MAX_CHANGES``;
``dropped`` counts those left out). ``Watch.ok_rounds`` counts the rounds in a row judged OK with no row
flapping: what ``--watch-until ok`` waits for (``UNTIL_OK_ROUNDS``). Memory is bounded: a row keeps
``WINDOW`` observations.
"""

from __future__ import annotations

from check_digitalsentry.judge import advice, not_proved, untestable
from check_digitalsentry.model import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun, Verdict
    from check_digitalsentry.model import Status
    from check_digitalsentry.vantage import Vantage

#: Observations a row remembers: the flapping window.
WINDOW = 8
#: Changes from one round to the next, within ``WINDOW`` observations, that make a row flapping.
FLAP_CHANGES = 3
#: Rounds in a row that must agree before a flapping row is steady again.
STEADY_ROUNDS = 4
#: Rounds in a row judged OK (and no row flapping) that end ``--watch-until ok``.
UNTIL_OK_ROUNDS = 3
#: Changes kept for the summary and the handover document's appendix (the oldest are dropped first).
MAX_CHANGES = 10_000

FIRST, CHANGE, FLAPPING, STEADY, PORT = "first", "change", "flapping", "steady", "port"


class Observation:
    """One row in one round: the status, the judged state, the port probed, and what to say about it."""

    __slots__ = ("advice", "at", "detail", "idle", "port", "seconds", "state", "status", "untested")

    def __init__(self, status: Status, state: State, at: float, *, port: int | None = None, detail: str = "",
                 advice: str = "", seconds: float | None = None, untested: bool = False, idle: str = "") -> None:
        self.status = status
        self.state = state
        self.at = at  #: the Unix time of the round
        self.port = port
        self.detail = detail
        self.advice = advice  #: the fix in one sentence ("" for an OK port)
        self.seconds = seconds
        self.untested = untested  #: never probed: nothing was proved (``judge.not_proved``)
        self.idle = idle  #: "not testable while no audio plays" (``judge.untestable``), else ""

    @property
    def value(self) -> tuple[str, int]:
        """What two rounds must agree on: the status and the judged state."""
        return str(self.status), int(self.state)

    def __repr__(self) -> str:
        return f"Observation({self.status}, {self.state})"

    @classmethod
    def of(cls, verdict: Verdict, at: float) -> Observation:
        """The judgement's adapter: a judged port result as an observation."""
        r = verdict.result
        return cls(r.status, verdict.state, at, port=r.port, detail=verdict.detail, advice=advice(verdict),
                   seconds=r.seconds, untested=not_proved(verdict), idle=untestable(verdict))


def _words(before: Observation, after: Observation) -> str:
    """``filtered -> open (OK)``; the states too when only they changed: ``open (OK) -> open (WARNING)``."""
    if before.status == after.status:
        return f"{before.status} ({before.state}) -> {after.status} ({after.state})"
    return f"{before.status} -> {after.status} ({after.state})"


class Row:
    """One port of one host of one site, as the watch shows it."""

    __slots__ = ("address", "flapping", "history", "host", "key", "last", "pending", "port", "role", "shown",
                 "since", "site", "transport")

    def __init__(self, key: tuple[object, ...], site: str, host: str, address: str | None, role: str,
                 transport: str) -> None:
        self.key = key
        self.site = site
        self.host = host
        self.address = address  #: the address, when the host is probed at each of its addresses
        self.role = role
        self.transport = transport
        self.port: int | None = None  #: the last number probed (the SQL port: what the Browser named)
        self.shown: Observation | None = None  #: what the row shows (its details refreshed each round it holds)
        self.since = 0.0  #: when what it shows was first seen
        self.last: Observation | None = None  #: the latest observation
        self.pending: Observation | None = None  #: seen once, differing from what is shown
        self.history: list[Observation] = []  #: the last ``WINDOW`` observations, oldest first
        self.flapping = False

    @property
    def where(self) -> str:
        """``hq/ds01``, with the address when the host is probed at each of its addresses."""
        return f"{self.site}/{self.host}" + (f" ({self.address})" if self.address else "")

    @property
    def label(self) -> str:
        """``video 18772/tcp``."""
        return f"{self.role} {'dynamic' if self.port is None else self.port}/{self.transport}"

    @property
    def changes(self) -> int:
        """Changes from one round to the next within the remembered observations."""
        values = [obs.value for obs in self.history]
        return sum(1 for a, b in zip(values, values[1:]) if a != b)

    @property
    def state(self) -> State:
        """What the row counts as: its shown state; while it flaps, the worst state it flapped between, and
        at least WARNING (never OK)."""
        assert self.shown is not None
        if self.flapping:
            return max(State.WARNING, *(obs.state for obs in self.history))
        return self.shown.state

    @property
    def word(self) -> str:
        """What the row shows in one word: FLAPPING, NOT TESTED (never probed: nothing was proved), NOT
        TESTABLE (a port the server opens only while something happens: audio on an idle server), or its state
        (OK, WARNING, CRITICAL, UNKNOWN)."""
        if self.flapping:
            return "FLAPPING"
        assert self.shown is not None
        if self.shown.untested:
            return "NOT TESTED"
        return "NOT TESTABLE" if self.shown.idle else str(self.state)

    @property
    def fix(self) -> str:
        """What to do, in one sentence: the judgement's advice for what the row shows ("" when it is OK); for
        a flapping row, what makes a port flap."""
        if self.flapping:
            seen = " and ".join(self.seen())
            return (f"it keeps changing between {seen}: wait until it settles; if it does not, look for an "
                    f"unstable link, a forward that is being changed, or a service that restarts")
        return self.shown.advice if self.shown is not None else ""

    def seen(self) -> dict[str, int]:
        """Status word -> rounds, within the remembered observations (what a flapping row flaps between)."""
        counts: dict[str, int] = {}
        for obs in self.history:
            counts[str(obs.status)] = counts.get(str(obs.status), 0) + 1
        return counts

    def observe(self, obs: Observation) -> list[Event]:
        """Take one round's observation; the events it makes (see the module docstring)."""
        events: list[Event] = []
        if obs.port is not None and self.port is not None and obs.port != self.port:
            events.append(Event(PORT, self, obs.at, f"{self.role} port {self.port}/{self.transport} -> "
                                                    f"{obs.port}/{self.transport}: the SQL Server Browser names "
                                                    f"another port"))
        if obs.port is not None or self.port is None:
            self.port = obs.port
        self.last = obs
        self.history.append(obs)
        del self.history[:-WINDOW]
        shown = self.shown
        if shown is None:
            self.shown, self.since = obs, obs.at
            events.append(Event(FIRST, self, obs.at, f"{self.label} {obs.status} ({obs.state})"))
            return events
        recent = self.history[-STEADY_ROUNDS:]
        if self.flapping:
            if len(recent) == STEADY_ROUNDS and all(o.value == obs.value for o in recent):
                self.flapping, self.shown, self.since, self.pending = False, obs, recent[0].at, None
                del self.history[:-STEADY_ROUNDS]  # steady again: changes are counted afresh
                events.append(Event(STEADY, self, recent[0].at,
                                    f"{self.label} steady again: {obs.status} ({obs.state}), "
                                    f"{STEADY_ROUNDS} rounds in a row"))
            return events
        if self.changes >= FLAP_CHANGES:
            self.flapping, self.pending = True, None
            seen = ", ".join(f"{word} {count}" for word, count in self.seen().items())
            events.append(Event(FLAPPING, self, obs.at, f"{self.label} flapping: {self.changes} changes in the "
                                                        f"last {len(self.history)} rounds ({seen})"))
            return events
        if obs.value == shown.value:
            self.shown, self.pending = obs, None
        elif self.pending is not None and self.pending.value == obs.value:
            first = self.pending
            self.shown, self.since, self.pending = obs, first.at, None
            events.append(Event(CHANGE, self, first.at, f"{self.label} {_words(shown, obs)}"))
        else:
            self.pending = obs
        return events

    def __repr__(self) -> str:
        return f"Row({self.where} {self.label}: {self.shown}{', flapping' if self.flapping else ''})"


class Event:
    """Something a round showed of a row: ``kind`` (``FIRST``, ``CHANGE``, ``FLAPPING``, ``STEADY``,
    ``PORT``), when (Unix time: for a change, the first of the two rounds that agreed), and the sentence
    (``video 18772/tcp filtered -> open (OK)``; the row's ``where`` is not in it)."""

    __slots__ = ("at", "kind", "row", "state", "text")

    def __init__(self, kind: str, row: Row, at: float, text: str) -> None:
        self.kind = kind
        self.row = row
        self.at = at
        self.text = text
        self.state = row.state  #: the row's state once the event happened

    def __repr__(self) -> str:
        return f"Event({self.kind}, {self.row.where} {self.text!r})"


def row_key(verdict: Verdict, instances: int) -> tuple[object, ...]:
    """A row's identity: site, host, address (when each is probed), the planned port; and the SQL
    instance when the Browser names more than one (``instances``) on that host."""
    r = verdict.result
    address = r.address if r.facts.addresses_probed else None
    instance = r.facts.instance if instances > 1 else None
    return verdict.site.name, r.host, address, r.planned.label, r.planned.forbidden, instance


class Watch:
    """Every row of a watch, round after round (see the module docstring)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[object, ...], Row] = {}
        self.rounds = 0
        self.changes: list[Event] = []  #: every event but the first results, oldest first
        self.dropped = 0  #: changes left out of ``changes`` (more than ``MAX_CHANGES``)
        self.ok_rounds = 0  #: rounds in a row judged OK with no row flapping
        self.state: State | None = None  #: the last round's judged state
        self.first_at: float | None = None
        self.last_at: float | None = None
        #: (site, ``vantage.Vantage``) of the last round: what path its probes proved
        self.proved: list[tuple[str, Vantage]] = []

    def observe(self, run: JudgedRun, at: float) -> list[Event]:
        """Take one judged round (``at``: its Unix time); its events, in report order."""
        self.rounds += 1
        self.first_at = at if self.first_at is None else self.first_at
        self.last_at = at
        events: list[Event] = []
        for judged in run.sites:
            count: dict[tuple[object, ...], int] = {}
            for v in judged.verdicts:
                spot = (v.result.host, v.result.address, v.result.planned.label)
                count[spot] = count.get(spot, 0) + 1
            for v in judged.verdicts:
                r = v.result
                key = row_key(v, count[(r.host, r.address, r.planned.label)])
                row = self.rows.get(key)
                if row is None:
                    address = r.address if r.facts.addresses_probed else None
                    row = self.rows[key] = Row(key, v.site.name, r.host, address, r.role, r.transport)
                events += row.observe(Observation.of(v, at))
        self.state = run.state
        self.proved = [(judged.site.name, judged.vantage) for judged in run.sites]
        flapping = any(row.flapping for row in self.rows.values())
        self.ok_rounds = self.ok_rounds + 1 if run.state is State.OK and not flapping else 0
        for event in events:
            if event.kind != FIRST:
                self.changes.append(event)
        if len(self.changes) > MAX_CHANGES:
            self.dropped += len(self.changes) - MAX_CHANGES
            del self.changes[:-MAX_CHANGES]
        return events

    @property
    def until_ok(self) -> bool:
        """Whether ``--watch-until ok`` is met: ``UNTIL_OK_ROUNDS`` rounds in a row judged OK, none flapping."""
        return self.ok_rounds >= UNTIL_OK_ROUNDS

    def flapping(self) -> list[Row]:
        return [row for row in self.rows.values() if row.flapping]

    def not_as_expected(self) -> list[Row]:
        """The rows whose shown state is not OK, or that flap, in report order."""
        return [row for row in self.rows.values() if row.state is not State.OK]

