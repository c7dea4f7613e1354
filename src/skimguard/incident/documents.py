"""Drafts of the documents a card-skimming breach needs, in Japanese and English, Markdown and HTML.

Four documents, each filled from one :class:`DraftContext` (plain values, no database, no clock):

* ``regulator-report``: the report to the Personal Information Protection Commission (APPI), with
  its nine items in the commission's order;
* ``individual-notice``: the notice to one affected person (or the generic form for mail merge);
* ``public-notice``: the お詫びとお知らせ in the structure Japanese shops use, saying whether store
  pickup and cash on delivery were affected;
* ``acquirer-summary``: for the acquirer / payment provider and the forensic investigator: the
  transaction window, the data items and the cards at risk (masked only).

Why drafts and not documents: the facts come from skimguard, the commitments (enquiry desk,
prevention measures, when card payment restarts) from people. Every value a human must still
give renders as a visible placeholder (``【要記入: 問い合わせ窓口】`` / ``[TO COMPLETE: enquiry
desk]``) and comes back in :attr:`Draft.placeholders`, so nothing half-finished goes out unseen.

Why the escaping is structural: every string in the context may come from a scanned page or an
import (a customer "named" ``<script>``, a vendor called ``[x](javascript:...)``). The templates
are rendered with autoescape on in both formats; plain strings pass through :func:`guard_value`
(control and bidi characters removed, whitespace collapsed to one line, length capped, a leading
spreadsheet formula defused) and then through HTML escaping or :func:`md_escape`. Only values
this module formats itself (dates, numbers, labels) are marked safe. The HTML drafts also carry
a Content-Security-Policy that forbids scripts, in case a draft is opened in a browser.

Why nothing leaks: each template sees only what its reader may see. The public notice never
touches ``masked_cards`` or ``recipient``; the individual notice shows the recipient's own card by
its last four digits only; masked card numbers appear only in the acquirer summary and its CSV.

Times are held as aware datetimes and shown in the shop's zone (``Asia/Tokyo`` by default), with
the zone named: ``2022年7月19日 19時04分`` / ``2022-07-19 19:04 +09:00``.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from markupsafe import Markup
from markupsafe import escape as html_escape

from skimguard.incident.records import mask_card

__all__ = [
    "MAX_VALUE",
    "Cause",
    "CauseKind",
    "Counts",
    "DataItem",
    "Deadline",
    "DocKind",
    "Draft",
    "DraftContext",
    "Enquiry",
    "ExposureWindow",
    "FindingRef",
    "Fmt",
    "Identifier",
    "IdentifierCount",
    "Lang",
    "Localized",
    "MaskedCard",
    "NonCardImpact",
    "NoticeStats",
    "Placeholder",
    "Recipient",
    "ReportStage",
    "Text",
    "TimelineEvent",
    "cards_csv",
    "file_name",
    "guard_value",
    "md_escape",
    "remask",
    "render",
    "render_all",
]

MAX_VALUE = 400  # longest value shown from the context (names, addresses, cause text)
MAX_CARDS_LISTED = 20_000  # cards listed in the acquirer summary; the CSV holds them all
DRAFTS_SCHEMA = "skimguard.drafts/1"


class DocKind(enum.StrEnum):
    REGULATOR_REPORT = "regulator-report"
    INDIVIDUAL_NOTICE = "individual-notice"
    PUBLIC_NOTICE = "public-notice"
    ACQUIRER_SUMMARY = "acquirer-summary"


class Lang(enum.StrEnum):
    JA = "ja"
    EN = "en"


class Fmt(enum.StrEnum):
    MD = "md"
    HTML = "html"


class ReportStage(enum.StrEnum):
    """The regulator report is filed twice: promptly (速報) and complete (確報)."""

    PRELIMINARY = "preliminary"
    FINAL = "final"


class DataItem(enum.StrEnum):
    """Data a shopper typed on an altered page (what the skimmer could read)."""

    CARD_NUMBER = "card-number"
    CARD_EXPIRY = "card-expiry"
    CARD_CVC = "card-cvc"
    CARDHOLDER_NAME = "cardholder-name"
    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"
    BIRTH_DATE = "birth-date"
    GENDER = "gender"
    LOGIN_ID = "login-id"
    PASSWORD = "password"


class CauseKind(enum.StrEnum):
    """What happened, in the words the notices use. Each kind has a fixed sentence per language;
    the specifics (vendor, script URL, detail) are values and escaped."""

    THIRD_PARTY_SCRIPT = "third-party-script"  # founding incident 1: vendor script altered at the vendor
    FAKE_CARD_FORM = "fake-card-form"  # founding incident 2: checkout altered to show a fake card form
    PAGE_SCRIPT = "page-script"  # a skimming script planted in the shop's own page
    REGISTRATION_PAGE = "registration-page"  # the member registration page altered too
    OTHER = "other"


class Identifier(enum.StrEnum):
    """What a count rests on (same values as scoping's person / card bases)."""

    CUSTOMER_ID = "customer-id"
    EMAIL = "email"
    SESSION = "session"
    ORDER = "order"
    TOKEN = "token"
    MASKED_EXPIRY = "masked+expiry"
    MASKED = "masked"
    NONE = "none"


class NonCardImpact(enum.StrEnum):
    """Whether orders paid without a card (store pickup, cash on delivery) are affected."""

    NOT_AFFECTED = "not-affected"  # a script reading the real card form: no card typed, nothing taken
    IF_CARD_ENTERED = "if-card-entered"  # a fake form: affected where a card was typed before choosing another way
    AFFECTED = "affected"


@dataclass(frozen=True)
class Localized:
    """A text given in both languages (a timeline entry, a prevention measure)."""

    ja: str
    en: str


Text: TypeAlias = str | Localized  # a plain str is shown as is in both languages


@dataclass(frozen=True)
class ExposureWindow:
    """When one skimmer variant could read what shoppers typed on its pages.

    ``start`` None: not established (placeholder). ``end`` None and ``ongoing``: still exposed;
    ``end`` None and not ``ongoing``: not established (placeholder). The bases say why each edge
    is where it is (the last clean scan, a file's modification time...)."""

    variant: str
    pages: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    ongoing: bool = False
    start_basis: Text | None = None
    end_basis: Text | None = None


@dataclass(frozen=True)
class IdentifierCount:
    identifier: Identifier
    count: int


@dataclass(frozen=True)
class Counts:
    """The scoped counts. None: not known yet (placeholder)."""

    people: int | None = None
    cards: int | None = None
    card_orders: int | None = None
    sessions_card_no_order: int | None = None  # card form posted, no card order followed (fake-form case)
    sessions_page_reached: int | None = None  # card page reached, no post seen
    registrations: int | None = None
    people_by: tuple[IdentifierCount, ...] = ()
    cards_by: tuple[IdentifierCount, ...] = ()


@dataclass(frozen=True)
class Cause:
    kind: CauseKind
    vendor: str | None = None  # the outside vendor whose script was altered
    script_url: str | None = None  # shown to the regulator and the acquirer only
    detail: Text | None = None  # free text from findings; regulator and acquirer only


@dataclass(frozen=True)
class TimelineEvent:
    """One line of the 経緯. ``public`` False keeps internal steps (a finding ID, a scan) out of
    the public notice and the individual notice."""

    at: datetime | date
    text: Text
    public: bool = True


@dataclass(frozen=True)
class NoticeStats:
    """How the affected people are told: by e-mail, by letter (bounced or no address), or by the
    substitute measure (public notice plus enquiry desk) when they cannot be reached."""

    email: int = 0
    letter: int = 0
    substitute: int = 0
    started_on: date | None = None


@dataclass(frozen=True)
class Deadline:
    name: Text
    due: datetime | date
    basis: Text
    done_on: date | None = None


@dataclass(frozen=True)
class Enquiry:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    url: str | None = None
    hours: Text | None = None


@dataclass(frozen=True)
class MaskedCard:
    """A card at risk as the acquirer needs it. ``masked`` is re-masked before it is shown (at most
    first six and last four), so a full number that slipped in is never printed."""

    masked: str
    expiry: str | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None
    uses: int = 1  # card orders and card-form posts in the window


@dataclass(frozen=True)
class FindingRef:
    finding_id: str
    rule_id: str
    title: str | None = None


@dataclass(frozen=True)
class Recipient:
    """The one person an individual notice is for. Only their own data: a name, the last four
    digits of their cards, when they entered them."""

    name: str | None = None
    postal_code: str | None = None  # shown on a letter's address block
    address: str | None = None
    card_last4: tuple[str, ...] = ()
    entered_at: tuple[datetime, ...] = ()
    registered: bool = False


@dataclass(frozen=True)
class DraftContext:
    """Everything the drafts need, as plain values. All strings are treated as hostile."""

    incident_id: str
    known_at: datetime
    windows: tuple[ExposureWindow, ...]
    zone: str = "Asia/Tokyo"
    operator: str | None = None  # the company running the shop
    shop_name: str | None = None
    site_url: str | None = None
    issued_on: date | None = None  # date printed on the drafts
    stage: ReportStage = ReportStage.PRELIMINARY
    detected_how: Text | None = None  # 発覚の経緯
    card_items: tuple[DataItem, ...] = ()  # typed on the card page
    registration_items: tuple[DataItem, ...] = ()  # typed on the registration page
    other_items: tuple[Text, ...] = ()
    counts: Counts = Counts()
    pickup: NonCardImpact | None = None
    cash_on_delivery: NonCardImpact | None = None
    causes: tuple[Cause, ...] = ()
    fraud_reports: int | None = None  # fraudulent uses the card companies reported so far
    secondary_harm: Text | None = None
    timeline: tuple[TimelineEvent, ...] = ()
    notices: NoticeStats = NoticeStats()
    published_on: date | None = None
    publication_delay_reason: Text | None = None
    card_payment_stopped_at: datetime | None = None
    skimmer_removed_at: datetime | None = None
    card_payment_restart: Text | None = None
    prevention: tuple[Text, ...] = ()
    regulator_reported_on: date | None = None
    police_reported_on: date | None = None
    police_station: str | None = None
    investigator: str | None = None
    deadlines: tuple[Deadline, ...] = ()
    enquiry: Enquiry | None = None
    masked_cards: tuple[MaskedCard, ...] = ()
    findings: tuple[FindingRef, ...] = ()
    recipient: Recipient | None = None
    extra_notes: tuple[Text, ...] = field(default=())

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.zone!r}") from exc
        for value in self._datetimes():
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"time {value.isoformat()} has no zone")

    def _datetimes(self) -> Iterable[datetime]:
        yield self.known_at
        for w in self.windows:
            yield from (t for t in (w.start, w.end) if t is not None)
        for ev in self.timeline:
            if isinstance(ev.at, datetime):
                yield ev.at
        for t in (self.card_payment_stopped_at, self.skimmer_removed_at):
            if t is not None:
                yield t
        for c in self.masked_cards:
            yield from (t for t in (c.first_at, c.last_at) if t is not None)
        if self.recipient is not None:
            yield from self.recipient.entered_at

    # What the templates ask for, computed once here rather than in Jinja.

    @property
    def overall_start(self) -> datetime | None:
        """The earliest start over all variants; None when any start is not established."""
        starts = [w.start for w in self.windows]
        if not starts or any(s is None for s in starts):
            return None
        return min(s for s in starts if s is not None)

    @property
    def overall_end(self) -> datetime | None:
        """The latest end; None when any variant is ongoing or not established."""
        ends = [w.end for w in self.windows]
        if not ends or any(e is None for e in ends):
            return None
        return max(e for e in ends if e is not None)

    @property
    def ongoing(self) -> bool:
        return any(w.ongoing and w.end is None for w in self.windows)

    @property
    def pages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for w in self.windows for p in w.pages))

    @property
    def has_card(self) -> bool:
        return bool(self.card_items)

    @property
    def has_registration(self) -> bool:
        return bool(self.registration_items) or bool(self.counts.registrations)

    @property
    def data_items(self) -> tuple[DataItem, ...]:
        return tuple(dict.fromkeys((*self.card_items, *self.registration_items)))

    @property
    def public_timeline(self) -> tuple[TimelineEvent, ...]:
        return tuple(ev for ev in self.timeline if ev.public)

    @property
    def acquirer_cards(self) -> tuple[MaskedCard, ...]:
        return self.masked_cards[:MAX_CARDS_LISTED]


