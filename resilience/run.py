"""Fault injection against generated apps running under uvicorn; prints a table, fails on a breach.

    python resilience/run.py apps.json

apps.json lists the apps `nox -s resilience` rendered, installed and migrated: name, driver,
folder, DATABASE_URL. Each app is started with uvicorn on 127.0.0.1 (one worker); for PostgreSQL
a FaultProxy (proxy.py) sits between the app and the server. The faults of the server itself
(restart, crash, every connection slot taken) run on a private server (pgserver.py), started for
them and removed at the end. Every load is bounded in requests and seconds. See
docs/resilience.md for the scenarios and the table's columns.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from cli import (
    argument_parser,
    free_port,
    package_of,
    print_table,
    report_breaches,
    stop_cleanly_on_sigterm,
)
from pgserver import PrivateServer, ServerBinariesMissing
from proxy import FaultProxy

HERE = Path(__file__).resolve().parent
POSTGRES = {"asyncpg", "psycopg"}

# Short timeouts, so that a whole run fits in a few minutes; the app reads them from its
# environment like any other deployment would.
POOL_SIZE, MAX_OVERFLOW = 2, 1
APP_ENV = {
    "DATABASE_POOL_SIZE": str(POOL_SIZE),
    "DATABASE_MAX_OVERFLOW": str(MAX_OVERFLOW),
    "DATABASE_POOL_TIMEOUT": "0.5",
    "DATABASE_CONNECT_TIMEOUT": "1",
    "DATABASE_COMMAND_TIMEOUT": "2",
    "DATABASE_STATEMENT_TIMEOUT_MS": "10000",
    "DATABASE_BUSY_TIMEOUT_MS": "3000",
    "READY_TIMEOUT": "1",
    "REQUEST_TIMEOUT": "3",
}
REQUEST_TIMEOUT = float(APP_ENV["REQUEST_TIMEOUT"])
# A request slower than this counts as a hang: a breach whatever its status.
CLIENT_TIMEOUT = 15.0
# How long the slow scenarios hold a lock on the database, below every timeout but the pool's.
LOCK_SECONDS = 1.2
SETTLE_SECONDS = 15.0  # for connections and tasks to come back after a fault
SHUTDOWN_BOUND = 10.0


@dataclass
class App:
    name: str
    driver: str
    path: Path
    database_url: str

    @property
    def postgres(self) -> bool:
        return self.driver in POSTGRES

    @property
    def package(self) -> str:
        return package_of(self.path)

    @property
    def conninfo(self) -> str:
        return urlsplit(self.database_url)._replace(scheme="postgresql").geturl()

    @property
    def sqlite_file(self) -> str:
        return self.database_url.split(":///", 1)[1]


@dataclass
class Row:
    app: str
    scenario: str
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    max_latency: float = 0.0
    recovery: str = "-"
    leaked: int | str = "n/a"
    lost: int | str = "n/a"
    dropped: int | str = "-"
    breaches: list[str] = field(default_factory=list)
    # What reached the app's exception handlers (probe_app.py): error chain, outcome, count.
    errors: list[dict[str, Any]] = field(default_factory=list)

    def record(self, status: str, latency: float) -> None:
        self.sent += 1
        self.statuses[status] += 1
        self.max_latency = max(self.max_latency, latency)

    def require(self, condition: bool, breach: str) -> None:
        if not condition:
            self.breaches.append(breach)


@dataclass
class Outcome:
    status: str
    latency: float
    started: float


class Server:
    """One uvicorn process serving the app, with the suite's probe route (probe_app.py)."""

    def __init__(self, app: App, database_url: str, log: str = "uvicorn.log") -> None:
        self.app = app
        self.database_url = database_url
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.log = self.app.path / log
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}", timeout=CLIENT_TIMEOUT
        )

    async def start(self) -> None:
        env = {
            **os.environ,
            **APP_ENV,
            "DATABASE_URL": self.database_url,
            "RESILIENCE_PACKAGE": self.app.package,
            "PYTHONPATH": str(HERE),
        }
        env.pop("VIRTUAL_ENV", None)
        uvicorn = self.app.path / ".venv" / "bin" / "uvicorn"
        command = [str(uvicorn), "--factory", "probe_app:create_app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", "1", "--log-level", "warning"]
        command += ["--timeout-graceful-shutdown", "5"]
        with self.log.open("w") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, env=env, cwd=self.app.path, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(httpx.HTTPError):
                if (await self.client.get("/health/live")).status_code == 200:
                    return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.app.name} did not start; see {self.log}")

    async def stop(self) -> None:
        await self.client.aclose()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def request(self, method: str, path: str, **kwargs: Any) -> Outcome:
        started = time.monotonic()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            return Outcome("hang", time.monotonic() - started, started)
        except httpx.HTTPError as error:
            return Outcome(type(error).__name__, time.monotonic() - started, started)
        if response.status_code >= 500 and response.status_code != 503:
            print(f"    {method} {path}: {response.status_code} {response.text[:200]}", flush=True)
        return Outcome(str(response.status_code), time.monotonic() - started, started)

    async def probe(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=str(self.client.base_url), timeout=5) as fresh:
            probe: dict[str, Any] = (await fresh.get("/_probe")).json()
            return probe

    async def errors(self) -> list[dict[str, Any]]:
        """The exceptions the app's handlers saw since the last call (probe_app.py)."""
        async with httpx.AsyncClient(base_url=str(self.client.base_url), timeout=5) as fresh:
            errors: list[dict[str, Any]] = (
                await fresh.get("/_probe/errors", params={"reset": True})
            ).json()
            return errors


