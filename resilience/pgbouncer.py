"""Generated apps behind a real PgBouncer in transaction pooling mode; prints a table, fails on a
breach.

    python resilience/pgbouncer.py apps.json [--breaches FILE]

apps.json is the manifest `nox -s resilience` writes; this uses its asyncpg and psycopg apps with
the default answers (APPS). PgBouncer is Debian's `pgbouncer` binary, installed with apt-get when
it is missing and we are root, run as a plain process (not the system service) with a config file
in a temporary folder, on a free port, in front of the suite's private PostgreSQL server
(pgserver.py). Why the private one rather than $PG_URL's: the suite sets `statement_timeout` on its
role (roles are cluster-wide, not to be changed on a shared server), and the kill -9 of PgBouncer
leaves server sessions behind for a moment, which must not eat a shared server's slots.

Each app runs with its production command, `python -m <package>` (uvicorn, WEB_CONCURRENCY=4
workers), DATABASE_URL at PgBouncer. With DATABASE_PGBOUNCER=true, under a mixed read/write load,
PgBouncer is disrupted three ways: RECONNECT, PAUSE + RESUME, kill -9 and a restart. Then the
same app without DATABASE_PGBOUNCER (its pool and the drivers' prepared statements on) gets the
same load, to show what the setting prevents: that row must show prepared-statement errors, or
the guard proves nothing. See docs/guides/pgbouncer.md for the checks and the last run's table.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from pgserver import PrivateServer, ServerBinariesMissing, service_account

APPS = ("asyncpg-raise-session", "psycopg-raise-session")
WORKERS = 4  # WEB_CONCURRENCY of the app
CLIENTS = 2 * WORKERS  # load clients, each on one kept-alive HTTP connection
RECOVERY_BOUND = 2 * WORKERS  # non-2xx answers allowed after PgBouncer accepts again
APP_ROLE = "resilience_app"
ROLE_STATEMENT_TIMEOUT = "10s"
ADMIN_USER = "postgres"  # PgBouncer's admin_users; also the suite's checks, straight to PostgreSQL
# The app sends statement_timeout at connect time (asyncpg: the `statement_timeout` startup
# parameter, psycopg: libpq's `options`); PgBouncer refuses a startup parameter it does not
# know, so it is told to ignore them, and the role carries the limit instead (APP_ROLE above).
IGNORE_STARTUP_PARAMETERS = "extra_float_digits,statement_timeout,options"
APP_ENV = {
    "WEB_CONCURRENCY": str(WORKERS),
    "HOST": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
    "LOG_FORMAT": "json",
    "DATABASE_POOL_SIZE": "2",
    "DATABASE_MAX_OVERFLOW": "2",
    "DATABASE_POOL_TIMEOUT": "2",
    "DATABASE_CONNECT_TIMEOUT": "2",
    "DATABASE_COMMAND_TIMEOUT": "5",
    "DATABASE_STATEMENT_TIMEOUT_MS": "10000",  # sent, and ignored by PgBouncer (above)
    "READY_TIMEOUT": "2",
    "REQUEST_TIMEOUT": "8",
}
CLIENT_TIMEOUT = 15.0  # an answer slower than this is a hang: a breach whatever its status
WARM_SECONDS = 1.0  # load before a disruption
AFTER_SECONDS = 1.5  # load after PgBouncer accepts again
PAUSED_SECONDS = 0.5  # between PAUSE and RESUME
DOWN_SECONDS = 0.5  # between kill -9 and the restart
UNGUARDED_SECONDS = 3.0  # load of the row without DATABASE_PGBOUNCER
UNGUARDED_GRACE = 8.0  # more of it, while no prepared-statement error has shown yet
LOAD_LIMIT = 3000  # requests per row at most
ROW_SECONDS = 60  # a row that takes longer fails
OK = {"200", "201"}
# What a prepared statement (or other state kept on a server connection) that PgBouncer moved
# away looks like, in the app's log (exception names and messages) and in PostgreSQL's.
STATEMENT_ERROR = re.compile(
    r"prepared statement|DuplicatePreparedStatement|InvalidSqlStatementName"
    r"|InvalidCachedStatement|unsupported startup parameter"
)
PREFIX = "resilience-pgbouncer-"


class PgBouncerUnavailable(RuntimeError):
    pass


# PgBouncer ---------------------------------------------------------------------------------------


def find_or_install() -> str:
    """The pgbouncer binary; installed with apt-get if missing and we are root."""
    for candidate in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and Path(candidate).is_file():
            return candidate
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PgBouncerUnavailable(
            "pgbouncer is not installed, and this is not root with apt-get, so the suite cannot "
            "install it. Install it (Debian/Ubuntu: `sudo apt-get install pgbouncer`, macOS: "
            "`brew install pgbouncer`) and run the session again."
        )
    for commands in ([INSTALL], [["apt-get", "update"], INSTALL]):  # lists may be empty
        if all(apt_get(command) for command in commands) and Path("/usr/sbin/pgbouncer").is_file():
            return "/usr/sbin/pgbouncer"
    raise PgBouncerUnavailable("`apt-get install pgbouncer` failed (output above)")


INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "pgbouncer"]


def apt_get(command: list[str]) -> bool:
    """Runs an apt-get command, 300 s at most; prints its output's end if it fails."""
    print(f"$ {' '.join(command)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        raise PgBouncerUnavailable(f"{' '.join(command)} took over 300 s") from None
    if done.returncode != 0:
        print(done.stdout[-1000:] + done.stderr[-1000:], flush=True)
    return done.returncode == 0


class PgBouncer:
    """One pgbouncer process, its config in a temporary folder, on one port for its whole life
    (a restart after kill -9 listens on the same one, as a service would)."""

    def __init__(self, binary: str, backend_port: int) -> None:
        self.binary = binary
        self.backend_port = backend_port
        # PgBouncer refuses to run as root, like PostgreSQL: the same account as the server.
        self.account = service_account()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.folder / "owner").write_text(str(os.getpid()))
        self.log = self.folder / "pgbouncer.log"
        self.process: subprocess.Popen[bytes] | None = None
        config = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(self.folder / "userlist.txt"),
            "admin_users": ADMIN_USER,
            "pool_mode": "transaction",
            "default_pool_size": "8",
            "max_client_conn": "200",
            "ignore_startup_parameters": IGNORE_STARTUP_PARAMETERS,
            # Bounded waits: a client never waits for a server connection longer than this,
            # and a failed server login is retried soon.
            "query_wait_timeout": "5",
            "server_connect_timeout": "3",
            "server_login_retry": "1",
            # Server connections in turn (round robin) rather than the last one released first
            # (LIFO), which under a light load is often the one the client had before and hides
            # a statement left on it: without it, the rows without DATABASE_PGBOUNCER showed a
            # few errors, or none, instead of dozens.
            "server_round_robin": "1",
        }
        (self.folder / "pgbouncer.ini").write_text(
            f"[databases]\n* = host=127.0.0.1 port={backend_port}\n\n[pgbouncer]\n"
            + "".join(f"{name} = {value}\n" for name, value in config.items())
        )
        # trust still wants the user listed (password unused).
        (self.folder / "userlist.txt").write_text(f'"{ADMIN_USER}" ""\n"{APP_ROLE}" ""\n')
        if self.account is not None:
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def url(self, database: str, user: str = APP_ROLE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def version(self) -> str:
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return done.stdout.splitlines()[0] if done.stdout else "?"

    async def start(self) -> None:
        options: dict[str, Any] = {}
        if self.account is not None:
            options = {"user": self.account.pw_uid, "group": self.account.pw_gid}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, str(self.folder / "pgbouncer.ini")],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                start_new_session=True,  # a Ctrl-C of the suite does not reach it first
                **options,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with suppress(psycopg.Error, TimeoutError):
                await self.admin("SHOW VERSION")
                return
            await asyncio.sleep(0.05)
        raise PgBouncerUnavailable(
            f"pgbouncer did not accept connections on 127.0.0.1:{self.port} within 10 s "
            f"(exit code {self.process.poll()}):\n{self.log.read_text()[-2000:]}"
        )

    async def admin(self, command: str, timeout: float = 10) -> list[tuple[Any, ...]]:
        """A command of PgBouncer's admin console (the `pgbouncer` database, simple queries)."""
        async with asyncio.timeout(timeout):
            connection = await psycopg.AsyncConnection.connect(
                self.url("pgbouncer", ADMIN_USER), autocommit=True, connect_timeout=3
            )
            async with connection:
                cursor = await connection.execute(command)
                return await cursor.fetchall() if cursor.description else []

    def kill(self) -> None:
        """kill -9: no goodbye to clients or servers."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_stale() -> None:
    """Kill and remove the PgBouncers of earlier runs whose process is gone (killed runs)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        with suppress(OSError, ValueError):
            owner = int((folder / "owner").read_text())
            if Path(f"/proc/{owner}").exists():
                continue
        for proc in Path("/proc").glob("[0-9]*"):
            with suppress(OSError):
                if str(folder).encode() in (proc / "cmdline").read_bytes():
                    os.kill(int(proc.name), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


# The app -----------------------------------------------------------------------------------------


@dataclass
class App:
    name: str
    driver: str
    path: Path

    @property
    def package(self) -> str:
        return package_of(self.path)

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, **APP_ENV, **extra}
        env.pop("VIRTUAL_ENV", None)
        return env


