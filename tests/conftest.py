"""Rendering of the template for the tests, shared by all of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie
from tooling import ROOT

# Copier commits uncommitted template changes in a throw-away clone; that needs a git identity.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "pytest",
    "GIT_AUTHOR_EMAIL": "pytest@example.invalid",
    "GIT_COMMITTER_NAME": "pytest",
    "GIT_COMMITTER_EMAIL": "pytest@example.invalid",
}


class Renderer:
    """Renders the template (working tree, uncommitted changes included) with given answers.

    Successful renders are cached for the whole test session, so every combination is rendered
    once however many tests look at it.
    """

    def __init__(self, copie: Copie) -> None:
        self._copie = copie
        self._projects: dict[tuple[tuple[str, str], ...], Path] = {}

    def project(self, **answers: str) -> Path:
        """Render with `answers` (others take their defaults); return the generated app's root."""
        key = tuple(sorted(answers.items()))
        if key not in self._projects:
            result = self._copie.copy(extra_answers=answers, template_dir=ROOT)
            assert result.exit_code == 0, f"rendering {answers} failed: {result.exception!r}"
            assert result.project_dir is not None
            self._projects[key] = result.project_dir
        return self._projects[key]

    def rejection(self, **answers: str) -> str:
        """Render with answers that must be refused; return Copier's error message."""
        result = self._copie.copy(extra_answers=answers, template_dir=ROOT)
        assert result.exit_code != 0, f"{answers} were accepted"
        return str(result.exception)


@pytest.fixture(scope="session")
def render(copie_session: Copie) -> Iterator[Renderer]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        yield Renderer(copie_session)


@pytest.fixture(scope="module")
def git_identity() -> Iterator[None]:
    """For the modules that commit and run Copier themselves (`pytestmark`)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        yield
