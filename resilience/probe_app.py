"""The generated app as the resilience suite runs it, plus one route the suite reads.

uvicorn --factory probe_app:create_app, with RESILIENCE_PACKAGE naming the app's package.
`/_probe` reports the pool's checked-out connections and the asyncio tasks alive; disposal of
the engine is printed, so the suite can see it happen at shutdown. Nothing here changes how the
app handles a request.
"""

import asyncio
import importlib
import os
import sys
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import event
from sqlalchemy.engine import Engine

DISPOSED = "RESILIENCE: engine disposed"


def _print_disposed(_engine: Any) -> None:
    print(DISPOSED, file=sys.stderr, flush=True)


def create_app() -> FastAPI:
    main = importlib.import_module(f"{os.environ['RESILIENCE_PACKAGE']}.main")
    app: FastAPI = main.create_app()
    event.listen(Engine, "engine_disposed", _print_disposed)

    @app.get("/_probe", include_in_schema=False)
    async def probe(request: Request) -> dict[str, Any]:
        pool = request.app.state.engine.pool
        checkedout = getattr(pool, "checkedout", None)
        return {
            "checked_out": checkedout() if checkedout is not None else None,
            "pool": type(pool).__name__,
            # This request's own task is one of them.
            "tasks": len(asyncio.all_tasks()),
        }

    return app
