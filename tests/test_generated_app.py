"""The app rendered with every default answer passes its own test suite."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import Renderer
from tooling import python_for_default_answer


@pytest.mark.slow
def test_default_app_passes_its_own_tests(render: Renderer) -> None:
    project = render.project()
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to install the generated app (pip install uv)"
    python = python_for_default_answer()
    if python is None:
        pytest.skip("no Python interpreter new enough for the default python_version")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "DATABASE_URL", "TEST_DATABASE_URL"}
    }

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