# Direct checks on the database, beside the app ----------------------------------------------


class Database:
    def __init__(self, app: App) -> None:
        self.app = app

    async def scalar(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        if not self.app.postgres:
            with sqlite3.connect(self.app.sqlite_file) as connection:
                return connection.execute(query.replace("%s", "?"), params).fetchone()[0]
        async with await psycopg.AsyncConnection.connect(self.app.conninfo) as connection:
            cursor = await connection.execute(query, params)
            row = await cursor.fetchone()
            return row[0] if row else None

    async def count_named(self, names: list[str]) -> int:
        if not names:
            return 0
        if self.app.postgres:
            return int(
                await self.scalar("SELECT count(*) FROM projects WHERE name = ANY(%s)", (names,))
            )
        marks = ",".join("?" * len(names))
        with sqlite3.connect(self.app.sqlite_file) as connection:
            query = f"SELECT count(*) FROM projects WHERE name IN ({marks})"  # noqa: S608
            return int(connection.execute(query, names).fetchone()[0])

    async def missing(self, written: dict[int, str]) -> list[int]:
        """The ids answered 201 that are not in the database under their name, one by one."""
        rows = await self.rows("SELECT id, name FROM projects WHERE id = ANY(%s)", (list(written),))
        found = dict(rows)
        return [key for key, name in written.items() if found.get(key) != name]

    async def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.app.conninfo) as connection:
            cursor = await connection.execute(query, params)
            return await cursor.fetchall()

    async def app_sessions(self, package: str) -> Counter[str]:
        """The app's sessions on the server by state (pg_stat_activity), this database only."""
        if not self.app.postgres:
            return Counter()
        async with await psycopg.AsyncConnection.connect(self.app.conninfo) as connection:
            cursor = await connection.execute(
                "SELECT state, count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s"
                " AND pid <> pg_backend_pid() GROUP BY state",
                (package,),
            )
            return Counter(dict(await cursor.fetchall()))

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the write lock the app's requests need, until the block ends.

        PostgreSQL: the projects table, for reads and writes. SQLite: the database's write lock
        (WAL lets readers through, so only writes wait).
        """
        if self.app.postgres:
            async with await psycopg.AsyncConnection.connect(self.app.conninfo) as connection:
                await connection.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
                try:
                    yield
                finally:
                    await connection.rollback()
        else:
            connection = sqlite3.connect(self.app.sqlite_file, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield
            finally:
                connection.execute("ROLLBACK")
                connection.close()


# Helpers shared by the scenarios ----------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def settle(server: Server, database: Database, baseline_tasks: int) -> tuple[int, float]:
    """Wait for the pool to get every connection back and for the request tasks to end.

    Returns what is still out (checked-out connections, tasks above the idle baseline, the app's
    server sessions left 'idle in transaction' or 'active') and how long it took.
    """
    started = time.monotonic()
    while True:
        probe = await server.probe()
        sessions = await database.app_sessions(server.app.package)
        stuck = sessions["idle in transaction"] + sessions["active"]
        extra_tasks = max(0, probe["tasks"] - baseline_tasks)
        leaked = (probe["checked_out"] or 0) + extra_tasks + stuck
        elapsed = time.monotonic() - started
        if leaked == 0 or elapsed > SETTLE_SECONDS:
            return leaked, elapsed
        await asyncio.sleep(0.2)


async def recover(server: Server, row: Row, since: float, label: str = "") -> None:
    """Sequential requests after a fault: the first or the second must succeed."""
    for attempt in (1, 2, 3):
        outcome = await server.request("GET", "/projects")
        row.record(outcome.status, outcome.latency)
        if outcome.status == "200":
            recovery = f"{label}{time.monotonic() - since:.2f}s (request {attempt})"
            row.recovery = recovery if row.recovery == "-" else f"{row.recovery}; {recovery}"
            row.require(attempt <= 2, f"recovered only at request {attempt}")
            return
    row.recovery = "none"
    row.require(False, "no request succeeded after the fault")


def create_body(name: str) -> dict[str, Any]:
    return {"name": name, "tasks": [{"title": "first"}, {"title": "second"}]}


async def load(
    server: Server,
    row: Row,
    *,
    workers: int,
    seconds: float,
    limit: int,
    written: list[str],
) -> list[Outcome]:
    """POST new projects from `workers` clients for `seconds`, `limit` requests at most."""
    outcomes: list[Outcome] = []
    stop = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < stop and len(outcomes) < limit:
            name = unique(row.app)
            outcome = await server.request("POST", "/projects", json=create_body(name))
            outcomes.append(outcome)
            row.record(outcome.status, outcome.latency)
            if outcome.status == "201":
                written.append(name)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return outcomes


# Scenarios -------------------------------------------------------------------------------------


async def link_cut(
    server: Server, proxy: FaultProxy, database: Database, row: Row, baseline: int
) -> None:
    """1. The link to PostgreSQL is cut during a write load, then restored."""
    written: list[str] = []
    cut_at = math.inf

    async def cut() -> None:
        # After some writes rather than at a set time: on a fast machine the whole load (its
        # `limit`) could be over before a set time came.
        nonlocal cut_at
        give_up = time.monotonic() + 0.8
        while len(written) < 20 and time.monotonic() < give_up:
            await asyncio.sleep(0.005)
        cut_at = time.monotonic()
        proxy.cut()

    cutter = asyncio.create_task(cut())
    outcomes = await load(server, row, workers=4, seconds=1.6, limit=150, written=written)
    await cutter
    during = [outcome for outcome in outcomes if outcome.started > cut_at + 0.05]
    row.require(any(o.status == "503" for o in during), "the cut produced no 503")
    row.require(
        all(o.status in {"201", "503"} for o in outcomes), "an answer other than 201 or 503"
    )
    proxy.restore()
    await recover(server, row, time.monotonic(), "under load: ")
    after = await load(server, row, workers=4, seconds=0.5, limit=40, written=written)
    row.require(all(o.status == "201" for o in after), "writes failed after recovery")
    # A restart while the app is idle: the pooled connections are dead and no request saw it.
    proxy.cut()
    proxy.restore()
    await recover(server, row, time.monotonic(), "idle: ")
    row.lost = len(written) - await database.count_named(written)
    row.require(row.lost == 0, f"{row.lost} writes answered 201 are missing")
    row.leaked, _ = await settle(server, database, baseline)
    row.require(row.leaked == 0, f"{row.leaked} connections/tasks still out")


async def blackhole(
    server: Server, proxy: FaultProxy, database: Database, row: Row, baseline: int
) -> None:
    """2. PostgreSQL stops answering (packets accepted, never answered), then comes back."""
    for _ in range(3):
        await server.request("GET", "/projects")  # connections in the pool, ready to stall
    proxy.blackhole()
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/projects", None),
        ("GET", "/projects/1", None),
        ("POST", "/projects", create_body(unique(row.app))),
        ("GET", "/health/ready", None),
        ("GET", "/projects", None),
    ]
    outcomes = await asyncio.gather(
        *(server.request(method, path, json=body) for method, path, body in requests)
    )
    for outcome, (_, path, _) in zip(outcomes, requests, strict=True):
        row.record(outcome.status, outcome.latency)
        row.require(outcome.status == "503", f"{path} answered {outcome.status} while stalled")
        row.require(outcome.latency <= REQUEST_TIMEOUT + 1, f"{path} took {outcome.latency:.1f}s")
    live = await server.request("GET", "/health/live")
    row.record(live.status, live.latency)
    row.require(live.status == "200", "liveness failed while the database was stalled")
    # Still stalled: every cancelled request must have let go of its connection and its task.
    leaked, seconds = await settle(server, database, baseline)
    row.leaked = leaked
    row.require(leaked == 0, f"{leaked} connections/tasks still out {seconds:.1f}s later")
    proxy.restore()
    await recover(server, row, time.monotonic())
    row.recovery += f", settled {seconds:.1f}s"
    row.lost = 0


async def slow_burst(
    server: Server, database: Database, row: Row, *, client_timeout: float | None
) -> tuple[list[Outcome], float]:
    """More concurrent requests than the pool holds, while the database holds them up."""
    # PostgreSQL's lock holds reads too; SQLite in WAL mode lets them through, only writes wait.
    method = "GET" if server.app.postgres else "POST"
    burst = 3 * (POOL_SIZE + MAX_OVERFLOW)

    async def one() -> Outcome:
        body = create_body(unique(row.app)) if method == "POST" else None
        if client_timeout is None:
            return await server.request(method, "/projects", json=body)
        started = time.monotonic()
        request = asyncio.ensure_future(server.client.request(method, "/projects", json=body))
        await asyncio.wait({request}, timeout=client_timeout)
        if request.done():
            response = request.result()
            return Outcome(str(response.status_code), time.monotonic() - started, started)
        # The client gives up and closes its connection mid-request.
        request.cancel()
        with suppress(asyncio.CancelledError):
            await request
        return Outcome("client gave up", time.monotonic() - started, started)

    async with database.locked():
        tasks = [asyncio.create_task(one()) for _ in range(burst)]
        await asyncio.sleep(LOCK_SECONDS)
        released = time.monotonic()
    outcomes = await asyncio.gather(*tasks)
    for outcome in outcomes:
        row.record(outcome.status, outcome.latency)
    return outcomes, released


async def pool_exhaustion(server: Server, database: Database, row: Row, baseline: int) -> None:
    """3. More slow concurrent requests than pool_size + max_overflow."""
    outcomes, released = await slow_burst(server, database, row, client_timeout=None)
    served = sum(o.status in {"200", "201"} for o in outcomes)
    refused = sum(o.status == "503" for o in outcomes)
    row.require(served + refused == len(outcomes), "an answer other than 2xx or 503")
    row.require(refused > 0, "no request was refused although the pool was exhausted")
    row.require(served >= POOL_SIZE, f"only {served} requests were served")
    row.leaked, _ = await settle(server, database, baseline)
    row.require(row.leaked == 0, f"{row.leaked} connections/tasks still out")
    await recover(server, row, released)
    row.lost = 0


async def cancellation(server: Server, database: Database, row: Row, baseline: int) -> None:
    """4. Clients give up mid-request; the pool and the server must return to baseline."""
    outcomes, released = await slow_burst(server, database, row, client_timeout=0.3)
    row.require(
        all(o.status in {"client gave up", "503"} for o in outcomes),
        "a request finished although its client gave up first",
    )
    leaked, seconds = await settle(server, database, baseline)
    sessions = await database.app_sessions(server.app.package)
    row.leaked = leaked
    row.require(leaked == 0, f"{leaked} connections/tasks still out after {seconds:.1f}s")
    row.require(
        sum(sessions.values()) <= POOL_SIZE + MAX_OVERFLOW,
        f"{sum(sessions.values())} server sessions for a pool of {POOL_SIZE + MAX_OVERFLOW}",
    )
    await recover(server, row, released)
    row.recovery += f", settled {seconds:.1f}s"
    row.lost = 0


async def atomic_writes(server: Server, database: Database, row: Row, baseline: int) -> None:
    """5. A request that fails after its first writes leaves nothing of them."""
    name = unique(row.app)
    # The project row and the first task are inserted; the second task breaks the
    # (project, title) rule.
    body = {"name": name, "tasks": [{"title": "same"}, {"title": "same"}]}
    outcome = await server.request("POST", "/projects", json=body)
    row.record(outcome.status, outcome.latency)
    row.require(outcome.status == "409", f"duplicate tasks answered {outcome.status}")
    partial = await database.count_named([name])

    taken = unique(row.app)
    kept = unique(row.app)
    for project in (taken, kept):
        created = await server.request("POST", "/projects", json={"name": project})
        row.record(created.status, created.latency)
    project_id = await database.scalar("SELECT id FROM projects WHERE name = %s", (kept,))
    # The description is written first, then the rename breaks uniqueness.
    patch = {"description": "changed", "name": taken}
    outcome = await server.request("PATCH", f"/projects/{project_id}", json=patch)
    row.record(outcome.status, outcome.latency)
    row.require(outcome.status == "409", f"conflicting rename answered {outcome.status}")
    description = await database.scalar(
        "SELECT description FROM projects WHERE id = %s", (project_id,)
    )
    partial += description != ""
    row.require(partial == 0, f"{partial} partial writes found in the database")
    row.lost = partial
    await recover(server, row, time.monotonic())
    row.leaked, _ = await settle(server, database, baseline)
    row.require(row.leaked == 0, f"{row.leaked} connections/tasks still out")


async def shutdown(server: Server, database: Database, row: Row) -> None:
    """6. SIGTERM while requests are in flight."""
    assert server.process is not None
    method = "GET" if server.app.postgres else "POST"
    async with database.locked():
        tasks = [
            asyncio.create_task(
                server.request(
                    method,
                    "/projects",
                    json=create_body(unique(row.app)) if method == "POST" else None,
                )
            )
            for _ in range(POOL_SIZE + MAX_OVERFLOW)
        ]
        await asyncio.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.5)
    outcomes = await asyncio.gather(*tasks)
    for outcome in outcomes:
        row.record(outcome.status, outcome.latency)
        row.require(
            outcome.status in {"200", "201", "503"}, f"in-flight request ended {outcome.status}"
        )
    exit_code = asyncio.ensure_future(server.process.wait())
    await asyncio.wait({exit_code}, timeout=SHUTDOWN_BOUND)
    if not exit_code.done():
        exit_code.cancel()
        row.require(False, f"still running {SHUTDOWN_BOUND:.0f}s after SIGTERM")
        return
    exited = time.monotonic() - signalled
    code = server.process.returncode
    row.recovery = f"exit {exited:.2f}s, code {code}"
    # uvicorn re-raises the signal once it has shut down cleanly: -SIGTERM is a clean exit.
    row.require(code in {0, -signal.SIGTERM}, f"exit code {code}")
    row.require("RESILIENCE: engine disposed" in server.log.read_text(), "engine not disposed")
    sessions = await database.app_sessions(server.app.package)
    row.leaked = sum(sessions.values())
    row.require(row.leaked == 0, f"{row.leaked} server sessions left after exit")
    row.lost = 0


# Faults of the server itself, on a private server (pgserver.py) --------------------------------

# The app's role is not a superuser, as in production: the slots PostgreSQL reserves for
# superusers are not its own, and the suite's checks (as postgres) still get in when it is full.
APP_ROLE = "resilience_app"
HOLDER_ROLE = "resilience_holder"  # the other client that takes every free slot
LOAD_WORKERS = 4
LOAD_LIMIT = 4000  # requests per row at most
WARM_SECONDS = 0.8  # load before the fault
AFTER_SECONDS = 2.5  # load after the fault ended
DOWN_SECONDS = 1.0  # between `pg_ctl stop -m immediate` and `pg_ctl start`
HOLD_SECONDS = 2.0  # how long the other client holds the slots
RECOVERY_BOUND = 5.0  # from the end of the fault to the first success
OK = {"200", "201"}


class KeepAliveClient:
    """One client on one kept-alive HTTP/1.1 connection, as behind a proxy or load balancer.

    Counts the connections it lost: closed by the server between two requests (uvicorn closes
    the connection after an exception escaped the app: the 500 path), or failed under a request.
    """

    def __init__(self, base_url: httpx.URL) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=CLIENT_TIMEOUT,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.stream: object | None = None
        self.dropped = 0

    async def request(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[Outcome, httpx.Response | None]:
        started = time.monotonic()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self.dropped += 1
            self.stream = None
            status = "hang" if isinstance(error, httpx.TimeoutException) else type(error).__name__
            return Outcome(status, time.monotonic() - started, started), None
        stream = response.extensions.get("network_stream")
        if self.stream is not None and stream is not self.stream:
            self.dropped += 1  # a new connection: the one before was closed by the server
        self.stream = stream
        return Outcome(str(response.status_code), time.monotonic() - started, started), response


async def mixed_load(
    server: Server, row: Row, stop: asyncio.Event, written: dict[int, str], outcomes: list[Outcome]
) -> int:
    """LOAD_WORKERS clients cycle through a write (POST), a read of it and a read of the list
    until `stop` (LOAD_LIMIT requests, 40 s at most). Returns the connections they lost."""
    clients = [KeepAliveClient(server.client.base_url) for _ in range(LOAD_WORKERS)]
    deadline = time.monotonic() + 40

    async def worker(client: KeepAliveClient) -> None:
        last: int | None = None
        step = 0
        while not stop.is_set() and len(outcomes) < LOAD_LIMIT and time.monotonic() < deadline:
            if step % 3 == 0:
                name = unique(row.app)
                outcome, response = await client.request(
                    "POST", "/projects", json=create_body(name)
                )
                if outcome.status == "201" and response is not None:
                    last = int(response.json()["id"])
                    written[last] = name
            elif step % 3 == 1 and last is not None:
                outcome, _ = await client.request("GET", f"/projects/{last}")
            else:
                outcome, _ = await client.request("GET", "/projects")
            step += 1
            outcomes.append(outcome)
            row.record(outcome.status, outcome.latency)
            if outcome.status not in OK:
                await asyncio.sleep(0.02)  # a client pauses a little after an error

    try:
        await asyncio.gather(*(worker(client) for client in clients))
    finally:
        for client in clients:
            await client.client.aclose()
    return sum(client.dropped for client in clients)


async def server_fault(
    server: Server,
    database: Database,
    row: Row,
    *,
    baseline: int,
    fault: Callable[[], Awaitable[str]],
    warm: float = WARM_SECONDS,
) -> None:
    """`fault` during a mixed load, which starts `warm` seconds before it and goes on
    AFTER_SECONDS after it ended; then the checks every row of this kind makes: no 500, no lost
    write, no dropped connection, no idle transaction left, a recovery."""
    written: dict[int, str] = {}
    outcomes: list[Outcome] = []
    stop = asyncio.Event()
    loader = asyncio.create_task(mixed_load(server, row, stop, written, outcomes))
    try:
        await asyncio.sleep(warm)
        started = time.monotonic()
        note = await fault()
        ended = time.monotonic()
        await asyncio.sleep(AFTER_SECONDS)
    finally:
        stop.set()
        row.dropped = await loader

    successes = [o.started + o.latency for o in outcomes if o.status in OK and o.started >= ended]
    if successes:
        recovery = min(successes) - ended
        row.recovery = f"{recovery:.2f}s (fault {ended - started:.2f}s{note})"
        row.require(recovery <= RECOVERY_BOUND, f"first success {recovery:.1f}s after the fault")
    else:
        row.recovery = "none"
        row.require(False, "no request succeeded after the fault")
    row.require(row.statuses["500"] == 0, f"{row.statuses['500']} answers 500")
    other = {s: n for s, n in row.statuses.items() if s not in {*OK, "503", "500"}}
    row.require(not other, f"answers other than 2xx, 503: {other}")
    row.require(row.dropped == 0, f"{row.dropped} keep-alive connections dropped")
    missing = await database.missing(written)
    row.lost = len(missing)
    row.require(not missing, f"{len(missing)} of {len(written)} writes answered 201 are missing")
    row.leaked, _ = await settle(server, database, baseline)
    row.require(row.leaked == 0, f"{row.leaked} connections/tasks still out")
    idle = (await database.app_sessions(server.app.package))["idle in transaction"]
    row.require(idle == 0, f"{idle} sessions idle in transaction")


def pg_ctl(pg: PrivateServer, *args: str) -> Callable[[], Awaitable[str]]:
    async def fault() -> str:
        await asyncio.to_thread(pg.pg_ctl, *args)
        return ""

    return fault


def stop_then_start(pg: PrivateServer) -> Callable[[], Awaitable[str]]:
    async def fault() -> str:
        await asyncio.to_thread(pg.pg_ctl, "stop", "-m", "immediate")
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(pg.pg_ctl, "start")
        return ""

    return fault


class SlotHolder:
    """Another client that takes every connection slot the server gives a non-superuser: it
    connects until refused (SQLSTATE 53300), and keeps taking the slots that free up."""

    def __init__(self, pg: PrivateServer) -> None:
        self.pg = pg
        self.held: list[psycopg.AsyncConnection[Any]] = []
        self.most = 0
        self._keeper: asyncio.Task[None] | None = None

    async def _take_free(self) -> None:
        while len(self.held) < self.pg.max_connections:
            try:
                connection = await psycopg.AsyncConnection.connect(self.pg.url(user=HOLDER_ROLE))
            except psycopg.OperationalError as error:
                if "too many clients" in str(error) or "slots are reserved" in str(error):
                    return
                raise
            self.held.append(connection)
            self.most = max(self.most, len(self.held))

    async def take(self) -> None:
        await self._take_free()

        async def keep() -> None:
            while True:
                await asyncio.sleep(0.05)
                await self._take_free()

        self._keeper = asyncio.create_task(keep())

    async def release(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        for connection in self.held:
            await connection.close()
        self.held.clear()


async def slots_taken(
    pg: PrivateServer, app: App, app_url: str, database: Database, row: Row
) -> None:
    """9. Every slot a non-superuser can have is taken by another client; the app, started
    afresh (its pool empty, as after a deployment), gets requests; the client lets go."""
    holder = SlotHolder(pg)
    server = Server(app, app_url, log="uvicorn-slots.log")
    try:
        await holder.take()
        await server.start()  # the app connects at its first request, not at startup
        baseline = (await server.probe())["tasks"]

        async def release() -> str:
            await asyncio.sleep(HOLD_SECONDS)
            await holder.release()
            return f", {holder.most} slots held"

        await server_fault(server, database, row, baseline=baseline, fault=release, warm=0)
    finally:
        await holder.release()
        with suppress(httpx.HTTPError, ValueError):
            row.errors += await server.errors()
        await server.stop()


async def prepare_private(pg: PrivateServer, app: App) -> tuple[App, App]:
    """The app's database on the private server, owned by APP_ROLE and migrated with the app's
    own Alembic. Returns the app with its URL there, and the same with the suite's (superuser)
    URL, for the checks."""
    database = "resilience_" + re.sub(r"[^a-z0-9]+", "_", app.name.lower())
    async with await psycopg.AsyncConnection.connect(pg.url(), autocommit=True) as connection:
        await connection.execute(f'CREATE DATABASE "{database}" OWNER {APP_ROLE}')
    app_url = pg.url(database, APP_ROLE)
    env = {**os.environ, "DATABASE_URL": app_url}
    env.pop("VIRTUAL_ENV", None)
    alembic = app.path / ".venv" / "bin" / "alembic"
    migrated = subprocess.run(
        [str(alembic), "upgrade", "head"], cwd=app.path, env=env, capture_output=True, text=True
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"alembic upgrade head failed:\n{migrated.stdout}{migrated.stderr}")
    return replace(app, database_url=app_url), replace(app, database_url=pg.url(database))


async def run_server_faults(pg: PrivateServer, app: App, checks: App) -> list[Row]:
    rows: list[Row] = []
    database = Database(checks)
    app_url = app.database_url
    server = Server(app, app_url, log="uvicorn-server-faults.log")
    await server.start()
    try:
        await server.request("GET", "/projects")
        baseline = (await server.probe())["tasks"]
        await server.errors()
        faults = [
            ("7 restart fast", pg_ctl(pg, "restart", "-m", "fast")),
            ("8 stop immediate, start", stop_then_start(pg)),
        ]
        for title, fault in faults:
            await run_scenario(
                rows,
                server,
                title,
                partial(server_fault, server, database, baseline=baseline, fault=fault),
            )
    finally:
        await server.stop()  # its connections are free for the other client of row 9
    await run_scenario(
        rows,
        None,
        "9 slots taken",
        lambda row: slots_taken(pg, app, app_url, database, row),
        app.name,
    )
    return rows


async def create_roles(pg: PrivateServer) -> None:
    async with await psycopg.AsyncConnection.connect(pg.url(), autocommit=True) as connection:
        for role in (APP_ROLE, HOLDER_ROLE):
            await connection.execute(f"CREATE ROLE {role} LOGIN")


# Running it all --------------------------------------------------------------------------------


async def run_scenario(
    rows: list[Row],
    server: Server | None,
    title: str,
    body: Callable[[Row], Awaitable[None]],
    app_name: str = "",
) -> None:
    """Run `body` as the row `title`, 60 s at most; collect what the app's handlers saw."""
    name = server.app.name if server is not None else app_name
    row = Row(name, title)
    rows.append(row)
    started = time.monotonic()
    try:
        await asyncio.wait_for(body(row), 60)
    except Exception as error:  # reported as a breach of this scenario
        row.require(False, f"{type(error).__name__}: {error}")
    if server is not None:
        with suppress(httpx.HTTPError, ValueError):  # gone after the shutdown scenario
            row.errors += await server.errors()
    print(f"  {name}: {title} in {time.monotonic() - started:.1f}s", flush=True)


