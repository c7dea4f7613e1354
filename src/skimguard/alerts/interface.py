"""What an alert sink is, and what it is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from skimguard.models import Finding, Severity


@dataclass(frozen=True)
class AlertBatch:
    """The findings one sink is told about after one scan (already deduplicated for that sink)."""

    site: str
    scan_id: str | None
    findings: tuple[Finding, ...]
    created_at: datetime
    dashboard_hint: str | None = None  # e.g. "skimguard dashboard" or a URL; shown, never linked

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def sorted_findings(self) -> Sequence[Finding]:
        """Worst first; stable for equal severities (rule id, then page)."""
        return sorted(self.findings, key=lambda f: (-f.severity, f.rule_id, f.page or ""))


@runtime_checkable
class Sink(Protocol):
    """Somewhere alerts go. Plain classes; ``dispatch`` calls them in the configured order.

    ``name`` is stable across runs (it keys the alert log): ``console``,
    ``webhook:https://host/path`` (no credentials, query or fragment), ``email:to1,to2``.
    ``send`` raises :class:`skimguard.errors.AlertError` when the batch was not delivered.
    """

    @property
    def name(self) -> str: ...

    def send(self, batch: AlertBatch) -> None: ...
