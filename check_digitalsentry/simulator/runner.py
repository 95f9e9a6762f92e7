"""Simulated DS site: the runner (simulator layer) -- binds the sites' ports and serves them on an asyncio
loop in one daemon thread.

Strategy: every socket is bound in the caller's thread (so a bind failure is an ``OSError`` from
``start()`` naming the site, role, address and port), then handed to the loop thread, where the
``servers`` answer. ``close()`` stops the loop and closes every listening socket, endpoint and accepted
connection (``servers.Connections``) before it returns.

Usage::

    with Simulator([SimSite(faults={"video": "off"})]) as sim:
        print(sim.command_line())      # check_digitalsentry -H 127.0.0.1 --port sql-browser=41234 ...
        site = sim.sites[0]            # site.ports: role -> actual port; site.sql_port
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import ssl
import threading
import time

from check_digitalsentry.protocols import tds
from check_digitalsentry.simulator.servers import (
    BACKLOG,
    CERT_FILE,
    KEY_FILE,
    Browser,
    Connections,
    HeldServer,
    SiteServers,
    _Conn,
    _Reset,
    _Tarpit,
    _Web,
)
from check_digitalsentry.simulator.site import _TRANSPORT, FLEET_FIRST, SimSite, fleet_addresses, inventory_toml
from check_digitalsentry.simulator.sql import SqlSession, tds_tls_context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping, Sequence
    from pathlib import Path
    from types import TracebackType
    from typing import Any, TypeVar

    T = TypeVar("T")
    _Serving = asyncio.AbstractServer | HeldServer | asyncio.BaseTransport  #: what serves a role's socket


class _Bound:
    """A socket bound (and listening, for TCP) by ``start()``, for the event loop to serve."""

    __slots__ = ("instance", "role", "site", "sock")

    def __init__(self, site: SimSite, role: str, sock: socket.socket, instance: int = 0) -> None:
        self.site = site
        self.role = role
        self.sock = sock
        self.instance = instance


def _bind(site: SimSite, role: str, port: int, *, listen: bool = True) -> socket.socket:
    transport = _TRANSPORT[role]
    sock = socket.socket(site.family, socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)
    try:
        if transport == "tcp":
            # Not for UDP: on Linux it would let two simulators share a UDP port without an error.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((site.address, port))
        if transport == "tcp" and listen:
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


def _bind_site(site: SimSite, bound: list[_Bound], off: list[_Bound]) -> None:
    """Bind every socket of ``site`` into ``bound`` and fill ``site.ports``. An ``off`` role's sockets go
    to ``off``: a TCP one stays bound but never listens (connects are refused, and no other socket can
    take the number while the simulator runs); a UDP one is closed once every site is bound (a bound
    UDP socket would swallow datagrams instead of drawing ICMP port unreachable)."""
    site.ports, site.sql_ports, site.sql_port, site.dac_ports = {}, [], None, []
    for role, port in site.layout.items():
        is_off = site.faults.get(role) == "off"
        socks = (_bind_audio(site, port, site.audio_clients) if role == "audio"
                 else [_bind(site, role, port, listen=not is_off)])
        site.ports[role] = socks[0].getsockname()[1]
        (off if is_off else bound).extend(_Bound(site, role, sock) for sock in socks)
    if "sql" in site.ports:
        site.sql_port = site.ports["sql"]
        site.sql_ports = [site.sql_port]
        if site.faults.get("sql-browser") == "several":
            for index in range(1, len(site.served_instances())):
                extra = _bind(site, "sql", 0)
                site.sql_ports.append(extra.getsockname()[1])
                bound.append(_Bound(site, "sql", extra, index))
        # Each instance's DAC listener: a port of its own (ephemeral), served as the SQL port is.
        is_off = site.faults.get("sql") == "off"
        for index in range(len(site.served_instances())):
            dac = _bind(site, "sql", 0, listen=not is_off)
            site.dac_ports.append(dac.getsockname()[1])
            (off if is_off else bound).append(_Bound(site, "sql", dac, index))


async def _stop_accepting(serving: Sequence[_Serving]) -> None:
    """Stop the servers among ``serving`` accepting, and let the connections they were accepting be made,
    before they are closed: asyncio makes an accepted connection in a task of its own, and one that finds
    its server closed fails half-made, its socket never closed (a ResourceWarning at exit)."""
    loop = asyncio.get_running_loop()
    listening = [sock for item in serving for sock in getattr(item, "sockets", None) or ()]
    if not listening:
        return
    for sock in listening:
        loop.remove_reader(sock.fileno())
    for _ in range(3):  # the accept tasks already made: the transport, connection_made, the waiter
        await asyncio.sleep(0)


def _tls_first_context() -> ssl.SSLContext:
    """The server context of the web role and of the sql role's strict fault: the packaged certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT_FILE, KEY_FILE)
    return context


