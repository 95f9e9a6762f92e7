"""nagiosplugin glue (check frontend): a judged run as nagiosplugin's Resource, Context and Summary.

The states are the judgement's (``judge``): the run is one Metric whose state is the worst verdict's, so
nagiosplugin's exit code is the judged state; it lays out the status line, the long output and the
perfdata (``render.text`` says what they contain, and writes each perfdata item: the same formatter
writes the passive results' perfdata; a port NOT TESTED has none, its state counts; a site whose path the
run cannot prove makes it UNKNOWN). One Metric, not one per port: nagiosplugin's Metric, Result and
Performance objects cost about 25 µs a port, a quarter of a second for a fleet of 2,000 sites. Imported
only when a check has run: ``--version`` and ``--help`` never pay for nagiosplugin.
"""

from __future__ import annotations

import nagiosplugin

from check_digitalsentry.render.text import NAME, NagiosText, perf_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

STATES = {0: nagiosplugin.Ok, 1: nagiosplugin.Warn, 2: nagiosplugin.Critical, 3: nagiosplugin.Unknown}


class Ports(nagiosplugin.Resource):  # type: ignore[misc]
    """The probed ports as one Metric: the worst verdict's state, and every perfdata item (each port's
    reachability, its time where one was measured, and ``failing``) as nagiosplugin would order them."""

    name = NAME

    def __init__(self, text: NagiosText) -> None:
        self.text = text

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        items = self.text.perfdata()
        worst = max((int(verdict.state) for _perf, verdict in items if verdict is not None), default=0)
        perfdata = " ".join(sorted(text for text in (perf_text(perf) for perf, _verdict in items) if text))
        if self.text.unproved():  # a site whose path the run cannot prove (``vantage``): UNKNOWN
            worst = max(worst, 3)
        yield nagiosplugin.Metric("ports", (worst, perfdata), context="ports")


class PortsContext(nagiosplugin.Context):  # type: ignore[misc]
    """The run's state is its worst verdict's; its perfdata is every item, formatted."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Ports) -> nagiosplugin.Result:
        return self.result_cls(STATES[metric.value[0]], None, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: Ports) -> str:
        perfdata: str = metric.value[1]
        return perfdata


class Summary(nagiosplugin.Summary):  # type: ignore[misc]
    """The status line is ours for every state; ``-v`` adds one line per port."""

    def __init__(self, text: NagiosText, verbose: int) -> None:
        self.text = text
        self.verbosity = verbose

    def ok(self, results: nagiosplugin.Results) -> str:
        return self.text.summary()

    def problem(self, results: nagiosplugin.Results) -> str:
        return self.text.summary()

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        return self.text.lines(self.verbosity) if self.verbosity else []


#: A first line longer than this moves the perfdata to the end of the output, where Nagios and Icinga
#: read it too (a monitoring core may cut a long first line, and the perfdata at its end with it).
FIRST_LINE_LIMIT = 4096


def render(text: NagiosText, verbose: int) -> tuple[str, int]:
    """The plugin output of a judged run, as nagiosplugin formats it, and nagiosplugin's exit code."""
    check = nagiosplugin.Check(Ports(text), PortsContext("ports"), Summary(text, verbose))
    check.name = NAME
    check()
    check.perfdata = [item for item in check.perfdata if item]  # none for a port NOT TESTED
    runtime = nagiosplugin.Runtime()
    runtime.verbose = verbose
    layout = verbose
    if not verbose and len(" ".join(check.perfdata)) + len(check.summary_str) > FIRST_LINE_LIMIT:
        layout = 1  # nagiosplugin's layout with long output: the status line alone, perfdata last
    output = nagiosplugin.output.Output(runtime.logchan, layout)
    output.add(check)
    return str(output), int(check.exitcode)
