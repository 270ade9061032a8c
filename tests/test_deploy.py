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


def unit_keys() -> dict[str, tuple[str, str]]:
    """Each key of the unit: (its section, its last value)."""
    section = ""
    keys: dict[str, tuple[str, str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys[key.strip()] = (section, value.strip())
    return keys


def seconds(value: str) -> float:
    """A systemd time span as the unit writes it: 15, 15s, 2min, infinity."""
    if value == "infinity":
        return float("inf")
    for suffix, size in (("min", 60), ("ms", 0.001), ("s", 1), ("h", 3600)):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * size
    return float(value)


def test_restart_limit_is_in_the_unit_section() -> None:
    keys = unit_keys()
    for key in ("StartLimitIntervalSec", "StartLimitBurst"):
        assert keys.get(key, ("Unit",))[0] == "Unit", key
    assert keys["Restart"][0] == "Service" and keys["RestartSec"][0] == "Service"


def test_the_unit_keeps_restarting_through_a_long_database_outage() -> None:
    """Each start while the database is unreachable (at boot, say) exits 1. The unit used to
    allow 10 starts in 10 minutes, 10 s apart: it gave up after some 100 s, and the daemon
    stayed down once the database was back. The start limit may never be reached by the
    restarts alone, and those stay some seconds apart."""
    keys = unit_keys()
    assert keys["Restart"][1] in ("on-failure", "always")
    restart_sec = seconds(keys["RestartSec"][1])
    assert restart_sec >= 5
    # systemd's default limit (DefaultStartLimitIntervalSec=10s, Burst=5) where unset
    interval = seconds(keys.get("StartLimitIntervalSec", ("", "10s"))[1])
    burst = int(keys.get("StartLimitBurst", ("", "5"))[1])
    if interval != 0:  # 0 turns the limit off
        # a start every restart_sec: this many fall within one interval
        starts = interval // restart_sec + 1
        assert starts <= burst, f"gives up after {burst} starts {restart_sec:.0f} s apart"
    assert "2" in keys["RestartPreventExitStatus"][1].split()  # bad options stay stopped
