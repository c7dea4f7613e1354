"""No real transactions: the final submit to the payment provider is answered by skimguard.

A checkout whose card form POSTs to the payment provider's hosted page is walked in real Chromium.
With the default ``intercept_payment_submit`` the provider's server never receives the POST (the
canary card is still searched in what the page tried to send); with it turned off it does. The
site's own ``intercept`` globs answer any matching request the same way.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from skimguard.canary import new_canary
from skimguard.capture.journey import run_journey
from skimguard.config import Site, config_from_dict
from skimguard.loopback import LoopbackHandler, LoopbackServer
from skimguard.models import Capture, Channel
from skimguard.monitor import browser_for

pytestmark = pytest.mark.browser

SHOP, PSP = "shop.test", "pay.psp.test"

CHECKOUT = """<!doctype html><html><head><meta charset="utf-8"><title>checkout</title></head><body>
<form id="pay-form" action="http://pay.psp.test:{port}/charge" method="post">
<input id="cc-number" name="cc_number" autocomplete="cc-number">
<input id="cc-exp" name="cc_exp" autocomplete="cc-exp">
<input id="cc-cvc" name="cc_cvc" autocomplete="cc-csc">
<button id="pay" type="submit">Pay</button></form>
<script>fetch("/order/complete?x=1", {{method: "POST", body: "ping"}});</script>
</body></html>"""


class _Server(LoopbackServer):
    def __init__(self) -> None:
        self.hits: list[tuple[str, str, str]] = []  # (method, host, path)
        self.lock = threading.Lock()
        super().__init__(0, _Handler)


class _Handler(LoopbackHandler):
    server: _Server

    def _dispatch(self) -> None:
        host = (self.headers.get("Host") or "").split(":", 1)[0]
        length = min(int(self.headers.get("Content-Length") or 0), 65536)
        if length:
            self.rfile.read(length)
        with self.server.lock:
            self.server.hits.append((self.command, host, self.path.split("?", 1)[0]))
        body = CHECKOUT.format(port=self.server.port).encode() if self.path == "/checkout" else b"<p>ok</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _site(server: _Server, **extra: Any) -> Site:
    raw = {
        "name": "psp-hosted",
        "base_url": f"http://{SHOP}:{server.port}/",
        "payment_hosts": [PSP],
        "hosts": {SHOP: "127.0.0.1", PSP: "127.0.0.1"},
        "block_unmapped_hosts": True,
        "step_timeout": "8s",
        "journeys": [{"name": "checkout", "steps": [
            {"goto": "/checkout", "page": "payment"},
            {"fill_card": {"number": "#cc-number", "expiry": "#cc-exp", "cvc": "#cc-cvc"}},
            {"click": "#pay", "page": "psp"},
        ]}],
        **extra,
    }
    return config_from_dict({"sites": [raw]}).sites[0]


def _walk(site: Site) -> Capture:
    async def run() -> Capture:
        async with browser_for([site]) as browser:
            return await run_journey(browser, site, site.journeys[0], new_canary(datetime.now(UTC)))

    return asyncio.run(run())


@pytest.fixture
def server() -> Any:
    srv = _Server()
    srv.serve_in_background("intercept")
    yield srv
    srv.stop()


def test_the_submit_to_the_payment_provider_is_answered_by_skimguard(server: _Server) -> None:
    capture = _walk(_site(server))
    assert ("POST", PSP, "/charge") not in server.hits
    assert [(p.name, p.final_url) for p in capture.pages] == [
        ("payment", f"http://{SHOP}:{server.port}/checkout"),
        ("psp", f"http://{PSP}:{server.port}/charge"),
    ]
    intercepted = [e for e in capture.events if e.kind == "intercepted"]
    assert [(e.detail["method"], e.target_host, e.page, e.step) for e in intercepted] == [
        ("POST", PSP, "payment", 2)
    ]
    # What the page tried to send is still recorded and searched for the canary.
    assert capture.canary is not None
    bodies = [o.data for o in capture.outbound if o.host == PSP and o.channel is Channel.BODY]
    assert len(bodies) == 1 and capture.canary.card_number.encode() in bodies[0]
    # The shop's own endpoint is not touched by the default.
    assert ("POST", SHOP, "/order/complete") in server.hits


def test_interception_can_be_turned_off_and_extended_with_globs(server: _Server) -> None:
    capture = _walk(_site(server, intercept_payment_submit=False, intercept=["**/order/complete*"]))
    assert ("POST", PSP, "/charge") in server.hits
    assert ("POST", SHOP, "/order/complete") not in server.hits
    intercepted = [(e.detail["method"], e.target_host) for e in capture.events if e.kind == "intercepted"]
    assert intercepted == [("POST", SHOP)]
