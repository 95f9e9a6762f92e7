"""Nagios text (render layer): what the check plugin prints -- the status line, the long output and the
perfdata.

Perfdata is produced here as plain ``Perf`` values; the check plugin's nagiosplugin glue turns them into
``nagiosplugin.Performance`` objects (this layer never imports nagiosplugin).
"""

from __future__ import annotations

from collections import Counter

from check_digitalsentry.judge import MUST_ANSWER, up, where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun, Verdict
    from check_digitalsentry.ranges import Range

NAME = "DIGITALSENTRY"


def plain(text: str) -> str:
    """Nagios output cannot hold '|' (it starts perfdata): 'open|filtered' is shown as 'open/filtered'."""
    return text.replace("|", "/")


class Perf:
    """One perfdata item, as the Nagios plugin API writes it: ``label=value[uom];warn;crit;min;max``."""

    __slots__ = ("crit", "label", "max", "min", "uom", "value", "warn")

    def __init__(self, label: str, value: object, uom: str = "", warn: str = "", crit: str = "",
                 min: object = "", max: object = "") -> None:
        self.label = label
        self.value = value
        self.uom = uom
        self.warn = warn
        self.crit = crit
        self.min = min
        self.max = max

    def __repr__(self) -> str:
        return f"Perf({self.label}={self.value}{self.uom};{self.warn};{self.crit};{self.min};{self.max})"


def _range(limit: Range | None) -> str:
    return "" if limit is None else str(limit)


class NagiosText:
    """The check plugin's output of a judged run: labels, status line, long output, perfdata."""

    def __init__(self, run: JudgedRun) -> None:
        self.run = run
        self.qualified = len(run.reports) > 1 or any(len(r.site.hosts) > 1 for r in run.reports)
        sql = Counter((v.site.name, v.result.host) for v in run.verdicts if v.result.role == "sql")
        self.several_sql = {key for key, count in sql.items() if count > 1}

    def label(self, verdict: Verdict) -> str:
        """Perfdata label of a port: built from the role name, unique, and stable run to run."""
        result = verdict.result
        if result.spec.forbidden:
            base = f"forbid_{result.port}_{result.transport}"
        elif result.role == "audio":
            base = f"audio_{result.port}"
        elif result.role == "sql" and (verdict.site.name, result.host) in self.several_sql:
            base = f"sql_{str(result.facts.get('instance', result.port)).lower()}"
        else:
            base = result.role.replace("-", "_")
        return f"{verdict.site.name}/{result.host}/{base}" if self.qualified else base

    def who(self, verdict: Verdict) -> str:
        return f"{verdict.site.name}/{verdict.result.host} " if self.qualified else ""

    def summary(self) -> str:
        """The status line's text (without the state word)."""
        run = self.run
        if run.failing:
            return plain("; ".join(self.who(v) + v.reason for v in run.failing))
        ports = len(run.verdicts)
        if len(run.sites) == 1:
            text = f"{ports} ports as expected on {', '.join(run.sites[0].site.hosts)}"
        else:
            text = f"{len(run.sites)} sites, {ports} ports as expected"
        sql = [v.result for v in run.verdicts if v.result.role == "sql" and "sql_version" in v.result.facts]
        if len(run.sites) == 1 and sql:
            facts = sql[0].facts
            inst = facts.get("instance")
            text += (f"; {facts.get('sql_product')} {facts.get('sql_version')}"
                     f"{f' (instance {inst} on {sql[0].port}/tcp)' if inst else f' on {sql[0].port}/tcp'}")
        notes = sum(1 for v in run.verdicts if v.note)
        if notes:
            text += f"; {notes} note{'s' if notes != 1 else ''} (-v)"
        return plain(text)

    def lines(self, verbose: int) -> list[str]:
        """The long output: one line per port (-v), and each site's configuration (-vv)."""
        out = []
        for v in self.run.verdicts:
            r = v.result
            secs = "" if r.seconds is None else f" in {r.seconds:.3f} s"
            line = f"{self.who(v)}{r.role} {where(r)} {v.state} {r.status}{secs}: {v.detail}"
            if v.note:
                line += f" [{v.note}]"
            out.append(plain(line))
        if verbose >= 2:
            for report in self.run.reports:
                s = report.site
                out.append(plain(
                    f"site {s.name}: hosts {', '.join(s.hosts)}; instance {s.sql_instance or '(any)'}; "
                    f"sql port {s.sql_port or 'from the Browser'}; web {s.web}; api {s.api}; "
                    f"audio clients {s.audio_clients}; ports {s.ports or '{}'}; "
                    f"forbid {[f'{p}/{t}' for p, t in s.forbid]}; timeout {report.budget:g}s; "
                    f"warning {s.warning}; critical {s.critical}; took {report.seconds:.3f}s"))
        return out

    def perfdata(self) -> list[tuple[Perf, Verdict | None]]:
        """Every port's reachability (with its verdict) and time (where one was measured), then
        ``failing``."""
        items: list[tuple[Perf, Verdict | None]] = []
        for judged in self.run.sites:
            budget = f"{judged.report.budget:g}"
            for v in judged.verdicts:
                label = self.label(v)
                items.append((self._reachability(label, v), v))
                r = v.result
                if r.seconds is not None:
                    items.append((Perf(f"{label}_time", f"{r.seconds:.6f}", "s", _range(v.site.warning),
                                       _range(v.site.critical), 0, budget), None))
        items.append((Perf("failing", len(self.run.failing), "", "", "", 0, len(self.run.verdicts)), None))
        return items

    @staticmethod
    def _reachability(label: str, v: Verdict) -> Perf:
        spec = v.result.spec
        warn = crit = ""
        if spec.forbidden:
            crit, warn = ("~:0", "") if int(spec.severity) >= 2 else ("", "~:0")
        elif not (v.result.transport == "udp" and v.result.role not in MUST_ANSWER):
            if int(spec.severity) >= 2:
                crit = "1:"
            elif int(spec.severity) == 1:
                warn = "1:"
        return Perf(label, up(v), "", warn, crit, 0, 1)
