"""The vocabulary of an incident: what was planted where, what we saw when, and what we concluded.

An :class:`Incident` groups one or more skimmer :class:`Variant` s (the vendor script that copied
card data on the payment page, the fake card form, the altered registration page). Each variant
touched some pages; for every (variant, page) the scanner's history gives :class:`Observation` s
(clean or skimmer, with the scan that saw it), and people add :class:`WindowEvidence` (a file's
modification time, the attacker's first request in an access log, a time they know). From those,
:mod:`skimguard.incident.window` computes an :class:`ExposureWindow`, and
:mod:`skimguard.incident.scope` the :class:`AffectedSet`: who, which cards, on what identifiers.

Everything is frozen, plain data, with times as aware UTC datetimes (the shop's zone is only a way
of showing them). Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skimguard.errors import SkimguardError
from skimguard.incident.records import Contact

__all__ = [
    "DEFAULT_ZONE",
    "AffectedCard",
    "AffectedPerson",
    "AffectedSet",
    "CardBasis",
    "DataKind",
    "Edge",
    "EvidenceKind",
    "ExposureWindow",
    "Incident",
    "IncidentError",
    "Observation",
    "ObservationState",
    "PersonBasis",
    "Reason",
    "ScopeCounts",
    "Variant",
    "VariantKind",
    "WindowBasis",
    "WindowEvidence",
    "WindowNote",
    "normalize_path",
    "require_utc",
]

DEFAULT_ZONE = "Asia/Tokyo"


class IncidentError(SkimguardError):
    """Bad incident input: a naive time, an unknown zone, a variant without pages."""

    hint = "times need a zone (e.g. 2022-07-19T00:00:00+09:00); see 'skimguard incident --help'"


def require_utc(value: datetime, what: str) -> datetime:
    """``value`` as UTC; refuses naive datetimes (a naive time is a guess about the zone, and a
    nine-hour guess moves the window edge across a JST day)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise IncidentError(f"{what}: time {value.isoformat()} has no zone")
    return value.astimezone(UTC)


def normalize_path(value: str) -> str:
    """The path part of a page reference, as scoping compares it: a full URL loses its scheme, host,
    query and fragment; a trailing slash is dropped (except for ``/``). Case is kept (paths are
    case-sensitive on most shops). ``/shopping/payment?x=1`` and ``https://shop.test/shopping/payment/``
    are the same page."""
    text = value.strip()
    if "://" in text:
        text = urlsplit(text).path
    for sep in ("?", "#"):
        cut = text.find(sep)
        if cut >= 0:
            text = text[:cut]
    if not text.startswith("/"):
        text = "/" + text
    while len(text) > 1 and text.endswith("/"):
        text = text[:-1]
    return text


class VariantKind(enum.StrEnum):
    """What a skimmer variant takes: card data, personal data (a registration or address page), or both."""

    CARD = "card"
    PERSONAL = "personal"
    BOTH = "both"

    @property
    def takes_card(self) -> bool:
        return self is not VariantKind.PERSONAL

    @property
    def takes_personal(self) -> bool:
        return self is not VariantKind.CARD


@dataclass(frozen=True)
class Variant:
    """One skimmer variant of an incident.

    ``fake_form`` marks a skimmer that shows its own card form (founding incident 2): turning card
    payment off at the payment provider does not stop shoppers typing into it, so an end edge of
    kind ``payment-stopped`` does not end its window. A script that reads the real card form
    (founding incident 1) is stopped by it.
    """

    name: str
    pages: tuple[str, ...]  # URL paths it was seen on, e.g. ("/shopping/payment",)
    kind: VariantKind = VariantKind.CARD
    fingerprints: tuple[str, ...] = ()  # the findings that show it
    rule_ids: tuple[str, ...] = ()
    fake_form: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise IncidentError("a skimmer variant needs a name")
        if not self.pages:
            raise IncidentError(f"variant {self.name!r} has no affected page")
        object.__setattr__(self, "pages", tuple(dict.fromkeys(normalize_path(p) for p in self.pages)))


