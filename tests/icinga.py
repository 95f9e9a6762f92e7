"""A private Icinga 2 instance for the tests (test support): its own configuration, state, log and run
directories under a temporary directory, validated with ``icinga2 daemon -C`` or run as a foreground daemon
by the invoking user."""

from __future__ import annotations

import getpass
import grp
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import need_program


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
        plugin_dir = os.path.dirname(shutil.which("check_digitalsentry", path=os.path.dirname(sys.executable))
                                     or shutil.which("check_digitalsentry") or "")
        return (f'const PluginDir = "{plugin_dir}"\nconst NodeName = "{node}"\nconst ZoneName = "{zone}"\n'
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

