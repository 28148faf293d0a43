"""The baseline: the generated app's three benchmarked endpoints, by hand, on the raw driver.

FastAPI routes and one driver, no ORM and no response models. It answers byte for byte what a
generated app answers (the bench compares the bodies before it measures), sends the same
statements (a count, then the page joined to its tasks; the project joined to its tasks; a
check that the project exists, then the insert), in the same
transactions (none around PostgreSQL reads, which run in autocommit as the app's do; one per
write; SQLite reads in a deferred transaction), and holds the same number of pooled connections.

    BENCH_DRIVER=asyncpg BENCH_DATABASE_URL=postgresql://... BENCH_POOL_SIZE=10 \
        python -m uvicorn --factory baseline:create_app

It runs in the virtual environment of the generated app it is compared with, so both use the
same uvicorn, uvloop, httptools, FastAPI and driver versions. Only that driver is imported.
`create_app` routes the handlers through FastAPI, which validates the parameters as the app
declares them: the app's cost over it is what the template decides (SQLAlchemy, the session and
transaction handling, the response models, the middleware). `create_starlette_app` routes the
same handlers through Starlette alone, which also shows what FastAPI itself costs.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, Path, Query
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# The generated app's parameters, for the FastAPI variant.
ProjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=2**63 - 1)]

# A project's columns, then one of its tasks' (None for a project without tasks).
Row = tuple[int, str, str, int | None, str | None, bool | None]


class Database(Protocol):
    async def page(self, limit: int, offset: int) -> tuple[int, list[Row]]: ...
    async def project(self, project_id: int) -> list[Row]: ...
    async def add_task(self, project_id: int, title: str, done: bool) -> int | None: ...
    async def close(self) -> None: ...


class Conflict(Exception):
    """The task title is taken in this project."""


async def no_reset(_connection: Any) -> None:
    pass


# The app's statements: a page of projects, or one project, joined to their tasks.
PAGE_WITH_TASKS = (
    "SELECT page.id, page.name, page.description, tasks.id, tasks.title, tasks.done"
    " FROM (SELECT id, name, description FROM projects ORDER BY id LIMIT {} OFFSET {}) AS page"
    " LEFT OUTER JOIN tasks ON tasks.project_id = page.id ORDER BY page.id, tasks.id"
)
PROJECT_WITH_TASKS = (
    "SELECT projects.id, projects.name, projects.description, tasks.id, tasks.title, tasks.done"
    " FROM projects LEFT OUTER JOIN tasks ON projects.id = tasks.project_id"
    " WHERE projects.id = {} ORDER BY tasks.id"
)


# asyncpg ---------------------------------------------------------------------------------------


class AsyncpgDatabase:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str, size: int) -> AsyncpgDatabase:
        import asyncpg

        # Each transaction ends before its connection goes back, so there is nothing for the
        # pool's default reset (a round trip on every release) to undo; SQLAlchemy sends none.
        pool = await asyncpg.create_pool(url, min_size=size, max_size=size, reset=no_reset)
        return cls(pool)

    async def page(self, limit: int, offset: int) -> tuple[int, list[Row]]:
        async with self.pool.acquire() as conn:
            total = await conn.fetchval("SELECT count(*) FROM projects")
            rows = await conn.fetch(PAGE_WITH_TASKS.format("$1", "$2"), limit, offset)
        return total, [tuple(row) for row in rows]

    async def project(self, project_id: int) -> list[Row]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(PROJECT_WITH_TASKS.format("$1"), project_id)
        return [tuple(row) for row in rows]

    async def add_task(self, project_id: int, title: str, done: bool) -> int | None:
        import asyncpg

        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM projects WHERE id = $1", project_id) is None:
                return None
            try:
                return await conn.fetchval(
                    "INSERT INTO tasks (project_id, title, done) VALUES ($1, $2, $3) RETURNING id",
                    project_id,
                    title,
                    done,
                )
            except asyncpg.UniqueViolationError as error:
                raise Conflict from error

    async def close(self) -> None:
        await self.pool.close()


# psycopg and aiosqlite: the driver has no pool of its own, so a queue of connections -------------


class Pool:
    """`size` connections opened at startup, lent out one request at a time."""

    def __init__(self, connections: Iterable[Any]) -> None:
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        self.all = list(connections)
        for connection in self.all:
            self.idle.put_nowait(connection)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        connection = await self.idle.get()
        try:
            yield connection
        finally:
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        for connection in self.all:
            await connection.close()


class PsycopgDatabase:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str, size: int) -> PsycopgDatabase:
        import psycopg

        # Autocommit: reads run outside a transaction, writes in `conn.transaction()`.
        return cls(
            Pool([await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(size)])
        )

    async def page(self, limit: int, offset: int) -> tuple[int, list[Row]]:
        async with self.pool.acquire() as conn:
            total = (await (await conn.execute("SELECT count(*) FROM projects")).fetchone())[0]
            sql = PAGE_WITH_TASKS.format("%s", "%s")
            rows = await (await conn.execute(sql, (limit, offset))).fetchall()
        return total, rows

    async def project(self, project_id: int) -> list[Row]:
        async with self.pool.acquire() as conn:
            sql = PROJECT_WITH_TASKS.format("%s")
            return await (await conn.execute(sql, (project_id,))).fetchall()

    async def add_task(self, project_id: int, title: str, done: bool) -> int | None:
        import psycopg

        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    cursor = await conn.execute(
                        "SELECT 1 FROM projects WHERE id = %s", (project_id,)
                    )
                    if await cursor.fetchone() is None:
                        return None
                    cursor = await conn.execute(
                        "INSERT INTO tasks (project_id, title, done)"
                        " VALUES (%s, %s, %s) RETURNING id",
                        (project_id, title, done),
                    )
                    return (await cursor.fetchone())[0]
            except psycopg.errors.UniqueViolation as error:
                raise Conflict from error

    async def close(self) -> None:
        await self.pool.close()


def boolean_done(row: Any) -> Row:
    """SQLite has no boolean type: `done` comes back as 0 or 1."""
    *rest, done = row
    return (*rest, None if done is None else bool(done))


class AiosqliteDatabase:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, path: str, size: int) -> AiosqliteDatabase:
        import aiosqlite

        connections = []
        for _ in range(size):
            # The same connection setup as the generated app: explicit BEGIN, foreign keys, WAL.
            connection = await aiosqlite.connect(path, isolation_level=None)
            await connection.execute("PRAGMA foreign_keys=ON")
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA busy_timeout=5000")
            connections.append(connection)
        return cls(Pool(connections))

    @asynccontextmanager
    async def transaction(self, *, writes: bool = False) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            # As the app does: a transaction that writes takes the write lock as it begins,
            # waiting busy_timeout for it (a deferred one that has read fails at once if another
            # writer has committed since).
            await conn.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def page(self, limit: int, offset: int) -> tuple[int, list[Row]]:
        async with self.transaction() as conn:
            [(total,)] = await conn.execute_fetchall("SELECT count(*) FROM projects")
            sql = PAGE_WITH_TASKS.format("?", "?")
            rows = await conn.execute_fetchall(sql, (limit, offset))
        return total, [boolean_done(row) for row in rows]

    async def project(self, project_id: int) -> list[Row]:
        async with self.transaction() as conn:
            sql = PROJECT_WITH_TASKS.format("?")
            rows = await conn.execute_fetchall(sql, (project_id,))
        return [boolean_done(row) for row in rows]

    async def add_task(self, project_id: int, title: str, done: bool) -> int | None:
        try:
            async with self.transaction(writes=True) as conn:
                exists = await conn.execute_fetchall(
                    "SELECT 1 FROM projects WHERE id = ?", (project_id,)
                )
                if not exists:
                    return None
                [(task_id,)] = await conn.execute_fetchall(
                    "INSERT INTO tasks (project_id, title, done) VALUES (?, ?, ?) RETURNING id",
                    (project_id, title, done),
                )
                return int(task_id)
        except sqlite3.IntegrityError as error:
            raise Conflict from error

    async def close(self) -> None:
        await self.pool.close()


DRIVERS: dict[str, Callable[[str, int], Any]] = {
    "asyncpg": AsyncpgDatabase.open,
    "psycopg": PsycopgDatabase.open,
    "aiosqlite": AiosqliteDatabase.open,
}

# The HTTP side ---------------------------------------------------------------------------------


def projects_json(rows: list[Row]) -> list[dict[str, Any]]:
    """Projects with their tasks, from rows ordered by project."""
    found: list[dict[str, Any]] = []
    for project_id, name, description, task_id, title, done in rows:
        if not found or found[-1]["id"] != project_id:
            found.append({"id": project_id, "name": name, "description": description, "tasks": []})
        if task_id is not None:
            found[-1]["tasks"].append(
                {"id": task_id, "project_id": project_id, "title": title, "done": done}
            )
    return found


def not_found(project_id: int) -> JSONResponse:
    return JSONResponse({"detail": f"project {project_id} not found"}, status_code=404)


async def unavailable(_request: Request, _error: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def invalid(reason: str) -> JSONResponse:
    return JSONResponse({"detail": reason}, status_code=422)


def bounded_int(request: Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


async def list_projects(request: Request) -> JSONResponse:
    limit = bounded_int(request, "limit", 20, 1, 100)
    offset = bounded_int(request, "offset", 0, 0, 2**63 - 1)
    if limit is None or offset is None:
        return invalid("limit must be 1-100 and offset at least 0")
    return await page_answer(request, limit, offset)


async def read_project(request: Request) -> JSONResponse:
    return await project_answer(request, request.path_params["project_id"])


async def create_task(request: Request) -> JSONResponse:
    return await task_answer(request, request.path_params["project_id"])


async def page_answer(request: Request, limit: int, offset: int) -> JSONResponse:
    database: Database = request.app.state.database
    total, rows = await database.page(limit, offset)
    return JSONResponse(
        {"items": projects_json(rows), "total": total, "limit": limit, "offset": offset}
    )


async def project_answer(request: Request, project_id: int) -> JSONResponse:
    database: Database = request.app.state.database
    rows = await database.project(project_id)
    if not rows:
        return not_found(project_id)
    [project] = projects_json(rows)
    return JSONResponse(project)


async def task_answer(request: Request, project_id: int) -> JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return invalid("the body is not JSON")
    title = body.get("title") if isinstance(body, dict) else None
    done = body.get("done", False) if isinstance(body, dict) else None
    if not isinstance(title, str) or not 1 <= len(title) <= 200 or not isinstance(done, bool):
        return invalid("title must be 1-200 characters and done a boolean")
    database: Database = request.app.state.database
    try:
        task_id = await database.add_task(project_id, title, done)
    except Conflict:
        return JSONResponse(
            {"detail": "This project already has a task with this title."}, status_code=409
        )
    if task_id is None:
        return not_found(project_id)
    return JSONResponse(
        {"id": task_id, "project_id": project_id, "title": title, "done": done}, status_code=201
    )


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    driver = os.environ["BENCH_DRIVER"]
    app.state.database = await DRIVERS[driver](
        os.environ["BENCH_DATABASE_URL"], int(os.environ["BENCH_POOL_SIZE"])
    )
    # The generated app's garbage collector settings (its lifespan.py), so neither side gains
    # from them alone.
    gc.set_threshold(10_000)
    gc.freeze()
    try:
        yield
    finally:
        await app.state.database.close()


# As the app does: SQLite's "database is locked" is 503, not a 500 with a traceback.
EXCEPTION_HANDLERS = {sqlite3.OperationalError: unavailable}


def create_starlette_app() -> Starlette:
    """The same handlers, routed by Starlette alone: what the baseline costs without FastAPI."""
    return Starlette(
        exception_handlers=EXCEPTION_HANDLERS,
        routes=[
            Route("/projects", list_projects),
            Route("/projects/{project_id:int}", read_project),
            Route("/projects/{project_id:int}/tasks", create_task, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def create_app() -> Starlette:
    """The handlers behind FastAPI routes that declare the app's query and path parameters."""
    app = FastAPI(exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)

    @app.get("/projects")
    async def projects(request: Request, limit: Limit = 20, offset: Offset = 0) -> JSONResponse:
        return await page_answer(request, limit, offset)

    @app.get("/projects/{project_id}")
    async def project(request: Request, project_id: ProjectId) -> JSONResponse:
        return await project_answer(request, project_id)

    @app.post("/projects/{project_id}/tasks")
    async def task(request: Request, project_id: ProjectId) -> JSONResponse:
        return await task_answer(request, project_id)

    return app
