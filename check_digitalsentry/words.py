"""The judgement in people's words (judge layer): times as people read them, a site's verdict in one sentence,
and what the probes learned as label and text -- plain text, no markup, for the handover document (which
escapes and lays it out) and any other renderer.
"""

from __future__ import annotations

import time

from check_digitalsentry import catalogue
from check_digitalsentry.judge import not_proved, untestable, where
from check_digitalsentry.model import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.judge import JudgedSite
    from check_digitalsentry.model import PortResult


def stamp(when: float) -> tuple[str, str]:
    """A Unix time in UTC and in local time with its offset: ``2026-11-30 20:35:07 UTC``,
    ``2026-11-30 21:35:07 CET (UTC+01:00)``; the local time is "" where it is UTC's."""
    local = time.localtime(when)
    offset = local.tm_gmtoff or 0
    if not offset:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when)), ""
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    zone = f"{local.tm_zone} " if local.tm_zone and local.tm_zone[0] not in "+-" else ""
    return (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when)),
            time.strftime("%Y-%m-%d %H:%M:%S ", local) + f"{zone}(UTC{sign}{hours:02d}:{minutes:02d})")


def seconds_text(value: float | None) -> str:
    """``4.2 ms``, ``1.25 s``, or a dash for no answer."""
    if value is None:
        return "—"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def site_sentence(judged: JudgedSite) -> str:
    """A site's verdict in one sentence: how many ports are not as required, which are not testable now
    (audio), and which could not be tested at all."""
    idle = [v for v in judged.verdicts if untestable(v)]
    total, failing = len(judged.verdicts) - len(idle), len(judged.failing)
    untested = [v for v in judged.open if not_proved(v)]
    if any(v.state is State.UNKNOWN for v in judged.failing):
        text = f"{failing} of {total} ports could not be judged or are not as required."
    elif failing:
        verb = "is" if failing == 1 else "are"
        text = f"{failing} of {total} port{'s' if total != 1 else ''} {verb} not as required."
    else:
        text = f"All {total} ports are as required." if total != 1 else "The port is as required."
    if idle:
        roles, many = ", ".join(dict.fromkeys(v.result.role for v in idle)), len(idle) != 1
        text += f" {len(idle)} {roles} port{'s are' if many else ' is'} {untestable(idle[0])}."
    forbidden = [v for v in untested if v.result.spec.forbidden]
    tolerated = len(untested) - len(forbidden)
    if forbidden:
        text += (f" {len(forbidden)} forbidden port{'s' if len(forbidden) != 1 else ''} could not be tested, "
                 f"so {'it is' if len(forbidden) == 1 else 'they are'} not proved blocked.")
    if tolerated:
        text += (f" {tolerated} port{'s' if tolerated != 1 else ''} not required could not be tested "
                 "(tolerated, but not proved).")
    return text


def learned(r: PortResult) -> list[tuple[str, str, bool]]:
    """What a probe learned, as (label, text, alarming) rows: the SQL Server Browser's instances, the SQL
    Server's version, instance and encryption, the TLS certificate (alarming: fewer than 30 days left)."""
    f = r.facts
    rows: list[tuple[str, str, bool]] = []
    listed = f.instances
    if r.role == catalogue.BROWSER and listed is not None:
        names = ", ".join(f"{i.instance} ({i.version or '?'}, "
                          f"{'TCP ' + str(i.tcp_port) if i.tcp_port else 'no TCP port'})" for i in listed)
        rows.append(("SQL Server Browser lists", names or "nothing", False))
    if r.role == catalogue.SQL and (f.sql_version is not None or f.instance is not None or f.sql_strict):
        version = " ".join(str(value) for value in (f.sql_product, f.sql_version) if value)
        if not version:
            version = "TDS 8.0 strict (TLS first)" if f.sql_strict else "—"
        rows.append((f"SQL Server on {where(r)}", version, False))
        if f.instance:
            how = " (port named by the SQL Server Browser)" if f.sql_port_from == "browser" else ""
            rows.append(("SQL instance", f"{f.instance}{how}", False))
        if f.sql_encryption:
            rows.append(("SQL encryption", f.sql_encryption, False))
    if f.tls_version is not None or f.tls_subject is not None:
        rows.append((f"TLS on {where(r)}", f.tls_version or "—", False))
        if f.tls_subject is not None:
            days, issuer = f.tls_days_left, f"{f.tls_issuer or '—'}{' (self-signed)' if f.tls_self_signed else ''}"
            rows += [("Certificate subject", f.tls_subject, False), ("Certificate issuer", issuer, False),
                     ("Certificate expires", f"{f.tls_not_after or '—'} ({days} days left)",
                      isinstance(days, int) and days < 30)]
    return rows
