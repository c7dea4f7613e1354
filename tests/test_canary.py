"""``skimguard.canary``: Luhn arithmetic and fresh canary test cards."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from skimguard import canary
from skimguard.canary import TEST_PREFIXES, CanaryCard, luhn_check_digit, luhn_valid, new_canary_card

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)

# Documented test numbers of the brands: (number, brand)
KNOWN = [
    ("4111111111111111", "visa"),
    ("4242424242424242", "visa"),
    ("5555555555554444", "mastercard"),
    ("378282246310005", "amex"),
    ("371449635398431", "amex"),
    ("3530111333300000", "jcb"),
    ("3566002020360505", "jcb"),
]


@pytest.mark.parametrize(("number", "brand"), KNOWN)
def test_check_digit_of_known_test_numbers(number: str, brand: str) -> None:
    assert luhn_check_digit(number[:-1]) == number[-1]


@pytest.mark.parametrize(("number", "brand"), KNOWN)
def test_known_test_numbers_are_valid(number: str, brand: str) -> None:
    assert luhn_valid(number) is True


@pytest.mark.parametrize(
    ("partial", "digit"),
    [("7992739871", "3"), ("411111111111111", "1"), ("0", "0"), ("", "0"), ("9", "1")],
)
def test_check_digit(partial: str, digit: str) -> None:
    assert luhn_check_digit(partial) == digit


def test_separators_are_ignored() -> None:
    assert luhn_valid("4111 1111 1111 1111") is True
    assert luhn_valid("4111-1111-1111-1111") is True


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",  # wrong check digit
        "5555555555554440",
        "378282246310006",
        "3530111333300001",
        "4111111111111121",  # two adjacent digits swapped
        "41111111111",  # too short (11 digits), although the checksum holds
        "79927398713",  # valid Luhn, 11 digits
        "",
        "abcd efgh ijkl",
    ],
)
def test_luhn_valid_negatives(number: str) -> None:
    assert luhn_valid(number) is False


def test_luhn_needs_twelve_digits() -> None:
    twelve = "41111111111" + luhn_check_digit("41111111111")
    assert len(twelve) == 12
    assert luhn_valid(twelve) is True
    assert luhn_valid(twelve[1:]) is False


@pytest.mark.parametrize(
    ("brand", "prefix", "length", "cvc_length"),
    [("visa", "411111", 16, 3), ("mastercard", "555555", 16, 3), ("jcb", "353011", 16, 3), ("amex", "378282", 15, 4)],
)
def test_new_canary_card(brand: str, prefix: str, length: int, cvc_length: int) -> None:
    for _ in range(50):
        card = new_canary_card(NOW, brand=brand)
        assert card.brand == brand
        assert len(card.number) == length
        assert card.number.isdigit()
        assert card.number.startswith(prefix)
        assert luhn_valid(card.number)
        assert 1 <= card.exp_month <= 12
        assert NOW.year + 2 <= card.exp_year <= NOW.year + 5
        assert (card.exp_year, card.exp_month) > (NOW.year, NOW.month)
        assert len(card.cvc) == cvc_length
        assert card.cvc.isdigit()
        assert re.fullmatch(r"TARO [A-HJ-NP-Z]{5}", card.holder)
        assert card.expiry == f"{card.exp_month:02d}/{card.exp_year % 100:02d}"


def test_every_brand_is_covered() -> None:
    assert set(TEST_PREFIXES) == {"visa", "mastercard", "jcb", "amex"}


def test_default_brand_is_visa() -> None:
    assert new_canary_card(NOW).number.startswith("411111")


def test_two_cards_differ() -> None:
    cards = [new_canary_card(NOW) for _ in range(20)]
    assert len({c.number for c in cards}) == 20
    assert len({c.holder for c in cards}) > 1


def test_deterministic_card_with_fixed_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canary.secrets, "randbelow", lambda n: n - 1)
    monkeypatch.setattr(canary.secrets, "choice", lambda seq: seq[0])
    card = new_canary_card(NOW, brand="visa")
    assert card == CanaryCard("4111119999999994", 12, 2031, "999", "TARO AAAAA", "visa")
    assert card.expiry == "12/31"
    amex = new_canary_card(NOW, brand="amex")
    assert amex.number == "378282999999996"
    assert amex.cvc == "9999"


def test_expiry_format_pads() -> None:
    card = CanaryCard("4111111111111111", 3, 2030, "123", "TARO ABCDE")
    assert card.expiry == "03/30"
    assert card.brand == "visa"


def test_unknown_brand() -> None:
    with pytest.raises(KeyError):
        new_canary_card(NOW, brand="diners")


def test_canary_short_values_never_hide_inside_long_ones() -> None:
    from skimguard.canary import new_canary

    for _ in range(300):
        c = new_canary(NOW)
        longs = c.card_number + "|" + "".join(ch for ch in c.phone + c.postal_code if ch.isdigit())
        assert c.cvc not in longs and c.cvc[::-1] not in longs  # the matcher also tries reversal
        exp = f"{c.exp_month:02d}{c.exp_year % 100:02d}"
        assert exp not in longs and exp[::-1] not in longs
        assert luhn_valid(c.card_number) and c.tag in c.email and c.tag in c.password
