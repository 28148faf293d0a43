"""The /projects contract: CRUD, pagination and the 404/409/422 answers."""

from typing import Any

import pytest
from httpx import AsyncClient

from tests.problems import INVALID, problem


async def create_project(client: AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/projects", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_task(client: AsyncClient, project_id: int, title: str) -> dict[str, Any]:
    response = await client.post(f"/projects/{project_id}/tasks", json={"title": title})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_then_read_a_project(client: AsyncClient) -> None:
    created = await create_project(client, "Apollo", description="To the moon")
    assert created == {
        "id": created["id"],
        "name": "Apollo",
        "description": "To the moon",
        "tasks": [],
    }

    response = await client.get(f"/projects/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


async def test_a_project_is_read_with_its_tasks_in_order(client: AsyncClient) -> None:
    project = await create_project(client, "Gemini")
    first = await create_task(client, project["id"], "Design")
    second = await create_task(client, project["id"], "Build")

    response = await client.get(f"/projects/{project['id']}")

    assert [task["title"] for task in response.json()["tasks"]] == ["Design", "Build"]
    assert response.json()["tasks"] == [first, second]


async def test_tasks_of_a_project(client: AsyncClient) -> None:
    project = await create_project(client, "Mercury")
    task = await create_task(client, project["id"], "Launch")

    response = await client.get(f"/projects/{project['id']}/tasks")

    assert response.status_code == 200
    assert response.json() == [
        {"id": task["id"], "project_id": project["id"], "title": "Launch", "done": False}
    ]


async def test_list_pages_through_projects_with_their_tasks(client: AsyncClient) -> None:
    projects = [await create_project(client, f"Project {number}") for number in range(5)]
    await create_task(client, projects[2]["id"], "Only task")

    response = await client.get("/projects", params={"limit": 2, "offset": 2})

    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 2)
    assert [item["name"] for item in page["items"]] == ["Project 2", "Project 3"]
    assert [task["title"] for task in page["items"][0]["tasks"]] == ["Only task"]
    assert page["items"][1]["tasks"] == []


async def test_list_defaults_to_the_first_page(client: AsyncClient) -> None:
    await create_project(client, "Solo")

    page = (await client.get("/projects")).json()

    assert (page["total"], page["limit"], page["offset"]) == (1, 20, 0)


async def test_update_changes_only_the_fields_sent(client: AsyncClient) -> None:
    project = await create_project(client, "Skylab", description="Station")
    await create_task(client, project["id"], "Dock")

    response = await client.patch(f"/projects/{project['id']}", json={"name": "Skylab 2"})

    assert response.status_code == 200
    assert response.json()["name"] == "Skylab 2"
    assert response.json()["description"] == "Station"
    assert [task["title"] for task in response.json()["tasks"]] == ["Dock"]


async def test_delete_removes_the_project_and_its_tasks(client: AsyncClient) -> None:
    project = await create_project(client, "Vostok")
    await create_task(client, project["id"], "Orbit")

    response = await client.delete(f"/projects/{project['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/projects/{project['id']}")).status_code == 404
    assert (await client.get(f"/projects/{project['id']}/tasks")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/projects/999999", None),
        ("PATCH", "/projects/999999", {"name": "x"}),
        ("DELETE", "/projects/999999", None),
        ("GET", "/projects/999999/tasks", None),
        ("POST", "/projects/999999/tasks", {"title": "x"}),
    ],
)
async def test_missing_project_is_404(
    client: AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = await client.request(method, path, json=body)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(response, "project 999999 not found")


async def test_duplicate_name_is_409(client: AsyncClient) -> None:
    await create_project(client, "Artemis")

    response = await client.post("/projects", json={"name": "Artemis"})

    assert response.status_code == 409
    assert response.json() == problem(
        response, "A project with this name already exists.", constraint="uq_projects_name"
    )


async def test_duplicate_task_title_in_a_project_is_409(client: AsyncClient) -> None:
    project = await create_project(client, "Soyuz")
    await create_task(client, project["id"], "Dock")

    response = await client.post(f"/projects/{project['id']}/tasks", json={"title": "Dock"})

    assert response.status_code == 409
    assert response.json() == problem(
        response,
        "This project already has a task with this title.",
        constraint="uq_tasks_project_id_title",
    )


async def test_renaming_onto_an_existing_name_is_409(client: AsyncClient) -> None:
    await create_project(client, "Taken")
    project = await create_project(client, "Free")

    response = await client.patch(f"/projects/{project['id']}", json={"name": "Taken"})

    assert response.status_code == 409
    assert response.json() == problem(
        response, "A project with this name already exists.", constraint="uq_projects_name"
    )


async def test_the_request_after_a_conflict_succeeds(client: AsyncClient) -> None:
    await create_project(client, "Artemis")
    assert (await client.post("/projects", json={"name": "Artemis"})).status_code == 409

    created = await create_project(client, "Artemis II")

    assert (await client.get(f"/projects/{created['id']}")).json() == created


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/projects", {}),
        ("POST", "/projects", {"name": ""}),
        ("POST", "/projects", {"name": "x" * 201}),
        ("PATCH", "/projects/1", {"name": None}),
        ("GET", "/projects?limit=0", None),
        ("GET", "/projects?limit=101", None),
        ("GET", "/projects?offset=-1", None),
        ("GET", "/projects/not-a-number", None),
        ("POST", "/projects/1/tasks", {"title": ""}),
        # PostgreSQL text cannot hold NUL; every backend refuses it the same way.
        ("POST", "/projects", {"name": "nul\x00byte"}),
        ("PATCH", "/projects/1", {"description": "\x00"}),
        ("POST", "/projects/1/tasks", {"title": "\x00"}),
        # Outside what an id column or a 64-bit offset holds.
        ("GET", "/projects/0", None),
        ("GET", "/projects/-9223372036854775809/tasks", None),
        ("GET", "/projects/2147483648", None),
        ("DELETE", "/projects/99999999999999999999", None),
        ("GET", "/projects?offset=9223372036854775808", None),
    ],
)
async def test_invalid_input_is_422_with_a_reason(
    client: AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await client.request(method, path, json=body)

    assert response.status_code == 422
    answer = response.json()
    assert answer == problem(response, INVALID, errors=answer["errors"])
    assert answer["errors"]
    assert all(error.keys() == {"loc", "msg", "type"} for error in answer["errors"])
