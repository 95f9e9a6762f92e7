"""OpenMetrics (--format openmetrics) for Prometheus: what each series means, read from the one judgement;
series whose labels do not change with the port's state; label names that no scrape renames; several
textfiles that never share a series; promtool's lint clean. The check runs for real against simulated
sites; the path through node_exporter and Prometheus themselves is tests/test_prometheus.py."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, need_program
from support import CheckRun

from check_digitalsentry.render.openmetrics import RESERVED
from check_digitalsentry.simulator import SimSite, Simulator, inventory_toml

Check = Callable[..., CheckRun]
Simulate = Callable[..., Simulator]

#: Every label name the renderer may use (docs/prometheus.md lists them).
OURS = {"site", "server", "role", "port", "transport", "address", "sql_instance", "seq"}
PORT_FAMILIES = ("digitalsentry_port_ok", "digitalsentry_port_state", "digitalsentry_port_up")


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """family -> {sorted labels: value}, parsed by prometheus_client's OpenMetrics parser (which refuses a
    duplicate series, a missing # EOF, or a sample timestamp we do not write)."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        series = out.setdefault(family.name, {})
        for sample in family.samples:
            assert sample.timestamp is None, sample
            key = tuple(sorted(sample.labels.items()))
            assert key not in series, f"{family.name}{key} twice"
            series[key] = sample.value
    return out