async def run_app(app: App, checks: App | None = None) -> list[Row]:
    """Scenarios 1-6; `checks` is the app as the suite's direct checks connect (superuser)."""
    rows: list[Row] = []
    database = Database(checks or app)
    proxy: FaultProxy | None = None
    url = app.database_url
    if app.postgres:
        upstream = urlsplit(app.database_url)
        proxy = FaultProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432)
        await proxy.start()
        url = urlsplit(url)._replace(netloc=f"{upstream.username}@127.0.0.1:{proxy.port}").geturl()
    server = Server(app, url)
    await server.start()
    try:
        await server.request("GET", "/projects")
        baseline = (await server.probe())["tasks"]

        async def scenario(title: str, body: Callable[[Row], Awaitable[None]]) -> None:
            await run_scenario(rows, server, title, body)

        if proxy is not None:
            await scenario(
                "1 link cut", lambda row: link_cut(server, proxy, database, row, baseline)
            )
            await scenario(
                "2 blackhole", lambda row: blackhole(server, proxy, database, row, baseline)
            )
        await scenario(
            "3 pool exhaustion", lambda row: pool_exhaustion(server, database, row, baseline)
        )
        await scenario("4 cancellation", lambda row: cancellation(server, database, row, baseline))
        await scenario(
            "5 atomic writes", lambda row: atomic_writes(server, database, row, baseline)
        )
        await scenario("6 shutdown", lambda row: shutdown(server, database, row))
    finally:
        await server.stop()
        if proxy is not None:
            await proxy.stop()
    if not app.postgres:
        for title, why in NOT_FOR_SQLITE:
            rows.insert(0 if title.startswith("1") else 1, Row(app.name, title, recovery=why))
    return rows


