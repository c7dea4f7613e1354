"""``card_role``: which form fields take card data, on fields as real shops write them.

Each case is a field's attributes (as the recorder reads them from the DOM) and the role the
classifier must answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from skimguard.capture.fields import card_role, is_personal_field


def case(expected: str | None, case_id: str, /, **field: str) -> Any:
    return pytest.param(field, expected, id=case_id)


CASES = [
    # --- autocomplete tokens (the careful shops); the token wins over everything else
    case("number", "ac-cc-number", autocomplete="cc-number"),
    case("number", "ac-billing-cc-number", autocomplete="billing cc-number"),
    case("expiry", "ac-section-cc-exp", autocomplete="section-pay billing cc-exp"),
    case("expiry_month", "ac-cc-exp-month", autocomplete="cc-exp-month"),
    case("expiry_year", "ac-cc-exp-year", autocomplete="cc-exp-year"),
    case("cvc", "ac-cc-csc-uppercase", autocomplete="CC-CSC"),
    case("holder", "ac-cc-name", autocomplete="cc-name"),
    case("holder", "ac-cc-family-name", autocomplete="cc-family-name"),
    case("number", "ac-beats-type-tel", type="tel", name="phone", autocomplete="cc-number"),
    case("number", "ac-off-falls-back-to-name", autocomplete="off", name="cardNumber"),
    # --- WooCommerce WC_Payment_Gateway_CC::form(): type=tel inputs
    case("number", "woo-number", type="tel", id="stripe-card-number", autocomplete="cc-number",
         placeholder="•••• •••• •••• ••••"),
    case("expiry", "woo-expiry", type="tel", id="stripe-card-expiry", autocomplete="cc-exp",
         placeholder="MM / YY"),
    case("cvc", "woo-cvc-type-tel", type="tel", id="stripe-card-cvc", autocomplete="off", placeholder="CVC"),
    # --- Magento payment form
    case("number", "magento-cc-number", name="payment[cc_number]", label="Credit Card Number"),
    case("expiry_month", "magento-exp-month", name="payment[cc_exp_month]", label="Expiration Date"),
    case("expiry_year", "magento-exp-year", name="payment[cc_exp_year]"),
    case("cvc", "magento-cc-cid", name="payment[cc_cid]", id="authorizenet_directpost_cc_cid"),
    case("holder", "magento1-cc-owner", name="payment[cc_owner]"),
    case(None, "magento-cc-type", name="payment[cc_type]", label="Credit Card Type"),
    case(None, "magento-cc-type-name-only", name="payment[cc_type]"),
    # --- Stripe Elements / Authorize.net field names
    case("number", "stripe-cardnumber", name="cardnumber"),
    case("expiry", "stripe-exp-date", name="exp-date"),
    case("cvc", "stripe-cvc", name="cvc"),
    case("number", "authnet-x-card-num", name="x_card_num"),
    case("expiry", "authnet-x-exp-date", name="x_exp_date"),
    case("cvc", "authnet-x-card-code", name="x_card_code"),
    # --- EC-CUBE style
    case("number", "eccube-card-no", name="card_no"),
    case("number", "eccube-card-no01", name="card_no01"),
    case("expiry_month", "eccube-card-month", name="card_month"),
    case("expiry_year", "eccube-card-year", name="card_year"),
    case("holder", "eccube-card-name01", name="card_name01"),
    case("cvc", "eccube-security-code", name="security_code"),
    # --- other free-form names
    case("number", "cc-num", name="cc_num"),
    case("expiry_month", "exp-month-camel", name="expMonth"),
    case("expiry_year", "expiry-year-dash", name="card-expiry-year"),
    case("cvc", "card-cvv", name="card_cvv"),
    case("holder", "cardholder-name", name="cardholderName"),
    case("holder", "name-on-card", name="nameOnCard"),
    # --- Japanese labels
    case("number", "ja-card-number", label="カード番号"),
    case("number", "ja-credit-card-number", label="クレジットカード番号"),
    case("expiry_month", "ja-expiry-month", label="有効期限（月）"),
    case("expiry_year", "ja-expiry-year", label="有効期限（年）"),
    case("expiry_month", "ja-expiry-month-ascii-parens", label="有効期限(月)"),
    case("expiry", "ja-expiry", label="有効期限"),
    case("cvc", "ja-security-code", label="セキュリティコード"),
    case("cvc", "ja-security-code-long-vowel", label="セキュリティーコード"),
    case("holder", "ja-card-holder", label="カード名義人"),
    case("holder", "ja-card-holder-romaji", label="カード名義（ローマ字）"),
    case("cvc", "ja-cvc-masked-password", type="password", name="security_code", label="セキュリティコード"),
    # --- English labels
    case("number", "en-card-number", label="Card number"),
    case("expiry", "en-expiration-date", label="Expiration date"),
    case("expiry_month", "en-expiration-month", label="Expiration month"),
    case("expiry_year", "en-expiration-year", label="Expiration year"),
    case("cvc", "en-security-code", label="Security code"),
    case("cvc", "en-card-verification-code", label="Card verification code"),
    case("holder", "en-name-on-card", label="Name on card"),
    # --- placeholders
    case("expiry", "ph-mm-yy", placeholder="MM/YY"),
    case("cvc", "ph-cvc", placeholder="CVC"),
    case("expiry", "single-expiry-with-mm-yy-placeholder", name="expiry", placeholder="MM / YY"),
    # --- not card fields
    case(None, "email", type="email", name="email", label="メールアドレス"),
    case(None, "password", type="password", name="password", label="パスワード"),
    case(None, "tel", type="tel", name="tel", label="電話番号"),
    case(None, "hidden-card-name", type="hidden", name="payment[cc_number]"),
    case(None, "hidden-token", type="hidden", name="card_token"),
    case(None, "checkbox-save-card", type="checkbox", name="save_card", label="カード情報を保存する"),
    case(None, "radio-pay-by-card", type="radio", name="payment_method", label="クレジットカード"),
    case(None, "search", type="search", name="q", label="Card number"),
    case(None, "plain-name", name="name"),
    case(None, "ja-name", label="お名前"),
    case(None, "company", name="company", label="会社名"),
    case(None, "postal-code", name="postal_code", label="郵便番号"),
    case(None, "zip-code", label="Zip code"),
    case(None, "coupon-code", name="coupon_code", label="Coupon code"),
    case(None, "promo-code", label="Promo code"),
    case(None, "bare-code", name="code"),
    case(None, "expected-delivery", name="expected_delivery", label="Expected delivery date"),
    case(None, "ja-delivery-date", label="お届け希望日"),
    case(None, "express", name="express_shipping"),
    case(None, "birth-month", label="Birth month"),
    case(None, "card-type-ja", label="カード種類"),
    case(None, "installments-ja", label="支払回数"),
    case(None, "ja-point-card-number", label="ポイントカード番号"),
    case(None, "gift-card-number", name="gift_card_number", label="Gift card number"),
    case(None, "ja-bank-account-holder", label="口座名義（カナ）"),
    case(None, "ja-bank-transfer-name", label="振込名義人"),
    case(None, "empty", name=""),
]


@pytest.mark.parametrize(("field", "expected"), CASES)
def test_card_role(field: dict[str, str], expected: str | None) -> None:
    assert card_role(**field) == expected


def test_name_and_id_come_before_a_long_label() -> None:
    assert card_role(name="card_number", label="x" * 1000) == "number"


def test_text_is_bounded() -> None:
    """Only the first 600 characters of name+id+label+placeholder are looked at (hostile pages)."""
    assert card_role(label="x" * 596 + " card number") is None
    assert card_role(label="x" * 580 + " card number") == "number"


PERSONAL = [
    ({"type": "email", "name": "login"}, True),
    ({"type": "password", "name": "pw"}, True),
    ({"type": "tel", "name": "x"}, True),
    ({"type": "text", "autocomplete": "street-address"}, True),
    ({"type": "text", "name": "reg_address"}, True),
    ({"type": "text", "label": "郵便番号"}, True),
    ({"type": "text", "label": "お名前"}, True),
    ({"type": "hidden", "name": "email"}, False),
    ({"type": "text", "name": "coupon"}, False),
    ({"type": "text", "name": "qty"}, False),
    ({"type": "search", "name": "q"}, False),
]


@pytest.mark.parametrize(("attrs", "expected"), PERSONAL)
def test_is_personal_field(attrs: dict[str, str], expected: bool) -> None:
    assert is_personal_field(**attrs) is expected
