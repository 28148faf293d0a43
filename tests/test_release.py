"""Releases: CHANGELOG.md has an entry per release, and `nox -s release -- <version>` tags one
only when the tree is clean and CHANGELOG.md says what it changes.

The session runs in throwaway repositories holding the working tree (never in this checkout,
whose tags it would create), through `uvx nox` as docs/updating.md tells a maintainer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version  # a dependency of Copier
from template_repos import commit_all, git, snapshot
from tooling import ROOT, changelog_sections

pytestmark = pytest.mark.usefixtures("git_identity")


def changelog(path: Path = ROOT / "CHANGELOG.md") -> dict[str, tuple[str | None, str]]:
    """The sections of a CHANGELOG.md, by version: (date, body)."""
    return {
        version: (date, body)
        for version, date, body in changelog_sections(path.read_text(encoding="utf-8"))
    }


def release(repo: Path, *args: str) -> tuple[int, str]:
    uvx = shutil.which("uvx")
    assert uvx is not None, "the release session runs through uvx (pip install uv)"
    completed = subprocess.run(
        [uvx, "--python", ">=3.11", "nox", "-s", "release", "--", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "--list").split()


def release_entry(text: str, version: str) -> str:
    """CHANGELOG.md with the entries of [Unreleased], and one more, moved under `version`, as a
    maintainer does before tagging."""
    entry = f"## [{version}] - 2026-12-09\n\n### Added\n\n- A change that {version} brings.\n"
    return text.replace("## [Unreleased]\n", f"## [Unreleased]\n\n{entry}", 1)


def next_minor_release() -> str:
    """The version after the newest one CHANGELOG.md names: one it has no entry for yet."""
    sections = changelog()
    newest = max(Version(name) for name in sections if name != "Unreleased")
    return f"{newest.major}.{newest.minor + 1}.0"


NEXT = next_minor_release()


def test_changelog_has_an_entry_per_release() -> None:
    sections = changelog()
    assert next(iter(sections)) == "Unreleased"
    for version in ("0.1.0", "0.2.0"):
        date, body = sections[version]
        assert date is not None
        assert re.search(r"^- ", body, re.M), f"{version} lists no change"
    # 0.2.0 says which answer it migrates, as _migrations and docs/updating.md do.
    assert "`description`" in sections["0.2.0"][1]
    assert "`project_description`" in sections["0.2.0"][1]


@pytest.fixture(scope="module")
def unreleased_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree, its CHANGELOG.md with no entry for NEXT yet."""
    return snapshot(tmp_path_factory.mktemp("release") / "template")


@pytest.mark.parametrize(
    ("version", "refusal"),
    [
        (NEXT, f"CHANGELOG.md has no `## [{NEXT}] - YYYY-MM-DD` section"),
        (f"v{NEXT}", f"Write the version in its normal form, {NEXT}"),
        ("next", "'next' is not a PEP 440 version"),
    ],
)
def test_release_refuses_a_version_without_its_entry(
    unreleased_repo: Path, version: str, refusal: str
) -> None:
    status, output = release(unreleased_repo, version)
    assert status != 0
    assert refusal in output
    assert tags(unreleased_repo) == []


def test_release_tags_a_clean_tree_with_its_changelog_entry(tmp_path: Path) -> None:
    repo = snapshot(tmp_path / "template")
    git(repo, "tag", "--annotate", "--message", "0.2.0", "0.2.0")
    changelog_file = repo / "CHANGELOG.md"
    unreleased = changelog_file.read_text(encoding="utf-8")

    # An entry for NEXT under [Unreleased] entries that were not moved: refused.
    changelog_file.write_text(
        release_entry(unreleased, NEXT).replace(
            "## [Unreleased]\n", "## [Unreleased]\n\n- Something new.\n", 1
        )
    )
    commit_all(repo, "changelog: an entry left under [Unreleased]")
    status, output = release(repo, NEXT)
    assert status != 0
    assert "[Unreleased] of CHANGELOG.md still has entries" in output

    changelog_file.write_text(release_entry(unreleased, NEXT))
    # Uncommitted: refused.
    status, output = release(repo, NEXT)
    assert status != 0
    assert "The work tree is not clean" in output
    commit_all(repo, f"changelog: {NEXT}")
    # Older than a release: refused.
    changelog_file.write_text(release_entry(unreleased, "0.1.5"))
    commit_all(repo, "changelog: 0.1.5")
    status, output = release(repo, "0.1.5")
    assert status != 0
    assert "0.1.5 is not newer than the release(s) 0.2.0" in output
    git(repo, "reset", "--quiet", "--hard", "HEAD~1")
    assert tags(repo) == ["0.2.0"]

    status, output = release(repo, NEXT)

    assert status == 0, output
    assert set(tags(repo)) == {"0.2.0", NEXT}
    assert git(repo, "cat-file", "-t", NEXT).strip() == "tag"  # annotated
    assert git(repo, "rev-parse", f"{NEXT}^{{commit}}") == git(repo, "rev-parse", "HEAD")
    message = git(repo, "tag", "--list", "--format=%(contents)", NEXT)
    entry = changelog(changelog_file)[NEXT][1]
    first_change = re.search(r"^- .*$", entry, re.M)
    assert first_change is not None
    assert message.startswith(f"{NEXT}\n\n")
    assert first_change[0] in message
    assert "### Added" in message  # headings kept, not stripped as comments
    status, output = release(repo, NEXT)
    assert status != 0
    assert f"Tag {NEXT} exists already" in output
