"""Nagios text (render layer): what the check plugin prints -- the status line, the long output and the
perfdata.

- The status line is bounded (``STATUS_LIMIT`` characters): the worst failures first, then "and N more
  (-v)"; every port is in the long output (``-v``). Nagios Core keeps only a few KiB of a plugin's
  output, and a status line that outgrows it loses the perfdata after it.
- Everything shown is printable on one line: strings that came from the network are escaped where
  they enter a sentence (``protocols.shown``), and every line passes ``plain`` on its way out ('|'
  would start perfdata; control characters would start a new line or forge one).
- Perfdata labels are stable and safe for every metric writer: see ``label``.

Perfdata is produced here as plain ``Perf`` values; the check plugin's nagiosplugin glue turns them into
``nagiosplugin.Performance`` objects (this layer never imports nagiosplugin).

Passive results (``passive_results``, for ``--submit``): one result per monitoring object -- a site
(Icinga Host ``icinga_host``, default the site's name; Service ``icinga_service``), or with
``icinga_per_role`` (or ``--role`` on the command line) each role the site reports (Service
``SERVICE-ROLE``). Each says exactly what the active check of that object alone says
(``check_digitalsentry --inventory FILE --site NAME [--role ROLE] -v``) as a monitoring core stores it: the
exit status, the status line and long output (the plugin output without perfdata), and the perfdata items
as nagiosplugin writes and orders them (``perf_text``), with the inventory's labels.
"""

from __future__ import annotations

from check_digitalsentry.catalogue import PER_UNIT, SQL
from check_digitalsentry.judge import MUST_ANSWER, JudgedRun, JudgedSite, not_proved, up, where
from check_digitalsentry.model import Status, label_part
from check_digitalsentry.protocols import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.judge import Verdict
    from check_digitalsentry.passive import PassiveResult
    from check_digitalsentry.ranges import Range

NAME = "DIGITALSENTRY"
#: The status line's text (after "DIGITALSENTRY CRITICAL - ") at most, in characters.
STATUS_LIMIT = 1000
#: One failure's sentence on the status line at most (its whole sentence is in the long output).
REASON_LIMIT = 300
#: Hosts named on an OK status line at most.
HOSTS_SHOWN = 5


def plain(text: str) -> str:
    """One printable line for Nagios: '|' (it starts perfdata) shown as '/', hidden characters escaped."""
    return shown(text, len(text)).replace("|", "/")


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

    def __str__(self) -> str:
        return perf_text(self)


def perf_text(perf: Perf) -> str:
    """One perfdata item as the plugin API writes it (a label of other characters than ``\\w`` quoted, empty
    trailing fields left out): the one formatter of perfdata, for the check's output (nagiosplugin prints
    ``str(perf)``) and the passive results alike. An item without a value (NOT TESTED) is ""."""
    if perf.value is None:
        return ""
    label = perf.label if perf.label.replace("_", "x").isalnum() else f"'{perf.label}'"  # re's \\w+
    fields = [f"{label}={perf.value}{perf.uom}", *("" if v is None else str(v)
                                                   for v in (perf.warn, perf.crit, perf.min, perf.max))]
    while fields[-1] == "":
        fields.pop()
    return ";".join(fields)


#: The status line's state words (nagiosplugin's, upper case).
STATE_WORDS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


def _range(limit: Range | None) -> str:
    return "" if limit is None else str(limit)


