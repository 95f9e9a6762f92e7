"""The TOML site inventory: what it loads, and the one-line error for every kind of mistake."""

from __future__ import annotations

import importlib
import ipaddress
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from check_digitalsentry.inventory import Inventory, InventoryError, load_inventory, parse_inventory
from check_digitalsentry.model import State
from check_digitalsentry.ranges import Range
from check_digitalsentry.schema import FIELDS, SITE_KEYS, Site, expected_ports

EXAMPLE = Path(__file__).resolve().parent.parent / "contrib" / "sites.example.toml"

MINIMAL = """\
[[sites]]
name = "hq"
hosts = ["ds01.example.com"]
"""


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes ``sites.toml`` in its own directory, so messages start with ``sites.toml``."""
    monkeypatch.chdir(tmp_path)


def load(text: str, roles: list[str] | None = None) -> Inventory:
    Path("sites.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_inventory("sites.toml", roles)


def error(text: str) -> str:
    with pytest.raises(InventoryError) as info:
        load(text)
    message = str(info.value)
    assert "\n" not in message
    return message


def site_error(body: str) -> str:
    """The error for one site made of MINIMAL plus ``body`` (so its lines start at 4)."""
    return error(MINIMAL + textwrap.dedent(body))


# -- what a good inventory gives ------------------------------------------------------------------


def test_a_minimal_site_gets_the_same_defaults_as_a_model_site() -> None:
    (site,) = load(MINIMAL).sites
    plain = Site("hq", ("ds01.example.com",))
    keys = [field.name for field in FIELDS]
    assert {k: getattr(site, k) for k in keys} == {k: getattr(plain, k) for k in keys}


def test_sites_come_out_in_file_order_as_model_sites() -> None:
    inventory = load(MINIMAL + '[[sites]]\nname = "b"\nhosts = "b.example.com"\n'
                     '[[sites]]\nname = "a"\nhosts = "a.example.com"\n')
    assert [s.name for s in inventory.sites] == ["hq", "b", "a"]
    assert all(isinstance(s, Site) for s in inventory)
    assert len(inventory) == 3
    assert inventory.source == "sites.toml"
    assert repr(inventory) == "Inventory('sites.toml', ['hq', 'b', 'a'])"


def test_every_site_key_is_converted_to_the_model_types() -> None:
    (site,) = load("""
        [[sites]]
        name = "hq"
        hosts = [" ds01.example.com ", "192.0.2.10", "2001:db8::10"]
        description = "Headquarters"
        sql_instance = "SQLEXPRESS"
        sql_port = 1433
        web = true
        api = true
        audio_clients = 2
        tls_verify = true
        forbid = ["3389/tcp", "161/UDP", " 445/tcp ", "3389/tcp"]
        timeout = 20
        warning = 1
        critical = "@0.5:3"
        [sites.ports]
        video = 28772
        [sites.severity]
        diagnostics = "critical"
        forbid = "warn"
        """).sites
    assert site.hosts == ("ds01.example.com", "192.0.2.10", "2001:db8::10")
    assert (site.description, site.sql_instance, site.sql_port) == ("Headquarters", "SQLEXPRESS", 1433)
    assert (site.web, site.api, site.tls_verify, site.audio_clients) == (True, True, True, 2)
    assert site.forbid == ((3389, "tcp"), (161, "udp"), (445, "tcp"))
    assert site.timeout == 20.0 and isinstance(site.timeout, float)
    assert site.warning == Range(0, 1)
    assert site.critical == Range(0.5, 3, invert=True)
    assert site.ports == {"video": 28772}
    assert site.severity == {"diagnostics": State.CRITICAL, "forbid": State.WARNING}


def test_a_single_host_string_is_accepted_as_a_one_host_list() -> None:
    (site,) = load('[[sites]]\nname = "hq"\nhosts = "ds01.example.com"\n').sites
    assert site.hosts == ("ds01.example.com",)


def test_defaults_are_inherited_by_every_site() -> None:
    inventory = load("""
        [defaults]
        timeout = 30
        warning = "2"
        web = true
        forbid = ["3389/tcp"]
        [defaults.ports]
        video = 18000
        [[sites]]
        name = "a"
        hosts = "a.example.com"
        [[sites]]
        name = "b"
        hosts = "b.example.com"
        """)
    for site in inventory:
        assert (site.timeout, site.warning, site.web) == (30.0, Range(0, 2), True)
        assert site.forbid == ((3389, "tcp"),)
        assert site.ports == {"video": 18000}


def test_site_values_override_defaults_and_lists_are_replaced_not_merged() -> None:
    (site,) = load("""
        [defaults]
        timeout = 30
        web = true
        forbid = ["3389/tcp", "445/tcp"]
        [[sites]]
        name = "a"
        hosts = "a.example.com"
        timeout = 5
        web = false
        forbid = ["5900/tcp"]
        """).sites
    assert (site.timeout, site.web, site.forbid) == (5.0, False, ((5900, "tcp"),))


def test_ports_and_severity_tables_merge_key_by_key_and_the_site_wins() -> None:
    a, b = load("""
        [defaults.ports]
        video = 18000
        diagnostics = 17000
        [defaults.severity]
        diagnostics = "ok"
        forbid = "warning"
        [[sites]]
        name = "a"
        hosts = "a.example.com"
        [sites.ports]
        video = 28772
        sql-browser = 11434
        [sites.severity]
        forbid = "critical"
        [[sites]]
        name = "b"
        hosts = "b.example.com"
        """).sites
    assert a.ports == {"video": 28772, "diagnostics": 17000, "sql-browser": 11434}
    assert a.severity == {"diagnostics": State.OK, "forbid": State.CRITICAL}
    assert b.ports == {"video": 18000, "diagnostics": 17000}
    assert b.severity == {"diagnostics": State.OK, "forbid": State.WARNING}
    assert a.ports is not b.ports


def test_dotted_keys_and_inline_tables_work_like_sub_tables() -> None:
    a, b = load("""
        [[sites]]
        name = "a"
        hosts = "a.example.com"
        ports.video = 1
        severity = { audio = "critical" }
        [[sites]]
        name = "b"
        hosts = "b.example.com"
        ports = { video = 2 }
        """).sites
    assert (a.ports, a.severity, b.ports) == ({"video": 1}, {"audio": State.CRITICAL}, {"video": 2})


def test_roles_added_by_plugins_are_accepted_when_the_loader_is_told_about_them() -> None:
    text = MINIMAL + "[sites.ports]\nonvif = 8080\n[sites.severity]\nonvif = 'warning'\n"
    assert "unknown role 'onvif'" in error(text)
    (site,) = load(text, roles=["onvif"]).sites
    assert (site.ports, site.severity) == ({"onvif": 8080}, {"onvif": State.WARNING})
    assert load(MINIMAL + "[sites.ports]\nvideo = 1\n", roles=["onvif"]).sites[0].ports == {"video": 1}


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    Path("sites.toml").write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_inventory(Path("sites.toml")).sites[0].name == "hq"


def test_parse_inventory_reads_text_and_names_it_in_errors() -> None:
    assert parse_inventory(MINIMAL).sites[0].name == "hq"
    with pytest.raises(InventoryError, match=r"^<inventory>:3: sites\[0\]\.web: "):
        parse_inventory(MINIMAL.replace("hosts", "web = 1\nhosts"))
    with pytest.raises(InventoryError, match=r"^cfg:3: "):
        parse_inventory(MINIMAL.replace("hosts", "web = 1\nhosts"), source="cfg")


# -- looking sites up -----------------------------------------------------------------------------

TWO_SITES = MINIMAL + '[[sites]]\nname = "branch-1"\nhosts = "203.0.113.45"\n'


def test_site_lookup_ignores_case() -> None:
    inventory = load(TWO_SITES)
    assert inventory.site("HQ") is inventory.site("hq") is inventory.sites[0]
    assert inventory.site("Branch-1").name == "branch-1"


def test_site_lookup_of_an_unknown_name_is_a_key_error_listing_the_sites() -> None:
    with pytest.raises(KeyError) as info:
        load(TWO_SITES).site("hx")
    assert info.value.args[0] == "no site 'hx' in sites.toml (sites: hq, branch-1)"


def test_select_returns_the_named_sites_in_the_order_asked_and_each_once() -> None:
    inventory = load(TWO_SITES)
    assert [s.name for s in inventory.select(["branch-1", "HQ", "hq"])] == ["branch-1", "hq"]


def test_select_with_no_names_returns_every_site() -> None:
    assert [s.name for s in load(TWO_SITES).select([])] == ["hq", "branch-1"]


def test_select_of_an_unknown_name_is_an_inventory_error_listing_the_sites() -> None:
    with pytest.raises(InventoryError) as info:
        load(TWO_SITES).select(["hq", "hx"])
    assert str(info.value) == "no site 'hx' in sites.toml (sites: hq, branch-1)"


# -- which TOML parser ----------------------------------------------------------------------------


def test_the_inventory_is_read_with_tomllib_or_else_the_tomli_backport(monkeypatch: pytest.MonkeyPatch) -> None:
    # On this Python, whichever parser it has:
    assert load(MINIMAL).sites[0].name == "hq"
    # Where tomllib is missing (before 3.11), the tomli backport reads it, syntax errors included.
    real = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    calls: list[str] = []

    def loads(text: str) -> object:
        calls.append(text)
        return real.loads(text)

    backport = types.ModuleType("tomli")
    backport.__dict__.update(loads=loads, TOMLDecodeError=real.TOMLDecodeError)
    monkeypatch.setitem(sys.modules, "tomli", backport)
    monkeypatch.setattr(sys, "version_info", (3, 10, 0, "final", 0))
    assert parse_inventory(MINIMAL).sites[0].name == "hq"
    with pytest.raises(InventoryError, match=r"^<inventory>:2: invalid TOML: "):
        parse_inventory("[[sites]]\nname = hq\n")
    assert len(calls) == 2


def test_importing_the_inventory_module_imports_no_toml_parser() -> None:
    code = (
        "import sys, check_digitalsentry.inventory;"
        "print(sorted({'tomllib', 'tomli', 'difflib'} & set(sys.modules)))"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


# -- errors: reading the file ---------------------------------------------------------------------


def test_a_missing_file_is_one_line_naming_it() -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory("nowhere.toml")
    assert str(info.value) == "nowhere.toml: cannot read: No such file or directory"


def test_an_unreadable_file_is_one_line_naming_it() -> None:
    os.mkdir("sites.toml")
    with pytest.raises(InventoryError, match=r"^sites\.toml: cannot read: a directory, not an inventory file$"):
        load_inventory("sites.toml")


def test_a_file_that_is_not_utf8_names_the_line_of_the_bad_byte() -> None:
    Path("sites.toml").write_bytes(MINIMAL.encode() + b'description = "Zentrale M\xfcnchen"\n')
    with pytest.raises(InventoryError) as info:
        load_inventory("sites.toml")
    assert str(info.value) == "sites.toml:4: not UTF-8 text (byte 0xfc)"


def test_a_toml_syntax_error_names_the_file_line_and_column() -> None:
    assert error('[[sites]]\nname = "hq"\nhosts = [ds01]\n') == (
        "sites.toml:3: invalid TOML: invalid value (column 10)"
    )


def test_a_toml_syntax_error_at_the_end_of_the_file_points_at_its_last_line() -> None:
    assert error('[[sites]]\nname = "hq"\nhosts = ["ds01",\n\n') == (
        "sites.toml:3: invalid TOML: invalid value at end of file"
    )


def test_a_toml_error_keeps_the_parsers_words() -> None:
    message = error(MINIMAL + 'name = "again"\n')
    assert message.startswith("sites.toml:4: invalid TOML: ")
    assert "overwrite a value (column 15)" in message  # tomli 1.x says "can not", tomllib "cannot"


# -- errors: structure and unknown keys -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "# nothing yet\n", "[defaults]\ntimeout = 5\n", "sites = []\n"],
)
def test_an_inventory_without_sites_says_so(text: str) -> None:
    assert error(text) == "no [[sites]] in sites.toml"


def test_sites_written_as_a_single_table_are_reported() -> None:
    assert error('[sites]\nname = "hq"\nhosts = "a"\n') == (
        "sites.toml:1: sites: expected [[sites]] tables, got {'name': 'hq', 'hosts': 'a'}"
    )


def test_an_unknown_top_level_key_suggests_the_close_match() -> None:
    assert error('[[site]]\nname = "hq"\n') == "sites.toml:1: site: unknown key 'site' (did you mean 'sites'?)"
    assert error("[default]\ntimeout = 1\n" + MINIMAL) == (
        "sites.toml:1: default: unknown key 'default' (did you mean 'defaults'?)"
    )
    assert error("colour = 1\n" + MINIMAL) == "sites.toml:1: colour: unknown key 'colour' (known: defaults, sites)"


def test_a_site_key_at_the_top_level_says_where_it_belongs() -> None:
    assert error("timeout = 5\n" + MINIMAL) == (
        "sites.toml:1: timeout: 'timeout' belongs in [defaults] or in a [[sites]] table"
    )


def test_an_unknown_key_in_defaults_suggests_the_close_match() -> None:
    assert error("[defaults]\nweb = true\ntimout = 5\n" + MINIMAL) == (
        "sites.toml:3: defaults.timout: unknown key 'timout' (did you mean 'timeout'?)"
    )


@pytest.mark.parametrize("key", ["name", "hosts"])
def test_name_and_hosts_cannot_be_defaults(key: str) -> None:
    assert error(f'[defaults]\n{key} = "x"\n' + MINIMAL) == (
        f"sites.toml:2: defaults.{key}: '{key}' cannot be a default: set it in each [[sites]]"
    )


def test_a_misspelt_site_key_is_reported_on_its_line_with_a_suggestion() -> None:
    assert error('[[sites]]\nname = "hq"\nhsots = ["a"]\n') == (
        "sites.toml:3: sites[0].hsots: unknown key 'hsots' (did you mean 'hosts'?)"
    )


def test_an_unknown_role_in_ports_is_reported_on_its_line_with_a_suggestion() -> None:
    text = """\
        [defaults]
        timeout = 10

        [[sites]]
        name = "hq"
        hosts = ["ds01.example.com"]

        [[sites]]
        name = "branch-1"
        hosts = ["203.0.113.45"]

        [[sites]]
        name = "branch-2"
        hosts = "198.51.100.7"
        [sites.ports]
        video = 28772
        vidoe = 28773
        """
    assert error(text) == "sites.toml:17: sites[2].ports.vidoe: unknown role 'vidoe' (did you mean 'video'?)"


def test_an_unknown_role_without_a_close_match_lists_the_known_roles() -> None:
    assert site_error("[sites.ports]\nrtsp = 554\n") == (
        "sites.toml:5: sites[0].ports.rtsp: unknown role 'rtsp' (known: sql-browser, sql, video, "
        "diagnostics, web, api-system, api-playback, api-camera, audio)"
    )


def test_an_unknown_role_in_severity_is_reported_and_forbid_is_a_known_key_there() -> None:
    assert site_error("[sites.severity]\nforbid = 'ok'\ndiagnostic = 'ok'\n") == (
        "sites.toml:6: sites[0].severity.diagnostic: unknown role 'diagnostic' (did you mean 'diagnostics'?)"
    )


def test_an_unknown_role_in_default_ports_is_reported_in_defaults() -> None:
    assert error("[defaults.ports]\nvideo = 1\nsql_browser = 11434\n" + MINIMAL) == (
        "sites.toml:3: defaults.ports.sql_browser: unknown role 'sql_browser' (did you mean 'sql-browser'?)"
    )


# -- errors: values -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "65536", "-1", "true", '"18772"', "18772.0"])
def test_ports_outside_1_to_65535_or_not_integers_are_rejected(value: str) -> None:
    shown = {"true": "true", '"18772"': "'18772'"}.get(value, value)
    assert site_error(f"[sites.ports]\nvideo = {value}\n") == (
        f"sites.toml:5: sites[0].ports.video: expected a port number 1-65535, got {shown}"
    )


def test_the_static_sql_port_is_checked_like_any_port() -> None:
    assert site_error("sql_port = 70000\n") == (
        "sites.toml:4: sites[0].sql_port: expected a port number 1-65535, got 70000"
    )


def test_an_empty_hosts_list_is_rejected() -> None:
    assert error('[[sites]]\nname = "hq"\nhosts = []\n') == (
        "sites.toml:3: sites[0].hosts: expected at least one host, got []"
    )


@pytest.mark.parametrize(("hosts", "where", "shown"), [('["a", ""]', "hosts[1]", "''"), ('"  "', "hosts", "'  '")])
def test_an_empty_or_blank_host_name_is_rejected(hosts: str, where: str, shown: str) -> None:
    assert error(f'[[sites]]\nname = "hq"\nhosts = {hosts}\n') == (
        f"sites.toml:3: sites[0].{where}: empty host name {shown}"
    )


def test_hosts_that_are_not_strings_are_rejected() -> None:
    assert error('[[sites]]\nname = "hq"\nhosts = ["a", 10]\n') == (
        "sites.toml:3: sites[0].hosts[1]: expected a host name, got 10"
    )
    assert error('[[sites]]\nname = "hq"\nhosts = 10\n') == (
        "sites.toml:3: sites[0].hosts: expected a list of host names, got 10"
    )


def test_a_host_with_a_port_is_rejected_with_a_hint() -> None:
    assert error('[[sites]]\nname = "hq"\nhosts = ["ds01.example.com:18772"]\n') == (
        "sites.toml:3: sites[0].hosts[0]: 'ds01.example.com:18772' looks like HOST:PORT: "
        "give the host alone, and remapped ports in [sites.ports]"
    )


def test_a_host_listed_twice_in_a_site_is_rejected() -> None:
    assert error('[[sites]]\nname = "hq"\nhosts = ["ds01.example.com", "DS01.example.com"]\n') == (
        "sites.toml:3: sites[0].hosts[1]: duplicate host 'DS01.example.com' (first at hosts[0])"
    )


@pytest.mark.parametrize("missing", ["name", "hosts"])
def test_a_site_without_name_or_hosts_points_at_its_header(missing: str) -> None:
    text = MINIMAL + "\n[[sites]]  # branch\n"
    text += "" if missing == "name" else 'name = "branch-1"\n'
    text += "" if missing == "hosts" else 'hosts = "a"\n'
    assert error(text) == f"sites.toml:5: sites[1]: missing required key '{missing}'"


def test_a_duplicate_site_name_says_where_the_first_one_was() -> None:
    text = "".join(f'[[sites]]\nname = "{name}"\nhosts = "h"\n' for name in ["hq", "b1", "b2", "hq"])
    assert error(text) == "sites.toml:11: sites[3].name: duplicate site 'hq' (first at sites[0])"


def test_duplicate_site_names_are_detected_ignoring_case() -> None:
    text = '[[sites]]\nname = "hq"\nhosts = "a"\n[[sites]]\nname = "HQ"\nhosts = "b"\n'
    assert error(text) == "sites.toml:5: sites[1].name: duplicate site 'HQ' (first at sites[0] as 'hq')"


@pytest.mark.parametrize("name", ['"head office"', '""', '"hq/1"', "1"])
def test_a_site_name_must_be_usable_in_test_ids_and_perfdata(name: str) -> None:
    shown = name.replace('"', "'")
    assert error(f'[[sites]]\nname = {name}\nhosts = "a"\n') == (
        f"sites.toml:2: sites[0].name: expected a name of letters, digits, '.', '_' or '-', got {shown}"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('web = "yes"', "sites[0].web: expected true or false, got 'yes'"),
        ("api = 1", "sites[0].api: expected true or false, got 1"),
        ('tls_verify = "true"', "sites[0].tls_verify: expected true or false, got 'true'"),
        ("audio_clients = 1.5", "sites[0].audio_clients: expected a whole number 0-64, got 1.5"),
        ("audio_clients = 65", "sites[0].audio_clients: expected a whole number 0-64, got 65"),
        ("audio_clients = true", "sites[0].audio_clients: expected a whole number 0-64, got true"),
        ("description = 5", "sites[0].description: expected a string, got 5"),
        ('customer = "Acme \\u202Eevil"',  # a bidi override would turn the text around in the report
         "sites[0].customer: expected text of at most 4000 characters without control characters, "
         "got 'Acme \\u202eevil'"),
        ("timeout = 0", "sites[0].timeout: expected seconds > 0 and <= 3600, got 0"),
        ("timeout = 3601", "sites[0].timeout: expected seconds > 0 and <= 3600, got 3601"),
        ("timeout = nan", "sites[0].timeout: expected seconds > 0 and <= 3600, got nan"),
        ("timeout = true", "sites[0].timeout: expected seconds > 0 and <= 3600, got true"),
        ('timeout = "10"', "sites[0].timeout: expected seconds > 0 and <= 3600, got '10'"),
        ('sql_instance = ""', "sites[0].sql_instance: expected an instance name of 1 to 32 characters, got ''"),
        (f'sql_instance = "{"X" * 33}"',
         f"sites[0].sql_instance: expected an instance name of 1 to 32 characters, got '{'X' * 33}'"),
        ('sql_instance = "DS01\\\\SQLEXPRESS"',
         "sites[0].sql_instance: expected the instance name alone ('SQLEXPRESS'), got 'DS01\\\\SQLEXPRESS'"),
        ("ports = 5", "sites[0].ports: expected a table of role = port, got 5"),
        ('severity = "critical"',
         "sites[0].severity: expected a table of role = 'ok', 'warning' or 'critical', got 'critical'"),
        ('forbid = "3389/tcp"',
         "sites[0].forbid: expected a list like [\"3389/tcp\", \"445/tcp\"], got '3389/tcp'"),
        ("when = 1979-05-27", f"sites[0].when: unknown key 'when' (known: {', '.join(SITE_KEYS)})"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_is_reported_on_its_line(line: str, message: str) -> None:
    assert site_error(line + "\n") == f"sites.toml:4: {message}"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('"3389"', "expected 'PORT/tcp' or 'PORT/udp', got '3389'"),
        ("3389", "expected 'PORT/tcp' or 'PORT/udp', got 3389"),
        ('"3389/icmp"', "expected 'PORT/tcp' or 'PORT/udp', got '3389/icmp'"),
        ('"rdp/tcp"', "expected 'PORT/tcp' or 'PORT/udp', got 'rdp/tcp'"),
        ('"/tcp"', "expected 'PORT/tcp' or 'PORT/udp', got '/tcp'"),
        ('"0/tcp"', "port 0 out of range 1-65535 in '0/tcp'"),
        ('"70000/udp"', "port 70000 out of range 1-65535 in '70000/udp'"),
    ],
)
def test_a_bad_forbid_entry_is_reported_by_its_index(entry: str, message: str) -> None:
    assert site_error(f'forbid = ["1433/tcp", {entry}]\n') == f"sites.toml:4: sites[0].forbid[1]: {message}"


def test_a_bad_forbid_entry_in_a_multi_line_list_points_at_the_forbid_key() -> None:
    assert site_error('description = "x"\nforbid = [\n  "1433/tcp",\n  "3389",\n]\n') == (
        "sites.toml:5: sites[0].forbid[1]: expected 'PORT/tcp' or 'PORT/udp', got '3389'"
    )


@pytest.mark.parametrize(
    ("line", "shown"),
    [('warning = "abc"', "'abc'"), ('critical = "20:10"', "'20:10'"), ("warning = true", "true"),
     ("critical = -1", "-1"), ('warning = "1s"', "'1s'")],
)
def test_a_bad_threshold_range_is_reported_with_the_accepted_forms(line: str, shown: str) -> None:
    key = line.split()[0]
    assert site_error(line + "\n").startswith(
        f"sites.toml:4: sites[0].{key}: expected a range like 10, 10:, ~:10, 10:20 or @10:20, got {shown}"
    )


@pytest.mark.parametrize(("word", "shown"), [('"fatal"', "'fatal'"), ('"unknown"', "'unknown'"), ("2", "2")])
def test_a_bad_severity_word_is_reported(word: str, shown: str) -> None:
    assert site_error(f"[sites.severity]\nvideo = {word}\n") == (
        f"sites.toml:5: sites[0].severity.video: expected ok, warning or critical, got {shown}"
    )


def test_audio_clients_running_past_the_last_port_are_rejected() -> None:
    assert site_error("audio_clients = 3\n[sites.ports]\naudio = 65534\n") == (
        "sites.toml:4: sites[0].audio_clients: 3 audio clients from port 65534 run past port 65535"
    )


# -- errors: line numbers -------------------------------------------------------------------------


def test_errors_in_defaults_point_at_their_line_in_defaults() -> None:
    assert error(MINIMAL + "\n[defaults]\nweb = true\nwarning = 'x'\n").startswith(
        "sites.toml:7: defaults.warning: expected a range"
    )


def test_line_numbers_are_not_fooled_by_multi_line_strings_and_arrays() -> None:
    text = '''\
        [[sites]]
        name = "hq"
        description = """
        [[sites]]
        web = "in a string"
        """
        hosts = [
          "a.example.com",  # web = 1 in a comment
          "b.example.com",
        ]
        notes = "x"
        '''
    assert error(text) == "sites.toml:11: sites[0].notes: unknown key 'notes' (did you mean 'roles'?)"


def test_a_key_in_an_inline_table_points_at_the_line_of_the_table() -> None:
    assert site_error('ports = { video = 1, vidoe = 2 }\n') == (
        "sites.toml:4: sites[0].ports.vidoe: unknown role 'vidoe' (did you mean 'video'?)"
    )


def test_the_line_is_left_out_when_sites_are_not_written_as_sites_tables() -> None:
    text = 'sites = [\n  { name = "hq", hosts = "a" },\n  { name = "b", hosts = "b", web = 1 },\n]\n'
    assert error(text) == "sites.toml: sites[1].web: expected true or false, got 1"


def test_an_inventory_error_keeps_source_line_and_key_as_attributes() -> None:
    with pytest.raises(InventoryError) as info:
        load(MINIMAL + "web = 1\n")
    assert (info.value.source, info.value.line, info.value.key) == ("sites.toml", 4, "sites[0].web")
    assert info.value.message == "expected true or false, got 1"


# -- the example inventory ------------------------------------------------------------------------


def test_the_example_inventory_loads_as_written() -> None:
    hq, branch, warehouse, hq_from_branch = load_inventory(EXAMPLE).sites
    default_forbid = ((1433, "tcp"), (3389, "tcp"), (445, "tcp"))

    assert (hq.name, hq.hosts) == ("hq", ("ds01.hq.example.com", "ds02.hq.example.com"))
    assert (hq.web, hq.api, hq.tls_verify, hq.audio_clients) == (True, True, True, 0)
    assert hq.forbid == (*default_forbid, (5900, "tcp"))
    assert hq.severity == {"diagnostics": State.OK, "forbid": State.WARNING}
    assert (hq.timeout, hq.warning, hq.critical) == (15.0, Range(0, 1), Range(0, 3))

    assert (branch.name, branch.hosts) == ("branch-1", ("203.0.113.45",))
    assert (branch.sql_instance, branch.sql_port, branch.web, branch.api) == ("SQLEXPRESS", 14330, False, False)
    assert branch.ports == {"video": 28772, "diagnostics": 27772, "sql-browser": 11434}
    assert (branch.timeout, branch.warning, branch.critical) == (30.0, Range(0, 2), Range(0, 5))
    assert branch.forbid == default_forbid

    assert (warehouse.name, warehouse.hosts, warehouse.audio_clients) == ("warehouse", ("198.51.100.20",), 2)
    assert warehouse.severity == {"diagnostics": State.WARNING, "audio": State.CRITICAL}
    assert [s.label for s in expected_ports(warehouse) if s.role == "audio"] == [
        "audio[18778/udp]", "audio[18779/udp]"
    ]
    assert (branch.icinga_host, branch.icinga_per_role, hq.icinga_host, hq.icinga_template) == (
        "branch-1.example.com", True, None, "digitalsentry-service")
    assert (hq_from_branch.name, hq_from_branch.roles) == ("hq-from-branch", ("sql", "video"))


def test_the_example_inventory_uses_only_documentation_names_and_addresses() -> None:
    documentation = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    for site in load_inventory(EXAMPLE):
        assert site.description
        for host in site.hosts:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                assert host.endswith(".example.com"), host
            else:
                assert any(address in net for net in documentation), host


@pytest.mark.parametrize("kind", ["fifo", "device", "oversized", "deep"])
def test_only_a_regular_file_of_sane_size_is_read(tmp_path: Path, kind: str) -> None:
    """A FIFO would block past the deadline, /dev/zero never ends, a huge file fills memory, TOML nested
    thousands deep overflows the parser's stack: each is one line naming the file."""
    import os

    from check_digitalsentry.inventory import MAX_BYTES

    if kind == "fifo":
        path = tmp_path / "sites.toml"
        os.mkfifo(path)  # nobody writes: opening it for reading would wait forever
        message = "a FIFO, not an inventory file"
    elif kind == "device":
        path, message = Path("/dev/zero"), "a device, not an inventory file"
    elif kind == "oversized":
        path = tmp_path / "sites.toml"
        with path.open("wb") as fh:
            fh.truncate(MAX_BYTES + 1)
        message = f"more than an inventory holds (at most {MAX_BYTES >> 20} MiB)"
    else:
        path = tmp_path / "sites.toml"
        path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
        message = "invalid TOML: nested too deeply"
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value), caught.value
    assert "\n" not in str(caught.value)


