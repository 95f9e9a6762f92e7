"""A small network lab: Linux network namespaces, veth links, routes and nftables rules, made for a test
and removed after it -- the firewall/NAT scenarios of test_netns.py, and bench/ (which imports this
module through ``sys.path``).

API (keep it stable: bench/ depends on it)::

    class Lab:                  # context manager; close() removes everything it made, even on failure
        Lab(prefix="dsl")       # namespaces are "<prefix>-<pid>-<n>-<role>": parallel and aborted runs
                                # never collide; stale namespaces with this prefix whose pid is dead are
                                # deleted (their processes killed first) when a Lab is made
        namespace(role) -> str  # a new namespace with lo up and ICMP rate limits off
                                # (net.ipv4.icmp_ratelimit=0, icmp_msgs_per_sec high, ipv6 ratelimit 0:
                                # Linux rate-limits port-unreachable, which would turn closed UDP into
                                # open|filtered); returns its name
        link(ns_a, addr_a, ns_b, addr_b, prefix=24)   # a veth pair between two namespaces, addressed, up
        delayed_link(ns_a, addr_a, ns_b, addr_b, delay)   # a point-to-point link through a user-space
                                # delay line (TUN devices, delayline.py): each direction takes ``delay``
                                # seconds -- a WAN round trip, where the kernel has no netem
        route(ns, dest, via)    # ip route add DEST via VIA in ns (DEST may be "default")
        forwarding(ns)          # net.ipv4.ip_forward=1 in ns (a router)
        nft(ns, ruleset)        # nft -f - inside ns (a ruleset may start with "flush ruleset": it is ns's)
        run(ns, *argv, timeout=60, **kwargs) -> CompletedProcess[str]   # ip netns exec ns argv...
        popen(ns, *argv, **kwargs) -> Popen[str]      # the same, in the background; killed on close()
        resolv_conf(ns, text)   # /etc/netns/<ns>/resolv.conf: what run()/popen() see as /etc/resolv.conf
        etc_file(ns, name, text)   # any other /etc/netns/<ns>/<name> (e.g. nsswitch.conf)
        close()                 # kill what popen() started and anything else left in the namespaces,
                                # delete the namespaces (and their veths), remove /etc/netns/<ns>
    available() -> str | None   # None when namespaces can be used here, else why not
    require() -> None           # pytest.skip(why) when not available; pytest.fail(why) under CI=true as root

Example::

    with Lab() as lab:
        client, server = lab.namespace("client"), lab.namespace("server")
        lab.link(client, "10.66.2.1", server, "10.66.2.2")
        lab.nft(server, "table inet f { chain in { type filter hook input priority 0; tcp dport 22 drop; } }")
        site = lab.popen(server, "dsports-simulator", "--in-netns", "--address", "10.66.2.2")
        lab.run(client, "check_digitalsentry", "-H", "10.66.2.2", "-t", "2").returncode

Safety rules the lab enforces, so that a test can never disturb the machine it runs on: every command
runs inside a namespace this Lab made (a name it did not make is refused); links are veth pairs created
inside those namespaces, never in the host's; addresses, routes and resolvers are private lab space
(10.0.0.0/8), carrier-grade NAT space (100.64.0.0/10) or documentation space that stands for public
addresses (TEST-NET-1/2/3: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) -- or the namespace's own
loopback -- and the namespaces have no link to the host, so no traffic leaves the lab. Cleanup runs from ``close()``/``__exit__`` and
from ``atexit``; a run killed hard (SIGKILL) leaves namespaces that the next Lab with the same prefix
deletes. Needs root, ``ip`` (iproute2) and ``nft`` (nftables).
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType
    from typing import Any

#: Where ``ip netns`` keeps named namespaces, and the per-namespace /etc overlay ``ip netns exec`` mounts.
NETNS_RUN = Path("/run/netns")
ETC_NETNS = Path("/etc/netns")
#: The only addresses a lab hands out, routes to or points a resolver at: private lab space, and (for address
#: plans that look like a real site's: carrier-grade NAT, public addresses) spaces no network routes.
LAB_NET = ipaddress.ip_network("10.0.0.0/8")
LAB_NETS = (LAB_NET, ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("192.0.2.0/24"),
            ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24"))
_SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"
_ROLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
#: Per-namespace settings written at creation (optional ones are skipped when the file is missing).
_SYSCTLS = {
    "net/ipv4/icmp_ratelimit": ("0", True),
    "net/ipv4/icmp_msgs_per_sec": ("1000000", False),
    "net/ipv4/icmp_msgs_burst": ("1000000", False),
    "net/ipv6/icmp/ratelimit": ("0", False),
}

_labs: set[Lab] = set()  #: labs not closed yet (closed at exit by _close_all)
_ids = itertools.count(1)
_made_etc_netns = False  #: /etc/netns did not exist before a lab of this process wrote into it


class LabError(RuntimeError):
    """A lab command failed; the message has the command and what it printed."""


def _program(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=_SBIN)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _lab_address(text: str, what: str) -> str:
    """``text`` (an address, optionally /prefix) checked to lie in one of ``LAB_NETS``."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an IPv4 address or network") from None
    if net.version != 4 or not any(net.subnet_of(lab) for lab in LAB_NETS):  # type: ignore[arg-type]
        raise ValueError(f"{what} {text} is outside {', '.join(map(str, LAB_NETS))}: a lab uses those only")
    return text


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ip(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    ip = _program("ip")
    if ip is None:
        raise LabError("ip (iproute2) is not installed")
    proc = subprocess.run([ip, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _netns_names() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_RUN.iterdir())
    except FileNotFoundError:
        return []


def _netns_pids(name: str) -> list[int]:
    proc = _ip("netns", "pids", name, check=False)
    return [int(word) for word in proc.stdout.split() if word.isdigit()]


def _kill_netns_processes(name: str, grace: float = 2.0) -> None:
    """SIGTERM every process whose network namespace is ``name`` (only ever one of a lab's), then SIGKILL."""
    pids = _netns_pids(name)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            if pid != os.getpid():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + grace
        while pids and time.monotonic() < end:
            pids = [pid for pid in pids if _pid_alive(pid) and not _zombie(pid)]
            if pids:
                time.sleep(0.02)
        if not pids:
            return


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _delete_netns(name: str) -> None:
    _kill_netns_processes(name)
    if (NETNS_RUN / name).exists():
        _ip("netns", "delete", name, check=False)
    shutil.rmtree(ETC_NETNS / name, ignore_errors=True)


def sweep(prefix: str = "dsl") -> list[str]:
    """Delete the namespaces (and /etc/netns overlays) of labs with ``prefix`` whose process is dead."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)-\d+-")
    names = set(_netns_names())
    try:
        names |= {p.name for p in ETC_NETNS.iterdir()}
    except FileNotFoundError:
        pass
    removed = []
    for name in sorted(names):
        match = pattern.match(name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            _delete_netns(name)
            removed.append(name)
    return removed


class Lab:
    """Network namespaces and what connects them; everything is removed by ``close()`` (see the module)."""

    def __init__(self, prefix: str = "dsl") -> None:
        if not re.match(r"^[a-z][a-z0-9]{0,11}$", prefix):
            raise ValueError(f"prefix {prefix!r}: 1-12 lower-case letters and digits, starting with a letter")
        self.prefix = prefix
        self.id = f"{os.getpid()}-{next(_ids)}"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[str]] = []
        self.closed = False
        self._links = itertools.count(1)
        self._ip = _program("ip")
        self._nft = _program("nft")
        sweep(prefix)
        _labs.add(self)

    def __repr__(self) -> str:
        return f"Lab({self.prefix}-{self.id}, namespaces={self.namespaces})"

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.close()
        except LabError:
            if kind is None:
                raise
            # an exception is already on its way out: do not hide it behind a cleanup complaint
            print(f"netlab: cleanup after {kind.__name__}: {sys.exc_info()[1]}", file=sys.stderr)

    # -- building

    def _own(self, ns: str) -> str:
        if ns not in self.namespaces:
            raise ValueError(f"namespace {ns!r} was not made by this lab ({self.namespaces})")
        if self.closed:
            raise LabError(f"{self!r} is closed")
        return ns

    def namespace(self, role: str) -> str:
        """Make the namespace ``<prefix>-<pid>-<n>-<role>``: lo up, ICMP rate limits off."""
        if not _ROLE.match(role):
            raise ValueError(f"role {role!r}: lower-case letters, digits, '-' or '_' (at most 31)")
        if self.closed:
            raise LabError(f"{self!r} is closed")
        name = f"{self.prefix}-{self.id}-{role}"
        if name in self.namespaces:
            raise ValueError(f"this lab already has a namespace {role!r}")
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        self._sysctl(name, _SYSCTLS)
        return name

    def _sysctl(self, ns: str, values: dict[str, tuple[str, bool]]) -> None:
        """Write /proc/sys files inside ``ns`` (they are per network namespace); value, required."""
        script = []
        for key, (value, required) in values.items():
            path = f"/proc/sys/{key}"
            write = f"printf %s {value} > {path}"
            script.append(write if required else f"if [ -w {path} ]; then {write}; fi")
        proc = self.run(ns, "sh", "-ec", "; ".join(script), timeout=30)
        if proc.returncode != 0:
            raise LabError(f"sysctl in {ns}: {proc.stderr.strip()}")

    def link(self, ns_a: str, addr_a: str, ns_b: str, addr_b: str, prefix: int = 24) -> None:
        """A veth pair ``ns_a`` <-> ``ns_b`` with ``addr_a/prefix`` and ``addr_b/prefix``, both up."""
        self._own(ns_a), self._own(ns_b)
        for addr in (addr_a, addr_b):
            _lab_address(f"{addr}/{prefix}", "link address")
        number = next(self._links)
        dev_a, dev_b = f"veth{number}a", f"veth{number}b"
        # Made inside ns_a with its peer inside ns_b: the host's own interfaces are never involved.
        _ip("-n", ns_a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b)
        for ns, dev, addr in ((ns_a, dev_a, addr_a), (ns_b, dev_b, addr_b)):
            _ip("-n", ns, "addr", "add", f"{addr}/{prefix}", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")

    def delayed_link(self, ns_a: str, addr_a: str, ns_b: str, addr_b: str, delay: float) -> None:
        """A point-to-point link ``addr_a`` (in ``ns_a``) <-> ``addr_b`` (in ``ns_b``) whose every packet
        takes ``delay`` seconds each way: a TUN device in each namespace, and in each a ``delayline.py``
        process that hands the other end what its device sends and writes what it is handed into its
        device ``delay`` seconds later (this kernel may have no ``netem`` qdisc; these processes are
        stopped by ``close()``)."""
        import socket

        self._own(ns_a), self._own(ns_b)
        for addr in (addr_a, addr_b):
            _lab_address(addr, "link address")
        number = next(self._links)
        ends = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            for ns, dev, addr, peer, end in ((ns_a, f"tun{number}a", addr_a, addr_b, ends[0]),
                                             (ns_b, f"tun{number}b", addr_b, addr_a, ends[1])):
                _ip("-n", ns, "tuntap", "add", "dev", dev, "mode", "tun")
                _ip("-n", ns, "addr", "add", addr, "peer", peer, "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                proc = self.popen(ns, sys.executable, str(Path(__file__).with_name("delayline.py")), dev,
                                  str(end.fileno()), str(delay), pass_fds=(end.fileno(),), stdout=subprocess.PIPE)
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    raise LabError(f"the delay line in {ns} did not start (exit {proc.poll()})")
        finally:
            for end in ends:
                end.close()

    def route(self, ns: str, dest: str, via: str) -> None:
        """``ip route add DEST via VIA`` inside ``ns``; DEST may be ``default``."""
        self._own(ns)
        if dest != "default":
            _lab_address(dest, "route destination")
        _lab_address(via, "gateway")
        _ip("-n", ns, "route", "add", dest, "via", via)

    def forwarding(self, ns: str) -> None:
        """Let ``ns`` route between its links (net.ipv4.ip_forward=1)."""
        self._sysctl(self._own(ns), {"net/ipv4/ip_forward": ("1", True)})

    def nft(self, ns: str, ruleset: str) -> None:
        """Load ``ruleset`` with ``nft -f -`` inside ``ns``; LabError with nft's complaint when it fails."""
        self._own(ns)
        if self._nft is None:
            raise LabError("nft (nftables) is not installed")
        proc = self.run(ns, self._nft, "-f", "-", input=ruleset, timeout=30)
        if proc.returncode != 0:
            raise LabError(f"nft -f - in {ns}: exit {proc.returncode}: {proc.stderr.strip()}\n{ruleset}")

    # -- running things inside

    def _argv(self, ns: str, argv: Iterable[str]) -> list[str]:
        self._own(ns)
        if self._ip is None:
            raise LabError("ip (iproute2) is not installed")
        return [self._ip, "netns", "exec", ns, *argv]

    def run(self, ns: str, *argv: str, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``ns`` and wait (text, output captured unless told otherwise; stdin empty)."""
        if not {"stdout", "stderr", "capture_output"} & kwargs.keys():
            kwargs["capture_output"] = True
        if "input" not in kwargs:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("text", True)
        return subprocess.run(self._argv(ns, argv), timeout=timeout, **kwargs)

    def popen(self, ns: str, *argv: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start ``argv`` inside ``ns`` in its own session (text mode; stdin empty unless told otherwise).

        It is killed (its whole process group, SIGTERM then SIGKILL) by ``close()`` if still running.
        """
        kwargs.setdefault("text", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs["start_new_session"] = True
        proc: subprocess.Popen[str] = subprocess.Popen(self._argv(ns, argv), **kwargs)
        self.processes.append(proc)
        return proc

    def etc_file(self, ns: str, name: str, text: str) -> Path:
        """Write /etc/netns/<ns>/<name>: ``ip netns exec`` (run, popen) mounts it over /etc/<name>."""
        self._own(ns)
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"file name {name!r}: a plain name in /etc")
        global _made_etc_netns
        if not ETC_NETNS.exists():
            _made_etc_netns = True
        path = ETC_NETNS / ns / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def resolv_conf(self, ns: str, text: str) -> None:
        """/etc/netns/<ns>/resolv.conf; every ``nameserver`` must be inside the lab (10.x or loopback)."""
        for line in text.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                try:
                    loopback = ipaddress.ip_address(words[1]).is_loopback
                except ValueError:
                    loopback = False
                if not loopback:
                    _lab_address(words[1], "nameserver")
        self.etc_file(ns, "resolv.conf", text)

    # -- cleanup

    def close(self) -> None:
        """Kill the processes, delete the namespaces and their /etc overlays. Idempotent."""
        if self.closed:
            return
        self.closed = True
        problems = []
        for proc in self.processes:
            _stop(proc)
        for ns in reversed(self.namespaces):
            try:
                _delete_netns(ns)
            except (LabError, OSError, subprocess.SubprocessError) as exc:
                problems.append(f"{ns}: {exc}")
            if (NETNS_RUN / ns).exists():
                problems.append(f"{ns}: still present after ip netns delete")
        _labs.discard(self)
        if _made_etc_netns:
            try:
                ETC_NETNS.rmdir()  # only when empty: another run may be using it
            except OSError:
                pass
        if problems:
            raise LabError("cleanup incomplete: " + "; ".join(problems))


def _stop(proc: subprocess.Popen[str], grace: float = 2.0) -> None:
    """End a process popen() started (its process group: it runs in its own session) and close its pipes."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL ignored: nothing more to do
        pass
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@atexit.register
def _close_all() -> None:
    for lab in list(_labs):
        try:
            lab.close()
        except Exception as exc:  # at exit: report, never raise
            print(f"netlab: {exc}", file=sys.stderr)


@functools.cache
def available() -> str | None:
    """None when this process can build a lab here; else the reason (checked once, by trying)."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the suite as root)"
    for program, package in (("ip", "iproute2"), ("nft", "nftables")):
        if _program(program) is None:
            return f"{program} is not installed (apt-get install {package})"
    name = f"dsl-{os.getpid()}-0-probe"
    try:
        made = _ip("netns", "add", name, check=False)
        if made.returncode != 0:
            return f"cannot make a network namespace: ip netns add: {made.stderr.strip()}"
        try:
            nft = _ip("netns", "exec", name, str(_program("nft")), "list", "ruleset", check=False)
            if nft.returncode != 0:
                return f"nftables does not work in a namespace: {nft.stderr.strip()}"
            veth = _ip("-n", name, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1", check=False)
            if veth.returncode != 0:
                return f"cannot make a veth pair: {veth.stderr.strip()}"
        finally:
            _delete_netns(name)
    except (OSError, subprocess.SubprocessError, LabError) as exc:
        return f"cannot use network namespaces: {exc}"
    return None


def require() -> None:
    """Skip the calling test when no lab can be built here -- but fail under CI=true as root, which has one."""
    import pytest

    reason = available()
    if reason is None:
        return
    if _in_ci() and os.geteuid() == 0:  # CI's unprivileged run (the README's, as a new user) skips them
        pytest.fail(f"network namespace lab unavailable under CI: {reason}")
    pytest.skip(f"network namespace lab unavailable: {reason}")