NOT_FOR_SQLITE = [
    ("1 link cut", "n/a: SQLite is a file in the process, there is no link to cut"),
    ("2 blackhole", "n/a: no network between the app and SQLite"),
]


def print_rows(rows: list[Row]) -> None:
    header: tuple[str, ...] = ("app", "scenario", "sent", "statuses", "max s", "recovery")
    header += ("leaked", "lost", "dropped", "ok")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(row.statuses.items()))
        lines.append(
            (
                row.app,
                row.scenario,
                str(row.sent),
                statuses or "-",
                f"{row.max_latency:.2f}" if row.sent else "-",
                row.recovery,
                str(row.leaked),
                str(row.lost),
                str(row.dropped),
                "FAIL" if row.breaches else ("ok" if row.sent else "n/a"),
            )
        )
    print_table(lines)


def print_errors(rows: list[Row]) -> None:
    """Per row, the exceptions that reached the app and what it answered to them."""
    print("\nExceptions the apps' handlers saw (probe_app.py): count, outcome, chain")
    for row in rows:
        if row.errors:
            print(f"  {row.app} / {row.scenario}:")
            for error in row.errors:
                print(f"    {error['count']:>4}  {error['outcome']:<12}  {error['error']}")


async def main(manifest: Path, breaches_file: Path | None = None) -> int:
    apps = [
        App(entry["name"], entry["driver"], Path(entry["path"]), entry["DATABASE_URL"])
        for entry in json.loads(manifest.read_text())
    ]
    rows: list[Row] = []
    started = time.monotonic()
    with ExitStack() as stack:
        pg: PrivateServer | None = None
        if any(app.postgres for app in apps):
            try:
                pg = stack.enter_context(PrivateServer())
            except ServerBinariesMissing as error:
                rows.append(Row("PostgreSQL apps", "all", breaches=[str(error)]))
            else:
                print(
                    f"private PostgreSQL on 127.0.0.1:{pg.port} ({pg.bindir}, {pg.folder})",
                    flush=True,
                )
                await create_roles(pg)
        for app in apps:
            print(f"{app.name}:", flush=True)
            if not app.postgres:
                rows += await run_app(app)
            elif pg is not None:
                on_pg, checks = await prepare_private(pg, app)
                rows += await run_app(on_pg, checks)
                rows += await run_server_faults(pg, on_pg, checks)
    print()
    print_rows(rows)
    print_errors(rows)
    print(f"\n{len(apps)} apps in {time.monotonic() - started:.1f}s")
    breaches = [f"{row.app} / {row.scenario}: {breach}" for row in rows for breach in row.breaches]
    return report_breaches(breaches, breaches_file)


if __name__ == "__main__":
    options = argument_parser(__doc__).parse_args()
    stop_cleanly_on_sigterm()
    sys.exit(asyncio.run(main(options.manifest, options.breaches)))
