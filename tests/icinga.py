"""A private Icinga 2 instance for the tests (test support): its own configuration, state, log and run
directories under a temporary directory, validated with ``icinga2 daemon -C`` or run as a foreground daemon
by the invoking user. ``IcingaNode`` is a node of a distributed setup, made the standard way: the package's
default configuration, then ``icinga2 node setup``."""

from __future__ import annotations

import getpass
import grp
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import IN_CI, need_program

#: The default configuration of the Debian package icinga2-common: what a node is set up from.
PACKAGE_CONFIG = Path("/etc/icinga2")


def plugin_dir() -> str:
    """Where the check_digitalsentry under test is: the PluginDir of a private Icinga."""
    return os.path.dirname(shutil.which("check_digitalsentry", path=os.path.dirname(sys.executable))
                           or shutil.which("check_digitalsentry") or "")


class Icinga:
    """A private Icinga 2 instance: its own config, state, log and run directories under tmp_path."""

    def __init__(self, root: Path) -> None:
        self.binary = need_program("icinga2", "contrib/icinga2 is validated with the real Icinga 2")
        self.root = root
        self.etc = root / "etc"
        self.var = root / "var"
        for sub in ("data", "log", "cache", "spool/tmp", "spool/perfdata", "run"):
            (self.var / sub).mkdir(parents=True, exist_ok=True)
        self.etc.mkdir(exist_ok=True)
        self.conf = self.etc / "icinga2.conf"
        self.pipe = self.var / "run" / "icinga2.cmd"

    def defines(self) -> list[str]:
        user = getpass.getuser()
        group = grp.getgrgid(os.getgid()).gr_name
        return ["-c", str(self.conf), f"-DZonesDir={self.etc / 'zones.d'}",
                *(f"-D{name}={self.var / sub}" for name, sub in (
                    ("DataDir", "data"), ("LogDir", "log"), ("CacheDir", "cache"), ("SpoolDir", "spool"),
                    ("InitRunDir", "run"))),
                f"-DRunAsUser={user}", f"-DRunAsGroup={group}"]

    def header(self, node: str = "e2e.invalid", zone: str = "e2e") -> str:
        return (f'const PluginDir = "{plugin_dir()}"\nconst NodeName = "{node}"\nconst ZoneName = "{zone}"\n'
                "include <itl>\ninclude <plugins>\n"
                'template Host "generic-host" { check_command = "dummy" }\n'
                'template Service "generic-service" { }\n')

    def validate(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "daemon", "-C", *self.defines()], capture_output=True, text=True,
                              timeout=60)

    def perfdata_writer(self) -> str:
        """A PerfdataWriter rotating every second, one record per service check result (see ``records``)."""
        return ('object PerfdataWriter "perfdata" {\n'
                f'  service_temp_path = "{self.var}/spool/tmp/service-perfdata"\n'
                f'  host_temp_path = "{self.var}/spool/tmp/host-perfdata"\n'
                f'  service_perfdata_path = "{self.var}/spool/perfdata/service-perfdata"\n'
                f'  host_perfdata_path = "{self.var}/spool/perfdata/host-perfdata"\n'
                '  service_format_template = "HOSTNAME::$host.name$\\tSERVICEDESC::$service.name$\\t'
                'SERVICESTATE::$service.state$\\tSERVICEPERFDATA::$service.perfdata$\\tSERVICEOUTPUT::$service.output$"\n'
                '  rotation_interval = 1s\n}\n')

    def records(self) -> list[dict[str, str]]:
        """The records of the rotated perfdata files. SERVICEOUTPUT comes last in the template because
        Icinga's output holds the plugin's long output too (newlines): a record starts at HOSTNAME::."""
        import re

        records = []
        for path in sorted((self.var / "spool" / "perfdata").glob("service-perfdata.*")):
            for record in re.split(r"\n(?=HOSTNAME::)", path.read_text().strip()):
                if record:
                    records.append(dict(part.split("::", 1) for part in record.split("\t") if "::" in part))
        return records



class IcingaNode(Icinga):
    """A node of a distributed Icinga, as a user sets one up: the package's default configuration
    (``PACKAGE_CONFIG``, copied to ``etc``), then ``icinga2 node setup`` and the documented steps, all run
    against this node's own directories (``-DConfigDir`` and the others). ``name`` is its certificate's CN
    and Endpoint name; ``include_dir``, if given, is the ITL's directory (``-DIncludeConfDir``)."""

    def __init__(self, root: Path, name: str, include_dir: Path | None = None) -> None:
        super().__init__(root)
        if not os.access(PACKAGE_CONFIG / "icinga2.conf", os.R_OK):
            import pytest

            message = f"{PACKAGE_CONFIG}/icinga2.conf is not readable (package icinga2-common; root reads it)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        shutil.copytree(PACKAGE_CONFIG, self.etc, symlinks=True, dirs_exist_ok=True)
        self.name = name
        self.include_dir = include_dir
        self.data = self.var / "data"  #: DataDir: certs/, ca/ (the master's), api/ (zones synced, replay log)
        self.port = 0  #: its API's port
        self.starts = 0

    def defines(self) -> list[str]:
        include = [f"-DIncludeConfDir={self.include_dir}"] if self.include_dir else []
        return [*super().defines(), f"-DConfigDir={self.etc}", *include]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``icinga2 ARGS`` (a CLI command: node setup, pki...) on this node's directories."""
        defines = [arg for arg in self.defines() if arg.startswith("-D")]  # -c is no CLI command's option
        return subprocess.run([self.binary, *args, *defines], capture_output=True, text=True, timeout=120)

    def daemon(self) -> tuple[list[str], Path]:
        """The argv of the foreground daemon, and a log file of its own for each start."""
        self.starts += 1
        return [self.binary, "daemon", *self.defines()], self.root / f"daemon-{self.starts}.log"

    def set_constant(self, name: str, value: str) -> None:
        """Set a constant of constants.conf (a string), as an administrator edits it."""
        import re

        path = self.etc / "constants.conf"
        text, count = re.subn(rf'(?m)^(//)?const {name} = .*$', f'const {name} = "{value}"', path.read_text())
        assert count == 1, f"{name} is not in {path}"
        path.write_text(text)