class NagiosText:
    """The check plugin's output of a judged run: labels, status line, long output, perfdata.

    ``qualified``: name each port's site and host (inventory mode, whatever the selection); a check of
    one host by options (``-H``) names its ports by role alone.
    """

    def __init__(self, run: JudgedRun, qualified: bool = False) -> None:
        self.run = run
        self.qualified = qualified or len(run.sites) > 1 or any(len(s.site.hosts) > 1 for s in run.sites)
        self._by_verdict: dict[int, str] | None = None  # made on first use: only perfdata needs them

    # -- perfdata labels

    def _labels(self) -> dict[int, str]:
        """id(verdict) -> its label, unique in the run together with its ``_time`` twin and ``failing``.

        The scheme: ``ROLE`` for a check of one host by options; ``SITE__HOST__ROLE`` in inventory mode.
        Each part is made of ``[a-z0-9_]`` (``label_part``), so parts never hold ``__`` and the label is
        the same whatever the selection, with no dots, spaces, quotes or '=' for Graphite, InfluxDB,
        OpenTelemetry or Nagios to rewrite. ROLE is the role (``sql_browser``), ``audio_18778``,
        ``forbid_3389_tcp``, or ``sql_INSTANCE`` when a host (an address) has several SQL instances; a
        host probed at each of its addresses (``all_addresses``) puts ``ADDRESS__`` before it.

        Names from the network never take a label from the inventory's ports: labels of roles are given
        first, and an instance's label that would collide with any label already given (``DS`` and
        ``ds``, an instance ``browser`` beside ``sql_browser``, ``x`` and ``x_time``) gets its port
        appended, then ``_2``, ``_3``... in the order of the instances' names.
        """
        sql_count: dict[tuple[str, str, str | None], int] = {}
        def spot(v: Verdict) -> tuple[str, str, str | None]:
            r = v.result
            return v.site.name, r.host, r.address if r.facts.addresses_probed else None

        for v in self.run.verdicts:
            if v.result.role == SQL and not v.result.spec.forbidden:
                sql_count[spot(v)] = sql_count.get(spot(v), 0) + 1
        fixed: list[tuple[Verdict, str]] = []
        named: list[tuple[Verdict, str]] = []  # labels made of an instance's name (from the network)
        for v in self.run.verdicts:
            r = v.result
            prefix = f"{label_part(r.address)}__" if r.facts.addresses_probed and r.address else ""
            if self.qualified:
                prefix = f"{label_part(v.site.name)}__{label_part(r.host)}__{prefix}"
            if r.spec.forbidden:
                fixed.append((v, f"{prefix}forbid_{r.port}_{r.transport}"))
            elif r.role in PER_UNIT:  # one port per unit (audio clients): the port names it
                fixed.append((v, f"{prefix}{label_part(r.role)}_{r.port}"))
            elif r.role == SQL and sql_count.get(spot(v), 0) > 1:
                instance = r.port if r.facts.instance is None else r.facts.instance
                named.append((v, f"{prefix}sql_{label_part(str(instance))}"))
            else:
                fixed.append((v, f"{prefix}{label_part(r.role)}"))
        used = {"failing"}
        labels: dict[int, str] = {}

        def free(label: str) -> bool:
            return label not in used and f"{label}_time" not in used

        named.sort(key=lambda item: (item[1], str(item[0].result.facts.instance or ""),
                                     item[0].result.port or 0))
        for v, base in (*fixed, *named):
            label = base
            if not free(label):
                label = f"{base}_{label_part(str(v.result.port))}"
                n = 1
                while not free(label):
                    n += 1
                    label = f"{base}_{label_part(str(v.result.port))}_{n}"
            labels[id(v)] = label
            used.update((label, f"{label}_time"))
        return labels

    def label(self, verdict: Verdict) -> str:
        if self._by_verdict is None:
            self._by_verdict = self._labels()
        return self._by_verdict[id(verdict)]

    # -- status line and long output

    def who(self, verdict: Verdict) -> str:
        r = verdict.result
        at = f" ({r.address})" if r.facts.addresses_probed else ""
        if self.qualified:
            return f"{verdict.site.name}/{r.host}{at} "
        return f"{r.host}{at} " if at else ""

    def unproved(self) -> list[tuple[str, str]]:
        """(site name, the reason) of each site whose run cannot prove the path its clients take."""
        return [(judged.site.name, judged.vantage.reason) for judged in self.run.sites if not judged.vantage.ok]

    def _failures(self) -> list[str]:
        """The status line's sentences, worst first: one per failing port, except that a host whose name does
        not resolve is said once, with the ports it leaves unprobed (its reason is the same for each)."""
        worst_first = sorted(self.run.failing, key=lambda v: -int(v.state))  # UNKNOWN, CRITICAL, WARNING
        unresolved: dict[tuple[str, str], list[Verdict]] = {}
        for v in worst_first:
            if v.result.status is Status.UNRESOLVED and v.detail.startswith(v.result.host):
                unresolved.setdefault((v.site.name, v.result.host), []).append(v)
        sentences = []
        for v in worst_first:
            ports = unresolved.get((v.site.name, v.result.host), [])
            if v not in ports:
                sentences.append(self.who(v) + v.reason)
            elif v is ports[0]:
                site = f"{v.site.name}/" if self.qualified else ""
                roles = ", ".join(dict.fromkeys(p.result.role for p in ports))
                count = f"{len(ports)} ports" if len(ports) > 1 else "1 port"
                sentences.append(f"{site}{v.detail} ({count} not probed: {roles})")
        return sentences

    def summary(self) -> str:
        """The status line's text (without the state word), at most ``STATUS_LIMIT`` characters."""
        run = self.run
        unproved = self.unproved()
        if run.failing or unproved:
            # a path not proved first (UNKNOWN), then the ports: UNKNOWN, CRITICAL, WARNING
            failures = [f"{name}: {why}" if self.qualified else why for name, why in unproved]
            failures += self._failures()
            parts: list[str] = []
            used = 0
            for index, sentence in enumerate(failures):
                part = plain(sentence)
                if len(part) > REASON_LIMIT:
                    part = part[:REASON_LIMIT] + "..."
                more = len(failures) - index - 1
                tail = len(f"; and {more} more (-v)") if more else 0
                if parts and used + 2 + len(part) + tail > STATUS_LIMIT:
                    parts.append(f"and {len(failures) - index} more (-v)")
                    break
                parts.append(part)
                used += len(part) + 2
            return "; ".join(parts)
        untested = [v for v in run.verdicts if not_proved(v)]  # OK, and never probed: not "as expected"
        tested = len(run.verdicts) - len(untested)
        ports = f"{tested} port{'' if tested == 1 else 's'}"
        reporting = [judged for judged in run.sites if judged.verdicts] or run.sites  # --role: where it exists
        if len(reporting) == 1:
            hosts = reporting[0].site.hosts
            shown_hosts = ", ".join(hosts) if len(hosts) <= HOSTS_SHOWN else f"{len(hosts)} hosts"
            text = f"{ports} as expected on {shown_hosts}"
        else:
            text = f"{len(reporting)} sites, {ports} as expected"
        sql = [v.result for v in run.verdicts if v.result.role == SQL and v.result.facts.sql_version]
        if len(reporting) == 1 and len(reporting[0].site.hosts) == 1 and sql:
            facts = sql[0].facts
            inst = facts.instance
            where_sql = f"instance {shown(inst, 40)} on {sql[0].port}/tcp" if inst else f"{sql[0].port}/tcp"
            text += f"; {facts.sql_product} {facts.sql_version} ({where_sql})"
        if len(reporting) == 1 and reporting[0].vantage.points:  # what was proved, where anything was probed
            text += f"; proved {reporting[0].vantage.proved}"
        if untested:
            text += f"; {len(untested)} not tested (-v)"
        notes = sum(1 for v in run.verdicts if v.note) - len(untested)
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
        for judged in self.run.sites:
            vantage = judged.vantage
            line = f"{judged.site.name} " if self.qualified else ""
            line += f"vantage {vantage.state}: "
            line += "; ".join(point.where() for point in vantage.points) or "no address was probed"
            line += f": proved {vantage.proved}"
            if vantage.required:
                line += f" (reached_from {vantage.required}: {'proved' if vantage.ok else 'NOT proved'})"
            if vantage.advice:
                line += f" [{vantage.advice}]"
            out.append(plain(line))
        noted: set[tuple[str, str]] = set()
        for v in self.run.verdicts:
            r = v.result
            others = r.facts.unprobed_addresses
            if others is not None and (v.site.name, r.host) not in noted:
                noted.add((v.site.name, r.host))
                out.append(plain(f"note: {r.host} has {len(others) + 1} addresses; probed {r.address} only "
                                 f"(not {', '.join(map(str, others))}): --all-addresses / all_addresses "
                                 f"probes each"))
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

    # -- perfdata

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
        # NOT TESTED (a forbidden port never probed): no value, the item is left out -- a 0 would read as
        # "blocked", a finding nobody made. A required port never probed keeps its 0: it failed.
        return Perf(label, None if not_proved(v) else up(v), "", warn, crit, 0, 1)


