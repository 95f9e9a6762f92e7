"""Kinds of address (core layer, no I/O): what an IP address says about the path a probe took -- the vantage
point of a run.

``kind`` names the kind of an address: ``public``, ``private`` (RFC 1918), ``carrier-grade NAT``
(100.64.0.0/10, RFC 6598: an internet provider's NAT, or a VPN overlay such as Tailscale's), ``loopback``,
``link-local`` or ``unique-local`` (IPv6 fc00::/7). ``Networks`` holds this machine's own networks (the
on-link routes and prefixes the engine reads from the system) and says which one an address is on.

Plain integer arithmetic over ``socket.inet_pton``: ``ipaddress`` costs start-up time on every check, and
counts documentation ranges such as 198.51.100.0/24 as private, which for the path they stand for they
are not (a test lab uses them as public addresses).
"""

from __future__ import annotations

import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

PUBLIC, PRIVATE, CGNAT, LOOPBACK = "public", "private", "carrier-grade NAT", "loopback"
LINK_LOCAL, UNIQUE_LOCAL = "link-local", "unique-local"

#: (network, prefix length, kind) of IPv4, first match wins; anything else is public.
_V4 = (
    ("127.0.0.0", 8, LOOPBACK),
    ("10.0.0.0", 8, PRIVATE),
    ("172.16.0.0", 12, PRIVATE),
    ("192.168.0.0", 16, PRIVATE),
    ("100.64.0.0", 10, CGNAT),
    ("169.254.0.0", 16, LINK_LOCAL),
)
_V6 = (
    ("::1", 128, LOOPBACK),
    ("fe80::", 10, LINK_LOCAL),
    ("fc00::", 7, UNIQUE_LOCAL),
)


def number(address: str) -> tuple[int, int] | None:
    """(4 or 6, the address as an integer); an IPv4-mapped IPv6 address as its IPv4 one; None for what
    is not an address. A scope (``fe80::1%eth0``) is dropped."""
    text = address.partition("%")[0]
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
        value = int.from_bytes(packed, "big")
        if version == 6 and value >> 32 == 0xFFFF:
            return 4, value & 0xFFFFFFFF
        return version, value
    return None


def _mask(width: int, length: int) -> int:
    return ((1 << length) - 1) << (width - length) if length else 0


def _table(rows: Iterable[tuple[str, int, str]], version: int) -> list[tuple[int, int, str]]:
    width = 32 if version == 4 else 128
    table = []
    for net, length, what in rows:
        found = number(net)
        assert found is not None
        table.append((found[1], _mask(width, length), what))
    return table


_TABLES = {4: _table(_V4, 4), 6: _table(_V6, 6)}
_KINDS: dict[str, str | None] = {}


def kind(address: str) -> str | None:
    """The kind of an address (see the module); None for what is not an address."""
    found = _KINDS.get(address, "")
    if found != "":
        return found
    parsed = number(address)
    what: str | None = None
    if parsed is not None:
        version, value = parsed
        what = next((name for net, mask, name in _TABLES[version] if value & mask == net), PUBLIC)
    if len(_KINDS) < 4096:
        _KINDS[address] = what
    return what


class Networks:
    """This machine's own networks: (version, network, prefix length, text) of each on-link route or
    prefix, longest prefix first. ``known`` is False where the system does not say (then ``find`` is
    None: nobody knows)."""

    __slots__ = ("known", "nets")

    def __init__(self, nets: Iterable[tuple[int, int, int]] = (), known: bool = True) -> None:
        self.known = known
        self.nets = sorted(set(nets), key=lambda net: -net[2])

    def find(self, address: str) -> str | None:
        """``10.0.0.0/24``, the network of this machine that ``address`` is on; "" when it is on none; None
        when this machine's networks are not known (or ``address`` is not an address)."""
        parsed = number(address)
        if not self.known or parsed is None:
            return None
        version, value = parsed
        for net_version, net, length in self.nets:
            width = 32 if net_version == 4 else 128
            if net_version == version and value & _mask(width, length) == net:
                return f"{_text(version, net)}/{length}"
        return ""

    def __repr__(self) -> str:
        shown = ", ".join(f"{_text(v, n)}/{p}" for v, n, p in self.nets)
        return f"Networks({shown})" if self.known else "Networks(unknown)"


def _text(version: int, value: int) -> str:
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


#: Route flags of /proc/net/route: RTF_UP, RTF_GATEWAY, RTF_REJECT.
_RTF_UP, _RTF_GATEWAY, _RTF_REJECT = 0x1, 0x2, 0x200


def ipv4_routes(text: str) -> list[tuple[int, int, int]]:
    """The on-link IPv4 networks of Linux's ``/proc/net/route``: routes that are up, without a gateway,
    not rejecting, and not the default route (a VPN's ``default dev tun0`` says nothing of where the
    site is)."""
    nets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest, gateway, flags, mask = (int(fields[i], 16) for i in (1, 2, 3, 7))
        except ValueError:
            continue
        if not flags & _RTF_UP or flags & (_RTF_GATEWAY | _RTF_REJECT) or gateway or not mask:
            continue
        # little-endian words, as the kernel prints them
        dest = int.from_bytes(dest.to_bytes(4, "little"), "big")
        mask = int.from_bytes(mask.to_bytes(4, "little"), "big")
        length = bin(mask).count("1")
        nets.append((4, dest & _mask(32, length), length))
    return nets


def ipv6_prefixes(text: str) -> list[tuple[int, int, int]]:
    """The IPv6 networks of this machine's addresses, from Linux's ``/proc/net/if_inet6`` (address,
    interface index, prefix length, scope, flags, name): loopback left out."""
    nets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[5] == "lo":
            continue
        try:
            value, length = int(fields[0], 16), int(fields[2], 16)
        except ValueError:
            continue
        if 0 < length <= 128:
            nets.append((6, value & _mask(128, length), length))
    return nets
