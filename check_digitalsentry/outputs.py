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

from check_digitalsentry.model import PluginError, option_word

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import ModuleType

    from check_digitalsentry.engine.probes import BuiltinHooks
    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.model import RunInfo

    Renderer = Callable[["Rendering"], str]

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
    terminal in the locale's encoding (the Nagios output), not UTF-8 whatever the locale. ``plugin``: the
    plugin that added it (None: a built-in format)."""

    __slots__ = ("_renderer", "locale_text", "media_type", "name", "note", "plugin", "port_cost", "suffixes")

    def __init__(self, name: str, media_type: str, port_cost: float, renderer: str | Renderer | None, *,
                 suffixes: Sequence[str] = (), note: str = "", locale_text: bool = False) -> None:
        self.name = name
        self.media_type = media_type
        self.port_cost = port_cost
        self._renderer = renderer
        self.suffixes = tuple(suffixes)
        self.note = note
        self.locale_text = locale_text
        self.plugin: str | None = None

    def render(self, rendering: Rendering) -> str:
        """The run in this format. A plugin's renderer that fails, or gives anything but text, is a
        ``model.PluginError`` naming the plugin."""
        if self.plugin is None:
            return self._render(rendering)
        try:
            text: object = self._render(rendering)
        except Exception as exc:
            raise PluginError(self.plugin, f"its format {self.name}: the renderer failed: "
                                           f"{PluginError.said(exc)}") from None
        if not isinstance(text, str):
            raise PluginError(self.plugin, f"its format {self.name}: the renderer gave "
                                           f"{type(text).__name__}, not text")
        return text

    def _render(self, rendering: Rendering) -> str:
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
    """The built-in formats followed by those plugins add. A format's name is lower-case letters, digits
    and '-' (an option word), and no other format's (a plugin cannot replace a built-in); its suffixes
    start with a dot and are no other format's; its per-port cost is a number of seconds, at most
    ``MAX_PORT_COST`` (it is kept free of -t for every port); its renderer a function or
    ``"module:function"``. ``model.PluginError`` (a ValueError) otherwise, naming the plugin and the
    format."""
    formats = list(builtin)
    seen = {f.name for f in formats}
    suffixes = {suffix.lower() for f in formats for suffix in f.suffixes}
    for fmt in extra:
        name = fmt.name
        if not option_word(name):
            raise PluginError(fmt.plugin, f"its format {name!r}: a format name is lower-case letters, digits and "
                                          "'-', starting with a letter")
        if name in seen:
            raise PluginError(fmt.plugin, f"its format {name!r}: there is a format of that name already")
        wrong = _wrong_format(fmt, suffixes)
        if wrong:
            raise PluginError(fmt.plugin, f"its format {name!r}: {wrong}")
        formats.append(fmt)
        seen.add(name)
        suffixes.update(suffix.lower() for suffix in fmt.suffixes)
    return tuple(formats)


#: Seconds of rendering per port a format may claim at most (the built-in ones take 40-50 microseconds).
MAX_PORT_COST = 0.01


def _wrong_format(fmt: Format, taken: set[str]) -> str:
    """What is wrong with a plugin's format besides its name ("" for nothing)."""
    cost, renderer = fmt.port_cost, fmt._renderer
    media_type: object = fmt.media_type  # a plugin's: anything at all
    note: object = fmt.note
    if not isinstance(media_type, str) or not isinstance(note, str):
        return "media_type and note: expected text"
    for suffix in fmt.suffixes:
        if not isinstance(suffix, str) or not suffix.startswith(".") or len(suffix) < 2:
            return f"suffix {suffix!r}: a suffix starts with a dot ('.csv')"
        if suffix.lower() in taken:
            return f"suffix {suffix!r}: another format writes it"
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost <= MAX_PORT_COST:
        return f"port_cost {cost!r}: expected seconds from 0 to {MAX_PORT_COST:g}"
    if not (callable(renderer) or (isinstance(renderer, str) and renderer.count(":") == 1
                                   and all(renderer.split(":")))):
        return f"renderer {renderer!r}: expected a function or 'module:function'"
    return ""


