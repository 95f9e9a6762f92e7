"""OpenMetrics renderer (render layer): gauges for Prometheus, via node_exporter's textfile collector.

Per port ``digitalsentry_port_up``, ``digitalsentry_port_response_seconds`` (where a time was measured)
and ``digitalsentry_port_state``, labelled ``site``, ``host``, ``role``, ``port``, ``transport``, and also
``address`` for a host probed at each of its addresses (``all_addresses``) and ``instance`` for a SQL port
the Browser named for an instance; per site ``digitalsentry_site_state``;
``digitalsentry_last_run_timestamp_seconds``; then ``# EOF``. No sample timestamps, so the Prometheus text
parser reads it too.

Every series is unique, as OpenMetrics requires: should a Browser name one instance twice on one port,
the second series gets ``seq="2"`` (and so on).
"""

from __future__ import annotations

from check_digitalsentry.catalogue import SQL
from check_digitalsentry.judge import up, where
from check_digitalsentry.protocols import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun, Verdict
    from check_digitalsentry.outputs import Rendering


def escape(value: str) -> str:
    """A label value as the exposition format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _pairs(v: Verdict) -> list[tuple[str, str]]:
    r = v.result
    pairs = [("site", v.site.name), ("host", r.host), ("role", r.role), ("port", where(r).split("/")[0]),
             ("transport", r.transport)]
    if r.facts.addresses_probed and r.address:
        pairs.append(("address", r.address))
    instance = r.facts.instance
    if r.role == SQL and not r.spec.forbidden and isinstance(instance, str):
        pairs.append(("instance", shown(instance, 128)))
    return pairs


def _labels(run: JudgedRun) -> list[str]:
    """Each verdict's label set, ``{site="hq",...}``, unique in the run."""
    out = []
    seen: dict[str, int] = {}
    for v in run.verdicts:
        pairs = _pairs(v)
        text = ",".join(f'{key}="{escape(value)}"' for key, value in pairs)
        seen[text] = count = seen.get(text, 0) + 1
        out.append("{" + text + (f',seq="{count}"' if count > 1 else "") + "}")
    return out


def render(run: JudgedRun) -> str:
    labels = _labels(run)
    out = [
        "# HELP digitalsentry_port_up 1 when an expected port answered as its role needs, or a forbidden port "
        "answered at all; else 0.",
        "# TYPE digitalsentry_port_up gauge",
    ]
    out += [f"digitalsentry_port_up{label} {up(v)}" for label, v in zip(labels, run.verdicts)]
    out += ["# HELP digitalsentry_port_response_seconds Time from the start of the probe to the answer.",
            "# TYPE digitalsentry_port_response_seconds gauge",
            "# UNIT digitalsentry_port_response_seconds seconds"]
    out += [f"digitalsentry_port_response_seconds{label} {v.result.seconds:.6f}"
            for label, v in zip(labels, run.verdicts) if v.result.seconds is not None]
    out += ["# HELP digitalsentry_port_state Judged state of the port: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            "# TYPE digitalsentry_port_state gauge"]
    out += [f"digitalsentry_port_state{label} {int(v.state)}" for label, v in zip(labels, run.verdicts)]
    out += ["# HELP digitalsentry_site_state Worst state of the site's ports.",
            "# TYPE digitalsentry_site_state gauge"]
    out += [f'digitalsentry_site_state{{site="{escape(judged.site.name)}"}} {int(judged.state)}'
            for judged in run.sites]
    out += ["# HELP digitalsentry_last_run_timestamp_seconds When this check ran (Unix time).",
            "# TYPE digitalsentry_last_run_timestamp_seconds gauge",
            "# UNIT digitalsentry_last_run_timestamp_seconds seconds",
            f"digitalsentry_last_run_timestamp_seconds {run.checked_at:.3f}",
            "# EOF"]
    return "\n".join(out) + "\n"


def document(rendering: Rendering) -> str:
    """The ``openmetrics`` format (``outputs``)."""
    return render(rendering.run)
