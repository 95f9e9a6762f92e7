"""The vantage point, judged (judge layer): which path a run's probes proved, and whether it is the path the
site's clients take (``Site.reached_from``).

A port that answers proves the path the probe took, and no other. A run from inside the customer's network
against the DS server's private address passes, and proves nothing about the router's NAT that clients from
the internet go through. So every run classifies each address it probed and the local source address it
used (``addresses.kind``; and, from the engine's facts, whether the address is on one of this machine's own
networks), and says what was proved:

- ``outside`` -- a public address: "through NAT from outside" (on one of this machine's networks too: then
  this machine sits beside the router's internet side, still outside the site's network);
- ``inside`` -- a private address on one of this machine's own networks: "from inside the site network";
- ``routed`` -- a private address on none of them: through a VPN or a routed network (where this machine's
  networks are not known, inside and routed cannot be told apart, and the words say so);
- ``cgnat`` -- 100.64.0.0/10, carrier-grade NAT: a line without a public IPv4 address (or a VPN overlay);
- ``here`` -- loopback, or this machine's own address: no network at all.

A run from inside the site against the site's public address (the router's hairpin NAT) cannot be told from
one outside by what this machine sees: the documentation says to test from a second network.

With ``reached_from`` the site must prove its path: ``internet`` is proved by ``outside`` only, ``lan`` by
``inside`` or ``routed``, ``vpn`` by ``routed`` or ``cgnat`` (VPN overlays such as Tailscale use 100.64.0.0/10).
A site whose run cannot prove it is not passed: its ``Vantage`` is UNKNOWN, which makes the site UNKNOWN
(``judge.JudgedSite``). Without ``reached_from`` nothing changes state, and every output still says what
was proved. A target in 100.64.0.0/10 gets its own advice unless the site is reached through a VPN.

Each sentence exists for two readers, as all advice does (``judge.advice``): the technician's (the status
line, JSON, the document's technical appendix) and the customer's (the handover document's body: no
option names, no protocol words).
"""

from __future__ import annotations

from check_digitalsentry.addresses import CGNAT, LOOPBACK, PUBLIC, kind
from check_digitalsentry.model import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from check_digitalsentry.model import PortResult
    from check_digitalsentry.schema import Site

OUTSIDE, INSIDE, ROUTED, CARRIER, HERE = "outside", "inside", "routed", "cgnat", "here"

#: What each path proves, in the technician's words and in the customer's.
PROVED = {
    OUTSIDE: "through NAT from outside",
    INSIDE: "from inside the site network",
    ROUTED: "to a private address from another network (a VPN or a routed network)",
    CARRIER: "to a carrier-grade NAT address (100.64.0.0/10), not reachable from the internet",
    HERE: "on this machine itself (loopback): no network in between",
}
#: A private address where this machine's own networks are not known (not Linux): inside, or routed.
PROVED_PRIVATE_UNKNOWN = "to a private address: from inside the site network or through a VPN (this system " \
                         "does not say which)"
CUSTOMER_PROVED = {
    OUTSIDE: "from outside the site, through its internet address (as clients on the internet come)",
    INSIDE: "from inside the site's own network",
    ROUTED: "to the server's private address, from another network (a VPN or another part of the network)",
    CARRIER: "to an address of the internet provider's shared range (carrier-grade NAT)",
    HERE: "on the test machine itself: no network was tested",
}
CUSTOMER_PRIVATE_UNKNOWN = "to the server's private address (from inside the site network or through a VPN)"
#: The same in a few words, for a table.
SHORT = {OUTSIDE: "from outside, through NAT", INSIDE: "from inside the site", ROUTED: "to a private address",
         CARRIER: "to a shared provider address", HERE: "on the test machine only"}

#: The paths that prove each requirement.
PROVES = {"internet": (OUTSIDE,), "lan": (INSIDE, ROUTED), "vpn": (ROUTED, CARRIER)}
#: What a run that does not prove a requirement is not: "not a test of the NAT".
NOT_A_TEST = {"internet": "not a test of the NAT", "lan": "not a test of the site network",
              "vpn": "not a test of the VPN"}
