"""Incidents in the store: grouping findings, the observation history, evidence, scope, notices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from store_factories import SITE, VENDOR, VENDOR_JS_V2, at, checkout_scan, finding

from skimguard.errors import StoreError
from skimguard.incident import storage
from skimguard.models import ScanStatus
from skimguard.store import Store

KNOWN = datetime(2026, 1, 12, 3, 0, tzinfo=UTC)


def _history(store: Store) -> str:
    """clean (s1), skimmer (s2, s3 partial), a failed scan that observed nothing (s4), clean (s5)."""
    skimmer = finding(f"{VENDOR}/assist/form.js", rule_id="SG102")
    store.finish_scan(checkout_scan("s1", start=at(0)))
    store.finish_scan(checkout_scan("s2", start=at(60), vendor_body=VENDOR_JS_V2, findings=[skimmer]))
    store.finish_scan(
        checkout_scan("s3", start=at(120), vendor_body=VENDOR_JS_V2, status=ScanStatus.PARTIAL, findings=[skimmer])
    )
    store.finish_scan(checkout_scan("s4", start=at(150), status=ScanStatus.FAILED))
    store.finish_scan(checkout_scan("s5", start=at(180)))
    return skimmer.fingerprint


def test_open_incident_and_its_observation_history(store: Store) -> None:
    fp = _history(store)
    inc = storage.open_incident(
        store, SITE, {fp[:10]: "vendor-script"}, known_at=KNOWN, zone="Asia/Tokyo", title="t", actor="ana"
    )
    assert inc.id.startswith("INC-") and inc.site == SITE and inc.known_at == KNOWN
    assert inc.findings == ((fp, "vendor-script"),)
    assert inc.variants == {"vendor-script": (fp,)}
    assert storage.get_incident(store, inc.id) == inc
    assert [i.id for i in storage.list_incidents(store, SITE)] == [inc.id]
    assert storage.list_incidents(store, "other") == []

    rows = storage.sightings(store, inc.id)
    assert [(r.scan_id, r.at, r.seen, r.page, r.path) for r in rows] == [
        ("s1", at(0), False, "payment", "/checkout/payment"),
        ("s2", at(60), True, "payment", "/checkout/payment"),
        ("s3", at(120), True, "payment", "/checkout/payment"),
        ("s5", at(180), False, "payment", "/checkout/payment"),
    ]
    assert [a.action for a in store.audit(SITE)][:1] == ["incident-open"]


def test_open_incident_refuses_unknown_short_and_empty_findings(store: Store) -> None:
    fp = _history(store)
    with pytest.raises(StoreError, match="no finding"):
        storage.open_incident(store, SITE, {"deadbeef00": "v"}, known_at=KNOWN, zone="UTC", title="", actor="a")
    with pytest.raises(StoreError, match="at least 8"):
        storage.open_incident(store, SITE, {fp[:4]: "v"}, known_at=KNOWN, zone="UTC", title="", actor="a")
    with pytest.raises(StoreError, match="at least one finding"):
        storage.open_incident(store, SITE, {}, known_at=KNOWN, zone="UTC", title="", actor="a")
    with pytest.raises(StoreError, match="no finding"):  # a finding of another site is not ours
        storage.open_incident(store, "other", {fp: "v"}, known_at=KNOWN, zone="UTC", title="", actor="a")
    assert storage.list_incidents(store) == []


def test_evidence_scope_people_and_notices(store: Store) -> None:
    fp = _history(store)
    inc = storage.open_incident(store, SITE, {fp: "v"}, known_at=KNOWN, zone="Asia/Tokyo", title="t", actor="ana")
    mtime = datetime(2026, 1, 10, 9, 30, 5, tzinfo=UTC)
    row = storage.add_evidence(
        store,
        inc.id,
        variant="v",
        page="/checkout/payment",
        edge="start",
        kind="file-mtime",
        at=mtime,
        source="webroot: js/form.js",
        forced=False,
        actor="ana",
    )
    assert (row.edge, row.kind, row.at, row.forced) == ("start", "file-mtime", mtime, False)
    assert storage.evidence(store, inc.id) == [row]
    with pytest.raises(StoreError, match="edge"):
        storage.add_evidence(
            store,
            inc.id,
            variant="v",
            page="/",
            edge="middle",
            kind="user",
            at=mtime,
            source="",
            forced=False,
            actor="a",
        )
    with pytest.raises(StoreError, match="no incident"):
        storage.add_evidence(
            store, "INC-x", variant="v", page="/", edge="end", kind="user", at=mtime, source="", forced=False, actor="a"
        )

    persons = [
        storage.PersonRow("c:1", "customer-id", "email", {"email": "a@example.jp"}, {"cards": 2}),
        storage.PersonRow("e:b@example.jp", "email", "letter", {"address": "東京都"}, {"cards": 1}),
    ]
    assert storage.save_scope(store, inc.id, {"people": 2, "cards": 3}, persons, "ana") == 2
    assert storage.save_scope(store, inc.id, {"people": 2, "cards": 3}, persons, "ana") == 2  # replaces
    assert storage.people(store, inc.id) == persons
    got = storage.scope_summary(store, inc.id)
    assert got is not None and got[1] == {"people": 2, "cards": 3}

    sent = datetime(2026, 1, 20, 1, 0, tzinfo=UTC)
    assert storage.record_notice(store, inc.id, [("c:1", sent, "email", "sent", "")], "ana") == 1
    with pytest.raises(StoreError, match="not an affected person"):
        storage.record_notice(store, inc.id, [("c:9", sent, "email", "sent", "")], "ana")
    assert [(n.person, n.sent_at, n.channel, n.result) for n in storage.notices(store, inc.id)] == [
        ("c:1", sent, "email", "sent")
    ]

    updated = storage.update_details(store, inc.id, {"desk": "0120-000-000"}, "ana")
    assert updated.details == {"desk": "0120-000-000"}
