"""Shared helpers for the alert tests: a finding factory and in-memory alert logs.

A plain module with a unique name (not conftest.py), imported directly by the test files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from skimguard.alerts import AlertBatch
from skimguard.errors import AlertError
from skimguard.models import Category, Confidence, Finding, Severity


def make_finding(**overrides: Any) -> Finding:
    base = Finding(
        rule_id="SG301",
        category=Category.EXFIL,
        severity=Severity.CRITICAL,
        confidence=Confidence.HIGH,
        title="Card number sent to collect.evil.test",
        site="demo-shop",
        page="payment",
        script_url="https://cdn.vendor.test/form-assist.js?v=3",
        destination="collect.evil.test",
        subject="collect.evil.test",
        evidence={"request": "https://collect.evil.test/c?d=...", "encoding": ["base64", "url"]},
        first_seen=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    )
    return replace(base, **overrides)


@dataclass(frozen=True)
class Entry:
    fingerprint: str
    site: str
    sink: str
    content_hash: str
    ok: bool
    error: str | None


@dataclass
class MemoryLog:
    """The alert log as the store keeps it: every attempt, latest last."""

    entries: list[Entry] = field(default_factory=list)

    def last_alert(self, fingerprint: str, sink: str) -> Entry | None:
        for e in reversed(self.entries):
            if e.fingerprint == fingerprint and e.sink == sink:
                return e
        return None

    def record(
        self, fingerprint: str, site: str, sink: str, content_hash: str, ok: bool, error: str | None
    ) -> None:
        self.entries.append(Entry(fingerprint, site, sink, content_hash, ok, error))


@dataclass(frozen=True)
class Sent:
    content_hash: str


@dataclass
class SuccessOnlyLog(MemoryLog):
    """A store whose ``last_alert`` returns the last *successful* send, as a bare object."""

    def last_alert(self, fingerprint: str, sink: str) -> Sent | None:  # type: ignore[override]
        for e in reversed(self.entries):
            if e.fingerprint == fingerprint and e.sink == sink and e.ok:
                return Sent(e.content_hash)
        return None


@dataclass
class FakeSink:
    name: str = "fake"
    fail: bool = False
    batches: list[AlertBatch] = field(default_factory=list)

    def send(self, batch: AlertBatch) -> None:
        self.batches.append(batch)
        if self.fail:
            raise AlertError(f"{self.name}: down")

    @property
    def sent_rules(self) -> list[list[str]]:
        return [[f.rule_id for f in b.findings] for b in self.batches]