#: What to do instead, for each requirement: (technician, customer).
RETEST = {
    "internet": ("test the site's public address (the internet address of its router) from a machine outside "
                 "the site's network, such as one on another internet line or a phone's hotspot; or set "
                 "reached_from to the path the site's clients really take (lan, vpn)",
                 "repeat the test from outside the site (for example from another internet connection), "
                 "against the site's internet address"),
    "lan": ("test from a machine inside the site network, against the DS server's address there",
            "repeat the test from a computer inside the site's network"),
    "vpn": ("test from a machine connected through the site's VPN, against the DS server's address behind it",
            "repeat the test from a computer connected through the site's VPN"),
}
CGNAT_ADVICE = (
    "{address} is in 100.64.0.0/10, carrier-grade NAT: if it is the site's internet address, its line has no "
    "public IPv4 address and port forwarding cannot work; ask the internet provider for a public IPv4 address, "
    "or reach the site through a VPN (reached_from = vpn: VPN overlays such as Tailscale use this range too)",
    "the site's internet line has no public IPv4 address of its own (the internet provider shares one among "
    "many customers: carrier-grade NAT), so clients on the internet cannot reach the DS server by port "
    "forwarding; ask your internet provider for a public IPv4 address, or connect through a VPN",
)


class Point:
    """One address a site's probes went to: its kind, whether it is on one of this machine's networks
    (``on_link``: None where this system does not say; ``network``: which), the source address the probes
    used and its kind, and the path that makes (``path``: ``OUTSIDE``...)."""

    __slots__ = ("address", "address_kind", "host", "network", "on_link", "path", "source", "source_kind")

    def __init__(self, host: str, address: str, source: str | None, on_link: bool | None,
                 network: str | None) -> None:
        self.host = host
        self.address = address
        self.address_kind = kind(address) or PUBLIC
        self.source = source
        self.source_kind = kind(source) if source else None
        self.on_link = on_link
        self.network = network
        what = self.address_kind
        if what == LOOPBACK or address == source:
            self.path = HERE
        elif what == PUBLIC:
            self.path = OUTSIDE
        elif what == CGNAT:
            self.path = CARRIER
        elif on_link:
            self.path = INSIDE
        else:  # private, unique-local, link-local on none of this machine's networks (or not known)
            self.path = ROUTED

    @property
    def unsure(self) -> bool:
        """A private address where this machine's networks are not known: inside or routed, nobody knows."""
        return self.path == ROUTED and self.on_link is None

    @property
    def proved(self) -> str:
        return PROVED_PRIVATE_UNKNOWN if self.unsure else PROVED[self.path]

    @property
    def customer_proved(self) -> str:
        return CUSTOMER_PRIVATE_UNKNOWN if self.unsure else CUSTOMER_PROVED[self.path]

    def where(self) -> str:
        """``10.0.0.5 (private, on this machine's network 10.0.0.0/24) from 10.0.0.9 (private)``."""
        if self.path == HERE:
            place = "this machine" if self.address_kind == LOOPBACK else "this machine's own address"
        elif self.on_link:
            place = f"on this machine's network {self.network}"
        elif self.on_link is None:
            place = "this system does not say whether it is on one of its networks"
        else:
            place = "on none of this machine's networks"
        source = f" from {self.source} ({self.source_kind})" if self.source else ""
        return f"{self.address} ({self.address_kind}, {place}){source}"

    def as_dict(self) -> dict[str, object]:
        return {"host": self.host, "address": self.address, "address_kind": self.address_kind,
                "on_link": self.on_link, "local_network": self.network or None, "source": self.source,
                "source_kind": self.source_kind, "path": self.path, "proved": self.proved}

    def __repr__(self) -> str:
        return f"Point({self.where()}: {self.path})"


