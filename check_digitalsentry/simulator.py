"""Simulated Digital Sentry site on loopback -- the simulator layer (a test and demo tool).

A ``Simulator`` runs one or many simulated DS sites (``SimSite``) on loopback addresses: the SQL Server
Browser on UDP, the SQL Server PRELOGIN on TCP, the video, diagnostics and Pelco API ports, DSWebService
(TLS with the packaged self-signed certificate, ``data/``) and the silent audio UDP ports. It speaks the
wire formats through the protocol codecs (``protocols.ssrp``, ``protocols.tds``) and never imports the
probe engine: it is what the engine (or anything else) probes. Nothing in the core imports it.

Usage::

    with Simulator([SimSite(faults={"video": "off"})]) as sim:
        print(sim.command_line())      # check_digitalsentry -H 127.0.0.1 --port sql-browser=41234 ...
        site = sim.sites[0]            # site.ports: role -> actual port; site.sql_port

    dsports-simulator --sites 500 --inventory fleet.toml    # or python -m check_digitalsentry.simulator

Strategy: every socket is bound in the caller's thread (so a bind failure is an ``OSError`` from
``start()`` naming the site, role, address and port), then handed to an asyncio event loop in one
daemon thread. Each role is a small ``asyncio.Protocol``, no tasks: replies are sent from callbacks,
``latency`` is a ``call_later`` before the first reply, and a connection that never completes its
request is closed after ``REQUEST_TIMEOUT``. TLS is done over ``ssl.MemoryBIO`` so that latency, the
TLS-first detection of the ``strict`` fault and the plain roles share one code path. ``close()`` stops
the loop and closes every listening socket, endpoint and accepted connection before it returns.

Behaviour per role (as a real DS site, see ``shared/reference/digital-sentry.md``):

- ``sql-browser`` (UDP): CLNT_UCAST_EX / CLNT_BCAST_EX get every instance; CLNT_UCAST_INST the named
  instance (any case), silence when unknown; CLNT_UCAST_DAC ``build_dac_response(sql port)``; invalid
  requests: silence. Each instance's ``tcp`` is the simulator's real SQL port.
- ``sql`` (TCP): one TDS packet is read (bounded, ``REQUEST_TIMEOUT``); a PRELOGIN gets a PRELOGIN reply
  and the connection is held until the client closes it; anything else is closed.
- ``video``, ``diagnostics``, ``api-*`` (TCP): accepted and held, input discarded, closed with the client.
- ``web`` (TCP): TLS server; after the handshake any bytes get ``HTTP/1.1 200 OK`` and the close.
- ``audio`` (UDP): bound and silent.

Faults (``SimSite(faults={role: fault})``, the valid ones per role are in ``FAULTS``):

- ``off`` (any role): the port is not bound (its number is reserved by binding and closing it):
  TCP connects are refused, UDP datagrams draw ICMP port unreachable -- the probe says ``closed``.
- ``tarpit`` (TCP roles): accepted, never answered, never closed until the simulator stops.
- ``reset`` (TCP roles): accepted, then reset (SO_LINGER 0) before any reply.
- ``sql-browser``: ``silent`` (bound, never answers); ``garbage`` (answers every datagram with
  ``b"\\x05hello"``, an SVR_RESP whose RESP_SIZE is wrong); ``truncated`` (a valid reply cut in half);
  ``wrong-instance`` (the only instance is ``DSOTHER``: the configured one is unknown);
  ``several`` (two instances -- ``SQLEXPRESS`` is added to a single one -- each with its own SQL
  listener); ``no-tcp`` (the instance lists named pipes only).
- ``sql``: ``garbage`` (answers with an HTTP error, not TDS); ``strict`` (TDS 8.0 strict: a plaintext
  PRELOGIN is closed unanswered, a TLS ClientHello gets a TLS handshake, then PRELOGIN inside TLS).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import functools
import ipaddress
import json
import shlex
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from pathlib import Path
from typing import cast

from . import catalogue
from .inventory import MAX_AUDIO_CLIENTS
from .model import Site
from .protocols import MalformedReply, ssrp, tds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import FrameType, TracebackType
    from typing import Any, Union

    #: An instance: a name, (name, version) with version "15.0.2000.5" or (15, 0, 2000, 5), or an
    #: ``ssrp.Instance`` (its name and version are used).
    InstanceSpec = Union[str, tuple[str, Union[str, tuple[int, ...]]], ssrp.Instance]
    Version = tuple[int, int, int, int]

DATA_DIR = Path(__file__).resolve().with_name("data")
CERT_FILE = DATA_DIR / "simulator-cert.pem"  #: the web role's self-signed certificate (a test key)
KEY_FILE = DATA_DIR / "simulator-key.pem"
CERT_CN = "ds-simulator.invalid"

#: Every built-in role, in catalogue order: what a SimSite runs by default.
DEFAULT_ROLES: tuple[str, ...] = catalogue.BUILTIN_ROLE_NAMES
_TRANSPORT = {role.name: role.transport for role in catalogue.ROLES}

#: The SQL port of the "standard" layout (the catalogue's SQL port is dynamic).
STANDARD_SQL_PORT = 49172
#: The catalogue's ports (443 for web needs root, or a lowered ip_unprivileged_port_start).
STANDARD_PORTS: dict[str, int] = {
    role.name: STANDARD_SQL_PORT if role.port is None else role.port for role in catalogue.ROLES
}
#: A fixed layout on unprivileged ports, shared by the sites of a fleet (one address each).
HIGH_PORTS: dict[str, int] = {
    "sql-browser": 11434, "sql": 49172, "video": 18772, "diagnostics": 17772, "web": 10443,
    "api-system": 60001, "api-playback": 60002, "api-camera": 60010, "audio": 18778,
}
LAYOUTS = ("ephemeral", "standard", "high")

_TCP_FAULTS = ("off", "tarpit", "reset")
#: role -> the faults it can be given (see the module docstring for what each does).
FAULTS: dict[str, tuple[str, ...]] = {
    "sql-browser": ("off", "silent", "garbage", "truncated", "wrong-instance", "several", "no-tcp"),
    "sql": (*_TCP_FAULTS, "garbage", "strict"),
    "video": _TCP_FAULTS,
    "diagnostics": _TCP_FAULTS,
    "web": _TCP_FAULTS,
    "api-system": _TCP_FAULTS,
    "api-playback": _TCP_FAULTS,
    "api-camera": _TCP_FAULTS,
    "audio": ("off",),
}

DEFAULT_INSTANCE = "DIGITALSENTRY"
DEFAULT_SQL_VERSION: Version = (15, 0, 2000, 5)
WRONG_INSTANCE = "DSOTHER"  #: the only instance under the ``wrong-instance`` fault
SECOND_INSTANCE = "SQLEXPRESS"  #: the instance added by the ``several`` fault
FLEET_FIRST = "127.0.1.1"  #: the first address of a fleet

#: Seconds a client may take to send its whole request (TDS packet; TLS handshake and request).
REQUEST_TIMEOUT = 30.0
#: Pending connections per listening socket.
BACKLOG = 128

BROWSER_GARBAGE = b"\x05hello"  #: starts like SVR_RESP, but RESP_SIZE (0x6568) does not match
SQL_GARBAGE = b"HTTP/1.1 400 Bad Request\r\nServer: not-sql-server\r\nConnection: close\r\n\r\n"
HTTP_OK = (b"HTTP/1.1 200 OK\r\nServer: dsports-simulator\r\nContent-Type: text/plain\r\n"
           b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


class SimSite:
    """One simulated DS site (one loopback address). All arguments are keywords.

    ``ports`` is the layout: None or ``"ephemeral"`` (every role on a port the kernel picks),
    ``"standard"`` (``STANDARD_PORTS``), ``"high"`` (``HIGH_PORTS``), or a dict role -> port (0, or a
    role left out, means ephemeral). ``instances`` are the SQL instances (see ``InstanceSpec``); the
    first is the one the check asks for. ``faults`` maps roles to fault names (``FAULTS``);
    ``latency`` is seconds added before every reply (Browser, PRELOGIN, TLS handshake).
    ``in_netns=True`` lifts the loopback rule, for a simulator run inside a network namespace that
    the caller made itself (the firewall and NAT tests): the address is then the namespace's own.

    Once the simulator runs, ``ports`` holds role -> actual port (``audio``: the first of
    ``audio_clients`` consecutive ports), ``sql_port`` the SQL port and ``sql_ports`` the port of each
    SQL listener (two under the ``several`` fault). ValueError for any bad argument.
    """

    def __init__(
        self,
        *,
        name: str = "sim",
        address: str = "127.0.0.1",
        instances: Sequence[InstanceSpec] | None = None,
        ports: str | Mapping[str, int] | None = None,
        roles: Sequence[str] | None = None,
        audio_clients: int = 2,
        faults: Mapping[str, str] | None = None,
        latency: float = 0.0,
        sql_encryption: int = tds.ENCRYPT_NOT_SUP,
        in_netns: bool = False,
    ) -> None:
        if not name or not _NAME_CHARS.issuperset(name):
            raise ValueError(f"site name {name!r}: use letters, digits, '.', '_' or '-'")
        self.name = name
        self.address = _loopback(address, in_netns)
        self.family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        self.roles: tuple[str, ...] = _roles(DEFAULT_ROLES if roles is None else roles)
        if isinstance(audio_clients, bool) or not 0 <= audio_clients <= MAX_AUDIO_CLIENTS:
            raise ValueError(f"audio_clients must be 0-{MAX_AUDIO_CLIENTS}, got {audio_clients!r}")
        self.audio_clients = audio_clients
        #: role -> requested port (0: ephemeral), for every role that binds a port
        self.layout: dict[str, int] = _layout(ports, tuple(r for r in self.roles if r != "audio" or audio_clients))
        base = self.layout.get("audio", 0)
        if base and base + audio_clients - 1 > 65535:
            raise ValueError(f"{audio_clients} audio ports from {base} run past 65535")
        self.faults: dict[str, str] = _faults(faults or {}, self.roles)
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not 0 <= latency <= 3600:
            raise ValueError(f"latency must be 0-3600 seconds, got {latency!r}")
        self.latency = float(latency)
        self.instances: list[tuple[str, Version]] = [
            _instance(spec) for spec in ([DEFAULT_INSTANCE] if instances is None else instances)
        ]
        if not self.instances:
            raise ValueError("a site needs at least one SQL instance")
        names = [n.lower() for n, _ in self.instances]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate instance names in {[n for n, _ in self.instances]}")
        self.sql_encryption = sql_encryption
        self.ports: dict[str, int] = {}
        self.sql_port: int | None = None
        self.sql_ports: list[int] = []
        # The codecs check what they will be asked to encode: fail here, not in the server thread.
        for _, version in self.served_instances():
            tds.build_prelogin_response(version=version, encryption=sql_encryption)
        ssrp.build_response(self.browser_instances())

    def __repr__(self) -> str:
        return f"SimSite({self.name!r}, {self.address}, ports={self.ports or self.layout!r})"

    # -- what the site looks like from outside

    @property
    def sql_instance(self) -> str:
        """The instance the check asks the Browser for (the first configured one)."""
        return self.instances[0][0]

    @property
    def web(self) -> bool:
        return "web" in self.roles

    @property
    def api(self) -> bool:
        return any(role.startswith("api-") for role in self.roles)

    @property
    def audio_count(self) -> int:
        """How many audio ports run (``audio_clients``, or 0 without the audio role)."""
        return self.audio_clients if "audio" in self.roles else 0

    @property
    def server_name(self) -> str:
        """The host name the Browser reports."""
        return self.name.upper()

    def served_instances(self) -> list[tuple[str, Version]]:
        """The instances as the Browser lists them, after its fault (``wrong-instance``, ``several``)."""
        fault = self.faults.get("sql-browser")
        if fault == "wrong-instance":
            return [(WRONG_INSTANCE, self.instances[0][1])]
        if fault == "several" and len(self.instances) < 2:
            return [*self.instances, (SECOND_INSTANCE, self.instances[0][1])]
        return list(self.instances)

    def browser_instances(self) -> list[ssrp.Instance]:
        """The Browser's instance records; ``tcp`` is the real SQL port once the simulator runs."""
        fault = self.faults.get("sql-browser")
        records = []
        for index, (name, version) in enumerate(self.served_instances()):
            port: int | None = None
            if fault != "no-tcp" and self.sql_ports:
                port = self.sql_ports[index] if fault == "several" else self.sql_ports[0]
            records.append(ssrp.Instance(
                self.server_name, name, version=".".join(map(str, version)), tcp_port=port,
                pipe_name=f"\\\\{self.server_name}\\pipe\\MSSQL${name}\\sql\\query",
            ))
        return records

    def known_ports(self) -> dict[str, int]:
        """role -> port for every running role: the actual ports once started, else a fixed layout.

        RuntimeError when ephemeral ports are asked for before the simulator has bound them.
        """
        if self.ports:
            return dict(self.ports)
        if any(port == 0 for port in self.layout.values()):
            raise RuntimeError(f"site {self.name}: ephemeral ports are known only once the simulator runs")
        return dict(self.layout)

    def remapped_ports(self) -> dict[str, int]:
        """role -> port for the roles a check must be told about: not on the standard port, not SQL
        (the check learns the SQL port from the Browser, as DS ControlPoint does)."""
        return {role: port for role, port in self.known_ports().items()
                if role != "sql" and port != STANDARD_PORTS[role]}

    def to_site(self) -> Site:
        """The ``model.Site`` a probe of this simulated site is configured with."""
        return Site(self.name, (self.address,), sql_instance=self.sql_instance, web=self.web, api=self.api,
                    audio_clients=self.audio_count, ports=self.remapped_ports())

    def command_line(self) -> str:
        """The exact ``check_digitalsentry`` command that checks this site."""
        args = ["check_digitalsentry", "-H", self.address]
        for role, port in self.remapped_ports().items():
            args += ["--port", f"{role}={port}"]
        if self.web:
            args.append("--web")
        if self.api:
            args.append("--api")
        if self.audio_count:
            args += ["--audio-clients", str(self.audio_count)]
        args += ["--sql-instance", self.sql_instance]
        return shlex.join(args)


