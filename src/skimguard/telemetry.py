"""Findings from what shoppers' browsers report (CSP, ``'report-sha256'``) and from their silence.

``skimguard serve`` stores the reports that real shoppers' browsers send for the policy
``skimguard csp`` printed, aggregated per site and report identity (:class:`StoredReport`: a count,
first and last seen, a few sample pages, user agents and script samples), and counts them per hour
(:class:`ReportHour`). This module turns those rows, the site's script inventory and decisions and
its accepted baseline into findings (category ``telemetry``):

* **SG601** a script source that shoppers' browsers reported (a ``script-src``/``script-src-elem``
  violation, or a hash report without a hash) whose URL the inventory does not authorize: not in
  it, or in it but not approved. ``blob:`` and ``data:`` scripts count too (skimmers use them to
  run code no URL names);
* **SG602** a script hash reported by the browser (a ``csp-hash`` report, or a violation carrying
  a ``'report-sha256'`` hash) that no decision approves for that URL; critical when the URL itself
  is approved: the approved file is not the one shoppers get;
* **SG603** a blocked destination (``connect-src``, ``img-src``, ``frame-src``, ``form-action``)
  on a host that is neither the site's own, a payment host, nor a destination of the accepted
  baseline; critical for ``form-action`` and for pages the baseline knows as card pages;
* **SG604** an inline script blocked: CSP lets approved inline scripts run by their hash, so one
  that is reported is not approved (the 40-character sample is in the evidence);
* **SG605** the heartbeat: a site whose shoppers normally send reports has been silent for much
  longer than usual, so the CSP header or the collector may have been removed.

Reports whose page is not on the site's own host are ignored (the collector key is public: anyone
may post anything; a foreign page is not the site's to judge). A finding's identity is rule + site +
page path (variable segments such as order numbers collapsed) + subject (script key, host, ...), so
many report rows become one finding. Evidence keys starting with ``_`` (counts, last seen, sample
pages and user agents) change with every report and do not count as a change of the finding (no
re-alert when only the count grew). Approving a script in the inventory silences SG601/SG602.

Pure: no I/O, no clock (``now`` is passed in). Report rows are hostile text: everything that goes
into a finding is bounded, and page URLs lose their query values.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from skimguard.baseline.snapshot import PageSnapshot, SiteSnapshot, redact_url
from skimguard.config import Site
from skimguard.detect.base import Rule, clip, page_shape
from skimguard.inventory.authorize import AuthStatus, authorize
from skimguard.models import (
    Category,
    Confidence,
    Decision,
    Finding,
    InventoryItem,
    MatchType,
    Severity,
    host_of,
    script_url_key,
)

if TYPE_CHECKING:
    from skimguard.store.store import ReportHour, StoredReport

__all__ = [
    "SG601",
    "SG602",
    "SG603",
    "SG604",
    "SG605",
    "TELEMETRY_RULES",
    "HeartbeatPolicy",
    "heartbeat_finding",
    "scan_kind",
    "telemetry_findings",
]

TELEMETRY_SCAN_PREFIX = "telemetry-"  # the id prefix of the pseudo-scans `telemetry check` stores
MAX_FINDINGS = 500  # per site and check: forged reports must not flood the alert sinks
MAX_EVIDENCE_ITEMS = 5
SCRIPT_DIRECTIVES = frozenset({"script-src", "script-src-elem"})
INLINE_DIRECTIVES = frozenset({"script-src", "script-src-elem", "script-src-attr"})
DESTINATION_DIRECTIVES = frozenset({"connect-src", "img-src", "frame-src", "child-src", "form-action"})
CODE_SCHEMES = frozenset({"blob", "data"})
_WEB = ("http://", "https://", "ws://", "wss://")

_FP_FORGED = "forged reports (the collector key is in every shopper's CSP header, so anyone can post)"

SG601 = Rule(
    id="SG601",
    title="New script source reported by shoppers",
    category=Category.TELEMETRY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc=f"""Shoppers' browsers reported a script (a script-src/script-src-elem violation, or a
'report-sha256' hash report without a hash) whose URL the inventory does not authorize: it is not
in the inventory, or it is there but not approved. blob: and data: scripts are reported too.