class AppServer:
    """`python -m <package>`: the production command, uvicorn with WORKERS worker processes."""

    def __init__(self, app: App, database_url: str, pgbouncer_mode: bool, log: Path) -> None:
        self.app = app
        self.port = free_port()
        self.log = log
        self.base_url = f"http://127.0.0.1:{self.port}"
        extra = {"DATABASE_URL": database_url, "PORT": str(self.port)}
        extra["DATABASE_PGBOUNCER"] = "true" if pgbouncer_mode else "false"
        self.env = app.environment(extra)
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        started = time.monotonic()
        python = self.app.path / ".venv" / "bin" / "python"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(python), "-m", self.app.package],
                cwd=self.app.path,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the workers go with it
            )
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.process.poll() is None:
                with suppress(httpx.HTTPError):
                    if (await client.get("/health/ready")).status_code == 200:
                        print(
                            f"  {self.app.driver}: `python -m {self.app.package}` ready in "
                            f"{time.monotonic() - started:.1f}s",
                            flush=True,
                        )
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.app.name} did not become ready within 60 s; see {self.log}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log.open(errors="replace") as log:
            log.seek(offset)
            return log.read()


# Load --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str
    started: float
    ended: float


@dataclass
class Written:
    projects: dict[int, str] = field(default_factory=dict)
    tasks: dict[int, str] = field(default_factory=dict)