def _loopback(address: str, in_netns: bool = False) -> str:
    """The address, checked to be loopback -- unless ``in_netns``: the caller runs the simulator inside a
    network namespace it made itself (the firewall/NAT tests), where the address is the namespace's own."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"address {address!r} is not an IP address (use 127.0.0.0/8 or ::1)") from None
    if in_netns:
        return str(ip)
    # ::1 alone for IPv6: Python 3.13 also calls IPv4-mapped ::ffff:127.0.0.1 loopback.
    if not ip.is_loopback or (ip.version == 6 and ip != ipaddress.IPv6Address("::1")):
        raise ValueError(f"address {address} is not loopback: the simulator binds 127.0.0.0/8 or ::1 only")
    return str(ip)


def _roles(roles: Sequence[str]) -> tuple[str, ...]:
    if isinstance(roles, str):
        roles = [roles]
    unknown = [role for role in roles if role not in _TRANSPORT]
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(map(repr, unknown))} (roles: {', '.join(DEFAULT_ROLES)})")
    return tuple(role for role in DEFAULT_ROLES if role in roles)


def _layout(ports: str | Mapping[str, int] | None, roles: tuple[str, ...]) -> dict[str, int]:
    if ports is None or ports == "ephemeral":
        wanted: Mapping[str, int] = {}
    elif ports == "standard":
        wanted = STANDARD_PORTS
    elif ports == "high":
        wanted = HIGH_PORTS
    elif isinstance(ports, str):
        raise ValueError(f"ports {ports!r}: expected {', '.join(LAYOUTS)}, or a dict role -> port")
    else:
        unknown = [role for role in ports if role not in _TRANSPORT]
        if unknown:
            raise ValueError(f"ports: unknown role(s) {', '.join(map(repr, unknown))}")
        for role, port in ports.items():
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                raise ValueError(f"ports: {role} must be 0-65535 (0: ephemeral), got {port!r}")
        wanted = ports
    return {role: wanted.get(role, 0) for role in roles}


def _faults(faults: Mapping[str, str], roles: tuple[str, ...]) -> dict[str, str]:
    for role, fault in faults.items():
        if role not in FAULTS:
            raise ValueError(f"fault for unknown role {role!r} (roles: {', '.join(FAULTS)})")
        if fault not in FAULTS[role]:
            raise ValueError(f"unknown fault {fault!r} for {role} (valid: {', '.join(FAULTS[role])})")
        if role not in roles:
            raise ValueError(f"fault {fault!r} for {role}, which does not run")
    if faults.get("sql-browser") == "several" and "sql" not in roles:
        raise ValueError("fault 'several' for sql-browser needs the sql role")
    return dict(faults)


def _instance(spec: InstanceSpec) -> tuple[str, Version]:
    if isinstance(spec, str):
        name, version = spec, DEFAULT_SQL_VERSION
    elif isinstance(spec, ssrp.Instance):
        name, version = spec.instance_name, _version(spec.version)
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name, version = spec[0], _version(spec[1])
    else:
        raise ValueError(f"instance {spec!r}: expected a name, (name, version) or an ssrp.Instance")
    ssrp.build_request(name)  # ValueError for a name no client could ask for
    return name, version


def _version(value: str | tuple[int, ...]) -> Version:
    try:
        numbers = [int(part) for part in (value.split(".") if isinstance(value, str) else value)]
    except (TypeError, ValueError):
        numbers = []
    if not 1 <= len(numbers) <= 4 or min(numbers) < 0:
        raise ValueError(f"SQL version {value!r}: expected up to 4 numbers, e.g. '15.0.2000.5'")
    numbers += [0] * (4 - len(numbers))
    return (numbers[0], numbers[1], numbers[2], numbers[3])


def fleet_addresses(count: int, first: str = FLEET_FIRST) -> list[str]:
    """``count`` consecutive IPv4 loopback addresses from ``first``, skipping .0 and .255 last octets."""
    start = ipaddress.ip_address(_loopback(first))
    if not isinstance(start, ipaddress.IPv4Address):
        raise ValueError(f"a fleet needs IPv4 loopback addresses (127.0.0.0/8), got {first}")
    addresses: list[str] = []
    value = int(start)
    while len(addresses) < count:
        address = ipaddress.IPv4Address(value)
        if not address.is_loopback:
            raise ValueError(f"{count} sites from {first} run out of 127.0.0.0/8")
        if value & 0xFF not in (0, 255):
            addresses.append(str(address))
        value += 1
    return addresses


# --- the servers ----------------------------------------------------------------------------------


class _SiteRun:
    """What the servers of one running site share: its replies, prepared once."""

    def __init__(self, sim: Simulator, site: SimSite, loop: asyncio.AbstractEventLoop,
                 context: ssl.SSLContext | None) -> None:
        self.sim = sim
        self.site = site
        self.loop = loop
        self.context = context
        self.latency = site.latency
        self.browser_fault = site.faults.get("sql-browser")
        records = site.browser_instances()
        self.all_reply = ssrp.build_response(records)
        self.replies = {r.instance_name.lower(): ssrp.build_response([r]) for r in records}
        self.dac_reply = ssrp.build_dac_response(site.sql_ports[0]) if site.sql_ports else None
        self.versions = [version for _, version in site.served_instances()]

    def browser_reply(self, datagram: bytes) -> bytes | None:
        """What the Browser answers to ``datagram`` (None: silence)."""
        fault = self.browser_fault
        if fault == "silent":
            return None
        if fault == "garbage":
            return BROWSER_GARBAGE
        try:
            request = ssrp.parse_request(datagram)
        except MalformedReply:
            return None  # as the real service: invalid requests are ignored
        if request.kind in (ssrp.CLNT_UCAST_EX, ssrp.CLNT_BCAST_EX):
            reply: bytes | None = self.all_reply
        else:
            reply = self.replies.get((request.instance or "").lower())
            if reply is not None and request.kind == ssrp.CLNT_UCAST_DAC:
                reply = self.dac_reply
        if reply is not None and fault == "truncated":
            reply = reply[: len(reply) // 2]
        return reply


class _Browser(asyncio.DatagramProtocol):
    """sql-browser: answers SSRP requests (after ``latency``)."""

    def __init__(self, run: _SiteRun) -> None:
        self.run = run
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (not an isinstance check: before Python 3.12 asyncio's UDP transport does not subclass it)
        self.transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.run.browser_reply(data)
        if reply is None:
            return
        if self.run.latency:
            self.run.loop.call_later(self.run.latency, self._send, reply, addr)
        else:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str | Any, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class _Tls:
    """A server-side TLS session over memory buffers: bytes in, (bytes out, plaintext) out."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.established = False

    def feed(self, data: bytes) -> tuple[bytes, bytes, bool]:
        """Take bytes from the peer: (bytes to send, application data, whether the peer closed TLS).
        ssl.SSLError when the peer breaks the protocol (``pending()`` may then hold an alert)."""
        self.incoming.write(data)
        plain: list[bytes] = []
        closed = False
        if not self.established:
            try:
                self.obj.do_handshake()
                self.established = True
            except ssl.SSLWantReadError:
                pass
        while self.established:
            try:
                chunk = self.obj.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            plain.append(chunk)
        return self.pending(), b"".join(plain), closed

    def wrap(self, data: bytes) -> bytes:
        self.obj.write(data)
        return self.pending()

    def pending(self) -> bytes:
        return self.outgoing.read()

    def shutdown(self) -> bytes:
        """Our close_notify (we do not wait for the peer's)."""
        try:
            self.obj.unwrap()
        except ssl.SSLError:
            pass
        return self.pending()


