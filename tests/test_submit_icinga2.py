"""--submit icinga2 against a real Icinga 2: a private daemon whose ApiListener binds 127.0.0.1 with its own
CA and certificates (tests/icinga_api.py), the contrib ApiUsers and passive template, and a fleet of
simulated DS sites (some broken). The real console script submits; the test reads every service back from
/v1/objects/services with its own client. Then each way it can go wrong: wrong password, unknown objects,
passive checks disabled, an unreachable object, the daemon down, a stalled endpoint, a foreign CA."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import script
from icinga_api import CONTRIB_PASSWORD, IcingaApi, free_port, until
from nginx import Nginx
from support import CheckRun, plugin_env, running

from check_digitalsentry.simulator import SimSite, Simulator, fleet_addresses

SITES = 54
FIRST = "127.0.150.1"
PER_ROLE = {5, 15, 21}  #: sites with icinga_per_role = true
SOURCE = "e2e-submitter"
TIMEOUT = 10


def faults_of(number: int) -> dict[str, str]:
    return {1: {"video": "off"}, 4: {"diagnostics": "off"}, 7: {"sql-browser": "off"}}.get(number % 10, {})


def failing_roles(number: int) -> dict[str, int]:
    """The roles a site's faults fail, and their states: a Browser that is off leaves the SQL port unprobed."""
    fault = faults_of(number)
    if "sql-browser" in fault:
        return {"sql-browser": 2, "sql": 2}
    return {role: 1 if role == "diagnostics" else 2 for role in fault}


def site_name(number: int) -> str:
    return f"ds-{number:03d}"


def icinga_host(number: int) -> str:
    return "DS Server 9" if number == 9 else site_name(number)


def icinga_service(number: int) -> str:
    return "ds-ports" if number == 9 else "digitalsentry"


def with_keys(toml: str, keys: dict[str, dict[str, str]]) -> str:
    """The inventory with more keys in some sites' tables: site name -> key -> TOML value."""
    for name, extra in keys.items():
        line = f'name = "{name}"\n'
        assert line in toml
        toml = toml.replace(line, line + "".join(f"{key} = {value}\n" for key, value in extra.items()))
    return toml


def site_roles(inventory: Path) -> dict[str, list[str]]:
    """Site name -> the roles its check reports (what per-role services are made of)."""
    from check_digitalsentry.engine import plan_sites
    from check_digitalsentry.inventory import load_inventory
    from check_digitalsentry.plugins import get_hooks

    hooks = get_hooks()
    sites = load_inventory(str(inventory), roles=[role.name for role in hooks.roles()]).select([])
    return {plan.site.name: plan.roles for plan in plan_sites(sites, hooks)}


def icinga_objects(inventory: Path) -> str:
    """The Host and Service objects of every site, as check_digitalsentry --icinga2-objects writes them."""
    run = subprocess.run([script("check_digitalsentry"), "--inventory", str(inventory), "--icinga2-objects"],
                         capture_output=True, text=True, timeout=60, check=True, env=plugin_env())
    return run.stdout


