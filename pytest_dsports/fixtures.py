"""Fixtures (pytest frontend) for the user's own tests: the inventory, probed reports, one-off probes with
self-explaining assertions, and simulated DS sites. Registered by ``plugin`` as a pytest plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pytest

from pytest_dsports.state import STATE, DsportsState, core_hooks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from check_digitalsentry.engine.sites import SiteReport
    from check_digitalsentry.inventory import Inventory
    from check_digitalsentry.judge import Verdict
    from check_digitalsentry.schema import Site
    from check_digitalsentry.simulator import SimSite


def _state(request: pytest.FixtureRequest, what: str) -> DsportsState:
    state = request.config.stash.get(STATE, None)
    if state is None:
        pytest.fail(f"{what}: no dsports inventory is configured (--dsports-inventory FILE, the ini keys "
                    f"dsports_inventory / dsports_files, or --dsports-host HOST)", pytrace=False)
    return state


@pytest.fixture(scope="session")
def dsports_inventory(request: pytest.FixtureRequest) -> Inventory:
    """The parsed inventory: every selected site (of the inventory files and ad-hoc hosts: all of them
    unless --dsports-site chooses), as an Inventory."""
    from check_digitalsentry.inventory import Inventory

    state = _state(request, "dsports_inventory")
    return Inventory(state.all_sites(), ", ".join(source.where for source in state.sources))


@pytest.fixture(scope="session")
def dsports_report(request: pytest.FixtureRequest) -> Callable[[str], SiteReport]:
    """``dsports_report("hq")``: the probed report of a site, probed once per session (shared with the
    generated port tests)."""
    state = _state(request, "dsports_report")

    def report(site_name: str) -> SiteReport:
        return state.report(_site(state, site_name))

    return report


@pytest.fixture
def dsports_site(request: pytest.FixtureRequest) -> Site:
    """The site named by the test's ``@pytest.mark.dsports(site=...)`` marker."""
    marker = request.node.get_closest_marker("dsports")
    if marker is None or "site" not in marker.kwargs:
        pytest.fail("dsports_site needs @pytest.mark.dsports(site=NAME) on the test", pytrace=False)
    return _site(_state(request, "dsports_site"), str(marker.kwargs["site"]))


def _site(state: DsportsState, name: str) -> Site:
    """The site called ``name``; the test is skipped when --dsports-site left the site out, and fails
    (once, without a chained traceback) when there is none."""
    left_out = state.left_out(name)
    if left_out is not None:
        pytest.skip(left_out)
    try:
        site: Site | None = state.site(name)
    except LookupError as exc:
        site, message = None, str(exc)
    if site is None:
        pytest.fail(message, pytrace=False)
    return site


@pytest.fixture
def dsports_site_report(request: pytest.FixtureRequest, dsports_site: Site) -> SiteReport:
    """The probed report of the marker's site (probed once per session)."""
    return _state(request, "dsports_site_report").report(dsports_site)


class ProbedPort:
    """One port probed ad hoc by ``dsports_probe``, with assertions that explain themselves.

    No assertion passes on a port that was not tested (its host's name does not resolve, or the probe
    did not run): "unreachable" is proof only when something was actually tried.
    """

    def __init__(self, verdicts: list[Verdict]) -> None:
        if not verdicts:
            raise ValueError("ProbedPort needs the verdict of at least one probe")
        self.verdicts = verdicts
        self.verdict = verdicts[0]
        self.result = self.verdict.result
        self.status = self.result.status

    @property
    def tested(self) -> bool:
        """The port was actually probed (not ``unresolved``, not ``unknown``: ``judge.untested``)."""
        from check_digitalsentry.judge import untested

        return not untested(self.result)

    def _fail(self, wanted: str) -> None:
        __tracebackhide__ = True
        from check_digitalsentry.judge import advice

        r = self.result
        secs = "no answer" if r.seconds is None else f"{r.seconds:.3f} s"
        fix = advice(self.verdict)
        if not self.tested:
            fix = fix or f"make the probe of {r.host} run, then test again"
            pytest.fail(f"{r.host} {r.role} {r.port}/{r.transport}: expected {wanted}, but the port could not be "
                        f"tested ({r.status}: {self.verdict.detail}): that proves nothing; to fix: {fix}",
                        pytrace=False)
        pytest.fail(f"{r.host} {r.role} {r.port}/{r.transport}: expected {wanted}, got {r.status} ({secs}): "
                    f"{self.verdict.detail}{'; to fix: ' + fix if fix else ''}", pytrace=False)

    def assert_open(self) -> ProbedPort:
        """It answered as its role needs (``open``)."""
        __tracebackhide__ = True
        from check_digitalsentry.model import Status

        if self.status is not Status.OPEN:
            self._fail("open")
        return self

    def assert_closed(self) -> ProbedPort:
        """Something refused it (TCP reset / ICMP port unreachable): ``closed``; a port that could not be
        tested fails, saying so."""
        __tracebackhide__ = True
        from check_digitalsentry.model import Status

        if self.status is not Status.CLOSED:
            self._fail("closed")
        return self

    def assert_reachable(self) -> ProbedPort:
        """Something answered at all (``open`` or ``invalid``)."""
        __tracebackhide__ = True
        if not self.status.reachable:
            self._fail("reachable (open or invalid)")
        return self

    def assert_unreachable(self) -> ProbedPort:
        """The port was probed and nothing answered (``closed``, ``filtered`` or ``open|filtered``); a port
        that could not be tested (``unresolved``, ``unknown``) fails, saying so."""
        __tracebackhide__ = True
        if self.status.reachable or not self.tested:
            self._fail("unreachable")
        return self

    def assert_ok(self) -> ProbedPort:
        """The shared judgement says OK (the same rule as the check plugin and the port items)."""
        __tracebackhide__ = True
        if not all(v.ok for v in self.verdicts):
            self._fail("OK")
        return self

    def __repr__(self) -> str:
        return f"ProbedPort({self.result!r})"


