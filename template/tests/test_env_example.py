"""`.env.example` lists every setting with its default, as `Settings` declares them."""

import difflib
from pathlib import Path

from tests.env_example import COMMAND, PATH, as_env_value, render, write


def test_env_example_matches_the_settings() -> None:
    committed = PATH.read_text(encoding="utf-8") if PATH.exists() else ""
    expected = render()

    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            ".env.example",
            "from Settings",
        )
    )
    assert committed == expected, f".env.example is out of date; run `{COMMAND}`:\n{diff}"


def test_write_writes_what_render_returns(tmp_path: Path) -> None:
    target = tmp_path / ".env.example"

    write(target)

    assert target.read_text(encoding="utf-8") == render()


def test_values_are_spelled_as_the_environment_reads_them() -> None:
    assert as_env_value(True) == "true"
    assert as_env_value(None) == ""
    assert as_env_value(["http://a.example", "http://b.example"]) == (
        '["http://a.example","http://b.example"]'
    )
    assert as_env_value("two words") == '"two words"'
    assert as_env_value(1.5) == "1.5"
