"""Steady, not flappy: the rules of ``check_digitalsentry.steady`` (what a watch shows of each port over many
rounds), on judged rounds made by hand -- no network, no clock."""

from __future__ import annotations

import pytest
from reports import judged_site, port

from check_digitalsentry import steady
from check_digitalsentry.judge import JudgedRun
from check_digitalsentry.model import PortResult, PortSpec, State, Status
from check_digitalsentry.ranges import Range
from check_digitalsentry.steady import Watch

T0 = 1_795_000_000.0
OPEN, CLOSED, FILTERED = Status.OPEN, Status.CLOSED, Status.FILTERED


def sql(number: int | None, status: Status = OPEN, instance: str = "DIGITALSENTRY") -> PortResult:
    """The SQL port as the engine reports it: planned as ``sql[dynamic/tcp]``, probed where the Browser said."""
    result = port("sql", number, status, facts={"instance": instance, "sql_port_from": "browser"})
    result.planned = PortSpec("sql", None, "tcp", State.CRITICAL)
    return result


def round_of(video: Status, *, sql_port: int | None = 49172, seconds: float | None = None,
             more: list[PortResult] | None = None) -> JudgedRun:
    results = [sql(sql_port, OPEN if sql_port else Status.UNKNOWN), port("video", 18772, video, seconds=seconds),
               *(more or [])]
    return JudgedRun([judged_site("hq", results, warning=None)], 0.1)


def watch(*videos: Status) -> tuple[Watch, list[list[steady.Event]]]:
    """A watch fed one round per status of the video port, a second apart."""
    w = Watch()
    events = [w.observe(round_of(status), T0 + n) for n, status in enumerate(videos)]
    return w, events


def video(w: Watch) -> steady.Row:
    [row] = [row for row in w.rows.values() if row.role == "video"]
    return row


def test_the_first_result_shows_at_once() -> None:
    w, [events] = watch(CLOSED)
    row = video(w)
    assert row.shown is not None and row.shown.status is CLOSED and row.state is State.CRITICAL
    assert row.since == T0 and not row.flapping and row.pending is None
    assert [(e.kind, e.row.role, e.text) for e in events] == [
        ("first", "sql", "sql 49172/tcp open (OK)"), ("first", "video", "video 18772/tcp closed (CRITICAL)")]
    assert w.changes == [] and w.rounds == 1 and w.state is State.CRITICAL


def test_one_odd_round_changes_nothing() -> None:
    w, events = watch(CLOSED, OPEN, CLOSED, CLOSED)
    row = video(w)
    assert row.shown is not None and row.shown.status is CLOSED and row.since == T0
    assert events[1] == [] and events[2] == [] and events[3] == [] and w.changes == []


def test_a_row_changes_when_two_rounds_agree_since_the_first_of_them() -> None:
    w, events = watch(CLOSED, CLOSED, OPEN, OPEN, OPEN)
    row = video(w)
    assert events[2] == []  # the first round that saw it open: pending
    [change] = events[3]
    assert (change.kind, change.at, change.text) == ("change", T0 + 2, "video 18772/tcp closed -> open (OK)")
    assert change.state is State.OK and change.row is row
    assert row.shown is not None and row.shown.status is OPEN and row.since == T0 + 2 and row.state is State.OK
    assert w.changes == [change] and events[4] == []


def test_a_pending_observation_is_kept_until_the_next_round() -> None:
    w, _ = watch(CLOSED, OPEN)
    row = video(w)
    assert row.pending is not None and row.pending.status is OPEN
    assert row.shown is not None and row.shown.status is CLOSED  # still what two rounds agreed on


def test_a_port_that_keeps_changing_is_flapping_never_green() -> None:
    w, events = watch(CLOSED, OPEN, CLOSED, OPEN, OPEN)
    row = video(w)
    assert not any(e.kind == "flapping" for e in events[2])
    [flap] = events[3]
    assert flap.kind == "flapping" and flap.text == ("video 18772/tcp flapping: 3 changes in the last 4 rounds "
                                                    "(closed 2, open 2)")
    assert row.flapping and row.state is State.CRITICAL and flap.state is State.CRITICAL  # the worst it was
    assert events[4] == [] and row.flapping  # open twice is not enough to be trusted again
    assert w.not_as_expected() == [row] and w.flapping() == [row]


def test_a_port_flapping_between_warning_and_ok_is_a_warning() -> None:
    w, _ = watch(OPEN, FILTERED, OPEN, FILTERED)
    assert video(w).flapping and video(w).state is State.CRITICAL
    w = Watch()
    for n, status in enumerate((OPEN, CLOSED, OPEN, CLOSED)):
        w.observe(JudgedRun([judged_site("hq", [port("diagnostics", 17772, status, severity=State.WARNING)])], 0.1),
                  T0 + n)
    [row] = w.rows.values()
    assert row.flapping and row.state is State.WARNING


