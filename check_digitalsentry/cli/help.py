"""``--help`` of the check plugin (check frontend): argparse, built from the option table (``options``).

argparse is imported only here, for ``--help`` -- and for the tests that prove the fast parser of
``options`` reads every command line as this parser does.
"""

from __future__ import annotations

import argparse

from check_digitalsentry.catalogue import BUILTIN_ROLE_NAMES
from check_digitalsentry.cli.options import DEFAULT, DESCRIPTION, EXAMPLES, GROUPS, USAGE, Table, UsageError
from check_digitalsentry.cli.options import epilog as roles_epilog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes are a UsageError (one UNKNOWN line), never argparse's exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _wrapped(text: str) -> str:
    """A paragraph wrapped as argparse wraps its own (the terminal's width, less 2)."""
    import shutil
    import textwrap

    return textwrap.fill(text, max(shutil.get_terminal_size().columns - 2, 40), break_on_hyphens=False)


def epilog(roles: Sequence[str] = BUILTIN_ROLE_NAMES) -> str:
    """After the options: examples, the simulator's faults for --demo-fault, exit codes and roles (the
    catalogue's and the plugins': ``roles``), in lines of their own, which argparse would run together."""
    from check_digitalsentry.simulator.site import FAULTS

    by_faults: dict[tuple[str, ...], list[str]] = {}
    for role, faults in FAULTS.items():
        by_faults.setdefault(faults, []).append(role)
    lines = ["examples:"]
    for command, what in EXAMPLES:
        lines += [f"  {command}", f"      {what}"]
    lines += ["", "--demo-fault ROLE=FAULT, the faults of the simulated site (repeatable, one per role):"]
    for faults, names in by_faults.items():  # as the examples: help2man makes each a tagged paragraph
        lines += [f"  {', '.join(names)}", f"      {', '.join(faults)}"]
    return "\n".join([*lines, "", _wrapped(roles_epilog(roles))])


def argparse_parser(roles: Sequence[str] = BUILTIN_ROLE_NAMES, table: Table = DEFAULT) -> Parser:
    """The argparse parser of the same options (``table``): prints ``--help`` (naming ``roles``), and is
    what ``options.parse`` is proved against."""
    parser = Parser(prog="check_digitalsentry", add_help=False, usage=USAGE, description=_wrapped(DESCRIPTION),
                    epilog=epilog(roles), formatter_class=argparse.RawDescriptionHelpFormatter)
    sections = {title: parser.add_argument_group(title) for title in GROUPS}
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for option in table.options:
        section = sections[option.group]
        if option.action == "value":
            section.add_argument(*option.flags, dest=option.dest, action="append", metavar=option.metavar,
                                 help=option.help)
        elif option.action == "flag":
            section.add_argument(*option.flags, dest=option.dest, action="store_true", help=option.help)
        elif option.action == "count":
            section.add_argument(*option.flags, dest=option.dest, action="count", default=0, help=option.help)
        else:
            group = exclusive.get(option.dest) or exclusive.setdefault(
                option.dest, section.add_mutually_exclusive_group())
            group.add_argument(*option.flags, dest=option.dest, action="store_const", const=option.const,
                               help=option.help)
    return parser


def print_help() -> None:
    argparse_parser().print_help()