def formats(hooks: BuiltinHooks) -> tuple[Format, ...]:
    """The formats of a run: the built-in ones, then those the hooks' plugins add (ValueError for one that
    cannot be added, naming it)."""
    extra = hooks.added("digitalsentry_formats")
    if not extra:
        return FORMATS
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
    module, or its name: imported on first use). ``plugin``: the plugin that added it (None: a built-in
    target)."""

    __slots__ = ("_module", "help", "name", "options", "plugin", "verb")

    def __init__(self, name: str, help: str, verb: str, options: Sequence[TargetOption],
                 module: str | ModuleType | object) -> None:
        self.name = name
        self.help = help
        self.verb = verb
        self.options = tuple(options)
        self._module = module
        self.plugin: str | None = None

    @property
    def module(self) -> ModuleType:
        """The implementation (``check_options``, ``prepare``); a plugin's that cannot be imported is a
        ``model.PluginError``."""
        if isinstance(self._module, str):
            try:
                self._module = __import__(self._module, fromlist=["prepare"])
            except Exception as exc:
                if self.plugin is None:
                    raise
                raise PluginError(self.plugin, f"its submit target {self.name}: {PluginError.said(exc)}") from None
        return self._module  # type: ignore[return-value]

    def failed(self, step: str, exc: Exception) -> Exception:
        """What it is when ``step`` of this target (``prepare``...) raised ``exc``: a plugin's mistake, said as
        a ``model.PluginError`` naming the plugin; for a built-in target, ``exc`` itself (an internal error)."""
        if self.plugin is None:
            return exc
        return PluginError(self.plugin, f"its submit target {self.name}: {step} failed: {PluginError.said(exc)}")

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
    """The built-in targets followed by those plugins add. A target's name is lower-case letters, digits
    and '-', and no other target's (a plugin cannot replace a built-in one); each of its options is a long
    option (``--word``) that no other target has, its value going under a name of its own (a Python
    identifier). ``model.PluginError`` (a ValueError) otherwise, naming the plugin and the target (the check
    also refuses an option that is one of its own: ``cli.table``)."""
    targets = list(builtin)
    names = {t.name for t in targets}
    flags = {option.flag for t in targets for option in t.options}
    dests = {option.dest for t in targets for option in t.options}
    for target in extra:
        name = target.name
        if not option_word(name):
            raise PluginError(target.plugin, f"its submit target {name!r}: a target name is lower-case letters, "
                                             "digits and '-', starting with a letter")
        if name in names:
            raise PluginError(target.plugin, f"its submit target {name!r}: there is a target of that name "
                                             "already")
        for option in target.options:
            if not isinstance(option, TargetOption) or not _flag_ok(option.flag) or option.flag in flags:
                raise PluginError(target.plugin, f"its submit target {name!r}: its option "
                                                 f"{getattr(option, 'flag', option)!r} is taken, or not a long "
                                                 "option (--word)")
            if not isinstance(option.dest, str) or not option.dest.isidentifier() or option.dest in dests:
                raise PluginError(target.plugin, f"its submit target {name!r}: its option {option.flag} goes "
                                                 f"under {option.dest!r}, which is taken or not a name")
            flags.add(option.flag)
            dests.add(option.dest)
        targets.append(target)
        names.add(name)
    return tuple(targets)


def _flag_ok(flag: object) -> bool:
    """A long option: ``--`` and a name (lower-case letters, digits and '-', starting with a letter)."""
    return isinstance(flag, str) and flag.startswith("--") and option_word(flag[2:])


def targets(hooks: BuiltinHooks) -> tuple[Target, ...]:
    """The submit targets of a run: the built-in ones, then those the hooks' plugins add (ValueError for
    one that cannot be added, naming it)."""
    extra = hooks.added("digitalsentry_targets")
    if not extra:
        return TARGETS
    return merge_targets(TARGETS, [target for target in extra if isinstance(target, Target)])


def described_targets(targets: Sequence[Target]) -> str:
    """``icinga2 (its REST API) or nagios (its command file)``: the targets for a help."""
    return _listed([f"{t.name} ({t.help})" for t in targets])
