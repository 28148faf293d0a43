"""Checks of the Copier template. A bare `uvx nox` runs all of them, in this order:

* template_tests            the template's own tests (tests/), ruff on the Python outside template/
* app(<driver>-<lazy>-<access>)
                            every combination of database_driver x lazy_loading x data_access,
                            rendered and checked with the generated app's own tooling (ruff,
                            mypy, pytest, alembic) under the default python_version
* app_python(<version>)     the default combination under each python_version choice; skipped
                            when that interpreter is not installed
* app_lowest(<driver>)      the default choices per driver, installed with the lowest versions
                            the generated pyproject.toml allows (uv --resolution lowest-direct)
* app_observability(<driver>)
                            the default choices per driver with observability=opentelemetry
                            (the tracing variant is checked once per driver, not per combination)
* docs                      the documentation site (mkdocs build --strict), its code samples
                            taken from freshly rendered apps by docs/hooks/rendered.py
* workflows                 the GitHub workflows (the template's and a rendered app's per driver)
                            against the workflow schema, pre-commit's config; the apps' Dockerfile
                            (hadolint), compose.yaml and dependabot.yml (their schemas)
* resilience                fault injection (database cut, stalled, pool exhausted, cancelled
                            requests, shutdown, server restarted, crashed, out of connection
                            slots) on a private PostgreSQL server, and schemathesis against
                            running apps; see docs/resilience.md
* summary                   a table of every cell; fails if a cell failed or did not run

Not run by a bare `nox`: `nox -s bench`, generated apps against raw-driver baselines under wrk
(bench/, docs/benchmark.md); `nox -s release -- <version>`, which tags a release after checking
CHANGELOG.md (docs/updating.md).

One cell alone:  uvx nox -s "app(aiosqlite-raise-session)"
PostgreSQL cells use the server at $PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
and drop and re-create their own two databases there ($TEMPLATE_DB_PREFIX, default tpl, + cell);
they drop them again when the cell ends, passed or failed (TEMPLATE_KEEP_DATABASES=1 keeps them).
A cell that fails while the server has few free connection slots says so in its note.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))
from tooling import changelog_sections, find_python, read_choice_questions  # noqa: E402

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
QUESTIONS = read_choice_questions(ROOT / "copier.yml")
MATRIX = ("database_driver", "lazy_loading", "data_access")
COMBINATIONS = list(itertools.product(*(QUESTIONS[name].choices for name in MATRIX)))
DEFAULT_COMBINATION = tuple(str(QUESTIONS[name].default) for name in MATRIX)
PYTHON_VERSIONS = QUESTIONS["python_version"].choices
DRIVERS = QUESTIONS["database_driver"].choices
DEFAULT_PYTHON = str(QUESTIONS["python_version"].default)
POSTGRES_DRIVERS = frozenset({"asyncpg", "psycopg"})
PG_URL = os.environ.get("PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Prefix of the databases the cells create, so that two checkouts can run at once on one server.
DB_PREFIX = os.environ.get("TEMPLATE_DB_PREFIX", "tpl")
PG_START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

# Every session of one `nox` invocation shares this id (parallel workers inherit it through the
# environment); the summary ignores result rows written by earlier runs.
RUN_ID = os.environ.setdefault("TEMPLATE_NOX_RUN_ID", uuid.uuid4().hex)

# The checks run inside each generated app, in order; each is one timed step.
APP_CHECKS: tuple[tuple[str, ...], ...] = (
    ("ruff", "check", "."),
    ("ruff", "format", "--check", "."),
    ("mypy",),
    # The whole suite, so under the app's coverage gate (which a run of one file is not).
    ("pytest", "-q", "--cov"),
    ("alembic", "upgrade", "head"),
    ("alembic", "check"),
    ("alembic", "downgrade", "base"),
    # A new revision runs alembic.ini's post-write hooks (an Alembic too old for them fails here);
    # Alembic's own output is not formatted, so the check below fails if they did not run.
    ("alembic", "revision", "-m", "post-write hooks"),
    ("ruff", "format", "--check", "migrations"),
)

# PostgreSQL cells run the app's tests on two pytest-xdist workers (the CI machine has two cores),
# each on a database of its own (the app's tests/conftest.py), so that this path stays tested.
PARALLEL_PYTEST = ("-n", "2")

# Copier commits uncommitted template changes in a throw-away clone; make that commit work on
# machines without a git identity.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "nox",
    "GIT_AUTHOR_EMAIL": "nox@example.invalid",
    "GIT_COMMITTER_NAME": "nox",
    "GIT_COMMITTER_EMAIL": "nox@example.invalid",
}

# `python -c DATABASES create|drop|slots ADMIN_URL [NAME...]`, in a session with psycopg. Prints
# the server's connection slots in use and its limit first ("SLOTS <used> <max_connections>").
DATABASES = """
import sys

