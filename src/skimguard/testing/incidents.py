"""Synthetic shop histories for incident scoping: the two founding incidents, and streams for benchmarks.

Every scenario is built from a designed population, so its expected counts are known by
construction (they are written down here, not computed by the code under test):

**Founding incident 1** (a bookstore; a vendor's form-assist script altered for 10 days): the
window is 19 July 2022 00:00:00 to 28 July 2022 23:59:59 JST, i.e. 2022-07-18T15:00:00Z to
2022-07-28T14:59:59Z (the start falls on the previous UTC day). 427 card payments by 424 people:
three paid twice with a different card (one of them the second time as a guest, with the same
e-mail in full-width capitals), so 427 cards. Card orders stamped exactly on both edges are in,
one second outside either edge are out; store-pickup, cash-on-delivery and bank-transfer orders
inside the window are out; card orders on another card page are out. Card references mix tokens,
masked number + expiry and last-four-only; two people share the last four ``4242``.

**Founding incident 2** (the shop's own checkout; a fake card form for 7 weeks, and the member
registration page altered for the last 4 of them): card orders, card-form posts that never became a
card order (abandoned, or paid cash on delivery / store pickup afterwards, some after card payment
was switched off while the fake form stayed up), card-page visits without a post, registrations.

:func:`order_stream`, :func:`session_stream` and :func:`access_log_lines` generate large histories
lazily for the benchmark (nothing is held in memory).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from skimguard.incident.model import (
    Edge,
    EvidenceKind,
    Incident,
    Observation,
    ObservationState,
    Variant,
    VariantKind,
    WindowEvidence,
)
from skimguard.incident.records import (
    Bounce,
    CheckoutSession,
    Contact,
    Order,
    PaymentMethod,
    Registration,
    SessionSource,
)
from skimguard.incident.window import local_day_span, parse_time

__all__ = [
    "F1_END",
    "F1_START",
    "F2_CARD_END",
    "F2_CARD_START",
    "F2_PAYMENT_STOPPED",
    "F2_REG_START",
    "Scenario",
    "access_log_lines",
    "founding_incident_1",
    "founding_incident_2",
    "order_stream",
    "session_stream",
]

TOKYO = "Asia/Tokyo"
PAYMENT_PAGE = "/shopping/payment"
ENTRY_PAGE = "/entry"

F1_START, F1_END = local_day_span(date(2022, 7, 19), date(2022, 7, 28), TOKYO)
F2_CARD_START = parse_time("2023-04-25 03:12:44", TOKYO)  # 2023-04-24T18:12:44Z
F2_CARD_END = F2_CARD_START + timedelta(weeks=7) - timedelta(seconds=1)  # 2023-06-13 03:12:43 JST
F2_REG_START = parse_time("2023-05-16 00:00:00", TOKYO)  # registration page altered: the last 4 weeks
F2_PAYMENT_STOPPED = parse_time("2023-06-01 18:00:00", TOKYO)  # card payment off; the fake form stays

_FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田"]
_GIVEN = ["太郎", "花子", "健", "陽菜", "翔", "美咲", "大輔", "結衣", "蓮", "葵", "悠真", "さくら"]
_TOWNS = ["千代田区神田", "新宿区西新宿", "大阪市北区梅田", "札幌市中央区", "福岡市博多区", "名古屋市中村区"]


@dataclass(frozen=True)
class Scenario:
    """A generated incident with its shop data and the counts it was designed to give."""

    incident: Incident
    observations: tuple[Observation, ...]
    evidence: tuple[WindowEvidence, ...]
    orders: tuple[Order, ...]
    sessions: tuple[CheckoutSession, ...] = ()
    registrations: tuple[Registration, ...] = ()
    bounces: tuple[Bounce, ...] = ()
    expected: dict[str, Any] = field(default_factory=dict)


def _jst(text: str) -> datetime:
    return parse_time(text, TOKYO)


def _contact(rng: random.Random, n: int, *, email: str | None, address: bool) -> Contact:
    return Contact(
        name=f"{_FAMILY[n % len(_FAMILY)]} {_GIVEN[(n // len(_FAMILY)) % len(_GIVEN)]}",
        email=email,
        postal_code=f"{100 + n % 800:03d}-{n % 10000:04d}" if address else None,
        address=f"東京都{_TOWNS[n % len(_TOWNS)]}{1 + n % 9}-{1 + n % 30}-{1 + n % 12}" if address else None,
        phone=f"090-{rng.randrange(10000):04d}-{n % 10000:04d}",
    )


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole second in [start, end]."""
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds()) + 1))


