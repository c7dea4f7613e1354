"""Which findings a sink should hear about. Pure: the alert log is passed in.

A finding is due for a sink when it is at or above the threshold and

* it was never delivered to that sink, or
* its ``content_hash`` changed since the last delivery (the substance changed), or
* the last attempt to deliver it failed (only successful sends suppress), or
* it was resolved and has been re-opened since (the caller passes those fingerprints).

Identity is ``Finding.fingerprint`` (rule + site + page + subject), never a line number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from skimguard.models import Finding, Severity


class SentAlert(Protocol):
    """One entry of the alert log. Only ``content_hash`` is required.

    If the entry also has a boolean ``ok`` and it is ``False`` (a failed attempt), it does not
    suppress anything: the finding is sent again.
    """

    @property
    def content_hash(self) -> str: ...


class AlertLog(Protocol):
    """Implemented by the store.

    ``last_alert`` returns the most recent attempt to alert ``sink`` about ``fingerprint``
    (with ``ok``), or at least the most recent *successful* one; ``None`` when there is none.
    Returning the latest attempt with ``ok`` is better: a re-opened finding whose alert failed is
    then retried on the next scan even though it is no longer "re-opened" then.
    """

    def last_alert(self, fingerprint: str, sink: str) -> SentAlert | None: ...


def unique_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per fingerprint, in first-seen order; the most severe one wins a tie."""
    best: dict[str, Finding] = {}
    for f in findings:
        seen = best.get(f.fingerprint)
        if seen is None or f.severity > seen.severity:
            best[f.fingerprint] = f
    return list(best.values())


def is_due(finding: Finding, previous: SentAlert | None, *, reopened: bool = False) -> bool:
    """Whether ``finding`` must be (re)sent given the log's last entry for it and this sink."""
    if previous is None or reopened:
        return True
    if getattr(previous, "ok", True) is False:
        return True
    return previous.content_hash != finding.content_hash


def select_for_sink(
    findings: Iterable[Finding],
    *,
    sink: str,
    log: AlertLog,
    min_severity: Severity,
    reopened: Collection[str] = frozenset(),
) -> list[Finding]:
    """The findings ``sink`` should be sent now, deduplicated by fingerprint, in input order.

    ``reopened`` holds the fingerprints of findings that were resolved and have come back since
    they were last alerted; they are sent even if their content is unchanged.
    """
    out: list[Finding] = []
    for f in unique_findings(findings):
        if f.severity < min_severity:
            continue
        if is_due(f, log.last_alert(f.fingerprint, sink), reopened=f.fingerprint in reopened):
            out.append(f)
    return out
