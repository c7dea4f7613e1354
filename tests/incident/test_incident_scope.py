"""Scoping: the founding incidents' exact counts, and the rules for people, cards, pages and sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from skimguard.incident.model import (
    AffectedSet,
    CardBasis,
    DataKind,
    ExposureWindow,
    Incident,
    IncidentError,
    PersonBasis,
    Reason,
    Variant,
    VariantKind,
    WindowBasis,
)
from skimguard.incident.records import (
    CheckoutSession,
    Contact,
    Order,
    PaymentMethod,
    Registration,
    SessionSource,
)
from skimguard.incident.scope import Scoper, scope
from skimguard.incident.window import parse_time
from skimguard.testing.incidents import F1_END, F1_START, F2_PAYMENT_STOPPED, Scenario, order_stream

PAGE = "/shopping/payment"
T0 = datetime(2024, 5, 1, tzinfo=UTC)
T1 = datetime(2024, 5, 31, 23, 59, 59, tzinfo=UTC)
CARD, COD, PICKUP = PaymentMethod.CARD, PaymentMethod.CASH_ON_DELIVERY, PaymentMethod.STORE_PICKUP


def window(variant: str, page: str = PAGE, start: datetime | None = T0, end: datetime | None = T1) -> ExposureWindow:
    return ExposureWindow(
        variant=variant,
        page=page,
        start=start,
        end=end,
        start_basis=WindowBasis.EVIDENCE,
        end_basis=WindowBasis.EVIDENCE,
        first_skimmer=None,
        last_skimmer=None,
        earliest_start=None,
        latest_end=None,
    )


SKIM = Variant(name="skim", pages=(PAGE,))
INCIDENT = Incident(id="INC", site="shop", known_at=T1, variants=(SKIM,), card_pages=(PAGE,))
WINDOWS = (window("skim"),)
MID = T0 + timedelta(days=10)


def order(
    oid: str,
    *,
    at: datetime = MID,
    payment: PaymentMethod = CARD,
    cid: str | None = None,
    email: str | None = None,
    **kw: object,
) -> Order:
    return Order(order_id=oid, placed_at=at, payment=payment, customer_id=cid, contact=Contact(email=email), **kw)  # type: ignore[arg-type]


def session(sid: str, *, at: datetime = MID, posted: bool = True, path: str = PAGE, **kw: object) -> CheckoutSession:
    return CheckoutSession(session_id=sid, at=at, path=path, posted=posted, source=SessionSource.DATABASE, **kw)  # type: ignore[arg-type]


# --- founding incidents -----------------------------------------------------------------------


def test_founding_1_gives_424_people_and_427_cards(f1_scenario: Scenario, f1_affected: AffectedSet) -> None:
    c, e = f1_affected.counts, f1_scenario.expected
    assert (c.people, c.cards, c.card_orders) == (424, 427, 427)
    assert (len(f1_affected.people), len(f1_affected.cards)) == (424, 427)
    assert dict(c.people_by_basis) == e["people_by_basis"] == {"customer-id": 380, "email": 42, "order": 2}
    assert dict(c.cards_by_basis) == e["cards_by_basis"] == {"masked": 27, "masked+expiry": 100, "token": 300}
    assert dict(c.non_card_orders_in_window) == {"bank": 12, "cod": 73, "pickup": 58}
    assert dict(c.non_card_orders_with_card_entered) == {}
    assert not f1_affected.store_pickup_affected and not f1_affected.cash_on_delivery_affected
    assert (c.guests_merged_by_email, c.orders_without_person_id, c.orders_without_card_ref) == (1, 2, 0)
    assert c.sessions_card_entered_no_card_order == c.sessions_card_page_reached == c.registrations == 0
    assert c.seen == {"orders": len(f1_scenario.orders), "registrations": 0, "sessions": 0}
    assert sum(card.payments for card in f1_affected.cards) == 427


def test_founding_1_edges_to_the_second(f1_scenario: Scenario, f1_affected: AffectedSet) -> None:
    by_time: dict[datetime, list[str]] = {}
    for o in f1_scenario.orders:
        by_time.setdefault(o.placed_at, []).append(o.order_id)
    affected_orders = {oid for p in f1_affected.people for oid in p.orders}
    assert len(affected_orders) == 427
    on_start, on_end = by_time[F1_START], by_time[F1_END]
    assert set(on_start) <= affected_orders and set(on_end) <= affected_orders
    just_before = by_time[F1_START - timedelta(seconds=1)]
    just_after = by_time[F1_END + timedelta(seconds=1)]
    assert just_before and just_after
    assert not set(just_before) & affected_orders and not set(just_after) & affected_orders
    assert min(p.first_at for p in f1_affected.people) == F1_START
    assert max(p.last_at for p in f1_affected.people) == F1_END


def test_founding_1_repeat_payers(f1_affected: AffectedSet) -> None:
    twice = sorted((p.key, len(p.orders), len(p.cards)) for p in f1_affected.people if len(p.orders) > 1)
    assert twice == [("customer:C10000", 2, 2), ("customer:C10001", 2, 2), ("email:reader0380@example.jp", 2, 2)]
    # two people whose cards are known only as "4242" are two cards, not one
    shared = [c for c in f1_affected.cards if c.masked == "4242"]
    assert len(shared) == 2 and all(c.basis is CardBasis.MASKED and len(c.people) == 1 for c in shared)
    guests = [p for p in f1_affected.people if p.basis is PersonBasis.ORDER]
    assert [p.key.startswith("order:B") for p in guests] == [True, True]


def test_founding_2_counts(f2_scenario: Scenario, f2_affected: AffectedSet) -> None:
    c, e = f2_affected.counts, f2_scenario.expected
    assert (c.people, c.cards, c.card_orders) == (661, 488, 500)
    assert c.sessions_card_entered_no_card_order == e["sessions_card_entered_no_card_order"] == 45
    assert c.sessions_card_page_reached == 11
    assert c.sessions_linked_to_card_orders == 300
    assert c.registrations == 150
    assert dict(c.people_by_basis) == {"customer-id": 654, "session": 7}
    assert dict(c.cards_by_basis) == {"masked+expiry": 244, "token": 244}
    assert dict(c.non_card_orders_with_card_entered) == {"cod": 6, "pickup": 2}
    assert dict(c.non_card_orders_in_window) == {"cod": 26, "pickup": 22}
    assert f2_affected.store_pickup_affected and f2_affected.cash_on_delivery_affected
    both = [p for p in f2_affected.people if p.data == {DataKind.CARD, DataKind.PERSONAL}]
    assert len(both) == e["card_and_personal_people"] == 20
    only_personal = [p for p in f2_affected.people if p.data == {DataKind.PERSONAL}]
    assert len(only_personal) == 130


def test_founding_2_fake_form_took_cards_after_card_payment_stopped(f2_affected: AffectedSet) -> None:
    late = [
        p
        for p in f2_affected.people
        if Reason.CARD_ENTERED_NO_CARD_ORDER in p.reasons and p.last_at >= F2_PAYMENT_STOPPED
    ]
    assert len(late) == 16  # 9 members and 7 access-log visitors posted the fake form after the stop
    assert sum(p.basis is PersonBasis.SESSION for p in late) == 7


def test_founding_2_reasons(f2_affected: AffectedSet) -> None:
    reasons = {frozenset(r.value for r in p.reasons) for p in f2_affected.people}
    assert frozenset({"card-page-reached"}) in reasons
    cod = [p for p in f2_affected.people if p.key in {f"customer:M{51100 + i}" for i in range(8)}]
    assert len(cod) == 8 and all(p.reasons == {Reason.CARD_ENTERED_NO_CARD_ORDER} for p in cod)
    paid_and_abandoned = [
        p for p in f2_affected.people if p.reasons == {Reason.CARD_ORDER, Reason.CARD_ENTERED_NO_CARD_ORDER}
    ]
    assert len(paid_and_abandoned) == 5


# --- people -------------------------------------------------------------------------------------


def test_people_by_customer_id_then_email_never_merging_two_customers() -> None:
    orders = [
        order("1", cid="A", email="Same@Example.jp", card_token="t1"),
        order("2", cid="B", email="same@example.jp", card_token="t2"),  # two customers, one e-mail
        order("3", email="ＳＡＭＥ＠example.jp", card_token="t3"),  # a guest with it: ambiguous, stays apart
        order("4", cid="C", email="c@example.jp", card_token="t4"),
        order("5", email=" C@EXAMPLE.JP ", card_token="t5"),  # a guest with C's e-mail: C
        order("6", card_token="t6"),  # nothing: the order itself
    ]
    a = scope(INCIDENT, WINDOWS, orders=orders)
    assert [p.key for p in a.people] == [
        "customer:A",
        "customer:B",
        "customer:C",
        "email:same@example.jp",
        "order:6",
    ]
    assert dict(a.counts.people_by_basis) == {"customer-id": 3, "email": 1, "order": 1}
    assert (a.counts.guests_merged_by_email, a.counts.orders_without_person_id) == (1, 1)
    c = a.person("customer:C")
    assert c is not None and c.orders == ("4", "5") and c.customer_id == "C"


def test_most_complete_contact_is_kept() -> None:
    full = Contact(name="山田 太郎", email="t@example.jp", postal_code="100-0001", address="東京都千代田区1-1")
    orders = [
        order("1", cid="A", email="t@example.jp", card_token="x"),
        Order("2", MID + timedelta(hours=1), CARD, "A", full, card_token="x"),
        order("3", at=MID + timedelta(hours=2), cid="A", email="t@example.jp", card_token="x"),
    ]
    a = scope(INCIDENT, WINDOWS, orders=orders)
    assert a.people[0].contact == full
    assert (a.counts.people, a.counts.cards, a.cards[0].payments) == (1, 1, 3)


# --- cards ----------------------------------------------------------------------------------------


def test_card_keys_token_masked_expiry_weak_and_none() -> None:
    orders = [
        order("1", cid="A", card_token="tokA", card_masked="411111******1111", card_expiry="12/27"),
        order("2", cid="A", card_masked="411111******1111", card_expiry="12/27"),  # same card, no token here
        order("3", cid="B", card_masked="411111******1111", card_expiry="11/27"),  # other expiry: other card
        order("4", cid="C", card_masked="****9999"),  # last four only: per person
        order("5", cid="D", card_masked="****9999"),
        order("6", cid="D", card_masked="9999"),  # same person, same weak reference: one card
        order("7", cid="E"),  # no reference at all: its own card
        order("8", cid="E"),
        order("9", cid="F", card_masked="4111111111111111", card_expiry="01/30"),  # a full number slipped in
    ]
    a = scope(INCIDENT, WINDOWS, orders=orders)
    assert a.counts.cards == 8
    assert dict(a.counts.cards_by_basis) == {"masked": 3, "masked+expiry": 2, "none": 2, "token": 1}
    assert a.counts.orders_without_card_ref == 2
    token_card = next(c for c in a.cards if c.basis is CardBasis.TOKEN)
    assert (token_card.payments, token_card.people, token_card.masked) == (2, ("customer:A",), "411111******1111")
    assert all("4111111111111111" not in (c.masked or "") and "4111111111111111" not in c.key for c in a.cards)
    assert any(c.masked == "411111******1111" and c.expiry == "01/30" for c in a.cards)
    d = a.person("customer:D")
    assert d is not None and len(d.cards) == 2


# --- pages, methods and sessions --------------------------------------------------------------


def test_pages_default_normalized_and_patterns() -> None:
    orders = [
        order("1", cid="A", card_token="1"),  # no page: the site's card page
        order("2", cid="B", card_token="2", page="https://shop.test/shopping/payment/?step=2"),
        order("3", cid="C", card_token="3", page="/smartphone/payment"),
    ]
    assert scope(INCIDENT, WINDOWS, orders=orders).counts.card_orders == 2
    patterned = Variant(name="skim", pages=("/shopping/*",))
    inc = Incident(id="I", site="s", known_at=T1, variants=(patterned,), card_pages=("/shopping/payment",))
    a = scope(
        inc,
        (window("skim", "/shopping/*"),),
        orders=[*orders, order("4", cid="D", card_token="4", page="/shopping/confirm")],
    )
    assert sorted(p.key for p in a.people) == ["customer:A", "customer:B", "customer:D"]


def test_unknown_method_counts_as_card_and_non_card_orders_are_out() -> None:
    orders = [
        order("1", cid="A", payment=PaymentMethod.UNKNOWN),
        order("2", cid="B", payment=COD),
        order("3", cid="C", payment=PICKUP),
        order("4", cid="D", payment=PaymentMethod.BANK_TRANSFER),
    ]
    a = scope(INCIDENT, WINDOWS, orders=orders)
    assert (a.counts.card_orders, a.counts.unknown_method_orders, a.counts.people) == (1, 1, 1)
    assert dict(a.counts.non_card_orders_in_window) == {"bank": 1, "cod": 1, "pickup": 1}


def test_cod_after_a_card_post_is_in_and_linked_sessions_are_not_double_counted() -> None:
    orders = [order("paid", cid="A", card_token="t"), order("cod", cid=None, email="b@example.jp", payment=COD)]
    sessions = [
        session("s1", order_id="paid", customer_id="A"),  # became the card order
        session("s2", order_id="cod"),  # posted the card form, then chose cash on delivery
        session("s3", posted=False, customer_id="C"),  # reached the card page, left
        session("s3", posted=True, at=MID + timedelta(minutes=1), customer_id="C"),  # ... then posted
        session("s4", at=T1 + timedelta(seconds=1), customer_id="D"),  # too late
        session("s5", path="/cart", customer_id="E"),  # not the card page
    ]
    a = scope(INCIDENT, WINDOWS, orders=orders, sessions=sessions)
    c = a.counts
    assert (c.card_orders, c.sessions_linked_to_card_orders) == (1, 1)
    assert (c.sessions_card_entered_no_card_order, c.sessions_card_page_reached) == (2, 0)
    assert dict(c.non_card_orders_with_card_entered) == {"cod": 1}
    assert a.cash_on_delivery_affected and not a.store_pickup_affected
    assert [p.key for p in a.people] == ["customer:A", "customer:C", "email:b@example.jp"]
    b = a.person("email:b@example.jp")
    assert b is not None and b.reasons == {Reason.CARD_ENTERED_NO_CARD_ORDER} and b.cards == ()
    assert c.seen == {"orders": 2, "registrations": 0, "sessions": 6}


def test_reached_only_sessions_can_be_left_out() -> None:
    sessions = [session("s1", posted=False, customer_id="A"), session("s2", customer_id="B")]
    assert scope(INCIDENT, WINDOWS, sessions=sessions).counts.people == 2
    assert scope(INCIDENT, WINDOWS, sessions=sessions, count_reached=False).counts.people == 1


def test_registrations_through_an_affected_page_only() -> None:
    entry = Variant(name="entry", pages=("/entry",), kind=VariantKind.PERSONAL)
    inc = Incident(
        id="I", site="s", known_at=T1, variants=(SKIM, entry), card_pages=(PAGE,), registration_pages=("/entry",)
    )
    windows = (window("skim"), window("entry", "/entry", start=MID))
    regs = [
        Registration("R1", MID, Contact(email="r1@example.jp"), "/entry"),
        Registration("R2", MID + timedelta(days=1), Contact(), None),  # the site's registration page
        Registration("R3", MID - timedelta(seconds=1), Contact(), "/entry"),  # before the page was altered
        Registration("R4", MID, Contact(), "/mypage/change"),
        Registration("A", MID, Contact(), "/entry"),
    ]
    a = scope(inc, windows, orders=[order("1", cid="A", card_token="t")], registrations=regs)
    assert a.counts.registrations == 3
    assert [(p.key, sorted(d.value for d in p.data)) for p in a.people] == [
        ("customer:A", ["card", "personal"]),
        ("customer:R1", ["personal"]),
        ("customer:R2", ["personal"]),
    ]


def test_a_page_with_a_card_and_personal_skimmer_marks_both() -> None:
    both = Variant(name="both", pages=(PAGE,), kind=VariantKind.BOTH)
    inc = Incident(id="I", site="s", known_at=T1, variants=(both,))
    a = scope(inc, (window("both"),), orders=[order("1", cid="A")], sessions=[session("s", customer_id="B")])
    assert all(p.data == {DataKind.CARD, DataKind.PERSONAL} for p in a.people) and len(a.people) == 2


def test_ongoing_and_unbounded_windows() -> None:
    far_past, far_future = datetime(2001, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)
    orders = [order("1", cid="A", at=far_past), order("2", cid="B", at=far_future)]
    assert scope(INCIDENT, (window("skim", start=None, end=T0),), orders=orders).counts.people == 1
    assert scope(INCIDENT, (window("skim", start=T1, end=None),), orders=orders).counts.people == 1
    assert scope(INCIDENT, (window("skim", start=None, end=None),), orders=orders).counts.people == 2


def test_dst_window_edges_to_the_second_in_berlin() -> None:
    start = parse_time("2023-03-26 01:30:00", "Europe/Berlin")
    end = parse_time("2023-03-26 03:30:00", "Europe/Berlin")
    inc = Incident(id="I", site="s", known_at=end, variants=(SKIM,), zone="Europe/Berlin")
    one_second = timedelta(seconds=1)
    orders = [
        order("early", cid="A", at=start - one_second),
        order("start", cid="B", at=start),
        order("end", cid="C", at=end),
        order("late", cid="D", at=end + one_second),
    ]
    a = scope(inc, (window("skim", start=start, end=end),), orders=orders)
    assert [p.key for p in a.people] == ["customer:B", "customer:C"]


def test_streams_are_read_once_and_the_scoper_can_be_fed_in_parts() -> None:
    def orders() -> Iterator[Order]:
        for i in range(5):
            yield order(str(i), cid=f"C{i}", card_token=f"t{i}")

    s = Scoper(INCIDENT, WINDOWS)
    s.add_orders(orders())
    s.add_orders(orders())  # the same orders again: the same people and cards
    s.add_sessions([session("x", order_id="3")])
    a = s.result()
    assert (a.counts.people, a.counts.cards, a.counts.card_orders, a.counts.sessions_linked_to_card_orders) == (
        5,
        5,
        5,
        1,
    )
    assert a.counts.seen == {"duplicate orders": 5, "orders": 10, "sessions": 1}
    assert all(c.payments == 1 for c in a.cards) and all(len(p.orders) == 1 for p in a.people)


def test_large_stream_matches_a_plain_count() -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    lo, hi = start + timedelta(days=100), start + timedelta(days=149)
    inc = Incident(id="I", site="s", known_at=hi, variants=(SKIM,), card_pages=(PAGE,))
    a = scope(inc, (window("skim", start=lo, end=hi),), orders=order_stream(60_000, start=start))
    inside = [o for o in order_stream(60_000, start=start) if lo <= o.placed_at <= hi and o.payment is CARD]
    assert a.counts.card_orders == len(inside) > 5_000
    people = {o.customer_id or o.contact.email for o in inside}
    cards = {o.card_token or f"{o.card_masked}|{o.card_expiry}" for o in inside}
    assert (a.counts.people, a.counts.cards) == (len(people), len(cards))


def test_bad_input_is_refused() -> None:
    with pytest.raises(IncidentError, match="order 'naive'"):
        scope(INCIDENT, WINDOWS, orders=[Order("naive", datetime(2024, 5, 10), CARD)])
    with pytest.raises(IncidentError, match="session 'naive'"):
        scope(INCIDENT, WINDOWS, sessions=[session("naive", at=datetime(2024, 5, 10))])
    with pytest.raises(IncidentError, match="unknown variant"):
        scope(INCIDENT, (window("nope"),))


def test_scope_summary_is_json_and_holds_no_person(f1_affected: AffectedSet) -> None:
    import json

    from skimguard.incident.scope import scope_summary

    summary = scope_summary(f1_affected, "Asia/Tokyo")
    text = json.dumps(summary, ensure_ascii=False)
    assert summary["schema"] == "skimguard.incident-scope/1"
    (w,) = summary["windows"]
    assert w["start"] == {"utc": "2022-07-18T15:00:00Z", "local": "2022-07-19 00:00:00 +09:00 (JST)"}
    assert w["end"]["local"] == "2022-07-28 23:59:59 +09:00 (JST)"
    assert [e["note"] for e in w["evidence"]] == ["used", "used"]
    assert summary["counts"]["people"] == 424 and summary["counts"]["cards"] == 427
    assert summary["data"] == ["card"] and summary["cash_on_delivery_affected"] is False
    assert "reader0" not in text and "tok_" not in text and "C10000" not in text