def _daily_looks(first: date, last: date, variant: str, state: ObservationState, page: str) -> list[Observation]:
    out = []
    day = first
    while day <= last:
        at = _jst(f"{day.isoformat()} 06:00:00")
        out.append(Observation(at=at, page=page, state=state, source=f"scan-{day:%Y%m%d}", variant=variant))
        day += timedelta(days=1)
    return out


# ---------------------------------------------------------------------------------------------
# Founding incident 1


def founding_incident_1(seed: int = 1) -> Scenario:
    """The bookstore (see the module docstring). Designed counts in ``expected``."""
    rng = random.Random(seed)
    variant = Variant(
        name="assist-script",
        pages=(PAYMENT_PAGE,),
        kind=VariantKind.CARD,
        fingerprints=("3f1c9a0e5b7d4c21",),
        rule_ids=("SG301",),
    )
    incident = Incident(
        id="INC-F1",
        site="bookstore",
        known_at=_jst("2022-09-20 10:30:00"),
        variants=(variant,),
        card_pages=(PAYMENT_PAGE,),
        title="Form-assist script altered at the vendor",
    )
    observations = (
        *_daily_looks(date(2022, 7, 10), date(2022, 7, 18), variant.name, ObservationState.CLEAN, PAYMENT_PAGE),
        *_daily_looks(date(2022, 7, 19), date(2022, 7, 28), variant.name, ObservationState.SKIMMER, PAYMENT_PAGE),
        *_daily_looks(date(2022, 7, 29), date(2022, 8, 5), variant.name, ObservationState.CLEAN, PAYMENT_PAGE),
    )
    evidence = (
        WindowEvidence(
            kind=EvidenceKind.ACCESS_LOG,
            at=F1_START,
            edge=Edge.START,
            source="vendor CDN log: first response with the altered assist.js",
        ),
        WindowEvidence(
            kind=EvidenceKind.USER,
            at=F1_END,
            edge=Edge.END,
            source="vendor report: original assist.js restored",
        ),
    )

    # --- the 424 people -------------------------------------------------------------------
    # 0..379 members (customer IDs), 380..421 guests with e-mail, 422..423 guests without.
    # Members 360..379 have no e-mail; 376..379 and guest 423 have no address either.
    # Members 10..18 have a bounced e-mail; 16..18 of them have no address.
    people: list[tuple[str | None, Contact]] = []
    bounces: list[Bounce] = []
    for n in range(424):
        member = n < 380
        has_email = n < 360 or 380 <= n < 422
        has_address = not (376 <= n <= 379 or n == 423 or 16 <= n <= 18)
        email = f"reader{n:04d}@example.jp" if has_email else None
        people.append((f"C{10000 + n}" if member else None, _contact(rng, n, email=email, address=has_address)))
        if 10 <= n <= 18:
            bounces.append(Bounce(email=f"reader{n:04d}@example.jp", reason="550 5.1.1 user unknown"))

    # --- the 427 card payments ------------------------------------------------------------
    # one per person, plus a second one for person 0 (member), 1 (member, then as a guest with
    # the same e-mail in full-width capitals) and 380 (guest, e-mail in other capitals).
    payers: list[tuple[int, str]] = [(n, "first") for n in range(424)] + [(0, "again"), (1, "guest"), (380, "again")]
    times = sorted(_between(rng, F1_START + timedelta(seconds=1), F1_END - timedelta(seconds=1)) for _ in range(425))
    times = [F1_START, *times, F1_END]  # exactly on both edges
    rng.shuffle(times)
    orders: list[Order] = []
    for k, ((n, how), at) in enumerate(zip(payers, times, strict=True)):
        customer_id, contact = people[n]
        if how == "guest":
            assert contact.email is not None
            contact = Contact(name=contact.name, email=contact.email.upper().translate(_FULLWIDTH))
            customer_id = None
        elif how == "again" and customer_id is None:
            assert contact.email is not None
            contact = Contact(name=contact.name, email=contact.email.capitalize(), address=contact.address)
        token = masked = expiry = None
        if k < 300:
            token = f"tok_{rng.getrandbits(48):012x}_{k}"
            if k < 150:  # a token and the masked number with expiry on the same order: one card
                masked, expiry = f"411111******{k:04d}", f"{1 + k % 12:02d}/{26 + k % 4}"
        elif k < 400:
            masked, expiry = f"535310******{k:04d}", f"{1 + k % 12:02d}/{27 + k % 3}"
        else:
            masked = "4242" if k in (401, 402) else f"{k:04d}"  # last four only: counted per person
        orders.append(
            Order(
                order_id=f"B{220000 + k}",
                placed_at=at,
                payment=PaymentMethod.CARD,
                customer_id=customer_id,
                contact=contact,
                card_masked=masked,
                card_expiry=expiry,
                card_token=token,
                page=PAYMENT_PAGE if k % 3 else None,  # no page: paid on the site's card page
                status="cancelled" if k % 97 == 5 else "shipped",
            )
        )

    # --- what must stay out ---------------------------------------------------------------
    extra = 0

    def other(at: datetime, payment: PaymentMethod, n: int, page: str | None = None) -> None:
        nonlocal extra
        customer_id, contact = people[n % 424]
        orders.append(
            Order(
                order_id=f"B{230000 + extra}",
                placed_at=at,
                payment=payment,
                customer_id=customer_id,
                contact=contact,
                card_token=f"tok_out_{extra}" if payment is PaymentMethod.CARD else None,
                page=page,
            )
        )
        extra += 1

    other(F1_START - timedelta(seconds=1), PaymentMethod.CARD, 5000)  # one second before the start
    other(F1_END + timedelta(seconds=1), PaymentMethod.CARD, 5001)  # one second after the end
    for i in range(58):
        other(_between(rng, F1_START, F1_END), PaymentMethod.STORE_PICKUP, 7 * i)
    for i in range(73):
        other(_between(rng, F1_START, F1_END), PaymentMethod.CASH_ON_DELIVERY, 11 * i + 3)
    for i in range(12):
        other(_between(rng, F1_START, F1_END), PaymentMethod.BANK_TRANSFER, 13 * i + 1)
    for i in range(5):  # card orders on the smartphone card page, which was not altered
        other(_between(rng, F1_START, F1_END), PaymentMethod.CARD, 17 * i, page="/smartphone/payment")
    before, after = F1_START - timedelta(days=45), F1_END + timedelta(days=45)
    for i in range(700):  # ordinary trade around the window, all methods
        at = _between(rng, before, F1_START - timedelta(seconds=2))
        other(at, rng.choice(list(PaymentMethod)), i)
        at = _between(rng, F1_END + timedelta(seconds=2), after)
        other(at, rng.choice(list(PaymentMethod)), i + 1)
    orders.sort(key=lambda o: (o.placed_at, o.order_id))

    expected: dict[str, Any] = {
        "window": (F1_START, F1_END),
        "people": 424,
        "cards": 427,
        "card_orders": 427,
        "people_by_basis": {"customer-id": 380, "email": 42, "order": 2},
        "cards_by_basis": {"masked": 27, "masked+expiry": 100, "token": 300},
        "non_card_orders_in_window": {"bank": 12, "cod": 73, "pickup": 58},
        "guests_merged_by_email": 1,
        "channels": {"email": 393, "postal": 23, "substitute": 8},
    }
    return Scenario(
        incident=incident,
        observations=observations,
        evidence=evidence,
        orders=tuple(orders),
        bounces=tuple(bounces),
        expected=expected,
    )


