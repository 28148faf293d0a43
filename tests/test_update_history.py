"""Apps generated from real earlier commits of this template keep every answer and every edit of
their owner when `copier update` brings them to the working tree, whatever tags the template has.

Copier runs a migration that names a `version:` only when the update crosses it, comparing the
PEP 440 versions it reads with `git describe`; in a template clone without tags every commit is
0.0.0.postN and no release is ever crossed. So each case below picks a tag layout for a clone of
this checkout's history (its own tags removed first: a CI clone may have none) and a commit to
generate from, tagged or not, before or after the 0.2.0 rename of `description`.

Besides the answers and edits, each update must bring every file the working tree generates that
the earlier commit did not (0.3.0 added the Dockerfile, compose.yaml, .env.example, logs.py, ...)
and leave every file its owner did not edit exactly as a fresh copy has it: no conflict anywhere,
since the owner's edits and the template's changes never touch the same lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import GIT_IDENTITY
from copier import run_copy, run_update
from template_repos import commit_all, git, has_commit, history_snapshot

BEFORE_0_1_0 = "d32be55331e55b60f8a688a99c2580f6a72fb32c"  # the parent of 0.1.0, never tagged
AT_0_1_0 = "46ae38ec4ecf5a290752c9e959680fcfb10a7b7f"  # the last commit asking `description`
AT_0_2_0 = "6a816600353ef3faeb4ee3c95c265b2c1544f561"  # the rename to `project_description`
AT_0_3_0 = "5a5afafd4f1d2ce4faf0f6f8df98c64a6a6c2588"  # the deployment files and logs
RELEASES = {"0.1.0": AT_0_1_0, "0.2.0": AT_0_2_0, "0.3.0": AT_0_3_0}
# In the tagged clone the working tree is the next release.
NEXT = "0.4.0"
# Files that an update from a release must bring among others, by the release's commit.
ADDED_SINCE = {
    AT_0_2_0: (
        "Dockerfile",
        ".dockerignore",
        "compose.yaml",
        "compose.pgbouncer.env",
        ".env.example",
        ".python-version",
        ".github/dependabot.yml",
        "src/chores/__main__.py",
        "src/chores/logs.py",
        "src/chores/db/observability.py",
    ),
}
# Files an answer brings, whatever release the app came from.
ADDED_BY = {
    ("observability", "opentelemetry"): ("src/chores/telemetry.py", "tests/test_telemetry.py"),
}
# The answers of questions added since the oldest release, as the update records them.
NEW_DEFAULTS = {"observability": "none"}

# Every answer differs from its default, so that an answer reset to its default shows.
ANSWERS = {
    "project_name": "Chore Board",
    "package_name": "chores",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.org",
    "python_version": "3.13",
    "database_driver": "psycopg",
    "lazy_loading": "selectin",
    "data_access": "repository",
}
DESCRIPTION = "Tracks who does which chore"

OWNER_PITCH = "Chores, fairly shared.\n"
NOTE_MODEL = '''class Note(Base):
    """A free-text note: the owner's own model, above the example domain."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)


