"""The vantage point, judged: every run classifies each address it probed and the source address it used,
says what that proved ("through NAT from outside", "from inside the site network"), and a site whose clients
come from the internet (``reached_from``) is not passed by a run that cannot prove that path -- UNKNOWN in the
check, a failure in pytest, a banner in the handover document.

Unit tests on the address kinds, this machine's networks (Linux's /proc/net text) and the judgement; then the
real thing: address plans between network namespaces made for the test (a public-looking internet side, a
carrier-grade NAT line, a routed private network, the site's LAN), a real NAT router (nftables DNAT), the
simulated DS site on the standard ports and the real console script run in each vantage point. Only addresses
inside the namespaces the test makes (tests/netlab.py), never the real network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import netlab
import pytest
from conftest import script
from reports import body, info, port, sections
from test_netns import start_simulator

from check_digitalsentry.addresses import Networks, ipv4_routes, ipv6_prefixes, kind
from check_digitalsentry.engine.sites import SiteReport
from check_digitalsentry.judge import JudgedRun, JudgedSite
from check_digitalsentry.model import State, Status
from check_digitalsentry.render import html
from check_digitalsentry.render import json as json_render
from check_digitalsentry.render.text import NagiosText
from check_digitalsentry.schema import Site
from check_digitalsentry.vantage import judge_vantage

# --- address kinds and this machine's networks ----------------------------------------------------------


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.10", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("172.31.255.255", "private"), ("172.32.0.1", "public"), ("192.168.1.20", "private"),
    ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.254", "carrier-grade NAT"), ("100.128.0.1", "public"),
    ("169.254.1.1", "link-local"), ("fe80::1%eth0", "link-local"), ("fd12:3456::1", "unique-local"),
    ("198.51.100.7", "public"), ("2001:db8::1", "public"), ("8.8.8.8", "public"),
    ("::ffff:10.0.0.1", "private"), ("ds01.example.com", None),
])
def test_every_kind_of_address_is_named(address: str, expected: str | None) -> None:
    assert kind(address) == expected


ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
tun0\t0000A8C0\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
wg0\t0014000A\t0100000A\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t0000000A\t00000000\t0201\t0\t0\t0\t000000FF\t0\t0\t0
"""
IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
"""


def test_this_machines_networks_are_its_on_link_routes_and_prefixes() -> None:
    """On-link routes only: not the default route, not a route through a gateway, not a reject route."""
    nets = Networks(ipv4_routes(ROUTE) + ipv6_prefixes(IF_INET6))
    assert nets.find("192.0.2.77") == "192.0.2.0/24" and nets.find("192.168.9.9") == "192.168.0.0/16"
    assert nets.find("10.20.0.5") == "" and nets.find("10.0.0.1") == ""  # via a gateway; a reject route
    assert nets.find("8.8.8.8") == "" and nets.find("fd00::5") == "fd00::/64" and nets.find("fe80::7%eth0")
    assert nets.find("::1") == ""  # loopback: the engine adds it, it is not a route
    unknown = Networks(known=False)
    assert unknown.find("192.0.2.77") is None  # elsewhere than Linux: nobody claims anything


# --- the judgement ---------------------------------------------------------------------------------------------


def point_run(address: str, source: str, on_link: bool | None, network: str | None = None,
              reached_from: str | None = None) -> JudgedSite:
    facts: dict[str, object] = {}
    if on_link is not None:
        facts = {"on_link": on_link, **({"local_network": network} if network else {})}
    results = [port(role, number, Status.OPEN, facts=dict(facts), source=source) for role, number in
               (("video", 18772), ("diagnostics", 17772))]
    for r in results:
        r.address = address
    return JudgedSite(SiteReport(Site("hq", ("ds01.example.com",), reached_from=reached_from), results, 0.1))


PATHS = [
    # address, source, on_link, network, the path, proved by internet / lan / vpn
    ("203.0.113.1", "198.51.100.9", False, None, "outside", (True, False, False)),
    ("203.0.113.1", "203.0.113.9", True, "203.0.113.0/24", "outside", (True, False, False)),
    ("10.20.0.5", "10.20.0.9", True, "10.20.0.0/24", "inside", (False, True, False)),
    ("10.20.0.5", "10.40.0.9", False, None, "routed", (False, True, True)),
    ("10.20.0.5", "10.40.0.9", None, None, "routed", (False, True, True)),  # not Linux: not known
    ("100.64.7.1", "100.64.7.9", True, "100.64.7.0/24", "cgnat", (False, False, True)),
    ("127.0.0.1", "127.0.0.1", True, "127.0.0.0/8", "here", (False, False, False)),
    ("192.0.2.2", "192.0.2.2", True, "192.0.2.0/24", "here", (False, False, False)),  # its own address
]


@pytest.mark.parametrize(("address", "source", "on_link", "network", "path", "proves"), PATHS,
                         ids=[f"{p[4]}-{p[0]}-{p[2]}" for p in PATHS])
def test_each_path_is_named_and_proves_what_it_proves(address: str, source: str, on_link: bool | None,
                                                       network: str | None, path: str,
                                                       proves: tuple[bool, bool, bool]) -> None:
    free = point_run(address, source, on_link, network)
    [point] = free.vantage.points
    assert point.path == path and free.vantage.ok and free.state is State.OK  # no key: nothing changes state
    assert point.address_kind == kind(address) and point.source_kind == kind(source)
    for required, proved in zip(("internet", "lan", "vpn"), proves):
        judged = point_run(address, source, on_link, network, required)
        assert judged.vantage.ok is proved, (required, judged.vantage)
        assert judged.state is (State.OK if proved else State.UNKNOWN)
        if not proved:
            what = {"internet": "NAT", "lan": "site network", "vpn": "VPN"}[required]
            assert judged.vantage.reason.startswith(f"not a test of the {what}: the site's clients come from the "
                                                    f"{required} (reached_from), but the probes went to {address} (")
            assert judged.vantage.advice and judged.vantage.customer_reason.startswith(
                f"This test is not a test of the {what}:")


def test_what_was_proved_is_said_in_the_words_of_the_issue() -> None:
    assert point_run("203.0.113.1", "198.51.100.9", False).vantage.proved == "through NAT from outside"
    inside = point_run("10.20.0.5", "10.20.0.9", True, "10.20.0.0/24").vantage
    assert inside.proved == "from inside the site network"
    assert inside.points[0].where() == ("10.20.0.5 (private, on this machine's network 10.20.0.0/24) from "
                                        "10.20.0.9 (private)")
    unsure = point_run("10.20.0.5", "10.40.0.9", None).vantage
    assert unsure.proved == ("to a private address: from inside the site network or through a VPN (this system "
                             "does not say which)")


def test_a_carrier_grade_nat_address_gets_its_own_advice_unless_the_site_is_reached_through_a_vpn() -> None:
    for required in (None, "internet", "lan"):
        vantage = point_run("100.64.7.1", "100.64.7.9", True, "100.64.7.0/24", required).vantage
        assert vantage.advice.startswith("100.64.7.1 is in 100.64.0.0/10, carrier-grade NAT: if it is the site's "
                                         "internet address, its line has no public IPv4 address and port "
                                         "forwarding cannot work; ask the internet provider for a public IPv4 "
                                         "address, or reach the site through a VPN"), required
        assert vantage.customer_advice.startswith("the site's internet line has no public IPv4 address of its own")
        assert (vantage.state is State.OK) is (required is None)
    tailscale = point_run("100.64.7.1", "100.64.7.9", True, "100.64.7.0/24", "vpn").vantage
    assert tailscale.ok and tailscale.advice == ""
    # a port that does not answer there: forwarding cannot work, so the advice is not "forward TCP 18772"
    from check_digitalsentry.judge import advice, customer_advice, judge

    silent = port("video", 18772, Status.FILTERED)
    silent.address = "100.64.7.1"
    verdict = judge(Site("hq", ("ds01.example.com",)), silent)
    assert "carrier-grade NAT" in advice(verdict) and "no public IPv4 address" in customer_advice(verdict)
    assert "forward" not in customer_advice(verdict).split(",")[0]


def test_every_address_of_a_site_is_judged_and_one_unproved_is_enough() -> None:
    out, inside = port("video", 18772, Status.OPEN), port("video", 18772, Status.OPEN, host="ds02.example.com")
    out.address, inside.address = "203.0.113.1", "10.20.0.5"
    inside.facts.on_link = True
    site = Site("hq", ("ds01.example.com", "ds02.example.com"), reached_from="internet")
    vantage = judge_vantage(site, [out, inside])
    assert [p.path for p in vantage.points] == ["outside", "inside"] and vantage.state is State.UNKNOWN
    assert "10.20.0.5" in vantage.reason and vantage.proved == ("203.0.113.1: through NAT from outside; "
                                                               "10.20.0.5: from inside the site network")


def test_the_check_says_it_and_exits_unknown() -> None:
    from check_digitalsentry.cli import glue

    judged = point_run("10.20.0.5", "10.20.0.9", True, "10.20.0.0/24", "internet")
    text, code = glue.render(NagiosText(JudgedRun([judged], 0.1)), 1)
    assert code == 3
    first, *lines = text.splitlines()
    assert first.startswith("DIGITALSENTRY UNKNOWN - not a test of the NAT: the site's clients come from the "
                            "internet (reached_from), but the probes went to 10.20.0.5 (private, on this "
                            "machine's network 10.20.0.0/24) from 10.20.0.9 (private): from inside the site network")
    assert ("vantage UNKNOWN: 10.20.0.5 (private, on this machine's network 10.20.0.0/24) from 10.20.0.9 (private): "
            "proved from inside the site network (reached_from internet: NOT proved) [test the site's public "
            "address") in "\n".join(lines)
    ok = point_run("203.0.113.1", "198.51.100.9", False, None, "internet")
    text, code = glue.render(NagiosText(JudgedRun([ok], 0.1)), 0)
    assert code == 0 and "; proved through NAT from outside" in text.splitlines()[0]


def test_json_carries_what_was_proved() -> None:
    judged = point_run("10.20.0.5", "10.20.0.9", True, "10.20.0.0/24", "internet")
    doc = json.loads(json_render.render(JudgedRun([judged], 0.1), "summary"))
    [site] = doc["sites"]
    assert site["state"] == "UNKNOWN" and doc["exit_code"] == 3 and site["reached_from"] == "internet"
    vantage = site["vantage"]
    assert vantage["state"] == "UNKNOWN" and vantage["proved"] == "from inside the site network"
    assert vantage["reason"].startswith("not a test of the NAT") and vantage["customer_advice"]
    assert vantage["addresses"] == [{
        "host": "ds01.example.com", "address": "10.20.0.5", "address_kind": "private", "on_link": True,
        "local_network": "10.20.0.0/24", "source": "10.20.0.9", "source_kind": "private", "path": "inside",
        "proved": "from inside the site network"}]


def test_the_handover_document_has_the_banner_on_the_first_page_and_the_sites_page() -> None:
    judged = point_run("10.20.0.5", "10.20.0.9", True, "10.20.0.0/24", "internet")
    fine = point_run("203.0.113.1", "198.51.100.9", False, None, "internet")
    fine.site.name = "branch"
    doc = html.render(JudgedRun([judged, fine], 0.1), info())
    parts = sections(doc)
    banner = "not a test of the NAT"  # shown in capitals (CSS): the words stay as they read
    assert '<div class="word">NOT PROVED</div>' in parts["summary"]
    assert f'<div class="verdict path unknown"><div class="word">{banner}</div>' in parts["summary"]
    assert parts["summary"].count('class="verdict path') == 1  # the proved site has none
    assert f'<div class="verdict path unknown"><div class="word">{banner}</div>' in parts["site-1"]
    assert '<div class="word">NOT PROVED</div>' in parts["site-1"]
    assert '<div class="word">PASSED</div>' in parts["site-2"] and "verdict path" not in parts["site-2"]
    text = body(doc)
    assert ("This test is not a test of the NAT: the site's clients come from the internet, through the site's "
            "internet address, but the test ran from inside the site's own network.") in text
    assert "repeat the test from outside the site (for example from another internet connection)" in text
    assert "from outside the site, through its internet address (as clients on the internet come)" in text
    assert "reached_from" not in text  # the customer's words; the appendix has the technician's
    assert "reached_from" in parts["appendix-1"] and "10.20.0.0/24" in parts["appendix-1"]


# --- the real thing: address plans between namespaces --------------------------------------------------------

SERVER, ROUTER_LAN = "10.20.0.5", "10.20.0.1"
PUBLIC, CLIENT_PUBLIC = "203.0.113.1", "203.0.113.9"  #: the router's internet side, a client beside it
CARRIER, CLIENT_CARRIER = "100.64.7.1", "100.64.7.9"  #: the router's address on a carrier-grade NAT line
VPN_GATEWAY, CLIENT_VPN = "10.40.0.1", "10.40.0.9"  #: a routed private network (as a VPN is)


class Plan(NamedTuple):
    lab: netlab.Lab
    namespaces: dict[str, str]  #: vantage point -> namespace
    site_args: list[str]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    """The site: its DS server behind a router that forwards every DS port from its internet address and its
    carrier-grade NAT address; four vantage points -- the internet beside the router, the CGNAT line, a routed
    private network, and the router itself on the site's LAN."""
    netlab.require()
    with netlab.Lab(prefix="dsv") as lab:
        server, router = lab.namespace("server"), lab.namespace("router")
        outside, carrier, vpn = lab.namespace("outside"), lab.namespace("carrier"), lab.namespace("vpn")
        lab.link(router, ROUTER_LAN, server, SERVER)
        lab.link(outside, CLIENT_PUBLIC, router, PUBLIC)
        lab.link(carrier, CLIENT_CARRIER, router, CARRIER)
        lab.link(vpn, CLIENT_VPN, router, VPN_GATEWAY)
        lab.forwarding(router)
        lab.route(server, "default", ROUTER_LAN)
        lab.route(vpn, "10.20.0.0/24", VPN_GATEWAY)
        lab.nft(router, f"""\
flush ruleset
table ip sitenat {{
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    ip daddr {{ {PUBLIC}, {CARRIER} }} meta l4proto {{ tcp, udp }} dnat to {SERVER}
  }}
}}
""")
        sim, args = start_simulator(lab, server, SERVER, tmp_path_factory.mktemp("vantage") / "simulator.log")
        assert sim.poll() is None
        yield Plan(lab, {"outside": outside, "carrier": carrier, "vpn": vpn, "inside": router}, args)