@dataclass(frozen=True)
class Placeholder:
    """A value a human must still fill in: ``key`` is stable (for tools), ``label`` is what the
    draft shows."""

    key: str
    label: str


@dataclass(frozen=True)
class Draft:
    kind: DocKind
    lang: Lang
    fmt: Fmt
    text: str
    placeholders: tuple[Placeholder, ...]


# --------------------------------------------------------------------------- escaping

_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SPACE = re.compile("[ \t\r\n\f\v\u0085\u2028\u2029]+")
_PHONE_LIKE = re.compile(r"[+\-]?[0-9][0-9 ()\-]*")
_FORMULA_START = ("=", "+", "-", "@")


def guard_value(value: object, limit: int = MAX_VALUE) -> str:
    """A hostile value as one safe line of text, before format escaping.

    Control, zero-width and bidi-override characters are removed (a name must not reorder the
    text around it), whitespace runs become one space (no line breaks, so no Markdown block can
    start inside a value), the length is capped with ``…``, and a value that a spreadsheet would
    run as a formula (``=cmd|...``, ``+``, ``-``, ``@``) gets a leading ``'``, unless it is a
    plain number or phone number."""
    text = _SPACE.sub(" ", _INVISIBLE.sub("", str(value))).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    if text.startswith(_FORMULA_START) and not _PHONE_LIKE.fullmatch(text):
        text = "'" + text
    return text