class _Conn(asyncio.Protocol):
    """One accepted TCP connection. The base class holds it and discards what it reads (video,
    diagnostics, api-*); subclasses answer. Input is held back for ``latency`` when it first comes;
    with ``tls_first``, the first bytes must start a TLS handshake and the rest goes through TLS."""

    tls_first = False
    request_timeout = False  #: close the connection if its request is not complete in REQUEST_TIMEOUT

    def __init__(self, run: _SiteRun, fault: str | None, instance: int) -> None:
        self.run = run
        self.fault = fault
        self.instance = instance
        self.transport: asyncio.Transport | None = None
        self.tls: _Tls | None = None
        self.seen = False
        self.held: list[bytes] | None = None
        self.timers: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.run.sim._connections.add(transport)
        if self.run.sim._closing:
            transport.abort()
            return
        if self.request_timeout:
            self.timers.append(self.run.loop.call_later(REQUEST_TIMEOUT, self.close))
        self.opened()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.run.sim._connections.discard(self.transport)
        for timer in self.timers:
            timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self.held is not None:
            self.held.append(data)
            return
        if not self.seen:
            self.seen = True
            if self.run.latency:
                self.held = [data]
                self.timers.append(self.run.loop.call_later(self.run.latency, self._release))
                return
        self._feed(data)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def _release(self) -> None:
        held, self.held = self.held or [], None
        for data in held:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        if self.tls is None:
            if not self.tls_first:
                self.received(data)
                return
            if not tds.looks_like_tls(data) or self.run.context is None:
                self.transport.close()  # not a ClientHello: close, answer nothing
                return
            self.tls = _Tls(self.run.context)
        try:
            out, plain, closed = self.tls.feed(data)
        except ssl.SSLError:
            self.transport.write(self.tls.pending())
            self.transport.close()
            return
        if out:
            self.transport.write(out)
        if plain:
            self.received(plain)
        if closed:
            self.close()

    def opened(self) -> None:
        """Called once the connection is accepted."""

    def received(self, data: bytes) -> None:
        """Application bytes from the client (decrypted under TLS)."""

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(data if self.tls is None else self.tls.wrap(data))

    def close(self) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        if self.tls is not None and self.tls.established:
            self.transport.write(self.tls.shutdown())
        self.transport.close()

    def answered(self) -> None:
        """The request is complete: stop the request timer."""
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


