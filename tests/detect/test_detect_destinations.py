"""SG310-SG312: where payment pages send requests (SG312: hosts a threat-intel feed lists)."""

from __future__ import annotations

import dataclasses

from skimguard.detect.destinations import DestinationDetector
from skimguard.intel import IntelIndex, parse_feed
from skimguard.models import Capture, Finding, RequestRecord
from skimguard.testing.factories import (
    VENDOR_URL,
    brief,
    cart_page,
    make_capture,
    make_context,
    make_field,
    make_form,
    make_page,
    make_request,
    payment_page,
)

PAY_URL = "http://shop.test/checkout/payment"


def with_requests(*requests: RequestRecord, on_cart: bool = False) -> Capture:
    if on_cart:
        return make_capture([cart_page(extra_requests=requests), payment_page()])
    return make_capture([cart_page(), payment_page(extra_requests=requests)])


def run(current: Capture, baseline: Capture | None = None) -> list[Finding]:
    ctx = make_context(current, baseline=make_capture() if baseline is None else baseline)
    return list(DestinationDetector().run(ctx))


def test_clean_against_itself_finds_nothing() -> None:
    assert run(make_capture()) == []


def test_no_baseline_nothing() -> None:
    assert list(DestinationDetector().run(make_context(with_requests()))) == []


def test_new_post_destination_from_the_card_page_is_critical() -> None:
    post = make_request(
        "https://collect.evil.test/g?id=42&d=NDExMTExMTExMTExMTExMQ",
        method="POST",
        resource_type="xhr",
        post_data_size=180,
        initiator=VENDOR_URL,
    )
    findings = run(with_requests(post))
    assert brief(findings) == [("SG310", "critical", "payment", "collect.evil.test")]
    f = findings[0]
    assert f.destination == "collect.evil.test"
    assert f.script_url == VENDOR_URL
    assert f.evidence == {
        "host": "collect.evil.test",
        "methods": ["POST"],
        "resource_types": ["xhr"],
        "sample_url": "https://collect.evil.test/g?id=&d=",  # query values dropped
        "initiators": [VENDOR_URL],
        "sends_data": True,
        "long_query_beacon": False,
        "_requests": 1,
        "trusted_host": False,
    }


def test_image_beacon_with_a_long_query_is_critical() -> None:
    beacon = make_request("https://collect.evil.test/p.gif?d=" + "QUJD" * 20, resource_type="image")
    assert brief(run(with_requests(beacon))) == [("SG310", "critical", "payment", "collect.evil.test")]


def test_short_image_request_to_a_new_host_is_medium() -> None:
    pixel = make_request("https://pixel.ads.test/p.gif?id=1", resource_type="image", initiator=PAY_URL)
    findings = run(with_requests(pixel))
    assert brief(findings) == [("SG310", "medium", "payment", "pixel.ads.test")]
    assert findings[0].script_url is None  # the page itself, not a script, made the request


def test_new_script_host_is_high() -> None:
    script = make_request("https://cdn.other.test/lib.js", resource_type="script")
    assert brief(run(with_requests(script))) == [("SG310", "high", "payment", "cdn.other.test")]


def test_websocket_to_an_outside_host_is_high() -> None:
    ws = make_request("wss://ws.evil.test/s", resource_type="websocket")
    assert brief(run(with_requests(ws))) == [("SG310", "high", "payment", "ws.evil.test")]


def test_post_to_the_payment_host_or_own_subdomain_is_medium() -> None:
    token = make_request("https://pay.psp.test/token", method="POST", resource_type="fetch", post_data_size=64)
    api = make_request("https://api.shop.test/cart", method="POST", resource_type="fetch", post_data_size=10)
    assert brief(run(with_requests(token, api))) == [
        ("SG310", "medium", "payment", "api.shop.test"),
        ("SG310", "medium", "payment", "pay.psp.test"),
    ]