_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_ALWAYS = frozenset("\\`*_{}[]!|~@=$^")
_MD_AT_START = frozenset("#+-")  # block markers: only at the start of a value (values are one line)
_ORDERED_MARKER = re.compile(r"[0-9]{1,9}[.)]")


def md_escape(text: str) -> str:
    """``text`` as Markdown that renders as exactly this text and never as markup.

    ``&``, ``<``, ``>`` become entities (so no raw HTML, in any renderer). Backslash-escaped:
    always, every ASCII character with an inline meaning in CommonMark, GitHub Markdown or common
    extensions (emphasis, code, links and images, table pipes, strike, math, highlight, ``@`` of
    e-mail autolinks); ``.`` before a non-space character and ``:`` before ``/``, so that no
    ``www.``, bare domain or ``https://`` autolink forms; ``#``, ``-``, ``+`` and the ``.``/``)``
    of ``1.``/``1)`` only at the start of the value (values are one line, so that is the only
    place a heading or list can start). Parentheses need no escape: with ``[`` and ``]`` escaped
    no link can form around them. Plain prose stays readable: ``St. James``, ``10:00``."""
    out: list[str] = []
    n = len(text)
    for i, ch in enumerate(text):
        nxt = text[i + 1] if i + 1 < n else ""
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif (
            ch in _MD_ALWAYS
            or (i == 0 and ch in _MD_AT_START)
            or (ch in ".)" and _ORDERED_MARKER.fullmatch(text, 0, i + 1))
            or (ch == "." and nxt and not nxt.isspace())
            or (ch == ":" and nxt == "/")
        ):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