class Setup:
    def __init__(self, icinga: IcingaApi, sim: Simulator, inventory: Path, password: Path, root: Path) -> None:
        self.icinga = icinga
        self.sim = sim
        self.inventory = inventory
        self.password = password
        self.root = root

    def run(self, *args: str, inventory: Path | None = None, timeout: float = TIMEOUT,
            password: Path | None = None, auth: tuple[str, ...] | None = None) -> tuple[CheckRun, float]:
        """The real console script with --submit icinga2 (and this daemon's URL and CA unless given)."""
        if auth is None:
            auth = ("--api-user", "check_digitalsentry", "--api-password-file", str(password or self.password))
        argv = [script("check_digitalsentry"), "--inventory", str(inventory or self.inventory), "--submit",
                "icinga2", "-t", f"{timeout:g}", "--check-source", SOURCE, *auth]
        if "--api-url" not in args:
            argv += ["--api-url", self.icinga.url]
        if "--api-ca" not in args:
            argv += ["--api-ca", str(self.icinga.pki.ca)]
        started = time.monotonic()
        proc = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout + 30,
                              stdin=subprocess.DEVNULL, env=plugin_env())
        return CheckRun(proc), time.monotonic() - started


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("submit-icinga2")
    sites = [SimSite(name=site_name(n), address=address, ports="high", audio_clients=0, faults=faults_of(n))
             for n, address in enumerate(fleet_addresses(SITES, FIRST), 1)]
    sim = Simulator(sites).start()
    try:
        inventory = root / "sites.toml"
        keys: dict[str, dict[str, str]] = {site_name(n): {"icinga_per_role": "true"} for n in PER_ROLE}
        keys[site_name(9)] = {"icinga_host": '"DS Server 9"', "icinga_service": '"ds-ports"'}
        inventory.write_text('[defaults]\nicinga_template = "digitalsentry-passive"\n\n'
                             + with_keys(sim.inventory_toml(), keys))
        icinga = IcingaApi(root / "icinga")
        # Not DS sites: an uplink router (a Dependency's parent), and services for the failure cases.
        extra = ('object Host "uplink" {\n  import "generic-host"\n  address = "127.0.150.250"\n'
                 "  max_check_attempts = 1\n  enable_active_checks = false\n}\n"
                 'object ApiUser "no-permission" {\n  password = "secret"\n  permissions = [ "objects/query/Host" ]\n}\n'
                 'object Service "passive-off" {\n  host_name = "ds-008"\n  import "generic-service"\n'
                 '  import "digitalsentry-passive"\n  enable_passive_checks = false\n}\n'
                 'object Service "behind-uplink" {\n  host_name = "ds-010"\n  import "generic-service"\n'
                 '  import "digitalsentry-passive"\n}\n'
                 'object Dependency "uplink" {\n  parent_host_name = "uplink"\n  child_host_name = "ds-010"\n'
                 '  child_service_name = "behind-uplink"\n  disable_checks = true\n}\n')
        icinga.configure(icinga_objects(inventory), extra)
        validated = icinga.validate()
        assert validated.returncode == 0, validated.stdout + validated.stderr
        password = root / "api.password"
        password.write_text(CONTRIB_PASSWORD + "\n")
        password.chmod(0o600)
        with running([icinga.binary, "daemon", *icinga.defines()], root / "daemon.log") as daemon:
            icinga.wait_ready(daemon)
            yield Setup(icinga, sim, inventory, password, root)
    finally:
        sim.close()


def test_a_fleet_is_submitted_and_icinga_stores_every_result(setup: Setup) -> None:
    before = time.time()
    run, seconds = setup.run()
    after = time.time()
    roles = site_roles(setup.inventory)
    total = SITES - len(PER_ROLE) + sum(len(roles[site_name(n)]) for n in PER_ROLE)
    assert run.code == 0, run
    assert len(run.lines) == 1, run
    assert re.fullmatch(rf"DIGITALSENTRY SUBMIT OK - {total} of {total} results accepted by Icinga 2 at "
                        rf"{setup.icinga.url} in \d+\.\d\d s; results: \d+ OK, \d+ WARNING, \d+ CRITICAL",
                        run.lines[0]), run.lines[0]
    assert seconds < TIMEOUT + 1.5
    services = setup.icinga.client.services()
    checked = 0
    for number in range(1, SITES + 1):
        name, host = site_name(number), icinga_host(number)
        objects = ([(f"{icinga_service(number)}-{role}", role) for role in roles[name]] if number in PER_ROLE
                   else [(icinga_service(number), None)])
        for service, role in objects:
            attrs = services[f"{host}!{service}"]
            result = attrs["last_check_result"]
            assert result is not None, (host, service)
            state = int(result["state"])  # Icinga sets state from exit_status; exit_status itself stays 0
            label = f"{name.replace('-', '_')}__{'127_0_150_' + str(number)}"
            output = result["output"]
            fault = faults_of(number)
            failing = failing_roles(number) if role is None else {
                r: state for r, state in failing_roles(number).items() if r == role}
            want = max(failing.values(), default=0)
            assert state == want, (host, service, output)
            assert attrs["state"] == want
            word = ("OK", "WARNING", "CRITICAL")[want]
            assert output.startswith(f"DIGITALSENTRY {word} - "), output
            if role is None and "video" in fault:
                assert output.startswith(f"DIGITALSENTRY CRITICAL - {name}/127.0.150.{number} video 18772/tcp "
                                         "closed"), output
                assert f"{label}__video=0;;1:;0;1" in result["performance_data"]
            if role is None and not fault:
                assert output.startswith(f"DIGITALSENTRY OK - 8 ports as expected on 127.0.150.{number}; SQL "
                                         "Server"), output
            lines = output.split("\n")
            assert len(lines) == 1 + (1 if role else 8) + 1, output  # -v: one line per port reported, the vantage
            assert lines[-1].startswith(f"{name} vantage OK: 127.0.150.{number} (loopback, this machine)"), output
            perf = result["performance_data"]
            assert f"failing={len(failing)};;;0;{1 if role else 8}" in perf, perf
            assert all(item.split("=")[0] == "failing" or item.startswith(label + "__") for item in perf), perf
            assert result["check_source"] == SOURCE
            assert result["active"] is False
            assert before <= result["execution_start"] <= result["execution_end"] <= after
            assert result["ttl"] == 600
            assert attrs["next_check"] > after + 500  # the freshness check waits for the ttl
            checked += 1
    assert checked == total
    print(f"icinga2 passive: {total} results for {SITES} sites in {seconds:.2f} s (the whole run)\n{run.lines[0]}")