def test_a_host_with_a_nul_or_a_control_character_is_refused() -> None:
    """argv cannot carry a NUL, but TOML can ("\\u0000"): such a host is a mistake, never probed."""
    message = error('[[sites]]\nname = "hq"\nhosts = ["127.0.0.1\\u0000evil"]\n')
    assert "host name contains a space or a control character: '127.0.0.1\\x00evil'" in message, message


def test_a_site_from_command_line_words_is_checked_as_an_inventory_site() -> None:
    from check_digitalsentry.inventory import site_from_words

    site = site_from_words(["hosts=ds01.example.com,ds02", "name=hq", "sql_instance=DS", "web=true", "api=no",
                            "forbid=3389/tcp,445/tcp", "ports.video=28772", "ports=web=8443,audio=5000",
                            "severity.diagnostics=ok", "audio_clients=2", "sql_port=1433", "timeout=4",
                            "warning=1", "critical=@2:3", "description=Head office", "customer=Example Ltd",
                            "location=1 Example Street", "reference=PO 4711", "tls_verify=yes"])
    assert (site.name, site.hosts, site.sql_instance, site.web, site.api) == ("hq", ("ds01.example.com", "ds02"),
                                                                             "DS", True, False)
    assert site.forbid == ((3389, "tcp"), (445, "tcp")) and site.ports == {"video": 28772, "web": 8443, "audio": 5000}
    assert site.severity == {"diagnostics": State.OK} and (site.audio_clients, site.sql_port, site.timeout) == (2, 1433, 4.0)
    assert (str(site.warning), str(site.critical), site.tls_verify) == ("1", "@2:3", True)
    assert (site.description, site.customer, site.location, site.reference) == (
        "Head office", "Example Ltd", "1 Example Street", "PO 4711")
    assert site_from_words(["ds01"], name="adhoc-2").name == "adhoc-2"
    assert site_from_words(["ds01", "web=true"]).hosts == ("ds01",)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["ds01", "prots.video=1"], "cli: prots: unknown key 'prots' (did you mean 'ports'?)"),
        (["ds01", "ports.vidoe=1"], "cli: ports.vidoe: unknown role 'vidoe' (did you mean 'video'?)"),
        (["ds01", "ports.video=http"], "cli: ports.video: expected a port number 1-65535, got 'http'"),
        (["ds01", "web.x=1"], "cli: web: 'web' is not a table: give web=VALUE"),
        (["ds01", "web=true", "web=false"], "cli: web: given twice: give it once"),
        (["ds01", "hosts=ds02"], "cli: hosts: given twice (as 'ds01' and as hosts=): give the hosts once"),
        (["ds01", "ds02"], "cli: hosts: 'ds01' and 'ds02': one host, then KEY=VALUE settings, in HOST [KEY=VALUE...] "
                           "(several DS servers: hosts=HOST,HOST)"),
        (["ds01", "web", "true"], "cli: hosts: 'ds01' and 'web': one host, then KEY=VALUE settings, in HOST "
                                  "[KEY=VALUE...] (several DS servers: hosts=HOST,HOST)"),
        (["hosts.a=ds02"], "cli: hosts: 'hosts' is not a table: give hosts=HOST,HOST"),
        (["hosts=ds01,"], "cli: hosts[1]: empty host name ''"),
        (["ds01:1433"], "cli: hosts[0]: 'ds01:1433' looks like HOST:PORT: give the host alone, and remapped ports "
                        "in [sites.ports]"),
        (["name=hq"], "cli: no host given: HOST [KEY=VALUE...] (several DS servers: hosts=HOST,HOST)"),
        (["ds01", "audio_clients=64", "ports.audio=65500"], "cli: audio_clients: 64 audio clients from port 65500 "
                                                            "run past port 65535"),
        (["ds01", "customer=a\x07b"], "cli: customer: expected text of at most 4000 characters without control "
                                      "characters, got 'a\\x07b'"),
    ],
)
def test_a_mistake_in_command_line_words_names_the_key(words: list[str], message: str) -> None:
    from check_digitalsentry.inventory import site_from_words

    with pytest.raises(InventoryError) as caught:
        site_from_words(words, "cli")
    assert str(caught.value) == message


