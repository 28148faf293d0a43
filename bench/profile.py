"""Where a generated app's time goes under load: py-spy samples the server while wrk drives it.

    python bench/profile.py --pg-url postgresql://... --sqlite-dir /tmp/bench APP_DIR detail

Needs py-spy (`uv tool install py-spy`). Prints the functions with the most samples, by own
time and by time including callees, for the app's own and its libraries' code; `--flame FILE`
also keeps py-spy's collapsed stacks (for speedscope.app or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import run


def summarise(collapsed: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            frame.split(" (")[0] + " (" + frame.split(" (")[-1].split("/")[-1]
            for frame in stack.split(";")
        ]
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"{samples} samples")
    for title, counter in (("own time", own), ("including callees", total)):
        print(f"\n-- {title}")
        for frame, n in counter.most_common(top):
            print(f"{100 * n / samples:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("app", type=Path)
    parser.add_argument("mode", choices=list(run.ENDPOINTS))
    parser.add_argument("--pg-url", required=True)
    parser.add_argument("--sqlite-dir", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--flame", type=Path)
    parser.add_argument("--baseline", action="store_true", help="profile the baseline instead")
    options = parser.parse_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: `uv tool install py-spy`")

    app_dir = options.app.resolve()
    given = run.answers(app_dir)
    driver = given["database_driver"]
    options.sqlite_dir.mkdir(parents=True, exist_ok=True)
    database = (
        str((options.sqlite_dir / "bench.db").resolve())
        if driver == "aiosqlite"
        else options.pg_url
    )
    run.migrate(app_dir, driver, database)
    package = None if options.baseline else given["package_name"]
    target = run.Target("profiled", driver, app_dir, package, database)
    run.reseed(target)
    server = run.Server(target)
    try:
        server.wait_ready()
        run.wrk(server.port, options.mode, 2, f"warm{time.time_ns()}")
        with tempfile.TemporaryDirectory() as tmp:
            collapsed = options.flame or Path(tmp) / "stacks.txt"
            spy = subprocess.Popen(
                [
                    *("py-spy", "record", "--pid", str(server.process.pid), "--rate", "250"),
                    *("--duration", str(options.seconds), "--format", "raw"),
                    *("--output", str(collapsed), "--nonblocking"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            result = run.wrk(server.port, options.mode, options.seconds, f"run{time.time_ns()}")
            spy.wait()
            print(f"{run.ENDPOINTS[options.mode]}: {result['rps']:.0f} req/s while sampled")
            summarise(collapsed, options.top)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