def test_unknown_objects_a_disabled_service_and_an_unreachable_one_are_each_said_once(setup: Setup) -> None:
    """404 (no such host, no such service), 403 (passive checks disabled), and Icinga's 200 "Ignoring passive
    check result for unreachable object": the others still go in, the run says which did not (exit 1)."""
    from check_digitalsentry.simulator import inventory_toml

    sites = [s for s in setup.sim.sites if s.name in ("ds-002", "ds-003", "ds-006", "ds-008", "ds-010")]
    keys = {"ds-003": {"icinga_host": '"no-such-host"'}, "ds-006": {"icinga_service": '"no-such-service"'},
            "ds-008": {"icinga_service": '"passive-off"'}, "ds-010": {"icinga_service": '"behind-uplink"'}}
    inventory = setup.root / "mixed.toml"
    inventory.write_text(with_keys(inventory_toml(sites), keys))
    client = setup.icinga.client
    client.host_result("uplink", 1)  # DOWN, and HARD at once (max_check_attempts = 1)
    run, seconds = setup.run(inventory=inventory, timeout=5)
    assert run.code == 1, run
    assert re.match(r"DIGITALSENTRY SUBMIT WARNING - 1 of 5 results accepted by Icinga 2 at \S+ in \d+\.\d\d s; "
                    r"1 ignored \(unreachable\), 2 missing \(404\), 1 refused \(403\); results: 5 OK$",
                    run.lines[0]), run.lines[0]
    assert sorted(run.lines[1:]) == sorted([
        "no-such-host!digitalsentry OK missing: Icinga has no service digitalsentry on host no-such-host",
        "ds-006!no-such-service OK missing: Icinga has no service no-such-service on host ds-006",
        "ds-008!passive-off OK refused: Icinga takes no passive results for service passive-off on host ds-008 "
        "(403: Passive checks are disabled for object 'ds-008!passive-off'.)",
        "ds-010!behind-uplink OK ignored: Icinga ignored the result for service behind-uplink on host ds-010: "
        "Ignoring passive check result for unreachable object 'ds-010!behind-uplink'.",
    ]), run.stdout
    assert seconds < 5 + 1.5