# -- passive results
def plugin_text(run: JudgedRun, verbose: int) -> tuple[str, list[str]]:
    """The plugin output of a run (status line and long output, without perfdata) and its perfdata items,
    as the check prints them in inventory mode (``glue.render`` of the same ``NagiosText``)."""
    text = NagiosText(run, qualified=True)
    summary = text.summary().strip()
    status = f"{NAME} {STATE_WORDS[int(run.state)]}{' - ' + summary if summary else ''}"
    lines = [line.rstrip("\n") for line in text.lines(verbose) if line] if verbose else []
    perfdata = sorted(item for item in (perf_text(perf) for perf, _ in text.perfdata()) if item)
    return "\n".join([status, *lines]), perfdata


def reported_roles(judged: JudgedSite) -> list[str]:
    """The roles a site reports, in report order (each once)."""
    return list(dict.fromkeys(v.result.role for v in judged.verdicts))


def passive_results(run: JudgedRun, *, started: float, per_role: bool = False,
                    verbose: int = 1) -> list[PassiveResult]:
    """One ``PassiveResult`` per object of every site of ``run``: per site, or per role of the sites with
    ``icinga_per_role`` (of every site with ``per_role``). ``started`` is the Unix time the probes started;
    a result's execution ends ``report.seconds`` later (the site's probes, its roles' alike)."""
    from check_digitalsentry.passive import PassiveResult  # only for --submit: not on a check's path

    results: list[PassiveResult] = []
    for judged in run.sites:
        site, report = judged.site, judged.report
        host = site.icinga_host or site.name
        ended = started + report.seconds
        parts: Sequence[tuple[str | None, JudgedSite]]
        if per_role or site.icinga_per_role:
            parts = [(role, judged.part(role)) for role in reported_roles(judged)]
        else:
            parts = [(None, judged)]
        for role, part in parts:
            output, perfdata = plugin_text(JudgedRun([part], report.seconds, run.checked_at), verbose)
            service = site.icinga_service if role is None else f"{site.icinga_service}-{role}"
            results.append(PassiveResult(host=host, service=service, state=part.state, output=output,
                                         perfdata=perfdata, started=started, ended=ended, site=site.name,
                                         role=role))
    return results
