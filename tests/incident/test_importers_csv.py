"""CSV imports with a column mapping: encodings, exact records, bad rows by line, hostile values."""

from __future__ import annotations

import gzip
import io
import itertools
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from skimguard.incident.importers import (
    MAX_LINE,
    CsvColumns,
    CsvMapping,
    ImporterError,
    PaymentMap,
    Problem,
    TimeParser,
    TimeRange,
    card_reference,
    load_bounces,
    load_mapping,
    load_orders,
    load_registrations,
    load_sessions,
    mapping_from_dict,
    normalize_expiry,
    scrub_card_numbers,
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

FIXTURES = Path(__file__).parent / "import_fixtures"
ORDERS = FIXTURES / "orders_sjis.csv"
MAPPING = FIXTURES / "orders_mapping.yaml"
JST = timezone(timedelta(hours=9))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


TARO = Contact("山田 太郎", "taro@example.jp", "100-0001", "東京都 千代田区千代田1-1", "03-1234-5678")

EXPECTED_ORDERS = [
    Order(
        "1001",
        utc(2022, 7, 18, 14, 59, 59),
        PaymentMethod.CARD,
        "501",
        TARO,
        card_masked="411111******1111",
        card_expiry="12/25",
        status="発送済み",
    ),
    Order(
        "1002",
        utc(2022, 7, 18, 15, 0, 0),
        PaymentMethod.CASH_ON_DELIVERY,
        "502",
        Contact(
            "髙橋 花子",
            "ＨＡＮＡＫＯ＠ＥＸＡＭＰＬＥ.JP",
            "530-0001",
            "大阪府 大阪市北区梅田1-1 ビル ①号室",
            "06-1234-5678",
        ),
        status="新規受付",
    ),
    Order(
        "1003",
        utc(2022, 7, 19, 1, 30),
        PaymentMethod.STORE_PICKUP,
        None,
        Contact("佐藤 次郎", "guest@example.com"),
        status="新規受付",
    ),
    Order(
        "1004",
        utc(2022, 7, 20, 3, 0),
        PaymentMethod.CARD,
        "501",
        TARO,
        card_masked="411111******1111",
        card_expiry="03/27",
        status="入金済み",
    ),
    Order("1007", utc(2022, 7, 21, 0, 0), PaymentMethod.UNKNOWN, "503", Contact("鈴木 健", "ken@example.net")),
    Order(
        "1008",
        utc(2022, 7, 22, 9, 0),
        PaymentMethod.CARD,
        "504",
        Contact("田中 美香", "mika@example.org", "150-0001", "東京都 渋谷区神宮前1-1 3F\n受付"),
        card_masked="************4242",
        card_expiry="01/26",
        status="発送済み",
    ),
    Order(
        "1010",
        utc(2022, 7, 22, 23, 0),
        PaymentMethod.CASH_ON_DELIVERY,
        "506",
        Contact("伊藤 二郎", "jiro@example.jp", address="神奈川県 横浜市 カード424242******4242"),
    ),
]


def expected_problems(source: str) -> list[Problem]:
    return [
        Problem(5, "a full card number in the card column was masked (first six, last four)", "warning", source),
        Problem(6, "time ('注文日時') is empty", "error", source),
        Problem(7, "time '2022/13/45 10:00' ('注文日時') is not a date and time this mapping reads", "error", source),
        Problem(
            8,
            "payment method 'Amazon Pay' is not mapped: counted as unknown (scoped like card); "
            "add it to payment_values",
            "warning",
            source,
        ),
        Problem(11, "order id ('注文番号') is empty", "error", source),
        Problem(12, "a card number in address was masked", "warning", source),
    ]


def test_shift_jis_export_gives_exact_orders_and_every_bad_row_by_line() -> None:
    result = load_orders(ORDERS, mapping=MAPPING)
    assert result.collect() == EXPECTED_ORDERS
    assert result.problems == expected_problems(str(ORDERS))
    stats = result.stats
    assert (stats.rows, stats.imported, stats.bad, stats.warnings) == (10, 7, 3, 3)
    assert (stats.cards_masked, stats.encoding, stats.unmapped_payments) == (2, "cp932", {"Amazon Pay": 1})
    assert stats.rows == stats.imported + stats.bad  # nothing silently dropped


def _transcode(tmp_path: Path, name: str, encoding: str, *, gz: bool = False) -> Path:
    text = ORDERS.read_bytes().decode("cp932")
    data = text.encode(encoding)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize(
    ("name", "encoding", "gz", "detected"),
    [
        ("utf8bom.csv", "utf-8-sig", False, "utf-8-sig"),
        ("utf8.csv", "utf-8", False, "utf-8"),
        ("utf16.csv", "utf-16", False, "utf-16"),
        ("sjis.csv.gz", "cp932", True, "cp932"),
        ("utf8.csv.gz", "utf-8-sig", True, "utf-8-sig"),
    ],
)
def test_every_encoding_and_gzip_give_the_same_records(
    tmp_path: Path, name: str, encoding: str, gz: bool, detected: str
) -> None:
    path = _transcode(tmp_path, name, encoding, gz=gz)
    result = load_orders(path, mapping=MAPPING)
    assert result.collect() == EXPECTED_ORDERS
    assert result.problems == expected_problems(str(path))
    assert result.stats.encoding == detected


def test_non_ascii_far_into_the_file_still_decides_the_encoding(tmp_path: Path) -> None:
    mapping = CsvMapping(kind="orders", columns=CsvColumns(order_id="id", time="at", payment="pay"))
    ascii_rows = "".join(f"{i},2022-07-19 10:00:00,card\n" for i in range(60_000))  # > 1 MiB of ASCII first
    path = tmp_path / "late.csv"
    path.write_bytes(("id,at,pay\n" + ascii_rows + "99999,2022-07-19 10:00:00,代金引換\n").encode("cp932"))
    result = load_orders(path, mapping=mapping)
    last = list(result)[-1]
    assert (last.order_id, last.payment) == ("99999", PaymentMethod.CASH_ON_DELIVERY)
    assert (result.stats.encoding, result.stats.replaced_bytes_rows, result.stats.imported) == ("cp932", 0, 60_001)


@pytest.mark.parametrize("given", ["shift_jis", "SJIS", "cp932", "windows-31j"])
def test_shift_jis_spellings_all_read_as_cp932(given: str) -> None:
    result = load_orders(ORDERS, mapping=MAPPING, encoding=given)
    assert result.collect() == EXPECTED_ORDERS
    assert result.stats.encoding == "cp932"


def test_wrong_encoding_replaces_bytes_and_says_so_per_row(tmp_path: Path) -> None:
    path = tmp_path / "sjis.csv"
    path.write_bytes("id,at,name\nC-1,2022-07-19 10:00,山田\nC-2,2022-07-19 11:00,ok\n".encode("cp932"))
    mapping = CsvMapping(kind="orders", encoding="utf-8", columns=CsvColumns(order_id="id", time="at", name="name"))
    result = load_orders(path, mapping=mapping)
    records = result.collect()
    assert [r.order_id for r in records] == ["C-1", "C-2"]
    assert "\ufffd" in (records[0].contact.name or "")
    assert result.stats.replaced_bytes_rows == 1
    assert result.problems == [
        Problem(2, "bytes that are not utf-8-sig were replaced (give the right encoding)", "warning", str(path))
    ]


def test_the_header_check_happens_before_any_record() -> None:
    with pytest.raises(ImporterError) as err:
        load_orders(ORDERS, mapping=MAPPING, encoding="utf-8")
    assert "columns.order_id: no column '注文番号' in the file's header" in str(err.value)


def test_toml_mapping_equals_yaml_mapping() -> None:
    assert load_mapping(FIXTURES / "orders_mapping.toml") == load_mapping(MAPPING)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"kind": "orders", "columns": {"time": "t"}},
            "<m>: (top level): a mapping of kind orders needs columns.order_id",
        ),
        (
            {"kind": "orders", "columns": {"order_id": "o", "time": "t"}, "payment_values": {"VISA": "visa"}},
            "<m>: payment_values.VISA: Input should be 'card', 'cod', 'pickup', 'bank', 'konbini', 'other' "
            "or 'unknown'",
        ),
        (
            {"kind": "orders", "columns": {"order_id": "o", "time": "t", "emial": "e"}},
            "<m>: columns.emial: Extra inputs are not permitted",
        ),
        (
            {"kind": "orders", "columns": {"order_id": "o", "time": "t"}, "timezone": "Asia/Tokio"},
            "<m>: timezone: unknown time zone 'Asia/Tokio' (use an IANA name such as Asia/Tokyo)",
        ),
        (
            {"kind": "orders", "columns": {"order_id": 0, "time": "t"}},
            "<m>: columns.order_id: column numbers start at 1",
        ),
        (
            {"kind": "orders", "columns": {"order_id": "o", "time": "t"}, "encoding": "klingon"},
            "<m>: encoding: unknown encoding 'klingon'",
        ),
        (
            {"kind": "refunds", "columns": {}},
            "<m>: kind: Input should be 'orders', 'sessions', 'registrations' or 'bounces'",
        ),
        (
            {"kind": "orders", "header": False, "columns": {"order_id": "o", "time": 2}},
            "<m>: (top level): with header: false, columns are given by number (1 = first column)",
        ),
        (
            {"kind": "access-log", "card_pages": ["shopping/payment"]},
            "<m>: card_pages: 'shopping/payment': a path glob starts with / (e.g. /shopping/payment*)",
        ),
        ({"kind": "access-log"}, "<m>: (top level): give card_pages and/or card_posts"),
    ],
)
def test_a_malformed_mapping_names_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ImporterError) as err:
        mapping_from_dict(data, "<m>")
    assert str(err.value).startswith(message)