async def client_loop(
    base_url: str, stop: asyncio.Event, outcomes: list[Outcome], written: Written
) -> None:
    """One client on one kept-alive connection cycles through the app's routes: create a project
    (with two tasks), read it, read the list, add a task, read the tasks, rename it."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=CLIENT_TIMEOUT, limits=limits
    ) as client:
        project: int | None = None
        step = 0
        while not stop.is_set() and len(outcomes) < LOAD_LIMIT:
            kind = step % 6 if project is not None else 0
            name = f"pgbouncer {uuid.uuid4().hex}"
            request: tuple[str, str, dict[str, Any]] = [
                ("POST", "/projects", {"json": {"name": name, "tasks": [{"title": "a"}]}}),
                ("GET", f"/projects/{project}", {}),
                ("GET", "/projects", {}),
                ("POST", f"/projects/{project}/tasks", {"json": {"title": name}}),
                ("GET", f"/projects/{project}/tasks", {}),
                ("PATCH", f"/projects/{project}", {"json": {"description": name}}),
            ][kind]
            started = time.monotonic()
            try:
                response = await client.request(request[0], request[1], **request[2])
            except httpx.TimeoutException:
                status = "hang"
            except httpx.HTTPError as error:
                status = type(error).__name__
            else:
                status = str(response.status_code)
                if status == "201" and kind == 0:
                    project = int(response.json()["id"])
                    written.projects[project] = name
                    for task in response.json()["tasks"]:
                        written.tasks[int(task["id"])] = task["title"]
                elif status == "201":
                    written.tasks[int(response.json()["id"])] = name
            outcomes.append(Outcome(status, started, time.monotonic()))
            step += 1
            if status not in OK:
                await asyncio.sleep(0.02)  # a client pauses a little after an error


@dataclass
class Row:
    scenario: str
    driver: str
    workers: int = WORKERS
    statuses: Counter[str] = field(default_factory=Counter)
    other_5xx: int = 0
    lost: int = 0
    statement_errors: str = "-"
    recovery: str = "-"
    verdict: str = "ok"
    breaches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what broke, printed below the table

    def __post_init__(self) -> None:
        if self.breaches:
            self.verdict = "FAIL"

    def require(self, condition: bool, breach: str) -> None:
        if not condition:
            self.breaches.append(breach)
            self.verdict = "FAIL"


async def missing(conninfo: str, written: Written) -> list[str]:
    """The writes answered 201 that are not in the database, checked id by id (and name)."""
    lost = []
    async with await psycopg.AsyncConnection.connect(conninfo, connect_timeout=3) as connection:
        queries = {
            "projects": ("SELECT id, name FROM projects WHERE id = ANY(%s)", written.projects),
            "tasks": ("SELECT id, title FROM tasks WHERE id = ANY(%s)", written.tasks),
        }
        for table, (query, rows) in queries.items():
            cursor = await connection.execute(query, (list(rows),))
            stored = dict(await cursor.fetchall())
            lost += [f"{table} {i}" for i, value in rows.items() if stored.get(i) != value]
    return lost


@dataclass
class Run:
    """A row's load and what it left: answers, writes, and the lines the logs gained."""

    row: Row
    server: AppServer
    pg: PrivateServer
    pgbouncer: PgBouncer
    outcomes: list[Outcome] = field(default_factory=list)
    written: Written = field(default_factory=Written)
    app_log: str = ""
    pg_log: str = ""
    pgbouncer_log: str = ""

    async def load_around(
        self, disruption: Callable[[], Awaitable[float]], warm: float
    ) -> tuple[float, float]:
        """The load from `warm` seconds before `disruption` to AFTER_SECONDS after the moment it
        returns (PgBouncer accepting again). Returns when it began and that moment."""
        stop = asyncio.Event()
        offsets = (self.server.log_size(), self.pg.log_size(), self.pgbouncer.log.stat().st_size)
        clients = [
            asyncio.create_task(
                client_loop(self.server.base_url, stop, self.outcomes, self.written)
            )
            for _ in range(CLIENTS)
        ]
        try:
            await asyncio.sleep(warm)
            begun = time.monotonic()
            accepting = await disruption()
            await asyncio.sleep(AFTER_SECONDS)
        finally:
            stop.set()
            await asyncio.gather(*clients)
        self.app_log = self.server.log_since(offsets[0])
        self.pg_log = self.pg.log_since(offsets[1])
        with self.pgbouncer.log.open(errors="replace") as log:
            log.seek(offsets[2])
            self.pgbouncer_log = log.read()
        for outcome in self.outcomes:
            self.row.statuses[outcome.status] += 1
        return begun, accepting

    def statement_errors(self) -> tuple[int, int]:
        """Lines of the app's log, and ERROR lines of PostgreSQL's log and `pooler error` lines
        of PgBouncer's (`unsupported startup parameter`), about prepared statements or other
        state that PgBouncer does not carry between server connections."""
        app = sum(bool(STATEMENT_ERROR.search(line)) for line in self.app_log.splitlines())
        server = sum(
            bool(STATEMENT_ERROR.search(line))
            for line in self.pg_log.splitlines() + self.pgbouncer_log.splitlines()
            if "ERROR" in line or "pooler error" in line
        )
        return app, server

    def error_kinds(self) -> list[str]:
        """The commonest prepared-statement errors of PostgreSQL's log and exceptions of the
        app's, for the lines below the table."""
        kinds = Counter(
            re.sub(r'"[^"]+"', '"…"', match.group(1))
            for match in re.finditer(r"ERROR:\s+([^\n]*prepared statement[^\n]*)", self.pg_log)
        )
        notes = [f"PostgreSQL's log: {count}x {kind}" for kind, count in kinds.most_common(4)]
        pattern = r"(?:psycopg\.errors|asyncpg\.exceptions)\.[A-Z]\w+"
        kinds = Counter(re.findall(pattern, self.app_log))
        return notes + [f"app's log: {count}x {kind}" for kind, count in kinds.most_common(4)]


