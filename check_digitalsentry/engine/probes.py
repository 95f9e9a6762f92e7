"""Built-in probes (engine layer): one generator per kind of port, written with the probe API (``api``).

- ``probe_tcp`` -- a TCP connect (video, diagnostics, the API ports, forbidden TCP ports);
- ``probe_udp`` -- a datagram and an ear for ICMP (audio, forbidden UDP ports);
- ``probe_browser`` -- the SQL Server Browser on UDP 1434 (``protocols.ssrp``): which instance is on which
  TCP port;
- ``probe_tds`` -- TDS PRELOGIN on the SQL port (``protocols.tds``): proves SQL Server answers there, and
  that it is the expected instance;
- ``engine.tls.probe_tls`` -- a TLS handshake on the web port: certificate subject and validity
  (imported only where a TLS port is expected).

``default_probe`` picks one for a port, as its catalogue role names it (``catalogue.Role.probe``): it is
what the built-in plugin answers to the ``digitalsentry_probe`` hook, and ``BuiltinHooks`` is how the
engine asks the hooks when no plugin is installed.
"""

from __future__ import annotations

import errno
import socket
import time

from check_digitalsentry import catalogue
from check_digitalsentry.engine.api import (
    READ,
    RESET_AT_ONCE,
    Outcome,
    ProbeContext,
    connect,
    connect_udp,
    oserror_outcome,
    pause,
    read_until,
    settle_time,
    wait,
)
from check_digitalsentry.model import Facts, Listed, Status
from check_digitalsentry.protocols import MalformedReply, shown, ssrp, tds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from check_digitalsentry.engine.api import Probe, ProbeGen
    from check_digitalsentry.model import PortResult, PortSpec
    from check_digitalsentry.schema import Site

__all__ = ["BuiltinHooks", "ProbeContext", "default_probe"]

#: How long a UDP probe without a protocol (audio, forbidden UDP ports) listens for an ICMP error.
#: Silence proves nothing either way, so it need not wait for the whole deadline.
UDP_LISTEN = 1.5
#: Interval between datagrams: UDP loss is normal, the SQL Server Browser is asked again each second.
BROWSER_RETRY = 1.0
UDP_RETRY = 0.5
#: Instances a Browser answer names in a sentence at most (all are in the facts).
NAMES_SHOWN = 10


def probe_tcp(ctx: ProbeContext) -> ProbeGen:
    """TCP connect (video, diagnostics, API ports, forbidden TCP ports): no payload is sent.

    After the handshake the probe listens a moment (``api.settle_time``: twice the round trip, within a
    fixed budget) for a server that accepts and then resets or closes at once -- a service at its limit,
    or a filter that lets the handshake through: "open" means accepted and held.
    """
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return sock
    seconds = ctx.elapsed()
    settle = min(settle_time(sock, seconds), ctx.remaining())
    if settle > 0:  # then one look: a reset or a close that came meanwhile is waiting on the socket
        yield from pause(settle)
    try:
        if not sock.recv(1, socket.MSG_PEEK):
            return Outcome(Status.INVALID, "the TCP handshake completed, then the server closed the "
                                           "connection at once")
    except (BlockingIOError, InterruptedError):
        pass
    except OSError as exc:
        if exc.errno == errno.ECONNRESET:
            return Outcome(Status.INVALID, RESET_AT_ONCE)
        return oserror_outcome(exc, ctx, "after the TCP handshake")
    return Outcome(Status.OPEN, f"TCP handshake completed in {seconds * 1000:.1f} ms", seconds=seconds)