def test_a_mapping_file_that_is_not_yaml_or_too_big(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("kind: [orders\n", encoding="utf-8")
    with pytest.raises(ImporterError, match=r"m\.yaml: not valid YAML"):
        load_mapping(bad)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (300 * 1024))
    with pytest.raises(ImporterError, match="at most 256 KiB"):
        load_mapping(big)


def test_a_mapping_of_another_kind_is_refused() -> None:
    with pytest.raises(ImporterError, match="the mapping is for orders, not registrations"):
        load_registrations(ORDERS, mapping=MAPPING)
    with pytest.raises(ImporterError, match="either a mapping"):
        load_orders(ORDERS)


def test_window_keeps_rows_to_the_second_across_the_jst_day_boundary() -> None:
    window = TimeRange(datetime(2022, 7, 19, 0, 0, 0, tzinfo=JST), datetime(2022, 7, 20, 12, 0, 0, tzinfo=JST))
    result = load_orders(ORDERS, mapping=MAPPING, window=window)
    assert [o.order_id for o in result] == ["1002", "1003", "1004"]
    # 1001 at 23:59:59 JST the day before and the later orders are outside; bad rows still reported
    assert (result.stats.outside_window, result.stats.bad, result.stats.imported) == (4, 3, 3)


def test_window_accepts_anything_with_start_and_end() -> None:
    class Exposure:
        start = datetime(2022, 7, 22, 9, 0, tzinfo=UTC)
        end = None

    result = load_orders(ORDERS, mapping=MAPPING, window=Exposure())
    assert [o.order_id for o in result] == ["1008", "1010"]
    with pytest.raises(ImporterError, match="has no zone"):
        TimeRange(datetime(2022, 7, 19), None)
    with pytest.raises(ImporterError, match="ends"):
        TimeRange(utc(2022, 7, 20), utc(2022, 7, 19))


