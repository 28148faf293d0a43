"""The generated app's guards bite: each test injects the defect a guard exists for into a
rendered app and shows the app's own suite failing on it (and passing without it).

Also: no rendered file relies on SQLAlchemy's private names, which a release may change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from app_suite import Run, installed_copy
from conftest import Renderer
from test_rendering import DEFAULT_PACKAGE, MATRIX, choices, text_files

# SQLAlchemy's markers between its modules, e.g. the greenlet provider flag `await_` looks for.
SQLALCHEMY_DUNDER = re.compile(r"__sqlalchemy_\w*")


# Imports from SQLAlchemy: `from sqlalchemy.x import a, b` (parenthesised lists too) and
# `import sqlalchemy.x`.
FROM_IMPORT = re.compile(r"^\s*from\s+(sqlalchemy[\w.]*)\s+import\s+(\([^)]*\)|[^\n]*)", re.M)
PLAIN_IMPORT = re.compile(r"^\s*import\s+(sqlalchemy[\w.]*)", re.M)
# `owner._name`: a single leading underscore, not a dunder.
PRIVATE_ATTRIBUTE = re.compile(r"\b(\w+)\.(_(?!_)\w*)")


def private_sqlalchemy_names(source: str) -> list[str]:
    """Private SQLAlchemy names a Python source uses: modules or names with a leading underscore
    imported from `sqlalchemy`, single-underscore attributes of any object but self/cls
    (`row._mapping`, `session._proxied`), and SQLAlchemy's `__sqlalchemy_*` markers.

    Regular expressions rather than `ast`: the apps' syntax may be newer than this Python's.
    """
    found = SQLALCHEMY_DUNDER.findall(source)
    for module, names in FROM_IMPORT.findall(source):
        found += [part for part in module.split(".") if part.startswith("_")]
        found += [name for name in re.findall(r"\w+", names) if name.startswith("_")]
    for module in PLAIN_IMPORT.findall(source):
        found += [part for part in module.split(".") if part.startswith("_")]
    found += [
        f"{owner}.{name}"
        for owner, name in PRIVATE_ATTRIBUTE.findall(source)
        if owner not in {"self", "cls"}
    ]
    return found


@pytest.mark.parametrize(
    "source",
    [
        "class Worker(greenlet):\n    __sqlalchemy_greenlet_provider__ = True\n",
        "from sqlalchemy.util._concurrency_py3k import greenlet_spawn\n",
        "from sqlalchemy.util import (\n    greenlet_spawn,\n    _concurrency_py3k,\n)\n",
        "import sqlalchemy._private\n",
        "def read(row):\n    return row._mapping\n",
        "async def raw(session):\n    return session._proxied\n",
    ],
)
def test_the_scan_finds_private_sqlalchemy_names(source: str) -> None:
    assert private_sqlalchemy_names(source)


def test_the_scan_lets_public_code_and_own_private_attributes_pass() -> None:
    source = (
        "from sqlalchemy import select\n"
        "from sqlalchemy.orm import selectinload\n"
        "class Repository:\n"
        "    def __init__(self, session):\n"
        "        self._session = session\n"
        "    def __repr__(self):\n"
        "        return type(self).__name__\n"
    )
    assert private_sqlalchemy_names(source) == []


@pytest.mark.parametrize("answers", MATRIX)
def test_no_rendered_file_names_a_private_sqlalchemy_name(
    render: Renderer, answers: dict[str, str]
) -> None:
    findings = []
    for path, text in text_files(render.project(**answers)).items():
        names = (
            private_sqlalchemy_names(text)
            if path.suffix == ".py"
            else SQLALCHEMY_DUNDER.findall(text)
        )
        findings += [f"{path}: {name}" for name in names]
    assert findings == []


def private_copy(render: Renderer, tmp_path: Path, **answers: str) -> tuple[Path, Run]:
    project = tmp_path / "app"
    return project, installed_copy(render.project(**answers), project)


def pytest_in(run: Run, *arguments: str) -> tuple[int, str]:
    """The app's pytest on `arguments`."""
    completed = run(
        *("uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"),
        *arguments,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def inject(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name} changed: cannot inject the defect"
    path.write_text(text.replace(old, new), encoding="utf-8")


# The list read written with an N+1: the page's projects as ORM objects, then each project's
# tasks loaded by a query of their own.
N_PLUS_ONE_READ = """
async def read_page(connection: AsyncConnection, *, limit: int, offset: int) -> ProjectPage:
    from sqlalchemy.ext.asyncio import AsyncSession

    total = await connection.scalar(PROJECT_COUNT)
    async with AsyncSession(connection) as session:
        page = select(Project).order_by(Project.id).limit(limit).offset(offset)
        found = (await session.scalars(page)).all()
        for project in found:
            await session.refresh(project, ["tasks"])
        items = [ProjectRead.model_validate(project) for project in found]
    return ProjectPage(items=items, total=total or 0, limit=limit, offset=offset)
"""


@pytest.mark.slow
@pytest.mark.parametrize("lazy_loading", choices("lazy_loading"))
def test_the_statement_budget_fails_on_an_n_plus_one_read(
    render: Renderer, tmp_path: Path, lazy_loading: str
) -> None:
    project, run = private_copy(render, tmp_path, lazy_loading=lazy_loading)
    budget = "tests/test_query_budget.py::test_a_page_of_1_or_50_projects_costs_the_same"
    assert pytest_in(run, budget)[0] == 0

    queries = project / "src" / DEFAULT_PACKAGE / "queries.py"
    text = queries.read_text(encoding="utf-8")
    start = text.index("\nasync def read_page(")
    end = text.index("\n\n\nasync def ", start + 1)
    queries.write_text(text[:start] + N_PLUS_ONE_READ + text[end:], encoding="utf-8")
    status, output = pytest_in(run, budget)

    assert status != 0, output
    assert "1 failed" in output, output
    # What fails is the comparison of the two counts: the fifty projects' grew with the page.
    fifty, one = map(int, re.findall(r"assert (\d+) == (\d+)", output)[-1])
    assert fifty > one, output


@pytest.mark.slow
def test_a_unit_of_work_left_without_commit_fails_the_suite(
    render: Renderer, tmp_path: Path
) -> None:
    project, run = private_copy(render, tmp_path, data_access="unit_of_work")
    tests = "tests/test_projects.py"
    assert pytest_in(run, tests)[0] == 0

    routes = project / "src" / DEFAULT_PACKAGE / "api" / "projects.py"
    inject(
        routes,
        "        task = await uow.tasks.add(Task(project_id=project_id, **body.model_dump()))\n"
        "        await uow.commit()\n",
        "        task = await uow.tasks.add(Task(project_id=project_id, **body.model_dump()))\n",
    )
    status, output = pytest_in(run, tests)

    assert status != 0, output
    assert "UncommittedWorkError" in output, output
