"""Outputs (core layer): where a judged run goes -- the two registries of the output formats it is
rendered in and the submit targets its passive results are posted to. One module, as every check reads
both at start-up (its options are built from them); each format's renderer and each target's
implementation is imported only when used.

Formats: each format's name, media type, the time rendering costs per port, its file suffixes and its
renderer. The check plugin's ``--format`` and its help, the deadline margin it keeps for rendering,
pytest_dsports' ``--dsports-report`` suffixes and the contrib CheckCommand's description all read
``FORMATS`` (and the formats plugins add through the ``digitalsentry_formats`` hook, see ``hookspecs``). A
format names its renderer as ``"module:function"``; a renderer takes a ``Rendering`` and returns text.

Submit targets: each target's name, its options, and the module that implements it, which has two
functions:

- ``check_options(values)`` -- what goes together among its options (``values``: dest -> the word given,
  or None), before anything is read or probed; ``passive.SetupError`` naming the option otherwise;
- ``prepare(values, sites, inventory)`` -- the checks before probing (files, URLs, names the target cannot
  carry), returning a ``passive.Destination``; ``SetupError`` for a mistake (the run is UNKNOWN),
  ``passive.NoReceiver`` when nothing can be submitted at all (the run is CRITICAL, and probes nothing).

``Destination.submit(results, deadline)`` then says what became of each result (``passive.Submission``
of typed ``passive.Receipt``: accepted, refused with the core's reason, or failed -- sent or not -- with
why). The check plugin's options, their checks and its help read ``TARGETS``; a plugin adds a target
through the ``digitalsentry_targets`` hook.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import ModuleType

    from check_digitalsentry.engine.probes import BuiltinHooks
    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.model import RunInfo

    Renderer = Callable[["Rendering"], str]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _name_ok(name: object) -> bool:
    """A name that can be an option word: lower-case letters, digits and '-', starting with a letter."""
    return isinstance(name, str) and bool(name) and name[0].isalpha() and _NAME_CHARS.issuperset(name)


def _listed(words: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


# --- output formats -------------------------------------------------------------------------------

class Rendering:
    """What a renderer is handed: the judged ``run``, the status line's text (``summary``), and the run's
    record (``info``: who ran it, when, from where, with which inventories -- made on first use).
    ``handover``: the record is a handover report's (pytest_dsports), which the JSON document then
    carries; a check's JSON does not. ``changes``: of a watched run's final round (``--watch``), what
    changed while it was watched (time, host, change), ``watched`` the sentence before them (the handover
    document's appendix); None otherwise."""

    __slots__ = ("_info", "_record", "changes", "handover", "run", "summary", "watched")

    def __init__(self, run: JudgedRun, summary: str, record: Callable[[], RunInfo], *,
                 handover: bool = False, changes: Sequence[tuple[float, str, str]] | None = None,
                 watched: str = "") -> None:
        self.run = run
        self.summary = summary
        self.handover = handover
        self.changes = changes
        self.watched = watched
        self._record = record
        self._info: RunInfo | None = None

    @property
    def info(self) -> RunInfo:
        if self._info is None:
            self._info = self._record()
        return self._info


class Format:
    """One output format. ``port_cost`` is the seconds rendering takes per port on a slow machine: the
    check keeps that much of ``-t`` free (see ``cli.main``). ``suffixes`` are the file names it is
    written to as a handover report (``--dsports-report FILE.json``); none: not a report. ``note`` is said
    after its name in the help (``html (the handover document)``). ``renderer`` is a function taking a
    ``Rendering``, or ``"module:function"`` (imported on first use). ``locale_text``: the text goes to a
    terminal in the locale's encoding (the Nagios output), not UTF-8 whatever the locale."""

    __slots__ = ("_renderer", "locale_text", "media_type", "name", "note", "port_cost", "suffixes")

    def __init__(self, name: str, media_type: str, port_cost: float, renderer: str | Renderer | None, *,
                 suffixes: Sequence[str] = (), note: str = "", locale_text: bool = False) -> None:
        self.name = name
        self.media_type = media_type
        self.port_cost = port_cost
        self._renderer = renderer
        self.suffixes = tuple(suffixes)
        self.note = note
        self.locale_text = locale_text

    def render(self, rendering: Rendering) -> str:
        """The run in this format."""
        renderer = self._renderer
        if isinstance(renderer, str):
            module, _, name = renderer.partition(":")
            renderer = self._renderer = getattr(__import__(module, fromlist=[name]), name)
        if renderer is None:
            raise ValueError(f"the format {self.name} is its frontend's own: it has no renderer here")
        return renderer(rendering)

    def __repr__(self) -> str:
        return f"Format({self.name!r}, {self.media_type!r})"


_RENDER = "check_digitalsentry.render"

#: The core's formats, in the order the help lists them (the check plugin's own Nagios text goes first).
FORMATS: tuple[Format, ...] = (
    Format("json", "application/json", 45e-6, f"{_RENDER}.json:document", suffixes=(".json",)),
    Format("openmetrics", "application/openmetrics-text; version=1.0.0; charset=utf-8", 40e-6,
           f"{_RENDER}.openmetrics:document"),
    Format("html", "text/html; charset=utf-8", 50e-6, f"{_RENDER}.html:document", suffixes=(".html", ".htm"),
           note="the handover document"),
)

def merge_formats(builtin: Sequence[Format], extra: Iterable[Format]) -> tuple[Format, ...]:
    """The built-in formats followed by those plugins add (a plugin cannot replace a built-in). A format's
    name is lower-case letters, digits and '-' (an option word), and its suffixes start with a dot;
    ValueError otherwise, naming the format."""
    formats = list(builtin)
    seen = {f.name for f in formats}
    for fmt in extra:
        name = fmt.name
        suffixes_ok = all(isinstance(s, str) and s.startswith(".") and len(s) > 1 for s in fmt.suffixes)
        if not _name_ok(name) or not suffixes_ok:
            raise ValueError(f"a plugin's format {name!r}: a format name is lower-case letters, digits and '-', "
                             "starting with a letter, and each suffix starts with a dot ('.csv')")
        if name not in seen:
            formats.append(fmt)
            seen.add(name)
    return tuple(formats)


def formats(hooks: BuiltinHooks) -> tuple[Format, ...]:
    """The formats of a run: the built-in ones, then those the hooks' plugins add (ValueError for one that
    cannot be added, naming it)."""
    extra = hooks.added("digitalsentry_formats")
    if not extra:
        return FORMATS
    wrong = [fmt for fmt in extra if not isinstance(fmt, Format)]
    if wrong:
        raise ValueError(f"a plugin's format {wrong[0]!r}: expected a check_digitalsentry.outputs.Format")
    return merge_formats(FORMATS, [fmt for fmt in extra if isinstance(fmt, Format)])


def described_formats(formats: Sequence[Format]) -> str:
    """``nagios (default), json, openmetrics or html (the handover document)``: the formats for a help."""
    return _listed([f"{f.name} ({f.note})" if f.note else f.name for f in formats])


def by_suffix(formats: Sequence[Format]) -> dict[str, Format]:
    """Each handover-report suffix (``.json``, lower case) and the format it writes."""
    return {suffix.lower(): fmt for fmt in formats for suffix in fmt.suffixes}


# --- submit targets -------------------------------------------------------------------------------


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


#: Seconds after a result until Icinga runs a service's freshness check (``digitalsentry-passive``): twice
#: the 5-minute interval of contrib/cron and contrib/systemd, so one late or lost run is not yet an alarm.
DEFAULT_TTL = 600.0

#: The built-in targets, in the order the help names them.
TARGETS: tuple[Target, ...] = (
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
                     f"got no newer result (default {DEFAULT_TTL:g}: twice a 5-minute cron interval; 0: none)"),
        TargetOption("--check-source", "check_source", "NAME",
                     "the check source Icinga shows (default: this machine's host name)"),
    ), "check_digitalsentry.submit.icinga2"),
    Target("nagios", "its command file", "written to", (
        TargetOption("--command-file", "command_file", "FILE", "with --submit nagios: the external command file "
                     "(FIFO), e.g. /var/lib/nagios4/rw/nagios.cmd"),
    ), "check_digitalsentry.submit.nagios"),
)


def merge_targets(builtin: Sequence[Target], extra: Iterable[Target]) -> tuple[Target, ...]:
    """The built-in targets followed by those plugins add (a plugin cannot replace a built-in one, nor
    take another target's option). ValueError naming the target otherwise."""
    targets = list(builtin)
    names = {t.name for t in targets}
    flags = {option.flag for t in targets for option in t.options}
    for target in extra:
        name = target.name
        if not _name_ok(name):
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


def targets(hooks: BuiltinHooks) -> tuple[Target, ...]:
    """The submit targets of a run: the built-in ones, then those the hooks' plugins add (ValueError for
    one that cannot be added, naming it)."""
    extra = hooks.added("digitalsentry_targets")
    if not extra:
        return TARGETS
    wrong = [target for target in extra if not isinstance(target, Target)]
    if wrong:
        raise ValueError(f"a plugin's submit target {wrong[0]!r}: expected a check_digitalsentry.outputs.Target")
    return merge_targets(TARGETS, [target for target in extra if isinstance(target, Target)])


def described_targets(targets: Sequence[Target]) -> str:
    """``icinga2 (its REST API) or nagios (its command file)``: the targets for a help."""
    return _listed([f"{t.name} ({t.help})" for t in targets])
