"""JSON renderer (render layer): one document per run, for scripts and the handover record.

``state``, ``exit_code``, ``summary`` (the status line's text), ``version``, ``checked_at`` (UTC),
``seconds``, and ``sites``: ``{name, hosts, description, customer, location, reference, reached_from, state,
seconds, sources, vantage, ports}`` -- ``vantage`` is what the run proved about the path the site's clients
take (``{reached_from, state, proved, reason, advice, customer_advice, addresses: [{host, address,
address_kind, on_link, local_network, source, source_kind, path, proved}]}``) -- each port ``{host, address,
source, role, port, transport, forbidden, status, state, seconds, detail, reason, note, advice,
customer_advice, not_proved, not_testable, facts}``. With a ``RunInfo`` (a handover report), also
``run``: ``{tester, host_name, started, ended, tool, inventories: [{file, sha256}], command, sources}``.
Indented up to ``PRETTY_PORTS`` ports, one compact line beyond (a fleet's document renders five times
faster).
"""

from __future__ import annotations

import json
import time

from check_digitalsentry import __version__
from check_digitalsentry.judge import advice_pair, not_proved, sources, untestable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedRun, JudgedSite, Verdict
    from check_digitalsentry.model import RunInfo
    from check_digitalsentry.outputs import Rendering


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


#: Up to this many ports the document is indented for people; beyond, it is one compact line.
PRETTY_PORTS = 1000


def _port(v: Verdict) -> dict[str, object]:
    r = v.result
    technician, customer = advice_pair(v)
    return {
        "host": r.host,
        "address": r.address,
        "source": r.source,
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
        "advice": technician,
        "customer_advice": customer,
        "not_proved": not_proved(v),
        "not_testable": untestable(v) or None,
        "facts": r.facts.as_dict(),
    }


def _site(judged: JudgedSite) -> dict[str, object]:
    site = judged.site
    return {
        "name": site.name,
        "hosts": list(site.hosts),
        "description": site.description,
        "customer": site.customer,
        "location": site.location,
        "reference": site.reference,
        "reached_from": site.reached_from,
        "state": str(judged.state),
        "seconds": round(judged.report.seconds, 6),
        "sources": sources(judged.verdicts),
        "vantage": judged.vantage.as_dict(),
        "ports": [_port(v) for v in judged.verdicts],
    }


def _run(run: JudgedRun, info: RunInfo) -> dict[str, object]:
    return {
        "tester": info.tester,
        "host_name": info.host_name,
        "started": _utc(info.started),
        "ended": _utc(info.ended),
        "tool": info.tool,
        "inventories": [{"file": name, "sha256": sha} for name, sha in info.inventories],
        "command": info.command,
        "sources": sources(run.verdicts),
    }


def render(run: JudgedRun, summary: str, info: RunInfo | None = None) -> str:
    """The JSON document of a judged run; ``summary`` is the status line's text; ``info`` (a handover
    report's record of who ran it, when and with what) adds ``run``. A run that probed no site (a
    handover whose tests were all deselected) is UNKNOWN, as its HTML twin says NOTHING TESTED: nothing
    in it may read as a pass."""
    nothing = not run.sites
    doc: dict[str, object] = {
        "state": "UNKNOWN" if nothing else str(run.state),
        "exit_code": 3 if nothing else int(run.state),
        "summary": "nothing tested: no site was probed in this run" if nothing else summary,
        "version": __version__,
        "checked_at": _utc(run.checked_at),
        "seconds": round(run.seconds, 6),
    }
    if info is not None:
        doc["run"] = _run(run, info)
    doc["sites"] = [_site(judged) for judged in run.sites]
    if len(run.verdicts) > PRETTY_PORTS:  # a fleet: one line, by json's C encoder (indenting is pure Python)
        return json.dumps(doc, separators=(",", ":"), default=str) + "\n"
    return json.dumps(doc, indent=2, default=str) + "\n"


def document(rendering: Rendering) -> str:
    """The ``json`` format (``outputs``): with the run's record in a handover report."""
    return render(rendering.run, rendering.summary, rendering.info if rendering.handover else None)
