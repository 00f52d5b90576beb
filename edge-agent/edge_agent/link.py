"""A store's link to the hub that can be cut: a TCP relay between the store's leaf node and
the hub's leaf port. Tests, `simulate` and the benchmark cut it to partition a store from the
cloud without stopping either server, as a failed WAN line would."""

from __future__ import annotations

import asyncio
import contextlib

from tillstream.natsserver import free_port


class LinkProxy:
    """Relays 127.0.0.1:<port> to the hub's leaf port while up; `cut` drops every connection
    and refuses new ones, `restore` accepts again."""

    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def leaf_url(self) -> str:
        return f"nats-leaf://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self.server is not None

    async def restore(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    start = restore

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update((writer, up_writer))
        # Cancelled when the loop shuts down with the link up: the connection just ends.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(up_reader, writer),
                return_exceptions=True,
            )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self.writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
