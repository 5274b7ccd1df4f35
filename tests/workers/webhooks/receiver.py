"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request, answers with a
status chosen per request, can hold requests until released, and can be stopped and restarted
on the same port (receiver down, then up)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.services import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    status: Callable[[int], int] = lambda n: 200  # request number (1-based) -> status
    gate: threading.Event | None = None  # when set: hold each request until the gate opens
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                with receiver.lock:
                    receiver.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()},
                        body.decode()))
                    n = len(receiver.received)
                code = receiver.status(n)
                self.send_response(code)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self) -> list[str]:
        with self.lock:
            return [r.body for r in self.received]