@pytest.mark.parametrize(("what", "args", "password", "pattern"), [
    ("a wrong password", (), "wrong-password",
     r"0 of 1 result accepted by Icinga 2 at \S+ in \d+\.\d\d s: 401 Unauthorized: Icinga 2 refused --api-user "
     r"check_digitalsentry and its --api-password-file; results: 1 CRITICAL"),
    ("a CA that did not sign the node's certificate", ("--api-ca", "OTHER_CA"), None,
     r"0 of 1 result accepted by Icinga 2 at \S+ in \d+\.\d\d s: TLS: the certificate of 127\.0\.0\.1:\d+ failed "
     r"verification: self-signed certificate in certificate chain \(--api-ca: .*"),
    ("an ApiUser without the permission", ("USER", "no-permission"), "secret",
     r"0 of 1 result accepted by Icinga 2 at \S+ in \d+\.\d\d s; 1 missing \(404\) \(if these objects exist, the "
     r"ApiUser lacks the permission actions/process-check-result: Icinga answers 404 for that too\); results: 1 "
     r"CRITICAL"),
])
def test_what_no_retry_can_fix_stops_the_run_at_once_with_one_line(
    setup: Setup, what: str, args: tuple[str, ...], password: str | None, pattern: str
) -> None:
    inventory = setup.root / "one.toml"
    from check_digitalsentry.simulator import inventory_toml

    inventory.write_text(inventory_toml([setup.sim.sites[0]]))
    auth = None
    if password is not None:
        path = setup.root / f"password-{password}"
        path.write_text(password + "\n")
        path.chmod(0o600)
        user = args[1] if args[:1] == ("USER",) else "check_digitalsentry"
        auth = ("--api-user", user, "--api-password-file", str(path))
        args = () if args[:1] == ("USER",) else args
    words = [str(setup.icinga.pki.other_ca) if arg == "OTHER_CA" else arg for arg in args]
    run, seconds = setup.run(*words, inventory=inventory, timeout=5, auth=auth)
    assert run.code == 2, (what, run)
    assert re.match("DIGITALSENTRY SUBMIT CRITICAL - " + pattern, run.lines[0]), (what, run.lines[0])
    assert seconds < 3, (what, seconds)  # no retry: no waiting for the deadline


@pytest.mark.parametrize("what", ["the daemon down", "a stalled endpoint"])
def test_an_api_that_is_down_or_stalls_is_retried_until_the_deadline_then_said(setup: Setup, what: str) -> None:
    """Connection refused (nothing listens) and a listener that accepts and never answers (not even the TLS
    handshake): retried with backoff, and the run still ends inside -t with one line, exit 2."""
    from check_digitalsentry.simulator import inventory_toml

    inventory = setup.root / "two.toml"
    inventory.write_text(inventory_toml(setup.sim.sites[1:3]))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0 if what == "a stalled endpoint" else free_port()))
        if what == "a stalled endpoint":
            listener.listen(16)  # the kernel completes the TCP handshakes; nobody ever reads or answers
        port = listener.getsockname()[1]
        if what == "the daemon down":
            listener.close()
        run, seconds = setup.run("--api-url", f"https://127.0.0.1:{port}", inventory=inventory, timeout=3)
    assert run.code == 2, run
    reason = ("refused the connection (is Icinga 2 running, with an ApiListener on port" if what == "the daemon down"
              else "did not answer within")
    assert run.lines[0].startswith(f"DIGITALSENTRY SUBMIT CRITICAL - 0 of 2 results accepted by Icinga 2 at "
                                   f"https://127.0.0.1:{port} in "), run
    assert f"127.0.0.1:{port} {reason}" in run.lines[0], run
    assert "retries" in run.lines[0] or what == "a stalled endpoint", run
    assert len(run.lines) == 1, run  # the one reason, said once
    assert seconds < 3 + 1.0, seconds


def test_a_client_certificate_authenticates_the_contrib_api_user(setup: Setup) -> None:
    from check_digitalsentry.simulator import inventory_toml

    inventory = setup.root / "cert.toml"
    inventory.write_text(inventory_toml(setup.sim.sites[10:13]))
    pki = setup.icinga.pki
    run, _ = setup.run(inventory=inventory, auth=("--api-cert", str(pki.client), "--api-key", str(pki.client_key)))
    assert run.code == 0, run
    assert run.lines[0].startswith("DIGITALSENTRY SUBMIT OK - 3 of 3 results accepted by Icinga 2 at "), run


