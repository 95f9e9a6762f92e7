"""The Prometheus path proven with Debian's own programs: the rules of contrib/prometheus checked and
unit-tested by promtool; then node_exporter (textfile collector) and Prometheus, each on its own loopback
port with its own data directory, fed by the crontab's own textfile job for two inventories of simulated
sites, and read through Prometheus' HTTP API only: healthy sites raise no alert, a faulty site's alerts
fire and clear, a removed site's series go away and it is reported missing, a stopped job's sites go
stale, the two files coexist; the README's Prometheus section, docs/prometheus.md's queries and the
Grafana dashboard's queries run against it.

The live scenario is one module-scoped ``Lab``: its tests run in file order, each leaving the lab as the
next expects (the repair, the removal and the stale job come last)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import REPO, need_program
from support import alerts, running
from test_contrib_cron import INVENTORY, PROM, Paths, textfile_job

from check_digitalsentry.render.openmetrics import RESERVED
from check_digitalsentry.simulator import DEFAULT_ROLES, SimSite, Simulator

T = TypeVar("T")

CONTRIB = REPO / "contrib" / "prometheus"
RULES = CONTRIB / "digitalsentry.rules.yml"
RULE_TESTS = CONTRIB / "digitalsentry.rules.test.yml"
DASHBOARD = CONTRIB / "digitalsentry-dashboard.json"
DOCS = REPO / "docs" / "prometheus.md"
README = REPO / "README.md"

NODE = "127.0.25.200:19100"
PROMETHEUS = "127.0.25.200:19090"
#: Target labels the scrape config sets beside job and instance, as relabelling commonly does: ours
#: must arrive untouched (no exported_site, exported_server...).
TARGET_LABELS = {"host": "monitor-1", "node": "monitor-1"}

#: The rule file's durations as the live test shortens them, each replaced exactly where it stands (a
#: rule whose timing changes fails here until this follows it). The unit tests run them unshortened.
FASTER = {"for: 5m": "for: 2s", "for: 15m": "for: 2s", "> 600": "> 20"}


def promtool() -> str:
    return need_program("promtool", "Prometheus' rule checker (package prometheus)")


# --- the rule file, by promtool ----------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    run = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and f"SUCCESS: {alerts(RULES)} rules found" in run.stdout, run


def test_promtool_unit_tests_of_the_rules_pass(tmp_path: Path) -> None:
    run = subprocess.run([promtool(), "test", "rules", RULE_TESTS.name], capture_output=True, text=True,
                         timeout=120, cwd=CONTRIB)
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


def test_the_unit_tests_catch_the_old_alert_on_port_up(tmp_path: Path) -> None:
    """Negative control: the README's old alert, digitalsentry_port_up == 0, fails the unit tests both ways
    (it fires for the healthy site's silent audio port and closed forbidden port, and never for the forbidden
    port that answers)."""
    rules = RULES.read_text()
    old = "count without (server, port, transport, address, sql_instance, seq) (digitalsentry_port_state == 2)"
    assert rules.count(old) == 1
    (tmp_path / RULES.name).write_text(rules.replace(old, old.replace("digitalsentry_port_state == 2",
                                                                      "digitalsentry_port_up == 0")))
    shutil.copy(RULE_TESTS, tmp_path)
    run = subprocess.run([promtool(), "test", "rules", RULE_TESTS.name], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode != 0, run.stdout
    failed = run.stdout + run.stderr
    assert "a healthy site raises no alert" in failed and 'role="audio"' in failed, failed
    assert "critical ports alert per site and role" in failed, failed


def test_the_rules_and_their_tests_use_the_metrics_the_check_writes() -> None:
    from check_digitalsentry.render import openmetrics

    written = set(re.findall(r'_family\("(digitalsentry_\w+)"', Path(openmetrics.__file__).read_text()))
    assert len(written) == 9, written
    for path in (RULES, RULE_TESTS, DASHBOARD, DOCS):
        used = set(re.findall(r"\bdigitalsentry_[a-z_]+\b", path.read_text()))
        assert used and used <= written, (path.name, used - written)
    labels = set(re.findall(r"\b([a-z_]+)=\"", RULE_TESTS.read_text()))
    assert not labels & RESERVED - {"job", "instance", "severity"}, labels


# --- the live lab ---------------------------------------------------------------------------------------


#: The second job of docs/prometheus.md: its own inventory, file and lock.
SECOND_INVENTORY = "/etc/digitalsentry/north.toml"
SECOND_PROM = "/var/lib/prometheus/node-exporter/digitalsentry-north.prom"


def second_job() -> str:
    """docs/prometheus.md's job for a second inventory, as written (its command, without the schedule)."""
    (line,) = [line for line in DOCS.read_text().splitlines() if SECOND_PROM in line]
    return line.split(None, 5)[5]


