"""SG306: a journey page reached through a different path (the fake-form detour)."""

from __future__ import annotations

import dataclasses

from skimguard.detect.base import page_shape
from skimguard.detect.navigation import NavigationDetector
from skimguard.models import Capture, Finding
from skimguard.testing.factories import brief, cart_page, make_capture, make_context, payment_page

THANKS = "http://shop.test/checkout/thanks"
PAYMENT = "http://shop.test/checkout/payment"


def with_complete(final_url: str, chain: tuple[str, ...]) -> Capture:
    complete = payment_page(url="http://shop.test/checkout/complete", final_url=final_url, redirect_chain=chain)
    return make_capture([cart_page(), payment_page(), dataclasses.replace(complete, name="complete")])


def run(current: Capture, baseline: Capture) -> list[Finding]:
    return list(NavigationDetector().run(make_context(current, baseline=baseline)))


BASE = with_complete(THANKS, ("http://shop.test/checkout/complete", THANKS))


def test_same_path_finds_nothing() -> None:
    assert run(BASE, BASE) == []


def test_per_visit_ids_are_the_same_page() -> None:
    assert page_shape("http://shop.test/order/10423/thanks") == page_shape("http://shop.test/order/99/thanks")
    assert page_shape("http://shop.test/order/a/thanks") != page_shape("http://shop.test/order/b/thanks")


def test_detour_through_an_outside_host_is_critical() -> None:
    # ruleid: SG306 — the fake form posts to the attacker, who sends the shopper back to the payment step
    now = with_complete(PAYMENT + "?retry=1", ("http://collect.evil.test/pay", PAYMENT + "?retry=1"))
    findings = run(now, BASE)
    assert brief(findings) == [("SG306", "critical", "complete", "shop.test/checkout/payment|collect.evil.test")]
    assert findings[0].destination == "collect.evil.test"
    assert findings[0].evidence["outside_hosts"] == ["collect.evil.test"]


def test_ending_elsewhere_without_detour_is_high_on_a_card_site() -> None:
    now = with_complete(PAYMENT, ("http://shop.test/checkout/complete", PAYMENT))
    assert brief(run(now, BASE)) == [("SG306", "high", "complete", "shop.test/checkout/payment|")]


def test_payment_host_in_the_chain_is_not_a_detour() -> None:
    # ok: SG306 — 3-D Secure at the payment provider, then back to the same thanks page
    now = with_complete(THANKS, ("http://shop.test/checkout/complete", "https://pay.psp.test/3ds", THANKS))
    assert run(now, BASE) == []


def test_no_baseline_nothing() -> None:
    assert list(NavigationDetector().run(make_context(BASE))) == []
