"""Canary test cards: unique, Luhn-valid numbers in test ranges, one set per scan.

A canary is ours, never a real card. Every scan gets fresh values so that a hit anywhere
(a collector, a log, a later scan) traces back to the scan that typed it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from skimguard.models import CanaryIdentity

# Test ranges of the card brands (documented test numbers), by brand.
TEST_PREFIXES: dict[str, tuple[str, int]] = {
    "visa": ("411111", 16),
    "mastercard": ("555555", 16),
    "jcb": ("353011", 16),
    "amex": ("378282", 15),
}


def luhn_check_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = "".join(c for c in number if c.isdigit())
    return len(digits) >= 12 and luhn_check_digit(digits[:-1]) == digits[-1]


@dataclass(frozen=True)
class CanaryCard:
    number: str
    exp_month: int
    exp_year: int  # four digits
    cvc: str
    holder: str
    brand: str = "visa"

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year % 100:02d}"


def new_canary_card(now: datetime, *, brand: str = "visa") -> CanaryCard:
    prefix, length = TEST_PREFIXES[brand]
    body = prefix + "".join(str(secrets.randbelow(10)) for _ in range(length - len(prefix) - 1))
    number = body + luhn_check_digit(body)
    month = secrets.randbelow(12) + 1
    year = now.year + 2 + secrets.randbelow(4)
    cvc = "".join(str(secrets.randbelow(10)) for _ in range(4 if brand == "amex" else 3))
    tag = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
    return CanaryCard(number, month, year, cvc, f"TARO {tag}", brand)


CANARY_EMAIL_DOMAIN = "example.jp"  # reserved for documentation: mail to it reaches nobody
_TAG_ALPHABET = "abcdefghjkmnpqrstuvwxyz"
_PLACEHOLDER = re.compile(r"\{canary\.([a-z_]+)\}")


def new_canary(now: datetime, *, brand: str = "visa", email_domain: str = CANARY_EMAIL_DOMAIN) -> CanaryIdentity:
    """A complete set of unique test values for one journey run.

    The random ``tag`` appears in the e-mail, password, names and address, so any of them found
    anywhere later (a collector, a log, a breach dump) names the run that typed it.
    """
    tag = "".join(secrets.choice(_TAG_ALPHABET) for _ in range(6))
    phone, postal = f"090-{digits(4)}-{digits(4)}", f"1{digits(2)}-{digits(4)}"
    # The short values (CVC, expiry) must not occur inside the long ones, forwards or reversed, or
    # a hit on the card number or the phone would also claim them (the matcher tries reversal).
    longer = "".join(c for c in phone + postal if c.isdigit())
    while True:
        card = new_canary_card(now, brand=brand)
        exp_digits = f"{card.exp_month:02d}{card.exp_year % 100:02d}"
        haystack = card.number + "|" + longer
        shorts = (card.cvc, exp_digits, card.cvc[::-1], exp_digits[::-1])
        if not any(short in haystack for short in shorts):
            break
    return CanaryIdentity(
        tag=tag,
        card_number=card.number,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        cvc=card.cvc,
        holder=f"TARO {tag.upper()}",
        email=f"taro.{tag}@{email_domain}",
        phone=phone,
        postal_code=postal,
        address=f"千代田区神田{secrets.randbelow(9) + 1}-{secrets.randbelow(30) + 1} {tag}ビル",
        password=f"Sg-{tag}-{digits(4)}!",
        name=f"山田 {tag}",
        brand=brand,
    )


def digits(n: int) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(n))


def fill_placeholders(text: str, canary: CanaryIdentity) -> str:
    """``{canary.email}``-style placeholders in a journey's ``fill`` values, replaced by the run's
    canary values (unknown names are left as they are)."""
    values = canary.values()
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
