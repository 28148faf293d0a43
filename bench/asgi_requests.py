"""Serve N requests to an ASGI app in-process, one after another, and exit: what
`instructions.py` runs under valgrind. No server and no client library, so the instructions it
counts are the app's (and its driver's), not an HTTP stack's.

    python asgi_requests.py MODULE:FACTORY PATH N
    python asgi_requests.py MODULE:FACTORY "POST /projects/7/tasks" N

A POST sends `{"title": ...}` with a title of its own each time (and of this process: two runs
at once do not collide) and expects 201; a GET expects 200.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from typing import Any


async def main(factory: str, target: str, count: int) -> None:
    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)()
    method, _, target = target.rpartition(" ")
    method = method or "GET"
    expected = 201 if method == "POST" else 200
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
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }

    body = b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for number in range(count):
        if method == "POST":
            body = json.dumps({"title": f"instructions {os.getpid()} {number}"}).encode()
        await app({**scope, "state": dict(state)}, receive, send)
        if (status := statuses.pop()) != expected:
            raise SystemExit(f"{factory} {method} {target}: {status}, not {expected}")
    await startup.put({"type": "lifespan.shutdown"})
    await replies.get()
    await lifespan


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