def probe_udp(ctx: ProbeContext) -> ProbeGen:
    """A datagram on a connected socket: ICMP port-unreachable is closed, silence is open|filtered."""
    sock = yield from connect_udp(ctx)
    if isinstance(sock, Outcome):
        return sock
    listen_until = min(ctx.deadline, ctx.started + UDP_LISTEN)
    sent = 0
    try:
        while True:
            sock.send(b"\x00")
            sent += 1
            left = listen_until - time.monotonic()
            if left <= 0 or not (yield from wait(sock, READ, min(UDP_RETRY, left))):
                if time.monotonic() >= listen_until:
                    break
                continue
            sock.recv(2048)
            seconds = ctx.elapsed()
            return Outcome(Status.OPEN, "a UDP reply came back", seconds=seconds)
    except OSError as exc:
        return oserror_outcome(exc, ctx, "")
    return Outcome(
        Status.OPEN_FILTERED,
        f"no reply and no ICMP error to {sent} datagram{'s' if sent != 1 else ''} in "
        f"{ctx.elapsed():.1f} s: open and silent, or dropped by a firewall",
    )


def _listed(instances: Sequence[ssrp.Instance]) -> list[Listed]:
    return [Listed(i.instance_name, i.server_name, i.version, i.tcp_port) for i in instances]


def probe_browser(ctx: ProbeContext) -> ProbeGen:
    """Ask the SQL Server Browser for the SQL port: CLNT_UCAST_INST when an instance is configured,
    else CLNT_UCAST_EX; ask again each second while the deadline allows (UDP loss is normal). With an
    instance configured, the second round also asks for all instances, so that "not found" can name
    what the Browser does list (the Browser ignores requests for instances it does not have)."""
    wanted = ctx.site.sql_instance
    requests = [ssrp.build_request(wanted)]
    sock = yield from connect_udp(ctx)
    if isinstance(sock, Outcome):
        return sock
    listed: list[ssrp.Instance] = []
    rounds = 0
    try:
        while True:
            for request in requests:
                sock.send(request)
            rounds += 1
            next_round = time.monotonic() + BROWSER_RETRY
            while True:
                left = min(next_round, ctx.deadline) - time.monotonic()
                if left <= 0 or not (yield from wait(sock, READ, left)):
                    break
                datagram = sock.recv(ssrp.RECV_BUFFER)
                seconds = ctx.elapsed()
                try:
                    instances = ssrp.parse_response(datagram)
                except MalformedReply as exc:
                    return Outcome(Status.INVALID, f"not a SQL Server Browser reply: {exc}", seconds=seconds)
                listed.extend(i for i in instances if i not in listed)
                if wanted is None or any(i.instance_name.lower() == wanted.lower() for i in instances):
                    return _browser_answer(ctx, listed, seconds)
                if len(requests) > 1:  # the all-instances reply came, and it lacks ours
                    return _browser_answer(ctx, listed, seconds)
            if time.monotonic() >= ctx.deadline:
                break
            if wanted is not None and len(requests) == 1:
                requests.append(ssrp.build_request(None))
    except OSError as exc:
        return oserror_outcome(exc, ctx, "")
    if listed:  # replies came, but not for our instance
        return _browser_answer(ctx, listed, None)
    asked = f"CLNT_UCAST_INST for {wanted}" if wanted else "CLNT_UCAST_EX"
    return Outcome(
        Status.OPEN_FILTERED,
        f"no reply from the SQL Server Browser to {rounds} request{'s' if rounds != 1 else ''} "
        f"({asked}) within {ctx.budget()}: UDP {ctx.spec.port} dropped, or the Browser is stopped",
    )


