"""Commands that `copier update --trust` runs around an update (`_migrations` in copier.yml).

Copier runs this script under its own interpreter, in the app's directory:
`python copier_migrations.py <command> <answers file> [argument]`.

- before the new version is rendered: `check_package_name` refuses a `--data package_name=...`
  change, then each answer migration (`rename_description`) rewrites the recorded answers so that
  the new version's questions find them; Copier then renders with those answers and writes the
  answers file afresh;
- after the merge: `report_update` lists the files the owner has to finish.

None of them is gated on a version: each runs on every update and does nothing when there is
nothing to do. Copier would compare a `version:` with the PEP 440 version it derives from
`git describe`, and in a template clone without tags every commit is 0.0.0.postN: an app from
before a rename would then never cross the rename's release, and would lose the answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml  # a dependency of Copier, whose interpreter runs this script

Answers = dict[str, Any]

# The labels Copier gives the two sides of an inline conflict (`--conflict inline`, the default).
CONFLICT_MARKERS = (b"<<<<<<< before updating", b">>>>>>> after updating")
CONFLICTS_HINT = """\
Conflict markers: keep what you need of your side (<<<<<<< before updating) and of the
template's (>>>>>>> after updating), then delete the marker lines, in:"""
REJECTED_HINT = """\
Changes of yours that did not apply (--conflict rej): make them by hand if you still need them,
then delete:"""


def read_answers(answers_file: str) -> Answers:
    answers = yaml.safe_load(Path(answers_file).read_text(encoding="utf-8"))
    return answers if isinstance(answers, dict) else {}


def rename_description(answers_file: str) -> None:
    """0.2.0 renamed the question `description` to `project_description`.

    Why the rename: `description` is also a column of the example domain (`Project.description`),
    which the same templates render (models, schemas, migrations); the answer now reads as what
    it is, next to `project_name`. Why the migration: without it Copier would treat the new
    question as unanswered, and an update (with `--defaults`) would put the default description
    into the app's pyproject.toml and README. An app that already has `project_description` is
    left alone, so running this on every update is harmless.
    """
    path = Path(answers_file)
    text = path.read_text(encoding="utf-8")
    answers = read_answers(answers_file)
    if "description" not in answers or "project_description" in answers:
        return
    answers["project_description"] = answers.pop("description")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    path.write_text(header + yaml.safe_dump(answers, allow_unicode=True), encoding="utf-8")
    print("Answer `description` renamed to `project_description` (0.2.0).", file=sys.stderr)


def check_package_name(answers_file: str, requested: str = "") -> None:
    """Refuse `--data package_name=<other>` before anything is written.

    The app's own modules import the recorded name and would be left behind in `src/<old>/`
    (docs/updating.md says how to rename by hand). The validator of `package_name` in copier.yml
    refuses the change too, and is what an interactive update meets; with `--data`, Copier would
    show its error with a traceback, while a failing command here ends the update with this
    message and leaves the app untouched.
    """
    recorded = read_answers(answers_file).get("package_name")
    if not requested or recorded is None or requested == recorded:
        return
    print(
        f'package_name cannot change in an update: the app\'s own modules import "{recorded}" '
        f"and would be left behind in src/{recorded}/. Rename the package by hand (git mv, fix "
        "the imports, set package_name in .copier-answers.yml), commit, then update.\n"
        "Nothing was changed.",
        file=sys.stderr,
    )
    raise SystemExit(1)


def git_files(*args: str) -> list[str]:
    """Paths (relative to the current directory) that `git ls-files <args>` lists, once each."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", *args], check=True, capture_output=True
    ).stdout.decode()
    return sorted({path for path in listed.split("\0") if path})


def has_conflict_markers(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as lines:
        return any(line.rstrip() in CONFLICT_MARKERS for line in lines)


def report_update(answers_file: str) -> None:
    """After every update: name each file that has conflict markers or is a `.rej` file.

    Copier merges in silence; without this the owner finds what is left to do with `git status`,
    or not at all (a `.rej` file next to a file that looks merged).
    """
    del answers_file  # the report reads the work tree, not the answers
    conflicted = [
        path
        for path in git_files("--cached", "--others", "--exclude-standard")
        if has_conflict_markers(Path(path))
    ]
    # Ignored files too: a `*.rej` rule in .gitignore must not hide one.
    rejected = git_files("--others", "--", "*.rej")
    versions = f"{os.environ.get('VERSION_FROM', '?')} -> {os.environ.get('VERSION_TO', '?')}"
    left = len(conflicted) + len(rejected)
    if not left:
        print(f"\nUpdate {versions}: every change merged, no conflicts.", file=sys.stderr)
        return
    lines = [f"\nUpdate {versions}: {left} file{'s' * (left > 1)} to finish by hand."]
    if conflicted:
        lines.append(CONFLICTS_HINT)
        lines += [f"  {path}" for path in conflicted]
    if rejected:
        lines.append(REJECTED_HINT)
        lines += [f"  {path}" for path in rejected]
    print("\n".join(lines), file=sys.stderr)


COMMANDS: dict[str, Callable[..., None]] = {
    "check_package_name": check_package_name,
    "rename_description": rename_description,
    "report_update": report_update,
}


if __name__ == "__main__":
    if len(sys.argv) not in {3, 4} or sys.argv[1] not in COMMANDS:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(COMMANDS)}}} ANSWERS_FILE [ARGUMENT]")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