import psycopg
from psycopg import sql

action, admin_url, *names = sys.argv[1:]
try:
    conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
except psycopg.OperationalError as exc:
    print("UNREACHABLE", " ".join(str(exc).split()))
    raise SystemExit(3) from None
drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
create = sql.SQL("CREATE DATABASE {}")
with conn:
    used, limit = conn.execute(
        "SELECT count(*), current_setting('max_connections')::int FROM pg_stat_activity"
        " WHERE backend_type = 'client backend'"
    ).fetchone()
    print("SLOTS", used, limit)
    for name in names:
        conn.execute(drop.format(sql.Identifier(name)))
        if action == "create":
            conn.execute(create.format(sql.Identifier(name)))
        print(f"{action}d database", name)
"""

# The server refuses a connection past its limit with SQLSTATE 53300 and one of these messages.
NO_SLOT_MESSAGES = ("too many clients", "remaining connection slots are reserved")
# Fewer free slots than this when a cell fails: the note names the limit as the likely cause. A
# PostgreSQL cell runs the app's tests on two workers, each with a pool and an admin connection.
FEW_FREE_SLOTS = 10
KEEP_DATABASES = os.environ.get("TEMPLATE_KEEP_DATABASES", "") not in {"", "0"}


def _combination_id(combination: tuple[str, ...]) -> str:
    return "-".join(combination)


def _expected_cells() -> list[str]:
    return [
        "template_tests",
        *(f"app({_combination_id(c)})" for c in COMBINATIONS),
        *(f"app_python({version})" for version in PYTHON_VERSIONS),
        *(f"app_lowest({driver})" for driver in DRIVERS),
        *(f"app_observability({driver})" for driver in DRIVERS),
        "docs",
        "workflows",
        "resilience",
    ]


def _envdir(session: nox.Session) -> Path:
    # cache_dir is <envdir>/.cache, relative to the directory nox started in: make it absolute,
    # since the app's commands run inside the app.
    return Path(session.cache_dir).resolve().parent


def _results_dir(session: nox.Session) -> Path:
    path = _envdir(session) / "_results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _result_file(session: nox.Session, cell: str) -> Path:
    return _results_dir(session) / (re.sub(r"[^A-Za-z0-9.]+", "-", cell).strip("-") + ".json")


class Cell:
    """Times the steps of one checked cell and writes its result row for `summary`."""

    def __init__(self, session: nox.Session, name: str, combination: str, python: str) -> None:
        self.session = session
        self.name = name
        self.combination = combination
        self.python = python
        self.started = time.perf_counter()
        self.steps: dict[str, float] = {}
        self.current_step: str | None = None
        self.note: str | None = None  # why it failed, when a step can tell
        # Databases this cell created on the PostgreSQL server, dropped when it ends.
        self.databases: list[str] = []
        self.free_slots_at_start: tuple[int, int] | None = None  # (free, max_connections)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.current_step = name
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = round(time.perf_counter() - started, 2)
            self.session.log(f"{self.name}: {name} took {self.steps[name]:.1f}s")
        self.current_step = None  # reached only when the step succeeded

    def write(self, result: str, *, note: str | None = None) -> None:
        seconds = round(time.perf_counter() - self.started, 1)
        row = {
            "run_id": RUN_ID,
            "cell": self.name,
            "combination": self.combination,
            "python": self.python,
            "result": result,
            "seconds": seconds,
            "failed_step": self.current_step if result == "fail" else None,
            "note": note,
            "steps": self.steps,
        }
        _result_file(self.session, self.name).write_text(json.dumps(row, indent=2) + "\n")
        self.session.log(f"{self.name}: {result} in {seconds:.1f}s")


@contextmanager
def recorded(cell: Cell) -> Iterator[None]:
    """Write `pass`, or `fail` with the step that was running, whatever happens inside.

    The databases the cell created are dropped either way; a failure with the server short of
    connection slots says so in the note.
    """
    result = "fail"
    try:
        yield
        result = "pass"
    finally:
        said = cell.note is not None and "53300" in cell.note
        slots_note = _connection_slots_note(cell) if result == "fail" and not said else None
        if slots_note:
            cell.note = f"{slots_note} | {cell.note}" if cell.note else slots_note
        if cell.databases:
            _drop_databases(cell.session, cell.databases)
        cell.write(result, note=cell.note)


def _postgres_url(database: str) -> str:
    return urlsplit(PG_URL)._replace(path=f"/{database}").geturl()


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def _databases_script(session: nox.Session, action: str, names: list[str]) -> str:
    """Run DATABASES; its output, or "UNREACHABLE <why>" (also when the script itself fails)."""
    try:
        output = session.run(
            *("python", "-c", DATABASES, action, PG_URL, *names),
            silent=True,
            success_codes=[0, 3],
            log=False,
        )
    except CommandFailed as error:
        return f"UNREACHABLE {error.reason or 'the database script failed'}"
    return output if isinstance(output, str) else ""


def _slots(output: str) -> tuple[int, int] | None:
    """(used, max_connections) from the script's SLOTS line."""
    match = re.search(r"^SLOTS (\d+) (\d+)$", output, re.MULTILINE)
    return (int(match[1]), int(match[2])) if match else None


