"""The capture of the demo shop's checkout: every kind of script, forms, frames, headers, pages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import async_playwright

from skimguard.canary import new_canary
from skimguard.capture.browser import launch_browser
from skimguard.capture.journey import run_journey
from skimguard.config import Site, config_from_dict
from skimguard.demo import DemoShop
from skimguard.demo.journeys import demo_site_config
from skimguard.models import Capture, PageCapture, ScanStatus, ScriptKind, sha256_hex

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop_and_captures() -> Iterator[tuple[DemoShop, Site, list[Capture]]]:
    with DemoShop() as shop:
        site = config_from_dict({"sites": [demo_site_config(shop)]}).sites[0]

        async def run() -> list[Capture]:
            async with async_playwright() as pw:
                browser = await launch_browser(pw, site.hosts, block_unmapped=True)
                try:
                    card = new_canary(datetime.now(UTC))
                    return [await run_journey(browser, site, j, card) for j in site.journeys]
                finally:
                    await browser.close()

        yield shop, site, asyncio.run(run())


def page(captures: list[Capture], name: str) -> PageCapture:
    found = [p for c in captures for p in c.pages if p.name == name]
    assert len(found) == 1, [p.name for c in captures for p in c.pages]
    return found[0]


def test_journeys_complete_with_named_pages(shop_and_captures: tuple[DemoShop, Site, list[Capture]]) -> None:
    shop, _, captures = shop_and_captures
    assert [c.status for c in captures] == [ScanStatus.OK, ScanStatus.OK]
    assert [p.name for p in captures[0].pages] == ["product", "cart", "address", "payment", "complete"]
    assert [p.name for p in captures[1].pages] == ["register", "welcome"]
    assert page(captures, "complete").final_url == shop.url(path="/checkout/thanks")
    assert shop.collected == []  # the clean shop leaks nothing
    assert len(shop.tokens) == 1  # the card went to the payment provider's token API


def test_payment_page_scripts(shop_and_captures: tuple[DemoShop, Site, list[Capture]]) -> None:
    shop, _, captures = shop_and_captures
    payment = page(captures, "payment")
    external = sorted(s.url for s in payment.scripts if s.kind is ScriptKind.EXTERNAL and s.url)
    assert external == [
        f"http://cdn.formassist.test:{shop.port}/v2/formassist.js",
        shop.url(path="/static/analytics.js"),
        shop.url(path="/static/checkout.js"),
    ]
    inline = [s for s in payment.scripts if s.kind is ScriptKind.INLINE]
    assert len(inline) == 2 and all(s.initiator_type == "parser" for s in inline)
    # The analytics tag is inserted by an inline script: its initiator is the page itself.
    analytics = next(s for s in payment.scripts if s.url and s.url.endswith("/analytics.js"))
    assert analytics.initiator == shop.url(path="/checkout/payment")
    assert not [s for s in payment.scripts if s.kind is ScriptKind.DYNAMIC]
    # Bodies are kept and hash to the recorded sha256.
    captures_bodies = captures[0].bodies
    for s in payment.scripts:
        assert s.sha256 is not None and sha256_hex(captures_bodies[s.sha256]) == s.sha256


def test_scripts_inside_iframes(shop_and_captures: tuple[DemoShop, Site, list[Capture]]) -> None:
    shop, _, captures = shop_and_captures
    product = page(captures, "product")
    framed = {(s.kind.value, s.url) for s in product.scripts if not s.main_frame}
    assert framed == {
        ("inline", None),
        ("external", f"http://cdn.formassist.test:{shop.port}/widget/reviews.js"),
    }
    assert [f.origin for f in product.frames] == [f"http://cdn.formassist.test:{shop.port}"]
    cart = page(captures, "cart")
    assert [s.kind.value for s in cart.scripts if not s.main_frame] == ["inline"]


def test_forms_fields_and_card_roles(shop_and_captures: tuple[DemoShop, Site, list[Capture]]) -> None:
    shop, _, captures = shop_and_captures
    payment = page(captures, "payment")
    assert payment.has_card_fields
    card_form = next(f for f in payment.forms if f.has_card_fields)
    assert card_form.action == shop.url(path="/checkout/complete")
    roles = {f.name: f.card_role for f in card_form.fields if f.card_role}
    assert roles == {
        "card_number": "number",
        "card_expiry": "expiry",
        "card_cvc": "cvc",
        "card_name": "holder",
    }
    assert not page(captures, "address").has_card_fields
    assert not page(captures, "register").has_card_fields


def test_headers_requests_and_redirects(shop_and_captures: tuple[DemoShop, Site, list[Capture]]) -> None:
    shop, _, captures = shop_and_captures
    payment = page(captures, "payment")
    assert "content-security-policy" in payment.headers
    assert payment.headers["x-frame-options"] == "DENY"
    # Reached by POSTing the address form, then a 303 to the payment step.
    assert payment.redirect_chain == (shop.url(path="/checkout/address"), shop.url(path="/checkout/payment"))
    token_calls = [r for r in payment.requests if r.host == "pay.psp.test" and r.method == "POST"]
    assert len(token_calls) == 1 and token_calls[0].post_data_size > 0
    assert token_calls[0].initiator == shop.url(path="/static/checkout.js")
