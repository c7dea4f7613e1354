"""Inventory (PCI DSS 6.4.3), decisions with justification and audit trail, baselines."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from store_factories import (
    DYNAMIC_JS,
    INLINE_JS,
    PSP_JS,
    SITE,
    VENDOR_JS,
    VENDOR_JS_V2,
    at,
    capture,
    cart_page,
    checkout_scan,
    ext,
    payment_page,
    result,
)

from skimguard.errors import StoreError
from skimguard.models import ChangeRule, MatchType, ScriptKind, sha256_hex
from skimguard.store import Store

VENDOR_KEY = "https://cdn.vendor.test/assist/form.js"
APP_KEY = "https://shop.test/static/app.js"


def test_inventory_across_two_scans(store: Store) -> None:
    store.finish_scan(checkout_scan("s1", start=at(0)))
    # Second scan: the vendor script changed bytes, and a new script appears on the cart page.
    extra = ext("https://cdn.new.test/x.js", b"new()", frame_url="https://shop.test/cart")
    cart = cart_page()
    cart = cart.__class__(**{**cart.__dict__, "scripts": (*cart.scripts, extra)})
    cap = capture([cart, payment_page(VENDOR_JS_V2)], start=at(60))
    store.finish_scan(result("s2", [cap], start=at(60)))

    items = {i.key: i for i in store.inventory(SITE)}
    assert set(items) == {
        APP_KEY,
        VENDOR_KEY,
        "https://pay.psp.test/fields.js",
        "https://cdn.new.test/x.js",
        f"inline:{sha256_hex(INLINE_JS)}",
        f"dynamic:{sha256_hex(DYNAMIC_JS)}",
    }
    vendor = items[VENDOR_KEY]
    assert (vendor.first_seen, vendor.last_seen) == (at(0), at(60))
    assert vendor.hashes_seen == 2
    assert vendor.sha256 == sha256_hex(VENDOR_JS_V2) and vendor.size == len(VENDOR_JS_V2)
    assert vendor.pages == ("payment",)
    assert vendor.url == "https://cdn.vendor.test/assist/form.js?ts=123"
    assert vendor.origin == "https://cdn.vendor.test"
    assert vendor.kind is ScriptKind.EXTERNAL
    app = items[APP_KEY]
    assert app.pages == ("cart", "payment") and app.hashes_seen == 1
    new = items["https://cdn.new.test/x.js"]
    assert (new.first_seen, new.last_seen, new.pages) == (at(60), at(60), ("cart",))
    inline = items[f"inline:{sha256_hex(INLINE_JS)}"]
    assert inline.url is None and inline.origin == "https://shop.test" and inline.kind is ScriptKind.INLINE
    psp = items["https://pay.psp.test/fields.js"]
    assert psp.sha256 == sha256_hex(PSP_JS)

    assert store.inventory_item(SITE, VENDOR_KEY) == vendor
    assert store.inventory_item(SITE, VENDOR_KEY + "?ts=123") is None
    assert store.inventory_item("other", VENDOR_KEY) is None
    assert store.inventory("other") == []


def test_inventory_first_and_last_seen_with_out_of_order_scans(store: Store) -> None:
    store.finish_scan(checkout_scan("late", start=at(60), vendor_body=VENDOR_JS_V2))
    store.finish_scan(checkout_scan("early", start=at(0), vendor_body=VENDOR_JS))  # stored later
    vendor = store.inventory_item(SITE, VENDOR_KEY)
    assert vendor is not None
    assert (vendor.first_seen, vendor.last_seen, vendor.hashes_seen) == (at(0), at(60), 2)
    assert vendor.sha256 == sha256_hex(VENDOR_JS_V2)  # the latest observation wins


def test_inventory_hashes_table(store: Store, engine: sa.Engine) -> None:
    store.finish_scan(checkout_scan("s1", start=at(0)))
    store.finish_scan(checkout_scan("s2", start=at(10), vendor_body=VENDOR_JS_V2))
    store.finish_scan(checkout_scan("s3", start=at(20)))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT h.sha256, h.first_seen, h.last_seen FROM inventory_hashes h "
                "JOIN inventory i ON i.id = h.inventory_id WHERE i.key = :k ORDER BY h.id"
            ),
            {"k": VENDOR_KEY},
        ).all()
    assert [r[0] for r in rows] == [sha256_hex(VENDOR_JS), sha256_hex(VENDOR_JS_V2)]
    assert store.inventory_item(SITE, VENDOR_KEY).hashes_seen == 2  # type: ignore[union-attr]


def test_find_inventory(store: Store) -> None:
    store.finish_scan(checkout_scan("s1", start=at(0)))
    store.finish_scan(checkout_scan("s2", start=at(10), vendor_body=VENDOR_JS_V2))

    def keys(query: str) -> list[str]:
        return [i.key for i in store.find_inventory(SITE, query)]

    assert keys(VENDOR_KEY) == [VENDOR_KEY]
    assert keys(VENDOR_KEY + "?ts=999") == [VENDOR_KEY]  # a URL: query string ignored
    assert keys(sha256_hex(VENDOR_JS_V2)[:8]) == [VENDOR_KEY]  # latest bytes
    assert keys(sha256_hex(VENDOR_JS)[:12].upper()) == [VENDOR_KEY]  # bytes seen before
    assert keys(sha256_hex(VENDOR_JS)[:7]) == []  # too short for a prefix
    inline_key = f"inline:{sha256_hex(INLINE_JS)}"
    assert keys(inline_key) == [inline_key]
    assert keys(sha256_hex(INLINE_JS)) == [inline_key]
    assert keys("https://nowhere.test/x.js") == [] and keys("  ") == []


def test_decisions_and_audit(store: Store) -> None:
    for bad in ("", "   \n"):
        with pytest.raises(StoreError, match="justification"):
            store.add_decision(SITE, MatchType.URL, VENDOR_KEY, bad, "ec-team", "alice", ChangeRule.PIN, None)
    with pytest.raises(StoreError, match="sha256"):
        store.add_decision(SITE, MatchType.HASH, "abc", "why", "ec-team", "alice", ChangeRule.PIN, None)
    with pytest.raises(StoreError, match="pinned_sha256"):
        store.add_decision(SITE, MatchType.URL, VENDOR_KEY, "why", "ec-team", "alice", ChangeRule.PIN, "zz")
    assert store.decisions(SITE, include_revoked=True) == []
    assert store.audit(SITE) == []

    pinned = sha256_hex(VENDOR_JS)
    d1 = store.add_decision(
        SITE,
        MatchType.URL,
        VENDOR_KEY,
        "form assist, contract #12",
        "ec-team",
        "alice",
        ChangeRule.PIN,
        pinned,
    )
    d2 = store.add_decision(
        SITE,
        MatchType.HASH,
        sha256_hex(INLINE_JS).upper(),
        "GTM bootstrap",
        "marketing",
        "bob",
        ChangeRule.PIN,
        None,
    )
    assert d1.id != d2.id and d1.active
    assert (d1.match, d1.value, d1.change_rule, d1.pinned_sha256) == (
        MatchType.URL,
        VENDOR_KEY,
        ChangeRule.PIN,
        pinned,
    )
    assert d2.value == sha256_hex(INLINE_JS)  # normalized
    assert d1.at.utcoffset() == timedelta(0)
    assert store.decisions(SITE) == [d1, d2]

    revoked = store.revoke_decision(d1.id, "carol", "vendor contract ended")
    assert (
        not revoked.active
        and revoked.revoked_by == "carol"
        and revoked.revoke_reason == "vendor contract ended"
    )
    assert revoked.revoked_at is not None
    assert store.decisions(SITE) == [d2]
    assert store.decisions(SITE, include_revoked=True) == [revoked, d2]
    with pytest.raises(StoreError, match="already revoked"):
        store.revoke_decision(d1.id, "carol", "again")
    with pytest.raises(StoreError, match="no decision"):
        store.revoke_decision(99_999, "carol", "?")

    trail = store.audit(SITE)
    assert [(a.action, a.actor, a.subject) for a in trail] == [
        ("decision.revoke", "carol", f"decision:{d1.id}"),
        ("decision.add", "bob", f"decision:{d2.id}"),
        ("decision.add", "alice", f"decision:{d1.id}"),
    ]
    assert trail[2].details["justification"] == "form assist, contract #12"
    assert trail[0].details["reason"] == "vendor contract ended"
    assert [a.action for a in store.audit(SITE, limit=1)] == ["decision.revoke"]
    assert store.audit("other") == []


def test_baselines(store: Store, engine: sa.Engine) -> None:
    assert store.baseline(SITE) is None
    snap1 = {"scripts": {VENDOR_KEY: sha256_hex(VENDOR_JS)}, "headers": {"csp": "script-src 'self'"}}
    id1 = store.save_baseline(SITE, snap1, None, "alice", "first baseline")
    store.finish_scan(checkout_scan("s1"))
    snap2 = {"scripts": {VENDOR_KEY: sha256_hex(VENDOR_JS_V2)}, "pages": ["cart", "payment"], "n": 2}
    id2 = store.save_baseline(SITE, snap2, "s1", "bob", "after vendor update")
    assert id2 != id1
    active = store.baseline(SITE)
    assert active is not None
    assert (active.id, active.snapshot, active.scan_id, active.accepted_by, active.note) == (
        id2,
        snap2,
        "s1",
        "bob",
        "after vendor update",
    )
    assert active.accepted_at.utcoffset() == timedelta(0)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, active FROM baselines")).all()
    assert {row[0]: bool(row[1]) for row in rows} == {id1: False, id2: True}
    trail = store.audit(SITE)
    assert [(a.action, a.actor) for a in trail] == [("baseline.accept", "bob"), ("baseline.accept", "alice")]
    assert trail[0].details["replaces"] == [id1]
    store.save_baseline("other", {}, None, "alice", "")
    assert store.baseline(SITE).id == id2  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="actor"):
        store.save_baseline(SITE, {}, None, "", "x")
