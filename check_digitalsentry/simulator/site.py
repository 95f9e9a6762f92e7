"""Simulated DS site: the model (simulator layer) -- what one simulated site runs, on which ports, with
which faults, and how a check is told about it.

A ``SimSite`` is plain data checked on construction (ValueError for anything wrong); the ``runner``
binds its ports and the ``servers`` answer on them. ``to_site()`` gives the ``schema.Site`` the engine
probes it with, ``command_line()`` the ``check_digitalsentry`` command, ``inventory_toml()`` an inventory.

Faults (``SimSite(faults={role: fault})``, the valid ones per role are in ``FAULTS``; what each
role serves is in ``servers``):

- ``off`` (any role): nothing serves the port -- TCP connects are refused (the number stays bound to a
  socket that never listens, so nothing else can take it), UDP datagrams draw ICMP port unreachable
  (the number is bound only while the ports are handed out) -- the probe says ``closed``.
- ``tarpit`` (TCP roles): accepted, never answered, never closed until the simulator stops.
- ``reset`` (TCP roles): accepted, then reset (SO_LINGER 0) before any reply.
- ``sql-browser``: ``silent`` (bound, never answers); ``garbage`` (answers every datagram with
  ``b"\\x05hello"``, an SVR_RESP whose RESP_SIZE is wrong); ``truncated`` (a valid reply cut in half);
  ``wrong-instance`` (the only instance is ``DSOTHER``: the configured one is unknown);
  ``several`` (two instances -- ``SQLEXPRESS`` is added to a single one -- each with its own SQL
  listener); ``no-tcp`` (the instance lists named pipes only).
- ``sql``: ``garbage`` (answers with an HTTP error, not TDS); ``strict`` (TDS 8.0 strict: a plaintext
  PRELOGIN is closed unanswered, a TLS ClientHello gets a TLS handshake, then PRELOGIN inside TLS);
  ``other-instance`` (the SQL port is served by another instance, ``WRONG_INSTANCE``: a PRELOGIN that
  names the site's instance gets INSTOPT 1, as when NAT forwards the port to another SQL Server).

``sql_encryption`` is what the SQL Server answers a client's ENCRYPT_OFF (``sql.negotiate``):
ENCRYPT_OFF by default (a certificate: every SQL Server 2005+), ENCRYPT_REQ (Force Encryption),
ENCRYPT_NOT_SUP (no certificate), ENCRYPT_ON.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import socket
from pathlib import Path

from check_digitalsentry import catalogue
from check_digitalsentry.protocols import ssrp, tds
from check_digitalsentry.schema import MAX_AUDIO_CLIENTS, Site

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Union

    #: An instance: a name, (name, version) with version "15.0.2000.5" or (15, 0, 2000, 5), or an
    #: ``ssrp.Instance`` (its name and version are used).
    InstanceSpec = Union[str, tuple[str, Union[str, tuple[int, ...]]], ssrp.Instance]
    Version = tuple[int, int, int, int]

#: Every built-in role, in catalogue order: what a SimSite runs by default.
DEFAULT_ROLES: tuple[str, ...] = catalogue.BUILTIN_ROLE_NAMES
_TRANSPORT = {role.name: role.transport for role in catalogue.ROLES}

#: A fixed layout on unprivileged ports, shared by the sites of a fleet (one address each): the
#: catalogue's simulator ports (``Role.sim_port``).
HIGH_PORTS: dict[str, int] = {role.name: role.sim_port for role in catalogue.ROLES if role.sim_port is not None}
#: The SQL port of the "standard" layout (the catalogue's SQL port is dynamic).
STANDARD_SQL_PORT = HIGH_PORTS[catalogue.SQL]
#: The catalogue's ports (443 for web needs root, or a lowered ip_unprivileged_port_start).
STANDARD_PORTS: dict[str, int] = {
    role.name: HIGH_PORTS[role.name] if role.port is None else role.port for role in catalogue.ROLES
}
LAYOUTS = ("ephemeral", "standard", "high")

_TCP_FAULTS = ("off", "tarpit", "reset")
#: The faults a role's own server adds to those of its transport.
_OWN_FAULTS: dict[str, tuple[str, ...]] = {
    catalogue.BROWSER: ("silent", "garbage", "truncated", "wrong-instance", "several", "no-tcp"),
    catalogue.SQL: ("garbage", "strict", "other-instance"),
}
#: role -> the faults it can be given (see the module docstring for what each does).
FAULTS: dict[str, tuple[str, ...]] = {
    role.name: (*(_TCP_FAULTS if role.transport == "tcp" else ("off",)), *_OWN_FAULTS.get(role.name, ()))
    for role in catalogue.ROLES
}

DEFAULT_INSTANCE = "DIGITALSENTRY"
DEFAULT_SQL_VERSION: Version = (15, 0, 2000, 5)
#: The only instance under the ``wrong-instance`` fault, and the one on the SQL port under ``other-instance``.
WRONG_INSTANCE = "DSOTHER"
SECOND_INSTANCE = "SQLEXPRESS"  #: the instance added by the ``several`` fault
FLEET_FIRST = "127.0.1.1"  #: the first address of a fleet

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


class SimSite:
    """One simulated DS site (one loopback address). All arguments are keywords.

    ``ports`` is the layout: None or ``"ephemeral"`` (every role on a port the kernel picks),
    ``"standard"`` (``STANDARD_PORTS``), ``"high"`` (``HIGH_PORTS``), or a dict role -> port (0, or a
    role left out, means ephemeral). ``instances`` are the SQL instances (see ``InstanceSpec``); the
    first is the one the check asks for. ``faults`` maps roles to fault names (``FAULTS``);
    ``latency`` is seconds added before every reply (Browser, PRELOGIN, TLS handshake).
    ``static_sql_port`` is a static SQL port, as DS QuickSetup configures one: the SQL Server listens
    there (the Browser still names it), and the check is told so (``--sql-port``, ``sql_port``).
    ``in_netns=True`` lifts the loopback rule, for a simulator run inside a network namespace that
    the caller made itself (the firewall and NAT tests): the address is then the namespace's own.

    Once the simulator runs, ``ports`` holds role -> actual port (``audio``: the first of
    ``audio_clients`` consecutive ports), ``sql_port`` the SQL port, ``sql_ports`` the port of each
    SQL listener (two under the ``several`` fault) and ``dac_ports`` each instance's DAC port (the
    Browser's answer to CLNT_UCAST_DAC). ValueError for any bad argument.
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
        sql_encryption: int = tds.ENCRYPT_OFF,
        in_netns: bool = False,
        static_sql_port: int | None = None,
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
        self.static_sql_port = _static_sql_port(static_sql_port, self.layout, ports)
        if self.static_sql_port is not None:
            self.layout["sql"] = self.static_sql_port
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
        self.dac_ports: list[int] = []
        # The codecs check what they will be asked to encode: fail here, not in the server thread.
        for _, version in self.served_instances():
            tds.build_prelogin_response(version=version, encryption=sql_encryption)
        ssrp.build_response(self.browser_instances())

    def __repr__(self) -> str:
        return f"SimSite({self.name!r}, {self.address}, ports={self.ports or self.layout!r})"

    def fault_change(self, role: str, fault: str | None) -> str | None:
        """``fault`` for ``role`` checked as a change while the site runs (``Simulator.set_fault``): a
        fault of ``FAULTS[role]``, or None for none (``"ok"`` and ``"none"`` say it too). ValueError for a
        role that does not run, a fault it does not have, and ``several`` (it adds SQL listeners, so the
        site starts with it or never has it)."""
        if fault in ("ok", "none"):
            fault = None
        changed = {key: value for key, value in self.faults.items() if key != role}
        if fault is not None:
            changed[role] = fault
        _faults(changed, self.roles)
        if role not in self.roles:
            raise ValueError(f"{role} does not run on site {self.name}")
        now = self.faults.get(role)
        if role == "sql-browser" and "several" in (fault, now) and fault != now:
            raise ValueError("the sql-browser fault 'several' adds SQL listeners: a site starts with it, or never "
                             "has it")
        return fault

    # -- what the site looks like from outside

    @property
    def sql_instance(self) -> str:
        """The instance the check asks the Browser for (the first configured one)."""
        return self.instances[0][0]

    def switched(self, setting: str) -> bool:
        """Whether a role the site setting ``setting`` switches on (``catalogue.Role.when``) runs."""
        return any(catalogue.BY_NAME[role].when == setting for role in self.roles)

    @property
    def web(self) -> bool:
        return self.switched(catalogue.WEB)

    @property
    def api(self) -> bool:
        return self.switched(catalogue.API)

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

    def to_site(self, **settings: Any) -> Site:
        """The ``schema.Site`` a probe of this simulated site is configured with (``settings`` added)."""
        return Site(self.name, (self.address,), **{
            "sql_instance": self.sql_instance, "sql_port": self.static_sql_port, "web": self.web,
            "api": self.api, "audio_clients": self.audio_count, "ports": self.remapped_ports(), **settings})

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
        if self.static_sql_port is not None:
            args += ["--sql-port", str(self.static_sql_port)]
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


