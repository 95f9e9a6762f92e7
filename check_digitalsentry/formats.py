"""Output formats (core layer): the one registry of what a judged run can be rendered as -- each format's
name, media type, the time rendering costs per port, its file suffixes and its renderer.

The check plugin's ``--format`` and its help, the deadline margin it keeps for rendering, pytest_dsports'
``--dsports-report`` suffixes and the contrib CheckCommand's description all read ``BUILTIN`` (and the
formats plugins add through the ``digitalsentry_formats`` hook, see ``hookspecs``). A format names its
renderer as ``"module:function"``: the module is imported only when that format is rendered, so the
registry costs a check nothing it does not print. A renderer takes a ``Rendering`` and returns text.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from check_digitalsentry.judge import JudgedRun
    from check_digitalsentry.model import RunInfo

    Renderer = Callable[["Rendering"], str]


class Rendering:
    """What a renderer is handed: the judged ``run``, the status line's text (``summary``), and the run's
    record (``info``: who ran it, when, from where, with which inventories -- made on first use).
    ``handover``: the record is a handover report's (pytest_dsports), which the JSON document then
    carries; a check's JSON does not."""

    __slots__ = ("_info", "_record", "handover", "run", "summary")

    def __init__(self, run: JudgedRun, summary: str, record: Callable[[], RunInfo], *,
                 handover: bool = False) -> None:
        self.run = run
        self.summary = summary
        self.handover = handover
        self._record = record
        self._info: RunInfo | None = None

    @property
    def info(self) -> RunInfo:
        if self._info is None:
            self._info = self._record()
        return self._info


class Format:
    """One output format. ``port_cost`` is the seconds rendering takes per port on a slow machine: the
    check keeps that much of ``-t`` free (see ``nagios.main``). ``suffixes`` are the file names it is
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
BUILTIN: tuple[Format, ...] = (
    Format("json", "application/json", 45e-6, f"{_RENDER}.json:document", suffixes=(".json",)),
    Format("openmetrics", "application/openmetrics-text; version=1.0.0; charset=utf-8", 40e-6,
           f"{_RENDER}.openmetrics:document"),
    Format("html", "text/html; charset=utf-8", 50e-6, f"{_RENDER}.html:document", suffixes=(".html", ".htm"),
           note="the handover document"),
)

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def merge(builtin: Sequence[Format], extra: Iterable[Format]) -> tuple[Format, ...]:
    """The built-in formats followed by those plugins add (a plugin cannot replace a built-in). A format's
    name is lower-case letters, digits and '-' (an option word), and its suffixes start with a dot;
    ValueError otherwise, naming the format."""
    formats = list(builtin)
    seen = {f.name for f in formats}
    for fmt in extra:
        name = fmt.name
        if not isinstance(name, str) or not name or not name[0].isalpha() or not _NAME_CHARS.issuperset(name) \
                or not all(isinstance(s, str) and s.startswith(".") and len(s) > 1 for s in fmt.suffixes):
            raise ValueError(f"a plugin's format {name!r}: a format name is lower-case letters, digits and '-', "
                             "starting with a letter, and each suffix starts with a dot ('.csv')")
        if name not in seen:
            formats.append(fmt)
            seen.add(name)
    return tuple(formats)


def described(formats: Sequence[Format]) -> str:
    """``nagios (default), json, openmetrics or html (the handover document)``: the formats for a help."""
    words = [f"{f.name} ({f.note})" if f.note else f.name for f in formats]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def by_suffix(formats: Sequence[Format]) -> dict[str, Format]:
    """Each handover-report suffix (``.json``, lower case) and the format it writes."""
    return {suffix.lower(): fmt for fmt in formats for suffix in fmt.suffixes}
