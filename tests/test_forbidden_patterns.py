"""The generated app's own checks catch each forbidden pattern they promise to catch.

Each case adds one module with the bad code to an installed copy of the default app and runs the
check that owns the pattern: `ruff check .` for the sync and implicitly shared APIs, banned by
import in the app's pyproject.toml (TID251), and `tests/test_forbidden_patterns.py` for what only
the app's syntax-tree scan sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from app_suite import Run, installed_copy
from conftest import Renderer

BAD_MODULE = Path("src/task_tracker/bad.py")
# --no-cache: every case rewrites the same file, possibly within one tick of its clock.
RUFF = ("uv", "run", "--no-sync", "ruff", "check", "--no-cache", "--output-format=concise", ".")
SCAN = (
    *("uv", "run", "--no-sync", "pytest", "-q", "--no-cov", "-p", "no:cacheprovider"),
    *("--noconftest", "tests/test_forbidden_patterns.py"),
)

BANNED = {
    "sync Session": ("from sqlalchemy.orm import Session\n", 1, "`sqlalchemy.orm.Session`"),
    "sync sessionmaker, through a module alias": (
        "from sqlalchemy import orm\n\nmake_session = orm.sessionmaker\n",
        3,
        "`sqlalchemy.orm.sessionmaker`",
    ),
    "sync create_engine": (
        "import sqlalchemy as sa\n\n\ndef connect():\n    return sa.create_engine('sqlite://')\n",
        5,
        "`sqlalchemy.create_engine`",
    ),
    "scoped_session": (
        "from sqlalchemy.orm import scoped_session\n",
        1,
        "`sqlalchemy.orm.scoped_session`",
    ),
    "async_scoped_session": (
        "from sqlalchemy.ext.asyncio import async_scoped_session\n",
        1,
        "`sqlalchemy.ext.asyncio.async_scoped_session`",
    ),
    "legacy Query class": ("from sqlalchemy.orm import Query\n", 1, "`sqlalchemy.orm.Query`"),
}
SCANNED = {
    "legacy Query API": (
        "def count(session):\n    return session.query(Project).count()\n",
        2,
        ".query() is the legacy Query API",
    ),
    "engine created outside the engine module": (
        "from sqlalchemy.ext.asyncio import create_async_engine\n",
        1,
        "engines are created only in engine.py",
    ),
    "session factory made at import time": (
        "from sqlalchemy.ext.asyncio import async_sessionmaker\n\nfactory = async_sessionmaker()\n",
        3,
        "made at import time",
    ),
    "session kept in a module-level variable": (
        "from sqlalchemy.ext.asyncio import AsyncSession\n\ncurrent: AsyncSession | None = None\n",
        3,
        "module-level session",
    ),
    "session kept in a global": (
        "current = None\n\n\ndef remember(session):\n    global current\n    current = session\n",
        5,
        "global current",
    ),
}


@pytest.fixture(scope="module")
def app(render: Renderer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    project = tmp_path_factory.mktemp("forbidden") / "app"
    return project, installed_copy(render.project(), project)


@pytest.fixture
def bad_module(app: tuple[Path, Run]) -> Iterator[Path]:
    """Where a case writes its code; removed afterwards, since the cases share one app."""
    path = app[0] / BAD_MODULE
    yield path
    path.unlink(missing_ok=True)


def test_the_generated_app_passes_its_own_checks(app: tuple[Path, Run]) -> None:
    _, run = app

    run(*RUFF)
    run(*SCAN)


@pytest.mark.parametrize(("code", "line", "name"), BANNED.values(), ids=BANNED.keys())
def test_ruff_fails_on_an_injected_banned_api(
    app: tuple[Path, Run], bad_module: Path, code: str, line: int, name: str
) -> None:
    _, run = app
    bad_module.write_text(code, encoding="utf-8")

    result = run(*RUFF, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    reported = [row for row in result.stdout.splitlines() if " TID251 " in row]
    assert any(
        row.startswith(f"{BAD_MODULE}:{line}:") and f"{name} is banned: " in row for row in reported
    ), result.stdout


@pytest.mark.parametrize(("code", "line", "message"), SCANNED.values(), ids=SCANNED.keys())
def test_the_scan_fails_on_an_injected_pattern(
    app: tuple[Path, Run], bad_module: Path, code: str, line: int, message: str
) -> None:
    _, run = app
    bad_module.write_text(code, encoding="utf-8")

    result = run(*SCAN, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{BAD_MODULE}:{line}: " in result.stdout
    assert message in result.stdout
