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
