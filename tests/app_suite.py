"""Running a generated app's own test suite, as its README says, from the template's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tooling import python_for_default_answer

# Variables of the caller's environment that would point uv or the app elsewhere.
FOREIGN_VARIABLES = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "DATABASE_URL", "TEST_DATABASE_URL"}


def run_own_test_suite(project: Path) -> None:
    """`uv sync` then `uv run pytest` inside `project` (an app rendered with the default
    python_version and SQLite); fail with their output if either fails."""
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to install the generated app (pip install uv)"
    python = python_for_default_answer()
    if python is None:
        pytest.skip("no Python interpreter new enough for the default python_version")
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN_VARIABLES}

    def run(*command: str) -> None:
        completed = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 0, (
            f"`{' '.join(command)}` exited with {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )

    run(uv, "sync", "--python", python)
    run(uv, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider")
