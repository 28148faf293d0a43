"""Every combination of the design choices renders clean files, and only the files it needs."""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import Renderer
from tooling import COPIER_YML

CONFIG = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))


def choices(question: str) -> list[str]:
    spec = CONFIG[question]["choices"]
    return list(spec.values() if isinstance(spec, dict) else spec)


DRIVERS = choices("database_driver")
MATRIX = [
    pytest.param(
        {"database_driver": driver, "lazy_loading": lazy, "data_access": access},
        id=f"{driver}-{lazy}-{access}",
    )
    for driver, lazy, access in itertools.product(
        DRIVERS, choices("lazy_loading"), choices("data_access")
    )
]
DEFAULT_PACKAGE = "task_tracker"  # derived from the default project_name, "Task Tracker"

# Jinja delimiters that must not survive rendering. A closing "}}" right after code (a nested
# dict literal) is legitimate Python; one after a space is what a left-over "{{ x }}" leaves.
LEFTOVER_JINJA = re.compile(r"\{\{|\{%|%\}|\s\}\}")
# Alembic's own (Mako) template for new migrations: "${...}" and "%" lines are meant to be there.
MAKO_TEMPLATE = Path("migrations/script.py.mako")


def text_files(project: Path) -> dict[Path, str]:
    files = {}
    for path in sorted(project.rglob("*")):
        if path.is_file():
            try:
                files[path.relative_to(project)] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # binary file
    return files


def python_sources(project: Path) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in (project / "src").rglob("*.py"))


@pytest.mark.parametrize("answers", MATRIX)
def test_no_jinja_is_left_in_rendered_files(render: Renderer, answers: dict[str, str]) -> None:
    files = text_files(render.project(**answers))

    leftovers = {
        str(path): sorted({match.group() for match in LEFTOVER_JINJA.finditer(text)})
        for path, text in files.items()
        if path != MAKO_TEMPLATE and LEFTOVER_JINJA.search(text)
    }
    assert leftovers == {}


@pytest.mark.parametrize("answers", MATRIX)
def test_python_files_have_no_stray_blank_lines_or_trailing_spaces(
    render: Renderer, answers: dict[str, str]
) -> None:
    files = text_files(render.project(**answers))

    problems = []
    for path, text in files.items():
        if path.suffix != ".py":
            continue
        blank_run = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if line != line.rstrip():
                problems.append(f"{path}:{number}: trailing whitespace")
            blank_run = blank_run + 1 if not line.strip() else 0
            if blank_run == 3:
                problems.append(f"{path}:{number}: three blank lines in a row")
    assert problems == []


@pytest.mark.parametrize("answers", MATRIX)
def test_answers_file_records_the_answers(render: Renderer, answers: dict[str, str]) -> None:
    project = render.project(**answers)

    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert {name: recorded.get(name) for name in answers} == answers
    assert recorded["python_version"] == CONFIG["python_version"]["default"]
    assert recorded["package_name"] == DEFAULT_PACKAGE


@pytest.mark.parametrize("answers", MATRIX)
def test_data_access_renders_its_modules_only(render: Renderer, answers: dict[str, str]) -> None:
    package = render.project(**answers) / "src" / DEFAULT_PACKAGE

    expected = {
        "session": {
            "queries.py": True,
            "views.py": False,
            "repositories.py": False,
            "unit_of_work.py": False,
        },
        "repository": {
            "queries.py": True,
            "views.py": False,
            "repositories.py": True,
            "unit_of_work.py": False,
        },
        "unit_of_work": {
            "queries.py": False,
            "views.py": True,
            "repositories.py": True,
            "unit_of_work.py": True,
        },
    }[answers["data_access"]]
    assert {name: (package / name).is_file() for name in expected} == expected


