"""The database schema (SQLAlchemy 2 declarative), portable across SQLite and PostgreSQL.

Conventions: timestamps are timezone-aware UTC (:class:`UTCDateTime`, also on SQLite); JSON
columns use :class:`sqlalchemy.JSON`; enums are stored as their string (or int) value, never as
database enum types, so adding a value needs no migration. Constraint names come from the
naming convention below, so migrations are identical on both backends.

Any change here needs a new migration in ``migrations/versions`` (the test suite checks that
the migrated schema and this metadata agree).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SCAN_STATUSES = ("running", "ok", "partial", "failed", "interrupted")
FINDING_STATUSES = ("open", "resolved", "acknowledged")

# Primary keys of the tables that grow with every scan: BIGINT on PostgreSQL; on SQLite the
# column must be exactly INTEGER to be the auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")

SHA = 64
NAME = 200
SHORT = 64


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always binds UTC and always returns aware UTC.

    SQLite has no time zone storage: values are stored as naive UTC and made aware on the way
    out. A naive value bound by a caller is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# --------------------------------------------------------------------------------------------
# Sites and scans
# --------------------------------------------------------------------------------------------


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    base_url: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Scan(Base):
    __tablename__ = "scans"
    __table_args__ = (
        CheckConstraint(_in("status", SCAN_STATUSES), name="status"),
        Index(None, "site", "started_at"),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(String(NAME), primary_key=True)  # the scan_id
    site: Mapped[str] = mapped_column(String(NAME), ForeignKey("sites.name", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(SHORT))
    journeys: Mapped[list[Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    # host:pid:token of the process that began the scan; used to tell crashed scans from live ones.
    owner: Mapped[str | None] = mapped_column(String(NAME))


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (Index(None, "scan_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(String(NAME), ForeignKey("scans.id", ondelete="CASCADE"))
    journey: Mapped[str] = mapped_column(String(NAME))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str] = mapped_column(Text)
    redirect_chain: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    forms: Mapped[list[Any]] = mapped_column(JSON)
    frames: Mapped[list[Any]] = mapped_column(JSON)
    problems: Mapped[list[Any]] = mapped_column(JSON)


class ScriptBody(Base):
    """Script bytes, stored once per sha256 however many scans see them (zlib-compressed)."""

    __tablename__ = "script_bodies"

    sha256: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PageScript(Base):
    __tablename__ = "page_scripts"
    __table_args__ = (Index(None, "page_id", "position"), Index(None, "sha256"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(BigId, ForeignKey("pages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(SHORT))
    url: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(SHA))
    size: Mapped[int] = mapped_column(BigInteger)
    frame_url: Mapped[str] = mapped_column(Text)
    initiator: Mapped[str | None] = mapped_column(Text)
    initiator_type: Mapped[str | None] = mapped_column(Text)
    main_frame: Mapped[bool] = mapped_column(Boolean)


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (Index(None, "page_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(BigId, ForeignKey("pages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    resource_type: Mapped[str] = mapped_column(Text)
    initiator: Mapped[str | None] = mapped_column(Text)
    post_data_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int | None] = mapped_column(Integer)
    frame_url: Mapped[str | None] = mapped_column(Text)
    failed: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------------------------
# Findings and alerts
# --------------------------------------------------------------------------------------------


class Finding(Base):
    """One row per finding identity (site + fingerprint), updated by every scan that sees it."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("site", "fingerprint"),
        CheckConstraint(_in("status", FINDING_STATUSES), name="status"),
        Index(None, "fingerprint"),
        Index(None, "site", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(SHA))
    site: Mapped[str] = mapped_column(String(NAME))
    rule_id: Mapped[str] = mapped_column(String(SHORT))
    category: Mapped[str] = mapped_column(String(SHORT))
    severity: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    page: Mapped[str | None] = mapped_column(Text)
    script_url: Mapped[str | None] = mapped_column(Text)
    destination: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_scan_id: Mapped[str | None] = mapped_column(String(NAME))
    status: Mapped[str] = mapped_column(String(SHORT))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(SHA))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_note: Mapped[str | None] = mapped_column(Text)