'''
OWN_MODULE = '"""The owner\'s own module: no release ever generates it."""\n\nSHARE = 3\n'
OWN_MIGRATION = '"""Add notes (the owner\'s own migration)."""\n\nrevision = "0002"\n'


@dataclass(frozen=True)
class Case:
    tags: bool  # the template clone has the tags of RELEASES, or none
    generated_from: str  # a tag of RELEASES, or a commit
    description_key: str  # the question that recorded the description at that commit
    # Answers the update changes (`copier update --data`), for a question the release added.
    update_data: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        layout = "tagged" if self.tags else "no-tags"
        origin = self.generated_from if self.tags and self.generated_from in RELEASES else "commit"
        changed = "".join(f"-{key}={value}" for key, value in self.update_data)
        return f"{layout}-{origin}-{self.description_key}{changed}"


CASES = [
    # The case of issue 19: untagged app, untagged template, from before the rename.
    Case(tags=False, generated_from=AT_0_1_0, description_key="description"),
    # After the rename: the migration finds nothing to do.
    Case(tags=False, generated_from=AT_0_2_0, description_key="project_description"),
    # Untagged, older than any tag (0.0.0.postN), in a template that has tags.
    Case(tags=True, generated_from=BEFORE_0_1_0, description_key="description"),
    Case(tags=True, generated_from="0.1.0", description_key="description"),
    Case(tags=True, generated_from="0.2.0", description_key="project_description"),
    # The previous release: an update to the next one, keeping the new question's default, or
    # answering it (its files arrive).
    Case(tags=True, generated_from="0.3.0", description_key="project_description"),
    Case(
        tags=True,
        generated_from="0.3.0",
        description_key="project_description",
        update_data=(("observability", "opentelemetry"),),
    ),
]


def answers_of(app: Path) -> dict[str, str]:
    return yaml.safe_load((app / ".copier-answers.yml").read_text(encoding="utf-8"))


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` outside .git, by POSIX path, with its text."""
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def conflicts_left(app: Path) -> list[str]:
    return [
        path.relative_to(app).as_posix()
        for path in sorted(app.rglob("*"))
        if path.is_file()
        and ".git" not in path.relative_to(app).parts
        and (
            path.suffix == ".rej"
            or re.search(r"^(<<<<<<<|>>>>>>>) ", path.read_text(encoding="utf-8"), re.MULTILINE)
        )
    ]


@pytest.fixture(scope="module", autouse=True)
def needs_history_and_identity() -> Iterator[None]:
    if not all(has_commit(revision) for revision in (BEFORE_0_1_0, *RELEASES.values())):
        pytest.skip("needs this repository's history (a full clone: fetch-depth 0)")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def template_clones(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """The history and the working tree, without tags and with the tags of RELEASES."""
    clones = {}
    for tags in (False, True):
        repo = history_snapshot(tmp_path_factory.mktemp("history") / "template")
        if tags:
            for tag, revision in RELEASES.items():
                git(repo, "tag", "--annotate", "--message", tag, tag, revision)
            git(repo, "tag", "--annotate", "--message", NEXT, NEXT, "HEAD")
        clones[tags] = repo
    return clones


@pytest.fixture(scope="module")
def fresh_copy(
    template_clones: dict[bool, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[dict[str, str]], dict[str, str]]:
    """The files of a copy of the working tree with ANSWERS, DESCRIPTION and `extra` answers
    (rendered once per `extra`)."""
    copies: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def files(extra: dict[str, str]) -> dict[str, str]:
        key = tuple(sorted(extra.items()))
        if key not in copies:
            app = tmp_path_factory.mktemp("fresh") / "app"
            data = {**ANSWERS, "project_description": DESCRIPTION, **extra}
            run_copy(str(template_clones[False]), app, data=data, defaults=True, quiet=True)
            copies[key] = tree(app)
        return copies[key]

    return files


@pytest.mark.parametrize("case", CASES, ids=str)
def test_update_to_the_working_tree_keeps_every_answer_and_edit(
    case: Case,
    template_clones: dict[bool, Path],
    fresh_copy: Callable[[dict[str, str]], dict[str, str]],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo = template_clones[case.tags]
    app = tmp_path / "app"
    recorded = {**ANSWERS, case.description_key: DESCRIPTION}
    run_copy(str(repo), app, data=recorded, defaults=True, vcs_ref=case.generated_from, quiet=True)
    generated = answers_of(app)
    assert {key: generated[key] for key in recorded} == recorded
    if case.generated_from not in RELEASES:
        # Recorded as Copier saw it: a bare commit, or `<tag>-<n>-g<hash>` (never a release).
        assert generated["_commit"] not in RELEASES

    package = app / "src" / "chores"
    as_generated = tree(app)
    git(app, "init", "--quiet")
    commit_all(app, "generated")
    readme = (app / "README.md").read_text(encoding="utf-8")
    assert f"\n{DESCRIPTION}.\n" in readme
    (app / "README.md").write_text(readme.replace(f"\n{DESCRIPTION}.\n", f"\n{OWNER_PITCH}"))
    models = (package / "models.py").read_text(encoding="utf-8")
    assert models.count("\nclass Project(Base):\n") == 1
    (package / "models.py").write_text(
        models.replace("\nclass Project(", f"\n{NOTE_MODEL}class Project(")
    )
    (package / "notes.py").write_text(OWN_MODULE)
    (app / "migrations" / "versions" / "0002_add_notes.py").write_text(OWN_MIGRATION)
    commit_all(app, "the owner's work")
    edited = {
        path: (app / path).read_text(encoding="utf-8")
        for path in (
            "README.md",
            "src/chores/models.py",
            "src/chores/notes.py",
            "migrations/versions/0002_add_notes.py",
        )
    }
    capfd.readouterr()

    changed = dict(case.update_data)
    run_update(app, data=changed, defaults=True, overwrite=True, unsafe=True, quiet=True)

    report = capfd.readouterr().err
    answers = answers_of(app)
    head = NEXT if case.tags else git(repo, "describe", "--tags", "--always").strip()
    assert answers == {
        **ANSWERS,
        **NEW_DEFAULTS,
        **changed,
        "project_description": DESCRIPTION,
        "_commit": head,
        "_src_path": str(repo),
    }
    assert f'description = "{DESCRIPTION}"' in (app / "pyproject.toml").read_text()
    assert conflicts_left(app) == []
    assert "every change merged, no conflicts" in report
    # The files the owner edited are a fresh copy's with the same edits: the owner's lines are
    # all still there, and around them the template's changes arrived.
    fresh = fresh_copy(changed)
    updated_readme = (app / "README.md").read_text(encoding="utf-8")
    assert updated_readme.startswith(f"# {ANSWERS['project_name']}\n\n{OWNER_PITCH}\n")
    assert updated_readme == fresh["README.md"].replace(f"\n{DESCRIPTION}.\n", f"\n{OWNER_PITCH}")
    assert (package / "models.py").read_text(encoding="utf-8") == fresh[
        "src/chores/models.py"
    ].replace("\nclass Project(", f"\n{NOTE_MODEL}class Project(")
    for path in ("src/chores/notes.py", "migrations/versions/0002_add_notes.py"):
        assert (app / path).read_text(encoding="utf-8") == edited[path]

    # Every other file is what a fresh copy holds, the files the update added included; only
    # the applied migrations stay as generated (`_skip_if_exists`).
    files = tree(app)
    for path in edited:
        files.pop(path)
    expected = {
        path: as_generated[path] if path.startswith("migrations/versions/") else text
        for path, text in fresh.items()
        if path not in edited and path != ".copier-answers.yml"
    }
    files.pop(".copier-answers.yml")
    assert sorted(files) == sorted(expected)
    assert [path for path in expected if files[path] != expected[path]] == []
    added = sorted(set(fresh) - set(as_generated))
    commit = RELEASES.get(case.generated_from, case.generated_from)
    assert set(ADDED_SINCE.get(commit, ())) <= set(added)
    for answer in case.update_data:
        assert set(ADDED_BY[answer]) <= set(added)
    print(f"{case}: {len(added)} files added by the update: {', '.join(added)}")
