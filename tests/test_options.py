"""The check's option parser reads a command line exactly as argparse does, built from the same table.

``options.parse`` exists so that a plain check does not import argparse (gettext and locale: ~3 ms a
run); ``options.argparse_parser`` is built from the same ``OPTIONS`` table and prints --help. Here both
read the same generated command lines and must agree on every value and every error, word for word.
"""

from __future__ import annotations

import argparse
import re
import shlex
from typing import Callable

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from support import CheckRun

from check_digitalsentry import schema
from check_digitalsentry.cli import help as options_help
from check_digitalsentry.cli.help import argparse_parser
from check_digitalsentry.cli.options import OPTIONS, Options, UsageError, parse

Check = Callable[..., CheckRun]
PARSER = argparse_parser()
FLAGS = sorted({flag for option in OPTIONS for flag in option.flags})
LONG = [flag for flag in FLAGS if flag.startswith("--")]
SHORT = [flag for flag in FLAGS if not flag.startswith("--")]


def by_argparse(argv: list[str]) -> dict[str, object] | str:
    try:
        namespace = PARSER.parse_args(argv)
    except UsageError as exc:
        return f"error: {exc}"
    values = vars(namespace)
    return {key: ([] if value is None and key in _VALUED else value) for key, value in values.items()}


def by_us(argv: list[str]) -> dict[str, object] | str:
    """What ``parse`` makes of a command line, in argparse's words: argparse (3.11) says no more than
    "unrecognized arguments: ...", where ``parse`` adds a suggestion (``test_a_mistyped_option_...``)."""
    try:
        return parse(argv)
    except UsageError as exc:
        return f"error: {re.sub(r': did you mean --[a-z0-9-]+[?]$', '', str(exc))}"


_VALUED = {option.dest for option in OPTIONS if option.action == "value"}

words = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(LONG).map(lambda flag: flag[: max(3, len(flag) // 2)]),  # abbreviations, some ambiguous
    st.tuples(st.sampled_from(LONG), st.sampled_from(["", "x", "1", "a=b", "-1"])).map("=".join),
    st.tuples(st.sampled_from(SHORT), st.sampled_from(["", "2", "=2", "v", "vv", "4", "6", "x", "=", "H"]))
    .map("".join),
    st.sampled_from(["--", "-", "", "-1", "-1.5", "-.5", "-5x", "-x", "--bogus", "host", "a b", "-x y", "-٣",
                     "video=1", "3389/tcp", "-46", "-v4", "-vt", "-tv", "--t", "--s", "--sql=x", "--=x",
                     "---", "-H=", "--web=", "-V6"]),
    st.text(alphabet="-=tvHw46 ax", max_size=6),
)


@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(words, max_size=7))
@example(["-t=2"])
@example(["--timeout=2"])
@example(["-t", "-1"])
@example(["-H", "h", "--", "x"])
@example(["--"])
@example(["-vvv", "-46"])
@example(["--sql", "x"])
@example(["--port", "video=1", "--port", "video=2"])
def test_the_fast_parser_reads_every_command_line_as_argparse_does(argv: list[str]) -> None:
    # argparse (3.11) drops '--' from a value attached to its option (`-H--`, `--hostname=--`) and stores
    # an empty list (an argparse bug): we keep the "--" the user wrote, so such words are not compared.
    assume(not any(word.endswith("=--") or (len(word) >= 4 and word.startswith("-") and word.endswith("--"))
                   for word in argv))
    assert by_us(argv) == by_argparse(argv)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-H", "h", "-vvv", "-t2.5", "--port=video=1", "--port", "web=2", "--inv", "x"],
         {"hosts": ["h"], "verbose": 3, "timeout": ["2.5"], "ports": ["video=1", "web=2"], "inventory": ["x"]}),
        (["-4", "--web", "--sql-port", "1433", "-w", "0.5"],
         {"family": 4, "web": True, "sql_port": ["1433"], "warning": ["0.5"]}),
        (["-Hh", "-6"], {"hosts": ["h"], "family": 6, "site": [], "quiet": False, "audio_clients": []}),
        (["-H", "h", "-t=2"], {"timeout": ["2"]}),
    ],
)
def test_values_as_argparse_reads_them(argv: list[str], expected: dict[str, object]) -> None:
    values = parse(argv)
    assert {key: values[key] for key in expected} == expected
    assert by_argparse(argv) == values


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-t"], "argument -t/--timeout: expected one argument"),
        (["-H", "--web"], "argument -H/--hostname: expected one argument"),
        (["-t", "-1"], "argument -t/--timeout: expected one argument"),  # -4/-6 make -1 look like an option
        (["-4", "-6"], "argument -6: not allowed with argument -4"),
        (["--web=yes"], "argument --web: ignored explicit argument 'yes'"),
        (["--s", "x"], "ambiguous option: --s could match --site, --sql-instance, --sql-port, --severity, --serve, "
                       "--submit"),
        (["-x"], "unrecognized arguments: -x"),
        (["stray", "-v", "words"], "unrecognized arguments: stray words"),
    ],
)
def test_errors_in_argparse_words(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(argv)
    assert str(caught.value) == message
    assert by_argparse(argv) == f"error: {message}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-H", "h", "--sql-instace", "DS"], "unrecognized arguments: --sql-instace DS: did you mean --sql-instance?"),
        (["-H", "h", "--sql-instace=DS"], "unrecognized arguments: --sql-instace=DS: did you mean --sql-instance?"),
        (["-H", "h", "-sql-instance", "DS"], "unrecognized arguments: -sql-instance DS: did you mean --sql-instance?"),
        (["--inventroy", "x"], "unrecognized arguments: --inventroy x: did you mean --inventory?"),
        (["-H", "h", "--audio-clinets", "2"], "unrecognized arguments: --audio-clinets 2: did you mean "
                                             "--audio-clients?"),
        (["-H", "h", "--forbidden", "3389/tcp"], "unrecognized arguments: --forbidden 3389/tcp: did you mean "
                                                 "--forbid?"),
        (["-H", "h", "--bogus"], "unrecognized arguments: --bogus"),  # nothing close: no guess
        (["-H", "h", "-x"], "unrecognized arguments: -x"),
        (["-H", "h", "video"], "unrecognized arguments: video"),  # a value, not an option
    ],
)
def test_a_mistyped_option_gets_a_suggestion(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(argv)
    assert str(caught.value) == message
    assert by_argparse(argv) == f"error: {message.split(': did you mean')[0]}"  # argparse's words, and ours after


def test_a_mistyped_option_is_one_unknown_line_with_the_suggestion(check: Check) -> None:
    run = check("-H", "127.0.0.1", "--sql-instace", "DIGITALSENTRY")
    assert (run.code, run.stdout, run.stderr) == (3, "DIGITALSENTRY UNKNOWN - unrecognized arguments: --sql-instace "
                                                     "DIGITALSENTRY: did you mean --sql-instance? (see --help)\n", "")


def test_help_shows_examples_that_work_and_names_every_demo_fault(check: Check) -> None:
    from check_digitalsentry.cli.options import EXAMPLES
    from check_digitalsentry.simulator import FAULTS

    run = check("--help", env={"COLUMNS": "200"})
    assert run.code == 3
    examples = run.stdout.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    for command, what in EXAMPLES:
        assert f"\n  {command}\n      {what}\n" in f"\n{examples}\n", command
        argv = shlex.split(command)
        assert argv[0] == "check_digitalsentry"
        opts = Options(parse(argv[1:]))
        opts.check()  # every example is a valid command line
        opts.site_values(["video"])
    faults = run.stdout.split("\n--demo-fault ROLE=FAULT", 1)[1].split("\n\n", 1)[0]
    lines = faults.splitlines()[1:]
    listed = {role: names.strip().split(", ") for roles, names in zip(lines[::2], lines[1::2])
              for role in roles.strip().split(", ")}
    assert listed == {role: list(names) for role, names in FAULTS.items()}


def test_help_is_printed_by_argparse_from_the_same_table(capsys: pytest.CaptureFixture[str]) -> None:
    options_help.print_help()
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option.flags[-1] in text, option
    assert "--sql-port PORT" in text and "Configure SQL" in text  # from the site schema


def test_every_site_setting_with_an_option_is_in_the_table() -> None:
    dests = {option.dest for option in OPTIONS}
    assert {field.name for field in schema.FIELDS if field.option} <= dests
    assert "timeout" not in {field.name for field in schema.FIELDS if field.option}  # -t is the run's


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-H", "a", "-H", "b"], "-H/--hostname: given 2 times ('a', 'b'): give it once"),
        (["-H", "a", "--sql-port", "1", "--sql-port", "2"], "--sql-port: given 2 times ('1', '2'): give it once"),
        (["-H", "a", "--port", "video=1", "--port", "video=2"], "--port video: given twice (1 and 2): give it once"),
        (["-H", "a", "--severity", "video=ok", "--severity", "video=critical"], "--severity video: given twice"),
        (["-H", "a", "-t", "2", "-t", "3"], "-t/--timeout: given 2 times ('2', '3'): give it once"),
        (["-H", "a", "--sql-port", "²"], "--sql-port: expected a port number 1-65535, got '²'"),
        (["-H", "a", "--sql-instance", "Ω"], "--sql-instance: expected an instance name of 1 to 32 characters that "
                                            "the SQL Server Browser can carry"),
        (["-H", "127.0.0.1\x00evil"], "-H/--hostname: host name contains a space or a control character"),
        (["-H", "a", "--audio-clients", "65"], "--audio-clients: expected a whole number 0-64, got 65"),
    ],
)
def test_a_setting_given_twice_or_badly_is_one_clear_line(argv: list[str], message: str) -> None:
    opts = Options(parse(argv))
    with pytest.raises(UsageError) as caught:
        opts.check()
        _ = opts.timeout
        opts.site_values(["video", "web"])
    assert message in str(caught.value)


def test_repeatable_options_may_repeat() -> None:
    opts = Options(parse(["--inventory", "x", "--site", "a", "--site", "b", "-w", "1"]))
    opts.check()
    assert opts.sites == ["a", "b"]
    values = opts.site_values(["video"])
    assert str(values["warning"]) == "1"
    forbid = Options(parse(["-H", "h", "--forbid", "3389/tcp", "--forbid", "445/tcp"])).site_values([])
    assert forbid["forbid"] == ((3389, "tcp"), (445, "tcp"))


def test_argparse_is_not_what_a_check_imports() -> None:
    from support import modules_loaded_by

    loaded = modules_loaded_by("from check_digitalsentry.cli.options import parse, Options; "
                               "Options(parse(['-H', 'h', '-t', '2'])).check()")
    assert "argparse" not in loaded and "gettext" not in loaded
    assert isinstance(PARSER, argparse.ArgumentParser)
