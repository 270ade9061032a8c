"""A non-editable install, run from another folder, finds its templates, migrations and the
shipped record."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_non_editable_install_runs_from_another_folder(tmp_path: Path) -> None:
    source = tmp_path / "src"
    # Build from a copy so that nothing is written into the working tree.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "db/*.sqlite3*", "build", "*.egg-info", "__pycache__", "reports"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(source)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(ROOT / "scenarios.yaml", elsewhere / "scenarios.yaml")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("TRACKER_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracker", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=120)

    where = subprocess.run(
        [sys.executable, "-c", "import tracker, importlib.resources as r; print(tracker.__file__);"
         "print(all(r.files('tracker.templates').joinpath(n).is_file() for n in "
         "('report.html.j2', 'report.txt.j2')));"
         "print(r.files('tracker.migrations').joinpath('versions').is_dir());"
         "print(r.files('tracker').joinpath('record.yaml').is_file())"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert where[0].startswith(str(site)), where
    assert where[1:] == ["True", "True", "True"]
    init = run("init")
    assert init.returncode == 0, init.stderr
    assert "shipped record: 20 forecasts and resolutions added to 6 question(s)" in init.stdout
    assert (elsewhere / "db" / "tracker.sqlite3").is_file()
    show = run("show")
    assert show.returncode == 0 and "uzbekistan-rejoins" in show.stdout
    assert "kyrgyz-tajik-border  [resolved]" in show.stdout
    report = run("report", "--out", str(elsewhere / "r.html"))
    assert report.returncode == 0, report.stderr
    assert "<html" in (elsewhere / "r.html").read_text(encoding="utf-8").lower()
