"""Hostile input gets a problem details answer that says why, never a 500 or an echo of the input:
text that cannot be stored, numbers JSON allows but no column holds, blank names, bodies past the
size limit, and methods a path does not answer.
"""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.problems import INVALID, problem

JSON = {"Content-Type": "application/json"}


def assert_invalid(response: Response, loc: list[str | int], error_type: str) -> None:
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    answer = response.json()
    assert answer == problem(response, INVALID, errors=answer["errors"])
    # A field that may also be absent (PATCH) is a union: its errors add the member to `loc`.
    assert any(
        error["loc"][: len(loc)] == loc and error["type"] == error_type
        for error in answer["errors"]
    ), answer["errors"]


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/projects", rb'{"name": "a\ud800b"}', ["body", "name"]),
        ("POST", "/projects", rb'{"name": "x", "description": "\udfff"}', ["body", "description"]),
        (
            "POST",
            "/projects",
            rb'{"name": "x", "tasks": [{"title": "\ud800"}]}',
            ["body", "tasks", 0, "title"],
        ),
        ("PATCH", "/projects/1", rb'{"name": "\ud800"}', ["body", "name"]),
        ("PATCH", "/projects/1", rb'{"description": "\udbff"}', ["body", "description"]),
        ("POST", "/projects/1/tasks", rb'{"title": "\udc00"}', ["body", "title"]),
    ],
)
async def test_a_lone_surrogate_is_422(
    client: AsyncClient, method: str, path: str, body: bytes, loc: list[str | int]
) -> None:
    # Valid JSON, but not text that UTF-8 or PostgreSQL can hold.
    response = await client.request(method, path, content=body, headers=JSON)

    assert_invalid(response, loc, "string_unicode")


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999999"])
@pytest.mark.parametrize(
    ("template", "loc", "error_type"),
    [
        (b'{"name": %s}', ["body", "name"], "string_type"),
        (
            b'{"name": "x", "tasks": [{"title": "t", "done": %s}]}',
            ["body", "tasks", 0, "done"],
            "bool_type",
        ),
    ],
)
async def test_a_number_json_cannot_hold_is_422(
    client: AsyncClient, number: bytes, template: bytes, loc: list[str | int], error_type: str
) -> None:
    response = await client.post("/projects", content=template % number, headers=JSON)

    assert_invalid(response, loc, error_type)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999999", "9" * 5000])
@pytest.mark.parametrize("parameter", ["limit", "offset"])
async def test_a_number_no_column_holds_in_the_query_is_422(
    client: AsyncClient, parameter: str, number: str
) -> None:
    response = await client.get(f"/projects?{parameter}={number}")

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", parameter]


async def test_a_number_too_long_to_parse_is_422(client: AsyncClient) -> None:
    body = b'{"name": "x", "tasks": [{"title": "t", "done": %s}]}' % (b"9" * 5000)

    response = await client.post("/projects", content=body, headers=JSON)

    assert_invalid(response, ["body"], "json_invalid")


@pytest.mark.parametrize("blank", [" ", "   ", "\t\n", "\u00a0", "\u3000 \u2003"])
@pytest.mark.parametrize(
    ("method", "path", "field", "loc"),
    [
        ("POST", "/projects", "name", ["body", "name"]),
        ("PATCH", "/projects/1", "name", ["body", "name"]),
        ("POST", "/projects/1/tasks", "title", ["body", "title"]),
    ],
)
async def test_a_blank_name_or_title_is_422(
    client: AsyncClient, method: str, path: str, field: str, loc: list[str | int], blank: str
) -> None:
    response = await client.request(method, path, json={field: blank})

    assert_invalid(response, loc, "string_pattern_mismatch")


async def test_a_name_with_spaces_around_it_is_kept_as_sent(client: AsyncClient) -> None:
    response = await client.post("/projects", json={"name": " Soyuz 2 ", "description": "  "})

    assert response.status_code == 201
    assert (response.json()["name"], response.json()["description"]) == (" Soyuz 2 ", "  ")


async def test_a_422_stays_small_however_large_the_bad_input(client: AsyncClient) -> None:
    response = await client.post("/projects", json={"name": "x" * 100_000})

    assert_invalid(response, ["body", "name"], "string_too_long")
    assert len(response.content) < 1_000


async def test_a_body_declared_over_the_limit_is_413(app: FastAPI, client: AsyncClient) -> None:
    limit = app.state.settings.max_body_bytes

    response = await client.post("/projects", content=b" " * (limit + 1), headers=JSON)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(
        response, f"The request body is larger than the {limit} bytes this server accepts."
    )


async def test_a_chunked_body_over_the_limit_is_413(app: FastAPI, client: AsyncClient) -> None:
    limit = app.state.settings.max_body_bytes
    chunk = b" " * 65_536

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield chunk

    # No Content-Length: the body is counted as it arrives, and no longer read past the limit.
    response = await client.post("/projects", content=endless(), headers=JSON)

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == problem(
        response, f"The request body is larger than the {limit} bytes this server accepts."
    )


async def test_a_length_that_is_not_a_number_does_not_skip_the_count(
    app: FastAPI, client: AsyncClient
) -> None:
    body = b" " * (app.state.settings.max_body_bytes + 1)

    response = await client.post(
        "/projects", content=body, headers={**JSON, "Content-Length": "a lot"}
    )

    assert response.status_code == 413


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_at_the_limit_is_read(
    app: FastAPI, client: AsyncClient, chunked: bool
) -> None:
    limit = app.state.settings.max_body_bytes
    body = b'{"name": "%s"}' % (b"x" * (limit - len(b'{"name": ""}')))

    async def chunks() -> AsyncIterator[bytes]:
        yield body[: limit // 2]
        yield body[limit // 2 :]

    content: bytes | AsyncIterator[bytes] = chunks() if chunked else body
    response = await client.post("/projects", content=content, headers=JSON)

    assert len(body) == limit
    assert_invalid(response, ["body", "name"], "string_too_long")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/projects", "GET, POST"),
        ("OPTIONS", "/projects/1", "DELETE, GET, PATCH"),
        ("POST", "/projects/1", "DELETE, GET, PATCH"),
        ("DELETE", "/projects/1/tasks", "GET, POST"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    client: AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == problem(response, "Method Not Allowed")