class _Tarpit(_Conn):
    """tarpit: accepted, never answered, never closed (not even when the client closes)."""

    def eof_received(self) -> bool | None:
        return True


class _Reset(_Conn):
    """reset: accepted, then closed with SO_LINGER 0, so the client gets an RST before any reply."""

    def opened(self) -> None:
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class _Sql(_Conn):
    """sql: one TDS packet in, a PRELOGIN reply out (faults garbage and strict)."""

    request_timeout = True

    def __init__(self, run: _SiteRun, fault: str | None, instance: int) -> None:
        super().__init__(run, fault, instance)
        self.tls_first = fault == "strict"
        self.buffer = b""
        self.done = False

    def received(self, data: bytes) -> None:
        if self.done:
            return  # after PRELOGIN: held until the client closes, input discarded
        if self.fault == "garbage":
            self.done = True
            self.send(SQL_GARBAGE)
            self.close()
            return
        self.buffer += data
        if not tds.request_complete(self.buffer):
            return
        self.done = True
        self.answered()
        try:
            request = tds.parse_prelogin_request(self.buffer)
        except MalformedReply:
            self.close()  # not a PRELOGIN: a real server closes the connection
            return
        finally:
            self.buffer = b""
        # A server answers only the options the client sent: MARS only when asked (37 or 43 bytes).
        mars = 0 if tds.MARS in request.options else None
        self.send(tds.build_prelogin_response(version=self.run.versions[self.instance],
                                              encryption=self.run.site.sql_encryption, mars=mars))