def test_sessions_csv() -> None:
    result = load_sessions(FIXTURES / "sessions.csv", mapping=FIXTURES / "sessions_mapping.yaml")
    taro = Contact(email="taro@example.jp")
    assert result.collect() == [
        CheckoutSession(
            "s-1",
            utc(2022, 7, 19, 0, 0),
            "/shopping/payment",
            False,
            SessionSource.CSV,
            customer_id="501",
            contact=taro,
        ),
        CheckoutSession(
            "s-1",
            utc(2022, 7, 19, 0, 1, 10),
            "/shopping/payment",
            True,
            SessionSource.CSV,
            customer_id="501",
            contact=taro,
            order_id="1001",
        ),
        CheckoutSession(
            "s-2",
            utc(2022, 7, 19, 14, 59, 59),
            "/shopping/payment",
            False,
            SessionSource.CSV,
            contact=Contact(email="guest@example.com"),
        ),
    ]
    source = str(FIXTURES / "sessions.csv")
    assert result.problems == [
        Problem(5, "time 'yesterday' ('time') is not a date and time this mapping reads", "error", source),
        Problem(6, "page ('page') is empty", "error", source),
    ]


def test_registrations_csv_with_a_japanese_time_format() -> None:
    result = load_registrations(FIXTURES / "registrations_utf8bom.csv", mapping=FIXTURES / "registrations_mapping.yaml")
    assert result.collect() == [
        Registration(
            "701",
            utc(2022, 7, 18, 23, 15),
            Contact("渡辺 恵", "newbie@example.jp", "060-0001", "北海道札幌市中央区北1条西1", "011-000-0000"),
        ),
        Registration("702", utc(2022, 7, 25, 12, 0), Contact("小林 誠", "second@example.jp")),
    ]
    assert [(p.line, p.severity) for p in result.problems] == [(4, "error")]
    assert result.stats.encoding == "utf-8-sig"


