"""Serve N requests to an ASGI app in-process, one after another, and exit: what
`instructions.py` runs under valgrind. No server and no client library, so the instructions it
counts are the app's (and its driver's), not an HTTP stack's.

    python asgi_requests.py MODULE:FACTORY PATH N
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any


async def main(factory: str, target: str, count: int) -> None:
    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)()
    path, _, query = target.partition("?")
    state: dict[str, Any] = {}
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    lifespan_scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    lifespan = asyncio.ensure_future(app(lifespan_scope, startup.get, replies.put))
    started = await replies.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"startup failed: {started}")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(count):
        await app({**scope, "state": dict(state)}, receive, send)
        if statuses.pop() != 200:
            raise SystemExit(f"{factory} {target}: not 200")
    await startup.put({"type": "lifespan.shutdown"})
    await replies.get()
    await lifespan


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