_ALREADY_MASKED = re.compile(r"([0-9]{6})[*xX•·]{2,9}([0-9]{4})")


def remask(value: str | None) -> str | None:
    """A card reference safe to print: an already masked number (``453201******0366``) keeps its
    first six and last four; anything else goes through :func:`~skimguard.incident.records.mask_card`
    (a full number that slipped into an import is masked here, never printed)."""
    if not value:
        return None
    m = _ALREADY_MASKED.fullmatch(re.sub(r"[\s-]", "", value))
    if m:
        hidden = len(re.sub(r"[\s-]", "", value)) - 10
        return m.group(1) + "*" * hidden + m.group(2)
    return mask_card(value)


def _finalize_md(value: object) -> object:
    if isinstance(value, Markup):
        return value
    if value is None:
        raise TypeError("a template printed None: guard the value with `or h.todo(...)`")
    return Markup(md_escape(guard_value(value)))


def _finalize_html(value: object) -> object:
    if isinstance(value, Markup):
        return value
    if value is None:
        raise TypeError("a template printed None: guard the value with `or h.todo(...)`")
    return guard_value(value)  # autoescape escapes it next


_NOT_LITERAL = re.compile(r"[<>&\[\]`\\|*_#!\n]")


def _literal(text: str) -> Markup:
    """A label written in our own templates (a list label, a table header): shown as is in both
    formats. Refuses anything with markup characters, so a value passed here by mistake fails
    loudly instead of rendering unescaped."""
    if isinstance(text, Markup):
        return text
    if _NOT_LITERAL.search(text):
        raise ValueError(f"not a plain label: {text!r}")
    return Markup(text)