def test_headerless_file_with_column_numbers(tmp_path: Path) -> None:
    path = tmp_path / "noheader.tsv"
    path.write_text("A-1\t2022-07-19 10:00\tcod\tx@example.jp\nA-2\t2022-07-19 11:00\tcard\t\n", encoding="utf-8")
    mapping = CsvMapping(
        kind="orders", header=False, delimiter="tab", columns=CsvColumns(order_id=1, time=2, payment=3, email=4)
    )
    assert load_orders(path, mapping=mapping).collect() == [
        Order("A-1", utc(2022, 7, 19, 1, 0), PaymentMethod.CASH_ON_DELIVERY, contact=Contact(email="x@example.jp")),
        Order("A-2", utc(2022, 7, 19, 2, 0), PaymentMethod.CARD),
    ]


def test_skip_rows_and_delimiter_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "titled.csv"
    path.write_text("受注一覧 2022年7月\n注文;日時;支払\nB-1;2022/07/19 10:00;代引\n", encoding="utf-8")
    mapping = CsvMapping(kind="orders", skip_rows=1, columns=CsvColumns(order_id="注文", time="日時", payment="支払"))
    assert load_orders(path, mapping=mapping).collect() == [
        Order("B-1", utc(2022, 7, 19, 1, 0), PaymentMethod.CASH_ON_DELIVERY)
    ]


def test_hostile_rows_are_bounded_and_reported(tmp_path: Path) -> None:
    long_name = "あ" * 2000
    lines = [
        "id,at,name,card",
        f"H-1,2022-07-19 10:00,{long_name},",
        "H-2,2022-07-19 10:00,a\x00b,",  # NUL byte: dropped like every control character
        "H-3,2022-07-19 10:00," + "x" * (MAX_LINE + 10),  # longer than any line we read
        "H-4,2022-07-19 10:00,\x1b[31mred\x1b[0m,5555555555554444",
        "H-5," + ",".join(["y"] * 1500),
    ]
    path = tmp_path / "hostile.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = CsvMapping(kind="orders", columns=CsvColumns(order_id="id", time="at", name="name", card_masked="card"))
    result = load_orders(path, mapping=mapping)
    records = result.collect()
    assert [r.order_id for r in records] == ["H-1", "H-2", "H-4"]
    assert records[0].contact.name == "あ" * 512
    assert records[1].contact.name == "ab"
    assert records[2].contact.name == "[31mred[0m"
    assert records[2].card_masked == "555555******4444"
    assert [(p.line, p.severity, p.reason) for p in result.problems] == [
        (4, "error", f"line longer than {MAX_LINE} characters"),
        (5, "warning", "a full card number in the card column was masked (first six, last four)"),
        (6, "error", "1501 fields (more than 1000)"),
    ]
    assert (result.stats.rows, result.stats.imported, result.stats.bad) == (5, 3, 2)


