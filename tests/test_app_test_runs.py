"""The ways a developer runs a generated app's tests: one file without the coverage gate, the
whole suite with it, and in parallel (pytest-xdist), on PostgreSQL with a database per worker."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest
from app_suite import installed_copy
from conftest import Renderer

PG_URL = os.environ.get("PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Two checkouts may run their tests at once on one server (see noxfile.py).
DB_PREFIX = os.environ.get("TEMPLATE_DB_PREFIX", "tpl")

pytestmark = pytest.mark.slow


def databases_named_like(prefix: str) -> list[str]:
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix]
        ).fetchall()
    return sorted(name for (name,) in rows)


def test_one_file_runs_without_the_gate_and_the_whole_suite_with_it(
    render: Renderer, tmp_path: Path
) -> None:
    run = installed_copy(render.project(), tmp_path / "app")

    one_file = run(
        "uv", "run", "--no-sync", "pytest", "-p", "no:cacheprovider", "tests/test_health.py"
    )
    gated = run(
        *("uv", "run", "--no-sync", "pytest", "-p", "no:cacheprovider"),
        *("tests/test_health.py", "--cov"),
        check=False,
    )

    assert " passed" in one_file.stdout
    assert "coverage" not in one_file.stdout.lower()
    # The same file under `--cov`, as CI runs the whole suite, is below the gate and fails.
    assert gated.returncode != 0
    assert "FAIL Required test coverage of 95" in gated.stdout


def test_sqlite_suite_runs_in_parallel(render: Renderer, tmp_path: Path) -> None:
    run = installed_copy(render.project(), tmp_path / "app")

    completed = run(
        *("uv", "run", "--no-sync", "pytest", "-p", "no:cacheprovider", "-n", "2", "--cov")
    )

    assert "2 workers" in completed.stdout  # each with a database file of its own
    assert "Required test coverage of 95.0% reached" in completed.stdout


def test_postgresql_suite_runs_in_parallel_on_a_database_per_worker(
    render: Renderer, tmp_path: Path
) -> None:
    run = installed_copy(render.project(database_driver="asyncpg"), tmp_path / "app")
    database = f"{DB_PREFIX}_xdist"
    test_url = PG_URL.rsplit("/", 1)[0] + f"/{database}"
    # Sharing one database, the workers' migrations and committing tests break each other's.
    completed = run(
        *("uv", "run", "--no-sync", "pytest", "-p", "no:cacheprovider", "-n", "2", "--cov"),
        extra_env={"TEST_DATABASE_URL": test_url},
    )

    assert "2 workers" in completed.stdout
    assert "Required test coverage of 95.0% reached" in completed.stdout
    # The workers' databases (`<name>_gw0`, `<name>_gw1`) were dropped at the end of the run.
    assert databases_named_like(f"{database}_gw") == []


def test_an_unreachable_server_stops_a_parallel_run_at_once(
    render: Renderer, tmp_path: Path
) -> None:
    run = installed_copy(render.project(database_driver="asyncpg"), tmp_path / "app")

    started = time.monotonic()
    completed = run(
        *("uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"),
        extra_env={"TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"},
        check=False,
    )

    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert "Cannot reach PostgreSQL at postgresql://postgres@127.0.0.1:1/test" in completed.stdout
    assert "INTERNALERROR" not in completed.stdout + completed.stderr
    assert time.monotonic() - started < 60
