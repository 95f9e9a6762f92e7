"""Fault scenarios in network namespaces: a real firewall and a real NAT between the check and a DS site.

Each scenario builds its path with ``netlab`` (veth links, routes, nftables in namespaces made for the
test), runs the simulated DS site inside the server namespace on the standard ports (root), runs the
real ``check_digitalsentry`` console script inside the client namespace, and asserts the status of
EVERY port, the exit code, and that the whole run ended inside ``-t`` (+0.25 s for process start-up).

Topologies (one per fixture, shared by the tests of this module; each test loads its own ruleset):

    direct:  client 10.66.2.1 ---------------------------- 10.66.2.2 server (nft input = the firewall)
    nat:     client 10.66.1.2 --- 10.66.1.1 router 10.66.2.1 --- 10.66.2.2 server
             (the check targets the router's outside address; nft DNAT forwards what the site allows)
    dns:     client 10.66.9.2 --- 10.66.9.53 resolver that reads queries and never answers

Everything stays inside the namespaces (10.66.0.0/16); the host's interfaces, routes, nftables and
resolver are never touched. Linux rate-limits ICMP errors, which would turn a closed UDP port into
open|filtered: the lab turns that off in every namespace.
"""

from __future__ import annotations

import json
import selectors
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import netlab
import pytest
from conftest import script
from support import plugin_env

T_SLACK = 0.25  #: process start-up and JSON output on top of -t
SERVER = "10.66.2.2"
ROUTER_OUTSIDE = "10.66.1.1"
SQL_PORT = 49172  #: the standard layout's static SQL port, which the Browser names

# --- rulesets (each replaces the namespace's whole ruleset: tests do not depend on their order) ----

NO_FIREWALL = "flush ruleset\n"

#: The server's own firewall: some TCP ports dropped, some reset, SQL rejected with an ICMP
#: "administratively prohibited", one audio port rejected and the other dropped.
SERVER_FIREWALL = """\
flush ruleset
table inet dsfw {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport { 18772, 60001 } reject with tcp reset
    tcp dport { 17772, 443, 60002 } drop
    tcp dport 49172 reject with icmpx type admin-prohibited
    udp dport 18778 reject with icmpx type port-unreachable
    udp dport 18779 drop
  }
}
"""

#: The same without a single DROP: everything that is refused is refused out loud, so the whole
#: check must come back long before its deadline.
SERVER_FIREWALL_NO_DROP = """\
flush ruleset
table inet dsfw {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport { 18772, 17772, 443, 60001 } reject with tcp reset
    tcp dport 49172 reject with icmpx type admin-prohibited
    udp dport { 18778, 18779 } reject with icmpx type port-unreachable
  }
}
"""

_NAT_FORWARD = """\
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct status dnat accept
  }
"""

#: The site router forwards video, web and the SQL Server Browser -- and not the SQL port the Browser
#: names (the NAT failure DS sites actually have); what is not forwarded is dropped.
NAT_DROP = f"""\
flush ruleset
table ip dsnat {{
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    ip daddr {ROUTER_OUTSIDE} tcp dport {{ 18772, 443 }} dnat to {SERVER}
    ip daddr {ROUTER_OUTSIDE} udp dport 1434 dnat to {SERVER}
  }}
{_NAT_FORWARD}  chain input {{
    type filter hook input priority 0; policy drop;
  }}
}}
"""

#: The same router, refusing what it does not forward (TCP reset, ICMP port unreachable).
NAT_REJECT = f"""\
flush ruleset
table ip dsnat {{
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    ip daddr {ROUTER_OUTSIDE} tcp dport {{ 18772, 443 }} dnat to {SERVER}
    ip daddr {ROUTER_OUTSIDE} udp dport 1434 dnat to {SERVER}
  }}
{_NAT_FORWARD}  chain input {{
    type filter hook input priority 0; policy drop;
    meta l4proto tcp reject with tcp reset
    meta l4proto udp reject with icmp type port-unreachable
  }}
}}
"""

#: Everything addressed to the router's outside address goes to the DS server.
NAT_FULL = f"""\
flush ruleset
table ip dsnat {{
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    ip daddr {ROUTER_OUTSIDE} meta l4proto {{ tcp, udp }} dnat to {SERVER}
  }}
{_NAT_FORWARD}  chain input {{
    type filter hook input priority 0; policy drop;
  }}
}}
"""


# --- the lab, the site and the check --------------------------------------------------------------


class Topology(NamedTuple):
    client: str  #: the namespace the check runs in
    target: str  #: the address the check is given (-H)
    site_args: list[str]  #: the check options the simulator printed, without -H
    server: subprocess.Popen[str]  #: the simulated DS site (or the silent resolver), with its stdout
    firewall: str  #: the namespace whose ruleset a scenario sets (server or router)


