"""Presentation (render layer): a judged run as text for people and formats for machines.

- ``text`` -- the Nagios status line, long output and perfdata (and the passive results of ``--submit``);
- ``handover`` -- the failure paragraph and the handover table of pytest_dsports;
- ``json``, ``openmetrics`` -- the machine formats;
- ``html`` -- the handover document: one self-contained HTML file to print and sign (both frontends);
- ``icinga2`` -- Icinga 2 Host and Service objects of an inventory's sites (from the plans: no run);
- ``watch``, ``watchpage`` -- the live view (``--watch``) of a ``steady.Watch``: the terminal's table, one
  line per change and the summary; the phone's page and its JSON snapshot.

Each renderer (but ``icinga2``) reads a ``judge.JudgedRun`` (a run judged once) and only presents what
the judgement said; none imports nagiosplugin, pytest, a frontend or another renderer (ruff's
banned-import rules), and none probes. Each is imported only by the frontend path that needs it.
"""
