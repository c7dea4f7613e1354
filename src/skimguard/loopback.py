"""The HTTP server under the demo shop and the test servers: loopback only, threaded, stoppable.

Each connection is tracked so that :meth:`LoopbackServer.close_connections` can cut keep-alive and
hanging ones at stop; a client that goes away mid-request (browsers do) is not an error.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_Request = socket.socket | tuple[bytes, socket.socket]


class LoopbackHandler(BaseHTTPRequestHandler):
    """A quiet handler that sends every method to ``_dispatch`` (the subclass routes by Host)."""

    protocol_version = "HTTP/1.1"
    timeout = 20

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _dispatch(self) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_in_background(self, name: str) -> None:
        """Serve from a daemon thread (named ``name:port``) until :meth:`stop`."""
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.1,), name=f"{name}:{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, cut open connections, release the port, and wait for the thread."""
        self.shutdown()
        self.close_connections()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout)

    def process_request(self, request: _Request, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self.conns_lock:
                self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _Request, client_address: Any) -> None:
        """A browser closing its connection is normal; anything else is reported as usual."""

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut open (keep-alive, hanging or WebSocket) connections so no handler outlives the server."""
        with self.conns_lock:
            conns = list(self.conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