class _Web(_Conn):
    """web: a TLS server; any request after the handshake gets ``200 OK`` and the close."""

    tls_first = True
    request_timeout = True

    def received(self, data: bytes) -> None:
        self.answered()
        self.send(HTTP_OK)
        self.close()


def _connection_class(role: str, fault: str | None) -> type[_Conn]:
    if fault == "tarpit":
        return _Tarpit
    if fault == "reset":
        return _Reset
    return {"sql": _Sql, "web": _Web}.get(role, _Conn)


class _Bound:
    """A socket bound (and listening, for TCP) by ``start()``, for the event loop to serve."""

    __slots__ = ("instance", "role", "site", "sock")

    def __init__(self, site: SimSite, role: str, sock: socket.socket, instance: int = 0) -> None:
        self.site = site
        self.role = role
        self.sock = sock
        self.instance = instance


def _bind(site: SimSite, role: str, port: int) -> socket.socket:
    transport = _TRANSPORT[role]
    sock = socket.socket(site.family, socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)
    try:
        if transport == "tcp":
            # Not for UDP: on Linux it would let two simulators share a UDP port without an error.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((site.address, port))
        if transport == "tcp":
            sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        where = f"{site.address} port {port or 'ephemeral'}/{transport}"
        raise OSError(exc.errno, f"site {site.name}: cannot bind {role} on {where}: {exc.strerror or exc}") \
            from exc
    return sock