_CJK_EDGE = re.compile(r"[^\x00-\x7f]")


def _para(text: str) -> Markup:
    """Join a template paragraph written over several lines into one: Japanese lines join without
    a space (a space between two kanji shows as a gap), English lines with one."""
    lines = [ln.strip() for ln in str(text).strip().splitlines()]
    out = ""
    for ln in lines:
        if not ln:
            continue
        if out and not (_CJK_EDGE.match(out[-1]) or _CJK_EDGE.match(ln[0])):
            out += " "
        out += ln
    return Markup(out)


# --------------------------------------------------------------------------- labels

_LABELS: dict[str, tuple[str, str]] = {
    # data items
    "card-number": ("クレジットカード番号", "card number"),
    "card-expiry": ("有効期限", "expiry date"),
    "card-cvc": ("セキュリティコード", "security code (CVC)"),
    "cardholder-name": ("カード名義人名", "name on card"),
    "name": ("氏名", "name"),
    "email": ("メールアドレス", "e-mail address"),
    "phone": ("電話番号", "phone number"),
    "address": ("住所", "postal address"),
    "birth-date": ("生年月日", "date of birth"),
    "gender": ("性別", "gender"),
    "login-id": ("ログインID", "login ID"),
    "password": ("パスワード", "password"),
}

_IDENTIFIER_LABELS: dict[Identifier, tuple[str, str]] = {
    Identifier.CUSTOMER_ID: ("会員ID", "customer ID"),
    Identifier.EMAIL: ("メールアドレス（正規化）", "normalized e-mail address"),
    Identifier.SESSION: ("チェックアウトセッション", "checkout session"),
    Identifier.ORDER: ("注文（他に識別子なし）", "order (no other identifier)"),
    Identifier.TOKEN: ("決済代行会社のカードトークン", "payment provider's card token"),
    Identifier.MASKED_EXPIRY: ("マスク済みカード番号＋有効期限", "masked card number + expiry"),
    Identifier.MASKED: ("マスク済みカード番号のみ", "masked card number only"),
    Identifier.NONE: ("参照なし（決済ごとに1枚として計上）", "no reference (each payment counted as a card)"),
}

