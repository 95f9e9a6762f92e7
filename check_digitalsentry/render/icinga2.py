"""Icinga 2 objects (render layer): the inventory's sites as Icinga 2 configuration, so that the inventory
is the one description of every site (``check_digitalsentry --inventory sites.toml --icinga2-objects``).

Per site: one ``Host`` (named ``icinga_host``, default the site name; ``address`` its first DS server,
``address6`` when that is an IPv6 literal) carrying the site in ``vars.digitalsentry_*``, and its services:

- one ``Service`` named ``icinga_service`` (default ``digitalsentry``) for the whole site, or
- with ``icinga_per_role`` (or ``--role``), one per role the site reports, ``<icinga_service>-<role>``
  (``digitalsentry-video``), so that each port is acknowledged and notified on its own.

Every service imports the site's ``icinga_template``: ``digitalsentry-service`` (active checks by the
CheckCommand ``digitalsentry`` with ``--inventory FILE --site NAME [--role ROLE]``) or
``digitalsentry-passive`` (results posted by ``--submit icinga2``); both are in contrib/icinga2. Hosts
import ``digitalsentry-host``. Input is the engine's plans (what each site expects), not a run: nothing
is probed.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.engine.sites import SitePlan
    from check_digitalsentry.schema import Site

HOST_TEMPLATE = "digitalsentry-host"


def string(text: str, macro: bool = False) -> str:
    """An Icinga 2 DSL string literal: backslash, quote and control characters escaped; with ``macro``
    (a custom variable: Icinga resolves ``$name$`` in those, and rejects an unclosed '$') '$' too."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    if macro:
        out = out.replace("$", "$$")
    out = out.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{out}"'


def array(items: Sequence[str], macro: bool = False) -> str:
    return "[ " + ", ".join(string(item, macro) for item in items) + " ]" if items else "[ ]"


def host_name(site: Site) -> str:
    """The site's Icinga Host object."""
    return site.icinga_host or site.name


def service_names(site: Site, roles: Sequence[str]) -> list[tuple[str, str | None]]:
    """The site's Icinga services: ``[(name, role)]``, role None for the one service of the whole site."""
    if not site.icinga_per_role:
        return [(site.icinga_service, None)]
    return [(f"{site.icinga_service}-{role}", role) for role in roles]


def _host(site: Site, roles: Sequence[str], inventory: str) -> list[str]:
    first = site.hosts[0]
    lines = [f"object Host {string(host_name(site))} {{", f"  import {string(HOST_TEMPLATE)}",
             f"  {'address6' if ':' in first else 'address'} = {string(first)}"]
    if site.description:
        lines.append(f"  notes = {string(site.description)}")
    lines += [f"  vars.digitalsentry_inventory = {string(inventory, macro=True)}",
              f"  vars.digitalsentry_site = {string(site.name, macro=True)}",
              f"  vars.digitalsentry_hosts = {array(site.hosts, macro=True)}",
              f"  vars.digitalsentry_site_roles = {array(roles, macro=True)}"]
    for key in ("customer", "location", "reference"):
        value = getattr(site, key)
        if value:
            lines.append(f"  vars.digitalsentry_{key} = {string(value, macro=True)}")
    return [*lines, "}"]


def _service(site: Site, name: str, role: str | None) -> list[str]:
    lines = [f"object Service {string(name)} {{", f"  host_name = {string(host_name(site))}",
             f"  import {string(site.icinga_template)}"]
    if role is not None:
        lines.append(f"  vars.digitalsentry_roles = {array([role], macro=True)}")
    elif site.roles:
        lines.append(f"  vars.digitalsentry_roles = {array(site.roles, macro=True)}")
    return [*lines, "}"]


def render(plans: Sequence[SitePlan], inventory: str, generator: str) -> str:
    """The Icinga 2 objects of the planned sites; ``inventory`` is the path the active checks read,
    ``generator`` the command line that wrote it (a comment on top)."""
    out = [f"/* Icinga 2 objects for the {len(plans)} DS site(s) of {inventory.replace('*/', '* /')}, written by",
           f" *   {generator.replace('*/', '* /')}",
           " * Regenerate them whenever the inventory changes; do not edit. Needs the CheckCommand",
           " * digitalsentry (Debian's package: include <plugins-contrib>; else contrib/icinga2/",
           " * digitalsentry-command.conf), and from contrib/icinga2 digitalsentry-services.conf (the",
           " * templates) and, for passive sites, digitalsentry-passive.conf. */"]
    for plan in plans:
        site, roles = plan.site, plan.roles
        out += ["", *_host(site, roles, inventory)]
        for name, role in service_names(site, roles):
            out += ["", *_service(site, name, role)]
    return "\n".join(out) + "\n"
