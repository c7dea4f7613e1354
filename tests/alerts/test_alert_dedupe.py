from __future__ import annotations

import pytest
from alerts_helpers import FakeSink, MemoryLog, SuccessOnlyLog, make_finding

from skimguard.alerts import dispatch, select_for_sink, unique_findings
from skimguard.models import Finding, Severity


def run(
    findings: list[Finding],
    sink: FakeSink,
    log: MemoryLog,
    *,
    min_severity: Severity = Severity.HIGH,
    reopened: frozenset[str] = frozenset(),
) -> int:
    report = dispatch(
        findings,
        site="demo-shop",
        scan_id="scan-1",
        sinks=[sink],
        log=log,
        record=log.record,
        min_severity=min_severity,
        reopened=reopened,
    )
    return report.sent


def test_first_time_sent() -> None:
    log = MemoryLog()
    f = make_finding()
    assert select_for_sink([f], sink="fake", log=log, min_severity=Severity.HIGH) == [f]
    sink = FakeSink()
    assert run([f], sink, log) == 1
    assert sink.sent_rules == [["SG301"]]
    (entry,) = log.entries
    assert (entry.fingerprint, entry.site, entry.sink, entry.content_hash, entry.ok) == (
        f.fingerprint,
        "demo-shop",
        "fake",
        f.content_hash,
        True,
    )


def test_same_content_not_sent_again() -> None:
    log = MemoryLog()
    sink = FakeSink()
    assert run([make_finding()], sink, log) == 1
    # A later scan finds the same thing (first_seen differs, substance does not).
    assert run([make_finding(first_seen=None)], sink, log) == 0
    assert len(sink.batches) == 1
    assert select_for_sink([make_finding()], sink="fake", log=log, min_severity=Severity.HIGH) == []


def test_changed_content_sent_again() -> None:
    log = MemoryLog()
    sink = FakeSink()
    run([make_finding()], sink, log)
    changed = make_finding(evidence={"request": "https://collect.evil.test/v2"})
    assert changed.fingerprint == make_finding().fingerprint
    assert run([changed], sink, log) == 1
    assert len(sink.batches) == 2


def test_reopened_sent_again() -> None:
    log = MemoryLog()
    sink = FakeSink()
    f = make_finding()
    run([f], sink, log)
    assert run([f], sink, log) == 0
    assert run([f], sink, log, reopened=frozenset({f.fingerprint})) == 1
    assert len(sink.batches) == 2


def test_below_threshold_not_sent() -> None:
    log = MemoryLog()
    sink = FakeSink()
    low = make_finding(rule_id="SG101", severity=Severity.MEDIUM, subject="x")
    high = make_finding(rule_id="SG102", severity=Severity.HIGH, subject="y")
    report = dispatch(
        [low, high],
        site="demo-shop",
        scan_id=None,
        sinks=[sink],
        log=log,
        record=log.record,
        min_severity=Severity.HIGH,
    )
    assert sink.sent_rules == [["SG102"]]
    assert (report.results[0].sent, report.results[0].skipped) == (1, 1)
    assert [e.fingerprint for e in log.entries] == [high.fingerprint]
    # Nothing at all due: the sink is not called.
    assert run([low], sink, log) == 0
    assert len(sink.batches) == 1
    assert run([low], sink, log, min_severity=Severity.MEDIUM) == 1


@pytest.mark.parametrize("log_type", [MemoryLog, SuccessOnlyLog])
def test_failed_send_is_retried_next_time(log_type: type[MemoryLog]) -> None:
    log = log_type()
    f = make_finding()
    sink = FakeSink(fail=True)
    report = dispatch(
        [f],
        site="demo-shop",
        scan_id="scan-1",
        sinks=[sink],
        log=log,
        record=log.record,
        min_severity=Severity.HIGH,
    )
    assert not report.ok
    assert report.results[0].failed == 1
    assert "down" in (report.results[0].error or "")
    assert [(e.ok, e.error) for e in log.entries] == [(False, "fake: down")]

    sink.fail = False
    assert run([f], sink, log) == 1
    assert run([f], sink, log) == 0
    assert len(sink.batches) == 2


def test_failed_send_after_reopen_is_retried_without_reopen_flag() -> None:
    """With a log that returns the latest attempt, a failed re-alert is retried later."""
    log = MemoryLog()
    f = make_finding()
    sink = FakeSink()
    run([f], sink, log)
    sink.fail = True
    assert run([f], sink, log, reopened=frozenset({f.fingerprint})) == 0
    sink.fail = False
    assert run([f], sink, log) == 1  # no longer "reopened", but the last attempt failed


def test_duplicates_within_batch_dropped() -> None:
    log = MemoryLog()
    a = make_finding(severity=Severity.HIGH)
    b = make_finding(severity=Severity.CRITICAL, title="same identity, worse")
    other = make_finding(rule_id="SG302", subject="other")
    assert a.fingerprint == b.fingerprint
    assert unique_findings([a, other, b]) == [b, other]
    due = select_for_sink([a, other, b, other], sink="fake", log=log, min_severity=Severity.HIGH)
    assert due == [b, other]
    sink = FakeSink()
    run([a, b, other, other], sink, log)
    assert len(sink.batches[0].findings) == 2
    assert len(log.entries) == 2


def test_dedupe_is_per_sink() -> None:
    log = MemoryLog()
    f = make_finding()
    first, second = FakeSink("one"), FakeSink("two")
    run([f], first, log)
    assert select_for_sink([f], sink="one", log=log, min_severity=Severity.HIGH) == []
    assert select_for_sink([f], sink="two", log=log, min_severity=Severity.HIGH) == [f]
    assert run([f], second, log) == 1