def _bind_audio(site: SimSite, base: int, count: int) -> list[socket.socket]:
    """``count`` consecutive UDP ports from ``base`` (0: anywhere the kernel has a free run)."""
    for _attempt in range(1 if base else 64):
        socks = [_bind(site, "audio", base)]
        first = socks[0].getsockname()[1]
        try:
            if first + count - 1 > 65535:
                raise OSError(errno.EADDRINUSE, f"no room for {count} audio ports from {first}")
            socks += [_bind(site, "audio", first + i) for i in range(1, count)]
        except OSError:
            for sock in socks:
                sock.close()
            if base:
                raise
            continue
        return socks
    raise OSError(errno.EADDRINUSE, f"site {site.name}: found no {count} consecutive free UDP ports for audio "
                                    f"on {site.address}")


def _bind_site(site: SimSite, bound: list[_Bound]) -> None:
    """Bind every socket of ``site`` into ``bound`` and fill ``site.ports``; off roles are bound and
    closed at once, which reserves their number."""
    site.ports, site.sql_ports, site.sql_port = {}, [], None
    for role, port in site.layout.items():
        socks = _bind_audio(site, port, site.audio_clients) if role == "audio" else [_bind(site, role, port)]
        site.ports[role] = socks[0].getsockname()[1]
        if site.faults.get(role) == "off":
            for sock in socks:
                sock.close()
            continue
        bound.extend(_Bound(site, role, sock) for sock in socks)
    if "sql" in site.ports:
        site.sql_port = site.ports["sql"]
        site.sql_ports = [site.sql_port]
        if site.faults.get("sql-browser") == "several":
            for index in range(1, len(site.served_instances())):
                extra = _bind(site, "sql", 0)
                site.sql_ports.append(extra.getsockname()[1])
                bound.append(_Bound(site, "sql", extra, index))