def test_the_freshness_check_sets_unknown_when_no_result_comes_within_the_ttl(setup: Setup) -> None:
    """What contrib/icinga2/digitalsentry-passive.conf promises, on the real daemon: a result moves the next
    check to its arrival + ttl; with no newer result, the dummy check runs then and says UNKNOWN."""
    from check_digitalsentry.simulator import inventory_toml

    inventory = setup.root / "fresh.toml"
    inventory.write_text(inventory_toml([setup.sim.sites[22]]))  # ds-023: a healthy site
    client = setup.icinga.client
    run, _ = setup.run("--ttl", "2", inventory=inventory)
    assert run.code == 0, run
    submitted = client.services()["ds-023!digitalsentry"]
    assert submitted["state"] == 0 and submitted["last_check_result"]["ttl"] == 2
    assert submitted["next_check"] - submitted["last_check_result"]["execution_end"] < 2 + 1.5

    def expired() -> dict[str, Any] | None:
        attrs = client.services()["ds-023!digitalsentry"]
        return attrs if attrs["last_check_result"]["active"] else None

    attrs = until(expired, "the freshness check", timeout=15)
    result = attrs["last_check_result"]
    assert attrs["state"] == 3, result
    assert re.fullmatch(r"no result from check_digitalsentry for \d+ minutes", result["output"]), result
    assert result["check_source"] == "icinga-e2e.invalid"  # run by the daemon itself
    run, _ = setup.run(inventory=inventory)  # results are back: so is the state
    assert run.code == 0 and client.services()["ds-023!digitalsentry"]["state"] == 0


def test_the_contrib_cron_job_and_systemd_service_submit_quietly(setup: Setup) -> None:
    """The exact job of contrib/cron/digitalsentry-submit.crontab and ExecStart= of
    contrib/systemd/digitalsentry-submit.service, their fixed paths and URL pointed at this daemon: all
    submitted, so --quiet prints nothing and exits 0 (cron mails nothing; the unit succeeds)."""
    import shlex

    from conftest import REPO

    crontab = (REPO / "contrib" / "cron" / "digitalsentry-submit.crontab").read_text()
    (job,) = [line.split(None, 5)[5] for line in crontab.splitlines() if line.startswith("*/5 ")]
    unit = (REPO / "contrib" / "systemd" / "digitalsentry-submit.service").read_text()
    (exec_start,) = [line.partition("=")[2] for line in unit.splitlines() if line.startswith("ExecStart=")]
    (credential,) = [line.partition("=")[2] for line in unit.splitlines() if line.startswith("LoadCredential=")]
    assert credential == "icinga-api.password:/etc/digitalsentry/icinga-api.password"
    credentials = setup.root / "credentials"  # what systemd makes of LoadCredential= (%d)
    credentials.mkdir(exist_ok=True)
    (credentials / "icinga-api.password").write_bytes(setup.password.read_bytes())
    (credentials / "icinga-api.password").chmod(0o400)
    locks = setup.root / "lock"
    locks.mkdir(exist_ok=True)
    replace = {"/usr/lib/nagios/plugins/check_digitalsentry": script("check_digitalsentry"),
               "/etc/digitalsentry/sites.toml": str(setup.inventory),
               "https://icinga.example.com:5665": setup.icinga.url,
               "/etc/digitalsentry/icinga-ca.crt": str(setup.icinga.pki.ca),
               "/etc/digitalsentry/icinga-api.password": str(setup.password),
               "%d/": f"{credentials}/", "/run/lock/": f"{locks}/"}
    for command, shell in ((job, True), (exec_start, False)):
        for fixed, ours in replace.items():
            command = command.replace(fixed, ours)
        argv = ["/bin/sh", "-c", command] if shell else shlex.split(command)
        run = subprocess.run(argv, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
                             env=plugin_env())
        assert (run.returncode, run.stdout, run.stderr) == (0, "", ""), (command, run)


# --- behind a TLS reverse proxy: nginx, answering every request with Connection: close --------------------


@pytest.fixture(scope="module")
def proxy(setup: Setup) -> Iterator[tuple[str, Nginx]]:
    """nginx in front of the daemon's API, at https://127.0.0.1:PORT/icinga, closing each connection after
    its answer (``keepalive_timeout 0``: ``Connection: close``)."""
    pki = setup.icinga.pki
    nginx = Nginx(setup.root / "nginx", pki.node, pki.node_key)
    with nginx.proxy(setup.icinga.url, pki.ca) as url:
        yield url, nginx