class Run(NamedTuple):
    doc: dict[str, Any]
    code: int
    wall: float
    stderr: str

    @property
    def ports(self) -> list[dict[str, Any]]:
        return [port for site in self.doc["sites"] for port in site["ports"]]

    @property
    def statuses(self) -> dict[str, str]:
        """``"sql 49172/tcp" -> "filtered"`` for every port of the run."""
        return {f"{p['role']} {p['port'] or 'dynamic'}/{p['transport']}": p["status"] for p in self.ports}

    def port(self, role: str) -> dict[str, Any]:
        [found] = [p for p in self.ports if p["role"] == role]
        return found

    def __repr__(self) -> str:  # what a failed assertion shows
        lines = [f"exit {self.code} in {self.wall:.2f} s: {self.doc.get('summary')}"]
        lines += [f"  {p['role']} {p['port']}/{p['transport']} {p['status']}: {p['detail']}" for p in self.ports]
        return "\n".join(lines + ([f"stderr: {self.stderr}"] if self.stderr else []))


#: Keyword -> port, for ``every_port`` (the standard layout, two audio clients).
PORTS = {
    "sql_browser": "sql-browser 1434/udp", "sql": f"sql {SQL_PORT}/tcp", "video": "video 18772/tcp",
    "diagnostics": "diagnostics 17772/tcp", "web": "web 443/tcp", "api_system": "api-system 60001/tcp",
    "api_playback": "api-playback 60002/tcp", "api_camera": "api-camera 60010/tcp",
    "audio_18778": "audio 18778/udp", "audio_18779": "audio 18779/udp",
}


def every_port(**overrides: str) -> dict[str, str]:
    """The status of every port of the simulated site: open (audio: open|filtered, silence), except
    ``overrides`` (``sql="filtered", audio_18779="closed"``...)."""
    statuses = {name: "open|filtered" if name.startswith("audio") else "open" for name in PORTS.values()}
    for key, status in overrides.items():
        statuses[PORTS[key]] = status
    return statuses


def check(lab: netlab.Lab, topo: Topology, timeout: float, *args: str) -> Run:
    """Run the console script inside the client namespace with ``--format json -t timeout``."""
    assert topo.server.poll() is None, f"the lab's server process stopped (exit {topo.server.returncode})"
    argv = [script("check_digitalsentry"), "-H", topo.target, *topo.site_args, *args,
            "--format", "json", "-t", f"{timeout:g}"]
    started = time.monotonic()
    proc = lab.run(topo.client, *argv, timeout=timeout + 30, env=plugin_env())
    wall = time.monotonic() - started
    assert proc.stdout.startswith("{"), f"{shlex.join(argv)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    run = Run(json.loads(proc.stdout), proc.returncode, wall, proc.stderr)
    assert run.doc["exit_code"] == run.code, run
    assert run.wall <= timeout + T_SLACK, f"the check took {run.wall:.2f} s with -t {timeout:g}\n{run!r}"
    return run