class EndlessOrders(io.RawIOBase):
    """An export that never ends: proves the import streams (it would hang if it read it all)."""

    def __init__(self) -> None:
        self.buffer = b"id,at,pay\n"
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while len(self.buffer) < len(b):
            self.n += 1
            self.buffer += f"E-{self.n},2022-07-19 10:00:00,card\n".encode()
        b[:] = self.buffer[: len(b)]
        self.buffer = self.buffer[len(b) :]
        return len(b)


def test_import_streams_an_endless_source() -> None:
    mapping = CsvMapping(kind="orders", encoding="utf-8", columns=CsvColumns(order_id="id", time="at", payment="pay"))
    started = time.monotonic()
    with load_orders(io.BufferedReader(EndlessOrders()), mapping=mapping) as result:
        first = list(itertools.islice(result, 5))
    assert [o.order_id for o in first] == ["E-1", "E-2", "E-3", "E-4", "E-5"]
    assert time.monotonic() - started < 5


def test_memory_stays_flat_on_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("id,at,pay,email,name\n")
        for i in range(100_000):
            f.write(f"{i},2022-07-19 10:{i % 60:02d}:00,クレジットカード,user{i}@example.jp,名前{i}\n")
    size = path.stat().st_size
    mapping = CsvMapping(
        kind="orders", columns=CsvColumns(order_id="id", time="at", payment="pay", email="email", name="name")
    )
    tracemalloc.start()
    try:
        count = sum(1 for _ in load_orders(path, mapping=mapping))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert size > 5_000_000
    assert peak < 1_500_000  # a small fraction of the file: rows are not kept


def test_an_import_result_is_read_once() -> None:
    result = load_orders(ORDERS, mapping=MAPPING)
    list(result)
    with pytest.raises(ImporterError, match="only once"):
        list(result)


def test_bounce_list_one_per_line() -> None:
    result = load_bounces(FIXTURES / "bounces.txt")
    assert result.collect() == [
        Bounce("taro@example.jp"),
        Bounce("hanako@example.jp"),
        Bounce("mika@example.org"),
    ]
    assert [(p.line, p.reason) for p in result.problems] == [(5, "no e-mail address in 'not-an-address'")]


def test_bounce_list_as_csv_with_time_and_reason() -> None:
    result = load_bounces(FIXTURES / "bounces.csv")
    assert result.collect() == [
        Bounce("taro@example.jp", utc(2022, 8, 1, 1, 0), "550 5.1.1 user unknown"),
        Bounce("ken@example.net", None, "mailbox full"),
    ]
    assert [(p.line, p.severity, p.reason) for p in result.problems] == [
        (3, "warning", "time 'someday' not understood: bounce kept without a time"),
        (4, "error", "'broken' is not an e-mail address"),
    ]


