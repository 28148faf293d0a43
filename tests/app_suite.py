"""Installing a generated app and running its commands, as its README says, from the template's
tests."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tooling import python_for_default_answer

# Variables of the caller's environment that would point uv or the app elsewhere.
FOREIGN_VARIABLES = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "DATABASE_URL", "TEST_DATABASE_URL"}

Run = Callable[..., subprocess.CompletedProcess[str]]


def installed_app(project: Path) -> Run:
    """`uv sync` inside `project` (an app rendered with the default python_version); return a
    function that runs a command there and fails the test with its output if it fails."""
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to install the generated app (pip install uv)"
    python = python_for_default_answer()
    if python is None:
        pytest.skip("no Python interpreter new enough for the default python_version")
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN_VARIABLES}
    env["UV_PYTHON"] = python

    def run(
        *command: str, check: bool = True, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` in the app, with `extra_env` added to its environment; unless `check` is
        false, fail the test if it fails."""
        completed = subprocess.run(
            command,
            cwd=project,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        assert not check or completed.returncode == 0, (
            f"`{shlex.join(command)}` exited with {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
        return completed

    run(uv, "sync")
    return run


def installed_copy(source: Path, project: Path) -> Run:
    """Copy the rendered app `source` to `project` (commands may write to it; the rendered app is
    shared between tests) and install it there, as `installed_app` does."""
    shutil.copytree(
        source, project, ignore=shutil.ignore_patterns(".git", ".venv", "*.db", "__pycache__")
    )
    return installed_app(project)


def run_own_test_suite(project: Path) -> str:
    """Install `project` and run its own test suite, under its coverage gate; return pytest's
    output."""
    run = installed_app(project)
    return run("uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider", "--cov").stdout


def uv_commands(shell: str) -> list[list[str]]:
    """The `uv ...` commands of a shell snippet, `&&` chains split apart, comments dropped."""
    found = []
    for line in shell.splitlines():
        command: list[str] = []
        for word in [*shlex.split(line, comments=True), "&&"]:
            if word != "&&":
                command.append(word)
                continue
            if command[:1] == ["uv"]:
                found.append(command)
            command = []
    return found
