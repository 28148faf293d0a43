"""`copier update` brings a new template version into an app its owner has edited."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from copier import run_copy, run_update
from tooling import ROOT

NEW_README_LINE = "A line that only the newer template version has."
OWNER_LINE = "# The owner's own note, which an update must keep."


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--no-verify", "--message", message)


@pytest.fixture
def template_with_two_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of this template's working tree, tagged 1.0.0, then changed and tagged 1.1.0."""
    for name, value in {
        "GIT_AUTHOR_NAME": "pytest",
        "GIT_AUTHOR_EMAIL": "pytest@example.invalid",
        "GIT_COMMITTER_NAME": "pytest",
        "GIT_COMMITTER_EMAIL": "pytest@example.invalid",
    }.items():
        monkeypatch.setenv(name, value)
    template = tmp_path / "template-repo"
    shutil.copytree(
        ROOT,
        template,
        ignore=shutil.ignore_patterns(".git", ".nox", ".venv", "*_cache", "__pycache__", "build"),
    )
    git(template, "init", "--quiet")
    commit_all(template, "first version")
    git(template, "tag", "1.0.0")
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text(encoding="utf-8") + f"\n{NEW_README_LINE}\n")
    commit_all(template, "second version")
    git(template, "tag", "1.1.0")
    return template


def test_update_keeps_answers_and_edits(template_with_two_versions: Path, tmp_path: Path) -> None:
    app = tmp_path / "app"
    run_copy(
        str(template_with_two_versions),
        app,
        data={"database_driver": "asyncpg", "data_access": "unit_of_work"},
        defaults=True,
        vcs_ref="1.0.0",
        quiet=True,
    )
    git(app, "init", "--quiet")
    main = app / "src" / "task_tracker" / "main.py"
    main.write_text(f"{OWNER_LINE}\n" + main.read_text(encoding="utf-8"))
    commit_all(app, "generated, then edited by its owner")

    run_update(app, defaults=True, overwrite=True, vcs_ref="1.1.0", quiet=True)

    answers = yaml.safe_load((app / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == "1.1.0"
    assert (answers["database_driver"], answers["data_access"]) == ("asyncpg", "unit_of_work")
    assert NEW_README_LINE in (app / "README.md").read_text(encoding="utf-8")
    assert main.read_text(encoding="utf-8").startswith(OWNER_LINE)
    assert (app / "src" / "task_tracker" / "unit_of_work.py").is_file()