@pytest.mark.parametrize(
    ("label", "method"),
    [
        ("クレジットカード決済", PaymentMethod.CARD),
        ("クレジット", PaymentMethod.CARD),
        ("Credit Card", PaymentMethod.CARD),
        ("代金引換", PaymentMethod.CASH_ON_DELIVERY),
        ("代引き", PaymentMethod.CASH_ON_DELIVERY),
        ("代金引換(カード可)", PaymentMethod.CASH_ON_DELIVERY),
        ("店頭受取", PaymentMethod.STORE_PICKUP),
        ("店舗受け取り", PaymentMethod.STORE_PICKUP),
        ("郵便振替", PaymentMethod.BANK_TRANSFER),
        ("銀行振込", PaymentMethod.BANK_TRANSFER),
        ("コンビニ決済", PaymentMethod.CONVENIENCE_STORE),
        ("ＣＯＤ", PaymentMethod.CASH_ON_DELIVERY),
        ("現金書留", PaymentMethod.OTHER),
        ("NP後払い", PaymentMethod.OTHER),
        ("PayPay", PaymentMethod.UNKNOWN),
    ],
)
def test_builtin_payment_labels(label: str, method: PaymentMethod) -> None:
    assert PaymentMap().classify(label)[0] is method


def test_caller_values_win_over_builtin_labels() -> None:
    payments = PaymentMap({"クレジットカード決済": PaymentMethod.OTHER, "PayPay": PaymentMethod.OTHER})
    assert payments.classify(" クレジットカード決済 ") == (PaymentMethod.OTHER, True)
    assert payments.classify("PayPay") == (PaymentMethod.OTHER, True)
    assert PaymentMap(builtin=False).classify("代金引換") == (PaymentMethod.UNKNOWN, False)


@pytest.mark.parametrize(
    ("raw", "kept", "was_full"),
    [
        ("4111111111111111", "411111******1111", True),
        ("4111-1111-1111-1111", "411111******1111", True),
        ("４１１１１１１１１１１１１１１１", "411111******1111", True),
        ("411111******1111", "411111******1111", False),
        ("XXXX-XXXX-XXXX-1111", "************1111", False),
        ("4111111111**1111", "411111******1111", True),  # shows more than six and four: masked further
        ("1111", "1111", False),
        ("****", None, False),
        ("", None, False),
    ],
)
def test_card_reference(raw: str, kept: str | None, was_full: bool) -> None:
    assert card_reference(raw) == (kept, was_full)


def test_scrub_card_numbers_only_masks_luhn_valid_runs() -> None:
    assert scrub_card_numbers("注文番号 1234567890123 の件") == ("注文番号 1234567890123 の件", 0)
    assert scrub_card_numbers("card 4242 4242 4242 4242 thanks") == ("card 424242******4242 thanks", 1)
    assert scrub_card_numbers(None) == (None, 0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12/25", "12/25"),
        ("12/2025", "12/25"),
        ("2025-12", "12/25"),
        ("1225", "12/25"),
        ("25/12", "12/25"),
        ("2025年12月", "12/25"),
        ("13/25", "13/25"),
        ("", None),
    ],
)
def test_normalize_expiry(raw: str, expected: str | None) -> None:
    assert normalize_expiry(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2022/07/19 00:00:00", utc(2022, 7, 18, 15, 0, 0)),
        ("2022-07-19 00:00", utc(2022, 7, 18, 15, 0, 0)),
        ("2022-07-19T00:00:00Z", utc(2022, 7, 19, 0, 0, 0)),
        ("2022-07-19T00:00:00.250+09:00", datetime(2022, 7, 18, 15, 0, 0, 250_000, tzinfo=UTC)),
        ("2022-07-19", utc(2022, 7, 18, 15, 0, 0)),
        ("2022/02/30 10:00", None),
        ("19.07.2022", None),
    ],
)
def test_time_parser(raw: str, expected: datetime | None) -> None:
    assert TimeParser("Asia/Tokyo").parse(raw) == expected


def test_time_parser_follows_dst_in_zones_that_have_it() -> None:
    parser = TimeParser("America/New_York")
    assert parser.parse("2022-07-19 12:00:00") == utc(2022, 7, 19, 16, 0)  # EDT, UTC-4
    assert parser.parse("2022-01-19 12:00:00") == utc(2022, 1, 19, 17, 0)  # EST, UTC-5
