"""Findings: upsert by fingerprint, auto-resolve, reopen, acknowledge; the alerts log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_factories import SITE, at, checkout_scan, finding

from skimguard.errors import StoreError
from skimguard.models import Category, ScanStatus, Severity
from skimguard.store import Store

VENDOR = "https://cdn.vendor.test/assist/form.js"
APP = "https://shop.test/static/app.js"


def _by_subject(store: Store, **kw: object) -> dict[str, object]:
    return {sf.finding.subject: sf for sf in store.findings(SITE, **kw)}  # type: ignore[arg-type]


def test_upsert_resolve_and_reopen(store: Store) -> None:
    a, b = finding(VENDOR), finding(APP, rule_id="SG102")

    first = store.finish_scan(checkout_scan("s1", start=at(0), findings=[a, b]))
    assert [(sf.new, sf.reopened, sf.previous_content_hash) for sf in first] == [(True, False, None)] * 2
    assert all(sf.status == "open" and sf.first_seen == at(0) and sf.last_seen == at(0) for sf in first)
    assert first[0].finding.first_seen == at(0)
    assert first[0].content_hash == a.content_hash
    assert first[0].fingerprint == a.fingerprint

    # A partial scan that no longer sees B resolves nothing.
    second = store.finish_scan(checkout_scan("s2", start=at(10), status=ScanStatus.PARTIAL, findings=[a]))
    assert len(second) == 1
    sa = second[0]
    assert (sa.new, sa.reopened, sa.previous_content_hash) == (False, False, a.content_hash)
    assert sa.first_seen == at(0) and sa.last_seen == at(10) and sa.last_scan_id == "s2"
    assert set(_by_subject(store)) == {VENDOR, APP}

    # An ok scan that does not see B resolves it.
    store.finish_scan(checkout_scan("s3", start=at(20), findings=[a]))
    open_now = _by_subject(store)
    assert set(open_now) == {VENDOR}
    resolved = store.findings(SITE, status="resolved")
    assert [r.finding.subject for r in resolved] == [APP]
    assert resolved[0].resolved_at == at(21)  # the scan's finished_at
    assert resolved[0].last_seen == at(0)

    # B comes back: reopened, first_seen kept.
    b2 = finding(APP, rule_id="SG102", evidence={"subject": APP, "changed": True})
    fourth = {
        sf.finding.subject: sf
        for sf in store.finish_scan(checkout_scan("s4", start=at(30), findings=[a, b2]))
    }
    sb = fourth[APP]
    assert sb.reopened and not sb.new and sb.status == "open" and sb.resolved_at is None
    assert sb.previous_content_hash == b.content_hash != b2.content_hash
    assert sb.content_hash == b2.content_hash
    assert sb.first_seen == at(0) and sb.last_seen == at(30)
    assert not fourth[VENDOR].reopened

    # Sightings: which scans saw what.
    assert {sf.finding.subject for sf in store.findings(SITE, status=None, scan_id="s2")} == {VENDOR}
    assert {sf.finding.subject for sf in store.findings(SITE, status=None, scan_id="s4")} == {VENDOR, APP}


def test_only_scanner_categories_are_auto_resolved(store: Store) -> None:
    tele = finding("report-sha256", rule_id="SG801", category=Category.TELEMETRY)
    server = finding("/var/www/skin.php", rule_id="SG901", category=Category.SERVER)
    code = finding(VENDOR, rule_id="SG401", category=Category.CODE)
    store.finish_scan(checkout_scan("s1", start=at(0), findings=[tele, server, code]))
    store.finish_scan(checkout_scan("s2", start=at(10), findings=[]))
    assert set(_by_subject(store)) == {"report-sha256", "/var/www/skin.php"}
    assert [r.finding.rule_id for r in store.findings(SITE, status="resolved")] == ["SG401"]


def test_a_late_older_scan_does_not_resolve_newer_sightings(store: Store) -> None:
    store.finish_scan(checkout_scan("new", start=at(10), findings=[finding(VENDOR)]))
    store.finish_scan(checkout_scan("old", start=at(0), findings=[]))  # stored late
    assert set(_by_subject(store)) == {VENDOR}


def test_duplicate_findings_in_one_scan_keep_the_most_severe(store: Store) -> None:
    low = finding(VENDOR, severity=Severity.LOW)
    crit = finding(VENDOR, severity=Severity.CRITICAL)
    stored = store.finish_scan(checkout_scan("s1", findings=[low, crit]))
    assert len(stored) == 1 and stored[0].finding.severity is Severity.CRITICAL


def test_findings_filters_and_round_trip(store: Store) -> None:
    fs = [
        finding("a", severity=Severity.LOW, evidence={"n": 1, "list": [1, "x"], "nested": {"k": None}}),
        finding("b", severity=Severity.CRITICAL, rule_id="SG301", category=Category.EXFIL, page=None),
        finding("c", severity=Severity.MEDIUM),
    ]
    store.finish_scan(checkout_scan("s1", findings=fs))
    got = store.findings(SITE)
    assert [g.finding.subject for g in got] == ["b", "c", "a"]  # most severe first
    assert [g.finding for g in got] == [
        f.__class__(**{**f.__dict__, "first_seen": at(0)}) for f in (fs[1], fs[2], fs[0])
    ]
    assert [g.finding.subject for g in store.findings(SITE, min_severity=Severity.MEDIUM)] == ["b", "c"]
    assert store.findings("other-site") == []
    assert len(store.findings()) == 3
    with pytest.raises(StoreError, match="unknown finding status"):
        store.findings(SITE, status="bogus")


def test_acknowledge(store: Store) -> None:
    f = finding(VENDOR)
    store.finish_scan(checkout_scan("s1", start=at(0), findings=[f]))
    store.acknowledge(f.fingerprint, "alice", "vendor confirmed the change")
    acked = store.findings(SITE, status="acknowledged")
    assert len(acked) == 1 and store.findings(SITE) == []
    assert acked[0].acknowledged_by == "alice"
    assert acked[0].acknowledged_note == "vendor confirmed the change"
    assert acked[0].acknowledged_at is not None
    trail = store.audit(SITE)
    assert [(a.action, a.actor, a.subject) for a in trail] == [
        ("finding.acknowledge", "alice", f.fingerprint)
    ]
    assert trail[0].details["note"] == "vendor confirmed the change"
    assert trail[0].details["previous_status"] == "open"

    # Seen again unchanged: stays acknowledged (and is not auto-resolved meanwhile).
    again = store.finish_scan(checkout_scan("s2", start=at(10), findings=[f]))
    assert again[0].status == "acknowledged" and not again[0].reopened
    store.finish_scan(checkout_scan("s3", start=at(20), findings=[]))
    assert store.findings(SITE, status="acknowledged")[0].last_seen == at(10)

    # Changed substance: open again.
    changed = finding(VENDOR, evidence={"subject": VENDOR, "sha256": "new"})
    back = store.finish_scan(checkout_scan("s4", start=at(30), findings=[changed]))
    assert back[0].status == "open" and back[0].reopened

    with pytest.raises(StoreError, match="no finding"):
        store.acknowledge("0" * 32, "alice", "")
    with pytest.raises(StoreError, match="actor"):
        store.acknowledge(f.fingerprint, " ", "note")


def test_alert_log(store: Store) -> None:
    fp = finding(VENDOR).fingerprint
    assert store.last_alert(fp, "webhook") is None
    store.record_alert(fp, SITE, "webhook", "h1", True, None, at=at(0))
    store.record_alert(fp, SITE, "webhook", "h2", True, None, at=at(10))
    store.record_alert(fp, SITE, "webhook", "h3", False, "HTTP 500", at=at(20))
    store.record_alert(fp, SITE, "email", "h9", True, None, at=at(30))
    last = store.last_alert(fp, "webhook")
    assert last is not None
    assert (last.content_hash, last.ok, last.sent_at, last.site) == ("h2", True, at(10), SITE)
    attempt = store.last_alert_attempt(fp, "webhook")
    assert attempt is not None and (attempt.content_hash, attempt.ok, attempt.error) == (
        "h3",
        False,
        "HTTP 500",
    )
    assert store.last_alert(fp, "email").content_hash == "h9"  # type: ignore[union-attr]
    assert store.last_alert(fp, "console") is None
    # Default timestamp is now, tz-aware.
    store.record_alert(fp, SITE, "console", "h1", True, None)
    now_row = store.last_alert(fp, "console")
    assert now_row is not None and now_row.sent_at.utcoffset() == timedelta(0)