Why: a skimmer that shows itself only to some visitors (by country, device, time, returning
customers) can hide from the scanner, but not from every shopper's browser.
Known false positives: pages or visitor paths the journeys never cover (their scripts never reached
the inventory); a script added by the shop that the scanner has not seen yet; {_FP_FORGED}.
How to fix: find out where the script comes from; if it is legitimate, scan the page and approve it
(`skimguard inventory approve`): the finding then stops. If not, remove it and rotate credentials.""",
)

SG602 = Rule(
    id="SG602",
    title="Script hash reported by shoppers is not approved",
    category=Category.TELEMETRY,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc=f"""A browser reported the sha256 of a script it ran ('report-sha256' in script-src) and no
decision approves those bytes for that URL. Critical when the URL itself is approved (pinned, or
approved by hash): the approved file is not what shoppers receive. High when the URL is approved
under review (the change is allowed but must be looked at) or not approved at all.

Why: a compromised CDN or server may serve tampered code only to real shoppers (by cookie, referrer
or geography) and the original to everyone else, scanners included.
Known false positives: a vendor that serves different builds by browser or language; a release
that the scanner has not seen yet; {_FP_FORGED}.
How to fix: fetch the script as a shopper would and compare it with the approved bytes; approve
the new bytes (`skimguard inventory approve --hash`) if the change is legitimate.""",
)

SG603 = Rule(
    id="SG603",
    title="New destination reported by shoppers",
    category=Category.TELEMETRY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc=f"""Shoppers' browsers reported a connection, image, frame or form submission
(connect-src, img-src, frame-src, form-action) to a host that is not the site's own, not a
payment host and not a destination of the accepted baseline. Critical for form-action (a form
posting to a new host) and when the page is a card page in the baseline.

Why: skimmers send what they steal with fetch, image beacons or forms to hosts of their own; the
browser's CSP sees every request of every shopper.
Known false positives: analytics or marketing tags added to the site, or pages the baseline does
not cover; browser extensions that inject requests into the page; {_FP_FORGED}.
How to fix: find the script that sends there (the sample pages say where); if the destination is
legitimate, scan the site and accept a new baseline, then regenerate the policy (`skimguard csp`).""",
)

SG604 = Rule(
    id="SG604",
    title="Unapproved inline script reported by shoppers",
    category=Category.TELEMETRY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc=f"""Shoppers' browsers blocked (or, report-only, would have blocked) an inline script or
event handler: the policy lets approved inline scripts run by their hash, so a reported one is not
approved. The evidence holds the first 40 characters browsers send ('report-sample').

Why: injected inline code is a classic skimmer loader (often a few characters that build a script
URL), placed in a CMS block or a template.
Known false positives: a policy not regenerated after an inline script was approved; inline code
that differs per visitor (a nonce, a user name); extensions that inject inline code; {_FP_FORGED}.
How to fix: read the sample and find the inline script on the page; approve it in the inventory and
run `skimguard csp` again, or remove it.""",
)

SG605 = Rule(
    id="SG605",
    title="Shoppers' browsers stopped reporting",
    category=Category.TELEMETRY,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A site whose shoppers' browsers normally send reports (enough of them, over enough
history) has sent none for much longer than its usual gap between reports: the anti-skimming
measure may have been removed (the CSP header or the collector endpoint).

Why: attackers who gain access to the server remove the CSP header (or point report-uri
elsewhere) before they add a skimmer, so the browser stops telling.
Known false positives: a quiet period (night, holidays) longer than any seen in the last week; a
policy deliberately changed to send fewer reports; the collector itself down or unreachable.
How to fix: check that the pages still serve the policy `skimguard csp` printed (with its
report-uri/report-to) and that `skimguard serve` is running and reachable through the proxy.""",
)

TELEMETRY_RULES: tuple[Rule, ...] = (SG601, SG602, SG603, SG604, SG605)