async def guarded(
    run: Run, conninfo: str, disruption: Callable[[], Awaitable[float]], restart: bool
) -> None:
    """A row with DATABASE_PGBOUNCER=true: `disruption` during the load, then the checks."""
    row = run.row
    begun, accepting = await run.load_around(disruption, WARM_SECONDS)
    row.other_5xx = sum(
        n for s, n in row.statuses.items() if s.isdigit() and int(s) >= 500 and s != "503"
    )
    row.require(row.other_5xx == 0, f"{row.other_5xx} answers 5xx other than 503")
    other = {s: n for s, n in row.statuses.items() if s not in {*OK, "503"} and s[0] != "5"}
    row.require(not other, f"answers other than 2xx and 5xx: {other}")
    if restart:
        early = sum(o.status == "503" and o.ended < begun for o in run.outcomes)
        row.require(early == 0, f"{early} answers 503 before PgBouncer was killed")
    else:
        row.require(row.statuses["503"] == 0, f"{row.statuses['503']} answers 503, no restart")
    after = sorted((o for o in run.outcomes if o.started >= accepting), key=lambda o: o.started)
    failed_after = sum(o.status not in OK for o in after)
    row.recovery = f"{failed_after} (≤{RECOVERY_BOUND})"
    row.require(
        failed_after <= RECOVERY_BOUND,
        f"{failed_after} non-2xx answers after PgBouncer accepted again (≤{RECOVERY_BOUND})",
    )
    row.require(any(o.status in OK for o in after), "no 2xx after PgBouncer accepted again")
    app_errors, server_errors = run.statement_errors()
    row.statement_errors = f"server {server_errors}, app {app_errors}"
    if app_errors + server_errors:
        row.notes += run.error_kinds()
    row.require(
        app_errors + server_errors == 0,
        f"prepared-statement errors: {app_errors} app log lines, {server_errors} server log lines",
    )
    lost = await missing(conninfo, run.written)
    row.lost = len(lost)
    row.require(not lost, f"201 answered but not in the database: {lost[:5]}")