class Vantage:
    """What a site's run proved about the path its clients take, and whether that is enough.

    ``points`` are the addresses probed (each once, in report order); ``required`` the site's
    ``reached_from`` (or None); ``state`` OK, or UNKNOWN when the run cannot prove the required path;
    ``reason`` then says why ("not a test of the NAT: ..."); ``advice`` is what to do, for a path not proved
    or a carrier-grade NAT address (which gets its advice whatever is required, except through a VPN) --
    each of ``reason`` and ``advice`` with its customer twin (``customer_reason``, ``customer_advice``).
    """

    __slots__ = ("advice", "customer_advice", "customer_reason", "points", "reason", "required", "state")

    def __init__(self, points: list[Point], required: str | None) -> None:
        self.points = points
        self.required = required
        self.state = State.OK
        self.reason = self.customer_reason = self.advice = self.customer_advice = ""
        wrong = [p for p in points if required is not None and p.path not in PROVES[required]]
        carrier = next((p for p in points if p.path == CARRIER), None)
        if wrong:
            point = wrong[0]
            self.state = State.UNKNOWN
            more = len(wrong) - 1
            others = f" (and {more} more address{'es' if more > 1 else ''})" if more else ""
            self.reason = (f"{NOT_A_TEST[required or '']}: the site's clients come from the {required}"
                           f"{' (reached_from)' if required else ''}, but the probes went to {point.where()}"
                           f"{others}: {point.proved}")
            self.customer_reason = (f"This test is {NOT_A_TEST[required or '']}: the site's clients come "
                                    f"{CLIENTS[required or '']}, but the test ran {point.customer_proved}.")
            self.advice, self.customer_advice = RETEST[required or ""]
        if carrier is not None and required != "vpn":
            self.advice, self.customer_advice = (CGNAT_ADVICE[0].format(address=carrier.address),
                                                 CGNAT_ADVICE[1])

    @property
    def ok(self) -> bool:
        return self.state is State.OK

    @property
    def proved(self) -> str:
        """What the run proved, in the technician's words: one phrase, or one per address where they differ."""
        return _summary(self.points, lambda p: p.proved)

    @property
    def customer_proved(self) -> str:
        return _summary(self.points, lambda p: p.customer_proved)

    @property
    def short(self) -> str:
        """What the run proved in a few words ("from outside, through NAT"), for a table."""
        paths = list(dict.fromkeys(SHORT[p.path] for p in self.points))
        return "nothing probed" if not paths else paths[0] if len(paths) == 1 else "; ".join(paths)

    def as_dict(self) -> dict[str, object]:
        return {"reached_from": self.required, "state": str(self.state), "proved": self.proved,
                "reason": self.reason, "advice": self.advice, "customer_advice": self.customer_advice,
                "addresses": [p.as_dict() for p in self.points]}

    def __repr__(self) -> str:
        return f"Vantage({self.state}, {self.proved!r})"


CLIENTS = {"internet": "from the internet, through the site's internet address",
            "lan": "from inside the site's own network", "vpn": "through the site's VPN"}


def _summary(points: list[Point], words: Callable[[Point], str]) -> str:
    if not points:
        return "nothing: no address was probed"
    phrases = list(dict.fromkeys(words(p) for p in points))
    if len(phrases) == 1:
        return str(phrases[0])
    return "; ".join(f"{p.address}: {words(p)}" for p in points)


def judge_vantage(site: Site, results: Iterable[PortResult]) -> Vantage:
    """The vantage point of a site's results: each address probed (once, with the source most of its probes
    used), judged against the site's ``reached_from``."""
    seen: dict[tuple[str, str], tuple[PortResult, dict[str, int]]] = {}
    for r in results:  # one pass: a fleet judges tens of thousands of sites
        if r.address is None:
            continue
        entry = seen.get((r.host, r.address))
        if entry is None:
            entry = seen[(r.host, r.address)] = (r, {})
        if r.source:
            entry[1][r.source] = entry[1].get(r.source, 0) + 1
    points = []
    for (host, address), (first, used) in seen.items():
        source = max(used, key=used.__getitem__) if used else None
        points.append(Point(host, address, source, first.facts.on_link, first.facts.local_network))
    return Vantage(points, site.reached_from)
