"""nagiosplugin glue (check frontend): a judged run as nagiosplugin's Resource, Contexts and Summary.

The states are the judgement's (``judge``): ``PortContext`` hands each verdict's state to nagiosplugin
unchanged, so nagiosplugin's exit code is the judged state; it lays out the status line, the long
output and the perfdata (``render.text`` says what they contain, and writes each perfdata item: the same
formatter writes the passive results' perfdata). Imported only when a check has run:
``--version`` and ``--help`` never pay for nagiosplugin.
"""

from __future__ import annotations

import nagiosplugin

from check_digitalsentry.render.text import NAME, NagiosText, Perf, plain

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from check_digitalsentry.judge import Verdict

STATES = {0: nagiosplugin.Ok, 1: nagiosplugin.Warn, 2: nagiosplugin.Critical, 3: nagiosplugin.Unknown}


class Ports(nagiosplugin.Resource):  # type: ignore[misc]
    """The probed ports as Metrics: one reachability per port (carrying its verdict), its time where
    one was measured, and ``failing``."""

    name = NAME

    def __init__(self, text: NagiosText) -> None:
        self.text = text

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        for perf, verdict in self.text.perfdata():
            context = "perf" if verdict is None else "port"
            yield nagiosplugin.Metric(perf.label, (perf, verdict), context=context)
        for site, reason in self.text.unproved():  # no perfdata: a site whose path the run cannot prove
            yield nagiosplugin.Metric(f"vantage of {site}", reason, context="vantage")


class PortContext(nagiosplugin.Context):  # type: ignore[misc]
    """A port's state is its verdict's."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Ports) -> nagiosplugin.Result:
        verdict: Verdict = metric.value[1]
        return self.result_cls(STATES[int(verdict.state)], plain(verdict.reason), metric)

    def performance(self, metric: nagiosplugin.Metric, resource: Ports) -> Perf | None:
        perf: Perf = metric.value[0]  # nagiosplugin prints str(perf): render.text's
        return None if perf.value is None else perf  # NOT TESTED: its state counts, it has no value


class VantageContext(nagiosplugin.Context):  # type: ignore[misc]
    """A site whose run cannot prove the path its clients take (``vantage``): UNKNOWN, no perfdata."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Ports) -> nagiosplugin.Result:
        return self.result_cls(nagiosplugin.Unknown, plain(metric.value), metric)

    def performance(self, metric: nagiosplugin.Metric, resource: Ports) -> None:
        return None


class PerfContext(nagiosplugin.Context):  # type: ignore[misc]
    """Perfdata only (times, ``failing``): judged with their port, always OK here."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Ports) -> nagiosplugin.Result:
        return self.result_cls(nagiosplugin.Ok, None, metric)

    def performance(self, metric: nagiosplugin.Metric, resource: Ports) -> Perf:
        return metric.value[0]  # type: ignore[no-any-return]


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
    check = nagiosplugin.Check(Ports(text), PortContext("port"), PerfContext("perf"), VantageContext("vantage"),
                               Summary(text, verbose))
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
