"""``--submit`` (check frontend): probe every site of the inventory at once, then post one passive result
per object to the target of ``--submit`` (``outputs``: Icinga 2's REST API, ``submit.icinga2``; Nagios'
command file, ``submit.nagios``; or a plugin's), and say in one line what went in.

Time: ``-t`` bounds the whole run. The probes get ``-t`` less ``reserve(-t)`` (30 % of it, at least 1-2 s:
with the default 10 s, 7 s), and the submission everything the probes leave, up to ``-t`` (healthy sites
answer in milliseconds, so it usually has nearly all of it).

The run's own exit code, for cron and systemd (the sites' states went to the monitoring core):

- 0 (SUBMIT OK): every result was accepted (Nagios: written whole to the command file);
- 1 (SUBMIT WARNING): some were, some not: no such object (404), passive checks disabled (403), ignored
  as unreachable, older than Icinga's (409), or failed (the API stalled or went away half-way);
- 2 (SUBMIT CRITICAL): none was: the API down, refused or stalled, 401, TLS, no Nagios reading (that one is
  known before probing: the run says so at once, and probes nothing);
- 3 (UNKNOWN): bad options or inventory, as for every run; and, before anything is probed, a bad --api-url,
  a password, CA, certificate or key file that is not a safe regular file, a --command-file that is missing
  or not a FIFO, a host or service name that cannot go into Nagios' command file.

The first line says it all; each result that did not go in follows on a line of its own (once per object),
``-v`` adds a line per result. ``--quiet`` prints nothing when the exit code is 0.
"""

from __future__ import annotations

import time

from check_digitalsentry.cli.options import UsageError
from check_digitalsentry.cli.output import done, finish
from check_digitalsentry.model import Interrupted
from check_digitalsentry.passive import NoReceiver, SetupError
from check_digitalsentry.render.text import NAME, STATE_WORDS, passive_results, plain

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    from check_digitalsentry.cli.options import Options
    from check_digitalsentry.engine.probes import BuiltinHooks
    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.passive import PassiveResult, Submission
    from check_digitalsentry.schema import Site

#: The submission's part of -t: this share, at least SUBMIT_MIN seconds (at most half of -t).
SUBMIT_SHARE, SUBMIT_MIN = 0.3, 2.0
#: Seconds kept at the very end of -t for the line and the exit.
FINISH_MARGIN = 0.1
_KIND_WORDS = {"ignored": "ignored (unreachable)", "stale": "stale (409)", "missing": "missing (404)",
               "refused": "refused (403)", "failed": "failed"}


def reserve(timeout: float) -> float:
    """Seconds of -t kept for the submission whatever the probes take."""
    return max(min(SUBMIT_MIN, timeout / 2), SUBMIT_SHARE * timeout)


def submit(opts: Options, sites: Sequence[Site], started: float, deadline: float, hooks: BuiltinHooks,
           probe: Callable[[Options, Sequence[Site], float, float, BuiltinHooks], JudgedRun]) -> NoReturn:
    """The --submit run, probing with ``probe`` (``main.probe``): exits with the submission's code (see the
    module docstring)."""
    target = opts.target
    assert target is not None and opts.inventory is not None
    try:  # a bad URL, file, name or command file stops the run before any probe
        destination = target.module.prepare(opts.target_values(), sites, opts.inventory)
    except NoReceiver as exc:  # nothing can go in: nothing is probed for nothing
        finish(plain(f"{NAME} SUBMIT CRITICAL - {exc}; the sites were not probed") + "\n", 2)
    except SetupError as exc:
        raise UsageError(str(exc)) from None
    probes_started = time.time()
    run = probe(opts, sites, started, deadline - reserve(opts.timeout), hooks)
    results = passive_results(run, started=probes_started, verbose=min(max(opts.verbose, 1), 2))
    deadline -= FINISH_MARGIN
    try:
        submission = destination.submit(results, deadline)
    except Interrupted as exc:  # SIGTERM, SIGINT: main says when it came
        exc.stage = f"while submitting {len(results)} result{'s' if len(results) != 1 else ''}"
        raise
    code, lines = report(submission, results, destination.where, target.verb, opts.verbose)
    if opts.quiet and code == 0:
        done(code)
    finish("\n".join(lines) + "\n", code)


def report(submission: Submission, results: Sequence[PassiveResult], where: str, verb: str,
           verbose: int = 0) -> tuple[int, list[str]]:
    """The run's exit code and its lines: the summary (``N of M results VERB WHERE``), then each result that
    did not go in (``-v``: each)."""
    total = len(results)
    accepted = submission.accepted
    code = 0 if accepted == total else 2 if accepted == 0 else 1
    states = ", ".join(f"{n} {word}" for word, n in
                       ((word, sum(1 for r in results if int(r.state) == index))
                        for index, word in enumerate(STATE_WORDS)) if n)
    line = f"{NAME} SUBMIT {STATE_WORDS[code]} - {accepted} of {total} result{'s' if total != 1 else ''} {verb} " \
           f"{where} in {submission.seconds:.2f} s"
    problems = submission.problems
    reasons = {o.cause for o in problems}
    common = ""  # one reason for every result that did not go in (the API down, stalled): said once
    if not submission.fatal and len(reasons) == 1 and all(o.kind == "failed" for o in problems):
        common = reasons.pop()
    if submission.fatal:
        line += f": {submission.fatal}"
    elif problems:
        kinds = {kind: sum(1 for o in problems if o.kind == kind) for kind in _KIND_WORDS}
        line += "; " + ", ".join(f"{n} {_KIND_WORDS[kind]}" for kind, n in kinds.items() if n)
        line += f": {common}" if common else ""
    if submission.hint:
        line += f" ({submission.hint})"
    if submission.retries:
        line += f" ({submission.retries} retr{'ies' if submission.retries != 1 else 'y'})"
    line += f"; results: {states}"
    lines = [line]
    shown = problems if verbose < 1 else submission.receipts
    for receipt in shown:
        said = submission.fatal and (not receipt.sent or receipt.cause == submission.fatal)
        if said or (common and verbose < 1):
            continue  # said once on the first line
        r = receipt.result
        lines.append(f"{r.host}!{r.service} {STATE_WORDS[int(r.state)]} {receipt.kind}: {receipt.message}")
    return code, [plain(text) for text in lines]
