"""JSON renderer (render layer): one document per run, for scripts and the handover record.

``state``, ``exit_code``, ``summary`` (the status line's text), ``version``, ``checked_at`` (UTC),
``seconds``, and ``sites``: ``{name, hosts, state, seconds, ports}``, each port ``{host, address, role,
port, transport, forbidden, status, state, seconds, detail, reason, note, facts}``. Indented up to
``PRETTY_PORTS`` ports, one compact line beyond (a fleet's document renders five times faster).
"""

from __future__ import annotations

import json
import time

from check_digitalsentry import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun, JudgedSite, Verdict


#: Up to this many ports the document is indented for people; beyond, it is one compact line.
PRETTY_PORTS = 1000


def _port(v: Verdict) -> dict[str, object]:
    r = v.result
    return {
        "host": r.host,
        "address": r.address,
        "role": r.role,
        "port": r.port,
        "transport": r.transport,
        "forbidden": r.spec.forbidden,
        "status": str(r.status),
        "state": str(v.state),
        "seconds": None if r.seconds is None else round(r.seconds, 6),
        "detail": v.detail,
        "reason": v.reason,
        "note": v.note,
        "facts": r.facts,
    }


def _site(judged: JudgedSite) -> dict[str, object]:
    return {
        "name": judged.site.name,
        "hosts": list(judged.site.hosts),
        "state": str(judged.state),
        "seconds": round(judged.report.seconds, 6),
        "ports": [_port(v) for v in judged.verdicts],
    }


def render(run: JudgedRun, summary: str) -> str:
    """The JSON document of a judged run; ``summary`` is the status line's text."""
    doc = {
        "state": str(run.state),
        "exit_code": int(run.state),
        "summary": summary,
        "version": __version__,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.checked_at)),
        "seconds": round(run.seconds, 6),
        "sites": [_site(judged) for judged in run.sites],
    }
    if len(run.verdicts) > PRETTY_PORTS:  # a fleet: one line, by json's C encoder (indenting is pure Python)
        return json.dumps(doc, separators=(",", ":"), default=str) + "\n"
    return json.dumps(doc, indent=2, default=str) + "\n"
