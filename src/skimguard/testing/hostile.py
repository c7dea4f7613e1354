"""A loopback server of hostile pages, for robustness tests of the browser scanner.

Every page lives under ``http://hostile.test:{port}/`` (127.0.0.1 and localhost work too). Hanging
handlers watch a stop event, so ``stop()`` returns quickly even while they are mid-request.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from skimguard.loopback import LoopbackServer

HOST = "hostile.test"
ALLOWED_HOSTS = (HOST, "127.0.0.1", "localhost")
NEVER_ENDS_LIMIT = 120.0
SLOW_HEADERS_DELAY = 60.0
HUGE_CHUNK = 64 * 1024
HUGE_CHUNKS = 800  # 800 x 64 KiB = 50 MiB
HUGE_HEAD = b"/* hostile.test: a valid, very large script */\nvar __huge = [\n"
HUGE_TAIL = b'""];\nwindow.__hugeLoaded = __huge.length;\n'
NEVER_ENDS_HEAD = b"<!doctype html><html><head><title>never ends</title></head><body><p>"

PAGES: dict[str, str] = {
    "/ok": """<!doctype html><html><head><meta charset="utf-8"><title>ok</title></head><body>
<h1 id="ok">ok</h1><script>document.getElementById("ok").dataset.inline = "1";</script>
<script src="/ok.js"></script></body></html>""",
    "/alert-loop": """<!doctype html><html><head><meta charset="utf-8"><title>alert loop</title></head>
<body><p>dialogs, forever</p>
<script>var i = 0; while (true) { i++; alert("alert " + i); confirm("confirm " + i);
prompt("prompt " + i, "x"); }</script></body></html>""",
    "/huge-script": """<!doctype html><html><head><meta charset="utf-8"><title>huge script</title></head>
<body><p>loading a 50 MB script</p><script src="/huge.js"></script></body></html>""",
    "/self-close": """<!doctype html><html><head><meta charset="utf-8"><title>self close</title></head>
<body><p>closing myself</p>
<script>document.write("<div><table><tr><td><<<&#0;>>><sc" + "ript>/*");</script>
<script>window.addEventListener("load", function () {
  document.write("\\u0000<frameset><<garbage>></x " + "\\ud800".repeat(50));
  window.close();
});</script></body></html>""",
    "/popups": """<!doctype html><html><head><meta charset="utf-8"><title>popups</title></head>
<body><p>popups on load and on click</p>
<script>function pop() { for (var i = 0; i < 5; i++) {
  window.open(i % 2 ? "about:blank" : "/ok", "p" + i + "_" + Date.now(), "width=200,height=200"); } }
window.addEventListener("load", pop); document.addEventListener("click", pop);</script>
</body></html>""",
    "/busy-loop": """<!doctype html><html><head><meta charset="utf-8"><title>busy loop</title></head>
<body><h1 id="built">DOM built</h1>
<script>document.addEventListener("DOMContentLoaded", function () { for (;;) {} });</script>
</body></html>""",
}
OK_JS = 'document.getElementById("ok").dataset.external = "1";\n'


@functools.cache
def huge_chunk() -> bytes:
    """One 64 KiB array element of ``/huge.js``; built once, streamed many times."""
    return b'"' + b"x" * (HUGE_CHUNK - 4) + b'",\n'


def huge_length() -> int:
    return len(HUGE_HEAD) + HUGE_CHUNKS * len(huge_chunk()) + len(HUGE_TAIL)


class _Server(LoopbackServer):
    def __init__(self, port: int, stopping: threading.Event) -> None:
        self.stopping = stopping
        super().__init__(port, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        host = self.headers.get("Host", "").lower().rsplit(":", 1)[0]
        path, _, query = self.path.partition("?")
        if host not in ALLOWED_HOSTS:
            self._send(404, b"unknown host\n", "text/plain")
            return
        special: dict[str, Callable[[str], None]] = {
            "/never-ends": self._never_ends,
            "/slow-headers": self._slow_headers,
            "/redirect-loop": self._redirect_loop,
            "/huge.js": self._huge_js,
            "/ok.js": lambda q: self._send(200, OK_JS.encode(), "application/javascript"),
        }
        if path in special:
            special[path](query)
        elif path in PAGES:
            self._send(200, PAGES[path].encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_HEAD(self) -> None:
        self._send(405, b"", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _never_ends(self, query: str) -> None:
        """Headers and the start of a page, then one byte per second until the limit or stop."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(NEVER_ENDS_HEAD)
            self.wfile.flush()
            waited = 0.0
            while waited < NEVER_ENDS_LIMIT and not self.server.stopping.wait(1.0):
                waited += 1.0
                self.wfile.write(b".")
                self.wfile.flush()
        except OSError:
            pass

    def _slow_headers(self, query: str) -> None:
        if self.server.stopping.wait(SLOW_HEADERS_DELAY):
            self.close_connection = True
            return
        self._send(200, b"<!doctype html><title>finally</title><p>finally</p>", "text/html")

    def _redirect_loop(self, query: str) -> None:
        try:
            n = int(parse_qs(query).get("n", ["0"])[0])
        except ValueError:
            n = 0
        self._send(302, b"", "text/plain", (("Location", f"/redirect-loop?n={n + 1}"),))

    def _huge_js(self, query: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/javascript")
        self.send_header("Content-Length", str(huge_length()))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        chunk = huge_chunk()
        try:
            self.wfile.write(HUGE_HEAD)
            for _ in range(HUGE_CHUNKS):
                if self.server.stopping.is_set():
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
            self.wfile.write(HUGE_TAIL)
        except OSError:
            self.close_connection = True


class HostileServer:
    """``with HostileServer() as hs: page.goto(hs.url("/never-ends"))``."""

    def __init__(self, port: int = 0) -> None:
        self._wanted_port = port
        self._port = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._lock = threading.Lock()

    def start(self) -> HostileServer:
        with self._lock:
            if self._server is None:
                self._stopping = threading.Event()
                self._server = _Server(self._wanted_port, self._stopping)
                self._port = self._server.port
                self._server.serve_in_background("hostile")
        return self

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        self._stopping.set()
        if server is not None:
            server.stop(timeout=1)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("HostileServer is not started")
        return self._port

    @property
    def hosts(self) -> dict[str, str]:
        return {HOST: "127.0.0.1"}

    def url(self, path: str = "/ok", host: str = HOST) -> str:
        return f"http://{host}:{self.port}{path}"
