"""Who to tell, how: one notification per affected person, the mail-merge export, the notices sent.

Channel per person, in order of preference:

1. **e-mail**, when the person has an address that is not on the bounce list;
2. **postal letter**, when the e-mail bounced or is missing and a postal address exists;
3. **substitute measure** (public notice plus an enquiry desk), when neither reaches them; the
   person is still on the list, so the desk can confirm them when they call.

Notices sent are recorded (:class:`NoticeRecord`); :func:`notice_progress` reads them back and says
who still needs a notice and on which channel (an e-mail that bounced after sending moves the person
to a letter, a letter returned undelivered to the substitute measure).

The export is rows of text for a mail merge, built here without I/O. Every cell is bounded, and a
cell that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR, also in
full-width form or after leading spaces) gets a ``'`` in front: names and addresses came from the
shop's database and anyone could have typed ``=HYPERLINK(...)`` as their name.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from skimguard.incident.model import AffectedCard, AffectedPerson, AffectedSet, DataKind, Reason, require_utc
from skimguard.incident.records import Bounce, clip, normalize_email
from skimguard.incident.window import format_local

__all__ = [
    "MAIL_MERGE_FIELDS",
    "Channel",
    "ChannelReason",
    "NoticeRecord",
    "NoticeResult",
    "NoticeStatus",
    "Notification",
    "csv_safe",
    "mail_merge_rows",
    "notice_progress",
    "notification_list",
    "person_ref",
    "rows_to_csv",
]


class Channel(enum.StrEnum):
    EMAIL = "email"
    POSTAL = "postal"
    SUBSTITUTE = "substitute"  # public notice + enquiry desk


class ChannelReason(enum.StrEnum):
    HAS_EMAIL = "has-email"
    EMAIL_BOUNCED = "email-bounced"  # postal (or substitute, without an address)
    NO_EMAIL = "no-email"  # postal (or substitute, without an address)


class NoticeResult(enum.StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"  # e-mail could not be delivered
    RETURNED = "returned"  # letter came back undelivered
    FAILED = "failed"  # could not be sent at all
    PUBLISHED = "published"  # substitute measure in place (public notice up, desk open)


_DONE = frozenset({NoticeResult.SENT, NoticeResult.DELIVERED, NoticeResult.PUBLISHED})


def person_ref(key: str) -> str:
    """A short, stable reference for a person that reveals nothing (the key may hold an e-mail):
    the mail merge and the enquiry desk use it instead of the key."""
    return "P-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12].upper()


@dataclass(frozen=True)
class Notification:
    """How one person will be told, with what the notice needs to say."""

    person: str  # the person key of the affected set
    ref: str  # person_ref(person)
    channel: Channel
    reason: ChannelReason
    name: str | None
    email: str | None  # normalized
    postal_code: str | None
    address: str | None
    phone: str | None
    data: frozenset[DataKind]
    reasons: frozenset[Reason]
    card_last4: tuple[str, ...]  # the last four digits of each affected card, when known
    first_at: datetime
    last_at: datetime


def notification_list(
    affected: AffectedSet | Iterable[AffectedPerson],
    bounces: Iterable[Bounce] = (),
    *,
    cards: Mapping[str, AffectedCard] | None = None,
) -> tuple[Notification, ...]:
    """One notification per person, channel chosen as the module docstring says. ``cards`` (card
    key -> card) gives the last four digits; with an :class:`AffectedSet` it is taken from it."""
    if isinstance(affected, AffectedSet):
        people: Iterable[AffectedPerson] = affected.people
        cards = {c.key: c for c in affected.cards} if cards is None else cards
    else:
        people = affected
    cards = cards or {}
    bounced = {e for e in (normalize_email(b.email) for b in bounces) if e is not None}
    out: list[Notification] = []
    for p in people:
        c = p.contact
        email = normalize_email(c.email)
        address = clip(c.address)
        if email is not None and email not in bounced:
            channel, reason = Channel.EMAIL, ChannelReason.HAS_EMAIL
        else:
            reason = ChannelReason.EMAIL_BOUNCED if email is not None else ChannelReason.NO_EMAIL
            channel = Channel.POSTAL if address is not None else Channel.SUBSTITUTE
        last4 = []
        for key in p.cards:
            card = cards.get(key)
            if card is not None and card.masked and len(card.masked) >= 4 and card.masked[-4:].isdigit():
                last4.append(card.masked[-4:])
        out.append(
            Notification(
                person=p.key,
                ref=person_ref(p.key),
                channel=channel,
                reason=reason,
                name=clip(c.name),
                email=email,
                postal_code=clip(c.postal_code, 16),
                address=address,
                phone=clip(c.phone, 32),
                data=p.data,
                reasons=p.reasons,
                card_last4=tuple(sorted(set(last4))),
                first_at=p.first_at,
                last_at=p.last_at,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Mail merge

MAIL_MERGE_FIELDS = (
    "ref",
    "channel",
    "name",
    "email",
    "postal_code",
    "address",
    "data_items",
    "card_last4",
    "first_exposure",
    "last_exposure",
)
_FORMULA_START = frozenset("=+-@\t\r＝＋－＠")
MAX_CELL = 1024


def csv_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: bounded, and with ``'`` in front of anything it would
    evaluate (``=cmd|...``, ``+1+1``, ``-2+3``, ``@SUM(...)``, tab, CR; also after leading spaces
    and in full-width form)."""
    text = "" if value is None else str(value)[:MAX_CELL]
    stripped = text.lstrip(" \u3000")
    if text and (text[0] in _FORMULA_START or (stripped and stripped[0] in _FORMULA_START)):
        return "'" + text
    return text