def _refused_for_slots(output: str) -> bool:
    return output.startswith("UNREACHABLE") and any(m in output for m in NO_SLOT_MESSAGES)


def _create_databases(session: nox.Session, names: list[str], cell: Cell | None = None) -> None:
    """Drop and create `names`; a cell drops them again when it ends (recorded)."""
    session.log(f"(re)creating databases {', '.join(names)} at {_redacted(PG_URL)}")
    if cell is not None:
        cell.databases += [name for name in names if name not in cell.databases]
    output = _databases_script(session, "create", names)
    if output.startswith("UNREACHABLE"):
        detail = output.removeprefix("UNREACHABLE").strip()
        if _refused_for_slots(output):
            if cell is not None:
                cell.note = "PostgreSQL refused a connection: no free slot (SQLSTATE 53300)"
            session.error(
                f"PostgreSQL at {_redacted(PG_URL)} refused a connection, all its slots are "
                f"taken (SQLSTATE 53300): {detail}\nClose the other clients' connections or "
                "raise max_connections, then run again."
            )
        session.error(
            f"PostgreSQL is not reachable at {_redacted(PG_URL)}: {detail}\n"
            f"Start the local server with `{PG_START_HINT}`, "
            "or point PG_URL at a reachable server (PG_URL=postgresql://user@host:5432/postgres)."
        )
    if (slots := _slots(output)) is not None:
        used, limit = slots
        if cell is not None:
            cell.free_slots_at_start = (limit - used, limit)
        if limit - used < FEW_FREE_SLOTS:
            session.warn(
                f"PostgreSQL at {_redacted(PG_URL)} has {limit - used} of {limit} connection "
                "slots free: this cell may fail with 'too many clients' (SQLSTATE 53300)."
            )


def _drop_databases(session: nox.Session, names: list[str]) -> None:
    """Drop `names` (WITH (FORCE)); never raises, so that a cell's own failure stays the one
    reported."""
    if KEEP_DATABASES:
        session.log(f"keeping databases {', '.join(names)} (TEMPLATE_KEEP_DATABASES)")
        return
    output = _databases_script(session, "drop", names)
    if output.startswith("UNREACHABLE"):
        session.warn(f"could not drop databases {', '.join(names)}: {output[12:].strip()}")
    else:
        session.log(f"dropped databases {', '.join(names)}")


def _connection_slots_note(cell: Cell) -> str | None:
    """After a failure: the server's connection slots, when they are the likely cause."""
    if not cell.databases:  # not a PostgreSQL cell
        return None
    output = _databases_script(cell.session, "slots", [])
    at_start = cell.free_slots_at_start
    before = "" if at_start is None else f"; {at_start[0]} of {at_start[1]} free when it began"
    if _refused_for_slots(output):
        return f"PostgreSQL refused connections after the failure: no free slot (53300){before}"
    slots = _slots(output)
    if slots is None:
        return None
    free, limit = slots[1] - slots[0], slots[1]
    if free >= FEW_FREE_SLOTS and (at_start is None or at_start[0] >= FEW_FREE_SLOTS):
        return None
    return (
        f"PostgreSQL had {free} of {limit} connection slots free after the failure{before}: "
        "likely 'too many clients' (SQLSTATE 53300)"
    )


