"""contrib/icinga2/distributed/ with three real Icinga 2 daemons on loopback, set up the way
docs/distributed.md tells a user: a master, HQ's satellite (zone site-hq) and the agent
prober.branch-1.example.com, each from the package's default configuration with ``icinga2 node setup``
(the master's own CA, tickets, certificates signed on request), with its own directories and free ports.
The example's files go in as shipped; only what a user edits changes (the addresses, the satellite's port,
the check interval, PluginDir). Simulated DS servers stand in for the example's, each served by one
``dsports-simulator`` command of the docs.

Read back from the master's REST API (and the satellite's, to watch it work alone): the satellite checks
the hosts of its zone (check_source), the agent the master's command_endpoint service, the master its own;
a faulty site in site-hq is CRITICAL on the master; ``--submit icinga2`` posted to the satellite's API
reaches the master; with the master stopped the satellite keeps checking, and the results it got meanwhile
reach the master when it is back (the replay log). The test prints how long each step took.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, need_program, need_root, script
from icinga import IcingaNode, plugin_dir
from icinga_api import API_USER, COMMAND, CONTRIB, CONTRIB_PASSWORD, PASSIVE, SERVICES, Client, free_port
from support import Daemon, running

pytestmark = pytest.mark.slow

MASTER, SATELLITE, AGENT = "master.example.com", "satellite.hq.example.com", "prober.branch-1.example.com"
DISTRIBUTED = CONTRIB / "distributed"
DOCS = REPO / "docs" / "distributed.md"
#: Icinga's include directory (the ITL). Where the Debian package of this project puts its CheckCommand,
#: which `include <plugins-contrib>` then defines on every node.
INCLUDE_DIR = Path("/usr/share/icinga2/include")
INTERVAL = 5  #: seconds between checks here (digitalsentry-service ships 5m, retries 1m)

# The commands of docs/distributed.md, as a user types them; ``localize`` points them at a test node.
MASTER_SETUP = "icinga2 node setup --master --cn master.example.com --zone master --disable-confd"
TICKETS = ("icinga2 pki ticket --cn satellite.hq.example.com", "icinga2 pki ticket --cn prober.branch-1.example.com")
SAVE_CERT = "icinga2 pki save-cert --host master.example.com --trustedcert /var/lib/icinga2/certs/trusted-parent.crt"
SATELLITE_SETUP = (
    "icinga2 node setup --cn satellite.hq.example.com --zone site-hq --parent_zone master "
    "--endpoint master.example.com --parent_host master.example.com "
    '--trustedcert /var/lib/icinga2/certs/trusted-parent.crt --ticket "$TICKET" '
    "--accept-config --accept-commands --disable-confd")
AGENT_SETUP = (
    "icinga2 node setup --cn prober.branch-1.example.com --zone prober.branch-1.example.com "
    "--parent_zone master --endpoint master.example.com,master.example.com --parent_host master.example.com "
    '--trustedcert /var/lib/icinga2/certs/trusted-parent.crt --ticket "$TICKET" '
    "--accept-config --accept-commands --disable-confd")
API_USER_INCLUDE = 'include "conf.d/digitalsentry-api-user.conf"'
#: The example's DS servers, each served by one simulator command (docs: "A dry run with simulated DS
#: servers"), on the node that checks it; a user puts these addresses into the example's files.
SIMULATORS = {
    "ds01.hq.example.com": "dsports-simulator --name ds01.hq --address 127.0.23.10 --ports standard "
                           "--instance SQLEXPRESS --audio-clients 2",
    "ds02.hq.example.com": "dsports-simulator --name ds02.hq --address 127.0.23.11 --ports standard "
                           "--sql-port 1433 --instance SQLEXPRESS --no-web --no-api --audio-clients 0 --fault video=off",
    "branch-1-public": "dsports-simulator --name branch-1-public --address 127.0.23.45 --port sql-browser=11434 "
                       "--port video=28772 --port diagnostics=27772 --sql-port 14330 --instance SQLEXPRESS "
                       "--no-web --no-api --audio-clients 0",
    "ds01.branch-1.from-lan": "dsports-simulator --name ds01.branch-1 --address 127.0.23.5 --ports standard "
                              "--instance SQLEXPRESS --no-web --no-api --audio-clients 0",
}
ADDRESSES = {"192.0.2.10": "127.0.23.10", "192.0.2.11": "127.0.23.11", "203.0.113.45": "127.0.23.45",
             "10.20.0.5": "127.0.23.5"}
#: Passive results through the satellite: a site checked from a machine on HQ's LAN with --submit icinga2.
PASSIVE_INVENTORY = """[defaults]
icinga_template = "digitalsentry-passive"

