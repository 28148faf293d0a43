"""The app rendered with every default answer passes its own test suite, and every command its
README.md and AGENTS.md tell a developer to run works in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from app_suite import Run, installed_copy, uv_commands
from conftest import Renderer

# ```sh fenced blocks of a Markdown file.
SHELL_BLOCK = re.compile(r"^ *```sh\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
DOCUMENTS = ("README.md", "AGENTS.md")


def documented_commands(project: Path) -> list[list[str]]:
    """Every `uv ...` command in the shell blocks of the documents, `&&` chains split apart."""
    commands = []
    for document in DOCUMENTS:
        for block in SHELL_BLOCK.findall((project / document).read_text(encoding="utf-8")):
            commands += uv_commands(block)
    return commands


@pytest.fixture(scope="module")
def default_app(render: Renderer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """A private copy of the default app (commands may write to it), installed with uv."""
    project = tmp_path_factory.mktemp("default") / "app"
    return project, installed_copy(render.project(), project)


@pytest.mark.slow
def test_default_app_passes_its_own_tests(default_app: tuple[Path, Run]) -> None:
    _, run = default_app

    output = run("uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider", "--cov").stdout

    assert "Required test coverage of" in output  # the gate in its pyproject.toml


@pytest.mark.slow
def test_every_documented_command_runs(default_app: tuple[Path, Run]) -> None:
    project, run = default_app
    commands = documented_commands(project)
    assert ["uv", "run", "pytest", "--cov"] in commands
    assert ["uv", "run", "alembic", "check"] in commands

    for command in commands:
        if command[:3] == ["uv", "run", "uvicorn"]:
            # A server does not return: check that the app factory it names imports and builds.
            module, _, factory = command[-1].partition(":")
            assert command[-2] == "--factory"
            run("uv", "run", "python", "-c", f"from {module} import {factory}; {factory}()")
        else:
            run(*command)
