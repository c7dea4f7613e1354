"""Notification channels, the CSV-injection-safe mail merge, and the record of notices sent."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skimguard.incident.model import (
    AffectedCard,
    AffectedPerson,
    AffectedSet,
    CardBasis,
    DataKind,
    IncidentError,
    PersonBasis,
    Reason,
)
from skimguard.incident.notify import (
    MAIL_MERGE_FIELDS,
    Channel,
    ChannelReason,
    NoticeRecord,
    NoticeResult,
    csv_safe,
    mail_merge_rows,
    notice_progress,
    notification_list,
    person_ref,
    rows_to_csv,
)
from skimguard.incident.records import Bounce, Contact
from skimguard.testing.incidents import Scenario

AT = datetime(2022, 7, 20, 3, 4, 5, tzinfo=UTC)


def person(key: str, contact: Contact, cards: tuple[str, ...] = ()) -> AffectedPerson:
    return AffectedPerson(
        key=key,
        basis=PersonBasis.CUSTOMER_ID,
        contact=contact,
        data=frozenset({DataKind.CARD}),
        reasons=frozenset({Reason.CARD_ORDER}),
        customer_id=key.removeprefix("customer:"),
        cards=cards,
        orders=("O1",),
        sessions=0,
        first_at=AT,
        last_at=AT + timedelta(days=1),
    )


def card(key: str, masked: str | None) -> AffectedCard:
    return AffectedCard(
        key=key, basis=CardBasis.TOKEN, masked=masked, expiry=None, payments=1, people=(), first_at=AT, last_at=AT
    )


def test_founding_1_channels(f1_scenario: Scenario, f1_affected: AffectedSet) -> None:
    notes = notification_list(f1_affected, f1_scenario.bounces)
    assert len(notes) == 424
    assert dict(Counter(n.channel.value for n in notes)) == f1_scenario.expected["channels"]
    assert dict(Counter(n.channel.value for n in notes)) == {"email": 393, "postal": 23, "substitute": 8}
    by_key = {n.person: n for n in notes}
    bounced_with_address = by_key["customer:C10010"]
    assert (bounced_with_address.channel, bounced_with_address.reason) == (Channel.POSTAL, ChannelReason.EMAIL_BOUNCED)
    bounced_without = by_key["customer:C10016"]
    assert (bounced_without.channel, bounced_without.reason) == (Channel.SUBSTITUTE, ChannelReason.EMAIL_BOUNCED)
    no_email = by_key["customer:C10360"]
    assert (no_email.channel, no_email.reason) == (Channel.POSTAL, ChannelReason.NO_EMAIL)
    assert by_key["customer:C10379"].channel is Channel.SUBSTITUTE
    merged = by_key["customer:C10001"]  # paid as a member and as a guest: one notice
    assert merged.channel is Channel.EMAIL and merged.email == "reader0001@example.jp"


def test_channel_rules() -> None:
    people = [
        person("customer:1", Contact(email="ok@example.jp", address="addr")),
        person("customer:2", Contact(email="Gone@Example.jp", address="addr")),
        person("customer:3", Contact(email="gone2@example.jp")),
        person("customer:4", Contact(address="東京都千代田区1-1", postal_code="100-0001")),
        person("customer:5", Contact(name="only a name", phone="090-0000-0000")),
        person("customer:6", Contact(email="not an address", address="  ")),
    ]
    bounces = [Bounce(email="gone@example.jp"), Bounce(email="ＧＯＮＥ２@example.jp")]
    notes = notification_list(people, bounces)
    assert [(n.channel.value, n.reason.value) for n in notes] == [
        ("email", "has-email"),
        ("postal", "email-bounced"),
        ("substitute", "email-bounced"),
        ("postal", "no-email"),
        ("substitute", "no-email"),
        ("substitute", "no-email"),
    ]
    assert notes[4].phone == "090-0000-0000"


def test_card_last_four_only() -> None:
    p = person("customer:1", Contact(email="a@example.jp"), cards=("k1", "k2", "k3"))
    cards = {"k1": card("k1", "411111******1234"), "k2": card("k2", "9876"), "k3": card("k3", None)}
    (n,) = notification_list([p], cards=cards)
    assert n.card_last4 == ("1234", "9876")
    row = mail_merge_rows([n])[1]
    assert row[MAIL_MERGE_FIELDS.index("card_last4")] == "1234 9876"
    assert "411111" not in "".join(row)


def test_person_ref_is_stable_and_reveals_nothing() -> None:
    ref = person_ref("email:taro@example.jp")
    assert ref == person_ref("email:taro@example.jp") and ref != person_ref("email:hanako@example.jp")
    assert ref.startswith("P-") and len(ref) == 14 and "taro" not in ref


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil.test","x")', '\'=HYPERLINK("http://evil.test","x")'),
        ("+81 3 1234", "'+81 3 1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("  =1+1", "'  =1+1"),
        ("＝1+1", "'＝1+1"),
        ("山田 太郎", "山田 太郎"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_csv_safe(value: str | None, shown: str) -> None:
    assert csv_safe(value) == shown


def test_mail_merge_rows_are_safe_and_filtered() -> None:
    hostile = Contact(
        name='=cmd|" /C calc"!A0',
        email="x@example.jp",
        postal_code="-100",
        address="@東京都\n2行目",
    )
    people = [person("customer:1", hostile), person("customer:2", Contact(address="大阪市北区1-1"))]
    notes = notification_list(people)
    rows = mail_merge_rows(notes)
    assert rows[0] == MAIL_MERGE_FIELDS
    assert len(rows) == 3
    first = dict(zip(MAIL_MERGE_FIELDS, rows[1], strict=True))
    assert first["name"] == '\'=cmd|" /C calc"!A0'
    assert first["postal_code"] == "'-100"
    assert first["address"] == "'@東京都\n2行目"
    assert first["first_exposure"] == "2022-07-20 12:04:05 +09:00 (JST)"
    assert first["data_items"] == "card" and first["channel"] == "email"
    assert [r[1] for r in mail_merge_rows(notes, channel=Channel.POSTAL)] == ["channel", "postal"]
    assert mail_merge_rows(notes, zone="Europe/Berlin")[1][-2] == "2022-07-20 05:04:05 +02:00 (CEST)"
    text = rows_to_csv(rows)
    back = list(csv.reader(io.StringIO(text)))
    assert back == [list(r) for r in rows]
    assert text.endswith("\r\n")
    # rows from elsewhere are made safe too
    assert rows_to_csv([["=1+1", "ok"]]) == "'=1+1,ok\r\n"


def test_notice_progress() -> None:
    people = [
        person("customer:1", Contact(email="a@example.jp", address="addr")),
        person("customer:2", Contact(email="b@example.jp", address="addr")),
        person("customer:3", Contact(email="c@example.jp")),
        person("customer:4", Contact(address="addr")),
        person("customer:5", Contact()),
        person("customer:6", Contact(email="f@example.jp")),
    ]
    notes = notification_list(people)
    t = datetime(2022, 9, 22, 1, 0, tzinfo=UTC)
    records = [
        NoticeRecord("customer:1", t, Channel.EMAIL, NoticeResult.SENT),
        NoticeRecord("customer:2", t, Channel.EMAIL, NoticeResult.SENT),
        NoticeRecord("customer:2", t + timedelta(hours=2), Channel.EMAIL, NoticeResult.BOUNCED),
        NoticeRecord("customer:3", t, Channel.EMAIL, NoticeResult.BOUNCED),
        NoticeRecord("customer:4", t, Channel.POSTAL, NoticeResult.RETURNED, "宛所不明"),
        NoticeRecord("customer:5", t, Channel.SUBSTITUTE, NoticeResult.PUBLISHED),
    ]
    statuses, summary = notice_progress(notes, records)
    assert [(s.person, s.done, s.next_channel.value if s.next_channel else None) for s in statuses] == [
        ("customer:1", True, None),
        ("customer:2", False, "postal"),
        ("customer:3", False, "substitute"),
        ("customer:4", False, "substitute"),
        ("customer:5", True, None),
        ("customer:6", False, "email"),
    ]
    assert summary == {"done": 2, "to-email": 1, "to-postal": 1, "to-substitute": 2}
    assert statuses[1].last is not None and statuses[1].last.result is NoticeResult.BOUNCED
    # the letter to customer 2 arrives: done
    late = NoticeRecord("customer:2", t + timedelta(days=2), Channel.POSTAL, NoticeResult.DELIVERED)
    statuses, summary = notice_progress(notes, [*records, late])
    assert statuses[1].done and summary["done"] == 3


def test_notice_record_needs_a_zone() -> None:
    with pytest.raises(IncidentError, match="no zone"):
        NoticeRecord("customer:1", datetime(2022, 9, 22), Channel.EMAIL, NoticeResult.SENT)
    r = NoticeRecord(
        "customer:1", datetime.fromisoformat("2022-09-22T10:00:00+09:00"), Channel.EMAIL, NoticeResult.SENT
    )
    assert r.at == datetime(2022, 9, 22, 1, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_csv_safe_never_lets_a_formula_through(value: str) -> None:
    safe = csv_safe(value)
    assert safe == value or safe == "'" + value
    first = safe.lstrip(" \u3000")[:1]
    assert not first or first not in "=+-@\t\r＝＋－＠" or safe.startswith("'")