[[sites]]
name = "hq-lan"
hosts = ["127.0.23.11"]
sql_instance = "SQLEXPRESS"
sql_port = 1433
"""
SERVICES_CHECKED = {  # service -> the node that runs its check, and the state it finds
    "ds01.hq.example.com!digitalsentry": (SATELLITE, 0),
    "ds02.hq.example.com!digitalsentry": (SATELLITE, 2),  # the faulty site of zone site-hq
    "ds01.branch-1.from-lan!digitalsentry-from-lan": (AGENT, 0),
    "branch-1-public!digitalsentry": (MASTER, 0),
}
READER = ("e2e-reader", "reader-secret")  #: the test's own ApiUser on the satellite (objects/query)


def localize(command: str, node: IcingaNode, master_port: int, ticket: str = "") -> list[str]:
    """A command of the docs run on a test node: its directories, the master at 127.0.0.1:master_port, its
    API on its own free port (``--listen``), and the ticket for "$TICKET"."""
    words = shlex.split(command.replace('"$TICKET"', ticket))[1:]
    out: list[str] = []
    for word in words:
        previous = out[-1] if out else ""
        if previous == "--host" and word == MASTER:
            out += ["127.0.0.1", "--port", str(master_port)]
        elif previous == "--parent_host" and word == MASTER:
            out.append(f"127.0.0.1,{master_port}")
        elif previous == "--endpoint" and word == f"{MASTER},{MASTER}":
            out.append(f"{MASTER},127.0.0.1,{master_port}")
        else:
            out.append(word.replace("/var/lib/icinga2", str(node.data)))
    if words[:2] == ["node", "setup"]:
        out += ["--listen", f"127.0.0.1,{node.port}"]
    return out


def run_cli(node: IcingaNode, argv: list[str]) -> str:
    done = node.cli(*argv)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def zone_objects(text: str) -> set[tuple[str, str, str]]:
    """The Endpoint and Zone objects of a zones.conf, each with its endpoints, parent and global (not the
    address an Endpoint connects to: that is the deployment's)."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    found = set()
    for kind, name, body in re.findall(r'object (Endpoint|Zone) "([^"]+)" \{(.*?)\}', text, flags=re.S):
        keys = sorted(re.sub(r"\s+", " ", line.strip()) for line in body.splitlines()
                      if line.strip() and not line.strip().startswith(("host", "port", "log_duration")))
        found.add((kind, name, "; ".join(keys)))
    return found


class Cluster:
    """The three nodes, their daemons (started and stopped one by one) and API clients."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # The ITL from a copy without this project's package's CheckCommand: whether the machine has the
        # package (other work may install or purge it meanwhile) must not change what a node defines. So
        # the command syncs in global-templates: the way without the package on every node (the way with it
        # is validated by test_debian_package).
        include = root / "include"
        shutil.copytree(INCLUDE_DIR, include, ignore=shutil.ignore_patterns("digitalsentry-command.conf"))
        self.master = IcingaNode(root / "master", MASTER, include)
        self.satellite = IcingaNode(root / "satellite", SATELLITE, include)
        self.agent = IcingaNode(root / "agent", AGENT, include)
        for node in (self.master, self.satellite, self.agent):
            node.port = free_port()  # its API's
        self.daemons: dict[str, tuple[contextlib.AbstractContextManager[Daemon], Daemon]] = {}
        self.simulators: dict[str, tuple[contextlib.AbstractContextManager[Daemon], Daemon]] = {}
        self.apis: dict[str, Client] = {}  #: node -> the test's client of its API
        self.times: dict[str, float] = {}  #: seconds each setup step took
        self.started: dict[str, float] = {}  #: node -> the time of its first start

    def start(self, node: IcingaNode) -> Daemon:
        self.started.setdefault(node.name, time.time())
        argv, log = node.daemon()
        manager = running(argv, log, node.var / "log" / "icinga2.log")
        self.daemons[node.name] = (manager, manager.__enter__())
        return self.daemons[node.name][1]

    def stop(self, node: IcingaNode) -> None:
        manager, _ = self.daemons.pop(node.name)
        manager.__exit__(None, None, None)

    def daemon(self, node: IcingaNode) -> Daemon:
        return self.daemons[node.name][1]

    @property
    def master_api(self) -> Client:
        return self.apis[MASTER]

    @property
    def satellite_api(self) -> Client:
        return self.apis[SATELLITE]

    def close(self) -> None:
        for manager, _ in [*self.daemons.values(), *self.simulators.values()]:
            with contextlib.suppress(Exception):
                manager.__exit__(None, None, None)
        self.daemons.clear()
        self.simulators.clear()

    # -- the simulated DS servers

    def serve(self, host: str) -> None:
        log = self.root / f"simulator-{host}.log"
        manager = running([script("dsports-simulator"), *shlex.split(SIMULATORS[host])[1:]], log)
        daemon = manager.__enter__()
        self.simulators[host] = (manager, daemon)
        daemon.until(lambda: "site(s) up" in log.read_text(), f"the simulated {host}", timeout=20)

    def unserve(self, host: str) -> None:
        manager, _ = self.simulators.pop(host)
        manager.__exit__(None, None, None)

    # -- the nodes, step by step as docs/distributed.md says

    def set_up_master(self) -> None:
        master = self.master
        run_cli(master, localize(MASTER_SETUP, master, master.port))
        master.set_constant("PluginDir", plugin_dir())  # "install the plugin on every node"
        # The example, copied as the docs say; then what a user edits: addresses, the satellite's port.
        (master.etc / "zones.conf").write_text((DISTRIBUTED / "zones.conf").read_text().replace(
            '  host = "198.51.100.10"\n', f'  host = "127.0.0.1"\n  port = "{self.satellite.port}"\n'))
        zones = master.etc / "zones.d"
        for source in sorted((DISTRIBUTED / "zones.d").rglob("*")):
            target = zones / source.relative_to(DISTRIBUTED / "zones.d")
            if source.is_dir():
                target.mkdir(exist_ok=True)
                continue
            text = source.read_text()
            for example, ours in ADDRESSES.items():
                text = text.replace(f'"{example}"', f'"{ours}"')
            target.write_text(text)
        templates = zones / "global-templates"
        services = SERVICES.read_text()
        for setting, shipped in (("check_interval", "5m"), ("retry_interval", "1m")):
            assert services.count(f"  {setting} = {shipped}\n") == 1, setting
            services = services.replace(f"  {setting} = {shipped}\n", f"  {setting} = {INTERVAL}s\n")
        (templates / SERVICES.name).write_text(services)
        (templates / PASSIVE.name).write_text(PASSIVE.read_text())
        (templates / COMMAND.name).write_text(COMMAND.read_text())  # without the Debian package on every node
        inventory = self.root / "hq-lan.toml"
        inventory.write_text(PASSIVE_INVENTORY)
        subprocess.run([script("check_digitalsentry"), "--inventory", str(inventory), "--icinga2-objects",
                        "--output", str(zones / "site-hq" / "digitalsentry-sites.conf")], check=True, timeout=60)
        valid = master.validate()
        assert valid.returncode == 0, valid.stdout + valid.stderr
        assert "Instantiated 4 Endpoints." in valid.stdout and "Instantiated 6 Zones." in valid.stdout, valid.stdout
        self.start(master)
        users = (master.etc / "conf.d" / "api-users.conf").read_text()  # written by node setup --master
        password = re.search(r'object ApiUser "root" \{\s*password = "([^"]+)"', users)
        assert password, users
        self.apis[MASTER] = Client(master.port, master.data / "certs" / "ca.crt", "root", password[1],
                                   check_hostname=False)
        self.daemon(master).until(self.master_api.ready, "the master's API", timeout=60)

    def set_up_node(self, node: IcingaNode, setup: str, ticket: str) -> None:
        (node.data / "certs").mkdir(parents=True, exist_ok=True)
        run_cli(node, localize(SAVE_CERT, node, self.master.port))
        run_cli(node, localize(setup, node, self.master.port, ticket))
        node.set_constant("PluginDir", plugin_dir())

    def set_up_satellite(self, ticket: str) -> None:
        satellite = self.satellite
        self.set_up_node(satellite, SATELLITE_SETUP, ticket)
        # The ApiUser that --submit icinga2 posts as, in the satellite's own config (docs: "Passive
        # results"); and the test's reader, to watch the satellite (not in the docs).
        (satellite.etc / "conf.d" / API_USER.name).write_text(API_USER.read_text())
        user, password = READER
        (satellite.etc / "conf.d" / "e2e-reader.conf").write_text(
            f'object ApiUser "{user}" {{\n  password = "{password}"\n  permissions = [ "objects/query/*" ]\n}}\n')
        with (satellite.etc / "icinga2.conf").open("a") as conf:
            conf.write(f'\n{API_USER_INCLUDE}\ninclude "conf.d/e2e-reader.conf"\n')
        self.apis[SATELLITE] = Client(satellite.port, satellite.data / "certs" / "ca.crt", user, password,
                                      check_hostname=False)


def need_root_for_the_example() -> None:
    """ds01.hq's DSWebService is on 443, as shipped: binding it needs root (or a lowered
    ip_unprivileged_port_start). CI runs the suite as root, where this runs, and then as an unprivileged
    user, where it skips as every ``need_root`` test does."""
    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if not (start.is_file() and int(start.read_text()) <= 443):
        need_root("the example's ds01.hq serves DSWebService on 443")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    need_program("icinga2", "the distributed example runs on three real Icinga 2 daemons")
    need_program("unshare", "the submitting machine resolves the satellite's name in a mount namespace")
    need_root_for_the_example()
    cluster = Cluster(tmp_path_factory.mktemp("icinga2-distributed"))
    try:
        started = time.monotonic()
        for host in SIMULATORS:
            cluster.serve(host)
        cluster.times["simulators up"] = time.monotonic() - started
        started = time.monotonic()
        cluster.set_up_master()
        cluster.times["master set up and up"] = time.monotonic() - started
        started = time.monotonic()
        tickets = [run_cli(cluster.master, localize(command, cluster.master, cluster.master.port)).strip()
                   for command in TICKETS]
        assert all(re.fullmatch(r"[0-9a-f]{40}", ticket) for ticket in tickets), tickets
        cluster.set_up_satellite(tickets[0])
        cluster.set_up_node(cluster.agent, AGENT_SETUP, tickets[1])
        cluster.times["satellite and agent set up"] = time.monotonic() - started
        cluster.start(cluster.satellite)
        cluster.start(cluster.agent)
        yield cluster
    finally:
        cluster.close()


def result_of(api: Client, name: str, *more: str) -> dict[str, Any] | None:
    """The attributes of a service, or None while the node's API does not answer (it reloads)."""
    try:
        return api.services(*more).get(name)
    except (OSError, AssertionError, ValueError):
        return None