class FindingSighting(Base):
    """Which scans saw a finding (the evidence history behind exposure windows)."""

    __tablename__ = "finding_sightings"
    __table_args__ = (UniqueConstraint("finding_id", "scan_id"), Index(None, "scan_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    finding_id: Mapped[int] = mapped_column(BigId, ForeignKey("findings.id", ondelete="CASCADE"))
    scan_id: Mapped[str] = mapped_column(String(NAME), ForeignKey("scans.id", ondelete="CASCADE"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    """Every attempt to deliver a finding to a sink (the alerting subsystem dedupes on it)."""

    __tablename__ = "alerts"
    __table_args__ = (Index(None, "fingerprint", "sink", "sent_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(SHA))
    site: Mapped[str] = mapped_column(String(NAME))
    sink: Mapped[str] = mapped_column(String(NAME))
    content_hash: Mapped[str] = mapped_column(String(SHA))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------------------------
# Inventory (PCI DSS 6.4.3)
# --------------------------------------------------------------------------------------------


class InventoryEntry(Base):
    """One script ever seen on a site. ``key_hash`` (sha256 of ``key``) carries the uniqueness,
    because a URL key may be longer than a PostgreSQL b-tree index entry allows."""

    __tablename__ = "inventory"
    __table_args__ = (UniqueConstraint("site", "key_hash"), Index(None, "sha256"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(NAME))
    key: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(SHA))
    kind: Mapped[str] = mapped_column(String(SHORT))
    url: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(SHA))
    size: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    hashes_seen: Mapped[int] = mapped_column(Integer)


class InventoryPage(Base):
    __tablename__ = "inventory_pages"
    __table_args__ = (UniqueConstraint("inventory_id", "page"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inventory_id: Mapped[int] = mapped_column(Integer, ForeignKey("inventory.id", ondelete="CASCADE"))
    page: Mapped[str] = mapped_column(String(1024))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class InventoryHash(Base):
    __tablename__ = "inventory_hashes"
    __table_args__ = (UniqueConstraint("inventory_id", "sha256"), Index(None, "sha256"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inventory_id: Mapped[int] = mapped_column(Integer, ForeignKey("inventory.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(SHA))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class Decision(Base):
    """An authorization with its written justification; revocation keeps the row."""

    __tablename__ = "decisions"
    __table_args__ = (Index(None, "site"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(NAME))
    match: Mapped[str] = mapped_column(String(SHORT))
    value: Mapped[str] = mapped_column(Text)
    justification: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    change_rule: Mapped[str] = mapped_column(String(SHORT))
    pinned_sha256: Mapped[str | None] = mapped_column(String(SHA))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(Text)
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only trail: inventory decisions, baseline acceptance, acknowledgements."""

    __tablename__ = "audit"
    __table_args__ = (Index(None, "site", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(NAME))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(SHORT))
    subject: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class Baseline(Base):
    """Accepted baselines of a site; only the newest is ``active``."""

    __tablename__ = "baselines"
    __table_args__ = (Index(None, "site", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(NAME))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_by: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text)
    scan_id: Mapped[str | None] = mapped_column(String(NAME))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)


class IntelIndicator(Base):
    """Threat-intelligence indicators (``skimguard intel import``); a re-import of a source
    replaces that source's indicators."""

    __tablename__ = "intel_indicators"
    __table_args__ = (UniqueConstraint("source", "kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(NAME))
    kind: Mapped[str] = mapped_column(String(SHORT))
    value: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KnownGood(Base):
    """Files declared good by sha256 (``skimguard knowngood add``): the analysis engine calls them
    clean without looking. ``source`` is ``manual`` or the name of an imported list."""

    __tablename__ = "known_good"

    sha256: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    note: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(NAME))
    added_by: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------------------------
# Report collector (``skimguard serve``)
# --------------------------------------------------------------------------------------------


class CollectorKey(Base):
    """The random token in each site's report endpoint path (``/r/{key}``). It keeps internet
    noise out and tells sites apart; it is not a secret from shoppers (their browsers see it in
    the CSP header)."""

    __tablename__ = "collector_keys"

    site: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    key: Mapped[str] = mapped_column(String(SHORT), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CollectedReport(Base):
    """Browser reports (CSP, Reporting API) aggregated: one row per site and aggregate key
    (:func:`skimguard.collector.reports.aggregate_key`; ``key_hash`` is the sha256 of it, because
    the URLs in it may be longer than a PostgreSQL b-tree index entry allows) with a count and a
    few bounded samples. Raw bodies are never stored."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("site", "key_hash"), Index(None, "site", "last_seen"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(NAME))
    key_hash: Mapped[str] = mapped_column(String(SHA))
    kind: Mapped[str] = mapped_column(String(SHORT))
    report_type: Mapped[str] = mapped_column(String(SHORT))
    directive: Mapped[str] = mapped_column(String(SHORT))
    blocked: Mapped[str] = mapped_column(Text)
    document: Mapped[str] = mapped_column(Text)  # the document URL without its query
    hash: Mapped[str] = mapped_column(Text)
    disposition: Mapped[str] = mapped_column(String(SHORT))
    detail: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    pages: Mapped[list[Any]] = mapped_column(JSON)  # a few document URLs (with query)
    user_agents: Mapped[list[Any]] = mapped_column(JSON)
    samples: Mapped[list[Any]] = mapped_column(JSON)  # a few script samples (40 chars, cards masked)
    sources: Mapped[list[Any]] = mapped_column(JSON)  # a few "source-file:line:column"


class ReportActivity(Base):
    """Reports received per site and hour (kept and noise), for the collector heartbeat."""

    __tablename__ = "report_activity"

    site: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    reports: Mapped[int] = mapped_column(BigInteger)
    noise: Mapped[int] = mapped_column(BigInteger)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------------------------
# Incidents (``skimguard incident ...``)
# --------------------------------------------------------------------------------------------


class Incident(Base):
    """A breach being scoped: the findings it groups, when the shop learned of it (``known_at``
    starts the regulatory clocks) and the zone its documents are shown in."""

    __tablename__ = "incidents"
    __table_args__ = (Index(None, "site"),)

    id: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    site: Mapped[str] = mapped_column(String(NAME))
    title: Mapped[str] = mapped_column(Text)
    known_at: Mapped[datetime] = mapped_column(UTCDateTime)
    zone: Mapped[str] = mapped_column(String(SHORT))
    status: Mapped[str] = mapped_column(String(SHORT))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_by: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)  # shop facts for the drafts (desk, cause, ...)


class IncidentFinding(Base):
    """A finding grouped into an incident, under the skimmer variant it belongs to."""

    __tablename__ = "incident_findings"

    incident_id: Mapped[str] = mapped_column(
        String(SHORT), ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    variant: Mapped[str] = mapped_column(String(NAME))


class IncidentEvidence(Base):
    """A refinement of an exposure window edge (file mtime, first attacker request, a time the
    user gives), kept with its source: the window is recomputed from these and the scan history."""

    __tablename__ = "incident_evidence"
    __table_args__ = (Index(None, "incident_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(SHORT), ForeignKey("incidents.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(NAME))
    page: Mapped[str] = mapped_column(Text)
    edge: Mapped[str] = mapped_column(String(SHORT))
    kind: Mapped[str] = mapped_column(String(SHORT))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(Text)
    forced: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(Text)


class IncidentScope(Base):
    """The last scoping result of an incident: counts, the identifiers they rest on, windows."""

    __tablename__ = "incident_scopes"

    incident_id: Mapped[str] = mapped_column(
        String(SHORT), ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class IncidentPerson(Base):
    """One affected person of the last scoping, with what is needed to tell them, and nothing more."""

    __tablename__ = "incident_people"

    incident_id: Mapped[str] = mapped_column(
        String(SHORT), ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    person: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    basis: Mapped[str] = mapped_column(String(SHORT))
    channel: Mapped[str] = mapped_column(String(SHORT))
    contact: Mapped[dict[str, Any]] = mapped_column(JSON)
    exposure: Mapped[dict[str, Any]] = mapped_column(JSON)  # card payments, sessions, registrations, cards


class IncidentNotice(Base):
    """A notice sent (or tried) to one person: date, channel, result."""

    __tablename__ = "incident_notices"
    __table_args__ = (Index(None, "incident_id", "person"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(SHORT), ForeignKey("incidents.id", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(String(NAME))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(SHORT))
    result: Mapped[str] = mapped_column(String(SHORT))
    note: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------------------------
# Web root integrity and malware scan (``skimguard webroot ...``)
# --------------------------------------------------------------------------------------------


class WebrootRoot(Base):
    """A shop document root watched for one site: its detected platform, the settings and
    time of its integrity baseline, and the fingerprint of the engine whose verdicts are cached
    in :class:`WebrootFile` (verdicts of another engine version are stale). ``root_hash`` is the
    sha256 of ``root`` (a path can be longer than a PostgreSQL b-tree index entry allows)."""

    __tablename__ = "webroot_roots"
    __table_args__ = (UniqueConstraint("site", "root_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(NAME))
    root: Mapped[str] = mapped_column(Text)
    root_hash: Mapped[str] = mapped_column(String(SHA))
    platforms: Mapped[list[Any]] = mapped_column(JSON)  # ["wordpress@6.4.2", "woocommerce@8.2.1"]
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)  # include/exclude globs of the baseline
    engine: Mapped[str] = mapped_column(String(SHORT))
    baseline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    baseline_by: Mapped[str] = mapped_column(Text)
    baseline_note: Mapped[str] = mapped_column(Text)
    baseline_files: Mapped[int] = mapped_column(BigInteger)
    last_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebrootFile(Base):
    """One path under a web root: what the last walk saw (the stat cache: a file whose size,
    mtime, ctime and inode are unchanged is not read again) and what the baseline recorded.
    ``sha256`` is null when the path is gone; ``base_sha256`` is null when it is not in the
    baseline. ``verdict`` caches the analysis of the current content ('' not analysed)."""

    __tablename__ = "webroot_files"

    root_id: Mapped[int] = mapped_column(BigId, ForeignKey("webroot_roots.id", ondelete="CASCADE"), primary_key=True)
    path_hash: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(BigInteger)
    gid: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    ctime_ns: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(SHA))
    flags: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(16))
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the engine's hits when not clean
    base_kind: Mapped[str | None] = mapped_column(String(16))
    base_size: Mapped[int | None] = mapped_column(BigInteger)
    base_mode: Mapped[int | None] = mapped_column(Integer)
    base_uid: Mapped[int | None] = mapped_column(BigInteger)
    base_gid: Mapped[int | None] = mapped_column(BigInteger)
    base_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    base_sha256: Mapped[str | None] = mapped_column(String(SHA))


class WebrootSnapshot(Base):
    """The stat cache of a web root (its :class:`WebrootFile` rows) in compact pieces, for the
    re-scan that needs all of them: ``chunk`` holds the rows whose path length modulo the number
    of chunks is ``chunk``, as one blob of ``files`` rows (see :mod:`skimguard.webroot.storage`),
    and ``quiet``, one byte per row, marks the rows a scan under ``plan`` settled quietly.
    Derived data: rewritten, with a new random ``version``, in the transaction that changes the
    rows it holds."""

    __tablename__ = "webroot_snapshots"

    root_id: Mapped[int] = mapped_column(BigId, ForeignKey("webroot_roots.id", ondelete="CASCADE"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    format: Mapped[int] = mapped_column(Integer)
    files: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    plan: Mapped[str] = mapped_column(String(SHORT))
    quiet: Mapped[bytes] = mapped_column(LargeBinary)


class WebrootRelease(Base):
    """A platform release whose files were hashed (``skimguard webroot known-good build``):
    its files are known good, and a file at one of its paths with another hash is a modified
    core file. ``prefix`` is where the release sits in a web root (a plugin's folder)."""

    __tablename__ = "webroot_releases"
    __table_args__ = (UniqueConstraint("platform", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(SHORT))
    version: Mapped[str] = mapped_column(String(SHORT))
    prefix: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(SHA))
    files: Mapped[int] = mapped_column(BigInteger)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)
    built_by: Mapped[str] = mapped_column(Text)


class WebrootReleaseFile(Base):
    """One file of a release: its path in the web root (with the release's prefix) and sha256."""

    __tablename__ = "webroot_release_files"

    release_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webroot_releases.id", ondelete="CASCADE"), primary_key=True
    )
    path_hash: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(SHA))
