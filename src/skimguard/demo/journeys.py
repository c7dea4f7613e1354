"""The site config (YAML-shaped plain dict) that drives the scanner through the demo shop."""

from __future__ import annotations

from typing import Any

from .shop import PSP, DemoShop

# Personal data is the scan's canary identity (unique per run), so it can be found wherever it goes.
CHECKOUT_ADDRESS = {
    "#name": "{canary.name}",
    "#postal": "{canary.postal_code}",
    "#address": "{canary.address}",
    "#phone": "{canary.phone}",
    "#email": "{canary.email}",
}
REGISTRATION = {
    "#reg-name": "{canary.name}",
    "#reg-address": "{canary.address}",
    "#reg-phone": "{canary.phone}",
    "#reg-email": "{canary.email}",
    "#reg-password": "{canary.password}",
}
CARD_SELECTORS = {"number": "#card-number", "expiry": "#card-expiry", "cvc": "#card-cvc",
                  "name": "#card-name"}


def demo_site_config(shop: DemoShop) -> dict[str, Any]:
    """Return the site config for a started ``shop``; the config loader validates it."""
    checkout: list[dict[str, Any]] = [
        {"goto": "/product/1", "page": "product"},
        {"click": "#add-to-cart", "page": "cart"},
        {"click": "#checkout", "page": "address"},
        {"fill": dict(CHECKOUT_ADDRESS)},
        {"select": {"#prefecture": "東京都"}},
        {"click": "#to-payment", "page": "payment"},
        {"fill_card": dict(CARD_SELECTORS)},
        {"click": "#pay", "page": "complete"},
        {"wait_for": "#thanks", "timeout": "6s"},
    ]
    registration: list[dict[str, Any]] = [
        {"goto": "/member/register", "page": "register"},
        {"fill": dict(REGISTRATION)},
        {"click": "#register", "page": "welcome"},
        {"wait_for": "#welcome", "timeout": "6s"},
    ]
    return {
        "name": "demo-shop",
        "base_url": shop.url(),
        "payment_hosts": [PSP],
        "hosts": shop.hosts,
        "block_unmapped_hosts": True,
        "journeys": [
            {"name": "checkout", "steps": checkout},
            {"name": "registration", "steps": registration},
        ],
    }