def _connection_class(role: str, fault: str | None) -> type[_Conn]:
    """The protocol class that serves a TCP role with its fault."""
    if fault == "tarpit":
        return _Tarpit
    if fault == "reset":
        return _Reset
    return {"sql": SqlSession, "web": _Web}.get(role, _Conn)


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
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:  # root may raise the hard limit too (a fleet of thousands of sites needs ~10 sockets each)
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError):
            pass
    target = max(needed, soft) if hard == resource.RLIM_INFINITY else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # pragma: no cover - then a bind says EMFILE
        pass


class Simulator:
    """Runs simulated sites on an asyncio loop in one daemon thread; a context manager.

    ``start()`` (or ``with``) returns once every socket is bound and served, or raises OSError naming
    the site, role, address and port that could not be bound; ``close()`` stops the loop and closes
    every socket. ``start_seconds`` is how long the last start took.
    """

    def __init__(self, sites: Sequence[SimSite] | None = None, *, record: bool = False) -> None:
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
        #: (site, role) -> the sockets of an "off" TCP role: bound, never listening
        self._off: dict[tuple[SimSite, str], list[socket.socket]] = {}
        #: (site, role) -> what serves it: its TCP servers or UDP endpoints
        self._serving: dict[tuple[SimSite, str], list[_Serving]] = {}
        #: (site, role) -> (port, instance) of each socket the role binds: what a fault change binds again
        self._slots: dict[tuple[SimSite, str], list[tuple[int, int]]] = {}
        self._runs: dict[SimSite, SiteServers] = {}
        #: ``(time.monotonic(), address, port)`` of every connection accepted and every datagram the SQL
        #: Server Browser received (``record=True``; None otherwise): what a test counts probes by
        self.arrivals: list[tuple[float, str, int]] | None = [] if record else None
        self._connections = Connections(self.arrivals)

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
        _ensure_fd_limit(sum(len(site.roles) + site.audio_clients + 2 for site in self.sites))
        bound: list[_Bound] = []
        off: list[_Bound] = []
        try:
            for site in self.sites:
                _bind_site(site, bound, off)
        except BaseException:
            for item in bound + off:
                item.sock.close()
            raise
        self._slots = {}
        self._off = {}
        for item in bound + off:
            self._slots.setdefault((item.site, item.role), []).append((item.sock.getsockname()[1], item.instance))
        for item in off:
            if item.sock.type == socket.SOCK_DGRAM:
                item.sock.close()
            else:
                self._off.setdefault((item.site, item.role), []).append(item.sock)
        if self.arrivals is not None:
            self.arrivals.clear()
        self._connections = Connections(self.arrivals)
        self._ready.clear()
        context = tds_context = None
        if any(item.role == "web" or item.site.faults.get("sql") == "strict" for item in bound):
            context = _tls_first_context()
        if any(item.role == "sql" and item.site.sql_encryption != tds.ENCRYPT_NOT_SUP for item in bound):
            tds_context = tds_tls_context()
        loop = self._loop = asyncio.new_event_loop()
        self._connections.loop = loop
        runs = self._runs = {site: SiteServers(self._connections, site, loop, context, tds_context)
                             for site in self.sites}
        self._thread = threading.Thread(target=self._run, args=(bound, runs), name="dsports-simulator",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            error, self._error = self._error, None
            self._thread.join()
            self._thread = self._loop = None
            self._close_off()
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
        self._close_off()

    def _close_off(self) -> None:
        for socks in self._off.values():
            for sock in socks:
                sock.close()
        self._off = {}

    # -- the loop thread

    def _run(self, bound: list[_Bound], runs: dict[SimSite, SiteServers]) -> None:
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

    async def _serve(self, bound: list[_Bound], runs: dict[SimSite, SiteServers]) -> None:
        loop = asyncio.get_running_loop()
        for index, item in enumerate(bound):
            run = runs[item.site]
            try:
                if item.sock.type == socket.SOCK_DGRAM:
                    factory: Callable[[], asyncio.BaseProtocol] = (
                        functools.partial(Browser, run) if item.role == "sql-browser"
                        else asyncio.DatagramProtocol)
                    transport, _ = await loop.create_datagram_endpoint(factory, sock=item.sock)
                    self._serving.setdefault((item.site, item.role), []).append(transport)
                else:
                    cls = _connection_class(item.role, item.site.faults.get(item.role))
                    server: asyncio.AbstractServer | HeldServer = (
                        HeldServer(self._connections, item.sock, loop) if cls is _Conn
                        else await loop.create_server(
                            functools.partial(cls, run, item.site.faults.get(item.role), item.instance),
                            sock=item.sock))
                    self._serving.setdefault((item.site, item.role), []).append(server)
            except BaseException:
                for rest in bound[index:]:
                    rest.sock.close()
                raise

    async def _shutdown(self) -> None:
        self._connections.closing = True
        serving = [item for items in self._serving.values() for item in items]
        await _stop_accepting(serving)
        for item in serving:
            item.close()
        for _ in range(3):  # connections accepted meanwhile are aborted by connection_made
            self._connections.abort_all()
            await asyncio.sleep(0)
        for item in serving:
            if isinstance(item, asyncio.AbstractServer):
                await item.wait_closed()
        self._serving = {}
        self._connections.open.clear()
        self._connections.held.clear()

    # -- faults changed while it runs

    def set_fault(self, role: str, fault: str | None, site: str | SimSite | None = None) -> None:
        """Give ``role`` of ``site`` (the first site by default) another fault while the simulator runs:
        ``fault`` is one of ``FAULTS[role]``, or None (or ``"ok"``) for none. Whatever serves the role
        stops -- its open connections are cut -- and the role's ports are bound again at the same numbers
        and served with the new fault, so the next probe meets it: ``off`` -> ``None`` turns a refused
        port into an open one. ValueError for a fault the role does not have (or ``several``, which adds
        SQL listeners: start with it); OSError when a port cannot be bound again (a UDP port that another
        socket took while it was off); RuntimeError when the simulator is not running. Safe from any
        thread but the simulator's own."""
        target = self.site(site)
        new = target.fault_change(role, fault)
        self._in_loop(self._refault(target, role, new), "give the fault to SimSite(faults=...)")

    def _in_loop(self, work: Coroutine[Any, Any, T], otherwise: str) -> T:
        """Run ``work`` in the simulator's loop and wait for it, from another thread; RuntimeError when the
        simulator is not running (``otherwise`` says what to do instead)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive() or threading.current_thread() is thread:
            work.close()
            raise RuntimeError(f"the simulator is not running (or this is its own thread): {otherwise}")
        return asyncio.run_coroutine_threadsafe(work, loop).result(30)

    def move_sql_port(self, port: int = 0, site: str | SimSite | None = None) -> int:
        """Serve the SQL port of ``site`` (the first by default) at another number, ``port`` (0: any free one),
        as a SQL Server restarted on a new dynamic port: the Browser names the new number from now on, the
        old one refuses connections. The new port; OSError when it cannot be bound."""
        target = self.site(site)
        if target.sql_port is None:
            raise ValueError(f"site {target.name} runs no SQL port")
        return self._in_loop(self._move_sql(target, port), "start it first")

    async def _move_sql(self, site: SimSite, port: int) -> int:
        key, old = (site, "sql"), site.sql_port
        off = site.faults.get("sql") == "off"
        sock = _bind(site, "sql", port, listen=not off)
        new = int(sock.getsockname()[1])
        for item in list(self._serving.get(key, [])):
            if any(s.getsockname()[1] == old for s in getattr(item, "sockets", None) or ()):
                await _stop_accepting([item])
                item.close()
                self._serving[key].remove(item)
        self._connections.abort_at(site.address, (old,))
        for held in [s for s in self._off.get(key, []) if s.getsockname()[1] == old]:
            held.close()
            self._off[key].remove(held)
        self._slots[key] = [(new if number == old else number, instance) for number, instance in self._slots[key]]
        site.ports["sql"] = site.sql_port = site.sql_ports[0] = new
        for run in self._runs.values():
            if run.site is site:
                run.refresh()
        if off:
            self._off.setdefault(key, []).append(sock)
        else:
            await self._serve([_Bound(site, "sql", sock)], self._runs)
        return new

    async def _refault(self, site: SimSite, role: str, fault: str | None) -> None:
        key = (site, role)
        slots = self._slots.get(key, [])
        ports = {port for port, _ in slots}
        serving = self._serving.pop(key, [])
        await _stop_accepting(serving)
        for item in serving:
            item.close()  # a server's listening sockets are closed at once; an endpoint's socket soon
        self._connections.abort_at(site.address, ports)
        for _ in range(100):  # until the endpoints' sockets are closed and their ports free
            if all(not isinstance(item, asyncio.BaseTransport)
                   or (item.get_extra_info("socket") is None or item.get_extra_info("socket").fileno() < 0)
                   for item in serving):
                break
            await asyncio.sleep(0)
        if fault is None:
            site.faults.pop(role, None)
        else:
            site.faults[role] = fault
        for run in self._runs.values():
            if run.site is site:
                run.refresh()
                if run.context is None and (role == "web" or fault == "strict") and fault != "off":
                    run.context = _tls_first_context()
                if run.tds_context is None and role == "sql" and site.sql_encryption != tds.ENCRYPT_NOT_SUP:
                    run.tds_context = tds_tls_context()
        kept = {sock.getsockname()[1]: sock for sock in self._off.pop(key, [])}
        if fault == "off":
            if _TRANSPORT[role] == "tcp":  # bound, never listening: refused
                self._off[key] = [kept.pop(port) if port in kept else _bind(site, role, port, listen=False)
                                  for port, _ in slots]
        else:
            bound = []
            for port, instance in slots:
                if port in kept:
                    sock = kept.pop(port)
                    sock.listen(BACKLOG)
                else:
                    sock = _bind(site, role, port)
                bound.append(_Bound(site, role, sock, instance))
            await self._serve(bound, self._runs)
        for sock in kept.values():
            sock.close()

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
        """A TOML inventory of every site (written to ``path`` too, when given): see ``site.inventory_toml``."""
        return inventory_toml(self.sites, path)
