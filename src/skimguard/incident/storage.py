"""Incidents in the store: the findings an incident groups, window evidence, the scoping result,
the people to tell and the notices sent.

The queries live here, not in :class:`skimguard.store.Store`, and run through its public
``transaction()``; every change is written to the site's audit trail. The evidence history that
exposure windows are computed from is read from the scanner's own tables: the scans that visited
a finding's page, and whether each saw the finding (``finding_sightings``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select

from skimguard.errors import StoreError
from skimguard.store import Store
from skimguard.store import tables as t
from skimguard.store.codec import bounded_json, clean

__all__ = [
    "EDGES",
    "EVIDENCE_KINDS",
    "EvidenceRow",
    "IncidentRow",
    "NoticeRow",
    "PersonRow",
    "SightingRow",
    "add_evidence",
    "get_incident",
    "list_incidents",
    "notices",
    "open_incident",
    "people",
    "record_notice",
    "save_scope",
    "scope_summary",
    "sightings",
    "update_details",
]

EDGES = ("start", "end")
EVIDENCE_KINDS = ("file-mtime", "access-log", "user", "payment-stopped")
OBSERVING_STATUSES = ("ok", "partial")  # scans whose pages were really looked at
MAX_PEOPLE_ROWS = 5_000_000


@dataclass(frozen=True)
class IncidentRow:
    id: str
    site: str
    title: str
    known_at: datetime
    zone: str
    status: str
    opened_at: datetime
    opened_by: str
    details: Mapping[str, Any]
    findings: tuple[tuple[str, str], ...]  # (fingerprint, variant)

    @property
    def variants(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for fingerprint, variant in self.findings:
            out.setdefault(variant, []).append(fingerprint)
        return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class EvidenceRow:
    id: int
    variant: str
    page: str
    edge: str
    kind: str
    at: datetime
    source: str
    forced: bool
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class SightingRow:
    """One look at a finding's page: a scan that visited it, and whether it saw the finding."""

    fingerprint: str
    scan_id: str
    at: datetime
    page: str  # the page name in the journey
    path: str  # the URL path the page was at
    seen: bool


@dataclass(frozen=True)
class PersonRow:
    person: str
    basis: str
    channel: str
    contact: Mapping[str, Any] = field(default_factory=dict)
    exposure: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NoticeRow:
    id: int
    person: str
    sent_at: datetime
    channel: str
    result: str
    note: str
    recorded_by: str


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(at: datetime) -> str:
    return f"INC-{at:%Y%m%d}-{secrets.token_hex(3)}"


def open_incident(
    store: Store,
    site: str,
    findings: Mapping[str, str],
    *,
    known_at: datetime,
    zone: str,
    title: str,
    actor: str,
    details: Mapping[str, Any] | None = None,
) -> IncidentRow:
    """Group stored findings (fingerprint -> variant name) into a new incident of ``site``.
    Every fingerprint must be a finding of that site (a unique prefix of 8+ characters is enough)."""
    if not findings:
        raise StoreError("an incident needs at least one finding (--finding FINGERPRINT)")
    now = _now()
    with store.transaction(write=True) as s:
        resolved: dict[str, str] = {}
        for given, variant in findings.items():
            prefix = given.strip().lower()
            if len(prefix) < 8:
                raise StoreError(f"finding {given!r}: give at least 8 characters of its fingerprint")
            rows = s.scalars(
                select(t.Finding.fingerprint)
                .where(t.Finding.site == site, t.Finding.fingerprint.startswith(prefix, autoescape=True))
                .limit(2)
            ).all()
            if not rows:
                raise StoreError(f"no finding {given!r} on site {site!r} (see 'skimguard findings --site {site}')")
            if len(rows) > 1:
                raise StoreError(f"finding {given!r} is ambiguous on site {site!r}: give more characters")
            resolved[rows[0]] = clean(variant, t.NAME) or "skimmer"
        incident_id = _new_id(now)
        s.add(
            t.Incident(
                id=incident_id,
                site=site,
                title=clean(title, 500),
                known_at=known_at.astimezone(UTC),
                zone=zone,
                status="open",
                opened_at=now,
                opened_by=clean(actor, 200),
                details=bounded_json(dict(details or {})),
            )
        )
        s.flush()
        for fingerprint, variant in resolved.items():
            s.add(t.IncidentFinding(incident_id=incident_id, fingerprint=fingerprint, variant=variant))
        store.audit_event(
            s,
            site,
            actor=actor,
            action="incident-open",
            subject=incident_id,
            details={"findings": sorted(resolved), "known_at": known_at.astimezone(UTC).isoformat()},
        )
    row = get_incident(store, incident_id)
    assert row is not None
    return row


