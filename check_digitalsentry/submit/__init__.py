"""Passive submission (submit layer, I/O): hands the passive results of a run (``passive.PassiveResult``,
made by ``render.text.passive_results``) to a monitoring core, and says what became of each
(``passive.Submission``).

- ``icinga2`` -- Icinga 2's REST API (``POST /v1/actions/process-check-result``, one request per object)
  over HTTPS with a few keep-alive connections;
- ``nagios`` -- the external command file (FIFO) of Nagios: ``PROCESS_SERVICE_CHECK_RESULT`` lines.

Like the engine, it owns sockets, files and time, and nothing it meets raises: every outcome, a refused
connection or a stalled API alike, is data. It imports the core's value objects only; only the Nagios
frontend (``cli.submit``) imports it, and each module only when ``--submit`` asks for it.
"""
