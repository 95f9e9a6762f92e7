"""The run's sites (pytest frontend): where they come from, their planned ports, and their results.

One ``DsportsState`` per pytest run (in ``config.stash``): the sites of the inventory files and of
``--dsports-host``, after the ``pytest_dsports_site_loaded`` hook; one pluggy manager for the core's
hooks; the port plans, made once by the core and used both to collect the items and to probe; and the
verdicts, each site probed once (all selected sites in one engine run) and judged once.
"""

from __future__ import annotations

import glob
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.builtin import PluggyHooks
    from check_digitalsentry.engine import SitePlan
    from check_digitalsentry.engine.sites import SiteReport
    from check_digitalsentry.judge import JudgedRun, JudgedSite, Verdict
    from check_digitalsentry.model import PortSpec
    from check_digitalsentry.schema import Site

ADHOC = "adhoc"  #: the name of an unnamed ``--dsports-host`` site (then ``adhoc-2``...)


class Source:
    """Where a group of sites came from: an inventory file (with the SHA-256 of the bytes read), or the
    ad-hoc hosts (``path`` None)."""

    def __init__(self, sites: list[Site], path: Path | None, sha256: str | None = None) -> None:
        self.sites = sites
        self.path = path
        self.sha256 = sha256

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else "--dsports-host"


class Port:
    """One planned port of one host of a site: what its test item holds, and the verdicts of its results
    (more than one for a SQL port the Browser names for several instances, or a host probed at each of its
    addresses), filled in when the site is probed and judged."""

    __slots__ = ("host", "site", "spec", "verdicts")

    def __init__(self, site: Site, host: str, spec: PortSpec) -> None:
        self.site = site
        self.host = host
        self.spec = spec
        self.verdicts: list[Verdict] = []

    def __repr__(self) -> str:
        return f"Port({self.site.name}/{self.host} {self.spec.label}: {len(self.verdicts)} verdict(s))"


class DsportsState:
    """The run's sites, their plans, and their verdicts."""

    def __init__(self, config: pytest.Config, sources: list[Source], timeout: float | None,
                 hooks: PluggyHooks, unselected: Sequence[str] = ()) -> None:
        from check_digitalsentry.engine import plan_sites

        self.config = config
        self.sources = sources
        self.timeout = timeout
        self.hooks = hooks
        #: lower-cased name -> name of each inventory site that --dsports-site left out
        self.unselected = {name.lower(): name for name in unselected}
        self.started = time.time()  #: when the run started (Unix time), for the handover record
        self.ended: float | None = None
        self.sites: dict[str, Site] = {}
        self.where: dict[str, str] = {}
        for source in sources:
            for site in source.sites:
                key = site.name.lower()
                if key in self.sites:
                    raise pytest.UsageError(f"dsports: site {site.name!r} is defined twice (in "
                                            f"{self.where[key]} and {source.where})")
                self.sites[key] = site
                self.where[key] = source.where
        for site in self.sites.values():
            config.hook.pytest_dsports_site_loaded(site=site, config=config)
        self.plans: dict[str, SitePlan] = {p.site.name.lower(): p for p in plan_sites(self.all_sites(), hooks)}
        self.judged: dict[str, JudgedSite] = {}
        #: site (lower case) -> host -> its planned ports, in plan order: what the items hold
        self.ports: dict[str, dict[str, list[Port]]] = {
            key: {host: [Port(plan.site, host, spec) for spec in plan.specs] for host in plan.site.hosts}
            for key, plan in self.plans.items()}

    @classmethod
    def from_config(cls, config: pytest.Config) -> DsportsState | None:
        """The state of a run that configures sites; None when it configures none (the plugin then does
        nothing at all)."""
        option = config.getoption("dsports_inventory")
        ini = str(config.getini("dsports_inventory") or "")
        patterns = [p for p in config.getini("dsports_files") if p.strip()]
        hosts = list(config.getoption("dsports_host") or [])
        selected = list(config.getoption("dsports_site") or [])
        timeout = _timeout(config)
        paths: list[Path] = []
        if option:
            paths.append(Path(option).absolute())
        elif ini:
            paths.append(_ini_dir(config) / ini)
        for pattern in patterns:
            found = sorted(glob.glob(str(config.rootpath / pattern), recursive=True))
            if not found:
                raise pytest.UsageError(f"dsports_files: no file matches {pattern!r} under {config.rootpath}")
            paths.extend(Path(f) for f in found if Path(f) not in paths)
        if not paths and not hosts:
            if selected:
                raise pytest.UsageError("--dsports-site needs an inventory: --dsports-inventory FILE, or the "
                                        "ini keys dsports_inventory / dsports_files")
            return None
        hooks = core_hooks(config)
        sources, unselected = _load(paths, hosts, selected, [r.name for r in hooks.roles()])
        return cls(config, sources, timeout, hooks, unselected)

    def all_sites(self) -> list[Site]:
        return [site for source in self.sources for site in source.sites]

    def left_out(self, name: str) -> str | None:
        """Why a test bound to site ``name`` is skipped, when --dsports-site left that site out; else None."""
        site = self.unselected.get(name.lower())
        if site is None:
            return None
        chosen = ", ".join(self.config.getoption("dsports_site") or [])
        return f"dsports site {site!r} is not selected (--dsports-site {chosen})"

    def site(self, name: str) -> Site:
        site = self.sites.get(name.lower())
        if site is None:
            known = ", ".join(s.name for s in self.all_sites()) or "none"
            raise LookupError(f"no dsports site {name!r} (sites: {known})")
        return site

    def judged_run(self) -> JudgedRun:
        """The sites probed so far, judged, in inventory order: what the handover report shows."""
        from check_digitalsentry.judge import JudgedRun

        ended = self.ended if self.ended is not None else time.time()
        probed = [self.judged[s.name.lower()] for s in self.all_sites() if s.name.lower() in self.judged]
        return JudgedRun(probed, ended - self.started, checked_at=ended)

    def host_ports(self, site: Site, host: str) -> list[Port]:
        """The planned ports of one host of a site (their specs are the very objects the engine probes and
        its results point to)."""
        return self.ports[site.name.lower()][host]

    def probe(self, sites: Sequence[Site]) -> None:
        """Probe the sites not probed yet, all at once, and judge them."""
        from check_digitalsentry.engine import probe_sites
        from check_digitalsentry.judge import JudgedSite

        todo = [self.plans[s.name.lower()] for s in dict.fromkeys(sites) if s.name.lower() not in self.judged]
        if not todo:
            return
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        for report in probe_sites(todo, deadline=deadline, hooks=self.hooks):
            judged = JudgedSite(report)
            key = report.site.name.lower()
            self.judged[key] = judged
            for host, ports in self.ports[key].items():  # each port gets the verdicts of its own results
                verdicts = [v for v in judged.verdicts if v.result.host == host]
                for port in ports:
                    port.verdicts = [v for v in verdicts if v.result.planned is port.spec]

    def report(self, site: Site) -> SiteReport:
        self.probe([site])
        return self.judged[site.name.lower()].report


