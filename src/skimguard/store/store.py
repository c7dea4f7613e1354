"""The store: the only API the rest of skimguard uses to read and write the database.

Each public method is one transaction. SQLite (one machine) and PostgreSQL (many sites, many
workers) behave the same; on SQLite, writing transactions start with ``BEGIN IMMEDIATE`` so two
processes never deadlock on a lock upgrade, and ``busy_timeout`` makes them wait for each other.

A scan is written in two steps: :meth:`Store.begin_scan` commits a ``running`` row at once, and
:meth:`Store.finish_scan` writes everything the scan saw in ONE transaction. A scan whose process
died is found ``running`` by the next :meth:`Store.open` and marked ``interrupted``; a failing
``finish_scan`` rolls back and marks it ``interrupted`` too, so no half-written scan is ever seen.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, delete, event, func, insert, or_, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from skimguard.errors import StoreError
from skimguard.intel import Indicator, IndicatorKind
from skimguard.models import (
    Category,
    ChangeRule,
    Confidence,
    Decision,
    Finding,
    InventoryItem,
    MatchType,
    PageCapture,
    RequestRecord,
    ScanResult,
    ScanStatus,
    ScriptKind,
    ScriptRecord,
    Severity,
    script_url_key,
    sha256_hex,
)
from skimguard.store import codec
from skimguard.store import migrate as migrations
from skimguard.store import tables as t

__all__ = ["AlertRow", "AuditRow", "BaselineRow", "ScanRow", "Store", "StoredFinding"]

# Findings of these categories come from the scanner: a clean (ok) scan that no longer sees
# one means the problem is gone. Telemetry and server findings have their own life cycles.
SCANNER_CATEGORIES = frozenset(
    c.value
    for c in (
        Category.INVENTORY,
        Category.HEADER,
        Category.FLOW,
        Category.EXFIL,
        Category.CODE,
        Category.HEALTH,
    )
)
# A scan still 'running' after this long is dead whoever owns it.
STALE_SCAN_AFTER = timedelta(hours=12)
MAX_BODY_BYTES = 32 * 1024 * 1024
IN_CHUNK = 500
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
_MIGRATION_LOCK_KEY = 0x5C1A6A4D  # pg_advisory_xact_lock key: one migrator at a time
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")
_HOST = socket.gethostname() or "localhost"
_LIVE_TOKENS: set[str] = set()  # tokens of the Store objects open in this process

_M = TypeVar("_M", bound=DeclarativeBase)
_Child = TypeVar("_Child", t.InventoryPage, t.InventoryHash)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Rows handed out by the store
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFinding:
    """A finding as persisted: the detector's :class:`Finding` plus its life-cycle state.

    ``finding.first_seen`` is filled from the database. Returned by ``finish_scan`` with
    ``new`` (first time ever seen), ``previous_content_hash`` (the hash stored before this scan,
    ``None`` when new) and ``reopened`` (it was resolved, or acknowledged and has changed since,
    and is open again) so alerting can decide what to send.
    """

    id: int
    finding: Finding
    status: str  # open | resolved | acknowledged
    last_seen: datetime
    previous_content_hash: str | None = None
    reopened: bool = False
    new: bool = False
    content_hash: str = ""
    last_scan_id: str | None = None
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_note: str | None = None

    @property
    def fingerprint(self) -> str:
        return self.finding.fingerprint

    @property
    def first_seen(self) -> datetime:
        assert self.finding.first_seen is not None
        return self.finding.first_seen


@dataclass(frozen=True)
class ScanRow:
    id: str
    site: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | ok | partial | failed | interrupted
    journeys: tuple[str, ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRow:
    id: int
    fingerprint: str
    site: str
    sink: str
    content_hash: str
    sent_at: datetime
    ok: bool
    error: str | None


@dataclass(frozen=True)
class BaselineRow:
    id: int
    site: str
    snapshot: dict[str, Any]
    accepted_at: datetime
    accepted_by: str
    note: str
    scan_id: str | None
    active: bool = True


@dataclass(frozen=True)
class AuditRow:
    id: int
    site: str
    at: datetime
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any] = field(default_factory=dict)


class _ScanConflict(StoreError):
    pass


@dataclass
class _Seen:
    """What one finish_scan observed of one inventory key (mutable accumulator)."""

    key: str
    kind: str
    url: str | None
    origin: str
    sha256: str | None
    size: int
    first: datetime
    last: datetime
    pages: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    hashes: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


class Store:
    """Open with :meth:`Store.open`; close with :meth:`close` (or use it as a context manager)."""

    url: str

    def __init__(self, engine: Engine, url: str) -> None:
        self.url = url
        self._engine = engine
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(engine.execution_options(skimguard_write=True), expire_on_commit=False)
        self._token = secrets.token_hex(8)
        _LIVE_TOKENS.add(self._token)

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect, upgrade the schema to head (unless ``migrate=False``, which then only checks
        that it is at head) and mark scans left ``running`` by a dead process ``interrupted``.

        ``url`` is a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``;
        ``postgresql://`` means psycopg 3) or a plain file path, taken as a SQLite database.
        """
        sa_url = _parse_url(url)
        engine = _create_engine(sa_url)
        store = cls(engine, url)
        try:
            store._prepare(migrate=migrate)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        _LIVE_TOKENS.discard(self._token)
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({_redact(self.url)!r})"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def _prepare(self, *, migrate: bool) -> None:
        where = _redact(self.url)
        try:
            with self._engine.connect():
                pass
        except DBAPIError as exc:
            raise StoreError(
                f"cannot connect to the database {where}: {_first_line(exc.orig)}",
                hint="is the database server running and the URL (host, port, user, database) right?",
            ) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot connect to the database {where}: {_first_line(exc)}") from exc
        try:
            with self._engine.execution_options(skimguard_write=True).begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
                current = migrations.current_revision(conn)
                head = migrations.HEAD_REVISION
                if migrate and current != head:
                    _upgrade(conn)
                elif current != head:
                    raise StoreError(
                        f"the database schema of {where} is at revision {current or 'none'}, "
                        f"this skimguard needs {head}",
                        hint="open it with migrations enabled (the default) to upgrade it",
                    )
        except _MigrationFailed as exc:
            raise StoreError(
                f"cannot migrate the database {where}: {exc}",
                hint="was it created by a newer skimguard? upgrade skimguard",
            ) from exc.__cause__
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate the database {where}: {_first_line(exc)}") from exc
        self._recover_interrupted()

    def _recover_interrupted(self) -> None:
        now = _utcnow()
        with self._tx(write=True) as s:
            running = s.execute(
                select(t.Scan.id, t.Scan.owner, t.Scan.started_at).where(t.Scan.status == "running")
            ).all()
            dead = [sid for sid, owner, started in running if _owner_gone(owner, started, now)]
            for chunk in _chunks(dead):
                s.execute(
                    update(t.Scan)
                    .where(t.Scan.id.in_(chunk), t.Scan.status == "running")
                    .values(
                        status="interrupted",
                        summary={"error": "the scanning process ended before the scan was stored"},
                    )
                )

    # ---- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Session]:
        """One transaction; database errors become :class:`StoreError`."""
        maker = self._writer if write else self._reader
        try:
            with maker() as session, session.begin():
                yield session
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {_first_line(exc)}") from exc

    def transaction(self, *, write: bool = False) -> contextlib.AbstractContextManager[Session]:
        """One transaction for a subsystem that keeps its queries in its own module (webroot,
        incidents): ``with store.transaction(write=True) as s: ...``. Errors become :class:`StoreError`."""
        return self._tx(write=write)

    def audit_event(
        self, s: Session, site: str, *, actor: str, action: str, subject: str, details: Mapping[str, Any]
    ) -> None:
        """Record one audit-trail entry for ``site`` inside the caller's transaction."""
        self._audit(s, site, actor, action, subject, details)

    def _owner(self) -> str:
        return f"{_HOST}:{os.getpid()}:{self._token}"

    def _site(self, s: Session, name: str, base_url: str | None = None, *, lock: bool = False) -> t.Site:
        """The site row, created when missing; ``lock`` serializes writers of one site (PG)."""
        _check_ident(name, "site name")
        _insert_ignore(
            s,
            t.Site,
            [{"name": name, "base_url": codec.clean_url(base_url or ""), "created_at": _utcnow()}],
            ["name"],
        )
        q = select(t.Site).where(t.Site.name == name)
        if lock:
            q = q.with_for_update()
        row = s.scalars(q).one()
        if base_url is not None and row.base_url != codec.clean_url(base_url):
            row.base_url = codec.clean_url(base_url)
        return row

    def _audit(
        self, s: Session, site: str, actor: str, action: str, subject: str, details: Mapping[str, Any]
    ) -> None:
        s.add(
            t.AuditEntry(
                site=site,
                at=_utcnow(),
                actor=codec.clean(actor, codec.MAX_SHORT),
                action=codec.clean(action, t.SHORT),
                subject=codec.clean(subject, codec.MAX_URL),
                details=codec.bounded_json(details),
            )
        )

    # ---- sites and scans ---------------------------------------------------------------------

    def ensure_site(self, name: str, base_url: str) -> None:
        with self._tx(write=True) as s:
            self._site(s, name, base_url)

    def begin_scan(self, site: str, scan_id: str, started_at: datetime) -> None:
        """Record a ``running`` scan, committed at once."""
        _check_ident(scan_id, "scan id")
        with self._tx(write=True) as s:
            self._site(s, site)
            if s.get(t.Scan, scan_id) is not None:
                raise StoreError(f"a scan with id {scan_id!r} already exists")
            s.add(
                t.Scan(
                    id=scan_id,
                    site=site,
                    started_at=started_at,
                    finished_at=None,
                    status="running",
                    journeys=[],
                    summary={},
                    owner=self._owner(),
                )
            )

    def finish_scan(self, result: ScanResult) -> list[StoredFinding]:
        """Store everything ``result`` holds in ONE transaction and return its stored findings.

        Writes pages, their scripts and requests, new script bodies (once per sha256, zlib),
        the inventory, and upserts findings by fingerprint (first_seen kept, last_seen bumped,
        sighting recorded, resolved ones reopened). When ``result.status`` is ``ok``, open
        scanner findings of the site that this scan did not see again are resolved. On any
        failure everything is rolled back, the scan is marked ``interrupted`` and
        :class:`StoreError` is raised.
        """
        _check_ident(result.scan_id, "scan id")
        _check_ident(result.site, "site name")
        try:
            with self._tx(write=True) as s:
                return self._finish(s, result)
        except _ScanConflict:
            raise
        except Exception as exc:
            self._mark_interrupted(result, exc)
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"could not store scan {result.scan_id}: {_first_line(exc)}") from exc

    def _mark_interrupted(self, result: ScanResult, exc: BaseException) -> None:
        note = {"error": codec.clean(f"storing the scan failed: {_first_line(exc)}", codec.MAX_TEXT)}
        with contextlib.suppress(StoreError, SQLAlchemyError), self._tx(write=True) as s:
            self._site(s, result.site)
            scan = s.get(t.Scan, result.scan_id)
            if scan is None:
                s.add(
                    t.Scan(
                        id=result.scan_id,
                        site=result.site,
                        started_at=result.started_at,
                        finished_at=None,
                        status="interrupted",
                        journeys=[],
                        summary=note,
                        owner=self._owner(),
                    )
                )
            elif scan.status in ("running", "interrupted"):
                scan.status = "interrupted"
                scan.summary = note

    def _finish(self, s: Session, result: ScanResult) -> list[StoredFinding]:
        self._site(s, result.site, lock=True)
        scan = s.get(t.Scan, result.scan_id, with_for_update=True)
        if scan is None:
            scan = t.Scan(
                id=result.scan_id,
                site=result.site,
                started_at=result.started_at,
                finished_at=None,
                status="running",
                journeys=[],
                summary={},
                owner=self._owner(),
            )
            s.add(scan)
            s.flush()
        elif scan.site != result.site:
            raise _ScanConflict(f"scan {result.scan_id!r} belongs to site {scan.site!r}, not {result.site!r}")
        elif scan.status not in ("running", "interrupted"):
            raise _ScanConflict(f"scan {result.scan_id!r} is already stored (status {scan.status})")

        bodies = self._store_bodies(s, result)
        counts = self._store_pages(s, result)
        self._update_inventory(s, result)
        stored = self._upsert_findings(s, result)

        severities: dict[str, int] = defaultdict(int)
        for sf in stored:
            severities[sf.finding.severity.label] += 1
        worst = result.worst()
        journeys: list[str] = []
        for cap in result.captures:
            name = codec.clean(cap.journey, t.NAME)
            if name not in journeys:
                journeys.append(name)
        scan.finished_at = result.finished_at
        scan.status = result.status.value
        scan.journeys = journeys
        scan.summary = {
            **counts,
            "new_bodies": bodies,
            "findings": len(stored),
            "worst": worst.label if worst is not None else None,
            "severities": dict(severities),
            "captures": [
                {
                    "journey": codec.clean(cap.journey, t.NAME),
                    "status": cap.status.value,
                    "started_at": cap.started_at.isoformat(),
                    "finished_at": cap.finished_at.isoformat(),
                    "user_agent": codec.clean(cap.user_agent, codec.MAX_SHORT),
                    "pages": len(cap.pages),
                    "problems": [codec.problem_to_json(p) for p in cap.problems[: codec.MAX_PROBLEMS]],
                }
                for cap in result.captures
            ],
        }
        return stored

    def _store_bodies(self, s: Session, result: ScanResult) -> int:
        bodies: dict[str, bytes] = {}
        for cap in result.captures:
            for data in cap.bodies.values():
                if len(data) <= MAX_BODY_BYTES:
                    # Keyed by the hash of the bytes actually stored, whatever the capture claimed.
                    bodies.setdefault(sha256_hex(data), bytes(data))
        if not bodies:
            return 0
        existing: set[str] = set()
        for chunk in _chunks(sorted(bodies)):
            existing.update(s.scalars(select(t.ScriptBody.sha256).where(t.ScriptBody.sha256.in_(chunk))))
        now = _utcnow()
        rows = [
            {"sha256": h, "size": len(d), "data": zlib.compress(d, 6), "created_at": now}
            for h, d in bodies.items()
            if h not in existing
        ]
        _insert_ignore(s, t.ScriptBody, rows, ["sha256"])
        return len(rows)

    def _store_pages(self, s: Session, result: ScanResult) -> dict[str, int]:
        page_rows: list[dict[str, Any]] = []
        pages: list[PageCapture] = []
        for cap in result.captures:
            journey = codec.clean(cap.journey, t.NAME)
            for page in cap.pages:
                row = codec.page_columns(page)
                row.update(scan_id=result.scan_id, journey=journey, position=len(page_rows))
                page_rows.append(row)
                pages.append(page)
        if not page_rows:
            return {"pages": 0, "scripts": 0, "requests": 0}
        ids = list(s.scalars(insert(t.Page).returning(t.Page.id, sort_by_parameter_order=True), page_rows))
        script_rows: list[dict[str, Any]] = []
        request_rows: list[dict[str, Any]] = []
        for page_id, page in zip(ids, pages, strict=True):
            for i, script in enumerate(page.scripts[: codec.MAX_SCRIPTS]):
                script_rows.append({"page_id": page_id, "position": i, **codec.script_to_json(script)})
            for i, req in enumerate(page.requests[: codec.MAX_REQUESTS]):
                request_rows.append({"page_id": page_id, "position": i, **codec.request_to_json(req)})
        if script_rows:
            s.execute(insert(t.PageScript), script_rows)
        if request_rows:
            s.execute(insert(t.Request), request_rows)
        return {"pages": len(page_rows), "scripts": len(script_rows), "requests": len(request_rows)}

    def _update_inventory(self, s: Session, result: ScanResult) -> None:
        seen: dict[str, _Seen] = {}
        for cap in result.captures:
            at = cap.started_at
            for page in cap.pages:
                page_name = codec.clean(page.name, codec.MAX_SHORT)
                for script in page.scripts[: codec.MAX_SCRIPTS]:
                    _observe(seen, script, page_name, at)
        if not seen:
            return
        by_hash = {_key_hash(k): v for k, v in seen.items()}
        rows: dict[str, t.InventoryEntry] = {}
        for chunk in _chunks(list(by_hash)):
            for entry in s.scalars(
                select(t.InventoryEntry).where(
                    t.InventoryEntry.site == result.site, t.InventoryEntry.key_hash.in_(chunk)
                )
            ):
                rows[entry.key_hash] = entry
        for kh, obs in by_hash.items():
            row = rows.get(kh)
            if row is None:
                rows[kh] = row = t.InventoryEntry(
                    site=result.site,
                    key=obs.key,
                    key_hash=kh,
                    kind=obs.kind,
                    url=obs.url,
                    origin=obs.origin,
                    sha256=obs.sha256,
                    size=obs.size,
                    first_seen=obs.first,
                    last_seen=obs.last,
                    hashes_seen=0,
                )
                s.add(row)
                continue
            row.first_seen = min(row.first_seen, obs.first)
            if obs.last >= row.last_seen:  # scans may be stored out of order
                row.last_seen = obs.last
                row.kind = obs.kind
                row.url = obs.url
                row.origin = obs.origin
                if obs.sha256 is not None:
                    row.sha256 = obs.sha256
                    row.size = obs.size
        s.flush()
        ids = {kh: row.id for kh, row in rows.items()}
        self._merge_children(s, t.InventoryPage, "page", {ids[kh]: o.pages for kh, o in by_hash.items()})
        counts = self._merge_children(
            s, t.InventoryHash, "sha256", {ids[kh]: o.hashes for kh, o in by_hash.items()}
        )
        for kh, row in rows.items():
            row.hashes_seen = counts.get(ids[kh], 0)

    def _merge_children(
        self,
        s: Session,
        model: type[_Child],
        attr: str,
        observed: Mapping[int, Mapping[str, tuple[datetime, datetime]]],
    ) -> dict[int, int]:
        """Upsert (inventory_id, value) rows with first/last seen; returns rows per inventory id."""
        existing: dict[tuple[int, str], _Child] = {}
        for chunk in _chunks(list(observed)):
            for child in s.scalars(select(model).where(model.inventory_id.in_(chunk))):
                existing[(child.inventory_id, getattr(child, attr))] = child
        counts: dict[int, int] = defaultdict(int)
        for inv_id, _value in existing:
            counts[inv_id] += 1
        new_rows: list[dict[str, Any]] = []
        for inv_id, values in observed.items():
            for value, (first, last) in values.items():
                old = existing.get((inv_id, value))
                if old is None:
                    new_rows.append(
                        {"inventory_id": inv_id, attr: value, "first_seen": first, "last_seen": last}
                    )
                    counts[inv_id] += 1
                else:
                    old.first_seen = min(old.first_seen, first)
                    old.last_seen = max(old.last_seen, last)
        if new_rows:
            s.execute(insert(model), new_rows)
        return counts

    def _upsert_findings(self, s: Session, result: ScanResult) -> list[StoredFinding]:
        seen_at = result.started_at
        unique: dict[tuple[str, str], Finding] = {}
        for f in map(_safe_finding, result.findings):
            k = (f.site, f.fingerprint)
            if k not in unique or f.severity > unique[k].severity:
                unique[k] = f
        existing: dict[tuple[str, str], t.Finding] = {}
        fingerprints = sorted({fp for _site, fp in unique})
        for chunk in _chunks(fingerprints):
            for found in s.scalars(select(t.Finding).where(t.Finding.fingerprint.in_(chunk))):
                existing[(found.site, found.fingerprint)] = found
        pending: list[tuple[t.Finding, Finding, str | None, bool, bool]] = []
        for (site, fp), f in unique.items():
            row = existing.get((site, fp))
            values = _finding_values(f)
            if row is None:
                row = t.Finding(
                    fingerprint=fp,
                    site=codec.clean(site, t.NAME),
                    first_seen=f.first_seen or seen_at,
                    last_seen=seen_at,
                    last_scan_id=result.scan_id,
                    status="open",
                    resolved_at=None,
                    **values,
                )
                s.add(row)
                pending.append((row, f, None, False, True))
                continue
            previous = row.content_hash
            reopened = row.status == "resolved" or (
                row.status == "acknowledged" and previous != f.content_hash
            )
            if reopened:
                row.status = "open"
                row.resolved_at = None
            # Kept, unless a scan stored late saw it earlier (workers finish out of order).
            row.first_seen = min(row.first_seen, f.first_seen or seen_at)
            if seen_at >= row.last_seen:
                for name, value in values.items():
                    setattr(row, name, value)
                row.last_seen = seen_at
                row.last_scan_id = result.scan_id
            pending.append((row, f, previous, reopened, False))
        s.flush()
        _insert_ignore(
            s,
            t.FindingSighting,
            [{"finding_id": row.id, "scan_id": result.scan_id, "seen_at": seen_at} for row, *_ in pending],
            ["finding_id", "scan_id"],
        )
        if result.status is ScanStatus.OK:
            seen_ids = {row.id for row, *_ in pending}
            stale = [
                fid
                for fid, last_seen in s.execute(
                    select(t.Finding.id, t.Finding.last_seen).where(
                        t.Finding.site == result.site,
                        t.Finding.status == "open",
                        t.Finding.category.in_(sorted(SCANNER_CATEGORIES)),
                    )
                )
                if fid not in seen_ids and last_seen <= seen_at
            ]
            for chunk in _chunks(stale):
                s.execute(
                    update(t.Finding)
                    .where(t.Finding.id.in_(chunk))
                    .values(status="resolved", resolved_at=result.finished_at)
                )
        return [
            _stored(row, replace(f, first_seen=row.first_seen), previous, reopened, new)
            for row, f, previous, reopened, new in pending
        ]

    def scans(self, site: str | None = None, limit: int = 20) -> list[ScanRow]:
        with self._tx() as s:
            q = select(t.Scan).order_by(t.Scan.started_at.desc(), t.Scan.id.desc()).limit(max(0, limit))
            if site is not None:
                q = q.where(t.Scan.site == site)
            return [_scan_row(r) for r in s.scalars(q)]

    def scan(self, scan_id: str) -> ScanRow | None:
        with self._tx() as s:
            row = s.get(t.Scan, scan_id)
            return _scan_row(row) if row is not None else None

    def scan_pages(self, scan_id: str) -> list[PageCapture]:
        """The pages of a scan, rebuilt from the rows, in capture order."""
        with self._tx() as s:
            return self._pages(s, scan_id)

    def last_capture_pages(self, site: str) -> list[PageCapture]:
        """The pages of the latest finished (ok or partial) scan of ``site``; [] when none."""
        with self._tx() as s:
            scan_id = s.scalars(
                select(t.Scan.id)
                .where(t.Scan.site == site, t.Scan.status.in_(("ok", "partial")))
                .order_by(t.Scan.finished_at.desc(), t.Scan.started_at.desc(), t.Scan.id.desc())
                .limit(1)
            ).first()
            return self._pages(s, scan_id) if scan_id is not None else []

    def _pages(self, s: Session, scan_id: str) -> list[PageCapture]:
        page_rows = list(s.scalars(select(t.Page).where(t.Page.scan_id == scan_id).order_by(t.Page.position)))
        if not page_rows:
            return []
        ids = [p.id for p in page_rows]
        scripts: dict[int, list[ScriptRecord]] = defaultdict(list)
        requests: dict[int, list[RequestRecord]] = defaultdict(list)
        ps, rq = t.PageScript.__table__, t.Request.__table__
        for chunk in _chunks(ids):
            # Core rows, not ORM objects: a page can have thousands of requests.
            for m in s.execute(
                select(ps).where(ps.c.page_id.in_(chunk)).order_by(ps.c.page_id, ps.c.position)
            ).mappings():
                scripts[m["page_id"]].append(codec.script_from_json(dict(m)))
            for m in s.execute(
                select(rq).where(rq.c.page_id.in_(chunk)).order_by(rq.c.page_id, rq.c.position)
            ).mappings():
                requests[m["page_id"]].append(codec.request_from_json(dict(m)))
        return [codec.page_from_columns(_columns(p), scripts[p.id], requests[p.id]) for p in page_rows]

    # ---- bodies ------------------------------------------------------------------------------

    def body(self, sha256: str) -> bytes | None:
        """The script bytes with this sha256 (full lower-case hex), or None."""
        with self._tx() as s:
            row = s.get(t.ScriptBody, sha256.strip().lower())
            if row is None:
                return None
            try:
                return zlib.decompress(row.data)
            except zlib.error as exc:
                raise StoreError(f"script body {sha256} is corrupt in the database: {exc}") from exc

    # ---- findings ----------------------------------------------------------------------------

    def findings(
        self,
        site: str | None = None,
        *,
        status: str | None = "open",
        min_severity: Severity | None = None,
        scan_id: str | None = None,
    ) -> list[StoredFinding]:
        """Stored findings, most severe first. ``status=None`` means any status; ``scan_id``
        limits them to the findings that scan saw."""
        if status is not None and status not in t.FINDING_STATUSES:
            raise StoreError(f"unknown finding status {status!r} (expected {'|'.join(t.FINDING_STATUSES)})")
        with self._tx() as s:
            q = select(t.Finding)
            if site is not None:
                q = q.where(t.Finding.site == site)
            if status is not None:
                q = q.where(t.Finding.status == status)
            if min_severity is not None:
                q = q.where(t.Finding.severity >= int(min_severity))
            if scan_id is not None:
                q = q.where(
                    t.Finding.id.in_(
                        select(t.FindingSighting.finding_id).where(t.FindingSighting.scan_id == scan_id)
                    )
                )
            q = q.order_by(t.Finding.severity.desc(), t.Finding.last_seen.desc(), t.Finding.id)
            return [_stored(r, _finding_from_row(r)) for r in s.scalars(q)]

    def resolve_findings(self, site: str, fingerprints: Iterable[str], at: datetime) -> int:
        """Resolve the open findings of ``site`` with these fingerprints (a subsystem that knows
        its findings are gone: a database scan that no longer sees a row's skimmer). Returns how
        many were open."""
        wanted = sorted(set(fingerprints))
        with self._tx(write=True) as s:
            ids = [
                fid
                for chunk in _chunks(wanted)
                for fid in s.scalars(
                    select(t.Finding.id).where(
                        t.Finding.site == site, t.Finding.status == "open", t.Finding.fingerprint.in_(chunk)
                    )
                )
            ]
            for chunk in _chunks(ids):
                s.execute(update(t.Finding).where(t.Finding.id.in_(chunk)).values(status="resolved", resolved_at=at))
        return len(ids)

    def acknowledge(self, fingerprint: str, actor: str, note: str) -> None:
        """Mark a finding acknowledged (it stays so until its content changes); audit logged."""
        _require(actor, "an acknowledgement needs an actor")
        with self._tx(write=True) as s:
            rows = list(s.scalars(select(t.Finding).where(t.Finding.fingerprint == fingerprint)))
            if not rows:
                raise StoreError(f"no finding with fingerprint {fingerprint!r}")
            now = _utcnow()
            for row in rows:
                previous = row.status
                row.status = "acknowledged"
                row.acknowledged_by = codec.clean(actor, codec.MAX_SHORT)
                row.acknowledged_at = now
                row.acknowledged_note = codec.clean(note, codec.MAX_EVIDENCE_STRING)
                self._audit(
                    s,
                    row.site,
                    actor,
                    "finding.acknowledge",
                    fingerprint,
                    {"rule_id": row.rule_id, "title": row.title, "previous_status": previous, "note": note},
                )

    # ---- alerts log --------------------------------------------------------------------------

    def last_alert(self, fingerprint: str, sink: str) -> AlertRow | None:
        """The latest *successful* delivery of ``fingerprint`` to ``sink``."""
        return self._last_alert(fingerprint, sink, ok_only=True)

    def last_alert_attempt(self, fingerprint: str, sink: str) -> AlertRow | None:
        """The latest delivery attempt, successful or not."""
        return self._last_alert(fingerprint, sink, ok_only=False)

    def _last_alert(self, fingerprint: str, sink: str, *, ok_only: bool) -> AlertRow | None:
        with self._tx() as s:
            q = select(t.Alert).where(t.Alert.fingerprint == fingerprint, t.Alert.sink == sink)
            if ok_only:
                q = q.where(t.Alert.ok.is_(True))
            row = s.scalars(q.order_by(t.Alert.sent_at.desc(), t.Alert.id.desc()).limit(1)).first()
            if row is None:
                return None
            return AlertRow(
                id=row.id,
                fingerprint=row.fingerprint,
                site=row.site,
                sink=row.sink,
                content_hash=row.content_hash,
                sent_at=row.sent_at,
                ok=row.ok,
                error=row.error,
            )

    def record_alert(
        self,
        fingerprint: str,
        site: str,
        sink: str,
        content_hash: str,
        ok: bool,
        error: str | None,
        *,
        at: datetime | None = None,
    ) -> None:
        with self._tx(write=True) as s:
            s.add(
                t.Alert(
                    fingerprint=codec.clean(fingerprint, t.SHA),
                    site=codec.clean(site, t.NAME),
                    sink=codec.clean(sink, t.NAME),
                    content_hash=codec.clean(content_hash, t.SHA),
                    sent_at=at or _utcnow(),
                    ok=bool(ok),
                    error=codec.clean_opt(error, codec.MAX_TEXT),
                )
            )

    # ---- baseline ----------------------------------------------------------------------------

    def save_baseline(
        self, site: str, snapshot: Mapping[str, Any], scan_id: str | None, actor: str, note: str
    ) -> int:
        """Accept a new baseline (the older ones are deactivated); audit logged. Returns its id."""
        _require(actor, "accepting a baseline needs an actor")
        with self._tx(write=True) as s:
            self._site(s, site, lock=True)
            previous = list(
                s.scalars(select(t.Baseline.id).where(t.Baseline.site == site, t.Baseline.active.is_(True)))
            )
            if previous:
                s.execute(update(t.Baseline).where(t.Baseline.id.in_(previous)).values(active=False))
            row = t.Baseline(
                site=site,
                accepted_at=_utcnow(),
                accepted_by=codec.clean(actor, codec.MAX_SHORT),
                note=codec.clean(note, codec.MAX_EVIDENCE_STRING),
                scan_id=codec.clean_opt(scan_id, t.NAME),
                snapshot=codec.json_safe(dict(snapshot)),
                active=True,
            )
            s.add(row)
            s.flush()
            self._audit(
                s,
                site,
                actor,
                "baseline.accept",
                f"baseline:{row.id}",
                {"baseline_id": row.id, "scan_id": scan_id, "note": note, "replaces": previous},
            )
            return row.id

    def baseline(self, site: str) -> BaselineRow | None:
        """The active (newest accepted) baseline of ``site``."""
        with self._tx() as s:
            row = s.scalars(
                select(t.Baseline)
                .where(t.Baseline.site == site, t.Baseline.active.is_(True))
                .order_by(t.Baseline.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            return BaselineRow(
                id=row.id,
                site=row.site,
                snapshot=dict(row.snapshot),
                accepted_at=row.accepted_at,
                accepted_by=row.accepted_by,
                note=row.note,
                scan_id=row.scan_id,
                active=row.active,
            )

    # ---- inventory ---------------------------------------------------------------------------

    def inventory(self, site: str) -> list[InventoryItem]:
        """Every script ever seen on ``site``, by key."""
        with self._tx() as s:
            rows = list(
                s.scalars(
                    select(t.InventoryEntry)
                    .where(t.InventoryEntry.site == site)
                    .order_by(t.InventoryEntry.key)
                )
            )
            return self._items(s, rows)

    def inventory_item(self, site: str, key: str) -> InventoryItem | None:
        """The inventory entry with exactly this key (``ScriptRecord.key``)."""
        with self._tx() as s:
            row = s.scalars(
                select(t.InventoryEntry).where(
                    t.InventoryEntry.site == site, t.InventoryEntry.key_hash == _key_hash(key)
                )
            ).first()
            return self._items(s, [row])[0] if row is not None else None

    def find_inventory(self, site: str, query: str) -> list[InventoryItem]:
        """Entries matching ``query``: an exact key, a script URL (query string ignored), or a
        sha256 prefix of at least 8 hex digits (latest bytes or any bytes ever seen)."""
        q = query.strip()
        if not q:
            return []
        key_hashes = {_key_hash(q), _key_hash(script_url_key(q))}
        conds: list[Any] = [t.InventoryEntry.key_hash.in_(sorted(key_hashes)), t.InventoryEntry.url == q]
        prefix = q.lower()
        if _HEX_PREFIX.match(prefix):
            pattern = prefix + "%"
            conds.append(t.InventoryEntry.sha256.like(pattern))
            conds.append(
                t.InventoryEntry.id.in_(
                    select(t.InventoryHash.inventory_id).where(t.InventoryHash.sha256.like(pattern))
                )
            )
        with self._tx() as s:
            rows = list(
                s.scalars(
                    select(t.InventoryEntry)
                    .where(t.InventoryEntry.site == site, or_(*conds))
                    .order_by(t.InventoryEntry.key)
                )
            )
            return self._items(s, rows)

    def _items(self, s: Session, rows: Sequence[t.InventoryEntry]) -> list[InventoryItem]:
        pages: dict[int, list[str]] = defaultdict(list)
        for chunk in _chunks([r.id for r in rows]):
            for inv_id, page in s.execute(
                select(t.InventoryPage.inventory_id, t.InventoryPage.page)
                .where(t.InventoryPage.inventory_id.in_(chunk))
                .order_by(t.InventoryPage.page)
            ):
                pages[inv_id].append(page)
        return [
            InventoryItem(
                site=r.site,
                key=r.key,
                kind=ScriptKind(r.kind),
                url=r.url,
                origin=r.origin,
                sha256=r.sha256,
                size=r.size,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
                pages=tuple(pages[r.id]),
                hashes_seen=r.hashes_seen,
            )
            for r in rows
        ]

    def add_decision(
        self,
        site: str,
        match: MatchType,
        value: str,
        justification: str,
        owner: str,
        actor: str,
        change_rule: ChangeRule,
        pinned_sha256: str | None,
    ) -> Decision:
        """Authorize a script (PCI DSS 6.4.3): a written justification is required; audit logged."""
        _check_ident(site, "site name")
        try:
            match = MatchType(match)
            change_rule = ChangeRule(change_rule)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        _require(justification, "a decision needs a written justification (PCI DSS 6.4.3)")
        _require(value, "a decision needs a value (hash, URL or pattern) to match")
        _require(actor, "a decision needs an actor")
        value = value.strip()
        if match is MatchType.HASH:
            value = value.lower()
            if not _HEX64.match(value):
                raise StoreError(f"a hash decision needs a full sha256 (64 hex digits), got {value[:80]!r}")
        if pinned_sha256 is not None:
            pinned_sha256 = pinned_sha256.strip().lower()
            if not _HEX64.match(pinned_sha256):
                raise StoreError(f"pinned_sha256 must be 64 hex digits, got {pinned_sha256[:80]!r}")
        with self._tx(write=True) as s:
            row = t.Decision(
                site=site,
                match=match.value,
                value=codec.clean(value, codec.MAX_URL),
                justification=codec.clean(justification.strip(), codec.MAX_EVIDENCE_STRING),
                owner=codec.clean(owner.strip(), codec.MAX_SHORT),
                actor=codec.clean(actor, codec.MAX_SHORT),
                at=_utcnow(),
                change_rule=change_rule.value,
                pinned_sha256=pinned_sha256,
                revoked_at=None,
                revoked_by=None,
                revoke_reason=None,
            )
            s.add(row)
            s.flush()
            self._audit(
                s,
                site,
                actor,
                "decision.add",
                f"decision:{row.id}",
                {
                    "decision_id": row.id,
                    "match": row.match,
                    "value": row.value,
                    "change_rule": row.change_rule,
                    "pinned_sha256": row.pinned_sha256,
                    "justification": row.justification,
                    "owner": row.owner,
                },
            )
            return _decision(row)

    def revoke_decision(self, decision_id: int, actor: str, reason: str) -> Decision:
        """Revoke an authorization; the row stays (with revoked_at/by/reason); audit logged."""
        _require(actor, "revoking a decision needs an actor")
        with self._tx(write=True) as s:
            row = s.get(t.Decision, decision_id, with_for_update=True)
            if row is None:
                raise StoreError(f"no decision with id {decision_id}")
            if row.revoked_at is not None:
                raise StoreError(
                    f"decision {decision_id} was already revoked at {row.revoked_at.isoformat()}"
                )
            row.revoked_at = _utcnow()
            row.revoked_by = codec.clean(actor, codec.MAX_SHORT)
            row.revoke_reason = codec.clean(reason, codec.MAX_EVIDENCE_STRING)
            self._audit(
                s,
                row.site,
                actor,
                "decision.revoke",
                f"decision:{row.id}",
                {"decision_id": row.id, "match": row.match, "value": row.value, "reason": reason},
            )
            return _decision(row)

    def decisions(self, site: str, *, include_revoked: bool = False) -> list[Decision]:
        with self._tx() as s:
            q = select(t.Decision).where(t.Decision.site == site)
            if not include_revoked:
                q = q.where(t.Decision.revoked_at.is_(None))
            return [_decision(r) for r in s.scalars(q.order_by(t.Decision.id))]

    def audit(self, site: str, limit: int = 200) -> list[AuditRow]:
        """The audit trail of ``site``, newest first."""
        with self._tx() as s:
            rows = s.scalars(
                select(t.AuditEntry)
                .where(t.AuditEntry.site == site)
                .order_by(t.AuditEntry.at.desc(), t.AuditEntry.id.desc())
                .limit(max(0, limit))
            )
            return [
                AuditRow(
                    id=r.id,
                    site=r.site,
                    at=r.at,
                    actor=r.actor,
                    action=r.action,
                    subject=r.subject,
                    details=dict(r.details),
                )
                for r in rows
            ]


    # ---- threat intelligence -----------------------------------------------------------------

    def replace_indicators(self, source: str, indicators: Sequence[Indicator], actor: str) -> IntelImport:
        """Store a feed: the indicators of ``source`` become exactly ``indicators`` (a re-import
        is a refresh). Audit logged under the site ``*``."""
        _check_ident(source, "intel source")
        now = _utcnow()
        wanted = {(i.kind.value, i.value): i for i in indicators}
        with self._tx(write=True) as s:
            old = {
                (kind, value): row_id
                for row_id, kind, value in s.execute(
                    select(t.IntelIndicator.id, t.IntelIndicator.kind, t.IntelIndicator.value).where(
                        t.IntelIndicator.source == source
                    )
                )
            }
            gone = [row_id for key, row_id in old.items() if key not in wanted]
            for chunk in _chunks(gone):
                s.execute(delete(t.IntelIndicator).where(t.IntelIndicator.id.in_(chunk)))
            new = [
                {"source": source, "kind": k, "value": v, "reference": i.reference[:2000], "imported_at": now}
                for (k, v), i in wanted.items()
                if (k, v) not in old
            ]
            for start in range(0, len(new), 5000):
                s.execute(insert(t.IntelIndicator), new[start : start + 5000])
            s.add(
                t.AuditEntry(
                    site="*", at=now, actor=actor, action="intel-import", subject=source,
                    details={"added": len(new), "removed": len(gone), "total": len(wanted)},
                )
            )  # fmt: skip
        return IntelImport(source=source, added=len(new), removed=len(gone), total=len(wanted), at=now)

    def indicators(self) -> list[Indicator]:
        with self._tx() as s:
            i = t.IntelIndicator
            rows = s.execute(select(i.kind, i.value, i.source, i.reference))
            out: list[Indicator] = []
            for kind, value, source, reference in rows:
                try:
                    out.append(Indicator(IndicatorKind(kind), value, source, reference))
                except ValueError:
                    continue  # a kind from a newer skimguard
            return out

    def intel_sources(self) -> list[tuple[str, int, datetime]]:
        """(source, indicator count, last import) of every imported feed."""
        with self._tx() as s:
            rows = s.execute(
                select(t.IntelIndicator.source, func.count(), func.max(t.IntelIndicator.imported_at))
                .group_by(t.IntelIndicator.source)
                .order_by(t.IntelIndicator.source)
            )
            return [(src, int(n), at) for src, n, at in rows]

    # ---- known-good files --------------------------------------------------------------------

    def add_known_good(self, sha256s: Sequence[tuple[str, str]], source: str, actor: str) -> int:
        """Mark files good by their sha256: ``(sha256, note)`` pairs, stored under ``source``
        (``manual``, or the name of a list). A hash already there takes the new note, source and
        actor (an upsert). Returns how many hashes were new. Audit logged under the site ``*``."""
        _check_ident(source, "known-good source")
        wanted: dict[str, str] = {}
        for digest, note in sha256s:
            wanted[_known_good_digest(digest)] = codec.clean(note, codec.MAX_TEXT)
        if not wanted:
            return 0
        now = _utcnow()
        who = codec.clean(actor, codec.MAX_SHORT)
        rows = [
            {"sha256": d, "note": n, "source": source, "added_by": who, "added_at": now} for d, n in wanted.items()
        ]
        with self._tx(write=True) as s:
            known: set[str] = set()
            for chunk in _chunks(wanted):
                known.update(s.scalars(select(t.KnownGood.sha256).where(t.KnownGood.sha256.in_(chunk))))
            for start in range(0, len(rows), 5000):
                self._upsert_known_good(s, rows[start : start + 5000])
            added = len(wanted) - len(known)
            sample = [[d, n[:200]] for d, n in list(wanted.items())[:50]]
            self._audit(
                s, "*", actor, "known-good-add", source,
                {"added": added, "updated": len(known), "total": len(wanted), "entries": sample},
            )  # fmt: skip
        return added

    @staticmethod
    def _upsert_known_good(s: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        changed = ("note", "source", "added_by", "added_at")
        if s.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            pg = pg_insert(t.KnownGood)
            update_pg = {c: pg.excluded[c] for c in changed}
            s.execute(pg.on_conflict_do_update(index_elements=["sha256"], set_=update_pg), list(rows))
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            lite = sqlite_insert(t.KnownGood)
            update_lite = {c: lite.excluded[c] for c in changed}
            s.execute(lite.on_conflict_do_update(index_elements=["sha256"], set_=update_lite), list(rows))

    def remove_known_good(self, sha256: str, actor: str) -> bool:
        """Forget a known-good hash; False when it was not in the store. Audit logged under ``*``."""
        digest = _known_good_digest(sha256)
        with self._tx(write=True) as s:
            row = s.get(t.KnownGood, digest)
            if row is None:
                return False
            details = {"source": row.source, "note": row.note[:200], "added_by": row.added_by}
            s.delete(row)
            self._audit(s, "*", actor, "known-good-remove", digest, details)
        return True

    def known_good(self) -> dict[str, tuple[str, str]]:
        """Every known-good hash in the store: sha256 -> (source, note)."""
        with self._tx() as s:
            rows = s.execute(select(t.KnownGood.sha256, t.KnownGood.source, t.KnownGood.note))
            return {digest: (source, note) for digest, source, note in rows}

    # ---- report collector (skimguard serve) ---------------------------------------------------

    def collector_key(self, site: str) -> str:
        """The site's report collector key, the ``{key}`` of ``POST /r/{key}``: 32 random
        URL-safe characters (192 bits), created on first use and kept."""
        _check_ident(site, "site name")
        with self._tx() as s:
            key = s.scalar(select(t.CollectorKey.key).where(t.CollectorKey.site == site))
        if key is not None:
            return key
        row = {"site": site, "key": secrets.token_urlsafe(24), "created_at": _utcnow()}
        with self._tx(write=True) as s:
            _insert_ignore(s, t.CollectorKey, [row], ["site"])  # another process may have won
            return s.scalars(select(t.CollectorKey.key).where(t.CollectorKey.site == site)).one()

    def rotate_collector_key(self, site: str, actor: str) -> str:
        """Give the site a new collector key (a running collector keeps the old one until it is
        restarted). Audit logged."""
        _check_ident(site, "site name")
        key, now = secrets.token_urlsafe(24), _utcnow()
        with self._tx(write=True) as s:
            row = s.get(t.CollectorKey, site)
            if row is None:
                s.add(t.CollectorKey(site=site, key=key, created_at=now))
            else:
                row.key, row.created_at = key, now
            self._audit(s, site, actor, "collector-key-rotate", site, {})
        return key

    def site_for_key(self, key: str) -> str | None:
        """The site whose collector key is ``key``, or None."""
        if not key or len(key) > t.SHORT:
            return None
        with self._tx() as s:
            return s.scalar(select(t.CollectorKey.site).where(t.CollectorKey.key == key))

    def collector_keys(self) -> dict[str, str]:
        """site -> collector key, for every site that has one."""
        with self._tx() as s:
            return {site: key for site, key in s.execute(select(t.CollectorKey.site, t.CollectorKey.key))}

    def record_reports(
        self,
        groups: Sequence[ReportGroup],
        activity: Mapping[str, tuple[int, int]],
        at: datetime | None = None,
    ) -> None:
        """Add a batch of collected reports in ONE transaction (the collector's group commit).

        Each group is upserted by (site, key): its count is added, ``last_seen`` moves to ``at``,
        ``first_seen`` stays, and each sample list (pages, user agents, samples, sources) takes
        new values up to :data:`MAX_REPORT_SAMPLES`. ``activity`` maps a site to (kept reports,
        noise reports) of the batch, added to the site's row for the hour of ``at``.
        """
        now = at or _utcnow()
        merged: dict[tuple[str, str], ReportGroup] = {}
        for g in groups:
            _check_ident(g.site, "site name")
            ident = (g.site, _report_key_hash(g.key))
            before = merged.get(ident)
            merged[ident] = g if before is None else _merge_groups(before, g)
        for site in activity:
            _check_ident(site, "site name")
        # Lists only grow and never pass MAX_REPORT_SAMPLES, so a value this store has seen in a
        # row's lists is still there: a group that brings nothing new only adds to the count, with
        # no read. The others read the row's lists, merge, and write them back.
        seen = self._report_lists()
        counted = {ident: g for ident, g in merged.items() if _brings_nothing_new(seen.get(ident), g)}
        sampled = {ident: g for ident, g in merged.items() if ident not in counted}
        try:
            with self._engine.execution_options(skimguard_write=True).begin() as conn:
                dialect = conn.dialect.name
                hashes: dict[str, list[str]] = defaultdict(list)
                for site, key_hash in sampled:
                    hashes[site].append(key_hash)
                known: dict[tuple[str, str], tuple[list[Any], ...]] = {}
                for site, site_hashes in hashes.items():
                    for chunk in _chunks(site_hashes):
                        for key_hash, *lists in conn.execute(_report_samples_query(), {"site": site, "hashes": chunk}):
                            known[(site, key_hash)] = tuple(lists)
                rows = [_report_row(site, kh, g, known.get((site, kh)), now) for (site, kh), g in sampled.items()]
                if rows:
                    conn.execute(_report_upsert(dialect, with_lists=True), rows)
                if counted:
                    rows_counted = [_report_row(site, kh, g, None, now) for (site, kh), g in counted.items()]
                    conn.execute(_report_upsert(dialect, with_lists=False), rows_counted)
                hour = now.replace(minute=0, second=0, microsecond=0)
                tallies = [
                    {"site": site, "hour": hour, "reports": kept, "noise": noise, "last_at": now}
                    for site, (kept, noise) in activity.items()
                    if kept or noise
                ]
                if tallies:
                    conn.execute(_activity_upsert(dialect), tallies)
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {_first_line(exc)}") from exc
        if len(seen) + len(rows) > MAX_CACHED_REPORT_ROWS:
            seen.clear()
        for row in rows:
            seen[(row["site"], row["key_hash"])] = tuple(row[name] for name in _REPORT_LISTS)

    def _report_lists(self) -> dict[tuple[str, str], tuple[list[str], ...]]:
        """(site, key_hash) -> the sample lists this store last wrote for the row (a bounded cache)."""
        try:
            return self._report_lists_cache
        except AttributeError:
            self._report_lists_cache: dict[tuple[str, str], tuple[list[str], ...]] = {}
            return self._report_lists_cache

    def reports(self, site: str, *, limit: int = 100, kind: str | None = None) -> list[StoredReport]:
        """The site's aggregated reports, most recently seen first."""
        r = t.CollectedReport
        query = select(r).where(r.site == site)
        if kind is not None:
            query = query.where(r.kind == kind)
        with self._tx() as s:
            rows = s.scalars(query.order_by(r.last_seen.desc(), r.id.desc()).limit(max(0, limit)))
            return [_stored_report(row) for row in rows]

    def report_total(self, site: str) -> int:
        """How many reports of the site were kept (the sum of the aggregated counts)."""
        with self._tx() as s:
            total = s.scalar(select(func.sum(t.CollectedReport.count)).where(t.CollectedReport.site == site))
            return int(total or 0)

    def report_activity(self, site: str, since: datetime | None = None) -> list[ReportHour]:
        """The site's hourly report counts (oldest first), from the hour holding ``since``."""
        a = t.ReportActivity
        query = select(a).where(a.site == site)
        if since is not None:
            query = query.where(a.hour >= since.replace(minute=0, second=0, microsecond=0))
        with self._tx() as s:
            return [
                ReportHour(site=row.site, hour=row.hour, reports=row.reports, noise=row.noise, last_at=row.last_at)
                for row in s.scalars(query.order_by(a.hour))
            ]

    def last_report_at(self, site: str) -> datetime | None:
        """When the collector last received a report (kept or noise) for the site."""
        with self._tx() as s:
            return s.scalar(select(func.max(t.ReportActivity.last_at)).where(t.ReportActivity.site == site))

    def prune_report_activity(self, before: datetime) -> int:
        """Forget hourly activity rows older than ``before``; returns how many went."""
        with self._tx(write=True) as s:
            result = s.execute(delete(t.ReportActivity).where(t.ReportActivity.hour < before))
            return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class IntelImport:
    source: str
    added: int
    removed: int
    total: int
    at: datetime


# ---- report collector rows ---------------------------------------------------------------------

MAX_REPORT_SAMPLES = 5  # values kept per sample list of an aggregated report
MAX_CACHED_REPORT_ROWS = 20_000  # rows whose sample lists a Store remembers
_REPORT_LISTS = ("pages", "user_agents", "samples", "sources")
ReportKey = tuple[str, str, str, str, str, str, str, str]


@dataclass(frozen=True)
class ReportGroup:
    """Reports of one site with one aggregate key, received ``count`` times (the input of
    :meth:`Store.record_reports`). ``key`` is :func:`skimguard.collector.reports.aggregate_key`:
    (kind, report_type, directive, blocked, document, hash, disposition, detail)."""

    site: str
    key: ReportKey
    count: int
    pages: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredReport:
    """One aggregated report row."""

    id: int
    site: str
    kind: str
    report_type: str
    directive: str
    blocked: str
    document: str
    hash: str
    disposition: str
    detail: str
    count: int
    first_seen: datetime
    last_seen: datetime
    pages: tuple[str, ...]
    user_agents: tuple[str, ...]
    samples: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ReportHour:
    """Reports received for a site in one hour: kept, noise (dropped by the parser), the last one."""

    site: str
    hour: datetime
    reports: int
    noise: int
    last_at: datetime


_STATEMENTS: dict[tuple[str, str], Any] = {}  # statements of the report collector, built once


def _upsert(
    dialect: str,
    table: Any,
    conflict: Sequence[str],
    *,
    add: Sequence[str] = (),
    latest: Sequence[str] = (),
    take: Sequence[str] = (),
) -> Any:
    """INSERT into ``table``; on a ``conflict`` the stored row gets the new values of the ``add``
    columns added, the later of the two ``latest`` values and the new ``take`` values."""
    from sqlalchemy import case
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    statement = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    new, old = statement.excluded, table.c
    changes: dict[str, Any] = {c: old[c] + new[c] for c in add}
    changes.update({c: case((new[c] > old[c], new[c]), else_=old[c]) for c in latest})
    changes.update({c: new[c] for c in take})
    return statement.on_conflict_do_update(index_elements=list(conflict), set_=changes)


def _report_upsert(dialect: str, *, with_lists: bool) -> Any:
    ident = (f"report-upsert-{with_lists}", dialect)
    if ident not in _STATEMENTS:
        _STATEMENTS[ident] = _upsert(
            dialect, t.CollectedReport.__table__, ("site", "key_hash"),
            add=("count",), latest=("last_seen",), take=_REPORT_LISTS if with_lists else (),
        )  # fmt: skip
    return _STATEMENTS[ident]


def _brings_nothing_new(lists: tuple[list[str], ...] | None, g: ReportGroup) -> bool:
    """Whether every sample value of ``g`` is in ``lists`` already (or that list is full)."""
    if lists is None:
        return False
    for old, new in zip(lists, (g.pages, g.user_agents, g.samples, g.sources), strict=True):
        if len(old) < MAX_REPORT_SAMPLES and any(value not in old for value in new):
            return False
    return True


def _activity_upsert(dialect: str) -> Any:
    ident = ("activity-upsert", dialect)
    if ident not in _STATEMENTS:
        _STATEMENTS[ident] = _upsert(
            dialect, t.ReportActivity.__table__, ("site", "hour"), add=("reports", "noise"), latest=("last_at",)
        )
    return _STATEMENTS[ident]


def _report_samples_query() -> Any:
    ident = ("report-samples", "")
    if ident not in _STATEMENTS:
        from sqlalchemy import bindparam

        r = t.CollectedReport.__table__.c
        _STATEMENTS[ident] = select(r.key_hash, r.pages, r.user_agents, r.samples, r.sources).where(
            r.site == bindparam("site"), r.key_hash.in_(bindparam("hashes", expanding=True))
        )
    return _STATEMENTS[ident]


def _report_key_hash(key: ReportKey) -> str:
    return hashlib.sha256("\x1f".join(key).encode("utf-8", "replace")).hexdigest()


def _bounded_union(old: Iterable[Any], new: Iterable[str], limit: int = MAX_REPORT_SAMPLES) -> list[str]:
    out: list[str] = []
    for value in (*old, *new):
        if isinstance(value, str) and value and value not in out:
            out.append(codec.clean(value, codec.MAX_URL))
            if len(out) >= limit:
                break
    return out


def _merge_groups(a: ReportGroup, b: ReportGroup) -> ReportGroup:
    return replace(
        a,
        count=a.count + b.count,
        pages=tuple(_bounded_union(a.pages, b.pages)),
        user_agents=tuple(_bounded_union(a.user_agents, b.user_agents)),
        samples=tuple(_bounded_union(a.samples, b.samples)),
        sources=tuple(_bounded_union(a.sources, b.sources)),
    )


def _report_row(
    site: str, key_hash: str, g: ReportGroup, known: tuple[list[Any], ...] | None, now: datetime
) -> dict[str, Any]:
    kind, report_type, directive, blocked, document, digest, disposition, detail = g.key
    old: tuple[list[Any], ...] = known or ([], [], [], [])
    return {
        "site": site,
        "key_hash": key_hash,
        "kind": codec.clean(kind, t.SHORT),
        "report_type": codec.clean(report_type, t.SHORT),
        "directive": codec.clean(directive, t.SHORT),
        "blocked": codec.clean(blocked, codec.MAX_URL),
        "document": codec.clean(document, codec.MAX_URL),
        "hash": codec.clean(digest, codec.MAX_SHORT),
        "disposition": codec.clean(disposition, t.SHORT),
        "detail": codec.clean(detail, codec.MAX_SHORT),
        "count": codec.bound_int(g.count),
        "first_seen": now,
        "last_seen": now,
        "pages": _bounded_union(old[0] or (), g.pages),
        "user_agents": _bounded_union(old[1] or (), g.user_agents),
        "samples": _bounded_union(old[2] or (), g.samples),
        "sources": _bounded_union(old[3] or (), g.sources),
    }


def _stored_report(row: t.CollectedReport) -> StoredReport:
    def strings(values: Any) -> tuple[str, ...]:
        return tuple(v for v in values or () if isinstance(v, str))

    return StoredReport(
        id=row.id,
        site=row.site,
        kind=row.kind,
        report_type=row.report_type,
        directive=row.directive,
        blocked=row.blocked,
        document=row.document,
        hash=row.hash,
        disposition=row.disposition,
        detail=row.detail,
        count=row.count,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        pages=strings(row.pages),
        user_agents=strings(row.user_agents),
        samples=strings(row.samples),
        sources=strings(row.sources),
    )


open_store = Store.open


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _parse_url(url: str) -> URL:
    raw = url.strip()
    if not raw:
        raise StoreError("the database URL is empty")
    if "://" not in raw:  # a plain path: a SQLite file
        return URL.create("sqlite", database=str(Path(raw).expanduser()))
    try:
        sa_url = make_url(raw)
    except ArgumentError:
        raise StoreError(
            f"not a database URL: {_redact(raw)}",
            hint="use sqlite:///path/to/skimguard.db or postgresql+psycopg://user@host:5432/db",
        ) from None
    if sa_url.drivername in ("postgresql", "postgres"):
        sa_url = sa_url.set(drivername="postgresql+psycopg")
    backend = sa_url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {backend!r} in {_redact(raw)}",
            hint="skimguard supports SQLite (sqlite:///file.db) and PostgreSQL (postgresql+psycopg://...)",
        )
    return sa_url


def _create_engine(sa_url: URL) -> Engine:
    where = sa_url.render_as_string(hide_password=True)
    try:
        if sa_url.get_backend_name() == "sqlite":
            database = sa_url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                try:
                    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the directory of {database}: {exc}") from exc
            engine = create_engine(sa_url)
            _setup_sqlite(engine)
            return engine
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in sa_url.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        return create_engine(sa_url, pool_pre_ping=True, connect_args=connect_args)
    except NoSuchModuleError as exc:
        raise StoreError(
            f"no database driver for {where}: {_first_line(exc)}",
            hint="for PostgreSQL install psycopg 3: pip install 'skimguard[postgres]'",
        ) from exc
    except ImportError as exc:
        raise StoreError(
            f"the database driver for {where} is not installed: {exc}",
            hint="for PostgreSQL install psycopg 3: pip install 'skimguard[postgres]'",
        ) from exc
    except (ArgumentError, SQLAlchemyError, ValueError, TypeError) as exc:
        raise StoreError(f"bad database URL {where}: {_first_line(exc)}") from exc


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are wrong for us).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("skimguard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _insert_ignore(
    s: Session, model: type[_M], rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
) -> None:
    """INSERT the rows, skipping those that collide on ``conflict`` (a unique key)."""
    if not rows:
        return
    name = s.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        s.execute(pg_insert(model).on_conflict_do_nothing(index_elements=list(conflict)), list(rows))
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        s.execute(sqlite_insert(model).on_conflict_do_nothing(index_elements=list(conflict)), list(rows))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        s.execute(insert(model), list(rows))


def _observe(seen: dict[str, _Seen], script: ScriptRecord, page: str, at: datetime) -> None:
    key = codec.clean_url(script.key)
    url = codec.clean_url_opt(script.url)
    origin = codec.clean_url(script.origin)
    sha = codec.clean_opt(script.sha256, t.SHA)
    size = codec.bound_int(script.size)
    obs = seen.get(key)
    if obs is None:
        obs = seen[key] = _Seen(key, script.kind.value, url, origin, sha, size, at, at)
    else:
        obs.first = min(obs.first, at)
        if at >= obs.last:
            obs.last = at
            obs.kind, obs.url, obs.origin = script.kind.value, url, origin
            if sha is not None:
                obs.sha256, obs.size = sha, size
    first, last = obs.pages.get(page, (at, at))
    obs.pages[page] = (min(first, at), max(last, at))
    if sha is not None:
        first, last = obs.hashes.get(sha, (at, at))
        obs.hashes[sha] = (min(first, at), max(last, at))


def _safe_finding(f: Finding) -> Finding:
    """``f`` with its strings bounded and made valid UTF-8 without NULs (page text is hostile;
    PostgreSQL text holds no NUL and no lone surrogate)."""
    return replace(
        f,
        rule_id=codec.clean(f.rule_id, t.SHORT),
        title=codec.clean(f.title, codec.MAX_TEXT),
        site=codec.clean(f.site, t.NAME),
        page=codec.clean_opt(f.page, codec.MAX_SHORT),
        script_url=codec.clean_url_opt(f.script_url),
        destination=codec.clean_url_opt(f.destination),
        subject=codec.clean(f.subject, codec.MAX_URL),
        evidence=codec.json_safe(f.evidence),
    )


def _finding_values(f: Finding) -> dict[str, Any]:
    """Column values of a finding row that follow the latest sighting."""
    return {
        "rule_id": codec.clean(f.rule_id, t.SHORT),
        "category": f.category.value,
        "severity": int(f.severity),
        "confidence": int(f.confidence),
        "title": codec.clean(f.title, codec.MAX_TEXT),
        "page": codec.clean_opt(f.page, codec.MAX_SHORT),
        "script_url": codec.clean_url_opt(f.script_url),
        "destination": codec.clean_url_opt(f.destination),
        "subject": codec.clean(f.subject, codec.MAX_URL),
        "evidence": codec.bounded_json(f.evidence),
        "content_hash": f.content_hash,
    }


def _finding_from_row(r: t.Finding) -> Finding:
    return Finding(
        rule_id=r.rule_id,
        category=Category(r.category),
        severity=Severity(r.severity),
        confidence=Confidence(r.confidence),
        title=r.title,
        site=r.site,
        page=r.page,
        script_url=r.script_url,
        destination=r.destination,
        subject=r.subject,
        evidence=dict(r.evidence),
        first_seen=r.first_seen,
    )


def _stored(
    r: t.Finding,
    finding: Finding,
    previous: str | None = None,
    reopened: bool = False,
    new: bool = False,
) -> StoredFinding:
    return StoredFinding(
        id=r.id,
        finding=finding,
        status=r.status,
        last_seen=r.last_seen,
        previous_content_hash=previous,
        reopened=reopened,
        new=new,
        content_hash=r.content_hash,
        last_scan_id=r.last_scan_id,
        resolved_at=r.resolved_at,
        acknowledged_by=r.acknowledged_by,
        acknowledged_at=r.acknowledged_at,
        acknowledged_note=r.acknowledged_note,
    )


def _scan_row(r: t.Scan) -> ScanRow:
    return ScanRow(
        id=r.id,
        site=r.site,
        started_at=r.started_at,
        finished_at=r.finished_at,
        status=r.status,
        journeys=tuple(str(j) for j in r.journeys or ()),
        summary=dict(r.summary or {}),
    )


def _decision(r: t.Decision) -> Decision:
    return Decision(
        id=r.id,
        site=r.site,
        match=MatchType(r.match),
        value=r.value,
        justification=r.justification,
        owner=r.owner,
        actor=r.actor,
        at=r.at,
        change_rule=ChangeRule(r.change_rule),
        pinned_sha256=r.pinned_sha256,
        revoked_at=r.revoked_at,
        revoked_by=r.revoked_by,
        revoke_reason=r.revoke_reason,
    )


def _columns(row: DeclarativeBase) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def _key_hash(key: str) -> str:
    return hashlib.sha256(codec.clean_url(key).encode("utf-8")).hexdigest()


def _chunks(items: Sequence[Any] | Iterable[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _owner_gone(owner: str | None, started_at: datetime, now: datetime) -> bool:
    """Whether the process that began a scan is certainly gone."""
    if started_at < now - STALE_SCAN_AFTER or not owner:
        return True
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return True
    host, pid_text, token = parts
    if host != _HOST:
        return False  # another machine: only the age tells
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return token not in _LIVE_TOKENS
    return not _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _check_ident(value: str, what: str) -> None:
    if not value or not value.strip():
        raise StoreError(f"the {what} is empty")
    if len(value) > t.NAME:
        raise StoreError(f"the {what} is longer than {t.NAME} characters: {value[:60]!r}...")
    if "\x00" in value:
        raise StoreError(f"the {what} contains a NUL character")


def _require(value: str | None, message: str) -> None:
    if value is None or not value.strip():
        raise StoreError(message)


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


class _MigrationFailed(Exception):
    """Alembic refused to migrate (e.g. a revision this skimguard does not know)."""


def _upgrade(conn: Any) -> None:
    """Run the migrations; Alembic is imported only here (opening a current store needs none of it)."""
    from alembic.util.exc import CommandError

    try:
        migrations.upgrade(conn)
    except CommandError as exc:
        raise _MigrationFailed(_first_line(exc)) from exc


def _first_line(exc: BaseException | None) -> str:
    text_ = str(exc) if exc is not None else ""
    line = text_.strip().splitlines()[0] if text_.strip() else type(exc).__name__
    return line[:500]


def _known_good_digest(value: str) -> str:
    """A sha256 as stored: 64 lowercase hex digits (surrounding blanks and upper case accepted)."""
    digest = value.strip().lower()
    if not _HEX64.match(digest):
        raise StoreError(
            f"not a sha256: {value[:80]!r}", hint="a sha256 is 64 hexadecimal digits (sha256sum FILE prints it)"
        )
    return digest