@dataclass(frozen=True)
class HeartbeatPolicy:
    """When a site's silence is an alarm (SG605).

    A site "normally sends reports" when its history before the last report spans at least
    ``min_history`` (within ``window``) and averages at least ``min_reports_per_hour`` over that
    span. Its usual gap is the ``gap_percentile`` (nearest rank) of the gaps between consecutive
    hours with reports; silence longer than ``max(gap_factor x usual gap, floor)`` is an alarm.
    Reports and noise reports both count: either proves the header and the collector work.
    """

    min_reports_per_hour: float = 1.0
    min_history: timedelta = timedelta(hours=48)
    window: timedelta = timedelta(days=7)
    gap_factor: float = 3.0
    floor: timedelta = timedelta(hours=2)
    gap_percentile: float = 0.95


@dataclass
class _Group:
    """Report rows that make one finding (mutable while collecting, frozen into a Finding)."""

    rule: Rule
    page: str
    subject: str
    severity: Severity
    script_url: str | None = None
    destination: str | None = None
    stable: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    pages: list[str] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    dispositions: set[str] = field(default_factory=set)
    directives: set[str] = field(default_factory=set)


def telemetry_findings(
    site: Site,
    reports: Sequence[StoredReport],
    inventory: Sequence[InventoryItem],
    decisions: Sequence[Decision],
    baseline: SiteSnapshot | None,
    activity: Sequence[ReportHour],
    now: datetime,
    *,
    heartbeat: HeartbeatPolicy | None = None,
) -> list[Finding]:
    """The site's telemetry findings (SG601-SG605), most severe first, at most :data:`MAX_FINDINGS`."""
    items = {i.key: i for i in inventory if i.site == site.name}
    own_decisions = [d for d in decisions if d.site == site.name]
    known_hosts = _baseline_hosts(baseline)
    groups: dict[tuple[str, str, str], _Group] = {}
    for row in reports:
        if row.site != site.name or not site.is_own_host(host_of(row.document)):
            continue
        judged = _judge(site, row, items, own_decisions, baseline, known_hosts)
        if judged is None:
            continue
        rule, subject, severity, extra = judged
        page = _page_path(row.document)
        group = groups.get((rule.id, page, subject))
        if group is None:
            group = groups[(rule.id, page, subject)] = _Group(rule, page, subject, severity, **extra)
        for name, value in extra.get("stable", {}).items():
            group.stable.setdefault(name, value)  # a hash report adds its hash to a violation's finding
        _add(group, row, severity)
    findings = [_finding(site.name, g) for g in groups.values()]
    beat = heartbeat_finding(site, activity, now, heartbeat or HeartbeatPolicy())
    if beat is not None:
        findings.append(beat)
    findings.sort(key=lambda f: (-int(f.severity), f.rule_id, f.page or "", f.subject))
    return findings[:MAX_FINDINGS]


def scan_kind(scan_id: str) -> str:
    """``telemetry`` for a pseudo-scan that ``telemetry check`` stored its findings under (id
    ``telemetry-<time>-<hex>``, status ``failed`` on purpose), ``scan`` for a real one (its ids
    start with the time)."""
    return "telemetry" if scan_id.startswith(TELEMETRY_SCAN_PREFIX) else "scan"


# ---- judging one report row ----------------------------------------------------------------


def _judge(
    site: Site,
    row: StoredReport,
    items: Mapping[str, InventoryItem],
    decisions: Sequence[Decision],
    baseline: SiteSnapshot | None,
    known_hosts: frozenset[str],
) -> tuple[Rule, str, Severity, dict[str, Any]] | None:
    blocked = row.blocked
    if row.kind == "csp-hash":
        if row.detail not in ("", "script") or not blocked.startswith(_WEB):
            return None
        return _judge_script(site, blocked, row.hash, items, decisions)
    if row.kind != "csp-violation":
        return None
    if blocked == "inline" and row.directive in INLINE_DIRECTIVES:
        return SG604, "inline", SG604.severity, {}
    if row.directive in SCRIPT_DIRECTIVES:
        if blocked in CODE_SCHEMES:
            return SG601, f"{blocked}:", SG601.severity, {"stable": {"inventory": "absent"}}
        if blocked.startswith(_WEB):
            return _judge_script(site, blocked, row.hash, items, decisions)
        return None
    if row.directive in DESTINATION_DIRECTIVES:
        host = host_of(blocked) if blocked.startswith(_WEB) else ""
        if not host or site.is_own_host(host) or site.is_payment_host(host) or host in known_hosts:
            return None
        page = _baseline_page(baseline, row.document)
        card_page = page is not None and page.card_page
        critical = row.directive == "form-action" or card_page
        extra = {
            "destination": clip(blocked, 300),
            "stable": {"baseline_page": page.name if page else None, "card_page": card_page},
        }
        return SG603, host, Severity.CRITICAL if critical else SG603.severity, extra
    return None