def mail_merge_rows(
    notifications: Iterable[Notification],
    *,
    channel: Channel | None = None,
    zone: str = "Asia/Tokyo",
) -> list[tuple[str, ...]]:
    """The header and one row per notification (of ``channel`` when given), every cell CSV-safe.
    Exposure times are shown in the shop's zone; cards only by their last four digits."""
    rows: list[tuple[str, ...]] = [MAIL_MERGE_FIELDS]
    for n in notifications:
        if channel is not None and n.channel is not channel:
            continue
        cells = (
            n.ref,
            n.channel.value,
            n.name or "",
            n.email or "",
            n.postal_code or "",
            n.address or "",
            " ".join(sorted(d.value for d in n.data)),
            " ".join(n.card_last4),
            format_local(n.first_at, zone),
            format_local(n.last_at, zone),
        )
        rows.append(tuple(csv_safe(c) for c in cells))
    return rows


def rows_to_csv(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180, CRLF); the caller writes it (with a BOM for Excel, if wanted).
    Cells are made safe again here, so rows from elsewhere cannot smuggle a formula in."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_safe(c) for c in row])
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Notices sent


@dataclass(frozen=True)
class NoticeRecord:
    """One notice sent (or tried): to whom, when, how, and what came of it."""

    person: str
    at: datetime
    channel: Channel
    result: NoticeResult
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_utc(self.at, f"notice to {self.person[:40]}"))


@dataclass(frozen=True)
class NoticeStatus:
    person: str
    ref: str
    planned: Channel
    done: bool
    next_channel: Channel | None  # None when done
    last: NoticeRecord | None


def notice_progress(
    notifications: Iterable[Notification], records: Iterable[NoticeRecord]
) -> tuple[tuple[NoticeStatus, ...], Mapping[str, int]]:
    """Where each person stands, and a summary (``done``, ``to-email``, ``to-postal``,
    ``to-substitute``). A person is done when their latest notice on the channel they are due
    was sent, delivered or published; a bounce or a returned letter moves them down a channel."""
    by_person: dict[str, list[NoticeRecord]] = {}
    for r in records:
        by_person.setdefault(r.person, []).append(r)
    statuses: list[NoticeStatus] = []
    summary: Counter[str] = Counter()
    for n in notifications:
        history = sorted(by_person.get(n.person, ()), key=lambda r: r.at)
        due = n.channel
        done_on: Channel | None = None
        for r in history:
            if r.result in (NoticeResult.BOUNCED, NoticeResult.RETURNED, NoticeResult.FAILED):
                if r.channel is Channel.EMAIL and due is Channel.EMAIL:
                    due = Channel.POSTAL if n.address else Channel.SUBSTITUTE
                elif r.channel is Channel.POSTAL and due is not Channel.SUBSTITUTE:
                    due = Channel.SUBSTITUTE
                if done_on is r.channel:
                    done_on = None
            elif r.result in _DONE:  # any channel that reached them counts, even one not planned
                done_on = r.channel
        done = done_on is not None
        statuses.append(
            NoticeStatus(
                person=n.person,
                ref=n.ref,
                planned=n.channel,
                done=done,
                next_channel=None if done else due,
                last=history[-1] if history else None,
            )
        )
        summary["done" if done else f"to-{due.value}"] += 1
    return tuple(statuses), dict(sorted(summary.items()))
