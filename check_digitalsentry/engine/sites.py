"""DS orchestration (engine layer): from sites to site reports -- the engine's entry point ``probe_sites``.

``plan_sites`` says which ports each site is expected to expose (the catalogue, then the plugins'
``digitalsentry_port_specs``); a frontend that shows the ports before probing (pytest collects one item
per port) plans once and hands the same plans to ``probe_sites``, whose results point back at the
planned ``PortSpec`` objects (``PortResult.planned``). Per host: resolve the name (bounded by the
deadline), start every probe at once, and learn the SQL port from the SQL Server Browser (or take the
static one) before the SQL probe starts, and tell the SQL probe which instance to expect there
(``ProbeContext.instance``: the one the Browser named for the port, else the configured one). What the
Browser said is recorded as facts on the SQL results (``sql_port_from``, ``sql_browser_ports``); what
that means for the user is the judgement's to say.
"""

from __future__ import annotations

import gc
import socket
import time

from check_digitalsentry.addresses import Networks, ipv4_routes, ipv6_prefixes
from check_digitalsentry.catalogue import BROWSER, SQL
from check_digitalsentry.engine.api import Outcome, ProbeContext, host_arg
from check_digitalsentry.engine.probes import BuiltinHooks
from check_digitalsentry.engine.scheduler import Scheduler
from check_digitalsentry.kinds import DEFAULT_TIMEOUT
from check_digitalsentry.model import Facts, Interrupted, PortResult, PortSpec, Status, internal_error
from check_digitalsentry.schema import expected_ports, selected

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from check_digitalsentry.engine.resolver import Answer
    from check_digitalsentry.schema import Site



#: Ports from which a run pauses the cyclic garbage collector while it probes (see ``probe_sites``).
GC_PAUSE_PORTS = 1000
#: SQL instances of one Browser reply probed at most (without ``sql_instance``, each it names is).
MAX_SQL_INSTANCES = 64


class SiteReport:
    """All port results of one site, in a stable order (host, then the catalogue's role order).

    ``seconds`` is how long the site's probes took; ``budget`` the time they really had: from the
    start of the engine run to the site's deadline (its own timeout, or the run's deadline if sooner).
    """

    __slots__ = ("budget", "results", "seconds", "site")

    def __init__(self, site: Site, results: list[PortResult], seconds: float,
                 budget: float = DEFAULT_TIMEOUT) -> None:
        self.site = site
        self.results = results
        self.seconds = seconds
        self.budget = budget

    def __repr__(self) -> str:
        return f"SiteReport({self.site.name!r}, {len(self.results)} results, {self.seconds:.3f}s)"


class SitePlan:
    """A site and the ports it is expected to expose, in report order."""

    __slots__ = ("site", "specs")

    def __init__(self, site: Site, specs: list[PortSpec]) -> None:
        self.site = site
        self.specs = specs

    def __repr__(self) -> str:
        return f"SitePlan({self.site.name!r}, {[s.label for s in self.specs]})"

    @property
    def roles(self) -> list[str]:
        """The roles the site reports, each once, in report order (not those probed only as a dependency)."""
        site = self.site
        return [role for role in dict.fromkeys(spec.role for spec in self.specs) if site.reports(role)]


def plan_sites(sites: Sequence[Site], hooks: BuiltinHooks | None = None) -> list[SitePlan]:
    """The ports of each site: the catalogue's expected ports, adjusted by the plugins' hooks."""
    hooks = BuiltinHooks() if hooks is None else hooks
    roles = hooks.roles()
    return [SitePlan(site, selected(site, hooks.port_specs(site, expected_ports(site, roles)), roles))
            for site in sites]


def site_end(site: Site, started: float, deadline: float | None) -> float:
    """When a site's probes end: its own timeout after ``started``, or the run's ``deadline`` if sooner."""
    if site.timeout is not None:
        return started + site.timeout if deadline is None else min(started + site.timeout, deadline)
    return started + DEFAULT_TIMEOUT if deadline is None else deadline


