"""The README's quick start, run as written in a clean directory, makes an app that the update
command of that app's own README brings a template change into.

The block is read from README.md (the first `sh` block under "## Try it"), never copied here. It
runs in a throwaway repository holding the working tree (the clone a user would have made), with
an environment stripped of what this test session set up: no virtualenv on the path, no
PYENV_VERSION, so that on a pyenv machine the block's own first line has to make Python visible.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from app_suite import FOREIGN_VARIABLES
from conftest import GIT_IDENTITY
from template_repos import commit_all, git, snapshot
from tooling import ROOT

SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
TEMPLATE_CHANGE = "A line a later template version adds to every README."


def shell_block(markdown: str, heading: str) -> str:
    """The first `sh` block of the section under `heading` (a whole `## ...` line)."""
    section = markdown.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    found = SHELL_BLOCK.search(section)
    assert found is not None, f"no sh block under {heading!r}"
    return found[1]


def added_by_the_test_tooling(entry: str) -> bool:
    """Whether a PATH entry was put there by what runs this test, not by the user's shell: the
    session's virtualenv, uvx's environment of nox, or a Python that `pyenv exec` selected (pyenv's
    shims call it; a shell has only the shims and pyenv's own bin)."""
    path = Path(entry)
    if path == Path(sys.executable).parent or "archive-v0" in path.parts:
        return True
    pyenv_root = os.environ.get("PYENV_ROOT")
    if not pyenv_root or not path.is_relative_to(pyenv_root):
        return False
    return path.name != "shims" and path != Path(pyenv_root, "bin")


def clean_environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in FOREIGN_VARIABLES | {"PYENV_VERSION", "UV_PYTHON", "CONDA_PREFIX"}
    }
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and not added_by_the_test_tooling(entry)
    )
    return {**env, **GIT_IDENTITY}


def bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    """Run `script` with bash (stopping at the first failure); return what it printed."""
    completed = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"{script}\nexited with {completed.returncode}:\n{output}"
    return output


@pytest.mark.slow
def test_quick_start_makes_an_app_that_updates(tmp_path: Path) -> None:
    quick_start = shell_block(ROOT.joinpath("README.md").read_text(encoding="utf-8"), "## Try it")
    template = snapshot(tmp_path / "template")

    # The user goes on in the same shell: keep its environment (PYENV_VERSION) for the update.
    shell_env = tmp_path / "environment"
    bash(f'{quick_start}\nenv -0 > "{shell_env}"\n', cwd=template, env=clean_environment())
    variables = shell_env.read_text(encoding="utf-8").split("\0")
    env = dict(variable.split("=", 1) for variable in variables if "=" in variable)

    app = tmp_path / "my-app"
    answers = yaml.safe_load((app / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_src_path"] == str(template)  # absolute: found again from inside the app
    assert "uv.lock" in git(app, "ls-files").split()
    assert git(app, "status", "--porcelain") == ""  # so the update is not refused

    readme_template = template / "template" / "README.md.jinja"
    readme_template.write_text(
        readme_template.read_text(encoding="utf-8") + f"\n{TEMPLATE_CHANGE}\n", encoding="utf-8"
    )
    commit_all(template, "a later template version")
    app_readme = (app / "README.md").read_text(encoding="utf-8")
    update_block = shell_block(app_readme, "## Updating from the template")
    update_command = next(line for line in update_block.splitlines() if line.startswith("uvx "))

    output = bash(update_command, cwd=app, env=env)

    assert "every change merged, no conflicts" in output
    assert "Traceback" not in output
    assert "Warning" not in output
    assert f"\n{TEMPLATE_CHANGE}\n" in (app / "README.md").read_text(encoding="utf-8")
    updated = yaml.safe_load((app / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert updated["_commit"] == git(template, "rev-parse", "--short", "HEAD").strip()
    assert {key: value for key, value in updated.items() if key != "_commit"} == {
        key: value for key, value in answers.items() if key != "_commit"
    }


def test_quick_start_shows_pyenv_interpreters_first_newest_first() -> None:
    # Oldest first, `python3` would be pyenv's oldest (say 3.6) wherever no version is pinned.
    quick_start = shell_block(ROOT.joinpath("README.md").read_text(encoding="utf-8"), "## Try it")
    first, *rest = quick_start.splitlines()
    assert "export PYENV_VERSION=" in first
    assert "pyenv versions --bare | sort -rV |" in first
    assert not any("PYENV_VERSION" in line for line in rest)


DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    ROOT / "template" / "README.md.jinja",
    ROOT / "template" / "AGENTS.md.jinja",
]


def test_every_uvx_in_the_docs_asks_for_a_python_new_enough() -> None:
    # uvx otherwise runs the tool under the first interpreter it finds, which pyenv may make an
    # old one, with an old release of the tool (Copier 5, nox 2022) that fails on our options.
    unpinned = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in DOCUMENTS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\buvx (?!--python '>=3\.11' )", line)
    ]
    assert unpinned == []
