"""The site config (YAML-shaped plain dict) that drives the scanner through the demo shop."""

from __future__ import annotations

from typing import Any

from .shop import PSP, DemoShop

CHECKOUT_ADDRESS = {
    "#name": "山田 太郎",
    "#postal": "100-0001",
    "#address": "千代田1-1",
    "#phone": "03-1234-5678",
    "#email": "taro@example.test",
}
REGISTRATION = {
    "#reg-name": "佐藤 花子",
    "#reg-address": "大阪府大阪市北区梅田1-2-3",
    "#reg-phone": "06-1234-5678",
    "#reg-email": "hanako@example.test",
    "#reg-password": "Demo-Passw0rd!",
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