_FULLWIDTH = str.maketrans(
    {c: chr(ord(c) + 0xFEE0) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@."}
)


# ---------------------------------------------------------------------------------------------
# Founding incident 2


def founding_incident_2(seed: int = 2) -> Scenario:
    """The fake card form and the altered registration page (see the module docstring).

    Population (all counts are the design; ``expected`` repeats them):

    - 500 card orders in the card window by 480 members: 460 once, 12 twice with the same card,
      8 twice with two cards -> 488 cards. Card payment stops at ``F2_PAYMENT_STOPPED``: every card
      order is before it. 300 of them have a checkout session (linked by order ID).
    - 45 card-form posts that became no card order: 25 abandoned by members with no card order,
      5 abandoned by card-order members (no new person), 7 from the access log only (no person
      known: 7 session-only people), 6 followed by cash on delivery and 2 by store pickup (members,
      new people). 9 of the 25 and all 7 access-log ones come after card payment was stopped, the
      other card-form posts before it.
    - 11 members who reached the card page without posting (new people); one of them reached it
      twice in one session (one session).
    - 150 registrations through ``/entry`` in the registration window: 130 new members, 20 who
      also had a card order (their data: card and personal). 40 of them carry no page (the site's
      registration page). Out: 30 registrations before the registration window, 10 through
      ``/mypage/change``.
    - Out: card orders and sessions outside the card window, cash-on-delivery and pickup orders
      without a card post, a card post on another page.

    People: 480 + 25 + 7 + 6 + 2 + 11 + 130 = 661. Cards: 488.
    """
    rng = random.Random(seed)
    fake = Variant(
        name="fake-card-form",
        pages=(PAYMENT_PAGE,),
        kind=VariantKind.CARD,
        fingerprints=("a7e2c4f90b1d3e58",),
        rule_ids=("SG201",),
        fake_form=True,
    )
    entry = Variant(
        name="entry-skimmer",
        pages=(ENTRY_PAGE,),
        kind=VariantKind.PERSONAL,
        fingerprints=("c0d5e6f7a8b9c0d1",),
        rule_ids=("SG401",),
    )
    incident = Incident(
        id="INC-F2",
        site="shop",
        known_at=_jst("2023-06-12 16:40:00"),
        variants=(fake, entry),
        card_pages=(PAYMENT_PAGE,),
        registration_pages=(ENTRY_PAGE,),
        title="Fake card form and altered registration page",
    )
    # The scanner first looked at the payment page after the fake form was planted (no clean look
    # before: unbounded, narrowed by the access log); the entry page was watched all along.
    observations = (
        *_daily_looks(date(2023, 5, 2), date(2023, 6, 12), fake.name, ObservationState.SKIMMER, PAYMENT_PAGE),
        *_daily_looks(date(2023, 6, 14), date(2023, 6, 20), fake.name, ObservationState.CLEAN, PAYMENT_PAGE),
        *_daily_looks(date(2023, 5, 1), date(2023, 5, 15), entry.name, ObservationState.CLEAN, ENTRY_PAGE),
        *_daily_looks(date(2023, 5, 16), date(2023, 6, 12), entry.name, ObservationState.SKIMMER, ENTRY_PAGE),
        *_daily_looks(date(2023, 6, 14), date(2023, 6, 20), entry.name, ObservationState.CLEAN, ENTRY_PAGE),
    )
    evidence = (
        WindowEvidence(
            kind=EvidenceKind.ACCESS_LOG,
            at=F2_CARD_START,
            edge=Edge.START,
            source="access.log: first POST to /shopping/payment from the attacker's host",
            variant=fake.name,
        ),
        WindowEvidence(
            kind=EvidenceKind.PAYMENT_STOPPED,
            at=F2_PAYMENT_STOPPED,
            edge=Edge.END,
            source="card payment switched off at the payment provider",
        ),
        WindowEvidence(
            kind=EvidenceKind.USER,
            at=F2_CARD_END,
            edge=Edge.END,
            source="fake form removed (deploy log)",
            variant=fake.name,
        ),
        WindowEvidence(
            kind=EvidenceKind.FILE_MTIME,
            at=F2_REG_START,
            edge=Edge.START,
            source="web-root scan: templates/entry/index.twig mtime",
            variant=entry.name,
        ),
        WindowEvidence(
            kind=EvidenceKind.USER,
            at=F2_CARD_END,
            edge=Edge.END,
            source="registration template restored (deploy log)",
            variant=entry.name,
        ),
    )
    card_lo, card_hi = F2_CARD_START, F2_CARD_END
    paying_hi = F2_PAYMENT_STOPPED - timedelta(seconds=1)
    reg_lo, reg_hi = F2_REG_START, F2_CARD_END

    def member(n: int) -> tuple[str, Contact]:
        return f"M{50000 + n}", _contact(rng, n, email=f"member{n:05d}@example.com", address=True)

    orders: list[Order] = []
    sessions: list[CheckoutSession] = []
    registrations: list[Registration] = []
    oid = 0

    def order(n: int, at: datetime, payment: PaymentMethod, card: tuple[str | None, str | None, str | None]) -> str:
        nonlocal oid
        cid, contact = member(n)
        token, masked, expiry = card
        ref = f"EC{700000 + oid}"
        oid += 1
        orders.append(
            Order(
                order_id=ref,
                placed_at=at,
                payment=payment,
                customer_id=cid,
                contact=contact,
                card_token=token,
                card_masked=masked,
                card_expiry=expiry,
                page=PAYMENT_PAGE,
            )
        )
        return ref

    sid = 0

    def session(
        n: int | None, at: datetime, *, posted: bool, order_id: str | None = None, path: str = PAYMENT_PAGE
    ) -> None:
        nonlocal sid
        if n is None:  # from the access log: a client, no person
            sessions.append(
                CheckoutSession(
                    session_id=f"log-{sid:05d}",
                    at=at,
                    path=path,
                    posted=posted,
                    source=SessionSource.ACCESS_LOG,
                    client=f"198.51.100.{sid % 250}",
                )
            )
        else:
            cid, contact = member(n)
            sessions.append(
                CheckoutSession(
                    session_id=f"q-{sid:06d}",
                    at=at,
                    path=path,
                    posted=posted,
                    source=SessionSource.DATABASE,
                    customer_id=cid,
                    contact=contact,
                    order_id=order_id,
                )
            )
        sid += 1

    def card(n: int, copy: int) -> tuple[str | None, str | None, str | None]:
        if n % 2:
            return (f"tok_{n}_{copy}", None, None)
        return (None, f"490222******{n % 10000:04d}", f"{1 + copy:02d}/{28 + n % 3}")

    # members 0..479: card orders (460 once; 460..471 twice, same card; 472..479 twice, two cards)
    linked = 0
    for n in range(480):
        copies = [0] if n < 460 else ([0, 0] if n < 472 else [0, 1])
        for c in copies:
            ref = order(n, _between(rng, card_lo, paying_hi), PaymentMethod.CARD, card(n, c))
            if linked < 300:
                at = max(card_lo, orders[-1].placed_at - timedelta(seconds=rng.randrange(30, 600)))
                session(n, at, posted=True, order_id=ref)
                linked += 1
    # 25 abandoned posts by members 1000..1024 (9 of them after card payment was stopped)
    for i in range(25):
        at = _between(rng, F2_PAYMENT_STOPPED, card_hi) if i < 9 else _between(rng, card_lo, paying_hi)
        session(1000 + i, at, posted=True)
    # 5 abandoned posts by card-order members 0..4
    for n in range(5):
        session(n, _between(rng, card_lo, paying_hi), posted=True)
    # 7 posts seen only in the access log, after card payment was stopped
    for _ in range(7):
        session(None, _between(rng, F2_PAYMENT_STOPPED, card_hi), posted=True)
    # 6 posts then cash on delivery, 2 posts then store pickup (members 1100..1107)
    for i in range(8):
        method = PaymentMethod.CASH_ON_DELIVERY if i < 6 else PaymentMethod.STORE_PICKUP
        at = _between(rng, card_lo, paying_hi - timedelta(hours=1))
        ref = order(1100 + i, at + timedelta(minutes=5), method, (None, None, None))
        session(1100 + i, at, posted=True, order_id=ref)
    # 11 members reached the card page and left (member 1200 twice in the same session)
    for i in range(11):
        session(1200 + i, _between(rng, card_lo, card_hi), posted=False)
    sessions.append(
        CheckoutSession(
            session_id=f"q-{sid - 11:06d}",
            at=sessions[-11].at + timedelta(minutes=2),
            path=PAYMENT_PAGE + "?retry=1",
            posted=False,
            source=SessionSource.DATABASE,
            customer_id=sessions[-11].customer_id,
            contact=sessions[-11].contact,
        )
    )
    # registrations: 130 new members 2000..2129 and 20 card-order members 100..119
    for i, n in enumerate([*range(2000, 2130), *range(100, 120)]):
        cid, contact = member(n)
        registrations.append(
            Registration(
                customer_id=cid, at=_between(rng, reg_lo, reg_hi), contact=contact, page=None if i < 40 else ENTRY_PAGE
            )
        )
    # --- what must stay out ---------------------------------------------------------------
    for i in range(30):  # registrations through /entry before it was altered
        cid, contact = member(3000 + i)
        registrations.append(
            Registration(
                customer_id=cid,
                at=_between(rng, card_lo, reg_lo - timedelta(seconds=1)),
                contact=contact,
                page=ENTRY_PAGE,
            )
        )
    for i in range(10):  # profile changes on a page that was not altered
        cid, contact = member(3100 + i)
        registrations.append(
            Registration(customer_id=cid, at=_between(rng, reg_lo, reg_hi), contact=contact, page="/mypage/change")
        )
    for i in range(40):  # cash on delivery and pickup without any card post
        method = PaymentMethod.CASH_ON_DELIVERY if i % 2 else PaymentMethod.STORE_PICKUP
        order(3200 + i, _between(rng, card_lo, card_hi), method, (None, None, None))
    for i in range(200):  # card trade before and after
        early = _between(rng, card_lo - timedelta(days=60), card_lo - timedelta(seconds=1))
        late = _between(rng, card_hi + timedelta(seconds=1), card_hi + timedelta(days=30))
        order(4000 + i, early, PaymentMethod.CARD, card(4000 + i, 0))
        order(4000 + i, late, PaymentMethod.CARD, card(4000 + i, 1))
    session(4500, card_lo - timedelta(seconds=1), posted=True)  # one second too early
    session(4501, card_hi + timedelta(seconds=1), posted=True)  # one second too late
    session(4502, _between(rng, card_lo, card_hi), posted=True, path="/mypage/card")  # another page
    orders.sort(key=lambda o: (o.placed_at, o.order_id))
    sessions.sort(key=lambda s: (s.at, s.session_id))
    registrations.sort(key=lambda r: (r.at, r.customer_id))

    expected: dict[str, Any] = {
        "card_window": (F2_CARD_START, F2_CARD_END),
        "registration_window": (F2_REG_START, F2_CARD_END),
        "people": 661,
        "cards": 488,
        "card_orders": 500,
        "sessions_card_entered_no_card_order": 45,
        "sessions_card_page_reached": 11,
        "sessions_linked_to_card_orders": 300,
        "registrations": 150,
        "people_by_basis": {"customer-id": 654, "session": 7},
        "cards_by_basis": {"masked+expiry": 244, "token": 244},
        "non_card_orders_with_card_entered": {"cod": 6, "pickup": 2},
        "non_card_orders_in_window": {"cod": 26, "pickup": 22},
        "card_and_personal_people": 20,
    }
    return Scenario(
        incident=incident,
        observations=observations,
        evidence=evidence,
        orders=tuple(orders),
        sessions=tuple(sessions),
        registrations=tuple(registrations),
        expected=expected,
    )


# ---------------------------------------------------------------------------------------------
# Large streams for the benchmark


def order_stream(
    count: int,
    *,
    start: datetime,
    days: int = 365,
    customers: int = 200_000,
    seed: int = 7,
    page: str | None = None,
) -> Iterator[Order]:
    """``count`` orders spread over ``days`` from ``start`` (in time order), lazily: 70 % card,
    15 % cash on delivery, 10 % store pickup, 5 % bank transfer; 90 % members of a pool of
    ``customers``, the rest guests; cards by token (60 %) or masked number + expiry. Identifiers
    and contacts come from pools built once, so memory stays flat and the cost per order is the
    order itself (one random draw, one datetime, one record)."""
    rng = random.Random(seed)
    bits = rng.getrandbits
    contacts = [_contact(rng, n, email=f"c{n}@example.jp", address=True) for n in range(512)]
    cids = [f"C{n}" for n in range(customers)]
    tokens = [f"tok{n}" if n % 5 < 3 else None for n in range(customers)]
    masks = [f"411111******{n % 10000:04d}" for n in range(10_000)]
    expiries = [f"{1 + m % 12:02d}/{27 + m % 4}" for m in range(48)]
    step = days * 86400 / max(count, 1)
    base = start.astimezone(UTC)
    second = timedelta(seconds=1)
    card, cod, pickup, bank = (
        PaymentMethod.CARD,
        PaymentMethod.CASH_ON_DELIVERY,
        PaymentMethod.STORE_PICKUP,
        PaymentMethod.BANK_TRANSFER,
    )
    for i in range(count):
        r = bits(40)
        pick = r & 1023  # payment: 0..716 card (70 %), ..870 cod, ..972 pickup, rest bank
        payment = card if pick < 717 else cod if pick < 870 else pickup if pick < 972 else bank
        person = (r >> 10) % customers
        token = masked = expiry = None
        if payment is card:
            token = tokens[person]
            if token is None:
                masked, expiry = masks[person % 10_000], expiries[person % 48]
        yield Order(
            f"O{i}",
            base + second * int(i * step),
            payment,
            cids[person] if (r >> 36) != 0 else None,  # 1 in 16 is a guest
            contacts[person & 511],
            masked,
            expiry,
            token,
            page,
        )


def session_stream(
    count: int,
    *,
    start: datetime,
    days: int = 365,
    seed: int = 11,
    pages: tuple[str, ...] = (PAYMENT_PAGE, "/cart", "/shopping/confirm", "/products/list"),
) -> Iterator[CheckoutSession]:
    """``count`` access-log-like sessions over ``days`` (in time order), lazily: a quarter on the
    card page, a third of those posting; client and session ID only, as an access log gives them
    (a visit is four consecutive requests from one client)."""
    rng = random.Random(seed)
    bits = rng.getrandbits
    clients = [f"203.0.{n >> 8}.{n & 255}" for n in range(65_536)]
    step = days * 86400 / max(count, 1)
    base = start.astimezone(UTC)
    second = timedelta(seconds=1)
    log = SessionSource.ACCESS_LOG
    card_page = pages[0]
    others = pages[1:]
    n_others = len(others)
    client = clients[0]
    for i in range(count):
        r = bits(32)
        if i & 3 == 0:
            client = clients[r >> 16]
        pick = r & 1023
        path = card_page if pick < 256 else others[(r >> 10) % n_others]
        yield CheckoutSession(
            f"{client}#{i >> 2}",
            base + second * int(i * step),
            path,
            pick < 87,  # a third of the card-page visits post the form
            log,
            client,
        )


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def access_log_lines(
    count: int,
    *,
    start: datetime,
    days: int = 365,
    seed: int = 13,
    zone_offset: str = "+0900",
) -> Iterator[str]:
    """``count`` combined-log-format lines over ``days`` (in time order), lazily: static assets,
    catalogue pages, the cart, and the card page (``GET``, a third ``POST``), stamped in the shop's
    local offset as Apache and nginx write them."""
    rng = random.Random(seed)
    rand = rng.random
    randrange = rng.randrange
    step = days * 86400 / max(count, 1)
    hours = int(zone_offset[1:3]) * (1 if zone_offset[0] == "+" else -1)
    base = start.astimezone(UTC) + timedelta(hours=hours)
    assets = ("/js/app.js", "/css/site.css", "/img/logo.png", "/products/list?page=2", "/cart", "/shopping/confirm")
    last_second = -1
    stamp = ""
    for i in range(count):
        offset = int(i * step)
        if offset != last_second:
            t = base + timedelta(seconds=offset)
            stamp = f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} {zone_offset}"
            last_second = offset
        r = rand()
        if r < 0.25:
            method = "POST" if rand() < 0.34 else "GET"
            path = PAYMENT_PAGE
            status = 302 if method == "POST" else 200
        else:
            method, path, status = "GET", assets[randrange(len(assets))], 200
        client = f"203.0.{randrange(256)}.{randrange(256)}"
        size = randrange(200, 9000)
        yield f'{client} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "https://shop.test/cart" "{_UA}"'