def get_incident(store: Store, incident_id: str) -> IncidentRow | None:
    with store.transaction() as s:
        row = s.get(t.Incident, incident_id)
        if row is None:
            return None
        return _incident(s, row)


def list_incidents(store: Store, site: str | None = None) -> list[IncidentRow]:
    with store.transaction() as s:
        q = select(t.Incident).order_by(t.Incident.opened_at.desc(), t.Incident.id)
        if site is not None:
            q = q.where(t.Incident.site == site)
        return [_incident(s, r) for r in s.scalars(q)]


def _incident(s: Any, row: t.Incident) -> IncidentRow:
    links = s.execute(
        select(t.IncidentFinding.fingerprint, t.IncidentFinding.variant)
        .where(t.IncidentFinding.incident_id == row.id)
        .order_by(t.IncidentFinding.variant, t.IncidentFinding.fingerprint)
    ).all()
    return IncidentRow(
        id=row.id,
        site=row.site,
        title=row.title,
        known_at=row.known_at,
        zone=row.zone,
        status=row.status,
        opened_at=row.opened_at,
        opened_by=row.opened_by,
        details=dict(row.details or {}),
        findings=tuple((fp, variant) for fp, variant in links),
    )


def _require_incident(s: Any, incident_id: str) -> t.Incident:
    row = s.get(t.Incident, incident_id)
    if row is None:
        raise StoreError(f"no incident {incident_id!r} (see 'skimguard incident list')")
    return row  # type: ignore[no-any-return]


def update_details(store: Store, incident_id: str, changes: Mapping[str, Any], actor: str) -> IncidentRow:
    """Merge shop facts (enquiry desk, cause, measures, ...) into the incident's details."""
    with store.transaction(write=True) as s:
        row = _require_incident(s, incident_id)
        merged = {**dict(row.details or {}), **dict(changes)}
        row.details = bounded_json(merged)
        store.audit_event(
            s, row.site, actor=actor, action="incident-details", subject=incident_id, details={"keys": sorted(changes)}
        )
    out = get_incident(store, incident_id)
    assert out is not None
    return out


def add_evidence(
    store: Store,
    incident_id: str,
    *,
    variant: str,
    page: str,
    edge: str,
    kind: str,
    at: datetime,
    source: str,
    forced: bool,
    actor: str,
) -> EvidenceRow:
    """Record one refinement of a window edge, with its source."""
    if edge not in EDGES:
        raise StoreError(f"edge must be one of {'|'.join(EDGES)}, not {edge!r}")
    if kind not in EVIDENCE_KINDS:
        raise StoreError(f"evidence kind must be one of {'|'.join(EVIDENCE_KINDS)}, not {kind!r}")
    now = _now()
    with store.transaction(write=True) as s:
        inc = _require_incident(s, incident_id)
        row = t.IncidentEvidence(
            incident_id=incident_id,
            variant=clean(variant, t.NAME),
            page=clean(page, 2000),
            edge=edge,
            kind=kind,
            at=at.astimezone(UTC),
            source=clean(source, 2000),
            forced=forced,
            recorded_at=now,
            recorded_by=clean(actor, 200),
        )
        s.add(row)
        s.flush()
        store.audit_event(
            s,
            inc.site,
            actor=actor,
            action="incident-evidence",
            subject=incident_id,
            details={"variant": variant, "page": page, "edge": edge, "kind": kind, "at": at.isoformat()},
        )
        return _evidence(row)


def evidence(store: Store, incident_id: str) -> list[EvidenceRow]:
    with store.transaction() as s:
        q = (
            select(t.IncidentEvidence)
            .where(t.IncidentEvidence.incident_id == incident_id)
            .order_by(t.IncidentEvidence.id)
        )
        return [_evidence(r) for r in s.scalars(q)]


def _evidence(r: t.IncidentEvidence) -> EvidenceRow:
    return EvidenceRow(
        id=r.id,
        variant=r.variant,
        page=r.page,
        edge=r.edge,
        kind=r.kind,
        at=r.at,
        source=r.source,
        forced=r.forced,
        recorded_at=r.recorded_at,
        recorded_by=r.recorded_by,
    )