def render_app(session: nox.Session, answers: dict[str, str], app_dir: Path) -> None:
    """Render the template's working tree with `answers` into `app_dir`."""
    data = [f"--data={name}={value}" for name, value in answers.items()]
    # --vcs-ref=HEAD renders the working tree: Copier includes uncommitted changes of HEAD.
    session.run(
        *("copier", "copy", "--quiet", "--defaults", "--vcs-ref=HEAD", *data),
        *(str(ROOT), str(app_dir)),
        env=GIT_IDENTITY,
    )
    # A generated app lives in a repository of its own. Without one, tools that honour
    # .gitignore (ruff) would apply this repository's, which ignores .nox/, and skip the app.
    session.run("git", "init", "--quiet", str(app_dir), external=True)


def sync_app(
    session: nox.Session, python: str, env: dict[str, str | None], resolution: str = "highest"
) -> None:
    """Install the app in the current directory into its own .venv."""
    session.run(
        *("uv", "sync", "--python", python, "--resolution", resolution), external=True, env=env
    )


def install_app(
    session: nox.Session,
    cell: Cell,
    answers: dict[str, str],
    python: str,
    *,
    resolution: str = "highest",
    name: str = "app",
) -> tuple[Path, dict[str, str | None]]:
    """Render the template with `answers` into `<tmp>/<name>` and install it with uv.

    Returns the app's folder and the environment its commands run with (its own databases).
    """
    driver = answers["database_driver"]
    suffix = "" if name == "app" else f" {name}"  # step names of a cell with several apps
    app_dir = Path(session.create_tmp()).resolve() / name
    shutil.rmtree(app_dir, ignore_errors=True)  # create_tmp() is reused between runs

    env: dict[str, str | None] = {
        # The app's commands use the app's own .venv, not the session's (which nox points uv at).
        "VIRTUAL_ENV": None,
        "UV_PROJECT_ENVIRONMENT": None,
        "UV_PYTHON": None,
        # Shared by the cells of one Python and resolution: site-packages are analysed once.
        "MYPY_CACHE_DIR": str(_envdir(session) / "_mypy_cache" / f"{cell.python}-{resolution}"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{app_dir}/app.db",
        "TEST_DATABASE_URL": None,  # the SQLite tests use a temporary file of their own
    }

    with cell.step("install tools"):
        groups = ["render", "postgres"] if driver in POSTGRES_DRIVERS else ["render"]
        session.install(*nox.project.dependency_groups(PYPROJECT, *groups))

    if driver in POSTGRES_DRIVERS:
        label = cell.combination if name == "app" else f"{cell.name}_{name}"
        database = f"{DB_PREFIX}_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
        with cell.step(f"create databases{suffix}"):
            _create_databases(session, [database, f"{database}_test"], cell)
        env["DATABASE_URL"] = _postgres_url(database)
        env["TEST_DATABASE_URL"] = _postgres_url(f"{database}_test")

    with cell.step(f"render{suffix}"):
        render_app(session, answers, app_dir)

    with session.chdir(app_dir), cell.step(f"uv sync{suffix}"):
        sync_app(session, python, env, resolution)
    return app_dir, env


def check_app(
    session: nox.Session,
    cell: Cell,
    answers: dict[str, str],
    python: str,
    *,
    resolution: str = "highest",
) -> None:
    """Render the template with `answers` and run the generated app's own checks."""
    app_dir, env = install_app(session, cell, answers, python, resolution=resolution)
    with session.chdir(app_dir):
        for command in APP_CHECKS:
            if command[0] == "pytest" and answers["database_driver"] in POSTGRES_DRIVERS:
                command = (*command, *PARALLEL_PYTEST)
            with cell.step(" ".join(command)):
                session.run("uv", "run", "--no-sync", *command, external=True, env=env)


def _python_or_fail(session: nox.Session, cell: Cell) -> str:
    python = find_python(cell.python)
    if python is None:
        cell.current_step = "find python"
        cell.write("fail")
        session.error(f"Python {cell.python} not found (tried uv, pyenv and PATH); install it.")
    return python


@nox.session
def template_tests(session: nox.Session) -> None:
    """The template's own tests, and ruff on every Python file outside template/."""
    cell = Cell(
        session, "template_tests", "tests/ + ruff", f"{sys.version_info[0]}.{sys.version_info[1]}"
    )
    with recorded(cell):
        with cell.step("install tools"):
            session.install(*nox.project.dependency_groups(PYPROJECT, "test", "lint"))
        with cell.step("ruff check"):
            session.run("ruff", "check", ".")
        with cell.step("ruff format --check"):
            session.run("ruff", "format", "--check", ".")
        with cell.step("pytest"):
            session.run("pytest", *session.posargs, env=GIT_IDENTITY)


@nox.session
@nox.parametrize(list(MATRIX), COMBINATIONS, ids=[_combination_id(c) for c in COMBINATIONS])
def app(session: nox.Session, database_driver: str, lazy_loading: str, data_access: str) -> None:
    """One combination of the design choices, under the default Python version."""
    combination = (database_driver, lazy_loading, data_access)
    cell = Cell(
        session,
        f"app({_combination_id(combination)})",
        _combination_id(combination),
        DEFAULT_PYTHON,
    )
    python = _python_or_fail(session, cell)
    with recorded(cell):
        check_app(session, cell, dict(zip(MATRIX, combination, strict=True)), python)


@nox.session
@nox.parametrize("python_version", PYTHON_VERSIONS, ids=list(PYTHON_VERSIONS))
def app_python(session: nox.Session, python_version: str) -> None:
    """The default combination rendered for, and run under, each supported Python version."""
    combination = f"{_combination_id(DEFAULT_COMBINATION)} py{python_version}"
    cell = Cell(session, f"app_python({python_version})", combination, python_version)
    python = find_python(python_version)
    if python is None:
        cell.write("skip", note=f"Python {python_version} is not installed")
        session.skip(f"Python {python_version} is not installed on this machine")
    answers = dict(zip(MATRIX, DEFAULT_COMBINATION, strict=True))
    with recorded(cell):
        check_app(session, cell, {**answers, "python_version": python_version}, python)


@nox.session
@nox.parametrize("database_driver", DRIVERS, ids=list(DRIVERS))
def app_lowest(session: nox.Session, database_driver: str) -> None:
    """The lowest dependency versions the generated pyproject.toml claims to support."""
    _check_driver_defaults(
        session, "app_lowest", database_driver, "lowest", resolution="lowest-direct"
    )


@nox.session
@nox.parametrize("database_driver", DRIVERS, ids=list(DRIVERS))
def app_observability(session: nox.Session, database_driver: str) -> None:
    """The default choices of each driver with OpenTelemetry tracing (observability question).

    Tracing touches the app factory, the lifespan, the logs and the settings, never the data
    layer, so one combination per driver checks it; the 27 cells stay at the default, none.
    """
    _check_driver_defaults(
        session,
        "app_observability",
        database_driver,
        "opentelemetry",
        answers={"observability": "opentelemetry"},
    )


def _check_driver_defaults(
    session: nox.Session,
    name: str,
    database_driver: str,
    label: str,
    *,
    answers: dict[str, str] | None = None,
    resolution: str = "highest",
) -> None:
    """The cell `name(database_driver)`: the default choices with that driver and `answers`,
    installed with `resolution`; `label` follows the combination in the summary."""
    matrix = {
        **dict(zip(MATRIX, DEFAULT_COMBINATION, strict=True)),
        "database_driver": database_driver,
    }
    cell = Cell(
        session,
        f"{name}({database_driver})",
        f"{_combination_id(tuple(matrix.values()))} {label}",
        DEFAULT_PYTHON,
    )
    python = _python_or_fail(session, cell)
    with recorded(cell):
        check_app(session, cell, {**matrix, **(answers or {})}, python, resolution=resolution)


# The docs hook reads rendered code with `ast`: it needs a Python that parses what the default
# python_version allows (PEP 695 generics from 3.12 on).
DOCS_PYTHON = find_python(DEFAULT_PYTHON)


@nox.session(python=DOCS_PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site, built with --strict from apps rendered for its code samples."""
    cell = Cell(session, "docs", "mkdocs build --strict", DEFAULT_PYTHON)
    if DOCS_PYTHON is None:
        _python_or_fail(session, cell)
    with recorded(cell):
        with cell.step("install tools"):
            session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
        with cell.step("mkdocs build --strict"):
            # The banner about Material's end of life is printed on every build; it is not ours.
            session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def workflows(session: nox.Session) -> None:
    """GitHub Actions workflows (the template's, and a rendered app's per driver) against the
    workflow schema check-jsonschema ships, and the app's pre-commit configuration; the apps'
    Dockerfile (hadolint), compose.yaml and dependabot.yml (schemas)."""
    cell = Cell(
        session, "workflows", "schema + pre-commit", f"{sys.version_info[0]}.{sys.version_info[1]}"
    )
    with recorded(cell):
        with cell.step("install tools"):
            session.install(*nox.project.dependency_groups(PYPROJECT, "render", "workflows"))
        tmp = Path(session.create_tmp()).resolve()
        apps = {driver: tmp / f"app-{driver}" for driver in DRIVERS}
        with cell.step("render"):
            for driver, app_dir in apps.items():
                shutil.rmtree(app_dir, ignore_errors=True)
                render_app(session, {"database_driver": driver}, app_dir)
        with cell.step("check-jsonschema"):
            workflow_files = [
                *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
                *(app_dir / ".github" / "workflows" / "ci.yml" for app_dir in apps.values()),
            ]
            session.run(
                *("check-jsonschema", "--builtin-schema", "vendor.github-workflows"),
                *(str(path) for path in workflow_files),
            )
        with cell.step("pre-commit validate-config"):
            session.run(
                "pre-commit", "validate-config", str(apps["aiosqlite"] / ".pre-commit-config.yaml")
            )
        # Container and dependency-update files: no image is built (no registry here), so the
        # Dockerfile is linted and the rest validated against the schemas check-jsonschema ships.
        # tests/test_container.py checks the commands they run against the app's README.
        with cell.step("hadolint, compose and dependabot schemas"):
            session.run("hadolint", *(str(app_dir / "Dockerfile") for app_dir in apps.values()))
            session.run(
                *("check-jsonschema", "--builtin-schema", "vendor.compose-spec"),
                *(str(app_dir / "compose.yaml") for app_dir in apps.values()),
            )
            session.run(
                *("check-jsonschema", "--builtin-schema", "vendor.dependabot"),
                str(ROOT / ".github" / "dependabot.yml"),
                *(str(app_dir / ".github" / "dependabot.yml") for app_dir in apps.values()),
            )


# The fault-injection suite (resilience/): the default answers of each driver, plus a unit of work.
RESILIENCE_COMBINATIONS = [
    *((driver, *DEFAULT_COMBINATION[1:]) for driver in DRIVERS),
    ("asyncpg", DEFAULT_COMBINATION[1], "unit_of_work"),
]


@nox.session
def resilience(session: nox.Session) -> None:
    """Running apps under database faults, overload and shutdown; schemathesis on their schemas.

    The faults run on a PostgreSQL server of their own (resilience/pgserver.py: initdb, pg_ctl,
    removed at the end); the databases here, at $PG_URL, are schemathesis's. The asyncpg and
    psycopg apps also run behind a real PgBouncer in transaction mode (resilience/pgbouncer.py,
    docs/guides/pgbouncer.md). See docs/resilience.md. Prints a table per app and scenario; fails
    if an invariant breaks.
    """
    cell = Cell(session, "resilience", f"{len(RESILIENCE_COMBINATIONS)} apps", DEFAULT_PYTHON)
    python = _python_or_fail(session, cell)
    with recorded(cell):
        apps = []
        for combination in RESILIENCE_COMBINATIONS:
            answers = dict(zip(MATRIX, combination, strict=True))
            name = _combination_id(combination)
            app_dir, env = install_app(session, cell, answers, python, name=name)
            with session.chdir(app_dir), cell.step(f"alembic upgrade head {name}"):
                session.run(
                    "uv", "run", "--no-sync", "alembic", "upgrade", "head", external=True, env=env
                )
            apps.append({"name": name, "driver": combination[0], "path": str(app_dir), **env})
        manifest = Path(session.create_tmp()).resolve() / "apps.json"
        manifest.write_text(json.dumps(apps, indent=2))
        with cell.step("install suite"):
            session.install(*nox.project.dependency_groups(PYPROJECT, "resilience"))
        with cell.step("bad input (schemathesis)"):
            bad_input = nox.project.dependency_groups(PYPROJECT, "bad-input")
            for app in apps:
                if app["name"] != _combination_id((app["driver"], *DEFAULT_COMBINATION[1:])):
                    continue
                app_python = str(Path(app["path"]) / ".venv" / "bin" / "python")
                session.run(
                    "uv",
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    app_python,
                    *bad_input,
                    external=True,
                )
                session.run(
                    app_python,
                    str(ROOT / "resilience" / "bad_input.py"),
                    external=True,
                    env={**app, "VIRTUAL_ENV": None},
                )
        with cell.step("SQLite writers: 4 uvicorn workers, 32 clients"):
            # Exits non-zero on any 5xx or any 201 whose row is not in the database afterwards.
            for app in apps:
                if app["driver"] == "aiosqlite":
                    session.run(
                        str(Path(app["path"]) / ".venv" / "bin" / "python"),
                        str(ROOT / "resilience" / "sqlite_writers.py"),
                        app["path"],
                        *("--requests", "1000", "--clients", "32", "--workers", "4"),
                        external=True,
                        env={"VIRTUAL_ENV": None},
                    )
        with cell.step("PgBouncer: transaction pooling, 4 uvicorn workers"):
            # Installs Debian's pgbouncer if missing (as root).
            _run_breach_script(session, cell, "pgbouncer.py", manifest)
        with cell.step("fault injection"):
            _run_breach_script(session, cell, "run.py", manifest)


def _run_breach_script(session: nox.Session, cell: Cell, script: str, manifest: Path) -> None:
    """resilience/<script> on the apps of `manifest`; when it exits non-zero on a breach, the
    breaches it wrote become the cell's note."""
    breaches = manifest.with_name(f"{Path(script).stem}-breaches.txt")
    try:
        session.run(
            *("python", str(ROOT / "resilience" / script), str(manifest)),
            *("--breaches", str(breaches)),
        )
    except CommandFailed:
        if breaches.exists():
            cell.note = " | ".join(breaches.read_text().splitlines())
        raise


@nox.session(venv_backend="none")
def summary(session: nox.Session) -> None:
    """Table of every cell of this run; fails if any failed or has no result."""
    rows = {}
    for path in sorted(_results_dir(session).glob("*.json")):
        row = json.loads(path.read_text())
        if row.get("run_id") == RUN_ID:
            rows[row["cell"]] = row

    table = [("cell", "python", "result", "seconds", "failed step / note")]
    problems = []
    total = 0.0
    for name in _expected_cells():
        row = rows.get(name)
        if row is None:
            table.append((name, "", "NOT RUN", "", "no result from this run"))
            problems.append(name)
            continue
        total += row["seconds"]
        detail = ": ".join(part for part in (row["failed_step"], row["note"]) if part)
        table.append((name, row["python"], row["result"].upper(), f"{row['seconds']:.1f}", detail))
        if row["result"] not in {"pass", "skip"}:
            problems.append(name)

    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    rule = "-+-".join("-" * width for width in widths)
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in table
    ]
    print("\n".join([lines[0], rule, *lines[1:], rule]))
    print(f"total: {total:.1f}s over {len(rows)} cells (venv creation excluded)")

    failed = [name for name in problems if name in rows]
    missing = [name for name in problems if name not in rows]
    passed = sum(row["result"] == "pass" for row in rows.values())
    skipped = sum(row["result"] == "skip" for row in rows.values())
    print(f"cells: {passed} passed, {len(failed) + len(missing)} failed, {skipped} skipped")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    if missing:
        print(f"NOT RUN in this nox invocation: {len(missing)} cell(s); run a bare `uvx nox`.")
    if problems:
        session.error(f"{len(failed)} cell(s) failed, {len(missing)} did not run")


# The apps `bench` measures: each driver with the default answers, and asyncpg with unit_of_work.
BENCH_COMBINATIONS = [
    (driver, *DEFAULT_COMBINATION[1:]) for driver in ("asyncpg", "psycopg", "aiosqlite")
] + [("asyncpg", DEFAULT_COMBINATION[1], "unit_of_work")]


@nox.session(default=False, venv_backend="uv")
def bench(session: nox.Session) -> None:
    """Generated apps against hand-written raw-driver baselines, under wrk; prints a table.

    Not part of a bare `nox`; options go to bench/run.py: `nox -s bench -- --seconds 5`.
    """
    if shutil.which("wrk") is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            session.run("apt-get", "install", "-y", "wrk", external=True)
        else:
            session.error(
                "The benchmark drives the servers with wrk: install it (Debian/Ubuntu: "
                "`sudo apt-get install -y wrk`, macOS: `brew install wrk`) and run again."
            )
    _run_bench(session, "run.py", BENCH_COMBINATIONS)


@nox.session(default=False, venv_backend="uv")
def bench_instructions(session: nox.Session) -> None:
    """Instructions per request (valgrind), app against baselines: a ratio load can't move.

    Not part of a bare `nox`; the asyncpg app with the default answers (list, detail, POST), also
    with the garbage collector untuned and with idiomatic ORM-entity reads; about 15 minutes.
    """
    if shutil.which("valgrind") is None:
        session.error("valgrind is not installed: `sudo apt-get install -y valgrind`, then again.")
    _run_bench(session, "instructions.py", BENCH_COMBINATIONS[:1])


def _run_bench(session: nox.Session, script: str, combinations: list[tuple[str, ...]]) -> None:
    """Render and install `combinations`, create the database, run bench/`script` on them."""
    python = find_python(DEFAULT_PYTHON)
    if python is None:
        session.error(f"Python {DEFAULT_PYTHON} not found (tried uv, pyenv and PATH); install it.")
    session.install(*nox.project.dependency_groups(PYPROJECT, "render", "postgres"))
    workdir = Path(session.create_tmp()).resolve()
    # The apps are installed into their own .venv, not the session's (which nox points uv at).
    env: dict[str, str | None] = {
        "VIRTUAL_ENV": None,
        "UV_PROJECT_ENVIRONMENT": None,
        "UV_PYTHON": None,
    }
    apps = []
    for combination in combinations:
        app_dir = workdir / _combination_id(combination)
        shutil.rmtree(app_dir, ignore_errors=True)
        render_app(session, dict(zip(MATRIX, combination, strict=True)), app_dir)
        with session.chdir(app_dir):
            sync_app(session, python, env)
        apps.append(str(app_dir))
    database = f"{DB_PREFIX}_bench"
    _create_databases(session, [database])
    try:
        session.run(
            *("python", str(ROOT / "bench" / script), *apps),
            *("--pg-url", _postgres_url(database), "--sqlite-dir", str(workdir / "sqlite")),
            *session.posargs,
        )
    finally:
        _drop_databases(session, [database])


@nox.session(default=False, venv_backend="none")
def release(session: nox.Session) -> None:
    """Tag a release: `nox -s release -- 0.3.0` (docs/updating.md, "For template maintainers").

    Refuses unless the work tree is clean, the version is PEP 440, in normal form and newer than
    every tag, and CHANGELOG.md has a dated entry for it, right under an `[Unreleased]` section
    with no entries left. Then creates the annotated tag on HEAD, its message the entry.
    """
    # nox depends on packaging, so its environment has it.
    from packaging.version import InvalidVersion, Version

    if len(session.posargs) != 1:
        session.error("Name the version: nox -s release -- 0.3.0")
    version = session.posargs[0]
    try:
        parsed = Version(version)
    except InvalidVersion:
        session.error(f"{version!r} is not a PEP 440 version (0.3.0, 1.0.0rc1, ...)")
    if str(parsed) != version:
        session.error(f"Write the version in its normal form, {parsed}, as Copier will show it")

    def git(*args: str) -> str:
        return str(session.run("git", *args, external=True, silent=True))

    def as_version(tag: str) -> Version | None:
        try:
            return Version(tag)
        except InvalidVersion:
            return None

    dirty = git("status", "--porcelain")
    if dirty.strip():
        session.error(f"The work tree is not clean; commit or remove first:\n{dirty}")
    tags = [tag for tag in git("tag", "--list").split() if tag]
    if version in tags:
        session.error(f"Tag {version} exists already")
    newer = [tag for tag in tags if (released := as_version(tag)) and released >= parsed]
    if newer:
        session.error(f"{version} is not newer than the release(s) {', '.join(newer)}")

    sections = changelog_sections((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    entries = {name: (date, body) for name, date, body in sections}
    if version not in entries:
        session.error(
            f"CHANGELOG.md has no `## [{version}] - YYYY-MM-DD` section: move the entries of"
            " [Unreleased] there, say what an update changes and which answers migrate, commit"
        )
    date, body = entries[version]
    if date is None:
        session.error(f"Date the CHANGELOG.md heading of {version}: `## [{version}] - YYYY-MM-DD`")
    if not re.search(r"^\s*[-*] ", body, re.MULTILINE):
        session.error(f"The CHANGELOG.md section of {version} lists no change")
    names = [name for name, _, _ in sections]
    if names[:2] != ["Unreleased", version]:
        session.error(f"CHANGELOG.md must start with [Unreleased], then [{version}]: {names[:2]}")
    if re.search(r"^\s*[-*] ", entries["Unreleased"][1], re.MULTILINE):
        session.error(f"[Unreleased] of CHANGELOG.md still has entries: move them to [{version}]")

    git("tag", "--annotate", "--cleanup=whitespace", version, "--message", f"{version}\n\n{body}")
    session.log(f"Tagged {git('rev-parse', '--short', 'HEAD').strip()} as {version}.")
    session.log(f"Publish it: git push origin HEAD {version}")
