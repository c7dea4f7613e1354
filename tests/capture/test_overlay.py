"""SG308 in real Chromium: an attacker frame laid over the card number field is seen where the
shopper would click, read in an isolated world."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from skimguard.canary import new_canary
from skimguard.capture.journey import run_journey
from skimguard.config import Site, config_from_dict
from skimguard.detect.base import DetectContext
from skimguard.detect.payment_flow import PaymentFlowDetector
from skimguard.loopback import LoopbackHandler, LoopbackServer
from skimguard.models import Capture
from skimguard.monitor import browser_for

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>pay</title>
<style>form{{position:relative;width:400px}} input{{display:block;width:300px;height:30px;margin:8px}}
#over{{position:absolute;left:0;top:30px;width:400px;height:50px;border:0}}</style></head><body>
<form id="pay-form" action="/checkout/complete" method="post">
<label>カード番号 <input id="cc-number" name="cc_number" autocomplete="cc-number"></label>
<label>有効期限 <input id="cc-exp" name="cc_exp" autocomplete="cc-exp"></label>
<label>お名前 <input id="name" name="name"></label>
</form>{extra}</body></html>"""
OVERLAY = '<iframe id="over" src="http://collect.evil.test:{port}/f.html"></iframe>'
FLOATING = "<style>#pay-form label{{position:relative}}</style>"


class _Handler(LoopbackHandler):
    def _dispatch(self) -> None:
        port = self.server.server_address[1]
        if self.path.startswith("/attacked"):
            body = PAGE.format(extra=OVERLAY.format(port=port))
        elif self.path.startswith("/clean"):
            body = PAGE.format(extra=FLOATING)
        else:
            body = "<input placeholder='card number'>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _capture(server: LoopbackServer, path: str) -> tuple[Site, Capture]:
    raw: dict[str, Any] = {
        "name": "overlay",
        "base_url": f"http://shop.test:{server.port}/",
        "hosts": {"shop.test": "127.0.0.1", "collect.evil.test": "127.0.0.1"},
        "block_unmapped_hosts": True,
        "journeys": [{"name": "checkout", "steps": [{"goto": path, "page": "payment"}]}],
    }
    site = config_from_dict({"sites": [raw]}).sites[0]

    async def run() -> Capture:
        async with browser_for([site]) as browser:
            return await run_journey(browser, site, site.journeys[0], new_canary(datetime.now(UTC)))

    return site, asyncio.run(run())


def test_an_attacker_frame_over_the_card_number_is_sg308() -> None:
    server = LoopbackServer(0, _Handler)
    server.serve_in_background("overlay")
    try:
        site, attacked = _capture(server, "/attacked")
        _, clean = _capture(server, "/clean")
    finally:
        server.stop()
    (page,) = attacked.pages
    assert [(o.field.ident if o.field else o.frame, o.cover.split(" ")[0]) for o in page.overlays] == [
        ("cc_number", "iframe")
    ]
    ctx = DetectContext.create(site, [attacked], baseline=None, now=datetime.now(UTC))
    findings = list(PaymentFlowDetector().run(ctx))
    assert [(f.rule_id, f.severity.label, f.subject) for f in findings] == [
        ("SG308", "critical", "cc_number|collect.evil.test")
    ]
    assert clean.pages[0].overlays == ()