def sightings(store: Store, incident_id: str) -> list[SightingRow]:
    """Every scan (ok or partial) that visited the page of one of the incident's findings, oldest
    first, with whether it saw that finding: the observation history of the exposure windows."""
    with store.transaction() as s:
        inc = _require_incident(s, incident_id)
        out: list[SightingRow] = []
        links = s.scalars(select(t.IncidentFinding).where(t.IncidentFinding.incident_id == incident_id)).all()
        for link in links:
            finding = s.scalars(
                select(t.Finding).where(t.Finding.site == inc.site, t.Finding.fingerprint == link.fingerprint)
            ).one_or_none()
            if finding is None or not finding.page:
                continue
            seen = set(s.scalars(select(t.FindingSighting.scan_id).where(t.FindingSighting.finding_id == finding.id)))
            q = (
                select(t.Scan.id, t.Scan.started_at, t.Page.final_url, t.Page.url)
                .join(t.Page, t.Page.scan_id == t.Scan.id)
                .where(t.Scan.site == inc.site, t.Scan.status.in_(OBSERVING_STATUSES), t.Page.name == finding.page)
                .order_by(t.Scan.started_at, t.Scan.id)
            )
            visited: set[str] = set()
            for scan_id, started_at, final_url, url in s.execute(q):
                if scan_id in visited:
                    continue
                visited.add(scan_id)
                path = urlsplit(final_url or url).path or "/"
                out.append(
                    SightingRow(
                        fingerprint=link.fingerprint,
                        scan_id=scan_id,
                        at=started_at,
                        page=finding.page,
                        path=path,
                        seen=scan_id in seen,
                    )
                )
        out.sort(key=lambda r: (r.at, r.fingerprint, r.scan_id))
        return out


def save_scope(
    store: Store, incident_id: str, summary: Mapping[str, Any], persons: Iterable[PersonRow], actor: str
) -> int:
    """Replace the incident's scoping result and affected people; returns how many people."""
    now = _now()
    count = 0
    with store.transaction(write=True) as s:
        inc = _require_incident(s, incident_id)
        s.execute(delete(t.IncidentPerson).where(t.IncidentPerson.incident_id == incident_id))
        s.execute(delete(t.IncidentScope).where(t.IncidentScope.incident_id == incident_id))
        s.add(t.IncidentScope(incident_id=incident_id, computed_at=now, summary=bounded_json(dict(summary))))
        batch: list[dict[str, Any]] = []
        for p in persons:
            count += 1
            if count > MAX_PEOPLE_ROWS:
                raise StoreError(f"more than {MAX_PEOPLE_ROWS} affected people: refusing to store them")
            batch.append(
                {
                    "incident_id": incident_id,
                    "person": clean(p.person, t.NAME),
                    "basis": p.basis,
                    "channel": p.channel,
                    "contact": dict(p.contact),
                    "exposure": dict(p.exposure),
                }
            )
            if len(batch) >= 5000:
                s.execute(insert(t.IncidentPerson), batch)
                batch = []
        if batch:
            s.execute(insert(t.IncidentPerson), batch)
        store.audit_event(
            s, inc.site, actor=actor, action="incident-scope", subject=incident_id, details={"people": count}
        )
    return count


def scope_summary(store: Store, incident_id: str) -> tuple[datetime, dict[str, Any]] | None:
    with store.transaction() as s:
        row = s.get(t.IncidentScope, incident_id)
        return None if row is None else (row.computed_at, dict(row.summary))


def people(store: Store, incident_id: str) -> list[PersonRow]:
    with store.transaction() as s:
        q = (
            select(t.IncidentPerson)
            .where(t.IncidentPerson.incident_id == incident_id)
            .order_by(t.IncidentPerson.person)
        )
        return [
            PersonRow(person=r.person, basis=r.basis, channel=r.channel, contact=r.contact, exposure=r.exposure)
            for r in s.scalars(q)
        ]


def record_notice(
    store: Store,
    incident_id: str,
    records: Sequence[tuple[str, datetime, str, str, str]],
    actor: str,
) -> int:
    """Record notices sent: (person, sent_at, channel, result, note) each; unknown people are refused."""
    with store.transaction(write=True) as s:
        inc = _require_incident(s, incident_id)
        known = set(s.scalars(select(t.IncidentPerson.person).where(t.IncidentPerson.incident_id == incident_id)))
        for person, sent_at, channel, result, note in records:
            if person not in known:
                raise StoreError(f"{person!r} is not an affected person of {incident_id} (run 'incident scope' first)")
            s.add(
                t.IncidentNotice(
                    incident_id=incident_id,
                    person=person,
                    sent_at=sent_at.astimezone(UTC),
                    channel=clean(channel, t.SHORT),
                    result=clean(result, t.SHORT),
                    note=clean(note, 2000),
                    recorded_by=clean(actor, 200),
                )
            )
        store.audit_event(
            s, inc.site, actor=actor, action="incident-notices", subject=incident_id, details={"count": len(records)}
        )
    return len(records)


def notices(store: Store, incident_id: str) -> list[NoticeRow]:
    with store.transaction() as s:
        q = select(t.IncidentNotice).where(t.IncidentNotice.incident_id == incident_id).order_by(t.IncidentNotice.id)
        return [
            NoticeRow(
                id=r.id,
                person=r.person,
                sent_at=r.sent_at,
                channel=r.channel,
                result=r.result,
                note=r.note,
                recorded_by=r.recorded_by,
            )
            for r in s.scalars(q)
        ]