def _browser_answer(ctx: ProbeContext, listed: list[ssrp.Instance], seconds: float | None) -> Outcome:
    """Pick the instance(s) whose SQL port the site uses, from what the Browser listed."""
    wanted = ctx.site.sql_instance
    names = ", ".join(shown(i.instance_name, 40) for i in listed[:NAMES_SHOWN]) or "nothing"
    if len(listed) > NAMES_SHOWN:
        names += f" and {len(listed) - NAMES_SHOWN} more"
    facts = Facts()
    facts.instances = _listed(listed)
    if wanted is not None:
        chosen = [i for i in listed if i.instance_name.lower() == wanted.lower()]
        if not chosen:
            return Outcome(Status.INVALID, f"instance {wanted} not found; the Browser lists {names}",
                           facts, seconds)
    else:
        chosen = [i for i in listed if i.tcp_port is not None] or listed
    with_tcp = [i for i in chosen if i.tcp_port is not None]
    facts.server = chosen[0].server_name
    if not with_tcp:
        inst = chosen[0]
        raw = inst.raw_tcp
        why = "no TCP port" if raw is None else f"an unusable TCP port {raw!r}"
        facts.instance, facts.sql_ssrp_version = inst.instance_name, inst.version
        return Outcome(Status.INVALID, f"instance {shown(inst.instance_name, 40)} has {why} (TCP/IP disabled "
                                       f"for it?)", facts, seconds)
    facts.sql_ports = [(i.instance_name, i.tcp_port) for i in with_tcp if i.tcp_port is not None]
    facts.instance = with_tcp[0].instance_name
    facts.sql_ssrp_version = with_tcp[0].version
    named = "; ".join(f"{shown(i.instance_name, 40)} on TCP {i.tcp_port}" for i in with_tcp[:NAMES_SHOWN])
    if len(with_tcp) > NAMES_SHOWN:
        named += f"; and {len(with_tcp) - NAMES_SHOWN} more"
    return Outcome(Status.OPEN, f"the SQL Server Browser names {named}", facts, seconds)


def probe_tds(ctx: ProbeContext) -> ProbeGen:
    """Connect to the SQL port and exchange TDS PRELOGIN: proves SQL Server answers there, which version,
    and -- when the instance is known (``ctx.instance``) -- whether it is that instance: the request names
    it in INSTOPT as real clients do, and the server answers 0 (it is) or 1 (another instance answers)."""
    sock = yield from connect(ctx)
    if isinstance(sock, Outcome):
        return sock
    connected = ctx.elapsed()
    name = ctx.instance or ""
    asked, request = _prelogin(name)
    def strict(plaintext_failure: Outcome) -> ProbeGen:
        from check_digitalsentry.engine.tls import try_strict_tls  # only for a server that drops PRELOGIN

        return (yield from try_strict_tls(ctx, plaintext_failure, request, tds.reply_complete,
                                          lambda data, seconds: _prelogin_outcome(data, seconds, name, asked,
                                                                                  strict=True)))

    try:
        sock.send(request)
        data, why = yield from read_until(sock, tds.reply_complete)
    except OSError as exc:
        outcome = oserror_outcome(exc, ctx, "before the PRELOGIN reply")
        if exc.errno == errno.ECONNRESET:
            outcome = yield from strict(outcome)
        return outcome
    seconds = ctx.elapsed()
    if not data:
        if why == "deadline":
            return Outcome(Status.INVALID, f"TCP connection accepted in {connected * 1000:.1f} ms, but no "
                                           f"PRELOGIN reply within {ctx.budget()} (tarpit, or not SQL Server)")
        return (yield from strict(Outcome(Status.INVALID, "connection closed without a PRELOGIN reply")))
    if tds.looks_like_tls(data):  # a strict server's answer -- or any TLS server's: only TLS can tell
        return (yield from strict(Outcome(Status.INVALID, "answered PRELOGIN with a TLS record, but completed no "
                                                          "TLS handshake: not SQL Server", _answered(len(data)),
                                          seconds)))
    return _prelogin_outcome(data, seconds, name, asked)


#: instance name -> (the name asked in INSTOPT, the PRELOGIN request): a fleet's SQL ports all ask alike
_PRELOGINS: dict[str, tuple[str, bytes]] = {}


def _prelogin(name: str) -> tuple[str, bytes]:
    """The PRELOGIN that asks for instance ``name`` (any instance for ""), and the name it asks for."""
    made = _PRELOGINS.get(name)
    if made is None:
        asked = tds.DEFAULT_INSTANCE if name.lower() == tds.DEFAULT_INSTANCE.lower() else name
        try:
            made = (asked, tds.build_prelogin(instance=asked))
        except ValueError:  # a name the Browser sent that INSTOPT cannot carry: ask for any instance
            made = ("", tds.build_prelogin())
        if len(_PRELOGINS) < 256:  # a hostile Browser's names do not grow it without end
            _PRELOGINS[name] = made
    return made