def _ensure_fd_limit(sockets: int) -> None:
    """Raise the soft RLIMIT_NOFILE to the hard limit when the sockets (and as many connections to
    them, from clients in this process) might not fit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 3 * sockets + 256
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = max(needed, soft) if hard == resource.RLIM_INFINITY else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # pragma: no cover - then a bind says EMFILE
        pass


# --- the simulator --------------------------------------------------------------------------------


class Simulator:
    """Runs simulated sites on an asyncio loop in one daemon thread; a context manager.

    ``start()`` (or ``with``) returns once every socket is bound and served, or raises OSError naming
    the site, role, address and port that could not be bound; ``close()`` stops the loop and closes
    every socket. ``start_seconds`` is how long the last start took.
    """

    def __init__(self, sites: Sequence[SimSite] | None = None) -> None:
        self.sites: list[SimSite] = [SimSite()] if sites is None else list(sites)
        if not self.sites:
            raise ValueError("a simulator needs at least one site")
        names = [site.name.lower() for site in self.sites]
        if len(set(names)) != len(names):
            raise ValueError("site names must be unique (ignoring case)")
        self.start_seconds: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._closing = False
        self._servers: list[asyncio.AbstractServer] = []
        self._endpoints: list[asyncio.BaseTransport] = []
        self._connections: set[asyncio.Transport] = set()

    @classmethod
    def fleet(
        cls,
        count: int,
        *,
        ports: str | Mapping[str, int] | None = "high",
        first: str = FLEET_FIRST,
        name: str = "sim",
        **site_kwargs: Any,
    ) -> Simulator:
        """``count`` sites on consecutive loopback addresses from ``first`` (``fleet_addresses``), all on
        one port layout (``HIGH_PORTS`` by default), named ``NAME-001``, ``NAME-002``...; the other
        keywords are given to every ``SimSite``."""
        if count < 1:
            raise ValueError(f"a fleet needs at least one site, got {count}")
        width = max(3, len(str(count)))
        return cls([SimSite(name=f"{name}-{number:0{width}d}", address=address, ports=ports, **site_kwargs)
                    for number, address in enumerate(fleet_addresses(count, first), 1)])

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Simulator({len(self.sites)} site{'s' if len(self.sites) != 1 else ''}, {state})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        started = time.monotonic()
        _ensure_fd_limit(sum(len(site.roles) + site.audio_clients + 1 for site in self.sites))
        bound: list[_Bound] = []
        try:
            for site in self.sites:
                _bind_site(site, bound)
        except BaseException:
            for item in bound:
                item.sock.close()
            raise
        self._closing = False
        self._ready.clear()
        context = None
        if any(item.role == "web" or item.site.faults.get("sql") == "strict" for item in bound):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(CERT_FILE, KEY_FILE)
        loop = self._loop = asyncio.new_event_loop()
        runs = {site: _SiteRun(self, site, loop, context) for site in self.sites}
        self._thread = threading.Thread(target=self._run, args=(bound, runs), name="dsports-simulator",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            error, self._error = self._error, None
            self._thread.join()
            self._thread = self._loop = None
            raise error
        self.start_seconds = time.monotonic() - started
        return self

    def close(self) -> None:
        """Stop serving and close every socket; waits for the loop thread. Safe to call twice."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:  # the loop already closed
                pass
        thread.join()
        self._thread = self._loop = None

    # -- the loop thread

    def _run(self, bound: list[_Bound], runs: dict[SimSite, _SiteRun]) -> None:
        assert self._loop is not None
        loop = self._loop
        try:
            try:
                loop.run_until_complete(self._serve(bound, runs))
            except BaseException as exc:
                self._error = exc
            else:
                self._ready.set()
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
        finally:
            loop.close()
            self._ready.set()

    async def _serve(self, bound: list[_Bound], runs: dict[SimSite, _SiteRun]) -> None:
        loop = asyncio.get_running_loop()
        for index, item in enumerate(bound):
            run = runs[item.site]
            try:
                if item.sock.type == socket.SOCK_DGRAM:
                    factory: Callable[[], asyncio.BaseProtocol] = (
                        functools.partial(_Browser, run) if item.role == "sql-browser"
                        else asyncio.DatagramProtocol)
                    transport, _ = await loop.create_datagram_endpoint(factory, sock=item.sock)
                    self._endpoints.append(transport)
                else:
                    cls = _connection_class(item.role, item.site.faults.get(item.role))
                    self._servers.append(await loop.create_server(
                        functools.partial(cls, run, item.site.faults.get(item.role), item.instance),
                        sock=item.sock))
            except BaseException:
                for rest in bound[index:]:
                    rest.sock.close()
                raise

    async def _shutdown(self) -> None:
        self._closing = True
        for server in self._servers:
            server.close()
        for endpoint in self._endpoints:
            endpoint.close()
        for _ in range(3):  # connections accepted meanwhile are aborted by connection_made
            for transport in list(self._connections):
                transport.abort()
            await asyncio.sleep(0)
        for server in self._servers:
            await server.wait_closed()
        self._servers, self._endpoints = [], []
        self._connections.clear()

    # -- how to check the sites

    def site(self, name: str | SimSite | None = None) -> SimSite:
        """The site called ``name`` (ignoring case); the first site when None."""
        if name is None:
            return self.sites[0]
        if isinstance(name, SimSite):
            return name
        for site in self.sites:
            if site.name.lower() == name.lower():
                return site
        raise KeyError(f"no simulated site {name!r} (sites: {', '.join(s.name for s in self.sites)})")

    def command_line(self, site: str | SimSite | None = None) -> str:
        """The exact ``check_digitalsentry`` command that checks ``site`` (the first site by default)."""
        return self.site(site).command_line()

    def inventory_toml(self, path: str | Path | None = None) -> str:
        """A TOML inventory of every site (written to ``path`` too, when given).

        Ports off their standard number go in ``[sites.ports]``, or in ``[defaults.ports]`` when every
        site shares them (a fleet on one fixed layout).
        """
        remapped = [site.remapped_ports() for site in self.sites]
        shared = remapped[0] if len(self.sites) > 1 and remapped[0] and all(
            r == remapped[0] for r in remapped) else None
        lines = [f"# {len(self.sites)} simulated Digital Sentry site(s), written by dsports-simulator."]
        if shared is not None:
            lines += ["", "[defaults.ports]", *_toml_table(shared)]
        for site, ports in zip(self.sites, remapped):
            lines += [
                "", "[[sites]]",
                f"name = {_toml_str(site.name)}",
                f"hosts = [{_toml_str(site.address)}]",
                f"sql_instance = {_toml_str(site.sql_instance)}",
                f"web = {'true' if site.web else 'false'}",
                f"api = {'true' if site.api else 'false'}",
                f"audio_clients = {site.audio_count}",
            ]
            if shared is None and ports:
                lines += ["[sites.ports]", *_toml_table(ports)]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def _toml_str(text: str) -> str:
    return json.dumps(text)  # a JSON string with ASCII escapes is a TOML basic string


