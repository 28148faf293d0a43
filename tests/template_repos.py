"""Throwaway git repositories holding this template, for the tests that copy and update apps.

Copier reads versions from a template repository's tags and history, so these tests never point
it at this checkout: a CI clone may have no tags (or other ones), and the working tree holds
uncommitted changes. Each repository here ends with a commit of the working tree as it is.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tooling import ROOT


def git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return completed.stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--no-verify", "--message", message)


def copy_working_tree(destination: Path) -> None:
    """Copy the files of this checkout that git would see (tracked or not, never ignored)."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in sorted(set(listed.split("\0")) - {""}):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def snapshot(destination: Path) -> Path:
    """A new repository, without tags, whose one commit is the working tree."""
    destination.mkdir(parents=True)
    git(destination, "init", "--quiet")
    copy_working_tree(destination)
    commit_all(destination, "the working tree")
    return destination


def has_commit(revision: str) -> bool:
    """Whether this checkout has `revision` (a shallow clone lacks the older commits)."""
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=ROOT, capture_output=True
    )
    return found.returncode == 0


def history_snapshot(destination: Path) -> Path:
    """A clone of this checkout's history with every tag removed, then the working tree on top."""
    git(destination.parent, "clone", "--quiet", str(ROOT), str(destination))
    for tag in git(destination, "tag", "--list").split():
        git(destination, "tag", "--delete", tag)
    git(destination, "rm", "-r", "--quiet", ".")
    copy_working_tree(destination)
    git(destination, "add", "--all")
    # A commit of its own even when the working tree is HEAD: the tests tag it, or not.
    git(destination, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", "the working tree")
    return destination