def _answered(size: int) -> Facts:
    """Something that is not the protocol answered: how many bytes."""
    facts = Facts()
    facts.bytes = size
    return facts


def _prelogin_outcome(data: bytes, seconds: float, name: str, asked: str, strict: bool = False) -> Outcome:
    """What a PRELOGIN reply proves: SQL Server, its version and encryption, and -- when ``asked`` named
    an instance (``name``, as configured or as the Browser named it) -- whether it is that instance.
    ``strict``: the reply came inside TLS (TDS 8.0 strict)."""
    inside = " inside TLS" if strict else ""
    try:
        reply = tds.parse_prelogin_response(data)
    except MalformedReply as exc:
        return Outcome(Status.INVALID, f"not a TDS PRELOGIN reply{inside}: {exc}", _answered(len(data)), seconds)
    product = tds.sql_product(reply.version)
    facts = Facts()
    facts.sql_version, facts.sql_product = reply.version_string, product
    facts.sql_encryption = reply.encryption_name
    answered = f"{product} {reply.version_string} answered PRELOGIN"
    if strict:
        facts.sql_strict = True
        answered = f"{product} {reply.version_string} in TDS 8.0 strict mode (clients must use TLS first) " \
                   "answered PRELOGIN inside TLS"
    encryption = f"(encryption {reply.encryption_name})"
    if not asked:
        return Outcome(Status.OPEN, f"{answered} {encryption}", facts, seconds)
    confirmed = None if reply.instopt is None else reply.instopt == tds.INSTOPT_MATCH
    facts.instance, facts.sql_instance_confirmed = name, confirmed
    who = shown(name, 40)  # a name the Browser sent: network text
    if confirmed is None:
        return Outcome(Status.OPEN, f"{answered} {encryption}, without saying whether it is instance {who} "
                                    f"(no INSTOPT)", facts, seconds)
    if not confirmed:
        return Outcome(Status.INVALID, f"{answered} for another instance: INSTOPT {reply.instopt} to {who}",
                       facts, seconds)
    return Outcome(Status.OPEN, f"{answered} as instance {who} {encryption}", facts, seconds)


#: ``"module:function"`` -> the probe function, once imported
_NAMED: dict[str, Probe] = {}


def default_probe(spec: PortSpec, roles: Mapping[str, catalogue.Role] = catalogue.BY_NAME) -> Probe:
    """The probe of a port as its role names it (``Role.probe``: imported on first use, so a check without
    a web port never imports the TLS probe), or the transport's plain probe -- for a role that names
    none, and for every forbidden port: what the ``digitalsentry_probe`` hook returns unless a plugin
    answers first."""
    role = roles.get(spec.role)
    probe = None if spec.forbidden or role is None else role.probe
    if probe is None:
        return probe_udp if spec.transport == "udp" else probe_tcp
    if isinstance(probe, str):
        found = _NAMED.get(probe)
        if found is None:
            module, _, name = probe.partition(":")
            found = _NAMED[probe] = getattr(__import__(module, fromlist=[name]), name)
        return found
    return probe


class BuiltinHooks:
    """The core's hooks as they answer with only the built-in plugin (no pluggy import): what the engine
    uses when a frontend hands it no hooks. ``builtin.PluggyHooks`` answers the same questions through a
    pluggy manager."""

    def roles(self) -> tuple[catalogue.Role, ...]:
        return catalogue.ROLES

    def port_specs(self, site: Site, specs: list[PortSpec]) -> list[PortSpec]:
        return specs

    def probe_for(self, spec: PortSpec, site: Site) -> Probe:
        return default_probe(spec)

    def port_result(self, site: Site, result: PortResult) -> None:
        return None

    def added(self, hook: str) -> list[object]:
        """What plugins add through a hook that returns a list (``digitalsentry_formats``...): none here.
        The registries above the engine ask (``outputs.formats``), so that the engine knows none of them."""
        return []