def _toml_table(ports: Mapping[str, int]) -> list[str]:
    return [f"{role} = {port}" for role, port in ports.items()]


# --- command line ---------------------------------------------------------------------------------


class _Stop(BaseException):
    """SIGTERM: stop serving, exit 0."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _fault_option(text: str) -> tuple[str, str]:
    role, sep, fault = text.partition("=")
    if not sep or not role or not fault:
        raise argparse.ArgumentTypeError(f"expected ROLE=FAULT, got {text!r}")
    return role.strip(), fault.strip()


def main(argv: Sequence[str] | None = None) -> int:
    """``dsports-simulator``: serve simulated DS sites until Ctrl-C, SIGTERM or ``--duration``."""
    parser = argparse.ArgumentParser(
        prog="dsports-simulator",
        description="Run simulated Pelco Digital Sentry sites on loopback, and print the check_digitalsentry "
                    "command line that checks each.",
        epilog="faults: " + "; ".join(f"{role}: {', '.join(faults)}" for role, faults in FAULTS.items()),
    )
    parser.add_argument("--address", help=f"loopback address of the site, or the first of a fleet "
                                           f"(default 127.0.0.1; fleet {FLEET_FIRST})")
    parser.add_argument("--sites", type=int, metavar="N", help="a fleet of N sites on consecutive addresses")
    parser.add_argument("--ports", choices=LAYOUTS,
                        help="port layout (default: ephemeral for one site, high for a fleet)")
    parser.add_argument("--fault", action="append", default=[], type=_fault_option, metavar="ROLE=FAULT",
                        help="make a role misbehave (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds before every reply")
    parser.add_argument("--instance", default=DEFAULT_INSTANCE, help=f"SQL instance name ({DEFAULT_INSTANCE})")
    parser.add_argument("--no-web", action="store_true", help="no DSWebService (web role)")
    parser.add_argument("--no-api", action="store_true", help="no Pelco API bundle (api-* roles)")
    parser.add_argument("--audio-clients", type=int, default=2, metavar="N", help="audio UDP ports (2)")
    parser.add_argument("--inventory", metavar="FILE", help="write a TOML inventory of the sites to FILE")
    parser.add_argument("--duration", type=float, metavar="S", help="serve S seconds, then exit (default: "
                                                                    "until Ctrl-C or SIGTERM)")
    parser.add_argument("--in-netns", action="store_true",
                        help="allow a non-loopback --address: only inside a network namespace you made")
    args = parser.parse_args(argv)
    roles = [role for role in DEFAULT_ROLES
             if not (args.no_web and role == "web") and not (args.no_api and role.startswith("api-"))]
    options: dict[str, Any] = {"roles": roles, "faults": dict(args.fault), "latency": args.latency,
                               "instances": [args.instance], "audio_clients": args.audio_clients}
    try:
        if args.sites is not None:
            sim = Simulator.fleet(args.sites, ports=args.ports or "high", first=args.address or FLEET_FIRST,
                                  **options)
        else:
            sim = Simulator([SimSite(address=args.address or "127.0.0.1", ports=args.ports,
                                     in_netns=args.in_netns, **options)])
    except ValueError as exc:
        parser.error(str(exc))
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with sim:
            for site in sim.sites:
                print(f"site {site.name} on {site.address}: {site.command_line()}")
            sys.stdout.flush()
            if args.inventory:
                sim.inventory_toml(args.inventory)
            print(f"dsports-simulator: {len(sim.sites)} site(s) up in {sim.start_seconds or 0:.2f} s"
                  f"{'' if args.duration is None else f' for {args.duration:g} s'}; Ctrl-C to stop",
                  file=sys.stderr, flush=True)
            if args.duration is None:
                while True:
                    time.sleep(3600)
            time.sleep(max(args.duration, 0.0))
    except OSError as exc:
        print(f"dsports-simulator: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