PLACEHOLDER_LABELS: dict[str, tuple[str, str]] = {
    "operator": ("事業者名", "operator name"),
    "timeline": ("経緯", "timeline"),
    "shop_name": ("サイト名", "shop name"),
    "site_url": ("サイトURL", "site URL"),
    "issued_on": ("作成日", "date of this document"),
    "published_on": ("公表日", "date of the public notice"),
    "detected_how": ("発覚の経緯", "how the breach was discovered"),
    "window_start": ("漏えい等のおそれの開始日時", "start of the exposure window"),
    "window_end": ("漏えい等のおそれの終了日時", "end of the exposure window"),
    "data_items": ("漏えい等のおそれのある情報の項目", "data items at risk"),
    "people": ("本人の数", "number of people"),
    "cards": ("カード件数", "number of cards"),
    "card_orders": ("カード決済の件数", "number of card orders"),
    "registrations": ("会員登録の件数", "number of registrations"),
    "cause": ("原因", "cause"),
    "fraud_reports": ("不正利用の報告の有無", "fraud reported so far"),
    "pickup": ("店頭受取の影響の有無", "whether store pickup is affected"),
    "cash_on_delivery": ("代金引換の影響の有無", "whether cash on delivery is affected"),
    "notices_started_on": ("本人通知の開始日", "date notices to individuals started"),
    "publication_delay_reason": ("公表までに時間を要した理由", "why publication took time"),
    "card_payment_restart": ("カード決済の再開予定", "when card payment restarts"),
    "prevention": ("再発防止策", "prevention measures"),
    "regulator_reported_on": ("個人情報保護委員会への報告日", "date reported to the PPC"),
    "police_reported_on": ("警察への相談・届出日", "date reported to the police"),
    "police_station": ("警察署名", "police station"),
    "enquiry_desk": ("問い合わせ窓口", "enquiry desk"),
    "enquiry_contact": ("問い合わせ窓口の連絡先", "enquiry desk contact"),
    "enquiry_hours": ("受付時間", "enquiry desk hours"),
    "investigator": ("調査機関", "forensic investigator"),
    "recipient_name": ("宛名", "recipient's name"),
}


# --------------------------------------------------------------------------- helpers for templates


def _safe_fixed(text: str) -> Markup:
    """Text this module built from numbers and its own words: safe in Markdown and HTML as is."""
    return Markup(text)