@pytest.fixture
def dsports_probe(request: pytest.FixtureRequest) -> Callable[..., ProbedPort]:
    """``dsports_probe("ds01", "video")`` or ``dsports_probe("ds01", port=3389)``: probe one port of one
    host now. ``role`` picks the role's probe (default ``forbid``-style TCP/UDP connect); ``port``
    overrides the port; other keywords are Site settings (``sql_instance=``, ``timeout=``...)."""
    config = request.config

    def probe(host: str, role: str | None = None, *, port: int | None = None, transport: str = "tcp",
              timeout: float = 5.0, **settings: Any) -> ProbedPort:
        from check_digitalsentry.catalogue import ALWAYS, FORBID
        from check_digitalsentry.engine import SitePlan, probe_sites
        from check_digitalsentry.judge import judge_report
        from check_digitalsentry.model import PortSpec, State
        from check_digitalsentry.schema import SchemaError, build_site, check_settings, expected_ports

        hooks = core_hooks(config)
        if role is None and port is None:
            raise TypeError("dsports_probe needs a role, a port, or both")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            raise ValueError(f"dsports_probe: port: expected a port number 1-65535, got {port!r}")
        if transport not in ("tcp", "udp"):
            raise ValueError(f"dsports_probe: transport: expected 'tcp' or 'udp', got {transport!r}")
        roles = {r.name: r for r in hooks.roles()}
        try:  # checked as an inventory's site: the host, the timeout, every other setting
            model = build_site(check_settings({"name": "probe", "hosts": [host], "timeout": timeout, **settings},
                                              list(roles)))
        except SchemaError as exc:
            where = "host" if exc.path[:1] == ("hosts",) else ".".join(str(part) for part in exc.path)
            raise ValueError(f"dsports_probe: {where}: {exc.message}" if where else
                             f"dsports_probe: {exc.message}") from None
        if role is None or role == FORBID:
            wanted = [PortSpec("probe", port, transport, State.CRITICAL)]
        else:
            chosen = roles.get(role)
            if chosen is None:
                raise ValueError(f"dsports_probe: unknown role {role!r}")
            if port is not None:
                model.ports[role] = port
            if chosen.when != ALWAYS:  # switch the role on: web=true, audio_clients >= 1
                switch = getattr(model, chosen.when)
                setattr(model, chosen.when, True if isinstance(switch, bool) else max(switch, 1))
            planned = expected_ports(model, tuple(roles.values()))
            wanted = [s for s in planned if s.role == role][:1]
            if wanted and wanted[0].port is None and chosen.needs:  # learned from another role (the Browser)
                wanted += [s for s in planned if s.role == chosen.needs]
        [report] = probe_sites([SitePlan(model, wanted)], hooks=hooks)
        return ProbedPort([v for v in judge_report(report) if v.result.planned is wanted[0]])

    return probe


@pytest.fixture
def dsports_simulator() -> Iterator[Callable[..., SimSite]]:
    """Start embedded simulated DS sites on loopback: ``site = dsports_simulator(faults={"video": "off"})``
    gives a running ``SimSite`` (``site.address``, ``site.ports``, ``site.sql_port``, ``site.to_site()``,
    ``site.command_line()``); every simulator started is stopped after the test."""
    from check_digitalsentry.simulator import SimSite, Simulator

    running: list[Simulator] = []

    def start(**kwargs: Any) -> SimSite:
        kwargs.setdefault("audio_clients", 0)
        sim = Simulator([SimSite(**kwargs)]).start()
        running.append(sim)
        return sim.sites[0]

    yield start
    for sim in running:
        sim.close()