def test_a_flapping_row_is_steady_again_after_four_rounds_that_agree() -> None:
    w, events = watch(CLOSED, OPEN, CLOSED, OPEN, OPEN, OPEN, OPEN)
    row = video(w)
    [back] = events[6]
    assert back.kind == "steady" and back.at == T0 + 3
    assert back.text == "video 18772/tcp steady again: open (OK), 4 rounds in a row"
    assert not row.flapping and row.state is State.OK and row.since == T0 + 3
    assert [e.kind for e in w.changes] == ["flapping", "steady"]


def test_changes_every_two_rounds_are_flapping_too() -> None:
    w, events = watch(CLOSED, CLOSED, OPEN, OPEN, CLOSED, CLOSED, OPEN)
    assert [e.kind for e in w.changes] == ["change", "change", "flapping"]
    assert video(w).flapping and events[6][0].text.startswith("video 18772/tcp flapping: 3 changes in the last 7")


def test_a_state_change_without_a_status_change_says_both_states() -> None:
    w = Watch()
    for n, seconds in enumerate((0.01, 2.5, 2.5)):
        results = [port("video", 18772, OPEN, seconds=seconds)]
        w.observe(JudgedRun([judged_site("hq", results, warning=Range.coerce("1"))], 0.1), T0 + n)
    [change] = w.changes
    assert change.text == "video 18772/tcp open (OK) -> open (WARNING)"


def test_a_new_sql_port_is_an_event_at_once_and_keeps_its_row() -> None:
    w = Watch()
    w.observe(round_of(OPEN, sql_port=49172), T0)
    events = w.observe(round_of(OPEN, sql_port=49180), T0 + 1)
    [event] = events
    assert event.kind == "port" and event.at == T0 + 1
    assert event.text == "sql port 49172/tcp -> 49180/tcp: the SQL Server Browser names another port"
    [row] = [row for row in w.rows.values() if row.role == "sql"]
    assert row.port == 49180 and row.label == "sql 49180/tcp" and len(w.rows) == 2
    # the Browser silent: the SQL port is not probed -- the same row, and no new port
    events = w.observe(round_of(OPEN, sql_port=None), T0 + 2)
    assert events == [] and row.port == 49180 and len(w.rows) == 2
    assert row.pending is not None and row.pending.status is Status.UNKNOWN


def test_each_sql_instance_has_a_row_when_the_browser_names_several() -> None:
    w = Watch()
    run = JudgedRun([judged_site("hq", [sql(49172, instance="DIGITALSENTRY"), sql(49180, instance="SQLEXPRESS")])],
                    0.1)
    w.observe(run, T0)
    assert sorted(row.port for row in w.rows.values()) == [49172, 49180]


def test_rows_are_per_site_and_host() -> None:
    w = Watch()
    hq = judged_site("hq", [port("video", 18772, OPEN, host="a"), port("video", 18772, CLOSED, host="b")])
    branch = judged_site("branch", [port("video", 18772, OPEN, host="a")])
    w.observe(JudgedRun([hq, branch], 0.1), T0)
    assert [row.where for row in w.rows.values()] == ["hq/a", "hq/b", "branch/a"]


def test_until_ok_needs_three_ok_rounds_in_a_row_and_no_row_flapping() -> None:
    w, _ = watch(CLOSED, OPEN, OPEN)
    assert w.ok_rounds == 2 and not w.until_ok  # the rounds themselves were OK: the judgement of each
    w.observe(round_of(OPEN), T0 + 3)
    assert w.until_ok
    w.observe(round_of(CLOSED), T0 + 4)
    assert w.ok_rounds == 0 and not w.until_ok
    flappy, _ = watch(CLOSED, OPEN, CLOSED, OPEN, OPEN, OPEN)
    assert video(flappy).flapping and flappy.ok_rounds == 0  # judged OK, but a row still flaps
    flappy.observe(round_of(OPEN), T0 + 6)
    assert not video(flappy).flapping and flappy.ok_rounds == 1


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steady, "MAX_CHANGES", 5)
    statuses = [CLOSED, OPEN, CLOSED, OPEN, OPEN, OPEN, OPEN, OPEN, OPEN, OPEN] * 10  # flapping, steady, ...
    w, _ = watch(*statuses)
    assert [e.kind for e in w.changes] == ["steady", "flapping", "steady", "flapping", "steady"]
    assert w.dropped == 15
    assert all(len(row.history) <= steady.WINDOW for row in w.rows.values())
