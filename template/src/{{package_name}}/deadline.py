"""A deadline for every request: past it the client gets 503 and the request is cancelled.

Driver timeouts bound each statement, but not every wait: psycopg has no client-side statement
timeout, and a server that accepts packets yet never answers (stalled, or behind a proxy that lost
it) keeps a query waiting forever. Cancelling the request is what ends that wait.

The 503 goes out as soon as the deadline passes, without waiting for the cancelled request to
clean up: a driver may take seconds to give up on such a connection (psycopg first asks the
server to cancel the query). The cleanup still ends before this middleware returns, so no task
outlives its request. A request that meets its deadline costs one timer, not a task of its own.
"""

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestDeadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = asyncio.current_task()
        assert request is not None
        response_started = False
        timeout: asyncio.Task[None] | None = None

        async def send_in_time(message: Message) -> None:
            nonlocal response_started
            if timeout is not None:
                return  # the client already has its 503
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        def expire() -> None:
            nonlocal timeout
            if response_started:
                return  # already streaming its answer: nothing to replace
            answer = JSONResponse(
                {"detail": "The request took too long; try again shortly."},
                status_code=503,
                headers={"Retry-After": "5"},
            )
            timeout = asyncio.ensure_future(answer(scope, receive, send))
            request.cancel()

        timer = asyncio.get_running_loop().call_later(self.seconds, expire)
        try:
            await self.app(scope, receive, send_in_time)
        except asyncio.CancelledError:
            # Not the deadline's, or the server's as well (it is stopping): pass it on.
            if timeout is None or request.uncancel() > 0:
                raise
        else:
            if timeout is not None:
                request.uncancel()  # the route caught the deadline's cancellation and returned
        finally:
            timer.cancel()
        if timeout is not None:
            await timeout
