"""What the fault-injection scripts (run.py, pgbouncer.py) share as command-line programs: their
arguments, how they stop, how they report breaches to `nox -s resilience`, and how they find the
package of an app the session rendered."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """The manifest `nox -s resilience` writes, and where to write the breaches for its note."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="apps.json, written by `nox -s resilience`")
    parser.add_argument("--breaches", type=Path, help="also write the breaches to this file")
    return parser


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (nox interrupted, a CI timeout) unwinds like Ctrl-C, so that every server, app and
    proxy the script started is stopped by its own `finally`."""

    def interrupted(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)


def report_breaches(breaches: list[str], breaches_file: Path | None) -> int:
    """Print each breach, write them to `breaches_file` if given; the script's exit status."""
    for breach in breaches:
        print(f"BREACH {breach}")
    if breaches_file is not None:
        breaches_file.write_text("".join(f"{breach}\n" for breach in breaches))
    return 1 if breaches else 0


def package_of(app_dir: Path) -> str:
    """The app's import name, as its .copier-answers.yml records it."""
    answers = (app_dir / ".copier-answers.yml").read_text()
    return next(
        line.split(":", 1)[1].strip()
        for line in answers.splitlines()
        if line.startswith("package_name:")
    )
