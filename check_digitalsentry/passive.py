"""Passive results (core layer): the value objects of a ``--submit`` run -- a result for one monitoring
object (``PassiveResult``, made by ``render.text.passive_results``), and what became of it when it was
submitted (``Outcome``, ``Submission``, made by ``submit/``). No I/O here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.model import State


class PassiveResult:
    """One check result for one monitoring object -- a site, or one role of a site -- as a passive
    submission carries it (Icinga 2's ``process-check-result``, Nagios' ``PROCESS_SERVICE_CHECK_RESULT``).

    ``host`` and ``service`` name the object; ``state`` is the exit status; ``output`` the status line and
    the long output (newline-separated, no perfdata); ``perfdata`` the items, ``label=value[uom];...``;
    ``started`` and ``ended`` the Unix times the site's probes ran; ``site`` and ``role`` (None for the
    whole site) say what it reports.
    """

    __slots__ = ("ended", "host", "output", "perfdata", "role", "service", "site", "started", "state")

    def __init__(self, *, host: str, service: str, state: State, output: str, perfdata: Sequence[str],
                 started: float, ended: float, site: str, role: str | None = None) -> None:
        self.host = host
        self.service = service
        self.state = state
        self.output = output
        self.perfdata = list(perfdata)
        self.started = started
        self.ended = ended
        self.site = site
        self.role = role

    @property
    def status_line(self) -> str:
        return self.output.split("\n", 1)[0]

    @property
    def long_output(self) -> list[str]:
        return self.output.split("\n")[1:]

    def __repr__(self) -> str:
        return f"PassiveResult({self.host}!{self.service}, {self.state})"

#: What became of one result. ACCEPTED: the core took it (Icinga: "Successfully processed"; Nagios: the
#: line was written whole). IGNORED: Icinga answered 200 but dropped it (the object is unreachable: its
#: host, or a parent by a Dependency, is down). STALE: Icinga has a newer result (409, Icinga 2.14+).
#: MISSING: no such object (404). REFUSED: the object takes no passive results (403). FAILED: anything
#: else (the API down or stalled, TLS, 401, the run's time up): the reason says which.
ACCEPTED, IGNORED, STALE, MISSING, REFUSED, FAILED = "accepted", "ignored", "stale", "missing", "refused", "failed"
KINDS = (ACCEPTED, IGNORED, STALE, MISSING, REFUSED, FAILED)


class Outcome:
    """What became of one result: its ``kind`` (one of ``KINDS``), the core's own words or our reason
    (``message``), how many ``attempts`` it took."""

    __slots__ = ("attempts", "kind", "message", "result")

    def __init__(self, result: PassiveResult, kind: str, message: str = "", attempts: int = 0) -> None:
        self.result = result
        self.kind = kind
        self.message = message
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"Outcome({self.result.host}!{self.result.service}: {self.kind} {self.message!r})"


class Submission:
    """Every result's outcome, in the order of the results; ``fatal`` is why the submission stopped short
    for all that was left (wrong password, TLS verification, the command file has no reader...), or "";
    ``seconds`` how long it took, ``requests`` how many requests (or writes) were made, ``retries`` how
    many of them were repeats, ``connections`` how many connections were opened."""

    def __init__(self, outcomes: Sequence[Outcome], *, fatal: str = "", seconds: float = 0.0, requests: int = 0,
                 retries: int = 0, connections: int = 0) -> None:
        self.outcomes = list(outcomes)
        self.fatal = fatal
        self.seconds = seconds
        self.requests = requests
        self.retries = retries
        self.connections = connections

    def count(self, kind: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.kind == kind)

    @property
    def accepted(self) -> int:
        return self.count(ACCEPTED)

    @property
    def problems(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.kind != ACCEPTED]

    def __repr__(self) -> str:
        return f"Submission({self.accepted} of {len(self.outcomes)} accepted, fatal={self.fatal!r})"


def object_name(result: PassiveResult) -> str:
    """``service digitalsentry on host ds01``: how an object is named in every sentence."""
    return f"service {result.service} on host {result.host}"
