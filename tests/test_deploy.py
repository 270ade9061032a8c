"""The systemd unit in deploy/ is one systemd itself accepts without a warning."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "tracker.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_verifies_without_warnings(tmp_path: Path) -> None:
    # The ExecStart path exists only on a server; any executable stands in for it here.
    text = UNIT.read_text(encoding="utf-8").replace("/opt/tracker/venv/bin/tracker", "/bin/true")
    unit = tmp_path / "tracker.service"
    unit.write_text(text, encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "Unknown key" not in said and "ignoring" not in said, said


def test_restart_limit_is_in_the_unit_section() -> None:
    section = ""
    where: dict[str, str] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            where[line.split("=", 1)[0]] = section
    assert where["StartLimitIntervalSec"] == "Unit" and where["StartLimitBurst"] == "Unit"
    assert where["Restart"] == "Service"
