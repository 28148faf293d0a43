"""The request id: the client's `X-Request-ID` when it is sane, a new one otherwise.

It goes back in the response's `X-Request-ID` header and into every error body, so a client can
quote it. While a request runs, `request_id.get()` returns it: for log lines, for instance.
"""

import re
import secrets
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"

# Not reset when the request ends: each request runs in a task of its own, whose context ends with
# it, and Starlette runs the handler of a 500 after every middleware has returned.
request_id: ContextVar[str] = ContextVar("request_id")

# Printable ASCII without spaces, and short: the id is echoed in headers and written to logs.
SANE = re.compile(rb"[!-~]{1,128}")


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = b""
        for name, sent in scope["headers"]:
            if name == b"x-request-id":
                value = sent
                break
        if not SANE.fullmatch(value):
            # 128 random bits, like a UUID4's hex, for a third of uuid4()'s CPU time.
            value = secrets.token_hex(16).encode()
        request_id.set(value.decode())
        header = (b"x-request-id", value)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