def test_the_satellite_and_the_agent_check_and_the_master_has_every_result(cluster: Cluster) -> None:
    master_api, satellite_api = cluster.master_api, cluster.satellite_api
    started = cluster.started
    seen: dict[str, float] = {}  #: what -> seconds after its node started
    results: dict[str, dict[str, Any]] = {}  #: service -> its first result with the state expected
    before: set[str] = set()  #: other results first (a node that did not have its configuration yet)

    def progress() -> bool:
        """Note when each step is first seen; done once every service has its result from its node."""
        now = time.time()
        if "config" not in seen:
            with contextlib.suppress(OSError, AssertionError, ValueError):
                if "ds01.hq.example.com!digitalsentry" in satellite_api.services():
                    seen["config"] = now - started[SATELLITE]
        try:
            services = master_api.services()
        except (OSError, ValueError):
            return False
        for name, (node, state) in SERVICES_CHECKED.items():
            result = services[name]["last_check_result"]
            if name in results or not result:
                continue
            if result["check_source"] == node and result["state"] == state:
                results[name] = result
                seen[name] = result["execution_end"] - started[node]
            else:
                before.add(f"{name} from {result['check_source']}: {result['output'].splitlines()[0]}")
        return len(results) == len(SERVICES_CHECKED)

    cluster.daemon(cluster.satellite).until(progress, "a result of every service on the master", timeout=90)
    hq1, hq2 = (results[f"ds0{n}.hq.example.com!digitalsentry"] for n in (1, 2))
    assert hq1["output"].startswith("DIGITALSENTRY OK - 10 ports as expected on 127.0.23.10"), hq1
    assert hq2["output"].startswith("DIGITALSENTRY CRITICAL - video 18772/tcp closed"), hq2
    agent = results["ds01.branch-1.from-lan!digitalsentry-from-lan"]
    assert agent["output"].startswith("DIGITALSENTRY OK - 4 ports as expected on 127.0.23.5"), agent
    public = results["branch-1-public!digitalsentry"]  # remapped ports and a static SQL port through "the NAT"
    assert "\nsql 14330/tcp OK open" in public["output"] and "\nvideo 28772/tcp OK open" in public["output"]
    assert "\nforbid 1433/tcp OK closed" in public["output"], public
    # Zone site-branch-1 has no satellite running: nobody checks it (the master never takes a zone's checks).
    assert master_api.services()["ds01.branch-1.example.com!digitalsentry"]["last_check_result"] is None
    # The satellite got its zone and the global one, and nothing of the master's zone.
    on_satellite = satellite_api.services()
    assert "ds02.hq.example.com!digitalsentry" in on_satellite and "hq-lan!digitalsentry" in on_satellite
    assert not any(name.startswith(("branch-1-public!", "ds01.branch-1.")) for name in on_satellite), on_satellite
    print("icinga2 distributed: " + ", ".join(f"{what} {seconds:.1f} s" for what, seconds in cluster.times.items())
          + f"; the satellite had its zone config {seen['config']:.1f} s after its start; first results on the "
          "master, seconds after the start of the node checking: "
          + ", ".join(f"{name} {seen[name]:.1f} s" for name in SERVICES_CHECKED) + f" (check_interval {INTERVAL} s)"
          + "".join(f"\n  before: {line}" for line in sorted(before)))