def test_a_setting_inherited_from_defaults_is_blamed_on_defaults() -> None:
    """A mistake that only shows in a site, but that [defaults] made, names the [defaults] line."""
    two = '[[sites]]\nname = "a"\nhosts = ["127.0.0.1"]\nweb = true\n[[sites]]\nname = "b"\nhosts = ["127.0.0.2"]\n'
    assert error('[defaults]\nicinga_host = "shared"\n' + two) == (
        "sites.toml:2: defaults.icinga_host: sites 'a' and 'b' would share the Icinga host 'shared': set "
        "icinga_host in each [[sites]] table, not in [defaults]")
    assert error('[defaults]\nroles = ["video", "web"]\n' + two) == (
        "sites.toml:2: defaults.roles[1]: 'web' is not a port of site 'b' (sites[1]) (its settings expect none: "
        "see web, api, audio_clients, forbid)")
    assert error('[defaults]\nroles = ["video"]\n' + two.replace('hosts = ["127.0.0.2"]\n',
                                                                 'hosts = ["127.0.0.2"]\nroles = ["web"]\n')) == (
        "sites.toml:10: sites[1].roles[0]: 'web' is not a port of this site (its settings expect none: see web, "
        "api, audio_clients, forbid)")


def test_reading_the_inventory_is_bounded_by_the_runs_time(tmp_path: Path) -> None:
    """-t bounds the whole run: an inventory that takes longer to read than -t allows (here 100,000 sites in
    7 MB: seconds of parsing and checking on any machine) is UNKNOWN in time."""
    import time

    from conftest import script
    from support import plugin_env

    big = tmp_path / "sites.toml"
    big.write_text("".join(f'[[sites]]\nname = "s{i}"\nhosts = ["127.{i // 62500 + 1}.{i // 250 % 250}.{i % 250 + 1}"]\n'
                           for i in range(100_000)))
    started = time.monotonic()
    proc = subprocess.run([script("check_digitalsentry"), "--inventory", str(big), "-t", "0.2"],
                          capture_output=True, text=True, timeout=60, env=plugin_env())
    took = time.monotonic() - started
    assert proc.returncode == 3, proc
    assert proc.stdout == (f"DIGITALSENTRY UNKNOWN - --inventory {big}: not read within -t (0.2 s): a smaller "
                           "inventory, or a longer -t\n"), proc.stdout
    assert took < 0.2 + 1.0, took  # the interpreter's start on a busy machine, and the alarm's delivery
