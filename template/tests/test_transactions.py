"""A request's writes are all-or-nothing, and committed before the client hears of them."""

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.conftest import running


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


class RecordResponseStart:
    """ASGI middleware that notes the moment the response starts going out to the client."""

    def __init__(self, app: ASGIApp, events: list[str]) -> None:
        self.app = app
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.events.append("response starts")
            await send(message)

        await self.app(scope, receive, send_and_record)


async def test_a_response_is_sent_only_after_the_commit(
    live_app: FastAPI, other_live_client: AsyncClient
) -> None:
    # In-process clients only return once the app is done, so the order is observed directly:
    # the engine's COMMIT against the first byte of the response.
    events: list[str] = []
    live_app.add_middleware(RecordResponseStart, events=events)
    async with running(live_app) as live_client:
        engine: AsyncEngine = live_app.state.engine
        event.listen(engine.sync_engine, "commit", lambda _connection: events.append("commit"))
        created = await live_client.post(
            "/projects", json={"name": "Visible at once", "tasks": [{"title": "Check"}]}
        )
        assert created.status_code == 201
        assert events == ["commit", "response starts"]
        project = created.json()
        try:
            # Another instance of the app, with its own connections, reads it straight away.
            seen = await other_live_client.get(f"/projects/{project['id']}")

            assert seen.status_code == 200
            assert seen.json() == project
        finally:
            assert (await live_client.delete(f"/projects/{project['id']}")).status_code == 204