def resolve(scheduler: Scheduler, host: str, family: int, deadline: float,
            on_done: Callable[[Answer], None]) -> None:
    """Resolve ``host``: literal addresses at once (no thread), names through the resolver threads."""
    try:
        infos = socket.getaddrinfo(host_arg(host), None, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        pass
    else:
        on_done([(info[0], info[4]) for info in infos])
        return
    if scheduler.resolver is None:
        from check_digitalsentry.engine.resolver import Resolver

        scheduler.resolver = Resolver(scheduler.poller)
    scheduler.resolver.lookup(host, family, deadline, on_done)


class _HostRun:
    """The probes of one host of one site, and the DS orchestration between them."""

    def __init__(self, run: _Run, plan: SitePlan, host: str, deadline: float) -> None:
        self.run = run
        self.plan = plan
        self.site = plan.site
        self.specs = plan.specs
        self.host = host
        self.deadline = deadline
        self.results: list[list[PortResult]] = [[] for _ in self.specs]
        self.missing = len(self.specs)  # specs without a result yet
        self.sql_waiting = 0  # SQL probes started from the Browser's answer, not ended yet
        self.browser: Outcome | None = None
        self.address: str | None = None
        self.family = 0
        self.sockaddr: tuple[object, ...] = ()
        self.finished = time.monotonic()
        self.sql_index = next((i for i, s in enumerate(self.specs) if s.role == SQL and not s.forbidden), None)
        self.has_browser = any(s.role == BROWSER and not s.forbidden for s in self.specs)
        self.extra: list[_HostRun] = []  #: the runs of this name's other addresses (all_addresses)
        self.address_facts = Facts()

    def start(self) -> None:
        if not self.specs:
            self._finish()
            return
        if time.monotonic() >= self.deadline:  # the run's time is up before this host's turn
            for index, spec in enumerate(self.specs):
                self._add(index, PortResult(spec, self.host, None, Status.UNKNOWN, None,
                                            "not probed: the run's time was up before its turn"))
            return
        resolve(self.run.scheduler, self.host, self.run.family, self.deadline, self._resolved)

    def _resolved(self, answer: Answer) -> None:
        if isinstance(answer, str):
            for index, spec in enumerate(self.specs):
                self._add(index, PortResult(spec, self.host, None, Status.UNRESOLVED, None, answer))
            return
        by_address: dict[object, tuple[int, tuple[object, ...]]] = {}
        for family, sockaddr in answer:  # getaddrinfo may repeat an address
            by_address.setdefault(sockaddr[0], (family, sockaddr))
        unique = list(by_address.values())
        if len(unique) > 1 and self.site.all_addresses:
            self.address_facts.addresses_probed = len(unique)
            for family, sockaddr in unique[1:]:
                sibling = _HostRun(self.run, self.plan, self.host, self.deadline)
                sibling.address_facts = self.address_facts
                self.extra.append(sibling)
                self.run.hosts.append(sibling)
                sibling._probe(family, sockaddr)
        elif len(unique) > 1:
            self.address_facts.unprobed_addresses = [str(s[0]) for _, s in unique[1:]]
        self._probe(*unique[0])

    def _probe(self, family: int, sockaddr: tuple[object, ...]) -> None:
        """Probe every port of the host at one of its addresses."""
        self.family = family
        self.sockaddr = sockaddr
        self.address = str(sockaddr[0])
        for index, spec in enumerate(self.specs):
            if index == self.sql_index and spec.port is None:
                if not self.has_browser:
                    self._record(index, spec, Outcome(Status.UNKNOWN, "not probed: no SQL port is set and the "
                                                                      "SQL Server Browser is not probed"))
                continue  # waits for the Browser
            self._spawn(index, spec)

    def _spawn(self, index: int, spec: PortSpec, *, instance: str | None = None) -> None:
        if spec.port is None:  # a plugin's port without a number: nothing to probe
            self._record(index, spec, Outcome(Status.UNKNOWN, "not probed: the port has no number"))
            return
        sockaddr = (self.sockaddr[0], spec.port, *self.sockaddr[2:])
        # The instance the SQL port must be: the one the Browser named for it, else the configured one.
        expected = instance
        if expected is None and index == self.sql_index:
            expected = self.site.sql_instance
        ctx = ProbeContext(self.site, self.host, spec, self.family, sockaddr, self.deadline, instance=expected)
        if instance is not None:
            self.sql_waiting += 1

        def done(outcome: Outcome) -> None:
            if instance is not None:
                if outcome.facts.instance is None:
                    outcome.facts.instance = instance
                outcome.facts.sql_port_from = "browser"
                self.sql_waiting -= 1
            self._record(index, spec, outcome)

        try:
            probe = self.run.hooks.probe_for(spec, self.site)
        except Exception as exc:  # a plugin's hook failed: this port is UNKNOWN, the run goes on
            done(Outcome(Status.UNKNOWN, f"internal error in a probe hook: {exc!r}", internal_error()))
            return
        self.run.scheduler.spawn(probe, ctx, done)

    def _record(self, index: int, spec: PortSpec, outcome: Outcome) -> None:
        planned = self.specs[index]
        if planned.role == BROWSER and not planned.forbidden:
            self.browser = outcome
            self._browser_done()
        result = PortResult(spec, self.host, self.address, outcome.status, outcome.seconds, outcome.detail,
                            outcome.facts, planned=planned, source=outcome.source)
        self._add(index, result)

    def _add(self, index: int, result: PortResult) -> None:
        if not self.results[index]:
            self.missing -= 1
        self.results[index].append(result)
        if self.missing == 0 and self.sql_waiting == 0:
            self._finish()

    def _browser_done(self) -> None:
        index = self.sql_index
        if index is None or self.specs[index].port is not None:
            return
        browser = self.browser
        assert browser is not None
        ports = browser.facts.sql_ports
        sql = self.specs[index]
        if browser.status is not Status.OPEN or not ports:
            self._add(index, PortResult(
                sql, self.host, self.address, Status.UNKNOWN, None,
                f"not probed: the SQL Server Browser gave no port ({browser.status}); "
                f"a static port can be set with --sql-port / sql_port"))
            return
        for instance, port in ports[:MAX_SQL_INSTANCES]:
            self._spawn(index, PortSpec(SQL, port, "tcp", sql.severity), instance=str(instance))
        if len(ports) > MAX_SQL_INSTANCES:  # a DS server has one or two; a Browser naming hundreds is hostile
            self._add(index, PortResult(
                sql, self.host, self.address, Status.UNKNOWN, None,
                f"not probed: {len(ports) - MAX_SQL_INSTANCES} more of the {len(ports)} instances the SQL Server "
                f"Browser names (at most {MAX_SQL_INSTANCES} are probed): give the DS instance with "
                f"--sql-instance / sql_instance"))

    def _finish(self) -> None:
        self._note_browser_ports()
        if self.address_facts:
            for results in self.results:
                for result in results:
                    result.facts.update(self.address_facts)
        network = None if self.address is None else self.run.networks().find(self.address)
        if network is not None:  # where the address is, seen from here (None: this system does not say)
            for results in self.results:
                for result in results:
                    result.facts.on_link = bool(network)
                    if network:
                        result.facts.local_network = network
        self.finished = time.monotonic()
        self.run.host_done(self, [r for results in self.results for r in results])

    def _note_browser_ports(self) -> None:
        """A static SQL port that the Browser does not name: record what the Browser names."""
        index = self.sql_index
        if index is None or self.browser is None or self.specs[index].port is None:
            return
        named_ports = [p for _, p in self.browser.facts.sql_ports or ()]
        for result in self.results[index]:
            if named_ports and result.port not in named_ports:
                result.facts.sql_browser_ports = named_ports


def local_networks() -> Networks:
    """This machine's own networks: on Linux, the on-link IPv4 routes and the IPv6 prefixes of its addresses
    (``/proc/net/route``, ``/proc/net/if_inet6``: those of this process's network namespace); elsewhere not
    known (``Networks.known`` False): nothing then claims an address is, or is not, on one of them."""
    texts: list[str] = []
    for path in ("/proc/net/route", "/proc/net/if_inet6"):
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                texts.append(fh.read(1 << 20))
        except OSError:
            texts.append("")
    if not any(texts):
        return Networks(known=False)
    loopback = [(4, 0x7F000000, 8), (6, 1, 128)]  # in the kernel's local table, not in the routes read here
    return Networks(loopback + ipv4_routes(texts[0]) + ipv6_prefixes(texts[1]))


class _Run:
    def __init__(self, hooks: BuiltinHooks, family: int, scheduler: Scheduler) -> None:
        self.hooks = hooks
        self.family = family
        self.scheduler = scheduler
        self.done: dict[_HostRun, list[PortResult]] = {}
        self.hosts: list[_HostRun] = []
        self._networks: Networks | None = None

    def networks(self) -> Networks:
        """This machine's networks, read once per run (when the first host is done)."""
        if self._networks is None:
            self._networks = local_networks()
        return self._networks

    def in_flight(self) -> list[str]:
        """What is still being probed: ``video 18772/tcp of hq/ds01``, ``the DNS lookup of hq/ds02``."""
        busy = [f"{ctx.spec.role} {ctx.spec.port}/{ctx.spec.transport} of {ctx.site.name}/{ctx.host}"
                for ctx in self.scheduler.in_flight()]
        busy += [f"the DNS lookup of {host.site.name}/{host.host}" for host in self.hosts
                 if host not in self.done and host.address is None and host.specs]
        return busy

    def host_done(self, host: _HostRun, results: list[PortResult]) -> None:
        self.done[host] = results
        for result in results:
            try:
                self.hooks.port_result(host.site, result)
            except Exception as exc:  # an observer's bug must not lose the result
                if result.facts.observer_error is None:
                    result.facts.observer_error = repr(exc)


def probe_sites(
    sites: Sequence[Site | SitePlan],
    *,
    deadline: float | None = None,
    family: int = 0,
    hooks: BuiltinHooks | None = None,
    max_sockets: int | None = None,
) -> list[SiteReport]:
    """Probe every port of every host of every site, all at once, and return one report per site.

    ``sites`` are Sites (planned here) or ``SitePlan``s (planned by the caller with the same hooks).
    ``deadline`` (a ``time.monotonic()`` value) is the one limit of the run: where the caller must stop
    to have time left for its output (the check plugin's ``-t``, less its margin). Each site's probes end
    at its own ``timeout`` from the start of the run, or at ``deadline`` if that comes first; without a
    ``deadline``, a site without a ``timeout`` has ``DEFAULT_TIMEOUT``. ``family`` is 0 (as the resolver
    orders addresses), AF_INET or AF_INET6. ``hooks`` are the core's hooks as a frontend hands them
    (``plugins.get_hooks()``); the built-in ones by default. A report's ``budget`` is the time its probes
    really had: from the start of the run to its site's end.
    """
    hooks = BuiltinHooks() if hooks is None else hooks
    started = time.monotonic()
    plans = [s if isinstance(s, SitePlan) else None for s in sites]
    unplanned = [s for s in sites if not isinstance(s, SitePlan)]
    if unplanned:
        made = iter(plan_sites(unplanned, hooks))
        plans = [p if p is not None else next(made) for p in plans]
    scheduler = Scheduler(max_sockets)
    run = _Run(hooks, family, scheduler)
    per_site: list[tuple[SitePlan, float, list[_HostRun]]] = []
    scheduler.hard_deadline = started
    # The cyclic collector is paused while a fleet's probes run: they allocate short-lived objects by the
    # hundred thousand (reference counting frees them), and each collection would walk the growing
    # results again -- 5-10 % of a 2,000-site run's CPU. A small run (a --watch round) keeps it running.
    collecting = gc.isenabled() and sum(len(p.specs) * len(p.site.hosts) for p in plans if p) >= GC_PAUSE_PORTS
    if collecting:
        gc.disable()
    try:
        for plan in plans:
            assert plan is not None
            ends = site_end(plan.site, started, deadline)
            budget = max(round(ends - started, 3), 0.0)
            scheduler.hard_deadline = max(scheduler.hard_deadline, ends)  # the run's end: its last site's
            hosts = [_HostRun(run, plan, host, ends) for host in plan.site.hosts]
            run.hosts.extend(hosts)
            per_site.append((plan, budget, hosts))
            for host in hosts:
                host.start()
        scheduler.run()
    except Interrupted as exc:  # a stop signal: the frontend says what was still being probed
        exc.in_flight = run.in_flight()
        raise
    finally:
        scheduler.close()
        if collecting:
            gc.enable()
    reports = []
    for plan, budget, hosts in per_site:
        every = [run_ for host in hosts for run_ in (host, *host.extra)]
        results = [r for run_ in every for r in run.done.get(run_, [])]
        seconds = max((h.finished - started for h in every), default=0.0)
        reports.append(SiteReport(plan.site, results, seconds, budget))
    return reports
