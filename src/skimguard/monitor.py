"""One site scan: capture every journey -> detect -> store -> alert.

The only module that joins the edges (browser, database, alert sinks) to the pure core.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from playwright.async_api import Browser, async_playwright
from rich.console import Console

from skimguard.alerts import DispatchReport, build_sinks, dispatch
from skimguard.analyze.known_good import known_good_set
from skimguard.baseline.snapshot import SiteSnapshot, snapshot_from_captures
from skimguard.canary import new_canary
from skimguard.capture.browser import launch_browser
from skimguard.capture.journey import StepCallback, run_journey
from skimguard.config import Config, Identity, Journey, Site
from skimguard.detect.base import DetectContext
from skimguard.detect.registry import run_detectors
from skimguard.errors import StoreError
from skimguard.intel import IntelIndex
from skimguard.models import Capture, Finding, Problem, ScanResult, ScanStatus
from skimguard.store import Store

JourneyCallback = Callable[[str, str, str], None]  # site, journey, event (start|done:<status>)


def new_scan_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class ScanOutcome:
    result: ScanResult
    alerts: DispatchReport | None
    baseline_id: int | None


def scan_status(captures: Sequence[Capture]) -> ScanStatus:
    if not captures or all(c.status is ScanStatus.FAILED for c in captures):
        return ScanStatus.FAILED
    if all(c.status is ScanStatus.OK for c in captures):
        return ScanStatus.OK
    return ScanStatus.PARTIAL


def failed_capture(site: Site, journey: Journey, started: datetime, message: str) -> Capture:
    """A journey that could not run at all (browser died, hard time limit)."""
    return Capture(
        site=site.name,
        journey=journey.name,
        started_at=started,
        finished_at=datetime.now(UTC),
        status=ScanStatus.FAILED,
        problems=(Problem(code="journey-timeout", message=message[:500]),),
    )


def journey_runs(site: Site) -> list[tuple[Journey, Identity, str]]:
    """(journey, identity, label) of every run a scan makes: each journey as the site's identity,
    and again as ``second_pass`` when configured, labelled ``journey@identity``."""
    runs = [(journey, site.identity, journey.name) for journey in site.journeys]
    if site.second_pass is not None:
        second = site.second_pass
        runs += [(journey, second, f"{journey.name}@{second.label}") for journey in site.journeys]
    return runs


async def capture_site(
    browser: Browser,
    site: Site,
    *,
    on_step: StepCallback | None = None,
    on_journey: JourneyCallback | None = None,
) -> list[Capture]:
    """Run every journey of ``site`` one after the other, each in a fresh context with its own
    canary identity (a hit names the exact run)."""
    captures = []
    for journey, identity, label in journey_runs(site):
        if on_journey:
            on_journey(site.name, label, "start")
        started = datetime.now(UTC)
        canary = new_canary(started)
        try:
            capture = await asyncio.wait_for(
                run_journey(browser, site, journey, canary, on_step, identity=identity, label=label),
                site.journey_timeout + 30,
            )
        except TimeoutError:
            capture = failed_capture(site, journey, started, "journey did not end in time; browser context abandoned")
            capture = replace(capture, journey=label, identity=identity.label)
        captures.append(capture)
        if on_journey:
            on_journey(site.name, label, f"done:{capture.status.value}")
    return captures


def detect(site: Site, captures: Sequence[Capture], store: Store, now: datetime) -> list[Finding]:
    """Run the detector registry over the captures and the site's approved baseline; script bodies
    come from the captures first, then from the store."""
    row = store.baseline(site.name)
    ctx = DetectContext.create(
        site,
        captures,
        baseline=SiteSnapshot.from_json(row.snapshot) if row else None,
        now=now,
        decisions=store.decisions(site.name),
        body=store.body,
        intel=IntelIndex.build(store.indicators()),
        known_good=known_good_set(store.known_good()),
    )
    return list(run_detectors(ctx))


def stamp(findings: Sequence[Finding], now: datetime) -> list[Finding]:
    return [replace(f, first_seen=f.first_seen or now) for f in findings]


async def scan_site(
    config: Config,
    site: Site,
    store: Store,
    browser: Browser,
    *,
    alert: bool = True,
    console: Console | None = None,
    on_step: StepCallback | None = None,
    on_journey: JourneyCallback | None = None,
) -> ScanOutcome:
    started = datetime.now(UTC)
    scan_id = new_scan_id(started)
    store.ensure_site(site.name, site.base_url)
    store.begin_scan(site.name, scan_id, started)
    captures = await capture_site(browser, site, on_step=on_step, on_journey=on_journey)
    finished = datetime.now(UTC)
    findings = stamp(detect(site, captures, store, finished), finished)
    result = ScanResult(
        site=site.name,
        scan_id=scan_id,
        started_at=started,
        finished_at=finished,
        status=scan_status(captures),
        captures=tuple(captures),
        findings=tuple(findings),
    )
    stored = store.finish_scan(result)
    first_seen = {s.finding.fingerprint: s.finding.first_seen for s in stored}
    result = replace(
        result,
        findings=tuple(replace(f, first_seen=first_seen.get(f.fingerprint, f.first_seen)) for f in result.findings),
    )
    report = None
    if alert:
        reopened = frozenset(s.finding.fingerprint for s in stored if s.reopened)
        report = dispatch(
            result.findings,
            site=site.name,
            scan_id=scan_id,
            sinks=build_sinks(config.alerts, console),
            log=store,
            record=store.record_alert,
            min_severity=config.alerts.min_severity,
            reopened=reopened,
        )
    return ScanOutcome(result=result, alerts=report, baseline_id=None)


@contextlib.asynccontextmanager
async def browser_for(sites: Sequence[Site]) -> AsyncIterator[Browser]:
    """One Chromium for a set of sites, with all their host maps merged."""
    hosts: dict[str, str] = {}
    block = False
    for site in sites:
        hosts.update(site.hosts)
        block = block or site.block_unmapped_hosts
    async with async_playwright() as playwright:
        browser = await launch_browser(playwright, hosts, block_unmapped=block)
        try:
            yield browser
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 20)


def accept_baseline(store: Store, site: Site, *, scan_id: str | None, actor: str, note: str) -> tuple[int, str]:
    """Take a stored scan (default: the latest finished one) as the site's approved state."""
    row = (
        store.scan(scan_id)
        if scan_id
        else next((s for s in store.scans(site.name, limit=20) if s.status in ("ok", "partial")), None)
    )
    if row is None or row.site != site.name:
        what = f"scan {scan_id}" if scan_id else f"a finished scan of {site.name}"
        raise StoreError(f"no {what} to accept", hint=f"run `skimguard scan --site {site.name}` first")
    pages = store.scan_pages(row.id)
    capture = Capture(
        site=site.name,
        journey="*",
        started_at=row.started_at,
        finished_at=row.finished_at or row.started_at,
        status=ScanStatus(row.status) if row.status in ("ok", "partial", "failed") else ScanStatus.PARTIAL,
        pages=tuple(pages),
    )
    snapshot = snapshot_from_captures(site.name, [capture])
    baseline_id = store.save_baseline(site.name, snapshot.to_json(), row.id, actor, note)
    return baseline_id, row.id
