"""MkDocs hook: the code on the pages comes from apps rendered from this template, never by hand.

Before each build, every combination a page names is rendered from the working tree into
build/docs-rendered/<driver>-<lazy_loading>-<data_access>/ (re-rendered only when copier.yml or
template/ changed). Pages then quote it in two ways:

* a whole file, with pymdownx.snippets (base path build/docs-rendered):
      --8<-- "aiosqlite-raise-session/.github/workflows/ci.yml"
* one function, class, method or module-level assignment, found by name in the file's syntax
  tree, with this hook:
      --8<-- "aiosqlite-raise-session/src/task_tracker/api/projects.py::read_project"
  (`Class.method` for a method; decorators and comments above the definition come along).

A name or file that does not exist fails the build, so a page cannot drift from the template.
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
RENDERED = ROOT / "build" / "docs-rendered"
MATRIX = ("database_driver", "lazy_loading", "data_access")

# <driver>-<lazy_loading>-<data_access>, plus -py<version> for a python_version not the default.
COMBINATION = r"[a-z]+-[a-z_]+-[a-z_]+(?:-py3\.\d+)?"
# A combination named anywhere a page quotes rendered code.
QUOTED_COMBINATION = re.compile(rf'--8<-- "({COMBINATION})/')
# A quote of one definition: the whole line, indentation kept for code inside lists or tabs.
DEFINITION = re.compile(
    rf'^(?P<indent>[ \t]*)--8<-- "(?P<path>{COMBINATION}/[^"]+)::(?P<name>[\w.]+)"[ \t]*$',
    re.MULTILINE,
)


class ExcerptError(PluginError):
    """A page quotes a file or a definition the rendered app does not have."""


# What Copier needs of this repository is copier.yml, template/ and anything copier.yml refers to;
# not its history, its own tests and docs, or what builds leave behind.
NOT_TEMPLATE = {".git", ".github", ".nox", ".venv", "build", "docs", "tests"}


def _not_template(directory: str, names: list[str]) -> set[str]:
    if Path(directory) == ROOT:
        return NOT_TEMPLATE.intersection(names)
    return {name for name in names if name == "__pycache__" or name.endswith("_cache")}


def _digest(source: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(source)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _answers(combination: str) -> dict[str, str]:
    driver, lazy_loading, data_access, *python = combination.split("-")
    answers = dict(zip(MATRIX, (driver, lazy_loading, data_access), strict=True))
    if python:
        answers["python_version"] = python[0].removeprefix("py")
    return answers


def render_combinations(combinations: set[str]) -> None:
    """Render each combination that is missing or older than the template's working tree."""
    from copier import run_copy  # the docs session installs copier; imported only when needed

    with tempfile.TemporaryDirectory() as tmp:
        # A plain copy (no .git) makes Copier render the working tree as it is, uncommitted
        # changes included, rather than the last commit or tag.
        source = Path(tmp) / "template-repo"
        shutil.copytree(ROOT, source, ignore=_not_template)
        digest = _digest(source)
        for combination in sorted(combinations):
            destination = RENDERED / combination
            stamp = RENDERED / f"{combination}.digest"
            if stamp.is_file() and stamp.read_text() == digest and destination.is_dir():
                continue
            shutil.rmtree(destination, ignore_errors=True)
            run_copy(
                str(source), destination, data=_answers(combination), defaults=True, quiet=True
            )
            stamp.write_text(digest)


def _defines(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return False


def _definition(tree: ast.Module, name: str) -> ast.stmt | None:
    """`name` (a function, class or assignment; `Class.method` inside a class) in `tree`."""
    body: list[ast.stmt] = tree.body
    node: ast.stmt | None = None
    for part in name.split("."):
        node = next((child for child in body if _defines(child, part)), None)
        if node is None:
            return None
        body = node.body if isinstance(node, ast.ClassDef) else []
    return node


def excerpt(path: Path, name: str) -> str:
    """The source of the definition `name` in `path`, with its decorators and leading comments."""
    if not path.is_file():
        raise ExcerptError(f"{path.relative_to(RENDERED)} is not a file of the rendered app")
    lines = path.read_text(encoding="utf-8").splitlines()
    node = _definition(ast.parse("\n".join(lines)), name)
    if node is None:
        raise ExcerptError(f"no definition of {name!r} in {path.relative_to(RENDERED)}")
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(decorator.lineno for decorator in decorators)]) - 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return textwrap.dedent("\n".join(lines[start : node.end_lineno]))


def on_config(config: Any) -> Any:
    docs = Path(config["docs_dir"])
    combinations = {
        match
        for page in docs.rglob("*.md")
        for match in QUOTED_COMBINATION.findall(page.read_text(encoding="utf-8"))
    }
    RENDERED.mkdir(parents=True, exist_ok=True)
    render_combinations(combinations)
    return config


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        try:
            code = excerpt(RENDERED / match["path"], match["name"])
        except ExcerptError as error:
            raise ExcerptError(f"{page.file.src_path}: {error}") from None
        return textwrap.indent(code, match["indent"])

    return DEFINITION.sub(replace, markdown)
