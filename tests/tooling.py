"""Helpers shared by noxfile.py and the template's tests.

Only the standard library is used here: noxfile.py imports this module inside
Nox's own environment, which has nothing else installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = ROOT / "copier.yml"


# Questions with choices ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChoiceQuestion:
    """A copier question that offers a fixed list of answers."""

    name: str
    choices: tuple[str, ...]
    default: str | None


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _split_mapping_item(item: str) -> tuple[str, str]:
    """Split a one-line YAML mapping item `key: value`, where the key may be quoted."""
    if item[0] in "\"'":
        quote, i = item[0], 1
        while i < len(item):
            if quote == '"' and item[i] == "\\":
                i += 2
                continue
            if item[i] == quote:
                if quote == "'" and item[i + 1 : i + 2] == "'":  # '' escapes ' in YAML
                    i += 2
                    continue
                break
            i += 1
        key, rest = item[: i + 1], item[i + 1 :].lstrip()
        if not rest.startswith(":"):
            raise ValueError(f"not a mapping item: {item!r}")
        return key, rest[1:].strip()
    key, sep, value = item.partition(": ")
    if not sep:
        raise ValueError(f"not a mapping item: {item!r}")
    return key, value.strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def read_choice_questions(copier_yml: Path = COPIER_YML) -> dict[str, ChoiceQuestion]:
    """Read the questions of copier.yml that have `choices`, in file order.

    This is a deliberately small reader for the shapes copier.yml uses (top-level questions,
    `choices` as a list or as a `label: value` mapping with one item per line, a scalar
    `default`). tests/test_questions.py checks it against a real YAML parser.
    """
    questions: dict[str, ChoiceQuestion] = {}
    name: str | None = None
    choices: list[str] = []
    default: str | None = None
    choices_indent: int | None = None  # set while reading the items of a `choices:` block
    field_indent: int | None = None  # indentation of the current question's keys

    def finish() -> None:
        if name is not None and choices:
            questions[name] = ChoiceQuestion(name, tuple(choices), default)

    for raw in copier_yml.read_text(encoding="utf-8").splitlines():
        line = raw.rstrip()
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = _indent(line)
        if indent == 0:
            finish()
            name, choices, default, choices_indent, field_indent = None, [], None, None, None
            match = re.fullmatch(r"([A-Za-z][\w]*):\s*", line)
            if match:
                name = match.group(1)
            continue
        if name is None:
            continue
        if choices_indent is not None and indent > choices_indent:
            if stripped.startswith("- "):
                choices.append(_unquote(stripped[2:]))
            else:
                choices.append(_unquote(_split_mapping_item(stripped)[1]))
            continue
        choices_indent = None
        if field_indent is None:
            field_indent = indent
        if indent != field_indent:
            continue  # continuation of a multi-line value
        if stripped == "choices:":
            choices_indent = indent
        elif stripped.startswith("default:"):
            value = stripped[len("default:") :].strip()
            default = None if value[:1] in {">", "|", ""} else _unquote(value)
    finish()
    return questions


# Python interpreters ---------------------------------------------------------------------------


def _python_version_of(executable: str) -> str | None:
    try:
        completed = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))


def _uv_candidate(version: str) -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        return []
    try:
        completed = subprocess.run(
            [uv, "python", "find", "--system", "--no-project", version],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = completed.stdout.strip()
    return [found] if completed.returncode == 0 and found else []


def _pyenv_candidates(version: str) -> list[str]:
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        completed = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, timeout=30, check=False
        )
        root = completed.stdout.strip() if completed.returncode == 0 else None
    if not root:
        root = str(Path.home() / ".pyenv")
    found = Path(root).glob(f"versions/{version}.*/bin/python{version}")
    return [str(path) for path in sorted(found, key=_version_key, reverse=True)]


def find_python(version: str) -> str | None:
    """Return the absolute path of a working `python<version>` interpreter, or None.

    Tries `uv python find`, then pyenv's installed versions (newest patch release first, since
    uv cannot use pyenv shims of non-global versions), then `python<version>` on PATH. Every
    candidate is run to confirm its version.
    """
    candidates = [*_uv_candidate(version), *_pyenv_candidates(version)]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if _python_version_of(candidate) == version:
            return str(Path(candidate).absolute())
    return None


def python_for_default_answer(copier_yml: Path = COPIER_YML) -> str | None:
    """An interpreter that can run the app rendered with the default `python_version`.

    That is the default version itself or, failing that, the next newer one offered.
    """
    question = read_choice_questions(copier_yml)["python_version"]
    lowest = tuple(map(int, str(question.default).split(".")))
    newer = [v for v in question.choices if tuple(map(int, v.split("."))) >= lowest]
    return next((python for version in newer if (python := find_python(version))), None)


# CHANGELOG.md -----------------------------------------------------------------------------------

# CHANGELOG.md follows Keep a Changelog (https://keepachangelog.com/en/1.1.0/): `## [Unreleased]`,
# then a `## [<version>] - <YYYY-MM-DD>` section per release, newest first.
CHANGELOG_HEADING = re.compile(
    r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?[ \t]*$", re.MULTILINE
)


def changelog_sections(text: str) -> list[tuple[str, str | None, str]]:
    """The `## [...]` sections of a Keep a Changelog file, in order: (version, date, body)."""
    headings = list(CHANGELOG_HEADING.finditer(text))
    sections = []
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        body = text[heading.end() : following.start() if following else len(text)]
        # Link definitions (`[0.2.0]: https://...`) close the file; they are not entries.
        body = re.sub(r"^\[[^\]]+\]: .*$", "", body, flags=re.MULTILINE).strip()
        sections.append((heading["version"], heading["date"], body))
    return sections
