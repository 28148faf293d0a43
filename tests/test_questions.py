"""The questions of copier.yml: validators, derived defaults and the lists they rely on."""

from __future__ import annotations

import sys

import pytest
import yaml
from conftest import Renderer
from tooling import COPIER_YML, read_choice_questions

CONFIG = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("answers", "expected_message"),
    [
        ({"package_name": "1abc"}, '"1abc" is not a lower-case Python identifier'),
        ({"package_name": "Has-Caps"}, '"Has-Caps" is not a lower-case Python identifier'),
        ({"package_name": "class"}, '"class" is a Python keyword'),
        ({"package_name": "asyncio"}, '"asyncio" is the name of a standard library module'),
        ({"package_name": "fastapi"}, '"fastapi" is taken by a dependency'),
        ({"author_email": "not-an-email"}, '"not-an-email" does not look like an e-mail address'),
        ({"project_name": "   "}, "The project name must not be empty"),
    ],
    ids=["digit-first", "caps-and-dash", "keyword", "stdlib", "dependency", "email", "blank-name"],
)
def test_bad_answer_is_rejected_with_its_reason(
    render: Renderer, answers: dict[str, str], expected_message: str
) -> None:
    assert expected_message in render.rejection(**answers)


def test_good_answers_are_accepted(render: Renderer) -> None:
    project = render.project(
        project_name="Inventory Service",
        package_name="inventory",
        author_email="jane.doe@example.org",
    )

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["package_name"] == "inventory"
    assert answers["author_email"] == "jane.doe@example.org"
    assert (project / "src" / "inventory" / "__init__.py").is_file()


def test_default_package_name_is_derived_from_project_name(render: Renderer) -> None:
    project = render.project(project_name="My Cool-App 2")

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["package_name"] == "my_cool_app_2"
    assert (project / "src" / "my_cool_app_2").is_dir()


def test_stdlib_modules_lists_every_public_stdlib_module_of_this_python() -> None:
    listed = set(CONFIG["stdlib_modules"]["default"].split())
    public = {name for name in sys.stdlib_module_names if name.islower() and name[0] != "_"}

    assert sorted(public - listed) == []


def test_noxfile_reads_the_same_choices_and_defaults_as_yaml() -> None:
    from_yaml = {
        name: (
            tuple(
                spec["choices"].values() if isinstance(spec["choices"], dict) else spec["choices"]
            ),
            spec.get("default"),
        )
        for name, spec in CONFIG.items()
        if isinstance(spec, dict) and "choices" in spec
    }

    from_reader = {
        q.name: (q.choices, q.default) for q in read_choice_questions(COPIER_YML).values()
    }

    assert from_reader == from_yaml


def test_observability_offers_none_and_opentelemetry_and_defaults_to_none() -> None:
    question = read_choice_questions(COPIER_YML)["observability"]

    assert (question.choices, question.default) == (("none", "opentelemetry"), "none")


def test_observability_none_is_what_an_app_gets_by_default(render: Renderer) -> None:
    project = render.project()

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["observability"] == "none"
    assert not (project / "src" / "task_tracker" / "telemetry.py").exists()


def test_an_unknown_observability_answer_is_rejected(render: Renderer) -> None:
    assert "jaeger" in render.rejection(observability="jaeger")