def point_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The one address the one site of a JSON document was probed at, as its vantage says."""
    [site] = doc["sites"]
    [point] = site["vantage"]["addresses"]
    return point  # type: ignore[no-any-return]


def check_from(plan: Plan, where: str, target: str, *args: str) -> tuple[int, dict[str, Any], str]:
    """The check as Icinga runs it, in the namespace of a vantage point: (exit code, the JSON document, the
    Nagios text of the same run's -v)."""
    argv = [script("check_digitalsentry"), "-H", target, *plan.site_args, "-t", "4", *args]
    env = {"PATH": "/usr/bin:/bin"}
    doc = plan.lab.run(plan.namespaces[where], *argv, "--format", "json", env=env, timeout=30)
    text = plan.lab.run(plan.namespaces[where], *argv, "-v", env=env, timeout=30)
    assert text.returncode == doc.returncode, (doc.stdout, text.stdout)
    return doc.returncode, json.loads(doc.stdout), text.stdout


@pytest.mark.slow
def test_from_outside_through_the_nat_the_site_is_proved(plan: Plan) -> None:
    code, doc, text = check_from(plan, "outside", PUBLIC, "--reached-from", "internet")
    assert code == 0, text
    point = point_of(doc)
    assert (point["address"], point["address_kind"], point["source"], point["source_kind"], point["path"]) == (
        PUBLIC, "public", CLIENT_PUBLIC, "public", "outside")
    assert point["on_link"] is True and point["local_network"] == "203.0.113.0/24"  # beside the router
    assert "; proved through NAT from outside" in text.splitlines()[0]


@pytest.mark.slow
def test_from_inside_the_site_network_an_internet_site_is_not_proved(plan: Plan) -> None:
    code, doc, text = check_from(plan, "inside", SERVER, "--reached-from", "internet")
    assert code == 3, text
    first = text.splitlines()[0]
    assert first.startswith("DIGITALSENTRY UNKNOWN - not a test of the NAT: the site's clients come from the "
                            f"internet (reached_from), but the probes went to {SERVER} (private, on this "
                            f"machine's network 10.20.0.0/24) from {ROUTER_LAN} (private): from inside the site "
                            "network"), first
    [site] = doc["sites"]
    assert site["state"] == "UNKNOWN" and all(p["state"] == "OK" for p in site["ports"])  # the ports are fine
    # without the key nothing changes state, and it still says what was proved; lan is proved from here
    code, doc, text = check_from(plan, "inside", SERVER)
    assert code == 0 and "; proved from inside the site network" in text.splitlines()[0]
    code, _, _ = check_from(plan, "inside", SERVER, "--reached-from", "lan")
    assert code == 0


@pytest.mark.slow
def test_a_carrier_grade_nat_address_cannot_prove_an_internet_site(plan: Plan) -> None:
    code, doc, text = check_from(plan, "carrier", CARRIER, "--reached-from", "internet")
    assert code == 3, text
    assert point_of(doc)["path"] == "cgnat" and doc["sites"][0]["vantage"]["advice"].startswith("100.64.7.1 is in")
    assert "100.64.7.1 (carrier-grade NAT" in text.splitlines()[0]
    assert "[100.64.7.1 is in 100.64.0.0/10, carrier-grade NAT: if it is the site's internet address" in text
    code, _, text = check_from(plan, "carrier", CARRIER)
    assert code == 0 and "ask the internet provider for a public IPv4 address" in text  # advice, no state
    code, _, text = check_from(plan, "carrier", CARRIER, "--reached-from", "vpn")
    assert code == 0 and "carrier-grade NAT: if" not in text  # a VPN overlay's address: nothing to advise


@pytest.mark.slow
def test_through_a_routed_private_network_a_vpn_site_is_proved(plan: Plan) -> None:
    code, doc, text = check_from(plan, "vpn", SERVER, "--reached-from", "vpn")
    assert code == 0, text
    point = point_of(doc)
    assert (point["path"], point["on_link"], point["source"]) == ("routed", False, CLIENT_VPN)
    code, _, text = check_from(plan, "vpn", SERVER, "--reached-from", "internet")
    assert code == 3 and "not a test of the NAT" in text.splitlines()[0]


@pytest.mark.slow
def test_pytest_fails_every_port_of_a_site_whose_path_is_not_proved(plan: Plan, tmp_path: Path) -> None:
    """pytest_dsports run from inside the site against an internet site: every port test fails, saying why
    (so that no -k selection ends green), and the handover document carries the banner."""
    inventory = tmp_path / "sites.toml"
    remapped = dict(word.split("=") for word in plan.site_args[1::2] if "=" in word)
    inventory.write_text(f'[[sites]]\nname = "hq"\nhosts = ["{SERVER}"]\nreached_from = "internet"\n'
                         f'sql_instance = "DIGITALSENTRY"\naudio_clients = 2\nweb = true\napi = true\n'
                         + "".join(f"[sites.ports]\n{r} = {p}\n" for r, p in remapped.items()))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = plan.lab.run(plan.namespaces["inside"], sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                       "--dsports-inventory", str(inventory), "--dsports-report", str(tmp_path / "r.html"),
                       "-k", "video", cwd=str(tmp_path), timeout=120)
    assert run.returncode == 1, run.stdout
    assert "1 failed" in run.stdout and "hq: NOT PROVED — not a test of the NAT" in run.stdout
    doc = (tmp_path / "r.html").read_text()
    assert "verdict path unknown" in sections(doc)["summary"] and "verdict path unknown" in sections(doc)["site-1"]


def test_loopback_proves_no_path_for_pytest(pytester: pytest.Pytester) -> None:
    """Without a lab: a simulated site on loopback, required to be reached from the internet, fails every
    port test with the reason; without the key the same run passes."""
    from check_digitalsentry.simulator import SimSite, Simulator

    with Simulator([SimSite(name="hq", address="127.0.3.1", audio_clients=0)]) as sim:
        text = sim.inventory_toml()
        (pytester.path / "sites.toml").write_text(text.replace('name = "hq"', 'name = "hq"\nreached_from = "internet"'))
        result = pytester.runpytest("--dsports-inventory", "sites.toml")
        result.assert_outcomes(failed=8)
        result.stdout.fnmatch_lines(["hq: NOT PROVED — not a test of the NAT: the site's clients come from the "
                                     "internet (reached_from), but the probes went to 127.0.3.1 (loopback, this "
                                     "machine)*",
                                     "  to fix   test the site's public address*"])
        (pytester.path / "sites.toml").write_text(text)
        pytester.runpytest("--dsports-inventory", "sites.toml").assert_outcomes(passed=8)
        adhoc = pytester.runpytest("--dsports-host", "127.0.3.1 reached_from=vpn "
                                   + " ".join(f"ports.{r}={p}" for r, p in sim.sites[0].remapped_ports().items())
                                   + f" sql_instance={sim.sites[0].sql_instance}", "-k", "video")
        adhoc.assert_outcomes(failed=1, deselected=3)
        adhoc.stdout.fnmatch_lines(["adhoc: NOT PROVED — not a test of the VPN*"])


def test_an_unknown_path_is_a_mistake_with_one_line() -> None:
    run = subprocess.run([script("check_digitalsentry"), "-H", "127.0.0.1", "--reached-from", "satellite"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 3
    assert run.stdout == "DIGITALSENTRY UNKNOWN - --reached-from: expected internet, lan or vpn, got 'satellite'\n"


def test_the_watch_says_what_its_rounds_proved_and_audio_is_not_testable() -> None:
    """The live view (--watch): its header says what the last round proved, and that a site is not proved;
    the phone page's verdict too; an audio row on an idle server reads NOT TESTABLE, never OK."""
    from check_digitalsentry.render import watch as terminal
    from check_digitalsentry.render import watchpage
    from check_digitalsentry.steady import Watch

    inside = point_run("10.20.0.5", "10.20.0.9", True, "10.20.0.0/24", "internet")
    audio = port("audio", 18778, Status.CLOSED, transport="udp", severity=State.OK,
                 detail="ICMP port unreachable: nothing listens on UDP 18778")
    audio.address = "10.20.0.5"
    inside.report.results.append(audio)
    inside = JudgedSite(inside.report)
    watch = Watch()
    watch.observe(JudgedRun([inside], 0.1), 1_795_000_000.0)
    header = terminal.header(watch, 1_795_000_001.0, interval=5, timeout=4, probing=False, ends="ends: Ctrl-C")
    assert "proved: from inside the site network" in header
    assert any(line.startswith("hq: NOT PROVED: not a test of the NAT: the site's clients come from the internet")
               for line in header), header
    [row] = [row for row in watch.rows.values() if row.role == "audio"]
    assert row.word == "NOT TESTABLE" and row.state is State.OK
    snap = json.loads(watchpage.snapshot(watch, 1_795_000_001.0, interval=5, ends_at=1_795_000_100.0,
                                         until_ok=True, qualified=False))
    assert snap["verdict"] == "UNKNOWN" and "NOT PROVED (hq)" in snap["verdict_text"]
    assert [r["css"] for r in snap["rows"] if r["role"] == "audio"] == ["untested"]
    assert snap["proved"] == [{"site": "hq", "proved": "from inside the site network", "ok": False,
                               "reason": inside.vantage.reason}]
    assert not watch.until_ok  # a watch --watch-until ok never ends OK on a path it cannot prove
