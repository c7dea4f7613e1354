"""Scans: round-trips, bodies stored once, atomic finish, crash recovery, hostile data."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from store_factories import (
    APP_JS,
    SITE,
    VENDOR_JS,
    VENDOR_JS_V2,
    at,
    capture,
    cart_page,
    checkout_scan,
    finding,
    payment_page,
    result,
)

from skimguard.errors import StoreError
from skimguard.models import (
    FieldRecord,
    FormRecord,
    PageCapture,
    Problem,
    RequestRecord,
    ScanStatus,
    ScriptKind,
    ScriptRecord,
    sha256_hex,
)
from skimguard.store import Store, codec
from skimguard.store.store import STALE_SCAN_AFTER


def _count(engine: sa.Engine, table: str, where: str = "", **params: object) -> int:
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def test_scan_round_trips_exactly(store: Store) -> None:
    res = checkout_scan("s1", findings=[finding("https://cdn.vendor.test/assist/form.js")])
    store.begin_scan(SITE, "s1", res.started_at)
    assert store.scan("s1") is not None and store.scan("s1").status == "running"  # type: ignore[union-attr]
    store.finish_scan(res)

    pages = store.scan_pages("s1")
    assert pages == list(res.pages)
    # The parts PageCapture equality might gloss over are there too.
    pay = pages[1]
    assert pay.headers["content-security-policy"].startswith("script-src")
    assert pay.forms[0].fields[1].label == "有効期限"
    assert pay.forms[0].has_card_fields
    assert pay.scripts[4].main_frame is False
    assert pay.requests[2].failed == "net::ERR_CONNECTION_REFUSED"
    assert pay.redirect_chain == ("https://shop.test/checkout/pay", "https://shop.test/checkout/payment")

    row = store.scan("s1")
    assert row is not None
    assert (row.status, row.site, row.journeys) == ("ok", SITE, ("checkout",))
    assert row.started_at == res.started_at and row.finished_at == res.finished_at
    assert row.started_at.tzinfo is not None and row.started_at.utcoffset() == timedelta(0)
    assert row.summary["pages"] == 2
    assert row.summary["scripts"] == 6
    assert row.summary["requests"] == 4
    assert row.summary["findings"] == 1
    assert row.summary["worst"] == "high"
    assert row.summary["captures"][0]["user_agent"] == "Mozilla/5.0 skimguard-test"
    assert store.last_capture_pages(SITE) == list(res.pages)
    assert [s.id for s in store.scans(SITE)] == ["s1"]


def test_multiple_journeys_keep_their_order(store: Store) -> None:
    cap1 = capture([cart_page(), payment_page()], journey="checkout")
    reg = PageCapture(
        name="register", url="https://shop.test/register", final_url="https://shop.test/register"
    )
    cap2 = capture(
        [reg], journey="registration", start=at(1), problems=[Problem("step-timeout", "slow", "register", 2)]
    )
    res = result("multi", [cap1, cap2], status=ScanStatus.PARTIAL)
    store.finish_scan(res)  # no begin_scan: finish alone is enough
    assert [p.name for p in store.scan_pages("multi")] == ["cart", "payment", "register"]
    row = store.scan("multi")
    assert row is not None and row.status == "partial"
    assert row.journeys == ("checkout", "registration")
    problems = row.summary["captures"][1]["problems"]
    assert [codec.problem_from_json(p) for p in problems] == [Problem("step-timeout", "slow", "register", 2)]


def test_scans_listing_and_last_capture(store: Store) -> None:
    store.finish_scan(checkout_scan("a", start=at(0)))
    store.finish_scan(checkout_scan("b", start=at(10), vendor_body=VENDOR_JS_V2))
    store.begin_scan(SITE, "c", at(20))  # running: not a finished capture
    store.ensure_site("other", "https://other.test")
    store.begin_scan("other", "o1", at(30))
    assert [s.id for s in store.scans(SITE)] == ["c", "b", "a"]
    assert [s.id for s in store.scans()] == ["o1", "c", "b", "a"]
    assert [s.id for s in store.scans(SITE, limit=1)] == ["c"]
    last = store.last_capture_pages(SITE)
    assert last[1].scripts[1].sha256 == sha256_hex(VENDOR_JS_V2)
    assert store.last_capture_pages("other") == []
    assert store.scan("nope") is None
    assert store.scan_pages("nope") == []


def test_body_seen_twice_is_stored_once(store: Store, engine: sa.Engine) -> None:
    store.finish_scan(checkout_scan("s1", start=at(0)))
    store.finish_scan(checkout_scan("s2", start=at(10)))
    assert _count(engine, "script_bodies") == 5
    assert _count(engine, "script_bodies", "sha256 = :h", h=sha256_hex(VENDOR_JS)) == 1
    assert store.body(sha256_hex(VENDOR_JS)) == VENDOR_JS
    assert store.body(sha256_hex(VENDOR_JS).upper()) == VENDOR_JS
    assert store.body("0" * 64) is None
    with engine.connect() as conn:
        data, size = conn.execute(
            sa.text("SELECT data, size FROM script_bodies WHERE sha256 = :h"), {"h": sha256_hex(APP_JS)}
        ).one()
    assert zlib.decompress(data) == APP_JS and size == len(APP_JS)
    # A changed vendor script adds exactly one body.
    store.finish_scan(checkout_scan("s3", start=at(20), vendor_body=VENDOR_JS_V2))
    assert _count(engine, "script_bodies") == 6
    assert store.scan("s3").summary["new_bodies"] == 1  # type: ignore[union-attr]


def test_body_is_keyed_by_its_real_hash(store: Store) -> None:
    lying = capture([cart_page()], bodies={"f" * 64: b"actual bytes"})
    store.finish_scan(result("s1", [lying]))
    assert store.body("f" * 64) is None
    assert store.body(sha256_hex(b"actual bytes")) == b"actual bytes"


def test_failure_half_way_rolls_back_and_marks_interrupted(
    store: Store, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = checkout_scan("s1", findings=[finding("https://cdn.vendor.test/assist/form.js")])
    store.begin_scan(SITE, "s1", res.started_at)
    calls = {"n": 0}
    real = codec.forms_to_json

    def flaky(forms: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:  # the second page: the first one is already inserted
            raise RuntimeError("disk on fire")
        return real(forms)  # type: ignore[arg-type]

    monkeypatch.setattr(codec, "forms_to_json", flaky)
    with pytest.raises(StoreError, match="disk on fire"):
        store.finish_scan(res)
    row = store.scan("s1")
    assert row is not None and row.status == "interrupted"
    assert "disk on fire" in row.summary["error"]
    for table in ("pages", "page_scripts", "requests", "script_bodies", "findings", "inventory"):
        assert _count(engine, table) == 0, table
    assert store.scan_pages("s1") == []
    assert store.findings(SITE) == []

    # The same result can be stored once the problem is gone.
    monkeypatch.setattr(codec, "forms_to_json", real)
    store.finish_scan(res)
    assert store.scan("s1").status == "ok"  # type: ignore[union-attr]
    assert store.scan_pages("s1") == list(res.pages)


def test_failure_in_a_later_step_rolls_back_too(
    store: Store, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.finish_scan(checkout_scan("s1", start=at(0)))

    def boom(value: object, **kw: object) -> object:
        raise ValueError("evidence exploded")

    monkeypatch.setattr(codec, "bounded_json", boom)  # findings are written last
    with pytest.raises(StoreError, match="evidence exploded"):
        store.finish_scan(
            checkout_scan("s2", start=at(10), vendor_body=VENDOR_JS_V2, findings=[finding("x")])
        )
    assert store.scan("s2").status == "interrupted"  # type: ignore[union-attr]
    assert _count(engine, "pages", "scan_id = :s", s="s2") == 0
    assert _count(engine, "script_bodies") == 5  # the new vendor body was rolled back
    assert store.inventory_item(SITE, "https://cdn.vendor.test/assist/form.js").hashes_seen == 1  # type: ignore[union-attr]


def test_finishing_twice_is_refused(store: Store) -> None:
    res = checkout_scan("s1")
    store.finish_scan(res)
    with pytest.raises(StoreError, match="already stored"):
        store.finish_scan(res)
    assert store.scan("s1").status == "ok"  # type: ignore[union-attr]
    assert len(store.scan_pages("s1")) == 2
    with pytest.raises(StoreError, match="already exists"):
        store.begin_scan(SITE, "s1", at(0))


def test_crashed_scan_is_interrupted_on_reopen(open_db: Callable[..., Store]) -> None:
    first = open_db()
    first.begin_scan(SITE, "s1", datetime.now(UTC))
    # Another process opening the database while the scan is live must leave it alone.
    assert open_db().scan("s1").status == "running"  # type: ignore[union-attr]
    first.close()  # the scanning Store is gone without finishing
    again = open_db()
    row = again.scan("s1")
    assert row is not None and row.status == "interrupted"
    assert row.finished_at is None


def test_running_scans_of_other_hosts(store: Store, open_db: Callable[..., Store], engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    store.ensure_site(SITE, "https://shop.test")
    with engine.begin() as conn:
        for scan_id, started in (("fresh", now), ("stale", now - STALE_SCAN_AFTER - timedelta(minutes=1))):
            conn.execute(
                sa.text(
                    "INSERT INTO scans (id, site, started_at, status, journeys, summary, owner) "
                    "VALUES (:id, :site, :started, 'running', '[]', '{}', 'elsewhere.test:4242:abcd')"
                ),
                {
                    "id": scan_id,
                    "site": SITE,
                    "started": started.replace(tzinfo=None) if store.dialect == "sqlite" else started,
                },
            )
    fresh_store = open_db()
    assert fresh_store.scan("fresh").status == "running"  # type: ignore[union-attr]
    assert fresh_store.scan("stale").status == "interrupted"  # type: ignore[union-attr]


def test_hostile_page_data_is_bounded(store: Store) -> None:
    huge_url = "https://shop.test/" + "a" * 20_000
    nasty = "evil\x00value\ud800end"
    page = PageCapture(
        name="payment",
        url=huge_url,
        final_url=nasty,
        redirect_chain=(huge_url,) * 100,
        status=999_999_999_999,
        headers={"x-huge": "v" * 100_000, "x-nul": nasty, nasty: "name"},
        scripts=(
            ScriptRecord(ScriptKind.EXTERNAL, huge_url, "ab" * 32, 10, nasty, initiator=huge_url),
            ScriptRecord(ScriptKind.INLINE, None, None, 0, nasty),
        ),
        requests=(RequestRecord(url=nasty, method=nasty, resource_type="x" * 5000, post_data_size=-5),),
        forms=(
            FormRecord(
                action=huge_url,
                method="post",
                frame_url=nasty,
                fields=tuple(FieldRecord(tag="input", type="text", label=nasty * 1000) for _ in range(600)),
            ),
        ),
        problems=(nasty,),
    )
    res = result("h1", [capture([page])], findings=[finding(nasty, evidence={"x": nasty, "n": float("nan")})])
    stored = store.finish_scan(res)
    back = store.scan_pages("h1")[0]
    assert len(back.url) == codec.MAX_URL
    assert back.final_url == "evil\ufffdvalue?end"
    assert len(back.redirect_chain) == codec.MAX_REDIRECTS
    assert len(back.headers["x-huge"]) == codec.MAX_HEADER_VALUE
    assert back.headers["x-nul"] == "evil\ufffdvalue?end"
    assert len(back.scripts[0].url or "") == codec.MAX_URL
    assert back.requests[0].post_data_size == 0
    assert len(back.forms[0].fields) == codec.MAX_FIELDS
    assert back.status is not None and back.status < 2**31
    assert len(store.inventory(SITE)) == 2
    # Finding.fingerprint cannot hash a lone surrogate: the store cleans such a finding first.
    assert stored[0].finding.subject == "evil\ufffdvalue?end"
    assert store.findings(SITE)[0].fingerprint == stored[0].fingerprint
    assert store.findings(SITE)[0].finding.evidence["n"] == "nan"