def _judge_script(
    site: Site,
    url: str,
    digest: str,
    items: Mapping[str, InventoryItem],
    decisions: Sequence[Decision],
) -> tuple[Rule, str, Severity, dict[str, Any]] | None:
    key = script_url_key(url)
    item = items.get(key)
    hex_digest = _sha256_hex(digest)
    script_url = clip(url, 300)
    url_approved = _url_approved(site, key, url, item, decisions)
    if hex_digest is not None:
        auth = authorize(key, url, hex_digest, decisions, site=site.name)
        if auth.status is AuthStatus.APPROVED:
            return None
        if url_approved or item is not None:  # a known script serving bytes nobody approved: SG602
            critical = url_approved and auth.status is AuthStatus.UNAPPROVED
            stable: dict[str, Any] = {
                "hash": digest,
                "sha256": hex_digest,
                "url_approved": url_approved,
                "authorization": clip(auth.reason, 300),
            }
            severity = Severity.CRITICAL if critical else SG602.severity
            return SG602, clip(f"{key} {digest}", 600), severity, {"script_url": script_url, "stable": stable}
    # No usable hash (cross-origin without CORS, another algorithm) or a script nobody knows: the URL.
    auth = authorize(key, url, hex_digest or (item.sha256 if item else None), decisions, site=site.name)
    if auth.authorized or url_approved:
        return None
    state: dict[str, Any] = {
        "inventory": "absent" if item is None else "unapproved",
        "authorization": clip(auth.reason, 300),
    }
    if hex_digest is not None:
        state["hash"] = digest
    return SG601, clip(key, 500), SG601.severity, {"script_url": script_url, "stable": state}


def _url_approved(site: Site, key: str, url: str, item: InventoryItem | None, decisions: Sequence[Decision]) -> bool:
    """An active URL or pattern decision covers the key, or the inventory's bytes for it are approved."""
    for d in decisions:
        if not d.active:
            continue
        if (d.match is MatchType.URL and d.value == key) or (
            d.match is MatchType.PATTERN and fnmatchcase(key, d.value)
        ):
            return True
    return (
        item is not None
        and item.sha256 is not None
        and authorize(key, url, item.sha256, decisions, site=site.name).authorized
    )


