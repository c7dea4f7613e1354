"""SG301-SG305: forms, card fields and frames of payment pages (the fake-form attack)."""

from __future__ import annotations

import dataclasses

from skimguard.detect.forms import FormDetector
from skimguard.models import Capture, Confidence, Finding, FrameRecord
from skimguard.testing.factories import (
    brief,
    card_form,
    cart_page,
    make_capture,
    make_context,
    make_field,
    make_form,
    make_page,
    make_site,
    payment_page,
)

PAY_FORM = "form#payment-form"


def run(current: Capture, baseline: Capture | None = None) -> list[Finding]:
    ctx = make_context(current, baseline=make_capture() if baseline is None else baseline)
    return list(FormDetector().run(ctx))


def with_payment(**overrides: object) -> Capture:
    return make_capture([cart_page(), payment_page(**overrides)])


def test_clean_against_itself_finds_nothing() -> None:
    assert run(make_capture()) == []


def test_no_baseline_nothing() -> None:
    assert list(FormDetector().run(make_context(make_capture()))) == []


def test_form_action_moved_to_an_outside_host_is_critical() -> None:
    findings = run(with_payment(forms=(card_form("https://collect.evil.test/pay"),)))
    assert brief(findings) == [("SG302", "critical", "payment", PAY_FORM)]
    f = findings[0]
    assert f.destination == "collect.evil.test"
    assert f.evidence["old_action"] == "https://pay.psp.test/charge"
    assert f.evidence["new_action"] == "https://collect.evil.test/pay"
    assert f.title == "Form action changed: form#payment-form now posts to collect.evil.test"


def test_form_action_moved_within_the_payment_host_is_high() -> None:
    findings = run(with_payment(forms=(card_form("https://pay.psp.test/v2/charge"),)))
    assert brief(findings) == [("SG302", "high", "payment", PAY_FORM)]
    assert findings[0].destination is None


def test_form_action_query_change_is_not_a_change() -> None:
    assert run(with_payment(forms=(card_form("https://pay.psp.test/charge?session=42"),))) == []


def test_card_form_on_an_unexpected_page_is_critical() -> None:
    fake = card_form("https://collect.evil.test/c", id="fake", frame_url="http://shop.test/cart")
    findings = run(make_capture([cart_page(forms=(fake,)), payment_page()]))
    assert brief(findings) == [("SG303", "critical", "cart", "card-fields")]
    f = findings[0]
    assert f.destination == "collect.evil.test"
    assert f.evidence["forms"][0]["ident"] == "form#fake"
    assert f.evidence["posts_outside"] == ["collect.evil.test"]


def test_card_fields_on_a_page_not_in_the_baseline_are_high_low_confidence() -> None:
    confirm = make_page("confirm", forms=(card_form(),))
    findings = run(make_capture([cart_page(), payment_page(), confirm]))
    assert brief(findings) == [("SG303", "high", "confirm", "card-fields")]
    assert findings[0].confidence is Confidence.LOW
    assert findings[0].evidence["page_in_baseline"] is False


def test_new_form_on_a_payment_page_is_high() -> None:
    coupon = make_form("http://shop.test/coupon", id="coupon", fields=(make_field("code"),))
    findings = run(with_payment(forms=(card_form(), coupon)))
    assert brief(findings) == [("SG301", "high", "payment", "form#coupon")]


def test_new_card_form_posting_outside_is_critical() -> None:
    second = card_form("https://collect.evil.test/c", id="verify")
    findings = run(with_payment(forms=(card_form(), second)))
    assert brief(findings) == [("SG301", "critical", "payment", "form#verify")]
    assert findings[0].destination == "collect.evil.test"


def test_card_field_added_to_the_card_form_is_high() -> None:
    extra = make_field("cc-csc-confirm", card_role="cvc")
    findings = run(with_payment(forms=(card_form(extra_fields=(extra,)),)))
    assert brief(findings) == [("SG304", "high", "payment", PAY_FORM)]
    assert findings[0].evidence["added"] == ["cc-csc-confirm"]
    assert findings[0].evidence["card_fields_added"] == ["cc-csc-confirm"]


def test_plain_field_added_to_the_card_form_is_medium() -> None:
    findings = run(with_payment(forms=(card_form(extra_fields=(make_field("phone", type="tel"),)),)))
    assert brief(findings) == [("SG304", "medium", "payment", PAY_FORM)]


def test_field_changed_in_the_card_form() -> None:
    form = card_form()
    fields = tuple(dataclasses.replace(f, type="password") if f.name == "cc-csc" else f for f in form.fields)
    findings = run(with_payment(forms=(dataclasses.replace(form, fields=fields),)))
    assert brief(findings) == [("SG304", "medium", "payment", PAY_FORM)]
    assert findings[0].evidence["changed"] == {"cc-csc": {"type": {"old": "text", "new": "password"}}}


def test_anonymous_form_gaining_a_field_is_paired_not_new() -> None:
    anon = dataclasses.replace(card_form(), id="")
    grown = dataclasses.replace(anon, fields=(*anon.fields, make_field("pin", type="password")))
    findings = run(with_payment(forms=(grown,)), baseline=with_payment(forms=(anon,)))
    assert brief(findings) == [("SG304", "medium", "payment", anon.ident)]
    assert findings[0].evidence["added"] == ["pin"]


def test_new_frame_origin_on_a_payment_page() -> None:
    frames = (
        FrameRecord("https://overlay.evil.test/form", parent_url="http://shop.test/checkout/payment"),
        FrameRecord("https://3ds.pay.psp.test/challenge", parent_url="http://shop.test/checkout/payment"),
        FrameRecord("about:blank"),
    )
    findings = run(with_payment(frames=frames))
    # 3ds.pay.psp.test is not a configured payment host (only pay.psp.test is).
    assert brief(findings) == [
        ("SG305", "high", "payment", "https://3ds.pay.psp.test"),
        ("SG305", "high", "payment", "https://overlay.evil.test"),
    ]
    assert findings[1].evidence["urls"] == ["https://overlay.evil.test/form"]
    # With a wildcard payment host the PSP's frame is medium.
    site = make_site(payment_hosts=["pay.psp.test", "*.psp.test"])
    ctx = make_context(with_payment(frames=frames), baseline=make_capture(), site=site)
    assert brief(FormDetector().run(ctx)) == [
        ("SG305", "medium", "payment", "https://3ds.pay.psp.test"),
        ("SG305", "high", "payment", "https://overlay.evil.test"),
    ]


def test_new_frame_origin_on_a_payment_host_is_medium() -> None:
    site_frames = (FrameRecord("https://pay.psp.test/3ds", parent_url="http://shop.test/checkout/payment"),)
    findings = run(with_payment(frames=site_frames))
    assert brief(findings) == [("SG305", "medium", "payment", "https://pay.psp.test")]


def test_forms_on_pages_without_card_fields_are_not_checked() -> None:
    register = make_form(id="register")
    moved = dataclasses.replace(register, action="https://collect.evil.test/r")
    findings = run(
        make_capture([cart_page(forms=(moved,)), payment_page()]),
        baseline=make_capture([cart_page(forms=(register,)), payment_page()]),
    )
    assert findings == []