def by_port(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """(role, port label) -> {family: value} for the per-port families."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for name, series in samples(text).items():
        if name.startswith("digitalsentry_port_"):
            for labels, value in series.items():
                found = dict(labels)
                out.setdefault((found["role"], found["port"]), {})[name] = value
    return out


def json_ports(doc_text: str) -> dict[tuple[str, str], dict[str, object]]:
    """(role, port) -> the JSON document's port: the judgement as the json renderer gives it."""
    doc = json.loads(doc_text)
    return {(p["role"], str(p["port"])): p for site in doc["sites"] for p in site["ports"]}


def test_port_ok_is_the_verdict_and_port_up_the_raw_reachability(simulate: Simulate, check: Check) -> None:
    """The judged state decides port_ok and port_state; port_up is only whether something answered: a
    silent audio port and a closed forbidden port are as required though nothing answered there, a
    forbidden port that answers is not though it is 'up'."""
    sim = simulate(SimSite(name="hq", address="127.0.25.11", audio_clients=1, faults={"video": "off"}))
    site = sim.sites[0]
    web = site.ports["web"]  # served, but this site's inventory does not expect it: forbidden here
    args = [arg for arg in shlex.split(sim.command_line())[1:] if arg != "--web"]
    args += ["--forbid", "3389/tcp", "--forbid", f"{web}/tcp", "-t", "5"]
    metrics = check(*args, "--format", "openmetrics")
    doc = check(*args, "--format", "json")
    assert metrics.code == doc.code == 2, (metrics, doc)
    ports, judged = by_port(metrics.stdout), json_ports(doc.stdout)
    number = {key: values["digitalsentry_port_number"] for key, values in ports.items()
              if "digitalsentry_port_number" in values}
    assert number == {("sql", "dynamic"): site.sql_port}  # the learned port, as a value
    states = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
    for (role, port), values in ports.items():
        verdict = judged[(role, str(site.sql_port) if port == "dynamic" else port)]
        assert values["digitalsentry_port_state"] == states[str(verdict["state"])], (role, port)
        assert values["digitalsentry_port_ok"] == (verdict["state"] == "OK"), (role, port)
        assert ("digitalsentry_port_response_seconds" in values) == (verdict["seconds"] is not None)
    assert len(ports) == len(judged)
    meaning = {key: (v["digitalsentry_port_ok"], v["digitalsentry_port_up"], v["digitalsentry_port_state"])
               for key, v in ports.items()}
    assert meaning[("audio", str(site.ports["audio"]))] == (1.0, 0.0, 0.0)  # silent: as required, not "up"
    assert meaning[("forbid", "3389")] == (1.0, 0.0, 0.0)  # closed, as required
    assert meaning[("forbid", str(web))] == (0.0, 1.0, 2.0)  # answers: up, and CRITICAL
    assert meaning[("video", str(site.ports["video"]))] == (0.0, 0.0, 2.0)
    assert meaning[("sql", "dynamic")] == (1.0, 1.0, 0.0)
    site_state = samples(metrics.stdout)["digitalsentry_site_state"]
    assert site_state == {(("site", "cli"),): 2.0}


def _families(check: Check, inventory: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    run = check("--inventory", str(inventory), "--format", "openmetrics", "-t", "5")
    assert run.code in (0, 2), run
    return samples(run.stdout)


def test_a_series_keeps_its_labels_when_its_port_fails(check: Check, tmp_path: Path) -> None:
    """The same site healthy, then with its SQL Server Browser and video port down (a second simulator on
    the same address and ports): every port series has the same labels in both runs, so graphs and 'for:'
    clauses go on. The SQL port is port="dynamic" with the configured instance's name (not the Browser's
    spelling of it); the number the Browser named is digitalsentry_port_number, absent when it names none."""
    inventory = tmp_path / "sites.toml"
    runs = []
    for faults in ({}, {"sql-browser": "off", "video": "off"}):
        site = SimSite(name="hq", address="127.0.25.12", ports="high", audio_clients=0,
                       instances=["DigitalSentry"], faults=faults)
        with Simulator([site]):
            inventory.write_text(inventory_toml([site]).replace('"DigitalSentry"', '"DIGITALSENTRY"'))
            runs.append(_families(check, inventory))
    healthy, failing = runs
    for name in PORT_FAMILIES:
        assert set(healthy[name]) == set(failing[name]), name
    assert set(failing["digitalsentry_port_response_seconds"]) < set(healthy["digitalsentry_port_response_seconds"])
    sql = {labels for labels in healthy["digitalsentry_port_state"] if ("role", "sql") in labels}
    assert len(sql) == 1 and {("port", "dynamic"), ("sql_instance", "DIGITALSENTRY")} <= set(next(iter(sql)))
    assert list(healthy["digitalsentry_port_number"].values()) == [49172.0]
    assert set(healthy["digitalsentry_port_number"]) == sql
    assert failing["digitalsentry_port_number"] == {}
    failed = {dict(labels)["role"] for labels, value in failing["digitalsentry_port_ok"].items() if not value}
    assert failed == {"sql-browser", "sql", "video"}
    assert set(healthy["digitalsentry_site_state"]) == set(failing["digitalsentry_site_state"])


def test_two_textfiles_never_share_a_series(simulate: Simulate, check: Check, tmp_path: Path) -> None:
    """Two inventories (or a job per --site) feed one node_exporter: no series of one file is in the other,
    the last-run timestamp included (it is per site), and the families' HELP and TYPE agree."""
    sim = simulate(SimSite(name="hq", address="127.0.25.13", audio_clients=0),
                   SimSite(name="branch-1", address="127.0.25.14", audio_clients=0))
    texts = []
    for site in sim.sites:
        inventory = tmp_path / f"{site.name}.toml"
        inventory_toml([site], inventory)
        run = check("--inventory", str(inventory), "--format", "openmetrics", "-t", "5")
        assert run.code == 0, run
        texts.append(run.stdout)
    first, second = (samples(text) for text in texts)
    for name in set(first) | set(second):
        assert not set(first.get(name, {})) & set(second.get(name, {})), name
    assert set(first["digitalsentry_last_run_timestamp_seconds"]) == {(("site", "hq"),)}
    meta = [{line for line in text.splitlines() if line.startswith(("# HELP", "# TYPE", "# UNIT"))} for text in texts]
    assert meta[0] == meta[1]


def _outputs(simulate: Simulate, check: Check, tmp_path: Path) -> dict[str, str]:
    """The check's OpenMetrics for the setups the issue tried: one host, an inventory with a faulty site,
    every address, several SQL instances, forbidden ports (closed and answering)."""
    sim = simulate(SimSite(name="hq", address="127.0.25.15", audio_clients=1),
                   SimSite(name="branch-1", address="127.0.25.16", audio_clients=0, faults={"video": "off"}),
                   SimSite(name="two-sql", address="127.0.25.17", audio_clients=0,
                           faults={"sql-browser": "several"}))
    hq, _, two = sim.sites
    one = [*shlex.split(sim.command_line(hq))[1:], "-t", "5"]
    several = [arg for arg in shlex.split(sim.command_line(two))[1:] if arg not in ("--sql-instance", "DIGITALSENTRY")]
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    runs = {
        "one host": one,
        "an inventory with a faulty site": ["--inventory", str(inventory), "-t", "5"],
        "every address": [*one, "--all-addresses"],
        "several SQL instances": [*several, "-t", "5"],
        "forbidden ports": [*one, "--forbid", "3389/tcp", "--forbid", f"{hq.ports['video']}/tcp"],
    }
    out = {}
    for name, args in runs.items():
        run = check(*args, "--format", "openmetrics")
        assert run.code in (0, 2) and run.stdout.endswith("# EOF\n"), (name, run)
        out[name] = run.stdout
    return out


def test_no_label_is_one_that_prometheus_or_relabelling_sets(
    simulate: Simulate, check: Check, tmp_path: Path
) -> None:
    outputs = _outputs(simulate, check, tmp_path)
    seen: set[str] = set()
    for text in outputs.values():
        for family in samples(text).values():
            for labels in family:
                seen |= {key for key, _ in labels}
    assert seen <= OURS and not seen & RESERVED, seen
    assert {"address", "sql_instance"} <= seen  # the setups above used every label but seq
    several = samples(outputs["several SQL instances"])["digitalsentry_port_number"]
    assert sorted(dict(labels)["sql_instance"] for labels in several) == ["DIGITALSENTRY", "SQLEXPRESS"]
    every = samples(outputs["every address"])["digitalsentry_port_state"]
    assert {dict(labels).get("address") for labels in every} == {"127.0.25.15"}


def test_promtool_check_metrics_is_clean_on_every_output(simulate: Simulate, check: Check, tmp_path: Path) -> None:
    promtool = need_program("promtool", "Prometheus' own lint of the exposition format (package prometheus)")
    for name, text in _outputs(simulate, check, tmp_path).items():
        lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                              timeout=60)
        assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", ""), (name, lint)
    # Negative control: promtool does report a problem it knows.
    bad = subprocess.run([promtool, "check", "metrics"], input="# TYPE x_total gauge\nx_total 1\n",
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "x_total" in bad.stdout + bad.stderr, bad


@pytest.mark.parametrize("fault", ["silent", "garbage"])
def test_the_sql_series_is_the_same_whatever_the_browser_says(
    fault: str, simulate: Simulate, check: Check
) -> None:
    """A Browser that does not answer, or answers garbage, leaves the SQL port unprobed: still the one
    series port="dynamic", sql_instance="DIGITALSENTRY", and no port number."""
    sim = simulate(SimSite(name="hq", address="127.0.25.18", audio_clients=0, faults={"sql-browser": fault}))
    run = check(*shlex.split(sim.command_line())[1:], "-t", "3", "--format", "openmetrics")
    families = samples(run.stdout)
    sql = [dict(labels) for labels in families["digitalsentry_port_state"] if ("role", "sql") in labels]
    assert [(s["port"], s["sql_instance"]) for s in sql] == [("dynamic", "DIGITALSENTRY")]
    assert families["digitalsentry_port_number"] == {}


def test_the_readme_example_and_the_docs_tables_are_what_the_check_writes(
    simulate: Simulate, check: Check, tmp_path: Path
) -> None:
    """docs/check.md's OpenMetrics example (hand-written: its HELP and TYPE lines, each sample's labels in
    order) and docs/prometheus.md's tables of metrics and labels, against the check's real output."""
    import re

    outputs = _outputs(simulate, check, tmp_path)
    text = "".join(outputs.values())
    readme = (REPO / "docs" / "check.md").read_text()
    (example,) = re.findall(r"### OpenMetrics \(`--format openmetrics`\).*?```\n(.*?)```", readme, re.S)
    lines = [line for line in example.splitlines() if line != "..."]
    assert len(lines) >= 4
    keys = {tuple(re.findall(r'(\w+)="', line.split("{", 1)[1])) for line in text.splitlines() if "{" in line}
    for line in lines:
        if line.startswith("#"):
            assert line in text.splitlines(), line
        else:
            assert tuple(re.findall(r'(\w+)="', line.split("{", 1)[1])) in keys, line
    docs = (REPO / "docs" / "prometheus.md").read_text()
    labels = docs.split("The port metrics are labelled:", 1)[1].split("\n\n", 2)[1]
    assert set(re.findall(r"^\| `(\w+)` \|", labels, re.M)) == OURS
    metrics = docs.split("## The metrics", 1)[1].split("The port metrics are labelled:", 1)[0]
    documented = set(re.findall(r"^\| `(digitalsentry_\w+)", metrics, re.M))
    assert documented == set(re.findall(r"^# TYPE (\w+) gauge$", text, re.M))


def test_a_static_sql_port_is_its_number(simulate: Simulate, check: Check) -> None:
    """sql_port set: nothing is learned, the port label is the number, and there is no port number series."""
    sim = simulate(SimSite(name="hq", address="127.0.25.19", audio_clients=0))
    port = sim.sites[0].sql_port
    run = check(*shlex.split(sim.command_line())[1:], "--sql-port", str(port), "-t", "3", "--format", "openmetrics")
    families = samples(run.stdout)
    sql = [dict(labels) for labels in families["digitalsentry_port_ok"] if ("role", "sql") in labels]
    assert [(s["port"], s["sql_instance"]) for s in sql] == [(str(port), "DIGITALSENTRY")]
    assert families["digitalsentry_port_number"] == {}
