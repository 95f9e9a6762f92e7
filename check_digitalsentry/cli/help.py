"""``--help`` of the check plugin (check frontend): argparse, built from the option table (``options``).

argparse is imported only here, for ``--help`` -- and for the tests that prove the fast parser of
``options`` reads every command line as this parser does.
"""

from __future__ import annotations

import argparse

from check_digitalsentry.catalogue import BUILTIN_ROLE_NAMES
from check_digitalsentry.cli.options import DEFAULT, DESCRIPTION, GROUPS, USAGE, Table, UsageError, epilog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse whose mistakes are a UsageError (one UNKNOWN line), never argparse's exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def argparse_parser(roles: Sequence[str] = BUILTIN_ROLE_NAMES, table: Table = DEFAULT) -> Parser:
    """The argparse parser of the same options (``table``): prints ``--help`` (naming ``roles``), and is
    what ``options.parse`` is proved against."""
    parser = Parser(prog="check_digitalsentry", add_help=False, usage=USAGE, description=DESCRIPTION,
                    epilog=epilog(roles))
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


