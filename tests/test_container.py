"""Every app ships its container and compose files, and they run what its README documents.

No image is built here (no registry on the machines that run this); nox's `workflows` session
lints the Dockerfile with hadolint and validates compose.yaml and dependabot.yml against their
schemas. These tests check what a schema cannot: the commands, the stages, the wiring.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import Renderer
from test_rendering import DEFAULT_PACKAGE, DRIVERS, MATRIX, text_files
from tooling import ROOT

# The startup parameters the real PgBouncer of `nox -s resilience` ignores to accept the app's
# connections (resilience/pgbouncer.py); compose's PgBouncer must ignore the same.
IGNORE_STARTUP_PARAMETERS = re.findall(
    r'^IGNORE_STARTUP_PARAMETERS = "(.+)"$',
    (ROOT / "resilience" / "pgbouncer.py").read_text(encoding="utf-8"),
    re.MULTILINE,
)

POSTGRES_DRIVERS = {"asyncpg", "psycopg"}
START = ["python", "-m", DEFAULT_PACKAGE]
MIGRATE = ["alembic", "upgrade", "head"]
LIVE = "/health/live"


def stages(dockerfile: str) -> list[str]:
    """The Dockerfile's stages, each from its FROM line, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    return re.split(r"^(?=FROM )", joined, flags=re.MULTILINE)[1:]


def instruction(stage: str, name: str) -> list[str]:
    return [line[len(name) + 1 :] for line in stage.splitlines() if line.startswith(f"{name} ")]


def shell_blocks(readme: str) -> list[str]:
    """The commands of the README's ```sh blocks, one per line, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL):
        commands += [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    return commands


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_image_runs_the_commands_the_readme_documents(render: Renderer, driver: str) -> None:
    project = render.project(database_driver=driver)
    _build, final = stages((project / "Dockerfile").read_text(encoding="utf-8"))
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    readme_commands = shell_blocks((project / "README.md").read_text(encoding="utf-8"))

    # The documented commands, run as the README spells them.
    assert " ".join(START) in readme_commands
    assert " ".join(MIGRATE) in readme_commands
    assert (project / "src" / DEFAULT_PACKAGE / "__main__.py").is_file()
    # The image starts the production command; compose runs it, and the migrations before it.
    assert [json.loads(cmd) for cmd in instruction(final, "CMD")] == [START]
    services = compose["services"]
    assert services["app"]["command"] == START
    assert services["migrate"]["command"] == MIGRATE
    assert services["app"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    # The health check asks /health/live with Python (slim images have no curl).
    (healthcheck,) = instruction(final, "HEALTHCHECK")
    assert LIVE in healthcheck
    assert '"python", "-c"' in healthcheck
    assert "curl" not in healthcheck
    assert LIVE in (project / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_image_caches_dependencies_and_drops_its_tools(render: Renderer, driver: str) -> None:
    project = render.project(database_driver=driver)
    build, final = stages((project / "Dockerfile").read_text(encoding="utf-8"))

    runs = instruction(build, "RUN")
    dependencies = next(i for i, run in enumerate(runs) if "--no-install-project" in run)
    assert "uv sync --locked --no-dev --no-install-project" in runs[dependencies]
    # The dependency layer sees only the lock and pyproject.toml; the code comes after it.
    assert build.index("--no-install-project") < build.index("COPY . /app")
    assert "uv sync --locked --no-dev" in runs[dependencies + 1]
    assert final.startswith("FROM python:3.12-slim\n")
    assert "uv" not in re.findall(r"\b\w+\b", final.replace("/app/.venv", ""))
    assert not any("apt-get" in run for run in instruction(final, "RUN"))
    (user,) = instruction(final, "USER")
    assert user.split(":")[0] not in {"root", "0"}
    ignored = (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {".venv/", ".env", "tests/", "*.db"} <= set(ignored)
    assert (project / ".python-version").read_text(encoding="utf-8") == "3.12\n"


@pytest.mark.parametrize("driver", DRIVERS)
def test_compose_wires_the_database_of_the_driver(render: Renderer, driver: str) -> None:
    project = render.project(database_driver=driver)
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    app = services["app"]
    pgbouncer_env = project / "compose.pgbouncer.env"

    if driver not in POSTGRES_DRIVERS:
        assert set(services) == {"app", "migrate"}
        assert app["volumes"] == services["migrate"]["volumes"] == ["data:/app/data"]
        assert app["environment"]["DATABASE_URL"].startswith("sqlite+aiosqlite:////app/data/")
        assert not pgbouncer_env.exists()
        return
    assert set(services) == {"app", "migrate", "postgres", "pgbouncer"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["postgres"]["volumes"] == ["postgres:/var/lib/postgresql/data"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    # PgBouncer only in its profile, in transaction mode; the app reaches it by environment alone.
    assert services["pgbouncer"]["profiles"] == ["pgbouncer"]
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    ignored = services["pgbouncer"]["environment"]["IGNORE_STARTUP_PARAMETERS"]
    assert [ignored] == IGNORE_STARTUP_PARAMETERS
    assert app["environment"]["DATABASE_URL"].startswith("${APP_DATABASE_URL:-")
    assert app["environment"]["DATABASE_PGBOUNCER"] == "${APP_DATABASE_PGBOUNCER:-false}"
    switch = dict(
        line.split("=", 1)
        for line in pgbouncer_env.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert switch["APP_DATABASE_PGBOUNCER"] == "true"
    assert "@pgbouncer:6432/" in switch["APP_DATABASE_URL"]
    assert "--profile pgbouncer --env-file compose.pgbouncer.env" in (
        project / "README.md"
    ).read_text(encoding="utf-8")


@pytest.mark.parametrize("answers", MATRIX)
def test_deployment_files_have_no_stray_blank_lines(
    render: Renderer, answers: dict[str, str]
) -> None:
    files = text_files(render.project(**answers))
    names = {"Dockerfile", "compose.yaml", ".env.example", ".dockerignore", "dependabot.yml"}

    problems = []
    for path, text in files.items():
        if path.name not in names and path.suffix != ".env":
            continue
        if "\n\n\n" in text or text.startswith("\n") or not text.endswith("\n"):
            problems.append(str(path))
        if re.search(r"[ \t]$", text, flags=re.MULTILINE):
            problems.append(f"{path}: trailing whitespace")
    assert problems == []


def test_the_python_version_file_follows_the_answer(render: Renderer) -> None:
    project = render.project(python_version="3.13")

    assert (project / ".python-version").read_text(encoding="utf-8") == "3.13\n"
    assert "FROM python:3.13-slim AS build" in (project / "Dockerfile").read_text(encoding="utf-8")


def test_dependabot_updates_uv_and_actions(render: Renderer) -> None:
    for config_path in (
        render.project() / ".github" / "dependabot.yml",
        Path(__file__).resolve().parents[1] / ".github" / "dependabot.yml",
    ):
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        ecosystems = {update["package-ecosystem"] for update in config["updates"]}
        assert ecosystems == {"uv", "github-actions"}, config_path
