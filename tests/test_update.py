"""`copier update` brings a newer template version into an app its owner has edited.

The template repository is built here, never taken from the checkout's tags (a CI clone may have
none): the working tree turned back into what the previous release looked like, tagged OLD, then
the working tree itself, tagged NEW. Between the two the template renames an answer (with its
migration), changes files the owner edits (README, pyproject.toml, models) and files the owner
does not (health probes), and changes a migration that `_skip_if_exists` must keep.

One app goes through the whole life, each step in a copy of the previous one:
generated at OLD and edited -> updated to NEW (conflict resolved) -> lazy_loading changed ->
data_access changed. Each step is compared with a fresh copy of NEW with the same answers plus
the owner's edits. The same two commits without tags check that the answer migration does not
depend on versions. Updates that a user would type run Copier's command line, and the tests read
what it prints: the files left to finish, no warning, no traceback.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from app_suite import run_own_test_suite
from copier import run_copy, run_update
from copier.errors import UnsafeTemplateError
from template_repos import commit_all, git
from tooling import ROOT

OLD, NEW = "0.1.0", "0.2.0"
DESCRIPTION = "Tracks the team's chores"
FIRST_MIGRATION = "migrations/versions/0001_create_projects_and_tasks.py"


@dataclass(frozen=True)
class Edit:
    """A change to one file (created if missing), as a function of its text."""

    path: str
    change: Callable[[str], str]

    def apply(self, root: Path) -> None:
        path = root / self.path
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.change(text), encoding="utf-8")


def sub_once(pattern: str, replacement: str) -> Callable[[str], str]:
    """Replace the single match of `pattern` (multi-line mode); fail if there is not exactly one."""

    def change(text: str) -> str:
        changed, count = re.subn(pattern, lambda _: replacement, text, flags=re.MULTILINE)
        assert count == 1, f"expected one match of {pattern!r}, found {count}: update this test"
        return changed

    return change


# What the previous release (OLD) looked like, as edits of the current template repository.
PREVIOUS_RELEASE = [
    # The answer `project_description` was called `description` (copier_migrations.py).
    *(
        Edit(path, lambda text: text.replace("project_description", "description"))
        for path in ("copier.yml", "template/pyproject.toml.jinja", "template/README.md.jinja")
    ),
    # The README had no "Updating" section, and said what it needs in other words.
    Edit(
        "template/README.md.jinja",
        sub_once(r"\n## Updating from the template\n(.*\n)*?(?=## |\Z)", ""),
    ),
    Edit("template/README.md.jinja", sub_once(r"^Needs .*$", "Needs uv and Python 3.12+.")),
    # An older minimum for a dev tool, far from where owners add dependencies.
    Edit("template/pyproject.toml.jinja", sub_once(r'"ruff>=[^"]*"', '"ruff>=0.8"')),
    # Another comment above the naming convention, in the module owners add models to.
    Edit(
        "template/src/{{package_name}}/models.py.jinja",
        sub_once(r"^# Deterministic constraint names.*$", "# Constraint names for migrations."),
    ),
    # Another docstring in a module owners do not touch.
    Edit(
        "template/src/{{package_name}}/api/health.py.jinja",
        sub_once(r'\A"""[^\n]*"""$', '"""Health probes."""'),
    ),
    # Another header in the first migration: an update must not rewrite applied migrations.
    Edit(f"template/{FIRST_MIGRATION}", sub_once(r"^Create Date: .*$", "Create Date: 2026-11-01")),
]

pytestmark = pytest.mark.usefixtures("git_identity")

OWNER_PITCH = "Tracks who does which chore, and nags politely."
OWNER_NEEDS = "Needs uv; on the team server `make serve` does all of this."
OWNER_SUMMARY = '@router.get("", summary="Projects, oldest first, with their tasks")'

NOTE_MODEL = '''class Note(Base):
    """A free-text note: the owner's first model of their own."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(500))