class _Helpers:
    """What a template calls to format values: dates in the shop's zone, numbers, labels and
    placeholders. One per render; it also collects the placeholders the draft left open."""

    def __init__(self, ctx: DraftContext, lang: Lang, fmt: Fmt) -> None:
        self.ctx = ctx
        self.lang = lang
        self.fmt = fmt
        self.tz = ZoneInfo(ctx.zone)
        self.open: dict[str, Placeholder] = {}

    # language

    @property
    def ja(self) -> bool:
        return self.lang is Lang.JA

    def tr(self, text: Text | None) -> str | None:
        """The language's side of a :class:`Localized`, a plain str as is; both still hostile."""
        if text is None:
            return None
        if isinstance(text, Localized):
            return text.ja if self.ja else text.en
        return text

    def esc(self, text: str) -> Markup:
        """Escape now (to build a safe value out of parts)."""
        if self.fmt is Fmt.MD:
            return Markup(md_escape(guard_value(text)))
        return Markup(html_escape(guard_value(text)))

    def label(self, key: str | enum.Enum) -> Markup:
        k = key.value if isinstance(key, enum.Enum) else key
        ja, en = _LABELS[str(k)]
        return _literal(ja if self.ja else en)

    def labels(self, items: Sequence[DataItem], extra: Sequence[Text] = ()) -> Markup:
        parts = [self.label(i) for i in items] + [self.esc(self.tr(t) or "") for t in extra]
        return Markup("、" if self.ja else ", ").join(p for p in parts if p)

    def basis(self, counts: Sequence[IdentifierCount], unit_ja: str = "人") -> Markup:
        """``会員ID 400人、メールアドレス（正規化） 24人`` / ``customer ID 400, ...``."""
        parts = []
        for c in counts:
            ja, en = _IDENTIFIER_LABELS[c.identifier]
            if self.ja:
                parts.append(_literal(f"{ja} {c.count:,}{unit_ja}"))
            else:
                parts.append(_literal(f"{en} {c.count:,}"))
        return Markup("、" if self.ja else ", ").join(parts)

    def join(self, values: Iterable[str], sep: str | None = None) -> Markup:
        sep = sep if sep is not None else ("、" if self.ja else ", ")
        return _literal(sep).join(self.esc(v) for v in values)

    # numbers and times

    def num(self, n: int) -> Markup:
        return _safe_fixed(f"{int(n):,}")

    def _local(self, value: datetime) -> datetime:
        return value.astimezone(self.tz)

    def _fixed_offset(self, year: int) -> bool:
        jan = datetime(year, 1, 1, tzinfo=self.tz).utcoffset()
        jul = datetime(year, 7, 1, tzinfo=self.tz).utcoffset()
        return jan == jul

    @staticmethod
    def _offset(value: datetime) -> str:
        off = value.utcoffset() or timedelta(0)
        minutes = int(off.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def when(self, value: datetime, precision: str = "minute", rounding: str = "floor") -> Markup:
        """A time in the shop's zone. ``precision`` ``minute`` rounds (start edges down, end edges
        up with ``rounding="ceil"``, so a window shown to the minute never looks narrower than it
        is); ``second`` is exact (for the regulator and the acquirer)."""
        local = self._local(value)
        if precision == "minute":
            if rounding == "ceil" and (local.second or local.microsecond):
                local = local + timedelta(minutes=1)
            local = local.replace(second=0, microsecond=0)
        else:
            local = local.replace(microsecond=0)
        if self.ja:
            text = f"{local.year}年{local.month}月{local.day}日 {local.hour:02d}時{local.minute:02d}分"
            if precision == "second":
                text += f"{local.second:02d}秒"
            if not self._fixed_offset(local.year):
                text += f"（UTC{self._offset(local)}）"
            return _safe_fixed(text)
        fmt = "%Y-%m-%d %H:%M:%S" if precision == "second" else "%Y-%m-%d %H:%M"
        return _safe_fixed(f"{local.strftime(fmt)} {self._offset(local)}")

    def day(self, value: date | datetime) -> Markup:
        if isinstance(value, datetime):
            value = self._local(value).date()
        if self.ja:
            return _safe_fixed(f"{value.year}年{value.month}月{value.day}日")
        return _safe_fixed(value.isoformat())

    def at(self, value: date | datetime, precision: str = "minute") -> Markup:
        """A timeline time: a date alone when only the day is known."""
        if isinstance(value, datetime):
            return self.when(value, precision)
        return self.day(value)

    def zone_note(self) -> Markup:
        """The sentence naming the zone all times are shown in."""
        sample = self._local(self.ctx.known_at)
        name = self.esc(self.ctx.zone)
        if self.ja:
            if self.ctx.zone == "Asia/Tokyo":
                return Markup("日時はすべて日本時間（UTC+09:00）で表記しています。")
            if self._fixed_offset(sample.year):
                return Markup("日時はすべて ") + name + Markup(f"（UTC{self._offset(sample)}）の時刻で表記しています。")
            return Markup("日時はすべて ") + name + Markup(" の現地時刻で表記しています（UTCとの時差を併記）。")
        abbrev = self.esc(sample.tzname() or "")
        return (
            Markup("All times are in ") + name + Markup(" (") + abbrev + Markup(", UTC offset shown with each time).")
        )

    # placeholders

    def todo(self, key: str, index: int | None = None) -> Markup:
        """A visible placeholder for a value a human must give; recorded in the draft's list."""
        ja, en = PLACEHOLDER_LABELS[key]
        label = ja if self.ja else en
        full_key = key if index is None else f"{key}.{index}"
        if index is not None:
            label = f"{label} ({index})" if not self.ja else f"{label}（{index}）"
        self.open.setdefault(full_key, Placeholder(full_key, label))
        shown = f"【要記入: {label}】" if self.ja else f"[TO COMPLETE: {label}]"
        if self.fmt is Fmt.MD:  # labels are ours; only the brackets need escaping (no link forms)
            return Markup("**" + shown.replace("[", "\\[").replace("]", "\\]") + "**")
        return (
            Markup('<mark class="todo" data-todo="')
            + html_escape(full_key)
            + Markup('">')
            + html_escape(shown)
            + Markup("</mark>")
        )

    def val(self, value: str | None, key: str) -> Markup | str:
        """``value`` (still hostile, escaped on output) or the placeholder for ``key``."""
        if value is None or not guard_value(value):
            return self.todo(key)
        return value

    def count(self, value: int | None, key: str) -> Markup:
        return self.todo(key) if value is None else self.num(value)

    def last4(self, value: str) -> Markup:
        digits = re.sub(r"\D", "", value)[-4:]
        return _safe_fixed(digits if len(digits) == 4 else "????")

    def masked(self, card: MaskedCard) -> Markup:
        return self.esc(remask(card.masked) or "?")

    def expiry(self, card: MaskedCard) -> Markup | str:
        if card.expiry and re.fullmatch(r"(0[1-9]|1[0-2])/[0-9]{2}", card.expiry.strip()):
            return _safe_fixed(card.expiry.strip())
        return card.expiry or "—"


# --------------------------------------------------------------------------- rendering

_TEMPLATES = Path(__file__).with_name("templates")


@cache
def _env(fmt: Fmt) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize_md if fmt is Fmt.MD else _finalize_html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["para"] = _para
    env.filters["lit"] = _literal
    return env


_BLANKS = re.compile(r"\n{3,}")


def _tidy(text: str, fmt: Fmt) -> str:
    """Blank lines as Markdown needs them (one between blocks), none in HTML."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    if fmt is Fmt.HTML:
        return "\n".join(ln for ln in lines if ln) + "\n"
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def render(kind: DocKind | str, lang: Lang | str, fmt: Fmt | str, ctx: DraftContext) -> Draft:
    """One draft. Deterministic: the same context gives the same bytes (no clock is read)."""
    kind, lang, fmt = DocKind(kind), Lang(lang), Fmt(fmt)
    helpers = _Helpers(ctx, lang, fmt)
    template = _env(fmt).get_template(f"{kind.value.replace('-', '_')}.{lang.value}.j2")
    text = template.render(ctx=ctx, h=helpers, fmt=fmt.value, lang=lang.value, K=CauseKind, N=NonCardImpact, D=DataItem)
    return Draft(kind, lang, fmt, _tidy(text, fmt), tuple(helpers.open.values()))


def file_name(kind: DocKind, lang: Lang, fmt: Fmt) -> str:
    """Stable file names: ``public-notice.ja.md``. Nothing from the context goes into a name."""
    return f"{kind.value}.{lang.value}.{fmt.value}"


_CSV_FIELDS = ("no", "card_masked", "expiry", "first_at", "last_at", "uses")


def cards_csv(ctx: DraftContext) -> str:
    """The cards at risk for the acquirer, one row per card: masked numbers only, times in ISO 8601
    with the shop's offset, every text cell defused against spreadsheet formulas."""
    tz = ZoneInfo(ctx.zone)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(_CSV_FIELDS)
    for i, card in enumerate(ctx.masked_cards, start=1):
        w.writerow(
            (
                i,
                remask(card.masked) or "?",
                guard_value(card.expiry or "", 32),
                card.first_at.astimezone(tz).isoformat() if card.first_at else "",
                card.last_at.astimezone(tz).isoformat() if card.last_at else "",
                card.uses,
            )
        )
    return buf.getvalue()


def render_all(ctx: DraftContext, out_dir: Path) -> list[Path]:
    """Every draft (4 documents x 2 languages x 2 formats), the acquirer's card list as CSV and a
    ``drafts.json`` manifest with the open placeholders per file; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    manifest: list[dict[str, object]] = []
    for kind in DocKind:
        for lang in Lang:
            for fmt in Fmt:
                draft = render(kind, lang, fmt, ctx)
                path = out_dir / file_name(kind, lang, fmt)
                path.write_text(draft.text, encoding="utf-8", newline="\n")
                written.append(path)
                manifest.append(
                    {
                        "file": path.name,
                        "kind": kind.value,
                        "lang": lang.value,
                        "format": fmt.value,
                        "placeholders": [{"key": p.key, "label": p.label} for p in draft.placeholders],
                    }
                )
    cards = out_dir / "acquirer-cards.csv"
    cards.write_text(cards_csv(ctx), encoding="utf-8", newline="")
    written.append(cards)
    index = out_dir / "drafts.json"
    doc = {"schema": DRAFTS_SCHEMA, "documents": manifest, "cards_csv": cards.name}
    index.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n")
    written.append(index)
    return written