def posts(nginx: Nginx, since: int) -> list[str]:
    """The statuses nginx answered to the process-check-result requests after its first ``since`` lines."""
    return [line.rsplit(" ", 1)[1] for line in nginx.requests()[since:]
            if line.startswith("POST /icinga/v1/actions/process-check-result ")]


def test_through_a_proxy_that_closes_each_connection_every_result_is_read_and_posted_once(
    setup: Setup, proxy: tuple[str, Nginx]
) -> None:
    """nginx answers with Connection: close, the body in a TLS record of its own: each answer is read whole,
    each accepted result was posted exactly once."""
    from check_digitalsentry.simulator import inventory_toml

    url, nginx = proxy
    inventory = setup.root / "proxied.toml"
    inventory.write_text(inventory_toml(setup.sim.sites[30:36]))
    before = len(nginx.requests())
    run, seconds = setup.run("--api-url", url, inventory=inventory, timeout=5)
    assert run.code == 0, run
    assert run.lines[0].startswith(f"DIGITALSENTRY SUBMIT OK - 6 of 6 results accepted by Icinga 2 at {url} in "), run
    assert "retr" not in run.lines[0], run
    assert posts(nginx, before) == ["200"] * 6, nginx.requests()[before:]
    assert seconds < 5


def test_through_a_proxy_a_wrong_password_is_sent_once_and_said_once(setup: Setup, proxy: tuple[str, Nginx]) -> None:
    from check_digitalsentry.simulator import inventory_toml

    url, nginx = proxy
    inventory = setup.root / "proxied-401.toml"
    inventory.write_text(inventory_toml(setup.sim.sites[30:36]))
    wrong = setup.root / "password-wrong-proxied"
    wrong.write_text("wrong-password\n")
    wrong.chmod(0o600)
    before = len(nginx.requests())
    run, seconds = setup.run("--api-url", url, inventory=inventory, timeout=5, password=wrong)
    assert run.code == 2, run
    assert run.lines == [
        f"DIGITALSENTRY SUBMIT CRITICAL - 0 of 6 results accepted by Icinga 2 at {url} in {run.lines[0].split(' in ')[1]}"
    ], run
    assert re.search(r" in \d+\.\d\d s: 401 Unauthorized: Icinga 2 refused --api-user check_digitalsentry and its "
                     r"--api-password-file; results: \d+ OK, 1 WARNING, 1 CRITICAL$", run.lines[0]), run
    assert posts(nginx, before) == ["401"], nginx.requests()[before:]  # the wrong credentials went out once
    assert seconds < 3


def test_icinga_takes_a_result_sent_twice_as_two_checks(setup: Setup) -> None:
    """Why a result whose answer was lost is not sent again: Icinga 2.13 processes the very same result a
    second time (same times, same output), as the next check attempt -- with the passive template's
    max_check_attempts = 2, one failure seen once would become HARD and notify, five minutes early."""
    client = setup.icinga.client
    now = time.time()

    def post(state: int, started: float) -> dict[str, Any]:
        status, doc = client.call("POST", "/v1/actions/process-check-result", {
            "type": "Service", "service": "ds-050!digitalsentry", "exit_status": state,
            "plugin_output": "DIGITALSENTRY CRITICAL - video 18772/tcp closed", "execution_start": started,
            "execution_end": started + 0.5})
        assert status == 200, doc
        status, doc = client.call("GET", "/v1/objects/services", {
            "filter": 'service.__name == "ds-050!digitalsentry"', "attrs": ["state", "state_type", "check_attempt"]})
        return dict(doc["results"][0]["attrs"])

    post(0, now - 60)  # OK, HARD: where a failure starts from
    assert post(2, now) == {"state": 2, "state_type": 0, "check_attempt": 1}  # SOFT: the first time seen
    assert post(2, now) == {"state": 2, "state_type": 1, "check_attempt": 1}  # the same result again: HARD
