"""Passive results (core layer): the value objects of a ``--submit`` run -- a result for one monitoring
object (``PassiveResult``, made by ``render.text.passive_results``), where it goes (``Destination``, made
by a target's ``prepare``: see ``outputs``), and what became of it when it was submitted (``Receipt``,
``Submission``, made by ``submit/``); and the one family of errors a target says before anything is
probed (``SetupError``, ``NoReceiver``). No I/O here.
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


class Receipt:
    """What became of one result: its ``kind`` (one of ``KINDS``) -- accepted, refused in one of the ways a
    core refuses (``reason``: its own words), or failed (``reason``: why) -- how many ``attempts`` it
    took, whether it was ``sent`` at all, and what the retries came to (``retried``: " (after 3 attempts;
    no time left to try again)"). Read by attribute, never parsed back from ``message``, the sentence
    that shows it."""

    __slots__ = ("attempts", "kind", "reason", "result", "retried", "sent")

    def __init__(self, result: PassiveResult, kind: str, reason: str = "", attempts: int = 0, *,
                 sent: bool = True, retried: str = "") -> None:
        self.result = result
        self.kind = kind
        self.reason = reason
        self.attempts = attempts
        self.sent = sent
        self.retried = retried

    @classmethod
    def not_sent(cls, result: PassiveResult, why: str) -> Receipt:
        """A result that was never sent (the run's time was up, the submission stopped short): why."""
        return cls(result, FAILED, why, sent=False)

    @property
    def cause(self) -> str:
        """Why it went as it did, without the retries: the same for every result the API refused alike."""
        return f"not sent: {self.reason}" if not self.sent else self.reason

    @property
    def message(self) -> str:
        """The sentence that says it: ``not sent: the run's time was up``, ``Icinga has no service ...``."""
        return self.cause + self.retried

    def __repr__(self) -> str:
        return f"Receipt({self.result.host}!{self.result.service}: {self.kind} {self.message!r})"


class Submission:
    """Every result's receipt, in the order of the results; ``fatal`` is why the submission stopped short
    for all that was left (wrong password, TLS verification, the command file has no reader...), or "";
    ``seconds`` how long it took, ``requests`` how many requests (or writes) were made, ``retries`` how
    many of them were repeats, ``connections`` how many connections were opened."""

    def __init__(self, receipts: Sequence[Receipt], *, fatal: str = "", seconds: float = 0.0, requests: int = 0,
                 retries: int = 0, connections: int = 0, hint: str = "") -> None:
        self.receipts = list(receipts)
        self.fatal = fatal
        #: what the target would have the user check, when its answers allow another reading
        self.hint = hint
        self.seconds = seconds
        self.requests = requests
        self.retries = retries
        self.connections = connections

    def count(self, kind: str) -> int:
        return sum(1 for receipt in self.receipts if receipt.kind == kind)

    @property
    def accepted(self) -> int:
        return self.count(ACCEPTED)

    @property
    def problems(self) -> list[Receipt]:
        return [receipt for receipt in self.receipts if receipt.kind != ACCEPTED]

    def __repr__(self) -> str:
        return f"Submission({self.accepted} of {len(self.receipts)} accepted, fatal={self.fatal!r})"


class SetupError(Exception):
    """A submit option, file or name that cannot work (one line, naming the option): the run is UNKNOWN and
    probes nothing."""


class NoReceiver(SetupError):
    """Nothing can be submitted at all (Nagios does not read its command file): the run is CRITICAL and
    probes nothing. The message says what was not written where, and why."""


class Destination:
    """Where one run's results go, checked and ready (a target's ``prepare`` makes it): ``where`` names it
    in the summary line (``Icinga 2 at https://...``); ``submit`` posts the results by ``deadline`` (a
    ``time.monotonic()`` value) and says what became of each."""

    where = ""

    def submit(self, results: Sequence[PassiveResult], deadline: float) -> Submission:
        raise NotImplementedError


def object_name(result: PassiveResult) -> str:
    """``service digitalsentry on host ds01``: how an object is named in every sentence."""
    return f"service {result.service} on host {result.host}"
