"""Counting the statements that processes send to PostgreSQL: a TCP proxy that reads the frontend protocol.

The bench server's pg_stat_statements cannot be used (it needs `shared_preload_libraries`, a restart
of a shared server), and the pg_stat_* views count transactions and rows, not statements. So the
statements are counted on the wire: the processes under test connect through this proxy, which
passes every byte on and counts, per direction client -> server, the `Execute` messages of the
extended protocol (one per statement, whether prepared or not) and the `Query` messages of the
simple protocol (psycopg sends BEGIN, COMMIT and ROLLBACK that way; one statement each as sent here).
The proxy runs in a thread of its own with its own event loop; it is used only for the counting
pass, never while latencies and CPU are measured.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import Counter

STARTUP_V3 = 196608  # protocol 3.0; SSLRequest, GSSENCRequest and CancelRequest use other codes


class StatementCounter:
    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 5432) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.counts: Counter[str] = Counter()  # "execute", "query", "transaction" (BEGIN)
        self.statements: Counter[str] = Counter()  # statement text (first 100 characters, one line) -> executions
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pgcount")
        self._server: asyncio.Server | None = None

    # --- control, from the bench's thread --------------------------------------------------------
    def start(self) -> int:
        self._thread.start()
        self._started.wait(10)
        return self.port

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        return Counter(self.counts), Counter(self.statements)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    # --- the proxy, in its own thread ------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._started.set()
        self._loop.run_forever()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        tasks = [
            asyncio.create_task(self._frontend(client_reader, server_writer)),
            asyncio.create_task(self._pipe(server_reader, client_writer)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_writer, server_writer):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _frontend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client -> server: untyped messages up to the startup message, then typed ones, counted."""
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            writer.write(head + await reader.readexactly(length - 8))
            await writer.drain()
            if code == STARTUP_V3:
                break
        parsed: dict[bytes, str] = {}  # this connection's statements by name ("" the unnamed one)
        bound = ""
        while True:
            head = await reader.readexactly(5)
            kind, length = head[:1], struct.unpack("!i", head[1:])[0]
            body = await reader.readexactly(length - 4)
            if kind == b"P":  # Parse: name, query
                name, query = body.split(b"\x00", 2)[:2]
                parsed[name] = short(query)
            elif kind == b"B":  # Bind: portal, statement
                bound = parsed.get(body.split(b"\x00", 2)[1], "?")
            elif kind == b"E":
                self.counts["execute"] += 1
                self.statements[bound] += 1
                if bound.upper().startswith("BEGIN"):
                    self.counts["transaction"] += 1
            elif kind == b"Q":
                text = short(body.rstrip(b"\x00"))
                self.counts["query"] += 1
                self.statements[text] += 1
                if text.upper().startswith("BEGIN"):
                    self.counts["transaction"] += 1
            writer.write(head + body)
            await writer.drain()


def short(query: bytes) -> str:
    return " ".join(query.decode(errors="replace").split())[:100]
