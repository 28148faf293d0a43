"""Count the SQL statements each benchmarked request sends, in-process, and print them as JSON.

    cd <generated app> && .venv/bin/python <bench>/count_statements.py app
    cd <generated app> && BENCH_DRIVER=... .venv/bin/python <bench>/count_statements.py baseline

A generated app is counted with its own `tests/statements.py` (an engine event); the baseline
by wrapping its driver's execute methods. BEGIN/COMMIT/ROLLBACK are not counted on either side.
Run it against a seeded database: it inserts one task.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
REQUESTS = {
    "list limit=1": ("GET", "/projects?limit=1", None),
    "list limit=20": ("GET", "/projects?limit=20", None),
    "list limit=100": ("GET", "/projects?limit=100", None),
    "detail": ("GET", "/projects/1", None),
    "post task": ("POST", "/projects/1000/tasks", {"title": "counted"}),
}


def package_name() -> str:
    for line in Path(".copier-answers.yml").read_text().splitlines():
        key, _, value = line.partition(": ")
        if key == "package_name":
            return value.strip().strip("'\"")
    raise SystemExit("no package_name in .copier-answers.yml: run this inside a generated app")


def app_counter(app: Any) -> Callable[[], AbstractContextManager[list[str]]]:
    from tests.statements import StatementCounter  # the generated app's helper

    @contextmanager
    def counting() -> Any:
        with StatementCounter(app.state.engine) as counter:
            yield counter.sql

    return counting


def baseline_counter(driver: str) -> Callable[[], AbstractContextManager[list[str]]]:
    """Wrap the methods through which the baseline reaches its driver."""
    statements: list[str] = []
    if driver == "asyncpg":
        import asyncpg

        owner: Any = asyncpg.connection.Connection
        names = ["fetch", "fetchrow", "fetchval", "execute"]
    elif driver == "psycopg":
        import psycopg

        owner, names = psycopg.AsyncConnection, ["execute"]
    else:
        import aiosqlite

        owner, names = aiosqlite.Connection, ["execute", "execute_fetchall"]
    for name in names:
        original = getattr(owner, name)

        def wrapper(self: Any, query: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            if not str(query).lstrip().upper().startswith(TRANSACTION_CONTROL):
                statements.append(str(query))
            return _original(self, query, *args, **kw)

        setattr(owner, name, wrapper)

    @contextmanager
    def counting() -> Any:
        statements.clear()
        yield statements

    return counting


async def main(kind: str) -> None:
    sys.path.insert(0, str(Path.cwd()))
    if kind == "app":
        app = importlib.import_module(f"{package_name()}.main").create_app()
    else:
        import os

        sys.path.insert(0, str(Path(__file__).parent))
        app = importlib.import_module("baseline").create_app()
        counting = baseline_counter(os.environ["BENCH_DRIVER"])
    counts = {}
    async with app.router.lifespan_context(app):
        if kind == "app":
            counting = app_counter(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for label, (method, path, body) in REQUESTS.items():
                with counting() as statements:
                    response = await client.request(method, path, json=body)
                    response.raise_for_status()
                    counts[label] = len(statements)
    print(json.dumps(counts))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
