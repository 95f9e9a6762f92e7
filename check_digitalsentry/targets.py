"""Submit targets (core layer): the one registry of where ``--submit`` can post passive results -- each
target's name, its options, and the module that implements it (imported only when that target is used).

A target's module (``submit.icinga2``, ``submit.nagios``, or a plugin's) has two functions:

- ``check_options(values)`` -- what goes together among its options (``values``: dest -> the word given,
  or None), before anything is read or probed; ``passive.SetupError`` naming the option otherwise;
- ``prepare(values, sites, inventory)`` -- the checks before probing (files, URLs, names the target cannot
  carry), returning a ``passive.Destination``; ``SetupError`` for a mistake (the run is UNKNOWN),
  ``passive.NoReceiver`` when nothing can be submitted at all (the run is CRITICAL, and probes nothing).

``Destination.submit(results, deadline)`` then says what became of each result (``passive.Submission``
of typed ``passive.Outcome``: accepted, refused with the core's reason, or failed -- sent or not -- with
why). The check plugin's options, their checks and its help read this registry; a plugin adds a target
through the ``digitalsentry_targets`` hook (see ``hookspecs``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import ModuleType


class TargetOption:
    """One option of a target: ``--api-url URL``. ``dest`` is the name its value goes under."""

    __slots__ = ("dest", "flag", "help", "metavar")

    def __init__(self, flag: str, dest: str, metavar: str, help: str) -> None:
        self.flag = flag
        self.dest = dest
        self.metavar = metavar
        self.help = help

    def __repr__(self) -> str:
        return f"TargetOption({self.flag})"


class Target:
    """One place passive results go. ``help`` says what it posts to (``its REST API``); ``verb`` how the
    summary line says a result went in (``accepted by``, ``written to``); ``module`` implements it (a
    module, or its name: imported on first use)."""

    __slots__ = ("_module", "help", "name", "options", "verb")

    def __init__(self, name: str, help: str, verb: str, options: Sequence[TargetOption],
                 module: str | ModuleType | object) -> None:
        self.name = name
        self.help = help
        self.verb = verb
        self.options = tuple(options)
        self._module = module

    @property
    def module(self) -> ModuleType:
        """The implementation (``check_options``, ``prepare``)."""
        if isinstance(self._module, str):
            self._module = __import__(self._module, fromlist=["prepare"])
        return self._module  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Target({self.name!r})"


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")

#: The built-in targets, in the order the help names them.
BUILTIN: tuple[Target, ...] = (
    Target("icinga2", "its REST API", "accepted by", (
        TargetOption("--api-url", "api_url", "URL", "Icinga 2 API, e.g. https://icinga.example.com:5665"),
        TargetOption("--api-user", "api_user", "USER", "ApiUser (permission actions/process-check-result)"),
        TargetOption("--api-password-file", "api_password_file", "FILE",
                     "the ApiUser's password: the file's first line (a file every user may read is refused)"),
        TargetOption("--api-ca", "api_ca", "FILE", "CA certificate (PEM) of the Icinga node's certificate, e.g. "
                     "/var/lib/icinga2/certs/ca.crt (default: the system's CAs)"),
        TargetOption("--api-cert", "api_cert", "FILE", "client certificate (PEM) for an ApiUser with client_cn"),
        TargetOption("--api-key", "api_key", "FILE", "the client certificate's key (PEM)"),
        TargetOption("--ttl", "ttl", "SECONDS", "seconds until Icinga runs the freshness check of a service that "
                     "got no newer result (default 600: twice a 5-minute cron interval; 0: none)"),
        TargetOption("--check-source", "check_source", "NAME",
                     "the check source Icinga shows (default: this machine's host name)"),
    ), "check_digitalsentry.submit.icinga2"),
    Target("nagios", "its command file", "written to", (
        TargetOption("--command-file", "command_file", "FILE", "with --submit nagios: the external command file "
                     "(FIFO), e.g. /var/lib/nagios4/rw/nagios.cmd"),
    ), "check_digitalsentry.submit.nagios"),
)


def merge(builtin: Sequence[Target], extra: Iterable[Target]) -> tuple[Target, ...]:
    """The built-in targets followed by those plugins add (a plugin cannot replace a built-in one, nor
    take another target's option). ValueError naming the target otherwise."""
    targets = list(builtin)
    names = {t.name for t in targets}
    flags = {option.flag for t in targets for option in t.options}
    for target in extra:
        name = target.name
        if not isinstance(name, str) or not name or not name[0].isalpha() or not _NAME_CHARS.issuperset(name):
            raise ValueError(f"a plugin's submit target {name!r}: a target name is lower-case letters, digits "
                             "and '-', starting with a letter")
        taken = [o.flag for o in target.options if o.flag in flags or not o.flag.startswith("--")]
        if taken:
            raise ValueError(f"a plugin's submit target {name!r}: its option {taken[0]} is taken, or not a long "
                             "option (--word)")
        if name not in names:
            targets.append(target)
            names.add(name)
            flags.update(o.flag for o in target.options)
    return tuple(targets)


def described(targets: Sequence[Target]) -> str:
    """``icinga2 (its REST API) or nagios (its command file)``: the targets for a help."""
    words = [f"{t.name} ({t.help})" for t in targets]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
