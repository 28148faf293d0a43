"""A TCP proxy between the app and PostgreSQL that can cut, stall and restore the link.

Standard library only. It listens on 127.0.0.1 and forwards every connection to one upstream
address. Three modes:

* ``up``: bytes flow both ways.
* ``cut``: every open link is closed (as when the server restarts) and new connections are
  refused (accepted, then closed at once, as a server that is down but whose port answers).
* ``blackhole``: connections stay open and new ones are accepted, but no byte is forwarded
  either way, as when the server or the network stalls.

``restore()`` goes back to ``up``. Links that were stalled are closed then: the server side
has long given up on them, and the app must notice and replace them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

CHUNK = 65536


@dataclass(eq=False)
class Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self) -> None:
        for writer in (self.client, self.server):
            if writer is not None:
                writer.close()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "up"
        self.links: set[Link] = set()
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        self._close_links()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.mode = "cut"
        self._close_links()

    def blackhole(self) -> None:
        self.mode = "blackhole"
        self._flowing.clear()

    def restore(self) -> None:
        if self.mode == "blackhole":
            self._close_links()
        self.mode = "up"
        self._flowing.set()

    def _close_links(self) -> None:
        for link in list(self.links):
            link.close()
        self.links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "cut":
            writer.close()
            return
        link = Link(client=writer)
        self.links.add(link)
        try:
            if self.mode == "blackhole":
                await self._flowing.wait()  # never forwarded; closed by restore()
                if link not in self.links:
                    return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            link.server = up_writer
            link.tasks = [
                asyncio.create_task(self._pump(reader, up_writer)),
                asyncio.create_task(self._pump(up_reader, writer)),
            ]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            link.close()
            self.links.discard(link)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(CHUNK):
                if not self._flowing.is_set():
                    await self._flowing.wait()
                    return  # the link was stalled: restore() closes it
                writer.write(data)
                await writer.drain()
        writer.close()
