"""How fast the everyday commands start: `tracker show`, `status`, `update`, `evidence`, each as
a whole process on a throwaway copy of the shipped database, against the floor of importing
what every command needs (`python -c "import sqlalchemy, click, yaml"`).

Prints every run's wall time, the median, and the ratio to the floor's median (target <= 1.5),
then each command's import time by `python -X importtime` (the sum of the top-level modules'
cumulative times, median of the runs) against the floor's.

    python bench/cli.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FLOOR = ["-c", "import sqlalchemy, click, yaml"]
TARGET = 1.5


def tracker(*args: str) -> list[str]:
    """The arguments of python that run the `tracker` command, as its console script does."""
    return ["-c", "import sys; sys.argv[0] = 'tracker'; from tracker.__main__ import run; run()",
            *args]


def run(argv: list[str], cwd: Path, importtime: bool = False) -> tuple[float, float]:
    """Wall seconds of one process, and its import seconds (0 unless `importtime`)."""
    flags = ["-X", "importtime"] if importtime else []
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *flags, *argv], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "100"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.strip()}")
    return wall, imports(done.stderr) if importtime else 0.0


def imports(log: str) -> float:
    """Seconds spent importing: the cumulative times of the top-level imports of a log."""
    total = 0
    for line in log.splitlines():
        if line.startswith("import time:") and not line.startswith("import time: self"):
            _, cumulative, name = line[len("import time:"):].split("|")
            if not name.startswith("  "):  # one space, then the name: a top-level import
                total += int(cumulative)
    return total / 1e6


def commands() -> dict[str, list[str]]:
    """The commands timed; update alternates between two values so each run records one."""
    return {
        "show": tracker("show"),
        "status": tracker("status"),
        "update": tracker("update", "uzbekistan-rejoins", "rejoins=2%", "--note", "bench"),
        "update'": tracker("update", "uzbekistan-rejoins", "rejoins=3%", "--note", "bench"),
        "evidence": tracker("evidence"),
    }


def measure(argv: list[str], cwd: Path, runs: int, importtime: bool) -> list[float]:
    return [run(argv, cwd, importtime)[1 if importtime else 0] for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each (default 9)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        shutil.copy(HERE / "scenarios.yaml", cwd / "scenarios.yaml")
        run(tracker("init"), cwd)
        todo = commands()
        for argv in todo.values():  # one warm-up each: the disk cache, .pyc files
            run(argv, cwd)
        run(FLOOR, cwd)
        for label, importtime in (("whole process, wall", False), ("-X importtime", True)):
            print(f"== {label} (seconds; {args.runs} runs each, median in brackets)")
            times: dict[str, list[float]] = {}
            for _ in range(args.runs):  # interleaved: a burst of load hits every command alike
                for name, argv in {"floor": FLOOR, **todo}.items():
                    times.setdefault(name.rstrip("'"), []).extend(
                        measure(argv, cwd, 1, importtime))
            floor = times.pop("floor")
            base = statistics.median(floor)
            print(f"  {'floor':<9} [{base:.3f}]  " + " ".join(f"{t:.3f}" for t in floor))
            for name, ts in times.items():
                mid = statistics.median(ts)
                verdict = "ok" if mid <= TARGET * base else f"over {TARGET}x"
                print(f"  {name:<9} [{mid:.3f}]  {mid / base:.2f}x floor ({verdict})  "
                      + " ".join(f"{t:.3f}" for t in ts))


if __name__ == "__main__":
    main()