def test_the_docs_second_job_is_the_crontab_job_with_its_own_inventory_file_and_lock() -> None:
    job = textfile_job()
    line = next(line for line in DOCS.read_text().splitlines() if SECOND_PROM in line)
    assert line.split(None, 5)[:5] == job.schedule
    assert second_job() == (job.command.replace(INVENTORY, SECOND_INVENTORY).replace(PROM, SECOND_PROM)
                            .replace("digitalsentry-textfile.lock", "digitalsentry-textfile-north.lock"))


def sim_site(name: str, address: str, **kwargs: Any) -> SimSite:
    return SimSite(name=name, address=address, ports="high", audio_clients=kwargs.pop("audio_clients", 0),
                   **kwargs)


HQ = ("hq", "127.0.25.1")
BRANCH = ("branch-1", "127.0.25.2")
STORE = ("store", "127.0.25.3")


def inventory(ports: dict[str, int], *sites: str) -> str:
    """An inventory of the sites: hq has an audio client (a silent port) and RDP forbidden (closed);
    branch-1 expects no web service, and forbids its port (the simulator serves it: a forbidden port that
    answers)."""
    lines = ["[defaults]", 'sql_instance = "DIGITALSENTRY"', "timeout = 5", "[defaults.ports]",
             *(f"{role} = {port}" for role, port in ports.items())]
    bodies = {
        "hq": ['name = "hq"', f'hosts = ["{HQ[1]}"]', "web = true", "api = true", "audio_clients = 1",
               'forbid = ["3389/tcp"]'],
        "branch-1": ['name = "branch-1"', f'hosts = ["{BRANCH[1]}"]', "api = true", f'forbid = ["{ports["web"]}/tcp"]'],
        "store": ['name = "store"', f'hosts = ["{STORE[1]}"]', "web = true", "api = true"],
    }
    for site in sites:
        lines += ["", "[[sites]]", *bodies[site]]
    return "\n".join(lines) + "\n"


class Cron:
    """The crontab's textfile job, run for each inventory in turn as cron would (``/bin/sh -c``, cron's
    environment), again and again until stopped; a job can be paused."""

    def __init__(self, paths: Paths, jobs: dict[str, str]) -> None:
        self.paths = paths
        self.jobs = jobs  #: name -> the command line, its fixed paths pointed at the lab
        self.paused: set[str] = set()
        self.failures: list[str] = []
        self.runs = dict.fromkeys(jobs, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cron", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name, command in self.jobs.items():
                if name in self.paused:
                    continue
                run = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60,
                                     env=self.paths.cron_env(), stdin=subprocess.DEVNULL, cwd=self.paths.home)
                if run.returncode not in (0, 2) or run.stderr:
                    self.failures.append(f"{name}: exit {run.returncode}: {run.stdout}{run.stderr}")
                self.runs[name] += 1
            self._stop.wait(0.5)

    def wait_runs(self, name: str, count: int = 1, timeout: float = 30) -> None:
        """Wait until ``name`` has run ``count`` more times."""
        target = self.runs[name] + count
        deadline = time.monotonic() + timeout
        while self.runs[name] < target:
            assert not self.failures, self.failures
            assert time.monotonic() < deadline, f"the {name} job did not run within {timeout} s"
            time.sleep(0.1)


