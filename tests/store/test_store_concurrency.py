"""Several workers storing scans of one site at the same time (a local worker pool / Celery)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from store_factories import SITE, VENDOR_JS, VENDOR_JS_V2, at, checkout_scan, finding

from skimguard.models import sha256_hex
from skimguard.store import Store

WORKERS = 4
SCANS_EACH = 3


def test_concurrent_finish_scan(open_db: Callable[..., Store], engine: sa.Engine) -> None:
    stores = [open_db() for _ in range(WORKERS)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def work(n: int, store: Store) -> None:
        try:
            barrier.wait()
            for i in range(SCANS_EACH):
                minute = n * SCANS_EACH + i
                scan_id = f"w{n}-{i}"
                store.begin_scan(SITE, scan_id, at(minute))
                body = VENDOR_JS if minute % 2 else VENDOR_JS_V2
                store.finish_scan(
                    checkout_scan(scan_id, start=at(minute), vendor_body=body, findings=[finding("shared")])
                )
                store.findings(SITE)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n, s)) for n, s in enumerate(stores)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors

    reader = stores[0]
    assert all(s.status == "ok" for s in reader.scans(SITE, limit=100))
    assert len(reader.scans(SITE, limit=100)) == WORKERS * SCANS_EACH
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM script_bodies")).scalar_one() == 6
        assert conn.execute(sa.text("SELECT count(*) FROM sites")).scalar_one() == 1
        assert (
            conn.execute(sa.text("SELECT count(*) FROM finding_sightings")).scalar_one()
            == WORKERS * SCANS_EACH
        )
    vendor = reader.inventory_item(SITE, "https://cdn.vendor.test/assist/form.js")
    assert vendor is not None and vendor.hashes_seen == 2
    assert (vendor.first_seen, vendor.last_seen) == (at(0), at(WORKERS * SCANS_EACH - 1))
    shared = reader.findings(SITE)
    assert len(shared) == 1 and shared[0].first_seen == at(0)
    assert reader.body(sha256_hex(VENDOR_JS)) == VENDOR_JS