@dataclass(frozen=True)
class Incident:
    """One breach being scoped. ``known_at`` (when the shop learned of it) starts the regulatory
    clocks; ``zone`` is only how times are shown and how calendar days are counted.

    ``card_pages`` are the site's card-entry paths: an imported order that does not say on which
    page the card was entered is taken to have been paid there. Empty means "the pages of the card
    variants" (every order then counts as paid on an affected page, the conservative reading).
    ``registration_pages`` does the same for registrations without a page.
    """

    id: str
    site: str
    known_at: datetime
    variants: tuple[Variant, ...]
    zone: str = DEFAULT_ZONE
    card_pages: tuple[str, ...] = ()
    registration_pages: tuple[str, ...] = ()
    title: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "known_at", require_utc(self.known_at, f"incident {self.id} known_at"))
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise IncidentError(f"incident {self.id}: unknown time zone {self.zone!r}") from exc
        object.__setattr__(self, "card_pages", tuple(normalize_path(p) for p in self.card_pages))
        object.__setattr__(self, "registration_pages", tuple(normalize_path(p) for p in self.registration_pages))
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise IncidentError(f"incident {self.id}: variant names must be unique, got {names}")

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise IncidentError(f"incident {self.id} has no variant {name!r}")

    @property
    def default_card_pages(self) -> tuple[str, ...]:
        if self.card_pages:
            return self.card_pages
        return tuple(dict.fromkeys(p for v in self.variants if v.kind.takes_card for p in v.pages))

    @property
    def default_registration_pages(self) -> tuple[str, ...]:
        if self.registration_pages:
            return self.registration_pages
        return tuple(dict.fromkeys(p for v in self.variants if v.kind.takes_personal for p in v.pages))


class ObservationState(enum.StrEnum):
    CLEAN = "clean"
    SKIMMER = "skimmer"


@dataclass(frozen=True)
class Observation:
    """One look at a page: a scan that visited ``page`` at ``at`` and saw it clean or saw the skimmer.

    ``variant`` names the variant seen (or, for a clean look, the variant the page was clean of);
    None means every variant of the incident on that page. A look that saw variant A but not B says
    nothing about B unless it is recorded as clean of B: a scan that misses a skimmer is not proof
    the skimmer was gone.
    """

    at: datetime
    page: str
    state: ObservationState
    source: str  # e.g. the scan ID
    variant: str | None = None


class Edge(enum.StrEnum):
    START = "start"
    END = "end"


class EvidenceKind(enum.StrEnum):
    """Where a refinement comes from. ``payment-stopped`` is an end given as "card payment was
    switched off at that time": it ends a variant that reads the real card form, not a fake form."""

    SCAN = "scan"
    FILE_MTIME = "file-mtime"
    ACCESS_LOG = "access-log"
    USER = "user"
    PAYMENT_STOPPED = "payment-stopped"


@dataclass(frozen=True)
class WindowEvidence:
    """A refinement of one edge of an exposure window, with its source ("web-root scan 2022-08-02,
    shop/js/assist.js mtime", "access.log line 48213: first request from 203.0.113.9", "vendor's
    mail of 2022-07-29").

    ``variant`` / ``page`` of None apply to every variant / page of the incident. A refinement may
    only narrow the window inside the bounds the observations allow; ``forced`` lets a human move
    an edge beyond them (the override is kept in the window's notes).
    """

    kind: EvidenceKind
    at: datetime
    edge: Edge
    source: str
    variant: str | None = None
    page: str | None = None
    forced: bool = False


class WindowBasis(enum.StrEnum):
    """What an edge of a window rests on."""

    LAST_CLEAN = "last-clean-observation"  # start: the last look that showed the page clean
    EARLIEST_DATA = "earliest-data"  # start: no clean look before the skimmer (unbounded)
    FIRST_CLEAN = "first-clean-observation"  # end: the first clean look after the skimmer
    ONGOING = "ongoing"  # end: no clean look yet
    EVIDENCE = "evidence"  # either: a refinement (see ExposureWindow.start_evidence / end_evidence)
    FORCED = "forced"  # either: a refinement a human forced beyond the observations


class WindowNote(enum.StrEnum):
    """Why a piece of evidence was or was not used, for the record."""

    USED = "used"
    OVERRIDDEN = "overridden"  # another refinement of the same edge won
    OUT_OF_BOUNDS = "out-of-bounds"  # would move the edge past what the observations allow
    FORCED = "forced"  # beyond the observations, applied because a human forced it
    NOT_AN_END = "not-an-end"  # payment stopped, but the variant is a fake form (or takes no card)
    NO_EPISODE = "no-episode"  # the variant was never seen on that page and no start was given
    WRONG_EDGE = "wrong-edge"  # payment-stopped given as a start