async def unguarded(run: Run, conninfo: str) -> None:
    """The row without DATABASE_PGBOUNCER: expected to break; fails only if nothing broke."""
    row = run.row
    offset = run.pg.log_size()

    async def until_broken() -> float:
        # Usually at once; the load goes on a little longer if nothing broke yet.
        deadline = time.monotonic() + UNGUARDED_GRACE
        while time.monotonic() < deadline and "prepared statement" not in run.pg.log_since(offset):
            await asyncio.sleep(0.2)
        return time.monotonic()

    await run.load_around(until_broken, UNGUARDED_SECONDS - AFTER_SECONDS)
    row.other_5xx = sum(
        n for s, n in row.statuses.items() if s.isdigit() and int(s) >= 500 and s != "503"
    )
    app_errors, server_errors = run.statement_errors()
    row.statement_errors = f"server {server_errors}, app {app_errors}"
    row.lost = len(await missing(conninfo, run.written))
    if app_errors + server_errors:
        row.verdict = "fails as expected"
    else:
        row.require(
            False,
            "no prepared-statement error without DATABASE_PGBOUNCER: the guard proves nothing",
        )
    row.notes += run.error_kinds()


# Running it all ----------------------------------------------------------------------------------


async def prepare(pg: PrivateServer, pgbouncer: PgBouncer, app: App) -> tuple[str, str]:
    """The app's database on the private server, owned by APP_ROLE, migrated through PgBouncer
    with the app's own Alembic and DATABASE_PGBOUNCER=true (docs/guides/pgbouncer.md says that
    works). Returns the app's URL (through PgBouncer) and the suite's (superuser, direct)."""
    database = "pgbouncer_" + re.sub(r"[^a-z0-9]+", "_", app.name.lower())
    async with await psycopg.AsyncConnection.connect(pg.url(), autocommit=True) as connection:
        await connection.execute(f'CREATE DATABASE "{database}" OWNER {APP_ROLE}')
    app_url = pgbouncer.url(database)
    env = app.environment({"DATABASE_URL": app_url, "DATABASE_PGBOUNCER": "true"})
    alembic = app.path / ".venv" / "bin" / "alembic"
    migrated = subprocess.run(
        [str(alembic), "upgrade", "head"],
        cwd=app.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if migrated.returncode != 0:
        raise RuntimeError(
            f"alembic upgrade head through PgBouncer failed:\n{migrated.stdout}{migrated.stderr}"
        )
    # The limit the app asks for is ignored by PgBouncer; the role's must be in force instead.
    async with await psycopg.AsyncConnection.connect(app_url, connect_timeout=3) as connection:
        timeout = await (await connection.execute("SHOW statement_timeout")).fetchone()
    if timeout is None or timeout[0] != ROLE_STATEMENT_TIMEOUT:
        raise RuntimeError(f"statement_timeout through PgBouncer is {timeout}, not the role's")
    return app_url, pg.url(database)


async def run_app(pg: PrivateServer, pgbouncer: PgBouncer, app: App, rows: list[Row]) -> None:
    app_url, conninfo = await prepare(pg, pgbouncer, app)

    async def reconnect() -> float:
        await pgbouncer.admin("RECONNECT")
        return time.monotonic()

    async def pause_resume() -> float:
        await pgbouncer.admin("PAUSE")
        await asyncio.sleep(PAUSED_SECONDS)
        await pgbouncer.admin("RESUME")
        return time.monotonic()

    async def kill_restart() -> float:
        await asyncio.to_thread(pgbouncer.kill)
        await asyncio.sleep(DOWN_SECONDS)
        await pgbouncer.start()  # returns once its admin console answers
        return time.monotonic()

    scenarios: list[tuple[str, Callable[[], Awaitable[float]], bool]] = [
        ("RECONNECT", reconnect, False),
        ("PAUSE, RESUME", pause_resume, False),
        ("kill -9, restart", kill_restart, True),
    ]
    log = app.path / "uvicorn-pgbouncer.log"  # kept after the run, as run.py's uvicorn.log
    log.unlink(missing_ok=True)
    server = AppServer(app, app_url, True, log)
    try:
        await server.start()
        for title, disruption, restart in scenarios:
            row = Row(f"PGBOUNCER=true, {title}", app.driver)
            await one_row(rows, row, guarded(Run(row, server, pg, pgbouncer), conninfo,
                                             disruption, restart))  # fmt: skip
    finally:
        await asyncio.to_thread(server.stop)
    row = Row("PGBOUNCER=false (pool, prepared statements)", app.driver)
    server = AppServer(app, app_url, False, log)
    try:
        await server.start()
        await one_row(rows, row, unguarded(Run(row, server, pg, pgbouncer), conninfo))
    finally:
        await asyncio.to_thread(server.stop)


async def one_row(rows: list[Row], row: Row, body: Awaitable[None]) -> None:
    rows.append(row)
    started = time.monotonic()
    try:
        await asyncio.wait_for(body, ROW_SECONDS)
    except Exception as error:  # reported as a breach of this row
        row.require(False, f"{type(error).__name__}: {error}")
    print(f"  {row.driver}: {row.scenario} in {time.monotonic() - started:.1f}s", flush=True)


def print_rows(rows: list[Row]) -> None:
    header = ("scenario", "driver", "workers", "statuses", "5xx not 503", "lost 201s")
    header += ("prepared-statement errors", "recovery (non-2xx)", "verdict")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(row.statuses.items()))
        lines.append(
            (row.scenario, row.driver, str(row.workers), statuses or "-", str(row.other_5xx),
             str(row.lost), row.statement_errors, row.recovery, row.verdict)
        )  # fmt: skip
    print_table(lines)