def test_the_satellite_and_agent_zones_conf_shipped_are_what_node_setup_wrote(cluster: Cluster) -> None:
    for node, shipped in ((cluster.satellite, "satellite-zones.conf"), (cluster.agent, "agent-zones.conf")):
        written = zone_objects((node.etc / "zones.conf").read_text())
        assert written == zone_objects((DISTRIBUTED / shipped).read_text()), (shipped, written)
        assert len(written) == 6, written
    # The master's zones.conf (shipped) and the satellite's agree on the satellite's zone.
    master = zone_objects((DISTRIBUTED / "zones.conf").read_text())
    assert zone_objects((DISTRIBUTED / "satellite-zones.conf").read_text()) <= master
    assert zone_objects((DISTRIBUTED / "agent-zones.conf").read_text()) <= master
    # The agent connects to the master; the master connects to HQ's satellite.
    assert 'host = "127.0.0.1"' in (cluster.agent.etc / "zones.conf").read_text()
    assert "host =" not in (cluster.satellite.etc / "zones.conf").read_text()


def test_submit_icinga2_to_the_satellite_reaches_the_master(cluster: Cluster) -> None:
    """A machine on HQ's LAN posts its results to the satellite (its name resolving to 127.0.0.1 in a
    mount namespace of its own, as DNS would); the satellite forwards them to the master."""
    password = cluster.root / "icinga-api.password"
    password.write_text(CONTRIB_PASSWORD + "\n")
    password.chmod(0o600)
    hosts = cluster.root / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {SATELLITE}\n")
    argv = [script("check_digitalsentry"), "--inventory", str(cluster.root / "hq-lan.toml"), "--submit", "icinga2",
            "--api-url", f"https://{SATELLITE}:{cluster.satellite.port}",
            "--api-ca", str(cluster.satellite.data / "certs" / "ca.crt"), "--api-user", "check_digitalsentry",
            "--api-password-file", str(password), "--check-source", "hq-lan-prober", "-t", "10"]
    before = time.time()

    def submitted() -> subprocess.CompletedProcess[str] | None:
        done = subprocess.run(["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                               str(hosts), *argv], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        return done if done.returncode == 0 else None  # until the satellite has the zone's objects

    done = cluster.daemon(cluster.satellite).until(submitted, "the satellite accepting the result", timeout=60,
                                                   interval=1)
    assert done.stdout.startswith("DIGITALSENTRY SUBMIT OK - 1 of 1 result accepted by Icinga 2 at "
                                  f"https://{SATELLITE}:{cluster.satellite.port} in "), done

    def forwarded() -> dict[str, Any] | None:
        attrs = result_of(cluster.master_api, "hq-lan!digitalsentry")
        result = attrs and attrs["last_check_result"]
        return result if result and result["check_source"] == "hq-lan-prober" else None

    result = cluster.daemon(cluster.master).until(forwarded, "the submitted result on the master", timeout=30)
    assert before <= result["execution_start"] <= result["execution_end"] <= time.time()
    assert result["active"] is False and result["state"] == 2, result
    assert result["output"].startswith("DIGITALSENTRY CRITICAL - hq-lan/127.0.23.11 video 18772/tcp closed"), result


def test_the_satellite_checks_while_the_master_is_down_and_replays_the_results(cluster: Cluster) -> None:
    """Stop the master; the satellite goes on checking ds01.hq (OK), which then fails (its simulator
    stops: CRITICAL). Start the master: it learns both from the satellite's replay log -- the last OK and
    the change to CRITICAL carry times inside the downtime, which no check after its return could give."""
    master_api, satellite_api = cluster.master_api, cluster.satellite_api
    name = "ds01.hq.example.com!digitalsentry"

    def checked_by_satellite() -> dict[str, Any] | None:
        attrs = result_of(master_api, name)
        return attrs if attrs and attrs["last_check_result"] and attrs["state"] == 0 else None

    cluster.daemon(cluster.master).until(checked_by_satellite, "ds01.hq OK on the master", timeout=60)
    cluster.stop(cluster.master)
    stopped = time.time()
    with pytest.raises(ConnectionRefusedError):  # down indeed: nothing listens on its API port
        socket.create_connection(("127.0.0.1", cluster.master.port), timeout=5).close()

    def on_satellite(state: int, after: float) -> Any:
        def probe() -> dict[str, Any] | None:
            attrs = result_of(satellite_api, name)
            result = attrs and attrs["last_check_result"]
            return result if result and result["state"] == state and result["execution_start"] > after else None
        return probe

    ok = cluster.daemon(cluster.satellite).until(on_satellite(0, stopped), "an OK check with the master down",
                                                 timeout=4 * INTERVAL + 10)
    cluster.unserve("ds01.hq.example.com")
    failed_at = time.time()
    critical = cluster.daemon(cluster.satellite).until(on_satellite(2, failed_at), "a CRITICAL check with the "
                                                       "master down", timeout=4 * INTERVAL + 10)
    satellite_log = cluster.satellite.var / "log" / "icinga2.log"
    before = len(satellite_log.read_bytes())
    restarted = time.time()
    cluster.start(cluster.master)

    def replayed() -> dict[str, Any] | None:
        attrs = result_of(master_api, name, "last_state_ok", "last_state_change")
        return attrs if attrs and attrs["state"] == 2 else None

    attrs = cluster.daemon(cluster.master).until(replayed, "ds01.hq CRITICAL on the master", timeout=60)
    back = time.time() - restarted
    # Both inside the downtime (a check under way when the simulator stopped may end OK just after it).
    assert stopped < ok["execution_end"] <= attrs["last_state_ok"] < critical["execution_start"], (ok, attrs)
    assert failed_at < attrs["last_state_change"] <= critical["execution_end"] < restarted, (critical, attrs)

    def replay() -> list[int]:  # the satellite's log since the master's return
        log = satellite_log.read_bytes()[before:].decode(errors="replace")
        return [int(count) for count in re.findall(r"Replayed (\d+) messages", log)]

    replays = cluster.daemon(cluster.satellite).until(replay, "the satellite's replay in its log", timeout=30)
    assert replays[0] > 0, replays
    print(f"icinga2 failover: master down {restarted - stopped:.1f} s; the satellite checked on (OK "
          f"{ok['execution_end'] - stopped:.1f} s, CRITICAL {critical['execution_end'] - stopped:.1f} s into the "
          f"downtime); the master had both {back:.1f} s after its start (replayed {replays[0]} messages)")


def test_the_docs_give_the_commands_this_test_runs() -> None:
    """docs/distributed.md is what is tested: every command above is in it, word for word."""
    text = re.sub(r"\\\n\s*", "", DOCS.read_text())
    text = re.sub(r"[ \t]+", " ", text)
    for command in (MASTER_SETUP, *TICKETS, SAVE_CERT, SATELLITE_SETUP, AGENT_SETUP, API_USER_INCLUDE,
                    *SIMULATORS.values()):
        assert command in text, command