def _static_sql_port(port: int | None, layout: Mapping[str, int],
                     ports: str | Mapping[str, int] | None) -> int | None:
    """The static SQL port, checked: it takes the place of a named layout's SQL port, but a ``ports``
    dict that puts sql elsewhere contradicts it."""
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"static SQL port must be 1-65535, got {port!r}")
    if "sql" not in layout:
        raise ValueError("a static SQL port needs the sql role")
    if not isinstance(ports, str) and ports is not None and ports.get("sql", 0) not in (0, port):
        raise ValueError(f"static SQL port {port}, but ports puts sql on {ports['sql']}")
    return port


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



def inventory_toml(sites: Sequence[SimSite], path: str | Path | None = None) -> str:
    """A TOML inventory of running ``sites`` (written to ``path`` too, when given).

    Ports off their standard number go in ``[sites.ports]``, or in ``[defaults.ports]`` when every site
    shares them (a fleet on one fixed layout).
    """
    remapped = [site.remapped_ports() for site in sites]
    shared = remapped[0] if len(sites) > 1 and remapped[0] and all(r == remapped[0] for r in remapped) else None
    lines = [f"# {len(sites)} simulated Digital Sentry site(s), written by dsports-simulator."]
    if shared is not None:
        lines += ["", "[defaults.ports]", *_toml_table(shared)]
    for site, ports in zip(sites, remapped):
        lines += [
            "", "[[sites]]",
            f"name = {_toml_str(site.name)}",
            f"hosts = [{_toml_str(site.address)}]",
            f"sql_instance = {_toml_str(site.sql_instance)}",
            *([] if site.static_sql_port is None else [f"sql_port = {site.static_sql_port}"]),
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
