"""The generated app as the resilience suite runs it, plus two routes the suite reads.

uvicorn --factory probe_app:create_app, with RESILIENCE_PACKAGE naming the app's package.
`/_probe` reports the pool's checked-out connections and the asyncio tasks alive; disposal of
the engine is printed, so the suite can see it happen at shutdown. `/_probe/errors` counts the
exceptions that reached the app's exception handlers or escaped the app, by their chain (the
SQLAlchemy error, the driver's, its SQLSTATE) and by what became of them (the status a handler
answered, or `500 raised`). Nothing here changes how the app handles a request: each handler is
called as before, and an escaping exception is raised on.
"""

import asyncio
import importlib
import inspect
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

DISPOSED = "RESILIENCE: engine disposed"
SEEN = "_resilience_seen"
ERRORS: Counter[tuple[str, str]] = Counter()

Handler = Callable[[Request, Any], Any]


def _print_disposed(_engine: Any) -> None:
    print(DISPOSED, file=sys.stderr, flush=True)


def describe(error: BaseException) -> str:
    """`DBAPIError > asyncpg.exceptions.CannotConnectNowError 57P03: the database system is...`"""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 6:
        chain.append(current)
        orig = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError: the DBAPI's error
        current = orig if isinstance(orig, BaseException) else current.__cause__
        if current is None and not chain[-1].__suppress_context__:
            current = chain[-1].__context__
    parts = []
    for item in chain:
        kind = type(item)
        module = kind.__module__
        plain = module in {"builtins", "sqlalchemy.exc"}
        name = kind.__qualname__ if plain else f"{module}.{kind.__qualname__}"
        code = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        parts.append(f"{name} {code}" if isinstance(code, str) and code else name)
    message = " ".join(str(chain[-1]).split())
    # libpq's "connection to server at "127.0.0.1", port 5432 failed: FATAL: ...": the reason
    message = re.sub(r"connection to server at .*? failed: ", "", message)[:110]
    return " > ".join(parts) + (f": {message}" if message else "")


def _observed(handler: Handler) -> Handler:
    async def observe(request: Request, error: Exception) -> Any:
        try:
            response = handler(request, error)
            if inspect.isawaitable(response):  # the template's are; Starlette allows plain ones
                response = await response
        except BaseException:
            if not getattr(error, SEEN, False):
                ERRORS[(describe(error), "500 raised")] += 1
                setattr(error, SEEN, True)
            raise
        if not getattr(error, SEEN, False):  # not counted on its way out already
            ERRORS[(describe(error), str(getattr(response, "status_code", "?")))] += 1
            setattr(error, SEEN, True)
        return response

    return observe


class EscapedErrors:
    """Counts the exceptions no handler answered (Starlette's 500), then raises them on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            if not getattr(error, SEEN, False):
                ERRORS[(describe(error), "500 unhandled")] += 1
                setattr(error, SEEN, True)
            raise


def create_app() -> FastAPI:
    main = importlib.import_module(f"{os.environ['RESILIENCE_PACKAGE']}.main")
    app: FastAPI = main.create_app()
    event.listen(Engine, "engine_disposed", _print_disposed)
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _observed(handler)
    app.add_middleware(EscapedErrors)

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

    @app.get("/_probe/errors", include_in_schema=False)
    async def errors(reset: bool = False) -> list[dict[str, Any]]:
        seen = [
            {"error": error, "outcome": outcome, "count": count}
            for (error, outcome), count in ERRORS.most_common()
        ]
        if reset:
            ERRORS.clear()
        return seen

    return app