class Lab:
    """Simulated sites, two inventories, the cron job for each, node_exporter and Prometheus."""

    def __init__(self, root: Path, stack: contextlib.ExitStack[bool | None]) -> None:
        self.started = time.time()
        self.root = root
        self.stack = stack  #: what the lab started, stopped in reverse order at the end of the module
        self.sims = {name: self.simulate(sim_site(name, address, audio_clients=1 if name == "hq" else 0,
                                                  faults={"video": "off"} if name == "branch-1" else None))
                     for name, address in (HQ, BRANCH, STORE)}
        self.ports = self.sims["hq"].sites[0].remapped_ports()
        self.paths = Paths(root)
        # The second job is docs/prometheus.md's, for the inventory north.toml (of the site "store").
        self.inventory_b = self.paths.inventory.with_name("north.toml")
        self.prom_b = self.paths.prom.with_name("digitalsentry-north.prom")
        self.paths.inventory.write_text(inventory(self.ports, "hq", "branch-1"))
        self.inventory_b.write_text(inventory(self.ports, "store"))
        second = second_job().replace(SECOND_INVENTORY, INVENTORY).replace(SECOND_PROM, PROM)
        self.cron = Cron(self.paths, {
            "sites": self.paths.substitute(textfile_job().command),
            "store": self.paths.substitute(second).replace(str(self.paths.inventory), str(self.inventory_b))
                                                  .replace(str(self.paths.prom), str(self.prom_b)),
        })
        assert str(self.inventory_b) in self.cron.jobs["store"] and str(self.prom_b) in self.cron.jobs["store"]
        self.cron.start()
        stack.callback(self.cron.stop)
        self.cron.wait_runs("sites")
        self.cron.wait_runs("store")
        self.node_log = root / "node_exporter.log"

    def config(self) -> str:
        """prometheus.yml: the README's rule_files lines as they stand, 1 s scrapes and evaluations."""
        readme = readme_section()
        targets = ", ".join(f"{key}: {value}" for key, value in TARGET_LABELS.items())
        return (f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                f"{readme['prometheus.yml']}"
                f"scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{NODE}']\n"
                f"        labels: {{{targets}}}\n")

    def start_daemons(self) -> None:
        etc = self.root / "etc-prometheus"
        etc.mkdir()
        rules = RULES.read_text()
        for slow, fast in FASTER.items():
            assert slow in rules, f"the rules no longer say {slow!r}: update FASTER"
            rules = rules.replace(slow, fast)
        (etc / "digitalsentry.rules.yml").write_text(rules)
        (etc / "prometheus.yml").write_text(self.config())
        node = need_program("prometheus-node-exporter", "node_exporter's textfile collector (package "
                            "prometheus-node-exporter)")
        prometheus = need_program("prometheus", "the Prometheus server (package prometheus)")
        self.node = self.stack.enter_context(running(
            [node, f"--web.listen-address={NODE}", "--collector.disable-defaults", "--collector.textfile",
             f"--collector.textfile.directory={self.paths.prom_dir}"], self.node_log))
        self.prometheus = self.stack.enter_context(running(
            [prometheus, f"--config.file={etc / 'prometheus.yml'}", f"--storage.tsdb.path={self.root / 'data'}",
             f"--web.listen-address={PROMETHEUS}"], self.root / "prometheus.log"))

    def simulate(self, site: SimSite) -> Simulator:
        return self.stack.enter_context(Simulator([site]))

    # -- Prometheus' HTTP API

    def api(self, path: str, **params: str) -> Any:
        url = f"http://{PROMETHEUS}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [time, "text"]}, ...]."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return list(data["result"])

    def query_range(self, expr: str, seconds: float = 60) -> list[dict[str, Any]]:
        end = time.time()
        data = self.api("query_range", query=expr, start=f"{end - seconds:.3f}", end=f"{end:.3f}", step="1")
        return list(data["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Every pending or firing alert."""
        return list(self.api("alerts")["alerts"])

    def firing(self) -> set[tuple[str, ...]]:
        """(alertname, site[, role]) of each firing alert."""
        return {(a["labels"]["alertname"], a["labels"]["site"], *([a["labels"]["role"]] if "role" in a["labels"]
                 else [])) for a in self.alerts() if a["state"] == "firing"}

    def until(self, probe: Callable[[], T | None], what: str, timeout: float = 60) -> T:
        return self.prometheus.until(lambda: _ready(probe), what, timeout)


def _ready(probe: Callable[[], T | None]) -> T | None:
    try:
        return probe()
    except OSError:  # not listening yet
        return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need_program("flock", "the crontab runs every job under flock -n (util-linux)")
    promtool()
    with contextlib.ExitStack() as stack:
        lab = Lab(tmp_path_factory.mktemp("prometheus"), stack)
        lab.start_daemons()
        # The first scrape comes some seconds after the start (service discovery's first update).
        lab.until(lambda: lab.query("count(digitalsentry_site_state)"), "a scrape of the textfiles")
        yield lab
        assert not lab.cron.failures, lab.cron.failures


def values(result: list[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], float]:
    """label values -> the sample's value, for each series of a query's result."""
    return {tuple(series["metric"].get(key, "") for key in keys): float(series["value"][1]) for series in result}


def critical_fired(lab: Lab) -> set[tuple[str, ...]]:
    """Wait until branch-1's two CRITICAL alerts fire (the video port down, the forbidden port answering)."""
    wanted: set[tuple[str, ...]] = {("DigitalSentryCritical", "branch-1", "video"),
                                    ("DigitalSentryCritical", "branch-1", "forbid")}
    return lab.until(lambda: wanted if wanted <= lab.firing() else None, f"the alerts {wanted}")


def test_healthy_sites_raise_no_alert_and_the_faulty_site_fires(lab: Lab) -> None:
    wanted = critical_fired(lab)
    # Every alert there is, pending or firing: the healthy sites, whose results were scraped as long as
    # branch-1's, have none -- not for hq's silent audio port or its closed RDP port (port_up 0 there).
    alerts = lab.alerts()
    assert {(a["labels"]["alertname"], a["labels"]["site"], a["labels"].get("role")) for a in alerts} == wanted, alerts
    assert all(a["labels"]["severity"] == "critical" and a["labels"]["instance"] == NODE for a in alerts)
    by_role = {a["labels"]["role"]: a for a in alerts}
    assert float(by_role["video"]["value"]) == 1 and float(by_role["forbid"]["value"]) == 1
    up = values(lab.query('digitalsentry_port_up{site="hq"} == 0'), "role", "port")
    assert up == {("audio", "18778"): 0, ("forbid", "3389"): 0}  # not up, yet as required:
    ok = values(lab.query('digitalsentry_port_ok{site="hq"}'), "role")
    assert set(ok.values()) == {1.0} and len(ok) == len(values(lab.query('digitalsentry_port_state{site="hq"}'),
                                                                 "role", "port"))
    forbid = values(lab.query('{__name__=~"digitalsentry_port_(ok|up|state)", site="branch-1", role="forbid"}'),
                    "__name__")
    assert forbid == {("digitalsentry_port_ok",): 0, ("digitalsentry_port_up",): 1, ("digitalsentry_port_state",): 2}
    rules = lab.api("rules")["groups"][0]["rules"]
    assert len(rules) == 6 and all(rule["health"] == "ok" for rule in rules), rules
    # the sites run on loopback: no path to prove, none required, none alerting for it
    proved = values(lab.query("digitalsentry_site_path_proved"), "site")
    assert proved and set(proved.values()) == {1.0}, proved


def test_labels_survive_the_scrape(lab: Lab) -> None:
    series = lab.api("series", **{"match[]": '{__name__=~"digitalsentry_.*"}'})
    names = {key for metric in series for key in metric}
    assert names <= {"__name__", "job", "instance", *TARGET_LABELS, "site", "server", "role", "port", "transport",
                     "sql_instance"}, names
    assert not [name for name in names if name.startswith("exported_")]
    sql = lab.query('digitalsentry_port_number{role="sql"}')
    assert values(sql, "site", "port", "sql_instance") == {
        (site, "dynamic", "DIGITALSENTRY"): 49172.0 for site in ("hq", "branch-1", "store")}


def test_two_textfiles_coexist(lab: Lab) -> None:
    files = values(lab.query("node_textfile_mtime_seconds"), "file")
    assert {Path(file).name for (file,) in files} == {"digitalsentry.prom", "digitalsentry-north.prom"}
    assert values(lab.query("max_over_time(node_textfile_scrape_error[1h])")) == {(): 0.0}
    stamps = values(lab.query("digitalsentry_last_run_timestamp_seconds"), "site")
    assert set(stamps) == {("hq",), ("branch-1",), ("store",)}
    log = lab.node_log.read_text()
    assert "collected before" not in log and "level=error" not in log, log


def readme_section() -> dict[str, str]:
    """README's Prometheus section, between its markers: the code blocks it shows, by what they are."""
    text = README.read_text()
    start, end = "<!-- prometheus: tests/test_prometheus.py runs this section as written -->", "<!-- /prometheus -->"
    assert text.count(start) == 1 and text.count(end) == 1, "the README lost its Prometheus markers"
    section = text.split(start, 1)[1].split(end, 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    kinds = [kind for kind, _ in blocks]
    assert kinds == ["crontab", "sh", "yaml", "yaml", "promql"], kinds
    return {"crontab": blocks[0][1], "sh": blocks[1][1], "prometheus.yml": blocks[2][1].split("\n", 1)[1],
            "alert": blocks[3][1], "query": blocks[4][1]}


def test_the_readme_section_is_what_runs_here(lab: Lab) -> None:
    section = readme_section()
    crontab = (REPO / "contrib" / "cron" / "digitalsentry.crontab").read_text()
    assert section["crontab"].strip() in crontab.splitlines()
    assert section["crontab"].split(None, 5)[5].strip() == textfile_job().command
    examples = (REPO / "contrib" / "debian" / "monitoring-plugins-digitalsentry.examples").read_text().split()
    assert section["sh"] == f"cp /usr/share/doc/monitoring-plugins-digitalsentry/examples/{RULES.name} /etc/prometheus/\n"
    assert f"contrib/prometheus/{RULES.name}" in examples
    assert section["prometheus.yml"] in lab.config()
    assert section["alert"] in RULES.read_text()
    (name,) = re.findall(r"- alert: (\w+)", section["alert"])
    assert any(fired[0] == name for fired in critical_fired(lab))
    failing = values(lab.query(section["query"]), "site")
    assert failing == {("branch-1",): 2.0}


def doc_queries() -> dict[str, str]:
    """docs/prometheus.md's queries: question (the comment line) -> the query as written."""
    blocks = re.findall(r"```promql\n# (.*?)\n(.*?)```", DOCS.read_text(), re.S)
    assert len(blocks) == len(re.findall(r"```promql\n", DOCS.read_text())), "a promql block without its question"
    return dict(blocks)


def test_every_query_of_the_docs_answers_its_question(lab: Lab) -> None:
    critical_fired(lab)
    checks: dict[str, Callable[[list[dict[str, Any]]], object]] = {
        "Which sites fail now (their worst state: 1 WARNING, 2 CRITICAL, 3 UNKNOWN)":
            lambda r: values(r, "site") == {("branch-1",): 2.0},
        "Which ports fail now, and how badly":
            lambda r: values(r, "site", "role") == {("branch-1", "video"): 2.0, ("branch-1", "forbid"): 2.0},
        "How many sites fail, fleet-wide": lambda r: values(r) == {(): 1.0},
        "Since when: the Unix time each firing alert's condition began (the \"Active Since\" of the Alerts page)":
            lambda r: set(values(r, "site", "role")) == {("branch-1", "video"), ("branch-1", "forbid")}
            and all(lab.started < value <= time.time() for value in values(r, "role").values()),
        "For how long, in seconds":
            lambda r: set(values(r, "site", "role")) == {("branch-1", "video"), ("branch-1", "forbid")}
            and all(2 <= value < time.time() - lab.started for value in values(r, "role").values()),
        "How much of the last day each port was as required (1 = always)":
            lambda r: values(r, "site", "role", "port")[("branch-1", "video", "18772")] == 0
            and {value for (site, *_), value in values(r, "site", "role", "port").items() if site != "branch-1"}
            == {1.0},
        "Response-time trend: each role's average over the last hour, per site":
            lambda r: ("hq", "video") in values(r, "site", "role") and ("branch-1", "video") not in values(r, "site", "role")
            and all(0 < value < 5 for value in values(r, "site", "role").values()),
        "The SQL port each site's SQL Server Browser names now":
            lambda r: set(values(r, "site", "port").values()) == {49172.0} and len(r) == 3,
        "Sites whose results are not fresh (seconds since their last run)": lambda r: r == [],
    }
    queries = doc_queries()
    assert set(queries) == set(checks), "docs/prometheus.md's queries and this test's checks differ"
    for question, expr in queries.items():
        result = lab.query(expr)
        assert checks[question](result), (question, expr, result)


def dashboard_queries() -> list[tuple[str, str, dict[str, Any]]]:
    """(panel title, expr, target) for every target of every panel of the dashboard."""
    dash = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"], target) for panel in dash["panels"] for target in panel["targets"]]


def test_the_dashboard_is_grafana_json_on_one_grid() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    variables = {var["name"]: var for var in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = dash["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["expr"], panel["title"]


def grafana(expr: str, **variables: str) -> str:
    """A query as Grafana sends it: each $variable replaced by its value (All: its allValue, .*)."""
    for name, value in variables.items():
        expr = expr.replace(f"${name}", value)
    assert "$" not in expr, expr
    return expr


def test_every_query_of_the_dashboard_answers(lab: Lab) -> None:
    critical_fired(lab)
    dash = json.loads(DASHBOARD.read_text())
    sites = {"hq", "branch-1", "store"}
    for var in dash["templating"]["list"][1:]:
        match = re.fullmatch(r"label_values\((.*), (\w+)\)", var["query"]["query"])
        assert match and var["allValue"] == ".*", var
        found = lab.api(f"label/{match[2]}/values", **{"match[]": grafana(match[1], site=".*")})
        assert set(found) == (sites if var["name"] == "site" else set(DEFAULT_ROLES) | {"forbid"}), (var, found)
    checks: dict[str, Callable[[list[dict[str, Any]]], object]] = {
        "Sites failing now": lambda r: values(r) == {(): 1.0},
        "Sites reporting": lambda r: values(r) == {(): 3.0},
        "Oldest results": lambda r: 0 < values(r)[()] < 20,
        "Alerts firing": lambda r: values(r) == {(): 2.0},
        "Ports not as required now": lambda r: set(values(r, "site", "role")) == {("branch-1", "video"),
                                                                                 ("branch-1", "forbid")},
        "Site state": lambda r: {s["metric"]["site"] for s in r} == sites,
        "Port history": lambda r: {s["metric"]["site"] for s in r} == sites and len(r) > 20,
        "Response time": lambda r: {s["metric"]["site"] for s in r} == sites,
    }
    queries = dashboard_queries()
    assert sorted(title for title, _, _ in queries) == sorted(checks)
    for title, expr, target in queries:
        query = grafana(expr, site=".*", role=".*")
        result = lab.query(query) if target["instant"] else lab.query_range(query)
        assert checks[title](result), (title, query, result)
        one = grafana(expr, site="branch-1", role=".*")  # one site chosen: only its series
        for series in lab.query(one) if target["instant"] else lab.query_range(one):
            assert series["metric"].get("site", "branch-1") == "branch-1", (title, series)


def test_a_repaired_site_clears_its_alerts(lab: Lab) -> None:
    critical_fired(lab)
    lab.sims["branch-1"].close()  # the video service started, and the web port blocked
    lab.sims["branch-1"] = lab.simulate(sim_site(*BRANCH, roles=[r for r in DEFAULT_ROLES if r != "web"]))
    lab.until(lambda: not [a for a in lab.alerts() if a["labels"]["site"] == "branch-1"] or None,
              "branch-1's alerts to clear")
    assert values(lab.query('digitalsentry_site_state{site="branch-1"}'), "site") == {("branch-1",): 0.0}
    assert lab.alerts() == []


def test_a_site_taken_out_of_its_inventory_goes_away_and_is_missing(lab: Lab) -> None:
    before = len(lab.query('digitalsentry_port_state{site="hq"}'))
    lab.paths.inventory.write_text(inventory(lab.ports, "hq"))
    lab.until(lambda: not lab.query('{__name__=~"digitalsentry_.*", site="branch-1"}') or None,
              "branch-1's series to go")
    missing = lab.until(lambda: {f for f in lab.firing() if f[0] == "DigitalSentrySiteMissing"} or None,
                        "DigitalSentrySiteMissing")
    assert missing == {("DigitalSentrySiteMissing", "branch-1")}
    assert len(lab.query('digitalsentry_port_state{site="hq"}')) == before


def test_a_stopped_job_makes_its_sites_stale(lab: Lab) -> None:
    lab.cron.paused.add("store")
    stale = lab.until(lambda: {f for f in lab.firing() if f[0] == "DigitalSentryResultsStale"} or None,
                      "DigitalSentryResultsStale", timeout=90)
    assert stale == {("DigitalSentryResultsStale", "store")}  # hq's job goes on: hq is fresh


def test_node_exporter_logs_a_duplicate_series_which_the_lab_would_have_seen(lab: Lab) -> None:
    """Negative control of test_two_textfiles_coexist: a series in two files is logged."""
    copy = lab.paths.prom_dir / "copy.prom"
    shutil.copy(lab.paths.prom, copy)
    try:
        lab.until(lambda: "collected before" in lab.node_log.read_text() or None, "node_exporter's duplicate error")
    finally:
        copy.unlink()