def start_simulator(lab: netlab.Lab, ns: str, address: str, log: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """The simulated DS site on ``address`` inside ``ns`` (standard ports, stderr to ``log``); the check
    options it prints."""
    with log.open("w") as stderr:  # a file, not a pipe nobody reads: the simulator never blocks on it
        proc = lab.popen(ns, script("dsports-simulator"), "--in-netns", "--address", address, "--ports",
                         "standard", "--audio-clients", "2", "--instance", "DIGITALSENTRY", "--duration", "120",
                         stdout=subprocess.PIPE, stderr=stderr)
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(15)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith(f"site sim on {address}: "):
        proc.kill()
        proc.wait()
        pytest.fail(f"the simulator did not start in {ns}: {line!r} {log.read_text()}")
    command = shlex.split(line.split(": ", 1)[1])
    assert command[:3] == ["check_digitalsentry", "-H", address], line
    return proc, command[3:]


@pytest.fixture(scope="module")
def lab() -> Iterator[netlab.Lab]:
    netlab.require()
    with netlab.Lab() as made:
        yield made


@pytest.fixture(scope="module")
def direct(lab: netlab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Topology:
    client, server = lab.namespace("client"), lab.namespace("server")
    lab.link(client, "10.66.2.1", server, SERVER)
    sim, args = start_simulator(lab, server, SERVER, tmp_path_factory.mktemp("direct") / "simulator.log")
    return Topology(client, SERVER, args, sim, firewall=server)


@pytest.fixture(scope="module")
def nat(lab: netlab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Topology:
    client, router, server = lab.namespace("nat-client"), lab.namespace("router"), lab.namespace("nat-server")
    lab.link(client, "10.66.1.2", router, ROUTER_OUTSIDE)
    lab.link(router, "10.66.2.1", server, SERVER)
    lab.forwarding(router)
    lab.route(server, "default", "10.66.2.1")  # replies to the client go back through the router
    sim, args = start_simulator(lab, server, SERVER, tmp_path_factory.mktemp("nat") / "simulator.log")
    return Topology(client, ROUTER_OUTSIDE, args, sim, firewall=router)


@pytest.fixture(scope="module")
def silent_dns(lab: netlab.Lab) -> Topology:
    """A client whose only resolver (inside the lab) reads every query and never answers."""
    for socket_file in ("/run/nscd/socket", "/var/run/nscd/socket"):
        if Path(socket_file).exists():  # glibc would ask nscd, which resolves outside the lab
            pytest.skip(f"nscd runs here ({socket_file}): name lookups would leave the lab")
    client, resolver = lab.namespace("dns-client"), lab.namespace("resolver")
    lab.link(client, "10.66.9.2", resolver, "10.66.9.53")
    lab.resolv_conf(client, "nameserver 10.66.9.53\noptions timeout:5 attempts:2\n")
    lab.etc_file(client, "nsswitch.conf", "hosts: files dns\n")  # no host daemon (systemd-resolved, mdns)
    silent = ("import socket\n"
              "udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(('10.66.9.53', 53))\n"
              "tcp = socket.socket(); tcp.bind(('10.66.9.53', 53)); tcp.listen(16)\n"
              "print('listening', flush=True)\n"
              "while True: print('query from', udp.recvfrom(4096)[1][0], flush=True)\n")
    proc = lab.popen(resolver, sys.executable, "-c", silent, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == "listening\n"
    return Topology(client, "ds01.never.invalid", ["--web", "--api", "--audio-clients", "2",
                                                   "--sql-instance", "DIGITALSENTRY"], proc, firewall=resolver)


# --- the scenarios --------------------------------------------------------------------------------


def test_direct_link_without_a_filter_every_port_is_open(lab: netlab.Lab, direct: Topology) -> None:
    netlab.require()
    lab.nft(direct.firewall, NO_FIREWALL)
    run = check(lab, direct, 3)
    assert run.statuses == every_port(), run
    assert run.code == 0, run
    assert run.port("sql-browser")["facts"]["sql_ports"] == [["DIGITALSENTRY", SQL_PORT]], run
    assert run.port("web")["facts"]["tls_subject"] == "CN=ds-simulator.invalid", run


def test_server_firewall_drops_resets_and_prohibits(lab: netlab.Lab, direct: Topology) -> None:
    netlab.require()
    lab.nft(direct.firewall, SERVER_FIREWALL)
    run = check(lab, direct, 2)
    assert run.statuses == every_port(
        video="closed", api_system="closed",  # reject with tcp reset
        diagnostics="filtered", web="filtered", api_playback="filtered",  # drop: no answer by the deadline
        sql="filtered",  # ICMP admin-prohibited: filtered, reported at once
        audio_18778="closed",  # ICMP port unreachable
        audio_18779="open|filtered",  # dropped UDP is silence
    ), run
    assert run.code == 2, run
    sql = run.port("sql")
    assert "host unreachable (ICMP)" in sql["detail"] and f"forward TCP {SQL_PORT}" in sql["detail"], run
    assert "no answer to the TCP handshake" in run.port("diagnostics")["detail"], run
    assert "connection refused (TCP reset)" in run.port("video")["detail"], run
    assert run.wall >= 1.5, f"dropped ports must be waited for until the deadline: {run!r}"


def test_server_firewall_that_refuses_out_loud_is_reported_at_once(lab: netlab.Lab, direct: Topology) -> None:
    netlab.require()
    lab.nft(direct.firewall, SERVER_FIREWALL_NO_DROP)
    run = check(lab, direct, 3)
    assert run.statuses == every_port(
        video="closed", diagnostics="closed", web="closed", api_system="closed",
        sql="filtered",  # admin-prohibited is not "nothing listens": a filter said no, at once
        audio_18778="closed", audio_18779="closed",
    ), run
    assert run.code == 2, run
    assert "host unreachable (ICMP)" in run.port("sql")["detail"], run
    # Nothing is silent, so nothing waits for the 3 s deadline (nor for the 1.5 s UDP listen).
    assert run.wall < 1.5, run
    assert run.doc["seconds"] < 1.0, run


def test_nat_that_forwards_video_web_and_the_browser_but_not_sql(lab: netlab.Lab, nat: Topology) -> None:
    netlab.require()
    lab.nft(nat.firewall, NAT_DROP)
    run = check(lab, nat, 2)
    assert run.statuses == every_port(
        sql="filtered", diagnostics="filtered",
        api_system="filtered", api_playback="filtered", api_camera="filtered",
    ), run  # audio dropped: open|filtered, as when it is forwarded to a silent port
    assert run.code == 2, run
    browser = run.port("sql-browser")
    assert browser["address"] == ROUTER_OUTSIDE and browser["facts"]["sql_ports"] == [["DIGITALSENTRY", SQL_PORT]]
    sql = run.port("sql")
    assert f"the SQL Server Browser names {SQL_PORT} but it does not answer" in sql["detail"], run
    assert f"forward TCP {SQL_PORT}" in sql["detail"], run
    assert f"forward TCP {SQL_PORT}" in run.doc["summary"], run
    assert run.port("web")["facts"]["tls_subject"] == "CN=ds-simulator.invalid", run


def test_nat_that_rejects_what_it_does_not_forward_is_closed_at_once(lab: netlab.Lab, nat: Topology) -> None:
    netlab.require()
    lab.nft(nat.firewall, NAT_REJECT)
    run = check(lab, nat, 3)
    assert run.statuses == every_port(
        sql="closed", diagnostics="closed", api_system="closed", api_playback="closed", api_camera="closed",
        audio_18778="closed", audio_18779="closed",
    ), run
    assert run.code == 2, run
    sql = run.port("sql")
    assert "refuses connections" in sql["detail"] and f"forward TCP {SQL_PORT}" in sql["detail"], run
    assert run.wall < 1.5, run


def test_nat_that_forwards_everything_every_port_is_open(lab: netlab.Lab, nat: Topology) -> None:
    netlab.require()
    lab.nft(nat.firewall, NAT_FULL)
    run = check(lab, nat, 3)
    assert run.statuses == every_port(), run
    assert run.code == 0, run
    assert {p["address"] for p in run.ports} == {ROUTER_OUTSIDE}, run


def test_dns_that_never_answers_ends_inside_the_deadline(lab: netlab.Lab, silent_dns: Topology) -> None:
    netlab.require()
    run = check(lab, silent_dns, 2)
    assert run.statuses == {name.replace(f"sql {SQL_PORT}/", "sql dynamic/"): "unresolved"
                            for name in every_port()}, run
    assert run.code == 2, run
    assert {p["detail"] for p in run.ports} == {"DNS lookup of ds01.never.invalid did not finish before the "
                                                "deadline"}, run
    # glibc would wait 5 s x 2 attempts: the deadline ended it, not the resolver giving up ...
    assert run.wall >= 1.5, run
    # ... and the queries went to the lab's resolver, not the host's.
    assert silent_dns.server.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(silent_dns.server.stdout, selectors.EVENT_READ)
        asked = selector.select(5) and silent_dns.server.stdout.readline()
    assert asked == "query from 10.66.9.2\n", asked


# --- the lab itself -------------------------------------------------------------------------------


def test_the_lab_refuses_what_is_not_its_own(lab: netlab.Lab, direct: Topology) -> None:
    netlab.require()
    with pytest.raises(ValueError, match=r"outside 10\.0\.0\.0/8"):
        lab.link(direct.client, "192.168.1.1", direct.firewall, "192.168.1.2")
    with pytest.raises(ValueError, match="not made by this lab"):
        lab.nft("default", NO_FIREWALL)
    with pytest.raises(ValueError, match=r"outside 10\.0\.0\.0/8"):
        lab.resolv_conf(direct.client, "nameserver 8.8.8.8\n")
    with pytest.raises(ValueError, match=r"outside 10\.0\.0\.0/8"):
        lab.route(direct.client, "default", "172.16.0.1")


def test_the_lab_removes_everything_it_made_and_what_dead_runs_left() -> None:
    netlab.require()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"dslt-{dead.pid}-1-stale"
    netlab._ip("netns", "add", stale)
    (netlab.ETC_NETNS / stale).mkdir(parents=True, exist_ok=True)
    with netlab.Lab(prefix="dslt") as lab:  # sweeps the stale namespace of the dead run
        assert not (netlab.NETNS_RUN / stale).exists() and not (netlab.ETC_NETNS / stale).exists()
        ns = lab.namespace("box")
        lab.resolv_conf(ns, "nameserver 10.66.9.53\n")
        sleeper = lab.popen(ns, "sleep", "600")
        assert lab.run(ns, "cat", "/etc/resolv.conf").stdout == "nameserver 10.66.9.53\n"
        assert lab.run(ns, "cat", "/proc/sys/net/ipv4/icmp_ratelimit").stdout.strip() == "0"
    assert sleeper.returncode is not None
    assert not (netlab.NETNS_RUN / ns).exists() and not (netlab.ETC_NETNS / ns).exists()
