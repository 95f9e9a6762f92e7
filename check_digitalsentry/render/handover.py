"""Handover text (render layer): what an integrator reads in a site handover -- a failing port as one
paragraph with what to change, and the table of every port of every site (pytest_dsports' terminal
summary)."""

from __future__ import annotations

from check_digitalsentry.judge import advice, not_proved, sources, untestable, where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.judge import JudgedSite, Verdict


def failure_paragraph(site_name: str, verdict: Verdict) -> str:
    """A failing port (or a forbidden one that was never probed) for a handover report: status, time,
    address, source address, detail, and what to change."""
    r = verdict.result
    secs = "no answer" if r.seconds is None else f"{r.seconds:.3f} s"
    state = str(verdict.state)
    if not_proved(verdict):
        state = ("NOT TESTED (a forbidden port that was not probed proves nothing)"
                 if verdict.result.spec.forbidden else "NOT TESTED (tolerated: severity ok; nothing was proved)")
    return (f"{site_name} / {r.host}: {r.role} {where(r)} is {r.status} — {state}\n"
            f"  time     {secs}\n"
            f"  address  {r.address or '-'}{f' (from {r.source})' if r.source else ''}\n"
            f"  detail   {verdict.detail}\n"
            f"  to fix   {advice(verdict)}")


def unproved_paragraph(site_name: str, judged: JudgedSite) -> str:
    """A site whose run cannot prove the path its clients take: why, and what to do."""
    vantage = judged.vantage
    return (f"{site_name}: NOT PROVED — {vantage.reason}\n"
            f"  to fix   {vantage.advice}")


def handover_table(sites: Sequence[JudgedSite]) -> list[str]:
    """The handover summary: per site a title line, then one aligned row per port."""
    out: list[str] = []
    for judged in sites:
        site = judged.site
        title = f" ({site.description})" if site.description else ""
        vantage, path = sources(judged.verdicts), judged.vantage
        out.append(f"site {site.name}{title}: {judged.state} — {len(judged.verdicts)} ports, "
                   f"{len(judged.open)} not as expected, probed in {judged.report.seconds:.2f} s"
                   f"{' from ' + ', '.join(vantage) if vantage else ''}; proved {path.proved}"
                   + (f" (reached_from {path.required}: {'proved' if path.ok else 'NOT PROVED'})"
                      if path.required else ""))
        rows = [("host", "port", "status", "time", "state")]
        for v in judged.verdicts:
            r = v.result
            rows.append((r.host, f"{r.role} {where(r)}", str(r.status),
                         "-" if r.seconds is None else f"{r.seconds:.3f} s",
                         "NOT TESTED" if not_proved(v) else "NOT TESTABLE" if untestable(v) else str(v.state)))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        out.extend("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
    return out
