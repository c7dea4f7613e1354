"""SG201-SG204: security headers removed or changed."""

from __future__ import annotations

from collections.abc import Mapping

from skimguard.detect.headers import HeaderDetector, csp_weakening, parse_csp
from skimguard.models import Capture, Finding
from skimguard.testing.factories import (
    CSP,
    SECURITY_HEADERS,
    brief,
    cart_page,
    make_capture,
    make_context,
    payment_page,
)


def capture_with(headers: Mapping[str, str], *, cart: Mapping[str, str] | None = None, status: int = 200) -> Capture:
    return make_capture(
        [cart_page(headers=SECURITY_HEADERS if cart is None else cart), payment_page(headers=headers, status=status)]
    )


def headers(**changes: str | None) -> dict[str, str]:
    out = dict(SECURITY_HEADERS)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def run(current: Capture, baseline: Capture | None = None) -> list[Finding]:
    ctx = make_context(current, baseline=make_capture() if baseline is None else baseline)
    return list(HeaderDetector().run(ctx))


def test_clean_against_itself_finds_nothing() -> None:
    assert run(make_capture()) == []


def test_no_baseline_nothing() -> None:
    assert list(HeaderDetector().run(make_context(capture_with({})))) == []


def test_csp_removed_on_the_payment_page_is_high() -> None:
    findings = run(capture_with(headers(content_security_policy=None)))
    assert brief(findings) == [("SG201", "high", "payment", "content-security-policy")]
    assert findings[0].evidence["old"] == CSP


def test_csp_removed_off_the_card_page_is_medium() -> None:
    current = capture_with(SECURITY_HEADERS, cart=headers(content_security_policy=None))
    assert brief(run(current)) == [("SG201", "medium", "cart", "content-security-policy")]


def test_csp_moved_to_report_only_is_still_removed() -> None:
    findings = run(capture_with(headers(content_security_policy=None, content_security_policy_report_only=CSP)))
    assert brief(findings) == [("SG201", "high", "payment", "content-security-policy")]
    assert findings[0].evidence["report_only_now"] == CSP


def test_csp_weakened_on_the_payment_page_is_high() -> None:
    weak = CSP.replace(
        "script-src 'self' https://cdn.vendor.test",
        "script-src 'self' https://cdn.vendor.test 'unsafe-inline' https://collect.evil.test",
    )
    findings = run(capture_with(headers(content_security_policy=weak)))
    assert brief(findings) == [("SG202", "high", "payment", "content-security-policy")]
    ev = findings[0].evidence
    assert ev["weakening"] == [
        "script-src: adds 'unsafe-inline'",
        "script-src: adds host https://collect.evil.test",
        "script-src-elem: adds 'unsafe-inline'",
        "script-src-elem: adds host https://collect.evil.test",
    ]
    assert ev["directives_changed"] == {
        "script-src": {"added": ["'unsafe-inline'", "https://collect.evil.test"], "removed": []}
    }
    assert findings[0].title == "Content-Security-Policy changed: weakened"


def test_csp_connect_src_opened_to_any_host() -> None:
    weak = CSP.replace("connect-src 'self' https://pay.psp.test", "connect-src *")
    findings = run(capture_with(headers(content_security_policy=weak)))
    assert brief(findings) == [("SG202", "high", "payment", "content-security-policy")]
    assert findings[0].evidence["weakening"] == ["connect-src: adds *"]


def test_csp_directive_dropped_without_fallback_is_weakening() -> None:
    weak = CSP.replace("form-action 'self' https://pay.psp.test; ", "")
    findings = run(capture_with(headers(content_security_policy=weak)))
    assert brief(findings) == [("SG202", "high", "payment", "content-security-policy")]
    assert findings[0].evidence["weakening"] == ["form-action: no longer restricted"]
    assert findings[0].evidence["directives_removed"] == ["form-action"]


def test_csp_tightened_is_low() -> None:
    tighter = CSP.replace("connect-src 'self' https://pay.psp.test", "connect-src 'self'")
    findings = run(capture_with(headers(content_security_policy=tighter)))
    assert brief(findings) == [("SG202", "low", "payment", "content-security-policy")]
    assert findings[0].evidence["weakening"] == []


def test_csp_nonce_rotation_case_and_spacing_are_not_changes() -> None:
    old = CSP.replace("script-src 'self'", "script-src 'self' 'nonce-abc123'")
    new = CSP.replace("script-src 'self'", "script-src   'SELF' 'nonce-ZZZ999'")
    assert (
        run(capture_with(headers(content_security_policy=new)), capture_with(headers(content_security_policy=old)))
        == []
    )


def test_header_names_compare_case_insensitively() -> None:
    shouted = {name.title(): value for name, value in SECURITY_HEADERS.items()}
    assert run(capture_with(shouted)) == []


def test_x_frame_options_removed_but_frame_ancestors_present_is_info() -> None:
    findings = run(capture_with(headers(x_frame_options=None)))
    assert brief(findings) == [("SG203", "info", "payment", "x-frame-options")]


def test_other_security_headers_removed() -> None:
    no_fa = CSP.replace("; frame-ancestors 'none'", "")
    baseline = capture_with(headers(content_security_policy=no_fa), cart=headers(content_security_policy=no_fa))
    current = capture_with(
        headers(content_security_policy=no_fa, x_frame_options=None, strict_transport_security=None),
        cart=headers(content_security_policy=no_fa, referrer_policy=None),
    )
    assert brief(run(current, baseline)) == [
        ("SG203", "low", "cart", "referrer-policy"),
        ("SG203", "medium", "payment", "strict-transport-security"),
        ("SG203", "medium", "payment", "x-frame-options"),
    ]


def test_hsts_max_age_zero_counts_as_removed() -> None:
    findings = run(capture_with(headers(strict_transport_security="max-age=0")))
    assert brief(findings) == [("SG203", "medium", "payment", "strict-transport-security")]
    assert findings[0].title == "Security header removed: strict-transport-security (max-age=0)"


def test_other_security_header_changed_is_low() -> None:
    findings = run(capture_with(headers(referrer_policy="unsafe-url", x_frame_options="deny")))
    assert brief(findings) == [("SG204", "low", "payment", "referrer-policy")]
    assert findings[0].evidence == {"card_page": True, "old": "strict-origin-when-cross-origin", "new": "unsafe-url"}


def test_error_pages_are_not_compared() -> None:
    assert run(capture_with({}, status=503)) == []


def test_parse_csp_is_bounded_and_first_directive_wins() -> None:
    parsed = parse_csp("script-src 'self'; script-src *; img-src data:, connect-src https://a.test")
    assert parsed == {"script-src": ("'self'",), "img-src": ("data:",), "connect-src": ("https://a.test",)}
    assert len(parse_csp("; ".join(f"d{i} x" for i in range(1000)))) == 64
    assert csp_weakening({"default-src": ("'self'",)}, {"default-src": ("'self'",), "script-src": ("https:",)}) == [
        "script-src: adds https:",
        "script-src-elem: adds https:",
    ]