@dataclass(frozen=True)
class ExposureWindow:
    """When shoppers on ``page`` were exposed to ``variant``: ``start`` to ``end`` inclusive, whole
    seconds (shop databases keep order times to the second, so an order stamped with the edge's
    second is in). ``start`` None: since before the earliest data we have; ``end`` None: ongoing.

    ``earliest_start`` .. ``latest_start`` and ``earliest_end`` .. ``latest_end`` are the bounds the
    observations allow (None: unbounded); ``notes`` says what became of each piece of evidence.
    """

    variant: str
    page: str
    start: datetime | None
    end: datetime | None
    start_basis: WindowBasis
    end_basis: WindowBasis
    first_skimmer: datetime | None  # the first look that saw it in this episode (None: evidence only)
    last_skimmer: datetime | None  # the last look that saw it in this episode
    earliest_start: datetime | None  # the last clean look before, if any
    latest_end: datetime | None  # the first clean look after, if any
    start_source: str = ""
    end_source: str = ""
    evidence: tuple[tuple[WindowEvidence, WindowNote], ...] = ()
    episode: int = 0  # 0 for the first time the skimmer appeared on the page, 1 after a reinfection, ...

    @property
    def unbounded_start(self) -> bool:
        return self.start_basis is WindowBasis.EARLIEST_DATA

    @property
    def ongoing(self) -> bool:
        return self.end is None

    @property
    def forced(self) -> bool:
        return any(note is WindowNote.FORCED for _, note in self.evidence)

    def contains(self, at: datetime) -> bool:
        at = require_utc(at, "time")
        if self.start is not None and at < self.start:
            return False
        return self.end is None or at <= self.end


class DataKind(enum.StrEnum):
    CARD = "card"
    PERSONAL = "personal"


class Reason(enum.StrEnum):
    """How a person came to be affected."""

    CARD_ORDER = "card-order"  # paid by card (or an unknown method) on an affected page in the window
    CARD_ENTERED_NO_CARD_ORDER = "card-entered-no-card-order"  # posted the card form, no card order followed
    CARD_PAGE_REACHED = "card-page-reached"  # reached the card page, no post and no card order seen
    REGISTRATION = "registration"  # registered through an affected registration page


class PersonBasis(enum.StrEnum):
    """What a person is counted by, best first."""

    CUSTOMER_ID = "customer-id"
    EMAIL = "email"
    SESSION = "session"  # fallback: one checkout session (access logs give no person)
    ORDER = "order"  # fallback: one guest order without an e-mail


class CardBasis(enum.StrEnum):
    """What a card is counted by, best first."""

    TOKEN = "token"  # the payment provider's token
    MASKED_EXPIRY = "masked+expiry"
    MASKED = "masked"  # masked number alone: two cards with the same first six/last four merge
    NONE = "none"  # no reference at all: each payment counts as its own card (an upper bound)


@dataclass(frozen=True)
class AffectedCard:
    key: str  # the counting key (never shown in public documents)
    basis: CardBasis
    masked: str | None
    expiry: str | None
    payments: int  # card orders in the windows made with it
    people: tuple[str, ...]  # person keys
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class AffectedPerson:
    key: str  # e.g. "customer:1234", "email:taro@example.jp", "session:ab12", "order:A-77"
    basis: PersonBasis
    contact: Contact  # the most complete contact seen for this person
    data: frozenset[DataKind]
    reasons: frozenset[Reason]
    customer_id: str | None
    cards: tuple[str, ...]  # card keys
    orders: tuple[str, ...]  # affected order IDs (bounded)
    sessions: int  # checkout sessions in the windows counted for this person
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class ScopeCounts:
    """The numbers a report needs, and what they rest on."""

    people: int
    cards: int
    card_orders: int  # card (or unknown-method) orders on an affected page in a window
    unknown_method_orders: int  # of card_orders: payment method unknown, counted as card
    sessions_card_entered_no_card_order: int  # the fake-form case: posted the card form, no card order
    sessions_card_page_reached: int  # reached the card page, no post, no card order
    sessions_linked_to_card_orders: int  # in-window sessions that became an affected card order
    registrations: int
    non_card_orders_in_window: Mapping[str, int]  # by payment method: seen, not affected (no card entered)
    non_card_orders_with_card_entered: Mapping[str, int]  # by payment method: a card was entered first
    people_by_basis: Mapping[str, int]
    cards_by_basis: Mapping[str, int]
    orders_without_person_id: int  # affected orders with neither customer ID nor usable e-mail
    orders_without_card_ref: int  # affected card orders with no token and no masked number
    guests_merged_by_email: int  # e-mail-only people merged into the one customer ID with that e-mail
    seen: Mapping[str, int] = field(default_factory=dict)  # records read per stream; "duplicate orders" skipped


@dataclass(frozen=True)
class AffectedSet:
    """The answer to "who": people and cards, counted separately, with what the counts rest on."""

    incident: str
    windows: tuple[ExposureWindow, ...]
    people: tuple[AffectedPerson, ...]
    cards: tuple[AffectedCard, ...]
    counts: ScopeCounts
    store_pickup_affected: bool  # a pickup order whose shopper entered a card first
    cash_on_delivery_affected: bool  # a COD order whose shopper entered a card first

    def person(self, key: str) -> AffectedPerson | None:
        for p in self.people:
            if p.key == key:
                return p
        return None
