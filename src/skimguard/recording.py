"""Storing and alerting findings that do not come from a browser scan.

``telemetry check`` (SG6xx) and ``db scan --site`` (SG72x) produce findings outside a capture. They
are stored through the same ``begin_scan``/``finish_scan`` path as a scan's, as a scan named
``<prefix><time>-<hex>`` whose status is ``failed`` on purpose: an ``ok`` scan resolves every open
browser-scanner finding it did not see, and ``ok``/``partial`` scans are what ``baseline accept``
takes as the latest capture. Nothing is stored when every finding is already known unchanged and
none is gone, and the findings go to the configured alert sinks like a scan's.

Such a scan never resolves the findings it did not see (it may have looked at less than the last
one); a caller that knows which of its findings are gone passes them as ``gone`` (a database scan:
:func:`skimguard.webroot.database.gone_findings`), and they are resolved with the scan.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from skimguard.config import Config, Site
from skimguard.models import Category, Finding, ScanResult, ScanStatus

if TYPE_CHECKING:
    from rich.console import Console

    from skimguard.alerts import DispatchReport
    from skimguard.store import Store

__all__ = ["Recorded", "record_findings", "something_new"]


@dataclass(frozen=True)
class Recorded:
    """The scan the findings were stored as (None: nothing new), the findings with their
    first-seen times from the store, the alerts sent (None: alerting off or nothing to say), and
    how many findings were resolved as gone."""

    scan_id: str | None
    findings: tuple[Finding, ...]
    alerts: DispatchReport | None
    resolved: int = 0


def something_new(store: Store, site: str, findings: Sequence[Finding], category: Category) -> bool:
    """Whether a finding is not stored yet, changed in substance, or was resolved."""
    known = {
        s.fingerprint: (s.status, s.content_hash)
        for s in store.findings(site, status=None)
        if s.finding.category is category
    }
    for f in findings:
        status, content = known.get(f.fingerprint, ("", ""))
        if status in ("", "resolved") or content != f.content_hash:
            return True
    return False


def record_findings(
    config: Config,
    site: Site,
    store: Store,
    findings: Sequence[Finding],
    *,
    prefix: str,
    category: Category,
    started_at: datetime,
    finished_at: datetime,
    alert: bool,
    console: Console | None,
    gone: Sequence[str] = (),
) -> Recorded:
    """Store ``findings`` (when something is new or changed, or a finding is ``gone``) as a scan
    ``<prefix><time>-<hex>``, resolve the open findings whose fingerprints are in ``gone``, and
    alert the findings."""
    from skimguard.alerts import build_sinks, dispatch

    out = list(findings)
    scan_id: str | None = None
    reopened: frozenset[str] = frozenset()
    resolved = 0
    store.ensure_site(site.name, site.base_url)
    if gone or something_new(store, site.name, out, category):
        scan_id = f"{prefix}{finished_at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        store.begin_scan(site.name, scan_id, started_at)
        stored = store.finish_scan(
            ScanResult(
                site=site.name,
                scan_id=scan_id,
                started_at=started_at,
                finished_at=finished_at,
                status=ScanStatus.FAILED,  # never ok: see the module docstring
                captures=(),
                findings=tuple(out),
            )
        )
        first_seen = {s.fingerprint: s.finding.first_seen for s in stored}
        out = [replace(f, first_seen=first_seen.get(f.fingerprint, f.first_seen)) for f in out]
        reopened = frozenset(s.fingerprint for s in stored if s.reopened)
        if gone:
            resolved = store.resolve_findings(site.name, gone, finished_at)
    report = None
    if alert and out:
        report = dispatch(
            out,
            site=site.name,
            scan_id=scan_id,
            sinks=build_sinks(config.alerts, console),
            log=store,
            record=store.record_alert,
            min_severity=config.alerts.min_severity,
            reopened=reopened,
        )
    return Recorded(scan_id, tuple(out), report, resolved)
