"""OpenMetrics renderer (render layer): gauges for Prometheus, via node_exporter's textfile collector.

Per port ``digitalsentry_port_up``, ``digitalsentry_port_response_seconds`` (where a time was measured)
and ``digitalsentry_port_state``, labelled ``site``, ``host``, ``role``, ``port``, ``transport``; per site
``digitalsentry_site_state``; ``digitalsentry_last_run_timestamp_seconds``; then ``# EOF``. No sample
timestamps, so the Prometheus text parser reads it too.
"""

from __future__ import annotations

from check_digitalsentry.judge import up, where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun, Verdict


def escape(value: str) -> str:
    """A label value as the exposition format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(v: Verdict) -> str:
    r = v.result
    pairs = (("site", v.site.name), ("host", r.host), ("role", r.role), ("port", where(r).split("/")[0]),
             ("transport", r.transport))
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in pairs) + "}"


def render(run: JudgedRun) -> str:
    labels = [_labels(v) for v in run.verdicts]
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
