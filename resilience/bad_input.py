"""Bad input against a generated app's OpenAPI schema, in-process (ASGI, no network).

Run with the app's own Python, schemathesis installed there (`nox -s resilience` does both):

    <app>/.venv/bin/python resilience/bad_input.py

DATABASE_URL names the app's migrated database. Schemathesis generates valid and invalid requests
for every operation (wrong types, over-long strings, out-of-range numbers, arbitrary unicode);
the named cases below add the inputs a database is known to choke on, and bodies that are not
JSON; the refused ones must get the status they name, in a small answer. Every answer must be
documented in the schema and none may be a 5xx: an error is checked against the `Problem` schema,
as application/problem+json.
"""

import os
import sys
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

main = __import__(f"{os.environ.get('RESILIENCE_PACKAGE', 'task_tracker')}.main", fromlist=["_"])

schema = schemathesis.openapi.from_asgi("/openapi.json", main.create_app())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", "15"))

LONG = "x" * 100_000
BIG = 2**64
NAMED_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/projects", {"body": {"name": "nul\x00in the middle"}}),
    ("POST", "/projects", {"body": {"name": "ok", "description": "\x00"}}),
    ("POST", "/projects", {"body": {"name": LONG}}),
    ("POST", "/projects", {"body": {"name": "ünïcødé ✓ 🚀 \u202e \ud7ff"}}),
    ("POST", "/projects", {"body": {"name": 12345}}),
    ("POST", "/projects", {"body": {"name": "tasks", "tasks": [{"title": "\x00"}]}}),
    ("POST", "/projects", {"body": {"name": "tasks", "tasks": "not a list"}}),
    ("POST", "/projects", {"body": b"\xff", "media_type": "application/json"}),
    ("POST", "/projects", {"body": b'{"name": ', "media_type": "application/json"}),
    ("GET", "/projects", {"query": {"limit": BIG, "offset": BIG}}),
    ("GET", "/projects", {"query": {"limit": -1, "offset": -1}}),
    ("GET", "/projects", {"query": {"limit": "ten"}}),
    ("GET", "/projects/{project_id}", {"path_parameters": {"project_id": -1}}),
    ("GET", "/projects/{project_id}", {"path_parameters": {"project_id": BIG}}),
    ("GET", "/projects/{project_id}", {"path_parameters": {"project_id": 2**31}}),
    (
        "PATCH",
        "/projects/{project_id}",
        {"path_parameters": {"project_id": 1}, "body": {"name": "\x00"}},
    ),
    ("DELETE", "/projects/{project_id}", {"path_parameters": {"project_id": -(2**63)}}),
    (
        "POST",
        "/projects/{project_id}/tasks",
        {"path_parameters": {"project_id": 0}, "body": {"title": LONG}},
    ),
    ("GET", "/projects/{project_id}/tasks", {"path_parameters": {"project_id": BIG}}),
]


def raw(body: bytes) -> dict[str, Any]:
    return {"body": body, "media_type": "application/json"}


# Each with the status it must get: text no column can hold, numbers JSON allows and no column
# holds, blank names, a body past MAX_BODY_BYTES (1 MiB by default).
REFUSED: list[tuple[str, str, dict[str, Any], int]] = [
    ("POST", "/projects", raw(rb'{"name": "lone \ud800"}'), 422),
    ("POST", "/projects", raw(rb'{"name": "ok", "description": "\udfff"}'), 422),
    ("POST", "/projects", raw(rb'{"name": "ok", "tasks": [{"title": "\ud800"}]}'), 422),
    (
        "PATCH",
        "/projects/{project_id}",
        {"path_parameters": {"project_id": 1}, **raw(rb'{"name": "\udbff"}')},
        422,
    ),
    (
        "POST",
        "/projects/{project_id}/tasks",
        {"path_parameters": {"project_id": 1}, **raw(rb'{"title": "\udc00"}')},
        422,
    ),
    *[
        ("POST", "/projects", raw(b'{"name": %s}' % number), 422)
        for number in (b"NaN", b"Infinity", b"-Infinity", b"1e999999", b"9" * 5000)
    ],
    ("POST", "/projects", raw(b'{"name": "x", "tasks": [{"title": "t", "done": NaN}]}'), 422),
    *[
        ("GET", "/projects", {"query": {"limit": number, "offset": number}}, 422)
        for number in ("NaN", "Infinity", "-Infinity", "1e999999", "9" * 5000)
    ],
    ("POST", "/projects", {"body": {"name": "   "}}, 422),
    ("POST", "/projects", {"body": {"name": "\t\n\u3000"}}, 422),
    ("POST", "/projects", {"body": {"name": "ok", "tasks": [{"title": " "}]}}, 422),
    (
        "PATCH",
        "/projects/{project_id}",
        {"path_parameters": {"project_id": 1}, "body": {"name": "  "}},
        422,
    ),
    ("POST", "/projects", {"body": {"name": "x" * 2**21}}, 413),
    ("POST", "/projects", raw(b" " * 2**21), 413),
]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_generated_requests(case: schemathesis.Case) -> None:
    case.call_and_validate()


@pytest.mark.parametrize(("method", "path", "parts"), NAMED_CASES)
def test_named_bad_input(method: str, path: str, parts: dict[str, Any]) -> None:
    case = schema[path][method].Case(**parts)
    response = case.call_and_validate()
    assert response.status_code < 500


@pytest.mark.parametrize(("method", "path", "parts", "status"), REFUSED)
def test_refused_input(method: str, path: str, parts: dict[str, Any], status: int) -> None:
    case = schema[path][method].Case(**parts)
    response = case.call_and_validate()
    assert response.status_code == status
    # Never an echo of the input: a refusal stays small however large the request.
    assert len(response.content) < 2_000


if __name__ == "__main__":
    arguments = [__file__, "-q", "-p", "no:cacheprovider", "-c", os.devnull, "-W", "ignore"]
    sys.exit(pytest.main(arguments))
