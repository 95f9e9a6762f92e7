#!/usr/bin/env python3
"""Regenerate the README's role table from the port catalogue (``check_digitalsentry.catalogue``): one row
per role -- its port and transport, what it is for (and the option that switches it on), the state when it
fails. Usage:

    python contrib/role_table.py                    # print the markdown table
    python contrib/role_table.py --update README.md  # rewrite the table between its markers
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fault_table import update  # the region markers are rewritten as the fault table's

from check_digitalsentry import catalogue, schema

START = "<!-- role-table:start (python contrib/role_table.py --update README.md) -->"
END = "<!-- role-table:end -->"


def _port(role: catalogue.Role) -> str:
    transport = role.transport.upper()
    if role.port is None:
        return f"{transport} dynamic"
    if role.when == catalogue.AUDIO:
        return f"{transport} {role.port}, {role.port + 1}, …"
    return f"{transport} {role.port}"


def _what(role: catalogue.Role) -> str:
    if role.when == catalogue.ALWAYS:
        return role.purpose
    option = schema.BY_NAME[role.when].option
    return f"{role.purpose} (`{option[0]}`)" if option else role.purpose


def _fails(role: catalogue.Role) -> str:
    if role.live:
        return (f"{role.severity}: informational, not testable while no {role.live} (strict: `--severity "
                f"{role.name}=warning` during a live session)")
    silent = role.transport == "udp" and not role.must_answer
    return f"{role.severity}{' when closed (silence is OK)' if silent else ''}"


def table() -> str:
    lines = ["| role | port | what | when it fails |", "|---|---|---|---|"]
    lines += [f"| `{role.name}` | {_port(role)} | {_what(role)} | {_fails(role)} |" for role in catalogue.ROLES]
    lines.append(f"| `{catalogue.FORBID}` | each `--forbid PORT/PROTO` | a port that must NOT be reachable | "
                 f"{catalogue.CRITICAL} when reachable |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", metavar="README", type=Path, help="rewrite the table in this file")
    args = parser.parse_args()
    if args.update:
        update(args.update, table(), START, END)
    else:
        sys.stdout.write(table())


if __name__ == "__main__":
    main()
