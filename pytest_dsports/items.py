"""Collected items (pytest frontend): inventory file -> site -> host -> one item per planned port.

Node ids: ``sites.toml::hq::ds01.example.com::video[18772/tcp]``, ``...::forbid[3389/tcp]``; the SQL port
the Browser names is ``sql[dynamic/tcp]``. Ad-hoc hosts (``--dsports-host``) form the site ``adhoc``.
An item holds its planned port (``state.Port``: the planned ``PortSpec`` of one host), whose verdicts -- those
whose results answer that very spec -- are filled in when its site is probed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_dsports.state import STATE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from check_digitalsentry.judge import JudgedSite, Verdict
    from check_digitalsentry.schema import Site
    from pytest_dsports.state import Port

MARKER = "dsports_port"  #: carried by every generated port item: ``-m "not dsports_port"`` leaves them out


class _SitesMixin:
    sites: list[Site]

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        for site in self.sites:
            yield SiteNode.from_parent(self, name=site.name, site=site)  # type: ignore[arg-type]


class InventoryFile(_SitesMixin, pytest.File):
    """An inventory file: its sites (already loaded and checked at configure time)."""

    def __init__(self, *, sites: list[Site], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sites = sites


class SitesCollector(_SitesMixin, pytest.Collector):
    """The ad-hoc site of ``--dsports-host``."""

    def __init__(self, *, sites: list[Site], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sites = sites


class SiteNode(pytest.Collector):
    def __init__(self, *, site: Site, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        for host in self.site.hosts:
            yield HostNode.from_parent(self, name=host, site=self.site)


class HostNode(pytest.Collector):
    def __init__(self, *, site: Site, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        for port in self.config.stash[STATE].host_ports(self.site, self.name):
            if not self.site.reports(port.spec.role):
                continue  # probed only because a chosen role depends on it
            yield PortItem.from_parent(self, name=port.spec.label, port=port, **_node_id(self, port.spec.label))


def _node_id(parent: pytest.Collector, name: str) -> dict[str, Any]:
    """``video[18772/tcp]`` as pytest 9.2+ parses such a node id: the name ``video`` with the params
    ``18772/tcp``, as a parametrized test's -- else ``--lf`` and a node id on the command line, which
    pytest parses so, never match the item. Older pytest compares node ids as strings: nothing to do."""
    structured = getattr(parent, "id", None)
    base, bracket, params = name.partition("[")
    if not bracket or not hasattr(structured, "with_params"):
        return {}
    return {"nodeid": structured.child(base).with_params(params[:-1])}  # type: ignore[union-attr]


class PortFailure(Exception):
    """A port that is not as expected: carries the verdicts for the failure paragraph, and -- a site whose
    run cannot prove the path its clients take -- why the site is not passed (``unproved``)."""

    def __init__(self, item: PortItem, verdicts: list[Verdict], unproved: str = "") -> None:
        super().__init__(unproved or (verdicts[0].reason if verdicts else "no result"))
        self.item = item
        self.verdicts = verdicts
        self.unproved = unproved


class PortItem(pytest.Item):
    """One expected (or forbidden) port of one host of one site."""

    def __init__(self, *, port: Port, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port  #: the planned port it tests: its verdicts are filled in when its site is probed
        self.site = port.site
        self.host = port.host
        self.spec = port.spec
        self.add_marker(MARKER)

    @property
    def verdicts(self) -> list[Verdict]:
        return self.port.verdicts

    def runtest(self) -> None:
        state = self.config.stash[STATE]
        # Every selected site is probed in the first item's run: one engine run, all concurrently.
        state.probe([item.site for item in self.session.items if isinstance(item, PortItem)] + [self.site])
        for verdict in self.verdicts:
            self.config.hook.pytest_dsports_port_result(site=self.site, verdict=verdict, config=self.config)
            self.user_properties.extend(properties(verdict))
        from check_digitalsentry.judge import not_proved, untestable

        # A forbidden port that was never probed (its host does not resolve) is not a pass: nothing shows
        # that it is blocked. It fails rather than skips, so that a run of forbidden ports alone
        # (-k forbid) cannot end green without having tested anything. A port whose failure the site
        # tolerates (severity ok) and that was never probed is skipped: not required, and not proved.
        failing = [v for v in self.verdicts if not v.ok or (not_proved(v) and v.result.spec.forbidden)]
        # A site whose run cannot prove the path its clients take (reached_from) is not passed: every one of
        # its ports fails, saying why, so that no selection of its tests (-k video) can end green.
        vantage = state.judged[self.site.name.lower()].vantage
        self.user_properties.append(("proved", vantage.proved))  # the JUnit record: what path it proved
        if vantage.required:
            self.user_properties.append(("reached_from", vantage.required))
        if not self.verdicts or failing or not vantage.ok:
            raise PortFailure(self, failing, vantage.reason)
        untested = [v for v in self.verdicts if not_proved(v)]
        if untested:
            r = untested[0].result
            pytest.skip(f"not tested: {r.status}: {r.detail} (tolerated: severity ok)")
        idle = [v for v in self.verdicts if untestable(v)]  # audio on an idle server: nothing proved either way
        if idle:
            v = idle[0]
            pytest.skip(f"{untestable(v)}: {v.result.status}: {v.detail} (informational; to test it during a live "
                        f"session, set severity.{v.result.role} = \"warning\")")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PortFailure):
            from check_digitalsentry.render.handover import failure_paragraph, unproved_paragraph

            failure = excinfo.value
            parts = [unproved_paragraph(self.site.name, self.state_of_site())] if failure.unproved else []
            parts += [failure_paragraph(self.site.name, v) for v in failure.verdicts]
            if not parts:
                return f"{self.site.name} / {self.host}: {self.name}: the probe returned no result for this port"
            return "\n\n".join(parts)
        return str(super().repr_failure(excinfo, style))

    def state_of_site(self) -> JudgedSite:
        """The judged site this port belongs to (probed by now)."""
        return self.config.stash[STATE].judged[self.site.name.lower()]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # Not "hq::host::name": pytest would turn the host's dots into "::" in a domain that ends the node id.
        return self.path, None, f"{self.site.name}/{self.host} {self.name}"


def properties(verdict: Verdict) -> list[tuple[str, object]]:
    """A port's result as JUnit properties: the site and how the inventory describes it, where, what, from
    which source address, the judged state, and what the probe learned."""
    r = verdict.result
    site = verdict.site
    props: list[tuple[str, object]] = [("site", site.name), ("description", site.description)]
    props += [(key, getattr(site, key)) for key in ("customer", "location", "reference") if getattr(site, key)]
    props += [
        ("host", r.host), ("address", r.address or ""), ("source", r.source or ""), ("role", r.role),
        ("port", "dynamic" if r.port is None else r.port), ("transport", r.transport),
        ("forbidden", r.spec.forbidden), ("status", str(r.status)), ("state", str(verdict.state)),
        ("seconds", "" if r.seconds is None else f"{r.seconds:.6f}"), ("detail", verdict.detail),
    ]
    if verdict.note:
        props.append(("note", verdict.note))
    props.extend((key, value) for key, value in r.facts.as_dict().items()
                 if isinstance(value, (str, int, float, bool)))
    return props