async def main(
    manifest: Path, breaches_file: Path | None = None, names: list[str] | None = None
) -> int:
    entries = {entry["name"]: entry for entry in json.loads(manifest.read_text())}
    names = names or list(APPS)
    rows: list[Row] = []
    started = time.monotonic()
    with ExitStack() as stack:
        try:
            if missing_apps := [name for name in names if name not in entries]:
                raise PgBouncerUnavailable(f"{manifest} has no app named {missing_apps}")
            apps = [
                App(name, entries[name]["driver"], Path(entries[name]["path"])) for name in names
            ]
            binary = find_or_install()
            remove_stale()
            pg = stack.enter_context(PrivateServer({"max_connections": "40"}))
            async with await psycopg.AsyncConnection.connect(pg.url(), autocommit=True) as admin:
                await admin.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
                await admin.execute(
                    f"ALTER ROLE {APP_ROLE} SET statement_timeout = '{ROLE_STATEMENT_TIMEOUT}'"
                )
            pgbouncer = PgBouncer(binary, pg.port)
            stack.callback(pgbouncer.remove)
            await pgbouncer.start()
        except (PgBouncerUnavailable, ServerBinariesMissing, psycopg.Error) as error:
            rows.append(Row("setup", "-", breaches=[f"{type(error).__name__}: {error}"]))
        else:
            print(
                f"{pgbouncer.version()} on 127.0.0.1:{pgbouncer.port} ({pgbouncer.folder}), "
                f"pool_mode=transaction, in front of the private PostgreSQL on "
                f"127.0.0.1:{pg.port}",
                flush=True,
            )
            for app in apps:
                print(f"{app.name}:", flush=True)
                try:
                    await run_app(pg, pgbouncer, app, rows)
                except Exception as error:  # setup of this app; the others still run
                    rows.append(
                        Row("setup", app.driver, breaches=[f"{type(error).__name__}: {error}"])
                    )
    print()
    print_rows(rows)
    for row in rows:
        for note in row.notes:
            print(f"{row.driver} / {row.scenario}: {note}")
    print(f"\n{len(rows)} rows in {time.monotonic() - started:.1f}s")
    breaches = [f"{row.driver} / {row.scenario}: {b}" for row in rows for b in row.breaches]
    return report_breaches(breaches, breaches_file)


if __name__ == "__main__":
    parser = argument_parser(__doc__)
    parser.add_argument("--app", action="append", help=f"only this app (default: {APPS})")
    options = parser.parse_args()
    stop_cleanly_on_sigterm()
    sys.exit(asyncio.run(main(options.manifest, options.breaches, options.app)))