def test_pages_without_card_fields_are_not_checked() -> None:
    post = make_request("https://collect.evil.test/g", method="POST", resource_type="xhr", post_data_size=10)
    assert run(with_requests(post, on_cart=True)) == []


def test_known_outside_host_that_now_receives_data() -> None:
    get = make_request("https://stats.vendor.test/hit?p=1", resource_type="image")
    post = make_request("https://stats.vendor.test/hit", method="POST", resource_type="ping", post_data_size=300)
    findings = run(with_requests(get, post), baseline=with_requests(get))
    assert brief(findings) == [("SG311", "medium", "payment", "stats.vendor.test")]
    assert findings[0].evidence["baseline_methods"] == ["GET"]


# --- pages with personal-data fields (registration): founding incident 2, second page -----------


def registration(*extra: RequestRecord) -> Capture:
    url = "http://shop.test/member/register"
    form = make_form(
        url,
        fields=(
            make_field("reg_email", type="email"),
            make_field("reg_password", type="password"),
            make_field("reg_phone", type="tel"),
        ),
        id="register",
        frame_url=url,
    )
    page = make_page("register", url=url, scripts=(), forms=(form,), extra_requests=extra)
    return make_capture([page])


def test_personal_data_page_beacon_to_outside_host_is_high() -> None:
    # ruleid: SG310 — the registration page sends name, address, password out in an image URL
    beacon = make_request(
        "http://collect.evil.test/r.gif?q=" + "eyJuYW1lIjoiVGFybyIsInBhc3N3b3JkIjoi" * 3,
        resource_type="image",
        initiator="http://shop.test/member/register",
    )
    findings = run(registration(beacon), baseline=registration())
    assert brief(findings) == [("SG310", "high", "register", "collect.evil.test")]
    assert findings[0].title.startswith("Page with personal-data fields sends requests to a new host")


def test_page_without_sensitive_fields_is_not_compared() -> None:
    # ok: SG310 — a plain content page may add hosts (covered by the script rules)
    beacon = make_request("http://collect.evil.test/r.gif?q=" + "x" * 100, resource_type="image")
    plain = make_capture([make_page("about", url="http://shop.test/about", scripts=(), forms=())])
    with_beacon = make_capture(
        [make_page("about", url="http://shop.test/about", scripts=(), forms=(), extra_requests=(beacon,))]
    )
    assert run(with_beacon, baseline=plain) == []


# ---------------------------------------------------------------------------- SG312


def test_a_request_to_a_host_the_feed_lists_is_sg312_without_a_baseline() -> None:
    # ruleid: SG312 — the vendor script loads a pixel from a listed Magecart domain
    feed = parse_feed("# Reference: https://ref.example/x\nevil-cdn.example\n/errors/default/gate.php\n", "feed")
    pixel = make_request("https://img.evil-cdn.example/p.gif?d=1", resource_type="image", initiator="http://x/v.js")
    gate = make_request("http://shop.test/errors/default/gate.php", resource_type="xhr", method="POST")
    page = payment_page(extra_requests=(pixel, gate))
    ctx = dataclasses.replace(make_context(make_capture([page])), intel=IntelIndex.build(feed.indicators))
    findings = [f for f in DestinationDetector().run(ctx) if f.rule_id == "SG312"]
    assert sorted((f.rule_id, f.severity.label, f.page, f.subject) for f in findings) == [
        ("SG312", "critical", "payment", "domain:evil-cdn.example"),
        ("SG312", "critical", "payment", "path:/errors/default/gate.php"),
    ]
    pixel_finding = next(f for f in findings if f.subject.startswith("domain:"))
    assert pixel_finding.destination == "img.evil-cdn.example" and pixel_finding.script_url == "http://x/v.js"
    assert pixel_finding.evidence["reference"] == "https://ref.example/x"
    # ok: SG312 — without a feed the rule is silent
    quiet = make_context(make_capture([payment_page(extra_requests=(pixel,))]))
    assert [f for f in DestinationDetector().run(quiet) if f.rule_id == "SG312"] == []
