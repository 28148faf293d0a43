"""Rewrite template/.env.example.jinja from the generated apps' own `Settings`.

    python tests/regenerate_env_example.py      (needs uv; about a minute)

Renders the default answers for each database driver, runs the app's generator
(`uv run python -m tests.env_example`, template/tests/env_example.py.jinja) in each, and merges the
three files into one template: a setting that reads the same for every driver is written once,
one that differs (or exists for some drivers only) goes under `{% if database_driver == ... %}`.
Then the same per driver with `observability=opentelemetry`: the settings only those apps have
(the same for every driver, and last) go under `{% if observability == "opentelemetry" %}`.
Each generated app's tests/test_env_example.py fails when its .env.example and Settings disagree,
so an app cell of `nox` says when to run this.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tooling import COPIER_YML, ROOT, read_choice_questions

TARGET = ROOT / "template" / ".env.example.jinja"
PACKAGE = "env_example_app"  # replaced by {{ package_name }} in the template


OBSERVABILITY = "opentelemetry"  # the answer that adds settings of its own


def generated(driver: str, workdir: Path, observability: str = "none") -> str:
    app = workdir / f"{driver}-{observability}"
    subprocess.run(
        [
            *("uvx", "--python", ">=3.11", "copier", "copy", "--quiet", "--trust", "--defaults"),
            *("--vcs-ref=HEAD", f"--data=database_driver={driver}"),
            f"--data=observability={observability}",
            *(f"--data=package_name={PACKAGE}", str(ROOT), str(app)),
        ],
        check=True,
    )
    generator = ["uv", "run", "--quiet", "python", "-m", "tests.env_example"]
    subprocess.run(generator, cwd=app, check=True)
    return (app / ".env.example").read_text(encoding="utf-8")


def blocks(text: str) -> list[str]:
    """The header, then one `# meaning\\nNAME=value\\n` block per setting."""
    return [block.strip("\n") + "\n" for block in text.split("\n\n") if block.strip()]


def key(block: str) -> str:
    last = block.rstrip("\n").splitlines()[-1]
    return last.removeprefix("# ").partition("=")[0] if "=" in last else block


def merge(texts: dict[str, str]) -> str:
    parsed = {driver: {key(b): b for b in blocks(text)} for driver, text in texts.items()}
    order: list[str] = []
    for by_key in parsed.values():
        previous = None
        for name in by_key:
            if name not in order:
                # Settings' order: right after the setting that precedes it in this driver's file.
                order.insert(order.index(previous) + 1 if previous else 0, name)
            previous = name
    # (variants: text -> the drivers whose file has it), one per setting, in order.
    settings = []
    for name in order:
        variants: dict[str, list[str]] = {}
        for driver, by_key in parsed.items():
            if name in by_key:
                variants.setdefault(by_key[name], []).append(driver)
        settings.append(variants)
    out = []
    previous_drivers = None  # of the open `{% if %}` block holding one variant
    for variants in settings:
        drivers_with_it = [d for ds in variants.values() for d in ds]
        if len(variants) == 1 and len(drivers_with_it) == len(texts):
            if previous_drivers is not None:
                out.append("{% endif %}\n")
                previous_drivers = None
            out.append("\n" + next(iter(variants)))
            continue
        if len(variants) == 1 and drivers_with_it == previous_drivers:
            out.append("\n" + next(iter(variants)))  # the same condition: the same block
            continue
        if previous_drivers is not None:
            out.append("{% endif %}\n")
        keyword = "if"
        for text, drivers in variants.items():
            condition = " or ".join(f'database_driver == "{d}"' for d in drivers)
            out.append(f"{{% {keyword} {condition} %}}\n\n{text}")
            keyword = "elif"
        if len(variants) == 1:
            previous_drivers = drivers_with_it
        else:
            out.append("{% endif %}\n")
            previous_drivers = None
    if previous_drivers is not None:
        out.append("{% endif %}\n")
    merged = "".join(out).removeprefix("\n")
    return merged.replace(PACKAGE, "{{ package_name }}")


def observability_blocks(texts: dict[str, str], with_it: dict[str, str]) -> str:
    """The settings that the apps with OBSERVABILITY have beyond the others', as one block
    under `{% if observability == ... %}`. They must read the same for every driver and come
    after every other setting, the rest of each file unchanged: else this script needs more.
    """
    extras = set()
    for driver, text in texts.items():
        plain, full = blocks(text), blocks(with_it[driver])
        if full[: len(plain)] != plain:
            raise SystemExit(f"{driver}: {OBSERVABILITY} changes settings other than its own")
        extras.add("".join("\n" + block for block in full[len(plain) :]))
    if len(extras) != 1:
        raise SystemExit(f"the settings of {OBSERVABILITY} differ between drivers")
    extra = extras.pop()
    if not extra:
        return ""
    return f'{{% if observability == "{OBSERVABILITY}" %}}\n{extra}{{% endif %}}\n'


def main() -> None:
    drivers = read_choice_questions(COPIER_YML)["database_driver"].choices
    with tempfile.TemporaryDirectory() as tmp:
        texts = {driver: generated(driver, Path(tmp)) for driver in drivers}
        with_it = {driver: generated(driver, Path(tmp), OBSERVABILITY) for driver in drivers}
    extra = observability_blocks(texts, with_it).replace(PACKAGE, "{{ package_name }}")
    TARGET.write_text(merge(texts) + extra, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