@pytest.mark.parametrize("answers", MATRIX)
def test_dependencies_name_the_chosen_driver_only(
    render: Renderer, answers: dict[str, str]
) -> None:
    pyproject = tomllib.loads((render.project(**answers) / "pyproject.toml").read_text())

    dependencies = " ".join(pyproject["project"]["dependencies"])
    mentioned = {driver for driver in DRIVERS if driver in dependencies}
    assert mentioned == {answers["database_driver"]}


@pytest.mark.parametrize("answers", MATRIX)
def test_lazy_loading_strategy_is_applied(render: Renderer, answers: dict[str, str]) -> None:
    project = render.project(**answers)
    models = (project / "src" / DEFAULT_PACKAGE / "models.py").read_text(encoding="utf-8")
    sources = python_sources(project)

    found = {
        'lazy="raise"': 'lazy="raise"' in models,
        'lazy="selectin"': 'lazy="selectin"' in models,
        "AsyncAttrs": "AsyncAttrs" in models,
        "awaitable_attrs": "awaitable_attrs" in sources,
    }
    expected = {
        "raise": {'lazy="raise"': True},
        "selectin": {'lazy="selectin"': True},
        "awaitable_attrs": {"AsyncAttrs": True, "awaitable_attrs": True},
    }[answers["lazy_loading"]]
    assert found == {marker: expected.get(marker, False) for marker in found}
    policy_test = (project / "tests" / "test_lazy_loading.py").read_text(encoding="utf-8")
    assert policy_test.startswith(f'"""Policy `{answers["lazy_loading"]}`')


@pytest.mark.parametrize("python_version", choices("python_version"))
def test_python_version_sets_the_lowest_supported_python(
    render: Renderer, python_version: str
) -> None:
    pyproject = tomllib.loads(
        (render.project(python_version=python_version) / "pyproject.toml").read_text()
    )

    assert pyproject["project"]["requires-python"] == f">={python_version}"


# Any trace of the tracing variant: its module, settings, dependencies, words in docs.
TELEMETRY = re.compile(r"opentelemetry|\botel_|telemetry\.py|traceparent|trace_id", re.IGNORECASE)


@pytest.mark.parametrize("answers", MATRIX)
def test_observability_none_leaves_no_trace_of_opentelemetry(
    render: Renderer, answers: dict[str, str]
) -> None:
    files = text_files(render.project(**answers))

    mentions = {
        str(path): sorted({match.group() for match in TELEMETRY.finditer(text)})
        for path, text in files.items()
        if TELEMETRY.search(text)
    }
    assert mentions == {}
    assert not any(path.name.startswith("test_telemetry") for path in files)


@pytest.mark.parametrize("driver", DRIVERS)
def test_opentelemetry_renders_its_module_settings_test_and_dependencies(
    render: Renderer, driver: str
) -> None:
    project = render.project(database_driver=driver, observability="opentelemetry")
    package = project / "src" / DEFAULT_PACKAGE

    assert (package / "telemetry.py").is_file()
    assert (project / "tests" / "test_telemetry.py").is_file()
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    names = {re.split(r"[\[<>=]", dependency)[0] for dependency in dependencies}
    assert {
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-http",
        "opentelemetry-instrumentation-fastapi",
        "opentelemetry-instrumentation-sqlalchemy",
    } <= names
    assert not any("grpc" in dependency for dependency in dependencies)
    # Wired where the app is built, started and logs, and configured from the settings.
    for module, name in [
        ("main.py", "instrument_app"),
        ("lifespan.py", "start_tracing"),
        ("logs.py", "TraceContextFilter"),
        ("settings.py", "otel_exporter_otlp_endpoint"),
    ]:
        assert name in (package / module).read_text(encoding="utf-8"), module
    env_example = (project / ".env.example").read_text(encoding="utf-8")
    assert "\nOTEL_EXPORTER_OTLP_ENDPOINT=\n" in env_example
    assert f"\nOTEL_SERVICE_NAME={DEFAULT_PACKAGE}\n" in env_example
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in (project / "README.md").read_text(encoding="utf-8")
