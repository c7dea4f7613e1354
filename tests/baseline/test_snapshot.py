"""Snapshots: what a page looked like, merged by page name, stable as JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from skimguard.baseline.snapshot import (
    BaselineError,
    SiteSnapshot,
    redact_url,
    snapshot_from_captures,
)
from skimguard.models import FrameRecord, ScriptKind, script_url_key, sha256_hex
from skimguard.testing.factories import (
    APP_JS,
    APP_URL,
    CSP,
    NOW,
    VENDOR_JS,
    VENDOR_URL,
    card_form,
    cart_page,
    make_capture,
    make_form,
    make_request,
    make_script,
    payment_page,
)

APP_KEY = script_url_key(APP_URL)
VENDOR_KEY = script_url_key(VENDOR_URL)


def test_snapshot_of_the_clean_shop() -> None:
    snap = snapshot_from_captures("shop", [make_capture()])
    assert snap.site == "shop"
    assert snap.journeys == ("checkout",)
    assert snap.captured_at == make_capture().finished_at
    assert list(snap.pages) == ["cart", "payment"]

    cart, pay = snap.pages["cart"], snap.pages["payment"]
    assert (cart.card_page, pay.card_page) == (False, True)
    assert list(cart.scripts) == [APP_KEY]
    assert list(pay.scripts) == [APP_KEY, VENDOR_KEY]
    vendor = pay.scripts[VENDOR_KEY]
    assert vendor.sha256 == sha256_hex(VENDOR_JS.encode())
    assert vendor.hashes == (vendor.sha256,)
    assert (vendor.kind, vendor.url, vendor.size, vendor.main_frame) == (
        ScriptKind.EXTERNAL,
        VENDOR_URL,
        len(VENDOR_JS.encode()),
        True,
    )
    # Only security headers, lower-case names, values as served.
    assert dict(pay.headers) == {
        "content-security-policy": CSP,
        "referrer-policy": "strict-origin-when-cross-origin",
        "strict-transport-security": "max-age=31536000",
        "x-frame-options": "DENY",
    }
    form = pay.forms["form#payment-form"]
    assert (form.action, form.method, form.visible) == ("https://pay.psp.test/charge", "POST", True)
    assert form.card_roles == ("cvc", "expiry", "holder", "number")
    assert form.fields["cc-number"].autocomplete == "cc-number"
    assert sorted(pay.destinations) == ["cdn.vendor.test", "shop.test"]
    assert pay.destinations["shop.test"].methods == ("GET",)
    assert pay.destinations["shop.test"].resource_types == ("document", "script")
    assert pay.final_url == "http://shop.test/checkout/payment"
    assert pay.status == 200


def test_json_round_trip_is_exact_and_stable() -> None:
    capture = make_capture(
        [
            cart_page(),
            payment_page(
                frames=(FrameRecord("https://pay.psp.test/3ds?session=1", parent_url="http://shop.test/"),),
                extra_requests=(
                    make_request(
                        "https://pay.psp.test/token?id=7",
                        method="POST",
                        resource_type="xhr",
                        post_data_size=120,
                        initiator=VENDOR_URL,
                    ),
                ),
                redirect_chain=("http://shop.test/pay", "http://shop.test/checkout/payment"),
            ),
        ]
    )
    snap = snapshot_from_captures("shop", [capture])
    data = snap.to_json()
    assert data["version"] == 1
    assert data["captured_at"] == "2024-05-01T12:00:20+00:00"
    text = json.dumps(data, sort_keys=True)
    back = SiteSnapshot.from_json(json.loads(text))
    assert back == snap
    assert json.dumps(back.to_json(), sort_keys=True) == text
    assert snap.pages["payment"].frames == {"https://pay.psp.test": ("https://pay.psp.test/3ds?session=1",)}
    psp = snap.pages["payment"].destinations["pay.psp.test"]
    assert (psp.methods, psp.sends_data, psp.sample_url) == (("POST",), True, "https://pay.psp.test/token?id=")


def test_from_json_rejects_other_versions_and_damage() -> None:
    good = snapshot_from_captures("shop", [make_capture()]).to_json()
    with pytest.raises(BaselineError, match="version 2"):
        SiteSnapshot.from_json({**good, "version": 2})
    with pytest.raises(BaselineError, match="damaged"):
        SiteSnapshot.from_json({**good, "pages": {"payment": {"scripts": {"x": {"kind": "bogus"}}}}})
    with pytest.raises(BaselineError, match="damaged"):
        SiteSnapshot.from_json({"version": 1})


def test_same_page_name_in_several_journeys_is_merged() -> None:
    extra = make_script("https://cdn.vendor.test/chat.js", "chat()")
    first = make_capture([cart_page(), payment_page()], journey="checkout")
    second = make_capture(
        [
            payment_page(
                scripts=(make_script(APP_URL, APP_JS + "\n// v2"), extra),
                forms=(card_form(), make_form(id="coupon")),
                headers={"Content-Security-Policy": CSP, "Permissions-Policy": "payment=(self)"},
                extra_requests=(make_request("https://collect.test/p", method="POST", resource_type="fetch"),),
            )
        ],
        journey="guest-checkout",
        started_at=NOW.replace(hour=13),
    )
    snap = snapshot_from_captures("shop", [first, second])
    assert snap.journeys == ("checkout", "guest-checkout")
    assert snap.captured_at == second.finished_at
    pay = snap.pages["payment"]
    assert list(pay.scripts) == [APP_KEY, "https://cdn.vendor.test/chat.js", VENDOR_KEY]
    app = pay.scripts[APP_KEY]
    assert app.sha256 == sha256_hex((APP_JS + "\n// v2").encode())  # the last seen
    assert set(app.hashes) == {sha256_hex(APP_JS.encode()), sha256_hex((APP_JS + "\n// v2").encode())}
    assert list(pay.forms) == ["form#coupon", "form#payment-form"]
    # Headers united (names lower-cased), the later value winning.
    assert pay.headers["permissions-policy"] == "payment=(self)"
    assert pay.headers["x-frame-options"] == "DENY"
    assert pay.destinations["collect.test"].sends_data is True
    assert pay.destinations["shop.test"].requests == 4  # document + app.js, twice


def test_forms_in_cross_origin_frames_are_keyed_by_origin() -> None:
    psp = card_form(id="", frame_url="https://pay.psp.test/fields?session=abc")
    psp = dataclasses.replace(psp, id="")
    page = payment_page(forms=(card_form(), psp))
    snap = snapshot_from_captures("shop", [make_capture([page])])
    assert sorted(snap.pages["payment"].forms) == [
        "form#payment-form",
        "form(cc-csc,cc-exp,cc-name,cc-number)@https://pay.psp.test",
    ]


def test_beacon_with_long_query_is_marked() -> None:
    long_url = "https://collect.evil.test/p.gif?d=" + "A" * 80
    page = payment_page(extra_requests=(make_request(long_url, resource_type="image"),))
    dest = snapshot_from_captures("shop", [make_capture([page])]).pages["payment"].destinations["collect.evil.test"]
    assert (dest.long_query_beacon, dest.sends_data, dest.sample_url) == (
        True,
        False,
        "https://collect.evil.test/p.gif?d=",
    )


def test_redact_url_keeps_keys_only_and_bounds_length() -> None:
    assert redact_url("https://a.test/p?card=4111111111111111&exp=12/30#frag") == "https://a.test/p?card=&exp="
    assert redact_url("https://a.test/p?" + "x" * 50) == "https://a.test/p?" + "x" * 40 + "="
    assert len(redact_url("https://a.test/" + "p" * 500)) == 200
