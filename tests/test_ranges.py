"""Monitoring Plugins threshold ranges: the guidelines' table, boundaries, canonical text, bad input."""

from __future__ import annotations

import math

import pytest

from check_digitalsentry.ranges import Range

INF = math.inf

# The table of the Monitoring Plugins Development Guidelines ("Threshold and ranges"):
# range text, values that alert, values that do not.
GUIDELINES = [
    ("10", [-1, -0.001, 10.001, 11], [0, 5, 10]),
    ("10:", [-1, 9.999], [10, 11, 1e9]),
    ("~:10", [10.001, 11, 1e9], [-1e9, -1, 0, 10]),
    ("10:20", [-1, 9.999, 20.001, 21], [10, 15, 20]),
    ("@10:20", [10, 15, 20], [-1, 9.999, 20.001, 21]),
]


@pytest.mark.parametrize(("text", "alerts", "passes"), GUIDELINES)
def test_each_range_of_the_guidelines_table_alerts_exactly_where_the_guidelines_say(
    text: str, alerts: list[float], passes: list[float]
) -> None:
    rng = Range.parse(text)
    assert [v for v in alerts if not rng.violated_by(v)] == []
    assert [v for v in passes if rng.violated_by(v)] == []


@pytest.mark.parametrize(
    ("text", "start", "end", "invert"),
    [
        ("10", 0, 10, False),
        ("10:", 10, INF, False),
        ("~:10", -INF, 10, False),
        ("10:20", 10, 20, False),
        ("@10:20", 10, 20, True),
        ("@10", 0, 10, True),
        ("~:", -INF, INF, False),
        ("-5:-1", -5, -1, False),
        ("0.5:1.5", 0.5, 1.5, False),
        ("  3 ", 0, 3, False),
    ],
)
def test_parse_gives_start_end_and_invert(text: str, start: float, end: float, invert: bool) -> None:
    rng = Range.parse(text)
    assert (rng.start, rng.end, rng.invert) == (start, end, invert)


def test_boundaries_are_inclusive_on_both_ends() -> None:
    rng = Range.parse("10:20")
    assert not rng.violated_by(10) and not rng.violated_by(20)
    inverted = Range.parse("@10:20")
    assert inverted.violated_by(10) and inverted.violated_by(20)


def test_an_omitted_start_means_zero_so_negative_values_alert() -> None:
    assert Range.parse("10").violated_by(-0.5)
    assert not Range.parse("10").violated_by(0)


def test_a_start_equal_to_the_end_is_allowed() -> None:
    rng = Range.parse("5:5")
    assert not rng.violated_by(5) and rng.violated_by(5.001)


@pytest.mark.parametrize(
    "text", ["10", "10:", "~:10", "10:20", "@10:20", "@10", "~:", "0:", "-5:-1", "0.5", "@~:0.25", "1e+16"]
)
def test_str_of_a_parsed_range_is_the_same_text(text: str) -> None:
    assert str(Range.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("10.0", "10"), ("0:10", "10"), ("10.0:20.0", "10:20"), ("+3", "3"), ("@0:10.50", "@10.5"), (" 7: ", "7:")],
)
def test_str_gives_the_canonical_text_without_a_trailing_point_zero(text: str, canonical: str) -> None:
    assert str(Range.parse(text)) == canonical
    assert Range.parse(canonical) == Range.parse(text)


@pytest.mark.parametrize(
    "text", ["abc", "", "@", ":", "~", "10:~", "10:20:30", "1_0", "inf", "nan", "1e999", "10 :20", "@@10", "ten"]
)
def test_bad_syntax_is_a_value_error_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError) as info:
        Range.parse(text)
    assert str(info.value).startswith(f"expected a range like 10, 10:, ~:10, 10:20 or @10:20, got {text!r}")


def test_the_message_for_bad_syntax_is_the_one_users_read() -> None:
    with pytest.raises(ValueError, match=r"^expected a range like 10, 10:, ~:10, 10:20 or @10:20, got 'abc'$"):
        Range.parse("abc")


@pytest.mark.parametrize("text", ["20:10", "@5:1", "-1"])
def test_a_start_greater_than_the_end_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="is greater than"):
        Range.parse(text)


def test_the_constructor_checks_its_bounds_too() -> None:
    with pytest.raises(ValueError, match="range start 2 is greater than its end 1"):
        Range(2, 1)
    with pytest.raises(ValueError, match="invalid range bounds"):
        Range(math.nan, 1)
    with pytest.raises(ValueError, match="invalid range bounds"):
        Range(INF, INF)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, Range(0, 5)), (2.5, Range(0, 2.5)), (0, Range(0, 0)), ("10:", Range(10)), ("@1:2", Range(1, 2, True))],
)
def test_coerce_accepts_toml_numbers_and_strings(value: object, expected: Range) -> None:
    assert Range.coerce(value) == expected


def test_coerce_returns_a_range_unchanged() -> None:
    rng = Range.parse("@1:2")
    assert Range.coerce(rng) is rng


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "true"), (None, "None"), ([1, 2], "[1, 2]"), (math.inf, "inf"), (-1, "-1"), (math.nan, "nan"),
     (10**400, str(10**400))],
)
def test_coerce_rejects_other_values_with_the_same_message(value: object, shown: str) -> None:
    with pytest.raises(ValueError) as info:
        Range.coerce(value)
    assert str(info.value).startswith(f"expected a range like 10, 10:, ~:10, 10:20 or @10:20, got {shown}")


def test_ranges_compare_and_hash_by_value() -> None:
    assert Range.parse("10") == Range(0, 10) == Range.parse("0:10.0")
    assert Range.parse("10:20") != Range.parse("@10:20")
    assert Range.parse("10") != "10"
    assert len({Range.parse("10"), Range(0.0, 10.0), Range.parse("10:")}) == 2


def test_repr_shows_the_range_text() -> None:
    assert repr(Range.parse("@10:20")) == "Range('@10:20')"
    assert repr(Range()) == "Range('0:')"
