"""Every combination ships its quality gates: a CI workflow, the coverage gate, its AGENTS.md."""

from __future__ import annotations

import tomllib

import pytest
import yaml
from conftest import Renderer
from test_rendering import MATRIX

POSTGRES_DRIVERS = {"asyncpg", "psycopg"}


@pytest.mark.parametrize("answers", MATRIX)
def test_ci_starts_postgresql_only_for_a_postgresql_driver(
    render: Renderer, answers: dict[str, str]
) -> None:
    project = render.project(**answers)
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())

    test_job = workflow["jobs"]["test"]
    commands = [step.get("run", "") for step in test_job["steps"]]
    assert ("services" in test_job) == (answers["database_driver"] in POSTGRES_DRIVERS)
    assert "uv run pytest --cov -n auto" in commands
    assert "uv run alembic upgrade head && uv run alembic check" in commands
    assert {"lint", "types", "test"} <= workflow["jobs"].keys()


@pytest.mark.parametrize("answers", MATRIX)
def test_coverage_gate_is_on_for_the_whole_suite(render: Renderer, answers: dict[str, str]) -> None:
    pyproject = tomllib.loads((render.project(**answers) / "pyproject.toml").read_text())

    coverage = pyproject["tool"]["coverage"]
    # Not in addopts: a run of one file passes when its tests pass (tests/test_app_test_runs.py).
    assert "--cov" not in pyproject["tool"]["pytest"]["ini_options"]["addopts"]
    assert coverage["run"]["branch"] is True
    assert coverage["report"]["fail_under"] >= 95
    assert any(
        dependency.startswith("pytest-cov") for dependency in pyproject["dependency-groups"]["dev"]
    )


@pytest.mark.parametrize("answers", MATRIX)
def test_agents_md_states_the_rules_of_its_answers(
    render: Renderer, answers: dict[str, str]
) -> None:
    agents = (render.project(**answers) / "AGENTS.md").read_text(encoding="utf-8")

    found = {
        "unit_of_work": "await uow.commit()" in agents,
        "request transaction": "get_session" in agents,
        "raise": 'lazy="raise"' in agents,
        "selectin": 'lazy="selectin"' in agents,
        "awaitable_attrs": "awaitable_attrs" in agents,
        "postgresql": "TEST_DATABASE_URL" in agents,
    }
    uses_uow = answers["data_access"] == "unit_of_work"
    policy = answers["lazy_loading"]
    assert found == {
        "unit_of_work": uses_uow,
        "request transaction": not uses_uow,
        "raise": policy == "raise",
        "selectin": policy == "selectin",
        "awaitable_attrs": policy == "awaitable_attrs",
        "postgresql": answers["database_driver"] in POSTGRES_DRIVERS,
    }
    assert f"lazy_loading={policy}" in agents
