"""Monitoring Plugins threshold ranges (core layer): ``10``, ``10:``, ``~:10``, ``10:20``, ``@10:20``.

The syntax and meaning are those of the Monitoring Plugins Development Guidelines ("Threshold and
ranges")::

    [@]start:end     inclusive on both ends; start <= end
    start omitted    (``10`` = ``0:10``) start is 0
    ~                start is negative infinity
    end omitted      (``10:``) end is positive infinity
    @                invert: alert when the value is INSIDE start..end

    range     alert when the value is
    10        < 0 or > 10
    10:       < 10
    ~:10      > 10
    10:20     < 10 or > 20
    @10:20    >= 10 and <= 20

No I/O, and no ``re`` or ``math`` imports: the check plugin parses its ``-w``/``-c`` options on every
start (``x != x`` is the NaN test, ``-inf < x < inf`` the finite one).
"""

from __future__ import annotations

_INF = float("inf")
_NUMBER_CHARS = frozenset("0123456789.+-eE")
_SYNTAX = "expected a range like 10, 10:, ~:10, 10:20 or @10:20"


class Range:
    """One threshold range; ``violated_by(value)`` is True when ``value`` should raise an alert."""

    __slots__ = ("end", "invert", "start")

    def __init__(self, start: float = 0.0, end: float = _INF, invert: bool = False) -> None:
        start, end = float(start), float(end)
        if start != start or end != end or start == _INF or end == -_INF:
            raise ValueError(f"invalid range bounds {start!r}:{end!r}")
        if start > end:
            raise ValueError(f"range start {_fmt(start)} is greater than its end {_fmt(end)}")
        self.start = start
        self.end = end
        self.invert = invert

    @classmethod
    def parse(cls, text: str) -> Range:
        """Parse Monitoring Plugins range syntax; ValueError with the accepted forms otherwise."""
        body = text.strip()
        invert = body.startswith("@")
        if invert:
            body = body[1:]
        if ":" in body:
            start_text, _, end_text = body.partition(":")
            if start_text == end_text == "":
                raise ValueError(f"{_SYNTAX}, got {text!r}")
            start = -_INF if start_text == "~" else _number(start_text, text) if start_text else 0.0
            end = _INF if end_text == "" else _number(end_text, text)
        else:
            start, end = 0.0, _number(body, text)
        if start > end:
            raise ValueError(f"{_SYNTAX}, got {text!r} (start {_fmt(start)} is greater than end {_fmt(end)})")
        return cls(start, end, invert)

    @classmethod
    def coerce(cls, value: object) -> Range:
        """A Range from a Range, a range string or a plain number (TOML ``warning = 5`` means ``0:5``)."""
        if isinstance(value, Range):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)  # OverflowError for an int beyond a float
            except OverflowError:
                number = _INF
            if not -_INF < number < _INF:
                raise ValueError(f"{_SYNTAX}, got {value!r}")
            if number < 0:
                raise ValueError(f"{_SYNTAX}, got {value!r} (a single number means 0:N, so N must be >= 0)")
            return cls(0.0, number)
        shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
        raise ValueError(f"{_SYNTAX}, got {shown}")

    def violated_by(self, value: float) -> bool:
        """True when ``value`` is outside start..end (inclusive), or inside it for an inverted range."""
        inside = self.start <= value <= self.end
        return inside if self.invert else not inside

    def __str__(self) -> str:
        """The canonical text, as perfdata wants it: ``10``, ``10:``, ``~:10``, ``@10:20``."""
        if self.start == 0 and self.end != _INF:
            body = _fmt(self.end)
        else:
            start = "~" if self.start == -_INF else _fmt(self.start)
            body = f"{start}:{'' if self.end == _INF else _fmt(self.end)}"
        return f"@{body}" if self.invert else body

    def __repr__(self) -> str:
        return f"Range({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        return (self.start, self.end, self.invert) == (other.start, other.end, other.invert)

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.invert))


def _number(part: str, text: str) -> float:
    """One finite bound; ``float()`` alone would also take ``inf``, ``nan`` and ``1_0``."""
    if part and _NUMBER_CHARS.issuperset(part):
        try:
            value = float(part)
        except ValueError:
            pass
        else:
            if -_INF < value < _INF:
                return value
    raise ValueError(f"{_SYNTAX}, got {text!r}")


def _fmt(value: float) -> str:
    """``10`` not ``10.0``; ``0.5`` stays ``0.5``; huge or tiny values keep Python's exponent form."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
