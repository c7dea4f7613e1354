"""Correlation links kept on the browser findings they explain.

``skimguard webroot scan --correlate`` and ``skimguard db scan --correlate`` find the file or row
behind a browser finding (:func:`skimguard.webroot.correlate.correlate`). The links are written
into that finding's evidence under ``explained_by`` (at most :data:`MAX_LINKS` per finding, newest
location wins), so ``findings list`` shows them and incident scoping can use a file's modification
time as evidence for the start of the exposure window. The finding's content hash is not changed:
a link is context, not a change of what the browser saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from skimguard.store import Store
from skimguard.store import tables as t
from skimguard.store.codec import bounded_json
from skimguard.webroot.correlate import Link, links_by_finding

__all__ = ["EVIDENCE_KEY", "MAX_LINKS", "explained_by", "record_links"]

EVIDENCE_KEY = "explained_by"
MAX_LINKS = 10


def _entry(link: Link) -> dict[str, Any]:
    return {
        "location": link.location[:500],
        "reason": link.reason,
        "needle": link.needle[:300],
        "excerpt": link.excerpt[:200],
        "mtime": link.mtime.isoformat() if link.mtime else None,
    }


def record_links(store: Store, site: str, links: Iterable[Link], *, actor: str) -> int:
    """Merge ``links`` into their browser findings' evidence; returns how many findings changed."""
    grouped = links_by_finding(links)
    if not grouped:
        return 0
    changed = 0
    with store.transaction(write=True) as s:
        rows = s.scalars(
            select(t.Finding).where(t.Finding.site == site, t.Finding.fingerprint.in_(sorted(grouped)))
        ).all()
        for row in rows:
            evidence = dict(row.evidence or {})
            old = [e for e in evidence.get(EVIDENCE_KEY, []) if isinstance(e, dict)]
            new = [_entry(link) for link in grouped[row.fingerprint]]
            locations = {e["location"] for e in new}
            merged = (new + [e for e in old if e.get("location") not in locations])[:MAX_LINKS]
            if merged == old:
                continue
            evidence[EVIDENCE_KEY] = merged
            row.evidence = bounded_json(evidence)
            changed += 1
        if changed:
            store.audit_event(
                s,
                site,
                actor=actor,
                action="correlate",
                subject=f"{changed} finding(s)",
                details={"findings": sorted(grouped)[:50]},
            )
    return changed


def explained_by(evidence: Any) -> Sequence[dict[str, Any]]:
    """The links recorded on a finding's evidence (empty when none or malformed)."""
    if not isinstance(evidence, dict):
        return ()
    raw = evidence.get(EVIDENCE_KEY, [])
    return tuple(e for e in raw if isinstance(e, dict)) if isinstance(raw, list) else ()
