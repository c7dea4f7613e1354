"""Which form fields take card data: a pure classifier over a field's attributes and label.

Shops label card fields in English and Japanese, with autocomplete tokens when they are careful
and free-form names when they are not (``cardno``, ``cc_num``, ``カード番号``). ``card_role``
answers one of ``number``, ``expiry``, ``expiry_month``, ``expiry_year``, ``cvc``, ``holder`` or
``None``.
"""

from __future__ import annotations

import re

_AUTOCOMPLETE = {
    "cc-number": "number",
    "cc-exp": "expiry",
    "cc-exp-month": "expiry_month",
    "cc-exp-year": "expiry_year",
    "cc-csc": "cvc",
    "cc-name": "holder",
    "cc-given-name": "holder",
    "cc-family-name": "holder",
}

# Order matters: the first pattern that matches wins (CVC before number: "card code").
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "cvc",
        re.compile(
            r"\b(cvc|cvv|cvn|csc|cid|cvc2|cvv2)\b|cvc|cvv|(cc|card)[\s_-]?cid|security[\s_-]?code|card[\s_-]?code|"
            r"verification[\s_-]?(code|value)|セキュリティ\s*コード|セキュリティー\s*コード|"
            r"確認番号|カード確認",
            re.I,
        ),
    ),
    (
        "expiry_month",
        re.compile(
            r"(exp|expiry|expiration|valid)[\s_.\-\[]*(date)?[\s_.\-\[]*(month|mon|mm)\b(?!\s*/)|"
            r"\b(cc|card)[\s_-]?(month|mm)\b|有効期限.{0,4}月|月.{0,4}有効期限",
            re.I,
        ),
    ),
    (
        "expiry_year",
        re.compile(
            r"(exp|expiry|expiration|valid)[\s_.\-\[]*(date)?[\s_.\-\[]*(year|yr|yy|yyyy)\b|"
            r"\b(cc|card)[\s_-]?(year|yy)\b|有効期限.{0,4}年|年.{0,4}有効期限",
            re.I,
        ),
    ),
    (
        "expiry",
        re.compile(
            r"\bexp\b|expir|exp[\s_-]?date|\bcc[\s_-]?exp|card[\s_-]?exp|valid[\s_-]?(thru|through|until)|"
            r"mm\s*/\s*yy|有効期限",
            re.I,
        ),
    ),
    (
        "holder",
        re.compile(
            r"card[\s_-]?holder|holder[\s_-]?name|name[\s_-]?on[\s_-]?(the[\s_-]?)?card|"
            r"card[\s_-]?name|cc[\s_-]?name|(cc|card)[\s_-]?owner|カード\s*名義|(?<!口座)(?<!振込)名義",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"card[\s_-]?(number|num|no(?![a-z])|nr)|cc[\s_-]?(number|num|no(?![a-z]))|\bccnum|cardnumber|"
            r"credit[\s_-]?card|\bpan\b|card[\s_.\-\[]*number|カード\s*番号|クレジット\s*カード",
            re.I,
        ),
    ),
)

# Phrases that mention a card but are not about the payment card; removed before matching, so
# "クレジットカード番号（ギフトカード不可）" still counts as a card number field.
_NOT_CARD_TEXT = re.compile(
    r"(gift|loyalty|point|reward|member(ship)?)[\s_-]?card|(card|cc)[\s_-]?(type|brand)|"
    r"ポイント\s*カード|ギフト\s*カード|会員\s*カード|カード\s*(種類|会社|ブランド)",
    re.I,
)

_NOT_CARD_TYPES = frozenset({"hidden", "submit", "button", "reset", "image", "file", "checkbox", "radio"})


def card_role(
    *,
    type: str = "",
    name: str = "",
    id: str = "",
    autocomplete: str = "",
    label: str = "",
    placeholder: str = "",
) -> str | None:
    """The card role of a field, or ``None`` when it does not look like a card field."""
    if type.lower() in _NOT_CARD_TYPES:
        return None
    for token in autocomplete.lower().split():
        if token in _AUTOCOMPLETE:
            return _AUTOCOMPLETE[token]
    if type.lower() in ("email", "search", "url"):
        return None
    text = " ".join(part for part in (name, id, label, placeholder) if part)[:600]
    if not text:
        return None
    text = _NOT_CARD_TEXT.sub(" ", text)
    for role, pattern in _PATTERNS:
        if pattern.search(text):
            return role
    return None


# ---- personal data (registration, address and login pages) ------------------------------------

_PERSONAL_TYPES = frozenset({"email", "tel", "password"})
_PERSONAL_AUTOCOMPLETE = frozenset({
    "name", "given-name", "family-name", "email", "tel", "tel-national", "street-address",
    "address-line1", "address-line2", "address-level1", "address-level2", "postal-code", "bday",
    "new-password", "current-password", "username",
})
_PERSONAL_TEXT = re.compile(
    r"e-?mail|password|passwd|\bpass\b|phone|\btel\b|address|postal|zip|birth|"
    r"メール|パスワード|電話|住所|郵便番号|生年月日|氏名|お名前",
    re.I,
)


def is_personal_field(*, type: str = "", name: str = "", id: str = "", autocomplete: str = "",
                      label: str = "") -> bool:
    """A field that takes personal data a skimmer also steals (e-mail, password, phone, address,
    name): the pages that carry them deserve the same watch as card pages."""
    if type.lower() in _PERSONAL_TYPES:
        return True
    if type.lower() in _NOT_CARD_TYPES:
        return False
    if any(token in _PERSONAL_AUTOCOMPLETE for token in autocomplete.lower().split()):
        return True
    return bool(_PERSONAL_TEXT.search(" ".join((name, id, label))[:600]))
