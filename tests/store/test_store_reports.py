"""The report collector's part of the store: site keys, aggregated reports, hourly activity."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from skimguard.errors import StoreError
from skimguard.store import Store
from skimguard.store.store import MAX_REPORT_SAMPLES, ReportGroup, ReportHour

T0 = datetime(2026, 11, 20, 9, 15, 30, tzinfo=UTC)
KEY = ("csp-violation", "csp-violation", "script-src-elem", "https://evil.test/a.js",
       "https://shop.test/checkout", "", "report", "")  # fmt: skip


def group(count: int = 1, site: str = "shop", key: tuple[str, ...] = KEY, **lists: tuple[str, ...]) -> ReportGroup:
    return ReportGroup(site=site, key=key, count=count, **lists)  # type: ignore[arg-type]


# ---- keys ------------------------------------------------------------------------------------------


def test_collector_key_is_created_once_and_found_again(open_db: Callable[..., Store]) -> None:
    store = open_db()
    key = store.collector_key("shop")
    assert len(key) == 32 and key.replace("-", "").replace("_", "").isalnum()
    assert store.collector_key("shop") == key
    assert open_db().collector_key("shop") == key  # kept in the database
    other = store.collector_key("other")
    assert other != key
    assert store.site_for_key(key) == "shop"
    assert store.site_for_key(other) == "other"
    assert store.collector_keys() == {"shop": key, "other": other}
    for unknown in ("", "nope", key[:-1], key + "x", "x" * 5000):
        assert store.site_for_key(unknown) is None


def test_rotate_collector_key(store: Store) -> None:
    old = store.collector_key("shop")
    new = store.rotate_collector_key("shop", "alice")
    assert new != old and len(new) == 32
    assert store.site_for_key(old) is None
    assert store.site_for_key(new) == "shop"
    assert store.collector_key("shop") == new
    audit = store.audit("shop")
    assert [(a.action, a.actor, a.subject) for a in audit] == [("collector-key-rotate", "alice", "shop")]
    assert store.rotate_collector_key("fresh", "bob") == store.collector_key("fresh")


def test_bad_site_names(store: Store) -> None:
    for bad in ("", " ", "x" * 201, "a\x00b"):
        with pytest.raises(StoreError):
            store.collector_key(bad)
        with pytest.raises(StoreError):
            store.record_reports([group(site=bad)], {})
    assert store.reports("shop") == []


# ---- aggregation -----------------------------------------------------------------------------------


def test_counts_add_up_and_first_seen_stays(store: Store) -> None:
    store.record_reports([group(3, pages=("https://shop.test/checkout?step=1",))], {"shop": (3, 0)}, at=T0)
    store.record_reports([group(2), group(5)], {"shop": (7, 0)}, at=T0 + timedelta(minutes=5))
    (row,) = store.reports("shop")
    assert row.count == 10
    assert (row.first_seen, row.last_seen) == (T0, T0 + timedelta(minutes=5))
    assert (row.kind, row.report_type, row.directive, row.blocked, row.document, row.hash, row.disposition) == (
        "csp-violation", "csp-violation", "script-src-elem", "https://evil.test/a.js",
        "https://shop.test/checkout", "", "report",
    )  # fmt: skip
    assert row.pages == ("https://shop.test/checkout?step=1",)
    assert store.report_total("shop") == 10
    # A batch stamped earlier (another process, a slower clock) does not move last_seen back.
    store.record_reports([group(1)], {}, at=T0 + timedelta(minutes=1))
    assert store.reports("shop")[0].last_seen == T0 + timedelta(minutes=5)
    assert store.report_total("shop") == 11


def test_keys_and_sites_are_separate_rows(store: Store) -> None:
    other_key = (*KEY[:3], "https://evil.test/b.js", *KEY[4:])
    store.record_reports([group(2), group(3, key=other_key), group(4, site="other")], {}, at=T0)
    assert sorted((r.blocked, r.count) for r in store.reports("shop")) == [
        ("https://evil.test/a.js", 2),
        ("https://evil.test/b.js", 3),
    ]
    assert [(r.site, r.count) for r in store.reports("other")] == [("other", 4)]
    assert store.report_total("shop") == 5
    assert store.report_total("nobody") == 0


def test_sample_lists_are_bounded_distinct_and_merged_across_stores(open_db: Callable[..., Store]) -> None:
    first, second = open_db(), open_db()
    pages = tuple(f"https://shop.test/p{i}" for i in range(3))
    first.record_reports([group(1, pages=pages[:2], user_agents=("UA-1",), samples=("var a=1",))], {}, at=T0)
    # The same values again: nothing new, only the count moves (no read of the lists).
    first.record_reports([group(1, pages=pages[:1], user_agents=("UA-1",))], {}, at=T0)
    # Another store (another process) adds values it has not seen: they are merged, not replaced.
    second.record_reports([group(1, pages=(pages[2],), sources=("https://evil.test/a.js:1:20",))], {}, at=T0)
    (row,) = first.reports("shop")
    assert row.count == 3
    assert row.pages == pages
    assert (row.user_agents, row.samples, row.sources) == (("UA-1",), ("var a=1",), ("https://evil.test/a.js:1:20",))
    # The first store's memory of the lists is stale now; it must still merge with what is stored.
    first.record_reports([group(1, pages=("https://shop.test/p3",))], {}, at=T0)
    assert first.reports("shop")[0].pages == (*pages, "https://shop.test/p3")
    many = tuple(f"UA-{i}" for i in range(20))
    first.record_reports([group(1, user_agents=many)], {}, at=T0)
    (row,) = first.reports("shop")
    assert row.user_agents == ("UA-1", "UA-0", "UA-2", "UA-3", "UA-4")  # the old one first, then new ones
    assert len(row.user_agents) == MAX_REPORT_SAMPLES
    assert row.count == 5


def test_a_row_deleted_behind_the_stores_back_comes_back(store: Store, engine: sa.Engine) -> None:
    store.record_reports([group(2, pages=("https://shop.test/a",))], {}, at=T0)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM reports"))
    store.record_reports([group(3, pages=("https://shop.test/a",))], {}, at=T0)  # cached: count-only path
    (row,) = store.reports("shop")
    assert (row.count, row.pages) == (3, ("https://shop.test/a",))


def test_long_urls_are_one_row(store: Store) -> None:
    long_blocked = "https://evil.test/" + "a" * 1980
    long_document = "https://shop.test/" + "b" * 1980
    key = (*KEY[:3], long_blocked, long_document, *KEY[5:])
    store.record_reports([group(1, key=key, pages=(long_document + "?q=" + "c" * 10,))], {}, at=T0)
    store.record_reports([group(1, key=key)], {}, at=T0)
    (row,) = store.reports("shop")
    assert (row.blocked, row.document, row.count) == (long_blocked, long_document, 2)


def test_reports_order_limit_and_kind(store: Store) -> None:
    deprecation = ("deprecation", "deprecation", "", "", "https://shop.test/", "", "", "SyncXHR")
    store.record_reports([group(1)], {}, at=T0)
    store.record_reports([group(1, key=deprecation)], {}, at=T0 + timedelta(seconds=1))
    assert [r.kind for r in store.reports("shop")] == ["deprecation", "csp-violation"]
    assert [r.kind for r in store.reports("shop", limit=1)] == ["deprecation"]
    assert [r.detail for r in store.reports("shop", kind="deprecation")] == ["SyncXHR"]


def test_concurrent_writers_lose_no_count(open_db: Callable[..., Store]) -> None:
    stores = [open_db(), open_db(), open_db()]
    errors: list[BaseException] = []

    def write(store: Store, n: int) -> None:
        try:
            for i in range(25):
                store.record_reports([group(n, pages=(f"https://shop.test/{n}/{i}",))], {"shop": (n, 1)})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores, start=1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stores[0].report_total("shop") == 25 * (1 + 2 + 3)
    (row,) = stores[0].reports("shop")
    assert len(row.pages) == MAX_REPORT_SAMPLES
    assert sum(h.reports for h in stores[0].report_activity("shop")) == 150
    assert sum(h.noise for h in stores[0].report_activity("shop")) == 75


# ---- activity --------------------------------------------------------------------------------------


def test_hourly_activity_and_last_report(store: Store) -> None:
    assert store.last_report_at("shop") is None
    assert store.report_activity("shop") == []
    store.record_reports([group(4)], {"shop": (4, 1)}, at=T0)
    store.record_reports([group(2)], {"shop": (2, 0)}, at=T0 + timedelta(minutes=30))
    store.record_reports([], {"shop": (0, 3)}, at=T0 + timedelta(hours=1))  # only noise: still activity
    store.record_reports([], {"shop": (0, 0), "other": (0, 0)}, at=T0 + timedelta(hours=2))  # nothing: no row
    hour = T0.replace(minute=0, second=0)
    assert store.report_activity("shop") == [
        ReportHour("shop", hour, 6, 1, T0 + timedelta(minutes=30)),
        ReportHour("shop", hour + timedelta(hours=1), 0, 3, T0 + timedelta(hours=1)),
    ]
    assert [h.hour for h in store.report_activity("shop", since=T0 + timedelta(minutes=70))] == [
        hour + timedelta(hours=1)
    ]
    assert store.last_report_at("shop") == T0 + timedelta(hours=1)
    assert store.last_report_at("other") is None
    assert store.prune_report_activity(hour + timedelta(hours=1)) == 1
    assert [h.hour for h in store.report_activity("shop")] == [hour + timedelta(hours=1)]
    assert store.report_total("shop") == 6  # pruning activity keeps the reports
