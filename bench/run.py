"""Serve each generated app and its raw-driver baseline in turn, load them with wrk, print a table.

    python bench/run.py --pg-url postgresql://postgres@127.0.0.1:5432/bench_bench \
        --sqlite-dir /tmp/bench APP_DIR [APP_DIR ...]

Each APP_DIR is a generated app with its .venv synced (`nox -s bench` renders and installs them).
Per driver, the servers are the baseline (the raw driver behind FastAPI routes,
`baseline:create_app`, in the first app's virtual environment), the same handlers routed by
Starlette alone (`baseline:create_starlette_app`), and each app. All of a driver's servers run at
once (uvicorn, one worker each, loopback, no access log), each idle while another is loaded.
Each answers the benchmarked requests on freshly seeded rows first, and its bodies must be the
baseline's byte for byte (any difference fails the run: that is a correctness check). Then, per
endpoint, in rounds: every round runs wrk once on each server, starting one server further down
the list than the round before, so the runs a ratio compares are seconds apart and a machine that
gets busier or quieter weighs on both. The server's CPU time per run and its peak RSS come from
/proc. The table gives each figure's median over the rounds, and for each ratio the median of the
ratios taken within a round, with their range. The statements per request are counted in-process
at the end. Figures are printed, never judged: the machine may be busy. Stdlib only (plus
psycopg for seeding PostgreSQL).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import seed

BENCH_DIR = Path(__file__).resolve().parent
LOAD_SCRIPT = BENCH_DIR / "load.lua"
POOL_SIZE = 10
CONNECTIONS = 32
DRIVER_ORDER = ("asyncpg", "psycopg", "aiosqlite")
ENDPOINTS = {
    "list": "GET /projects?limit=20",
    "detail": "GET /projects/{id}",
    "post": "POST /projects/{id}/tasks",
}
# What must be byte-identical between an app and its baseline (status, body).
CHECKS = [
    ("GET", "/projects?limit=20", None),
    ("GET", "/projects?limit=100&offset=950", None),
    ("GET", "/projects/1", None),
    ("GET", "/projects/999999", None),
    ("POST", "/projects/1000/tasks", b'{"title":"bench check"}'),
    ("POST", "/projects/1000/tasks", b'{"title":"bench check"}'),
]


@dataclass
class Target:
    name: str
    driver: str
    app_dir: Path  # the generated app (and the virtual environment) the server runs from
    package: str | None  # None for the baselines
    database: str
    baseline_factory: str = "baseline:create_app"  # which baseline, when package is None
    # Another factory for the app's package, in bench/ (`read_variants:orm_entities`); settings.
    app_factory: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    rounds: list[dict[str, dict[str, float]]] = field(default_factory=list)  # per round, by mode
    peak_rss_kib: int = 0
    statements: dict[str, int] = field(default_factory=dict)

    @property
    def factory(self) -> str:
        """The application factory the server loads: `module:function`."""
        if self.package is None:
            return self.baseline_factory
        return self.app_factory or f"{self.package}.main:create_app"

    def median(self, mode: str, figure: str) -> float:
        return statistics.median(measured[mode][figure] for measured in self.rounds)

    def ratio(self, other: Target, mode: str, figure: str = "rps") -> tuple[float, float, float]:
        """self / other for `figure`, taken within each round: (median, lowest, highest)."""
        ratios = [
            mine[mode][figure] / theirs[mode][figure]
            for mine, theirs in zip(self.rounds, other.rounds, strict=True)
        ]
        return statistics.median(ratios), min(ratios), max(ratios)

    @property
    def python(self) -> str:
        return str(self.app_dir / ".venv" / "bin" / "python")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
        url = self.database
        if self.package is None:
            env |= {
                "BENCH_DRIVER": self.driver,
                "BENCH_DATABASE_URL": url,
                "BENCH_POOL_SIZE": str(POOL_SIZE),
                "PYTHONPATH": str(BENCH_DIR),
            }
        else:
            if self.driver == "aiosqlite":
                url = f"sqlite+aiosqlite:///{url}"
            env |= {
                "DATABASE_URL": url,
                "DATABASE_POOL_SIZE": str(POOL_SIZE),
                "DATABASE_MAX_OVERFLOW": "0",
                **self.settings,
            }
            if self.app_factory is not None:
                env |= {"BENCH_PACKAGE": self.package, "PYTHONPATH": str(BENCH_DIR)}
        return env


def answers(app_dir: Path) -> dict[str, str]:
    result = {}
    for line in (app_dir / ".copier-answers.yml").read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep and not key.startswith(("#", " ")):
            result[key] = value.strip().strip("'\"")
    return result


def baselines(driver: str, app_dir: Path, database: str) -> tuple[Target, Target]:
    """The baseline (FastAPI routes) and the same handlers routed by Starlette alone, in
    `app_dir`'s venv.
    """
    return (
        Target(f"{driver} baseline", driver, app_dir, None, database),
        Target(
            f"{driver} Starlette baseline",
            driver,
            app_dir,
            None,
            database,
            baseline_factory="baseline:create_starlette_app",
        ),
    )


def combination(given: dict[str, str]) -> str:
    """An app's answers as the matrix names them: `driver-lazy_loading-data_access`."""
    return "-".join(given[key] for key in ("database_driver", "lazy_loading", "data_access"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(port: int, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.port = free_port()
        self.log = target.app_dir / f"bench-{target.name.replace(' ', '_')}.log"
        self.process = subprocess.Popen(
            [
                *(target.python, "-m", "uvicorn", "--factory", target.factory),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--no-access-log", "--log-level", "warning"),
            ],
            cwd=target.app_dir,
            env=target.env(),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.target.name} exited:\n{self.log.read_text()}")
            try:
                if request(self.port, "GET", "/projects/1", None)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.target.name} did not answer within {timeout}s")

    def peak_rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) if match else 0

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wrk(port: int, mode: str, seconds: float, tag: str) -> dict[str, float]:
    output = subprocess.run(
        [
            *("wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"),
            *("-s", str(LOAD_SCRIPT), f"http://127.0.0.1:{port}", "--", mode, tag),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_RESULT "))
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["socket_errors"] + raw["bad_status"],
    }


def reseed(target: Target) -> None:
    if target.driver == "aiosqlite":
        seed.seed_sqlite(target.database)
    else:
        seed.seed_postgres(target.database)


def migrate(app_dir: Path, driver: str, database: str) -> None:
    url = f"sqlite+aiosqlite:///{database}" if driver == "aiosqlite" else database
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"DATABASE_URL": url}
    alembic = app_dir / ".venv" / "bin" / "alembic"
    subprocess.run([str(alembic), "downgrade", "base"], cwd=app_dir, env=env, check=True)
    subprocess.run([str(alembic), "upgrade", "head"], cwd=app_dir, env=env, check=True)


def count_statements(target: Target) -> dict[str, int]:
    reseed(target)
    kind = "baseline" if target.package is None else "app"
    output = subprocess.run(
        [target.python, str(BENCH_DIR / "count_statements.py"), kind],
        cwd=target.app_dir,
        env=target.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, int] = json.loads(output.strip().splitlines()[-1])
    return counts


Answers = list[tuple[int, bytes]]


def check_answers(server: Server, reference: Answers | None) -> Answers:
    """The answers of `server` to CHECKS, which must be `reference`'s byte for byte, if given."""
    answers_now = [request(server.port, *check) for check in CHECKS]
    if reference is None:
        return answers_now
    differ = [
        (check, ref, got)
        for check, ref, got in zip(CHECKS, reference, answers_now, strict=True)
        if ref != got
    ]
    for (method, path, _), ref, got in differ:
        print(f"MISMATCH {method} {path}\n  baseline: {ref!r:.600}\n  app:      {got!r:.600}")
    if differ:
        raise SystemExit(f"{server.target.name}: bodies differ from the baseline; not measuring")
    print(f"{server.target.name}: bodies identical to the baseline ({len(CHECKS)} requests)")
    return answers_now


def measure_group(targets: list[Target], seconds: float, warmup: float, rounds: int) -> None:
    """Serve all of one driver's `targets` at once, and load them in turn, endpoint by endpoint.

    For each endpoint, every round runs wrk once on each server, starting one server further down
    the list than the round before: the runs a ratio compares are seconds apart, so a machine
    that gets busier or quieter weighs on both alike. A server that is not being loaded is idle.
    """
    servers: list[Server] = []
    reseed(targets[0])
    try:
        for target in targets:
            servers.append(Server(target))
            target.rounds = [{} for _ in range(rounds)]
        for server in servers:
            server.wait_ready()
        reference = None
        for server in servers:
            # The checks write a task, whose id must be the same everywhere: fresh rows for each.
            reseed(server.target)
            answers_now = check_answers(server, reference)
            reference = reference or answers_now  # the baseline's: it comes first
        reseed(targets[0])
        for server in servers:
            for mode in ENDPOINTS:
                wrk(server.port, mode, warmup, f"warm{time.time_ns()}")
        for mode, label in ENDPOINTS.items():
            print(f"\n== {targets[0].driver}: {label}", flush=True)
            for turn in range(rounds):
                for server in servers[turn % len(servers) :] + servers[: turn % len(servers)]:
                    cpu_before = server.cpu_seconds()
                    result = wrk(server.port, mode, seconds, f"run{time.time_ns()}")
                    cpu = server.cpu_seconds() - cpu_before
                    result["cpu_ms"] = 1000 * cpu / max(result["rps"] * seconds, 1)
                    server.target.rounds[turn][mode] = result
                    print(
                        f"round {turn + 1}  {server.target.name:28} {result['rps']:7.0f} req/s"
                        f"  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms"
                        f"  CPU {result['cpu_ms']:5.2f} ms/req  errors {result['errors']:.0f}",
                        flush=True,
                    )
        for server in servers:
            server.target.peak_rss_kib = server.peak_rss_kib()
    finally:
        for server in servers:
            server.stop()


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        " | ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([lines[0], rule, *lines[1:]])


def report(groups: list[tuple[Target, Target, list[Target]]], seconds: float, rounds: int) -> None:
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"\nwrk -t1 -c{CONNECTIONS} -d{seconds:g}s per endpoint, {rounds} rounds;"
        f" uvicorn, 1 worker; pool {POOL_SIZE} connections each;"
        f" load average now: {' '.join(load)}"
    )
    print(
        "Figures are medians over the rounds; a ratio is the median of the ratios within a round,"
        " [lowest-highest].\n"
    )
    statement_key = {"list": "list limit=20", "detail": "detail", "post": "post task"}
    rows = [
        [
            "app",
            "endpoint",
            "baseline req/s",
            "app req/s",
            "ratio [range]",
            "CPU ms/req base/app",
            "CPU ratio",
            "baseline p50/p99 ms",
            "app p50/p99 ms",
            "SQL/req base/app",
            "peak RSS MiB base/app",
            "Starlette req/s",
            "ratio to it",
        ]
    ]

    def ratio(app: Target, baseline: Target, mode: str) -> str:
        middle, lowest, highest = app.ratio(baseline, mode)
        return f"{middle:.2f} [{lowest:.2f}-{highest:.2f}]"

    def median(target: Target, mode: str, name: str, decimals: int) -> str:
        return f"{target.median(mode, name):.{decimals}f}"

    def medians(target: Target, mode: str, names: tuple[str, str], decimals: int) -> str:
        return "/".join(median(target, mode, name, decimals) for name in names)

    for baseline, starlette_baseline, apps in groups:
        for app in apps:
            for mode, label in ENDPOINTS.items():
                errors = sum(
                    measured[mode]["errors"] for measured in (*baseline.rounds, *app.rounds)
                )
                rows.append(
                    [
                        app.name,
                        label + (f" ({errors:.0f} errors!)" if errors else ""),
                        median(baseline, mode, "rps", 0),
                        median(app, mode, "rps", 0),
                        ratio(app, baseline, mode),
                        f"{median(baseline, mode, 'cpu_ms', 2)}/{median(app, mode, 'cpu_ms', 2)}",
                        f"{baseline.ratio(app, mode, 'cpu_ms')[0]:.2f}",
                        medians(baseline, mode, ("p50_ms", "p99_ms"), 1),
                        medians(app, mode, ("p50_ms", "p99_ms"), 1),
                        f"{baseline.statements[statement_key[mode]]}/{app.statements[statement_key[mode]]}",
                        f"{baseline.peak_rss_kib / 1024:.0f}/{app.peak_rss_kib / 1024:.0f}",
                        median(starlette_baseline, mode, "rps", 0),
                        ratio(app, starlette_baseline, mode),
                    ]
                )
    print(table(rows))
    print("\nSQL statements per request (BEGIN/COMMIT not counted), by page size of the list:\n")
    labels = ["list limit=1", "list limit=20", "list limit=100", "detail", "post task"]
    rows = [["server", *labels]]
    for baseline, _, apps in groups:
        for target in (baseline, *apps):
            rows.append([target.name, *(str(target.statements[label]) for label in labels)])
    print(table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("apps", nargs="+", type=Path, help="generated apps with a synced .venv")
    parser.add_argument("--pg-url", required=True, help="a database for the PostgreSQL apps")
    parser.add_argument("--sqlite-dir", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3, help="wrk duration per run")
    parser.add_argument("--warmup", type=float, default=1, help="wrk warm-up per endpoint")
    parser.add_argument("--rounds", type=int, default=5, help="wrk runs per server and endpoint")
    options = parser.parse_args()

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu)")

    by_driver: dict[str, list[Path]] = {}
    for app_dir in options.apps:
        by_driver.setdefault(answers(app_dir)["database_driver"], []).append(app_dir.resolve())
    options.sqlite_dir.mkdir(parents=True, exist_ok=True)
    sqlite_path = str((options.sqlite_dir / "bench.db").resolve())

    groups = []
    for driver in sorted(by_driver, key=DRIVER_ORDER.index):
        app_dirs = by_driver[driver]
        database = sqlite_path if driver == "aiosqlite" else options.pg_url
        migrate(app_dirs[0], driver, database)
        baseline, starlette_baseline = baselines(driver, app_dirs[0], database)
        apps = []
        for app_dir in app_dirs:
            given = answers(app_dir)
            variant = combination(given)
            if any(app.name == variant for app in apps):
                variant = f"{variant} ({app_dir.name})"  # several builds of one combination
            apps.append(Target(variant, driver, app_dir, given["package_name"], database))
        groups.append((baseline, starlette_baseline, apps))

    for baseline, starlette_baseline, apps in groups:
        measure_group(
            [baseline, starlette_baseline, *apps], options.seconds, options.warmup, options.rounds
        )
        # The Starlette baseline runs the same database code as the baseline.
        for target in (baseline, *apps):
            target.statements = count_statements(target)
    report(groups, options.seconds, options.rounds)


if __name__ == "__main__":
    sys.exit(main())
