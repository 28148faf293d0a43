"""A request's writes are all-or-nothing."""

from httpx import AsyncClient


async def test_a_failed_request_leaves_nothing_behind(client: AsyncClient) -> None:
    await client.post("/projects", json={"name": "Taken"})
    project = (await client.post("/projects", json={"name": "Kept", "description": "old"})).json()

    # The description is written first; the rename then violates uniqueness.
    response = await client.patch(
        f"/projects/{project['id']}", json={"description": "new", "name": "Taken"}
    )

    assert response.status_code == 409
    reread = (await client.get(f"/projects/{project['id']}")).json()
    assert (reread["name"], reread["description"]) == ("Kept", "old")


async def test_a_project_and_its_tasks_are_created_together(client: AsyncClient) -> None:
    response = await client.post(
        "/projects", json={"name": "Apollo", "tasks": [{"title": "Design"}, {"title": "Fly"}]}
    )

    assert response.status_code == 201
    assert [task["title"] for task in response.json()["tasks"]] == ["Design", "Fly"]


async def test_a_failing_second_insert_undoes_the_first(client: AsyncClient) -> None:
    # The project row is written, then the second task breaks the (project, title) rule.
    response = await client.post(
        "/projects", json={"name": "Apollo", "tasks": [{"title": "Fly"}, {"title": "Fly"}]}
    )

    assert response.status_code == 409
    assert (await client.get("/projects")).json()["total"] == 0


async def test_a_response_is_sent_only_after_the_commit(
    live_client: AsyncClient, other_live_client: AsyncClient
) -> None:
    created = await live_client.post(
        "/projects", json={"name": "Visible at once", "tasks": [{"title": "Check"}]}
    )
    assert created.status_code == 201
    project = created.json()
    try:
        # Another instance of the app, with its own connections, reads it straight away.
        seen = await other_live_client.get(f"/projects/{project['id']}")

        assert seen.status_code == 200
        assert seen.json() == project
    finally:
        assert (await live_client.delete(f"/projects/{project['id']}")).status_code == 204
