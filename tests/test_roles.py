"""Selecting roles (``--role``, ``roles = [...]``) and the stable perfdata labels a per-port Icinga service
relies on, with the check run as a subprocess against simulated DS sites."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from support import CheckRun, check_args

from check_digitalsentry.simulator import SimSite, Simulator

Simulate = Callable[..., Simulator]
Check = Callable[..., CheckRun]


def reach(run: CheckRun) -> set[str]:
    """The reachability labels of a run (no times, no ``failing``)."""
    return {label for label in run.perfdata if not label.endswith("_time") and label != "failing"}


def test_a_chosen_role_is_the_only_one_reported(simulate: Simulate, check: Check) -> None:
    sim = simulate(faults={"diagnostics": "off"})  # a failure elsewhere must not leak into the video service
    run = check(*check_args(sim), "--role", "video", "-t", "3")
    assert run.code == 0, run
    assert run.first.startswith("DIGITALSENTRY OK - 1 port as expected on 127.0.0.1"), run.first
    assert reach(run) == {"video"} and run.perfdata["failing"] == "0;;;0;1"


def test_the_sql_role_still_asks_the_browser_and_fails_with_it(simulate: Simulate, check: Check) -> None:
    healthy = check(*check_args(simulate()), "--role", "sql", "-t", "3")
    assert healthy.code == 0, healthy
    assert reach(healthy) == {"sql"}  # the Browser was asked (the port came from it) but is not reported
    assert "SQL Server 2019" in healthy.first
    broken = check(*check_args(simulate(faults={"sql-browser": "off"})), "--role", "sql", "-t", "3")
    assert broken.code == 2, broken
    assert broken.first.startswith("DIGITALSENTRY CRITICAL - sql dynamic/tcp unknown: not probed: the SQL Server "
                                   "Browser gave no port"), broken.first
    assert reach(broken) == {"sql"}


def test_several_roles_and_the_forbidden_ports(simulate: Simulate, check: Check) -> None:
    sim = simulate(faults={"video": "off"})
    run = check(*check_args(sim), "--role", "web", "--role", "forbid", "--role", "web", "--forbid", "9/tcp",
                "-t", "3")
    assert run.code == 0, run  # video is down, but not chosen
    assert reach(run) == {"web", "forbid_9_tcp"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "vidoe"], "--role: unknown role 'vidoe' (did you mean 'video'?)"),
        (["--role", "forbid"], "--role forbid: -H 127.0.0.1 has no forbid port (its settings expect none)"),
        (["--role", ""], "--role: unknown role ''"),
    ],
)
def test_a_role_that_cannot_be_reported_is_a_usage_error(simulate: Simulate, check: Check, args: list[str],
                                                         message: str) -> None:
    run = check(*check_args(simulate()), *args, "-t", "3")
    assert run.code == 3, run
    assert run.first.startswith(f"DIGITALSENTRY UNKNOWN - {message}"), run.first


def test_labels_are_the_same_whatever_the_selection(simulate: Simulate, check: Check, tmp_path: Path) -> None:
    """An inventory's labels name site, host and role, whichever sites and roles a run reports: narrowing a
    check (one Icinga service per site, or per port) does not start new graphs."""
    sim = simulate(SimSite(name="hq", address="127.0.2.1", audio_clients=0),
                   SimSite(name="branch-1", address="127.0.2.2", audio_clients=0))
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    everything = check("--inventory", str(inventory), "-t", "5")
    one_site = check("--inventory", str(inventory), "--site", "branch-1", "-t", "5")
    one_port = check("--inventory", str(inventory), "--site", "branch-1", "--role", "video", "-t", "5")
    assert everything.code == one_site.code == one_port.code == 0, (everything, one_site, one_port)
    assert reach(one_port) == {"branch_1__127_0_2_2__video"}
    assert reach(one_port) < reach(one_site) < reach(everything)
    for label in reach(everything):
        assert label.replace("_", "").isalnum() and label == label.lower(), label  # no dots, no '/', no spaces
    assert one_port.perfdata["branch_1__127_0_2_2__video"].split(";")[1:] == \
        everything.perfdata["branch_1__127_0_2_2__video"].split(";")[1:]


def test_an_inventory_site_can_choose_its_roles(simulate: Simulate, check: Check, tmp_path: Path) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.2.1", audio_clients=0, faults={"video": "off"}))
    inventory = tmp_path / "sites.toml"
    inventory.write_text(sim.inventory_toml().replace('name = "hq"\n', 'name = "hq"\nroles = ["diagnostics", "sql"]\n'),
                         encoding="utf-8")
    run = check("--inventory", str(inventory), "-t", "5")
    assert run.code == 0, run
    assert reach(run) == {"hq__127_0_2_1__diagnostics", "hq__127_0_2_1__sql"}
    overridden = check("--inventory", str(inventory), "--role", "video", "-t", "5")  # the option wins
    assert overridden.code == 2 and reach(overridden) == {"hq__127_0_2_1__video"}, overridden


def test_a_role_only_some_sites_have_is_counted_where_it_is(simulate: Simulate, check: Check,
                                                           tmp_path: Path) -> None:
    sim = simulate(SimSite(name="hq", address="127.0.2.11", audio_clients=0),
                   SimSite(name="branch", address="127.0.2.12", audio_clients=0,
                           roles=("sql-browser", "sql", "video", "diagnostics")))
    inventory = tmp_path / "sites.toml"
    sim.inventory_toml(inventory)
    web = check("--inventory", str(inventory), "--role", "web", "-t", "5")
    video = check("--inventory", str(inventory), "--role", "video", "-t", "5")
    assert web.code == video.code == 0, (web, video)
    assert web.first == ("DIGITALSENTRY OK - 1 port as expected on 127.0.2.11; proved on this machine itself "
                         "(loopback): no network in between"), web  # not "2 sites"
    assert video.first == "DIGITALSENTRY OK - 2 sites, 2 ports as expected", video
