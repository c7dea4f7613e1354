"""SG307 (card asked for twice) and SG308 (payment fields covered) on one journey's capture."""

from __future__ import annotations

import dataclasses

from skimguard.detect.payment_flow import PaymentFlowDetector
from skimguard.models import Finding, Overlay, PageCapture
from skimguard.testing.factories import brief, card_form, cart_page, make_capture, make_context, make_field, make_page

EVIL_PAY = "http://collect.evil.test/pay"


def run(*pages: PageCapture) -> list[Finding]:
    return list(PaymentFlowDetector().run(make_context(make_capture(list(pages)))))


def test_a_planted_form_then_the_real_one_is_sg307_critical() -> None:
    # ruleid: SG307 — incident 2: the fake form posts to the attacker, the "retry" page is real
    fake = make_page("payment", forms=(card_form(EVIL_PAY, id="card-form"),))
    retry = make_page("complete", url="http://shop.test/checkout/payment?retry=1", forms=(card_form(),))
    findings = run(cart_page(), fake, retry)
    assert brief(findings) == [("SG307", "critical", "complete", "payment>complete")]
    f = findings[0]
    assert f.destination == "collect.evil.test"
    assert f.evidence["first"]["action"] == EVIL_PAY and f.evidence["second"]["form"] == "form#payment-form"


def test_a_different_second_form_inside_the_shop_is_sg307_high() -> None:
    # ruleid: SG307 — both forms post to the shop, but it is another form the second time
    first = make_page("payment", forms=(card_form("http://shop.test/checkout/verify", id="verify"),))
    second = make_page("confirm", forms=(card_form(),))
    assert brief(run(first, second)) == [("SG307", "high", "confirm", "payment>confirm")]


def test_the_same_form_again_is_a_retry_not_sg307() -> None:
    # ok: SG307 — a declined test card: the same form, same action, shown again
    again = make_page("payment-retry", url="http://shop.test/checkout/payment?declined=1")
    assert run(make_page("payment"), again) == []


def test_hidden_forms_and_a_single_card_page_are_not_sg307() -> None:
    # ok: SG307 — the real form is hidden on the first page (display:none), only one ask is visible
    hidden = dataclasses.replace(card_form(EVIL_PAY, id="card-form"), visible=False)
    assert run(make_page("payment", forms=(hidden,)), make_page("confirm")) == []
    assert run(cart_page(), make_page("payment")) == []


def overlay(cover: str, *, field_role: str | None = "number", frame: str = "") -> Overlay:
    field = make_field("cc-number", card_role=field_role) if field_role or not frame else None
    return Overlay(frame_url="http://shop.test/checkout/payment", cover=cover, field=field, frame=frame)


def test_a_frame_over_the_card_number_is_sg308() -> None:
    # ruleid: SG308 — an attacker iframe laid exactly over the card number field
    page = dataclasses.replace(make_page("payment"), overlays=(overlay("iframe http://collect.evil.test/f.html"),))
    findings = run(page)
    assert brief(findings) == [("SG308", "critical", "payment", "cc-number|collect.evil.test")]
    assert findings[0].evidence["cover"] == "http://collect.evil.test/f.html"


def test_a_payment_frame_covered_by_another_form_is_sg308_high() -> None:
    # ruleid: SG308 — the PSP's hosted-fields frame covered by a first-party form (planted in a template)
    cover = "input#n in form http://shop.test/x"
    page = dataclasses.replace(
        make_page("payment"),
        overlays=(overlay(cover, field_role=None, frame="https://pay.psp.test/fields.html"),),
    )
    assert brief(run(page)) == [("SG308", "high", "payment", "https://pay.psp.test/fields.html|shop.test")]


def test_covered_non_card_fields_and_non_payment_frames_are_not_sg308() -> None:
    # ok: SG308 — a chat bubble over the newsletter e-mail field, a video frame over another frame
    page = dataclasses.replace(
        make_page("payment"),
        overlays=(
            overlay("iframe http://chat.test/w.html", field_role=None),
            overlay("iframe http://chat.test/w.html", field_role=None, frame="http://video.test/embed"),
        ),
    )
    assert run(page) == []