STATE = pytest.StashKey[DsportsState]()
_HOOKS = pytest.StashKey["PluggyHooks"]()


def core_hooks(config: pytest.Config) -> PluggyHooks:
    """The core's hooks for this pytest run: one pluggy manager, made on first use."""
    hooks = config.stash.get(_HOOKS, None)
    if hooks is None:
        from check_digitalsentry.builtin import PluggyHooks
        from check_digitalsentry.plugins import make_plugin_manager

        hooks = config.stash[_HOOKS] = PluggyHooks(make_plugin_manager())
    return hooks


def _ini_dir(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath is not None else config.rootpath


def _timeout(config: pytest.Config) -> float | None:
    from check_digitalsentry.schema import SchemaError, seconds

    raw = config.getoption("dsports_timeout")
    where = "--dsports-timeout"
    if raw is None:
        raw, where = str(config.getini("dsports_timeout") or ""), "dsports_timeout"
        if not raw:
            return None
    try:
        return seconds(raw)
    except SchemaError as exc:
        raise pytest.UsageError(f"{where}: {exc.message}") from None


def _load(paths: list[Path], hosts: list[str], selected: list[str],
          roles: list[str]) -> tuple[list[Source], list[str]]:
    """The sources of the run's sites, after --dsports-site, and the names of the sites it left out."""
    from check_digitalsentry.inventory import InventoryError, load_inventory

    sources: list[Source] = []
    try:
        for path in paths:
            inventory = load_inventory(_shown(path), roles=roles)
            sources.append(Source(list(inventory.sites), path, inventory.sha256))
    except InventoryError as exc:
        raise pytest.UsageError(f"dsports: {exc}") from None
    if hosts:
        sources.append(Source(adhoc_sites(hosts, roles), None))
    unselected: list[str] = []
    if selected:
        known = {s.name.lower() for source in sources for s in source.sites}
        missing = [name for name in selected if name.lower() not in known]
        if missing:
            names = ", ".join(s.name for source in sources for s in source.sites) or "none"
            raise pytest.UsageError(f"--dsports-site: no site {missing[0]!r} (sites: {names})")
        wanted = {name.lower() for name in selected}
        for source in sources:
            unselected += [s.name for s in source.sites if s.name.lower() not in wanted]
            source.sites = [s for s in source.sites if s.name.lower() in wanted]
    return sources, unselected


def adhoc_sites(values: list[str], roles: Sequence[str]) -> list[Site]:
    """One site per ``--dsports-host`` value: ``HOST [KEY=VALUE...]`` (shell quoting; several DS servers:
    ``hosts=A,B``), the settings of an inventory site checked by the same code
    (``inventory.site_from_words``). Named by ``name=``, else ``adhoc``, ``adhoc-2``... UsageError of one
    line naming the option, the value and the key."""
    import shlex

    from check_digitalsentry.inventory import InventoryError, site_from_words

    sites: list[Site] = []
    unnamed = 0
    for value in values:
        where = f"--dsports-host {value!r}"
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from None
        named = any(word.partition("=")[0].strip() == "name" for word in words)
        unnamed += not named
        try:
            sites.append(site_from_words(words, where, roles, ADHOC if unnamed <= 1 else f"{ADHOC}-{unnamed}"))
        except InventoryError as exc:
            raise pytest.UsageError(str(exc)) from None
    return sites


def _shown(path: Path) -> str:
    """A path as error messages show it: relative to the working directory when it is below it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
