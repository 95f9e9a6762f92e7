"""OpenMetrics renderer (render layer): gauges for Prometheus, via node_exporter's textfile collector.

Per port, every value read from the one judgement (``judge``), none judged here:

- ``digitalsentry_port_ok`` -- 1 when the port is as the site requires (its verdict is OK, and proves
  it), else 0: the series to alert and graph on (a silent audio port and a closed forbidden port are 1;
  a port never probed, ``judge.not_proved``, is 0: NOT TESTED is no pass);
- ``digitalsentry_port_state`` -- the verdict's state, 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN;
- ``digitalsentry_port_tested`` -- 1 when the port was probed, 0 when it never was (``judge.untested``:
  its host's name did not resolve, no socket could be had...): then nothing was observed there;
- ``digitalsentry_port_up`` -- raw reachability (``judge.up``): 1 when an expected port answered as its
  role needs, or a forbidden port answered at all; not a verdict (a closed forbidden port is 0); no
  sample for a port NOT TESTED (a forbidden port never probed: its 0 would read as "blocked");
- ``digitalsentry_port_response_seconds`` -- where a time was measured;
- ``digitalsentry_port_number`` -- for a port learned at run time (``port="dynamic"``: the SQL port the
  SQL Server Browser named), the number probed.

Labelled ``site``, ``server`` (the DS server's name or address as the site gives it), ``role``, ``port``,
``transport``; ``address`` (the address probed) on every port of a site checked at all its addresses
(``all_addresses``); ``sql_instance`` on the SQL port (the configured instance, else the one the Browser
named). A series' labels never change with the port's state: ``port`` is the planned port, ``dynamic``
for the SQL port the Browser names (its number is ``digitalsentry_port_number``). No label is one that
Prometheus or common relabelling sets on a target (``instance``, ``job``, ``host``...): see ``RESERVED``.

Per site ``digitalsentry_site_state`` (the worst of its ports and of its vantage point: 3 when the run cannot
prove the path its clients take), ``digitalsentry_site_path_proved`` (1 when the run proved the path the site's
``reached_from`` requires, or none is required; 0 when it cannot: "not a test of the NAT") and
``digitalsentry_last_run_timestamp_seconds`` (labelled by site, so that several textfiles of one node_exporter
never collide). Then ``# EOF``. No sample timestamps, so
the Prometheus text parser reads it too. Every series is unique, as OpenMetrics requires: should a
Browser name one instance twice, the second series gets ``seq="2"`` (and so on).
"""

from __future__ import annotations

from check_digitalsentry.catalogue import SQL
from check_digitalsentry.judge import not_proved, untested, up
from check_digitalsentry.protocols import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun, Verdict
    from check_digitalsentry.outputs import Rendering

#: Label names this renderer never uses: those Prometheus sets on every target (``instance``, ``job``),
#: those service discovery and common relabelling set (a clash turns ours into ``exported_NAME``), and
#: those with a meaning of their own in PromQL and alerting.
RESERVED = frozenset({
    "instance", "job", "host", "hostname", "node", "namespace", "pod", "container", "service", "endpoint",
    "cluster", "le", "quantile", "alertname", "alertstate", "severity",
})


def escape(value: str) -> str:
    """A label value as the exposition format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _pairs(v: Verdict) -> list[tuple[str, str]]:
    """The series' identity: what was planned, never what the probe found."""
    r = v.result
    planned = r.planned.port
    pairs = [("site", v.site.name), ("server", r.host), ("role", r.role),
             ("port", "dynamic" if planned is None else str(planned)), ("transport", r.transport)]
    if v.site.all_addresses and r.address:
        pairs.append(("address", r.address))
    if r.role == SQL and not r.spec.forbidden:
        named = r.facts.instance  # from the network: shown as text, bounded
        instance = v.site.sql_instance or (shown(named, 128) if isinstance(named, str) else None)
        if instance:
            pairs.append(("sql_instance", instance))
    return pairs


def _labels(run: JudgedRun) -> list[str]:
    """Each verdict's label set, ``{site="hq",...}``, unique in the run."""
    out = []
    seen: dict[str, int] = {}
    for v in run.verdicts:
        text = ",".join(f'{key}="{escape(value)}"' for key, value in _pairs(v))
        seen[text] = count = seen.get(text, 0) + 1
        out.append("{" + text + (f',seq="{count}"' if count > 1 else "") + "}")
    return out


def _family(name: str, text: str, unit: str = "") -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} gauge"] + ([f"# UNIT {name} {unit}"] if unit else [])


def render(run: JudgedRun) -> str:
    labels = _labels(run)
    pairs = list(zip(labels, run.verdicts))
    out = _family("digitalsentry_port_ok", "1 when the port is as the site requires (its judged state is OK: "
                  "a silent audio port and a closed forbidden port are), else 0 (also for a port never probed).")
    out += [f"digitalsentry_port_ok{label} {int(v.ok and not not_proved(v))}" for label, v in pairs]
    out += _family("digitalsentry_port_state", "Judged state of the port: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
    out += [f"digitalsentry_port_state{label} {int(v.state)}" for label, v in pairs]
    out += _family("digitalsentry_port_tested", "1 when the port was probed; 0 when it never was (its name did "
                   "not resolve, no socket could be had...): NOT TESTED, nothing observed.")
    out += [f"digitalsentry_port_tested{label} {int(not untested(v.result))}" for label, v in pairs]
    out += _family("digitalsentry_port_up", "Raw reachability, not a verdict: 1 when an expected port answered "
                   "as its role needs, or a forbidden port answered at all; else 0; none for a port NOT TESTED.")
    out += [f"digitalsentry_port_up{label} {up(v)}" for label, v in pairs if not not_proved(v)]
    out += _family("digitalsentry_port_response_seconds", "Time from the start of the probe to the answer.",
                   "seconds")
    out += [f"digitalsentry_port_response_seconds{label} {v.result.seconds:.6f}"
            for label, v in pairs if v.result.seconds is not None]
    out += _family("digitalsentry_port_number", "The port probed, for a port learned at run time "
                   '(port="dynamic": the SQL port the SQL Server Browser named).')
    out += [f"digitalsentry_port_number{label} {v.result.port}"
            for label, v in pairs if v.result.planned.port is None and v.result.port is not None]
    out += _family("digitalsentry_site_state", "Worst judged state of the site's ports and of its vantage point "
                   "(3 when the run cannot prove the path the site's clients take).")
    sites = [(escape(judged.site.name), judged) for judged in run.sites]
    out += [f'digitalsentry_site_state{{site="{name}"}} {int(judged.state)}' for name, judged in sites]
    out += _family("digitalsentry_site_path_proved", "1 when the run proved the path the site's clients take "
                   "(reached_from), or none is required; 0 when it cannot (not a test of the NAT).")
    out += [f'digitalsentry_site_path_proved{{site="{name}"}} {int(judged.vantage.ok)}' for name, judged in sites]
    out += _family("digitalsentry_last_run_timestamp_seconds", "When the check that wrote the site's results "
                   "ended (Unix time).", "seconds")
    out += [f'digitalsentry_last_run_timestamp_seconds{{site="{name}"}} {run.checked_at:.3f}' for name, _ in sites]
    out.append("# EOF")
    return "\n".join(out) + "\n"


def document(rendering: Rendering) -> str:
    """The ``openmetrics`` format (``outputs``)."""
    return render(rendering.run)
