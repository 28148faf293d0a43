"""docs/guides/adding-a-resource.md works: its code, applied to a freshly rendered app of each
data_access answer, passes that app's own checks.

The guide is the test's script. Its fenced blocks titled with a file are applied in page order:

* ```python title="<path> (new file)"```   creates the file (it must not exist yet);
* ```python title="<path> (at the end)"``` appends to an existing file;
* ```diff title="<path>"```                 edits it: each hunk (hunks are separated by `@@` lines)
  replaces its context and `-` lines, found exactly once in the file, by its context and `+`
  lines;
* ```python title="<glob> (generated)"```  is what a generated file must read from its first
  function on (the migration autogenerate writes): compared, never written;
* ```sh``` blocks: every `uv ...` command is run in the app, when the page reaches it.

A block inside a `=== "<answers>"` tab is for those answers only (data_access or database_driver
answers, comma-separated); any other, for all. The test renders SQLite apps (aiosqlite), the
default driver.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from app_suite import Run, installed_copy, uv_commands
from conftest import Renderer
from tooling import ROOT, read_choice_questions

GUIDE = ROOT / "docs" / "guides" / "adding-a-resource.md"
QUESTIONS = read_choice_questions()
DATA_ACCESS = QUESTIONS["data_access"].choices
DRIVERS = QUESTIONS["database_driver"].choices
DRIVER = "aiosqlite"  # the one driver the apps are rendered with here: no server needed

TAB = re.compile(r'^(?P<indent> *)=== "(?P<label>[^"]*)"\s*$')
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w+)(?P<attributes>[^`]*)$")
TITLE = re.compile(r'title="(?P<path>[^" ]+)(?: \((?P<how>[^)]*)\))?"')
HOW = {None: "edit", "new file": "create", "at the end": "append", "generated": "compare"}

# What every reader runs, in this order (other commands may come between them)...
REQUIRED_COMMANDS = [
    shlex.split(command)
    for command in (
        "uv run alembic upgrade head",
        'uv run alembic revision --autogenerate -m "add comments"',
        "uv run alembic upgrade head",
        "uv run alembic check",
    )
]
# ...and once every change is made.
FINAL_CHECKS = [
    shlex.split(command)
    for command in (
        "uv run ruff check .",
        "uv run ruff format --check .",
        "uv run mypy",
        "uv run pytest --cov",
        "uv run alembic check",
    )
]


@dataclass(frozen=True)
class Block:
    """A fenced block of the guide: code for a file, or shell commands."""

    line: int  # of the opening fence, 1-based, for messages
    lang: str
    path: str | None  # from the title
    how: str | None  # create, append, edit or compare; None for a block without a title
    tab: tuple[str, ...]  # the answers of the tab that holds the block; () outside tabs
    text: str  # dedented, ending with a newline

    def __str__(self) -> str:
        return f"{GUIDE.name}:{self.line} ({self.path or self.lang})"


def blocks(markdown: str) -> list[Block]:
    """Every fenced block of `markdown` in page order, with the tab it sits in."""
    found = []
    tab: tuple[str, int] | None = None  # label, indentation of its `===` line
    lines = markdown.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        indent = len(line) - len(line.lstrip(" "))
        if header := TAB.match(line):
            tab = (header["label"], indent)
            continue
        if line.strip() and tab is not None and indent <= tab[1]:
            tab = None
        fence = FENCE.match(line)
        if fence is None:
            continue
        start, margin = number, fence["indent"]
        body = []
        while lines[number].rstrip() != f"{margin}```":
            assert not lines[number].strip() or lines[number].startswith(margin), (
                f"{GUIDE.name}:{number + 1}: a line of a block left of its fence"
            )
            body.append(lines[number][len(margin) :])
            number += 1
        number += 1
        title = TITLE.search(fence["attributes"])
        how = None
        if title is not None:
            assert title["how"] in HOW, f"{GUIDE.name}:{start}: unknown title {title[0]!r}"
            how = HOW[title["how"]]
        found.append(
            Block(
                line=start,
                lang=fence["lang"],
                path=title["path"] if title else None,
                how=how,
                tab=tuple(tab[0].split(", ")) if tab else (),
                text="\n".join(body) + "\n",
            )
        )
    return found


def steps(data_access: str) -> list[Block]:
    """The blocks a reader of a SQLite app with `data_access` follows: titled code and shell
    commands."""
    return [
        block
        for block in blocks(GUIDE.read_text(encoding="utf-8"))
        if (not block.tab or {data_access, DRIVER} & set(block.tab))
        and (block.how is not None or block.lang == "sh")
    ]


def commands(block: Block) -> list[list[str]]:
    """The `uv ...` commands of a shell block, `&&` chains split apart."""
    return uv_commands(block.text)


def hunks(block: Block) -> list[tuple[str, str]]:
    """(old, new) text of each hunk of a diff block."""
    found = []
    old: list[str] = []
    new: list[str] = []
    for line in [*block.text.splitlines(), "@@"]:
        if line.startswith("@@"):
            if old or new:
                found.append(("".join(old), "".join(new)))
            old, new = [], []
            continue
        mark, content = line[:1], line[1:] + "\n"
        assert mark in ("", " ", "+", "-"), f"{block}: {line!r} is not a line of a diff"
        if mark != "+":
            old.append(content)
        if mark != "-":
            new.append(content)
    return found


def from_first_function(source: str) -> str:
    """`source` from its first top-level function on (comments after the last one included)."""
    first = next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef))
    return "\n".join(source.splitlines()[first.lineno - 1 :]).strip("\n")


def apply(block: Block, project: Path) -> None:
    assert block.path is not None
    if block.how == "compare":
        pattern = block.path.replace("YYYYMMDD", "*").replace("<revision>", "*")
        [generated] = project.glob(pattern)
        shown = block.text.strip("\n")
        assert from_first_function(generated.read_text(encoding="utf-8")) == shown, (
            f"{generated.name} is not what {block} shows"
        )
        return
    path = project / block.path
    if block.how == "create":
        assert not path.exists(), f"{block}: {block.path} exists already"
        path.write_text(block.text, encoding="utf-8")
        return
    assert path.is_file(), f"{block}: the app has no {block.path}"
    text = path.read_text(encoding="utf-8")
    if block.how == "append":
        text = text.rstrip("\n") + "\n\n\n" + block.text
    else:
        for old, new in hunks(block):
            assert text.count(old) == 1, f"{block}: not found once in {block.path}:\n{old}"
            text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def git(project: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", *arguments], cwd=project, capture_output=True, text=True, check=True
    )
    return completed.stdout


def test_every_tab_names_answers() -> None:
    tabs = {block.tab for block in blocks(GUIDE.read_text(encoding="utf-8")) if block.tab}
    answers = {answer for tab in tabs for answer in tab}

    assert answers <= {*DATA_ACCESS, *DRIVERS}
    assert set(DATA_ACCESS) <= answers


@pytest.mark.parametrize("data_access", DATA_ACCESS)
def test_the_guide_runs_every_check(data_access: str) -> None:
    followed = steps(data_access)
    last_change = max(number for number, block in enumerate(followed) if block.lang != "sh")
    run = [command for block in followed if block.lang == "sh" for command in commands(block)]
    run_last = [
        command
        for block in followed[last_change + 1 :]
        if block.lang == "sh"
        for command in commands(block)
    ]

    remaining = iter(run)
    assert all(command in remaining for command in REQUIRED_COMMANDS), run
    assert all(command in run_last for command in FINAL_CHECKS), run_last


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the apps of this module: the libraries are analysed once, not per app
    (as the noxfile's cells share theirs)."""
    return tmp_path_factory.mktemp("mypy_cache")


@pytest.mark.slow
@pytest.mark.parametrize("data_access", DATA_ACCESS)
def test_following_the_guide_gives_an_app_that_passes_its_checks(
    render: Renderer,
    tmp_path: Path,
    mypy_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    data_access: str,
) -> None:
    project = tmp_path / "app"
    monkeypatch.setenv("MYPY_CACHE_DIR", str(mypy_cache))
    run: Run = installed_copy(render.project(data_access=data_access), project)
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "as generated")

    for block in steps(data_access):
        if block.lang == "sh":
            for command in commands(block):
                run(*command)
        else:
            apply(block, project)

    git(project, "add", "--all")
    # The size of the change, for whoever reads the test's output (`pytest -s`).
    print(f"\n{data_access}:\n{git(project, 'diff', '--cached', '--stat')}")
