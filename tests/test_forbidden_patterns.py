"""The generated app's forbidden-pattern test catches each pattern it promises to catch.

Each case copies the default app, adds one module with the bad code, and runs the app's own
`tests/test_forbidden_patterns.py`: it needs only pytest and the standard library, but a Python
that can parse the app's syntax (the default `python_version` or newer).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Renderer
from tooling import python_for_default_answer

BAD_MODULE = Path("src/task_tracker/bad.py")

CASES = {
    "legacy Query API": (
        "def count(session):\n    return session.query(Project).count()\n",
        2,
        ".query() is the legacy Query API",
    ),
    "sync Session": ("from sqlalchemy.orm import Session\n", 1, "sqlalchemy.orm.Session"),
    "sync sessionmaker, through a module alias": (
        "from sqlalchemy import orm\n\nmake_session = orm.sessionmaker\n",
        3,
        "sqlalchemy.orm.sessionmaker",
    ),
    "sync create_engine": (
        "import sqlalchemy as sa\n\n\ndef connect():\n    return sa.create_engine('sqlite://')\n",
        5,
        "sqlalchemy.create_engine",
    ),
    "scoped_session": ("from sqlalchemy.orm import scoped_session\n", 1, "scoped_session"),
    "async_scoped_session": (
        "from sqlalchemy.ext.asyncio import async_scoped_session\n",
        1,
        "async_scoped_session",
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


def run_check(project: Path) -> subprocess.CompletedProcess[str]:
    python = python_for_default_answer()
    uv = shutil.which("uv")
    if python is None or uv is None:
        pytest.skip("needs uv and a Python that can parse the default app")
    return subprocess.run(
        [
            *(uv, "run", "--no-project", "--python", python, "--with", "pytest", "--"),
            *("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest"),
            *("-c", "/dev/null", "--rootdir", str(project)),
            str(project / "tests" / "test_forbidden_patterns.py"),
        ],
        cwd=project,
        env={k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PYTHON"}},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def app_copy(render: Renderer, tmp_path: Path) -> Path:
    project = tmp_path / "app"
    shutil.copytree(render.project(), project)
    return project


def test_the_generated_app_passes_its_own_check(app_copy: Path) -> None:
    result = run_check(app_copy)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("code", "line", "message"), CASES.values(), ids=CASES.keys())
def test_the_check_fails_on_an_injected_pattern(
    app_copy: Path, code: str, line: int, message: str
) -> None:
    (app_copy / BAD_MODULE).write_text(code, encoding="utf-8")

    result = run_check(app_copy)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{BAD_MODULE}:{line}: " in result.stdout
    assert message in result.stdout