'''

NOTES_MIGRATION = '''"""Add notes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )


def downgrade() -> None:
    op.drop_table("notes")
'''

# What the owner does to the generated app before updating it.
PITCH_EDIT = Edit("README.md", sub_once(rf"^{re.escape(DESCRIPTION)}\.$", OWNER_PITCH))
OWNER_EDITS = [
    PITCH_EDIT,
    Edit("README.md", sub_once(r"^Needs .*$", OWNER_NEEDS)),  # NEW rewrites this line too
    Edit("pyproject.toml", sub_once(r'^(?=    "uvicorn\[standard\])', '    "tenacity>=9.0",\n')),
    # Above the example domain: its last lines change with lazy_loading, and an edit right next
    # to a changed line is a conflict (Copier merges by lines).
    Edit("src/task_tracker/models.py", sub_once(r"^(?=class Project\(Base\):$)", NOTE_MODEL)),
    Edit("migrations/versions/0002_add_notes.py", lambda _: NOTES_MIGRATION),
    Edit(
        "src/task_tracker/api/projects.py",
        sub_once(r'^@router\.get\(""\)(?=\nasync def list_projects\()', OWNER_SUMMARY),
    ),
    Edit(
        "tests/test_migrations.py",
        sub_once(r'(?<=\["alembic_version", )(?="projects", "tasks"\])', '"notes", '),
    ),
]

CONFLICT = re.compile(
    r"^<<<<<<< before updating\n(?P<ours>(?:.*\n)*?)=======\n(?P<theirs>(?:.*\n)*?)"
    r">>>>>>> after updating\n",
    re.MULTILINE,
)


def has_markers(text: str) -> bool:
    return re.search(r"^(<<<<<<<|>>>>>>>) ", text, re.MULTILINE) is not None


def keep_ours(text: str) -> str:
    """Resolve every conflict copier left inline by keeping the owner's side."""
    return CONFLICT.sub(lambda match: match["ours"], text)


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` outside .git, by POSIX path, with its text."""
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def with_owner_edits(fresh: dict[str, str], kept: dict[str, str]) -> dict[str, str]:
    """What an updated app should hold: a fresh copy, the owner's edits, and `kept` files."""
    expected = dict(fresh)
    for edit in OWNER_EDITS:
        expected[edit.path] = edit.change(expected.get(edit.path, ""))
    return {**expected, **kept}


def assert_same_files(actual: dict[str, str], expected: dict[str, str]) -> None:
    assert sorted(actual) == sorted(expected)
    differing = [path for path in expected if actual[path] != expected[path]]
    diffs = "".join(
        "".join(
            difflib.unified_diff(
                expected[path].splitlines(keepends=True),
                actual[path].splitlines(keepends=True),
                f"expected/{path}",
                f"actual/{path}",
            )
        )
        for path in differing
    )
    assert not differing, f"files differ from a fresh copy with the owner's edits:\n{diffs}"


def answers_of(app: Path) -> dict[str, str]:
    return yaml.safe_load((app / ".copier-answers.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("update")


def build_template_repo(repo: Path, *, tags: bool) -> Path:
    """This template at two versions: the previous release (OLD), then the working tree (NEW),
    each commit tagged with its version or, with `tags` false, not at all."""
    ignore = shutil.ignore_patterns(".git", ".nox", ".venv", "*_cache", "__pycache__", "build")
    shutil.copytree(ROOT, repo, ignore=ignore)
    git(repo, "init", "--quiet")
    for edit in PREVIOUS_RELEASE:
        edit.apply(repo)
    commit_all(repo, "the previous release")
    if tags:
        git(repo, "tag", OLD)
    for edit in PREVIOUS_RELEASE:
        shutil.copy2(ROOT / edit.path, repo / edit.path)
    commit_all(repo, "this release")
    if tags:
        git(repo, "tag", NEW)
    return repo


@pytest.fixture(scope="module")
def template_repo(workdir: Path) -> Path:
    return build_template_repo(workdir / "template-repo", tags=True)


@pytest.fixture(scope="module")
def fresh_copy(template_repo: Path, workdir: Path) -> Callable[..., dict[str, str]]:
    """The files of a fresh copy of NEW with the owner's answers and `answers` (cached)."""
    copies: dict[str, dict[str, str]] = {}

    def render(**answers: str) -> dict[str, str]:
        name = "-".join(f"{key}={value}" for key, value in sorted(answers.items())) or "defaults"
        if name not in copies:
            destination = workdir / "fresh" / name
            run_copy(
                str(template_repo),
                destination,
                data={"project_description": DESCRIPTION, **answers},
                defaults=True,
                vcs_ref=NEW,
                quiet=True,
            )
            copies[name] = tree(destination)
        return copies[name]

    return render


@pytest.fixture(scope="module")
def old_app(template_repo: Path, workdir: Path) -> Path:
    """Generated from the OLD release tag, committed, then edited by its owner and committed."""
    return owned_app(template_repo, OLD, workdir / "old-app")


def owned_app(template_repo: Path, vcs_ref: str, app: Path) -> Path:
    """An app generated from `vcs_ref` with DESCRIPTION, committed, then edited by its owner
    (OWNER_EDITS) and committed."""
    run_copy(
        str(template_repo),
        app,
        data={"description": DESCRIPTION},
        defaults=True,
        vcs_ref=vcs_ref,
        quiet=True,
    )
    git(app, "init", "--quiet")
    commit_all(app, "generated")
    for edit in OWNER_EDITS:
        edit.apply(app)
    commit_all(app, "the owner's work")
    return app


def clone(app: Path, name: str) -> Path:
    destination = app.parent / name
    git(app.parent, "clone", "--quiet", str(app), str(destination))
    return destination


def update(app: Path, **options: object) -> None:
    """`copier update` through the API, trusted (every update runs the template's migrations)."""
    options.setdefault("unsafe", True)
    run_update(app, defaults=True, overwrite=True, vcs_ref=NEW, quiet=True, **options)


def copier_cli(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`copier <args>` on the command line, in `app`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "copier", *args],
        cwd=app,
        capture_output=True,
        text=True,
        check=False,
    )


def cli_update(app: Path, *options: str) -> str:
    """`copier update --trust --defaults` to NEW on the command line; what it printed."""
    completed = copier_cli(app, "update", "--trust", "--defaults", "--vcs-ref", NEW, *options)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    # No MissingFileWarning (or other), and no traceback: the user sees only what is meant.
    assert "Warning" not in output
    assert "Traceback" not in output
    return output


@pytest.fixture(scope="module")
def kept_from_old(old_app: Path) -> dict[str, str]:
    """Files an update must leave as OLD generated them (`_skip_if_exists`)."""
    return {FIRST_MIGRATION: (old_app / FIRST_MIGRATION).read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def inline_update_output(old_app: Path) -> tuple[Path, str]:
    """The old app updated to NEW with `--trust` and the default `--conflict inline`, and what
    Copier printed."""
    app = clone(old_app, "inline-update")
    return app, cli_update(app)


@pytest.fixture(scope="module")
def inline_update(inline_update_output: tuple[Path, str]) -> Path:
    return inline_update_output[0]


@pytest.fixture(scope="module")
def updated_app(inline_update: Path) -> Path:
    """The inline update after its owner kept their side of the conflict and committed."""
    app = inline_update.parent / "updated-app"
    shutil.copytree(inline_update, app)
    readme = app / "README.md"
    readme.write_text(keep_ours(readme.read_text(encoding="utf-8")), encoding="utf-8")
    commit_all(app, "update to the new template version")
    return app


def test_copy_from_a_release_tag_records_it(old_app: Path) -> None:
    answers = answers_of(old_app)
    assert answers["_commit"] == OLD
    assert answers["description"] == DESCRIPTION


def test_copy_does_not_look_for_recorded_answers(template_repo: Path, workdir: Path) -> None:
    # The package_name check reads .copier-answers.yml only on update; a copy has none to read.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_copy(str(template_repo), workdir / "quiet-copy", defaults=True, quiet=True)
    assert [str(warning.message) for warning in caught] == []


@pytest.mark.parametrize("app_fixture", ["old_app", "updated_app"])
def test_every_update_needs_trust(app_fixture: str, request: pytest.FixtureRequest) -> None:
    # Across the rename (old_app) and within one release (updated_app) alike: the migrations run
    # on every update, and they are commands.
    source = request.getfixturevalue(app_fixture)
    app = clone(source, f"untrusted-{app_fixture}")
    with pytest.raises(UnsafeTemplateError, match="migrations"):
        update(app, unsafe=False)
    assert git(app, "status", "--porcelain") == ""
    assert answers_of(app)["_commit"] == answers_of(source)["_commit"]


def test_update_merges_edits_and_template_changes(
    inline_update: Path,
    fresh_copy: Callable[..., dict[str, str]],
    kept_from_old: dict[str, str],
) -> None:
    files = tree(inline_update)
    fresh = fresh_copy()

    # The migration carried the answer over under its new name: the description is the owner's.
    answers = answers_of(inline_update)
    assert answers["_commit"] == NEW
    assert answers["project_description"] == DESCRIPTION
    assert "description" not in answers

    # Edits that do not overlap merged silently; the one that does is an inline conflict.
    assert not [path for path in files if path.endswith(".rej")]
    assert [path for path, text in files.items() if has_markers(text)] == ["README.md"]
    new_needs = re.search(r"^Needs .*\n", fresh["README.md"], re.MULTILINE)
    assert new_needs is not None
    conflicts = CONFLICT.finditer(files["README.md"])
    assert [(c["ours"], c["theirs"]) for c in conflicts] == [(f"{OWNER_NEEDS}\n", new_needs[0])]

    # Everything else is NEW plus the owner's edits; the first migration stays as generated.
    files["README.md"] = keep_ours(files["README.md"])
    assert_same_files(files, with_owner_edits(fresh, kept_from_old))
    assert kept_from_old[FIRST_MIGRATION] != fresh[FIRST_MIGRATION]


def test_update_lists_the_files_with_conflict_markers(inline_update_output: tuple[Path, str]):
    _, output = inline_update_output
    report = output[output.index(f"Update {OLD} -> {NEW}:") :]
    assert report.startswith(
        f"Update {OLD} -> {NEW}: 1 file to finish by hand.\n"
        "Conflict markers: keep what you need of your side (<<<<<<< before updating) and of the\n"
        "template's (>>>>>>> after updating), then delete the marker lines, in:\n"
        "  README.md\n"
    )
    # Then Copier's _message_after_update: how to finish.
    assert "uv sync && uv run pytest && uv run alembic check" in report
    assert 'git add --all && git commit -m "Update from the template"' in report


def test_update_with_conflict_rej_leaves_the_overlap_in_a_rej_file(
    old_app: Path,
    fresh_copy: Callable[..., dict[str, str]],
    kept_from_old: dict[str, str],
) -> None:
    app = clone(old_app, "rej-update")
    output = cli_update(app, "--conflict", "rej")
    assert (
        f"Update {OLD} -> {NEW}: 1 file to finish by hand.\n"
        "Changes of yours that did not apply (--conflict rej): make them by hand if you still need"
        " them,\nthen delete:\n  README.md.rej\n"
    ) in output
    files = tree(app)

    assert not [path for path, text in files.items() if has_markers(text)]
    rejected = files.pop("README.md.rej")
    assert f"+{OWNER_NEEDS}\n" in rejected
    assert [path for path in files if path.endswith(".rej")] == []
    # README.md took the template's side of the overlap and the owner's other edit.
    fresh = fresh_copy()
    expected = with_owner_edits(fresh, kept_from_old)
    expected["README.md"] = PITCH_EDIT.change(fresh["README.md"])
    assert_same_files(files, expected)


@pytest.mark.slow
def test_updated_app_passes_its_own_tests(updated_app: Path) -> None:
    run_own_test_suite(updated_app)


@pytest.fixture(scope="module")
def lazy_loading_changed(updated_app: Path) -> Path:
    app = clone(updated_app, "lazy-loading-changed")
    update(app, data={"lazy_loading": "selectin"})
    commit_all(app, "lazy_loading=selectin")
    return app


@pytest.fixture(scope="module")
def data_access_changed(lazy_loading_changed: Path) -> Path:
    app = clone(lazy_loading_changed, "data-access-changed")
    update(app, data={"data_access": "repository"})
    commit_all(app, "data_access=repository")
    return app


def test_changing_lazy_loading_gives_a_fresh_copy_with_the_owner_edits(
    lazy_loading_changed: Path,
    fresh_copy: Callable[..., dict[str, str]],
    kept_from_old: dict[str, str],
) -> None:
    expected = with_owner_edits(fresh_copy(lazy_loading="selectin"), kept_from_old)
    assert_same_files(tree(lazy_loading_changed), expected)


def test_changing_data_access_gives_a_fresh_copy_with_the_owner_edits(
    data_access_changed: Path,
    fresh_copy: Callable[..., dict[str, str]],
    kept_from_old: dict[str, str],
) -> None:
    fresh = fresh_copy(lazy_loading="selectin", data_access="repository")
    assert "src/task_tracker/repositories.py" in fresh
    assert_same_files(tree(data_access_changed), with_owner_edits(fresh, kept_from_old))


def test_changing_database_driver_gives_a_fresh_copy_with_the_owner_edits(
    updated_app: Path,
    fresh_copy: Callable[..., dict[str, str]],
    kept_from_old: dict[str, str],
) -> None:
    # The code follows the answer; the data stays in the old database (docs/updating.md).
    app = clone(updated_app, "database-driver-changed")
    update(app, data={"database_driver": "asyncpg"})
    expected = with_owner_edits(fresh_copy(database_driver="asyncpg"), kept_from_old)
    assert_same_files(tree(app), expected)


@pytest.mark.slow
def test_app_with_changed_answers_passes_its_own_tests(data_access_changed: Path) -> None:
    run_own_test_suite(data_access_changed)


def test_update_without_overlap_says_so(updated_app: Path) -> None:
    app = clone(updated_app, "no-overlap")
    output = cli_update(app, "--data", "lazy_loading=awaitable_attrs")
    assert f"Update {NEW} -> {NEW}: every change merged, no conflicts." in output
    assert answers_of(app)["lazy_loading"] == "awaitable_attrs"


def test_changing_package_name_is_refused_with_its_reason(updated_app: Path) -> None:
    app = clone(updated_app, "package-renamed")
    args = ("update", "--trust", "--defaults", "--vcs-ref", NEW, "--data", "package_name=chores")
    refused = copier_cli(app, *args)
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1
    assert (
        'package_name cannot change in an update: the app\'s own modules import "task_tracker"'
        in (output)
    )
    assert "Traceback" not in output
    assert git(app, "status", "--porcelain") == ""
    assert answers_of(app)["package_name"] == "task_tracker"


@pytest.fixture(scope="module")
def untagged_template_repo(workdir: Path) -> Path:
    return build_template_repo(workdir / "untagged-template-repo", tags=False)


def test_app_from_an_untagged_commit_migrates_when_the_template_has_no_tags(
    untagged_template_repo: Path,
    fresh_copy: Callable[..., dict[str, str]],
    kept_from_old: dict[str, str],
    workdir: Path,
) -> None:
    # Copier reads both ends as 0.0.0.postN: a migration gated on a version would not run.
    previous = git(untagged_template_repo, "rev-parse", "HEAD~1").strip()
    app = owned_app(untagged_template_repo, previous, workdir / "untagged-app")
    assert answers_of(app)["_commit"] == previous[:7]

    run_update(app, defaults=True, overwrite=True, unsafe=True, quiet=True)

    answers = answers_of(app)
    assert answers["project_description"] == DESCRIPTION
    assert answers["_commit"] == git(untagged_template_repo, "rev-parse", "--short", "HEAD").strip()
    # The same merge as from the tagged release: NEW with the owner's edits, one conflict.
    files = tree(app)
    files["README.md"] = keep_ours(files["README.md"])
    expected = with_owner_edits(fresh_copy(), kept_from_old)
    for name in (files, expected):
        del name[".copier-answers.yml"]  # _commit and _src_path differ, the answers are above
    assert_same_files(files, expected)