def _sha256_hex(digest: str) -> str | None:
    """The hex of a ``sha256-<base64>`` report hash; None for none, or another algorithm."""
    if not digest.startswith("sha256-"):
        return None
    try:
        raw = base64.b64decode(digest[7:], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _baseline_hosts(baseline: SiteSnapshot | None) -> frozenset[str]:
    """Every host the accepted baseline's pages reached: requests, frames, form actions."""
    if baseline is None:
        return frozenset()
    hosts: set[str] = set()
    for page in baseline.pages.values():
        hosts.update(h.lower() for h in page.destinations)
        hosts.update(host_of(origin) for origin in page.frames)
        hosts.update(host_of(form.action) for form in page.forms.values())
    hosts.discard("")
    return frozenset(hosts)


def _baseline_page(baseline: SiteSnapshot | None, document: str) -> PageSnapshot | None:
    """The baseline page that is the same document (host and path shape), if any."""
    if baseline is None:
        return None
    shape = page_shape(document)
    for name in sorted(baseline.pages):
        page = baseline.pages[name]
        if shape in (page_shape(page.final_url), page_shape(page.url)):
            return page
    return None


def _page_path(document: str) -> str:
    """The path of a page with per-visit segments collapsed (``/order/*/thanks``); '/' at least."""
    host = (urlsplit(document).hostname or "").lower() if document.startswith(_WEB) else ""
    shape = page_shape(document)
    path = shape[len(host) :] if shape.startswith(host) else urlsplit(document).path
    return clip(path or "/", 300)


# ---- collecting rows into findings ---------------------------------------------------------


def _add(group: _Group, row: StoredReport, severity: Severity) -> None:
    group.severity = max(group.severity, severity)
    group.count += max(0, row.count)
    group.first_seen = row.first_seen if group.first_seen is None else min(group.first_seen, row.first_seen)
    group.last_seen = row.last_seen if group.last_seen is None else max(group.last_seen, row.last_seen)
    _extend(group.pages, (redact_url(p) for p in row.pages if p))
    _extend(group.user_agents, (clip(a, 300) for a in row.user_agents if a))
    _extend(group.samples, (clip(s, 60) for s in row.samples if s))
    if row.disposition:
        group.dispositions.add(clip(row.disposition, 20))
    if row.directive:
        group.directives.add(clip(row.directive, 40))


def _extend(values: list[str], new: Iterable[str]) -> None:
    for value in new:
        if len(values) >= MAX_EVIDENCE_ITEMS:
            return
        if value not in values:
            values.append(value)


def _finding(site: str, g: _Group) -> Finding:
    evidence: dict[str, Any] = {
        **g.stable,
        "directives": sorted(g.directives),
        "disposition": sorted(g.dispositions),
        "first_seen": g.first_seen.isoformat() if g.first_seen else None,
        "_count": g.count,
        "_last_seen": g.last_seen.isoformat() if g.last_seen else None,
        "_sample_pages": sorted(g.pages),
        "_user_agents": sorted(g.user_agents),
    }
    if g.rule is SG604:
        evidence["samples"] = sorted(g.samples)
    title = g.rule.title
    if g.rule is SG603:
        title = f"{title}: {g.subject}"
    elif g.script_url:
        title = f"{title}: {clip(g.script_url, 120)}"
    finding = g.rule.finding(
        site,
        page=g.page,
        subject=g.subject,
        severity=g.severity,
        title=title,
        script_url=g.script_url,
        destination=g.destination,
        evidence=evidence,
    )
    return replace(finding, first_seen=g.first_seen)


# ---- heartbeat -----------------------------------------------------------------------------


def heartbeat_finding(
    site: Site, activity: Sequence[ReportHour], now: datetime, policy: HeartbeatPolicy | None = None
) -> Finding | None:
    """SG605 when a site that normally reports has been silent too long; None otherwise."""
    p = policy or HeartbeatPolicy()
    rows = [a for a in activity if a.site == site.name and a.reports + a.noise > 0]
    if not rows:
        return None  # never reported: a quiet site (or no CSP yet), not a removed one
    last_at = max(a.last_at for a in rows)
    start = last_at - p.window
    hours = sorted({a.hour for a in rows if a.hour >= start.replace(minute=0, second=0, microsecond=0)})
    if not hours:
        return None
    kept = set(hours)
    total = sum(a.reports + a.noise for a in rows if a.hour in kept)
    history = (hours[-1] + timedelta(hours=1)) - hours[0]
    history_hours = history.total_seconds() / 3600
    if history < p.min_history or history_hours <= 0:
        return None
    rate = total / history_hours
    if rate < p.min_reports_per_hour:
        return None
    gaps = sorted((b - a).total_seconds() / 3600 for a, b in pairwise(hours))
    usual_gap = gaps[min(len(gaps) - 1, max(0, math.ceil(p.gap_percentile * len(gaps)) - 1))] if gaps else 1.0
    threshold = max(p.gap_factor * usual_gap, p.floor.total_seconds() / 3600)
    silent = (now - last_at).total_seconds() / 3600
    if silent <= threshold:
        return None
    return Finding(
        rule_id=SG605.id,
        category=SG605.category,
        severity=SG605.severity,
        confidence=SG605.confidence,
        title=f"{SG605.title}: none since {last_at:%Y-%m-%d %H:%M} UTC",
        site=site.name,
        page=None,
        subject="heartbeat",
        evidence={
            "last_report_at": last_at.isoformat(),
            "history_hours": round(history_hours, 1),
            "average_per_hour": round(rate, 2),
            "usual_gap_hours": round(usual_gap, 2),
            "threshold_hours": round(threshold, 2),
            "why": "the anti-skimming measure may have been removed: the CSP header or the collector endpoint",
            "_silent_for_hours": round(silent, 1),
        },
    )
