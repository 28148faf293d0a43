"""What the fault-injection scripts (run.py, pgbouncer.py) share as command-line programs: their
arguments, how they stop, how they print their table and report breaches to `nox -s resilience`,
the ports they listen on, and how they find the package of an app the session rendered. Standard
library only: sqlite_writers.py imports it too, from the app's own environment."""

from __future__ import annotations

import argparse
import signal
import socket
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def print_table(lines: list[tuple[str, ...]]) -> None:
    """`lines` (the header first) in aligned columns, a rule under the header."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for number, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))
