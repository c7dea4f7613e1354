"""What the shop's own systems tell us, as plain records: the input of incident scoping.

Importers (``skimguard.incident.importers``: CSV with a column mapping, shop databases through
presets for EC-CUBE 4, Magento 2 and WooCommerce, web access logs, bounce lists) turn the shop's
data into these records; scoping (``skimguard.incident.scope``) decides which of them fall inside
an exposure window. Nothing here does I/O.

Every value came from an import and is hostile: it is bounded here (:func:`clip`) and escaped
wherever it is shown. Times are timezone-aware UTC; an importer converts the shop's local times
(a CSV export's wall-clock times; WooCommerce stores both, EC-CUBE 4 and Magento 2 store UTC)
before building a record.

The records are immutable named tuples, not frozen dataclasses: an import builds millions of them
and a named tuple costs a third as much to build (``bench/incident_scope.py``).

We never hold a full card number: ``card_masked`` is what the shop or the payment provider kept
(first six and last four at most, e.g. ``411111******1111``, or only the last four), and
``card_token`` is the provider's token for the card when the shop has one.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import NamedTuple

MAX_FIELD = 512  # longest value kept from any imported field

__all__ = [
    "MAX_FIELD",
    "Bounce",
    "CheckoutSession",
    "Contact",
    "Order",
    "PaymentMethod",
    "Registration",
    "SessionSource",
    "clip",
    "mask_card",
    "normalize_email",
]


class PaymentMethod(enum.StrEnum):
    """How an order was paid. Only ``card`` puts card data on the page; the others are out of scope
    unless a card was still typed (a checkout session says so)."""

    CARD = "card"
    CASH_ON_DELIVERY = "cod"
    STORE_PICKUP = "pickup"
    BANK_TRANSFER = "bank"
    CONVENIENCE_STORE = "konbini"
    OTHER = "other"
    UNKNOWN = "unknown"  # the import could not tell: treated like card (conservative)


class SessionSource(enum.StrEnum):
    ACCESS_LOG = "access-log"
    DATABASE = "database"
    CSV = "csv"


class Contact(NamedTuple):
    """How to reach a person. Any field may be missing."""

    name: str | None = None
    email: str | None = None
    postal_code: str | None = None
    address: str | None = None
    phone: str | None = None


class Order(NamedTuple):
    """One order (one payment attempt that became an order)."""

    order_id: str
    placed_at: datetime  # UTC, aware: when the payment was made
    payment: PaymentMethod
    customer_id: str | None = None  # the shop's customer ID; None for guest orders
    contact: Contact = Contact()
    card_masked: str | None = None  # e.g. "411111******1111" or "1111"
    card_expiry: str | None = None  # "MM/YY" when known
    card_token: str | None = None  # the payment provider's token for the card
    page: str | None = None  # path of the page the card was entered on, when the shop knows it
    status: str | None = None  # the shop's own status text (cancelled orders still exposed the card)


class CheckoutSession(NamedTuple):
    """A visit that reached the card page (``posted=False``) or posted the card form (``posted=True``),
    whether or not it became an order: the fake-form case catches card data on abandoned checkouts."""

    session_id: str  # stable ID: the shop's session/quote ID, or a hash of client + day for access logs
    at: datetime  # UTC, aware
    path: str  # the page reached or posted to
    posted: bool
    source: SessionSource
    client: str | None = None  # IP address (access logs) or client ID; never shown in public documents
    user_agent: str | None = None
    customer_id: str | None = None
    contact: Contact = Contact()
    order_id: str | None = None  # the order it became, when known


class Registration(NamedTuple):
    """A member registration (or profile change) through a page that may have been altered."""

    customer_id: str
    at: datetime  # UTC, aware
    contact: Contact = Contact()
    page: str | None = None


class Bounce(NamedTuple):
    """An e-mail address that could not be delivered to (from a bounce list import)."""

    email: str  # normalized with :func:`normalize_email`
    at: datetime | None = None
    reason: str | None = None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clip(value: object, limit: int = MAX_FIELD) -> str | None:
    """An imported value as bounded text without control characters; None for empty/missing."""
    if value is None:
        return None
    text = _CONTROL.sub("", str(value)).strip()
    if not text:
        return None
    return text[:limit]


def normalize_email(value: str | None) -> str | None:
    """The key we count people by when there is no customer ID: trimmed, lower-cased, full-width
    characters folded (Japanese forms often get ``ｔａｒｏ＠example.jp``). Not a validator: an
    address without ``@`` gives None."""
    if not value:
        return None
    import unicodedata

    text = unicodedata.normalize("NFKC", value).strip().lower()
    if text.count("@") != 1 or len(text) > 254:
        return None
    local, domain = text.split("@")
    if not local or not domain or any(c.isspace() for c in text):
        return None
    return f"{local}@{domain}"


_DIGITS = re.compile(r"\d")
_SEPARATORS = re.compile(r"[\s-]+")
_MASK_CHARS = re.compile(r"[*xX•●#]")
_LEADING_DIGITS = re.compile(r"^\d+")
_TRAILING_DIGITS = re.compile(r"\d+$")


def mask_card(value: str | None) -> str | None:
    """A card reference we may keep: at most the first six and last four digits, the rest ``*``.
    A full PAN that slipped into an import is masked here, never stored. Returns None when the
    value has no digits."""
    if not value:
        return None
    compact = _SEPARATORS.sub("", value)
    if _MASK_CHARS.search(compact):  # already masked ("411111******1111"): keep its shape, no more
        lead = _LEADING_DIGITS.match(compact)
        trail = _TRAILING_DIGITS.search(compact)
        first = lead.group(0)[:6] if lead else ""
        last = trail.group(0)[-4:] if trail else ""
        if not first and not last:
            return None
        return first + "*" * max(len(compact) - len(first) - len(last), 1) + last
    digits = "".join(_DIGITS.findall(value))
    if not digits:
        return None
    if len(digits) <= 4:
        return digits
    if len(digits) < 12:  # a partial reference ("1111", "4111 11") : keep the last four only
        return digits[-4:]
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]
