"""A deadline for every request: past it the client gets 503 and the request is cancelled.

Driver timeouts bound each statement, but not every wait: psycopg has no client-side statement
timeout, and a server that accepts packets yet never answers (stalled, or behind a proxy that lost
it) keeps a query waiting forever. Cancelling the request is what ends that wait.

The 503 goes out as soon as the deadline passes, without waiting for the cancelled request to
clean up: a driver may take seconds to give up on such a connection (psycopg first asks the
server to cancel the query). The cleanup still ends before this middleware returns, so no task
outlives its request.
"""

import asyncio
from contextlib import suppress

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
        response_started = False
        expired = False

        async def send_in_time(message: Message) -> None:
            nonlocal response_started
            if expired:
                return  # the client already has its 503
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        request = asyncio.ensure_future(self.app(scope, receive, send_in_time))
        try:
            await asyncio.wait({request}, timeout=self.seconds)
        except asyncio.CancelledError:
            # The server itself is stopping this request: stop ours, and let it clean up first.
            request.cancel()
            await asyncio.wait({request})
            raise
        if request.done() or response_started:
            # Finished in time, or already streaming its answer: nothing to replace.
            await request
            return
        expired = True
        request.cancel()
        timeout = JSONResponse(
            {"detail": "The request took too long; try again shortly."},
            status_code=503,
            headers={"Retry-After": "5"},
        )
        await timeout(scope, receive, send)
        with suppress(asyncio.CancelledError):
            await request
