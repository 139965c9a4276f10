"""A minimal HTTP/2 server over cleartext (h2c, prior knowledge) for the APNs tests, built on the
h2 library. It records each request's headers and body and answers with the next reply."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

import h2.config
import h2.connection
import h2.events

from tests.realtime.helpers import Reply


@dataclass
class H2Request:
    headers: dict[str, str]
    body: bytes


class H2Server:
    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [Reply()]
        self.received: list[H2Request] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._stop = threading.Event()

    def __enter__(self) -> H2Server:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        client.sendall(conn.data_to_send())
        streams: dict[int, H2Request] = {}
        with client:
            while True:
                try:
                    data = client.recv(65535)
                except OSError:
                    return
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = H2Request(dict(event.headers), b"")  # type: ignore[arg-type]
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id].body += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        request = streams.pop(event.stream_id)
                        self.received.append(request)
                        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
                        headers = [(":status", str(reply.status)), ("apns-id", "00000000-0000-4000-8000-000000000000")]
                        if reply.body:
                            headers.append(("content-length", str(len(reply.body))))
                        conn.send_headers(event.stream_id, headers, end_stream=not reply.body)
                        if reply.body:
                            conn.send_data(event.stream_id, reply.body, end_stream=True)
                client.sendall(conn.data_to_send())
