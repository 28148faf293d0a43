"""CPU instructions per read request, counted by valgrind: a ratio that does not move with load.

    python bench/instructions.py --pg-url postgresql://postgres@127.0.0.1:5432/bench_bench \
        --sqlite-dir /tmp/bench APP_DIR [APP_DIR ...]

wrk's ratios move by a third between runs on a shared machine. This counts, with
`valgrind --tool=callgrind`, the instructions one request costs in-process (`asgi_requests.py`:
no server, no HTTP), for the baseline, its Starlette-routed twin and each app, on the same
seeded data: the count for 2N requests minus the count for N, divided by N, so start-up and
import cost cancel out. The same build gives the same figure within about 1 %, busy machine or not.
It leaves out uvicorn's share, the same for every server, so the ratios it prints are lower than
the ones wrk would measure on an idle machine. Needs valgrind (Debian: `apt-get install valgrind`).

Besides the app as generated, it counts variants of it: with `TUNE_GARBAGE_COLLECTOR=false`
(what lifespan.py's garbage-collector tuning buys), and, for the reads, those of
`read_variants.py`: the same routes written the idiomatic ORM way (session, entities,
`selectinload`), the shipped read with its statements built on every request, and the shipped
read with its connection from a FastAPI dependency with `yield`, so the table shows what each
part of the shipped read form buys.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import run

ENDPOINTS = {
    "list": "GET /projects?limit=20",
    "detail": "GET /projects/7",
    "post": "POST /projects/7/tasks",
}
REQUESTS = 200  # the count for N; a measurement runs N and 2N


def instructions(target: run.Target, path: str, count: int) -> int:
    completed = subprocess.run(
        [
            *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
            *(target.python, str(run.BENCH_DIR / "asgi_requests.py")),
            *(target.factory, path, str(count)),
        ],
        cwd=target.app_dir,
        env=target.env() | {"PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
    )
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if completed.returncode != 0 or found is None:
        raise SystemExit(f"{target.name} {path}: valgrind failed:\n{completed.stderr[-2000:]}")
    return int(found.group(1))


def per_request(target: run.Target, path: str) -> float:
    with ThreadPoolExecutor(2) as pool:
        once, twice = pool.map(lambda n: instructions(target, path, n), (REQUESTS, 2 * REQUESTS))
    return (twice - once) / REQUESTS


def compile_bytecode(target: run.Target) -> None:
    """Compile the virtual environment's modules ahead: with PYTHONDONTWRITEBYTECODE set, every
    run under valgrind would compile them again, which triples its time (not its count).
    """
    subprocess.run(
        [target.python, "-m", "compileall", "-q", "-j0", ".venv", "src", str(run.BENCH_DIR)],
        cwd=target.app_dir,
        stdout=subprocess.DEVNULL,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("apps", nargs="+", type=Path, help="generated apps with a synced .venv")
    parser.add_argument("--pg-url", required=True, help="a database for the PostgreSQL apps")
    parser.add_argument("--sqlite-dir", type=Path, required=True)
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: `apt-get install -y valgrind` (Debian/Ubuntu)")

    options.sqlite_dir.mkdir(parents=True, exist_ok=True)
    rows = [["server", "endpoint", "k instructions/req", "ratio to baseline", "ratio to Starlette"]]
    for app_dir in (path.resolve() for path in options.apps):
        given = run.answers(app_dir)
        driver = given["database_driver"]
        database = (
            str((options.sqlite_dir / "bench.db").resolve())
            if driver == "aiosqlite"
            else options.pg_url
        )
        run.migrate(app_dir, driver, database)
        variant = run.combination(given)
        package = given["package_name"]
        targets = [
            *run.baselines(driver, app_dir, database),
            run.Target(variant, driver, app_dir, package, database),
            run.Target(
                f"{variant} gc untuned",
                driver,
                app_dir,
                package,
                database,
                settings={"TUNE_GARBAGE_COLLECTOR": "false"},
            ),
        ]
        read_variants = [
            run.Target(
                f"{variant} {name.replace('_', ' ')}",
                driver,
                app_dir,
                package,
                database,
                app_factory=f"read_variants:{name}",
            )
            for name in ("orm_entities", "statements_per_request", "yield_dependency")
        ]
        run.reseed(targets[0])
        compile_bytecode(targets[0])
        for endpoint, path in ENDPOINTS.items():
            measured = targets if endpoint == "post" else [*targets, *read_variants]
            counts = [per_request(target, path) for target in measured]
            for target, count in zip(measured, counts, strict=True):
                rows.append(
                    [
                        target.name,
                        path,
                        f"{count / 1000:.0f}",
                        f"{counts[0] / count:.2f}",
                        f"{counts[1] / count:.2f}",
                    ]
                )
            print(f"{variant}: {endpoint} counted", flush=True)
    print()
    print(run.table(rows))


if __name__ == "__main__":
    sys.exit(main())
