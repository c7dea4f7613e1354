"""The ``skimguard telemetry check`` command: findings from the reports shoppers' browsers sent.

For every site (or one), it reads what ``skimguard serve`` stored (aggregated reports and hourly
activity), the inventory, the decisions and the accepted baseline, and asks the pure
:func:`skimguard.telemetry.telemetry_findings` for SG601-SG605. Then, like a scan:

* **store**: when a finding is new, or changed in substance (its ``content_hash``), or was resolved,
  the findings are stored through ``begin_scan``/``finish_scan`` as a scan ``telemetry-<time>-<hex>``
  without captures. Its status is ``failed``, on purpose: a scan with status ``ok`` resolves every
  open scanner finding it did not see (a telemetry check sees none of them), and ``ok``/``partial``
  scans are what ``baseline accept`` and ``last_capture_pages`` take as the latest capture.
  Checks that bring nothing new store nothing, so a check every few minutes does not bury the
  real scans;
* **alert**: the findings go to the configured sinks through :func:`skimguard.alerts.dispatch`,
  which sends each only once per content (counts and last-seen times are ``_`` evidence keys);
* **exit**: 0 nothing at or above ``--fail-on``, 1 findings at or above it, 2 an error.

``skimguard serve`` runs the same check of every site in its background (``--check-every``,
default every 60 seconds); run this command by hand, or from cron when the collector runs elsewhere.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from skimguard.cli import (
    DEFAULT_CONFIG,
    ConfigOpt,
    FailOnOpt,
    Format,
    FormatOpt,
    OutputOpt,
    app,
    dumps,
    emit,
    err,
    errors,
    opened,
    out,
    parse_severity,
)
from skimguard.config import Config, Site, load_config
from skimguard.models import Category, Finding

if TYPE_CHECKING:
    from skimguard.alerts import DispatchReport
    from skimguard.store import Store
    from skimguard.telemetry import HeartbeatPolicy

TELEMETRY_SCHEMA = "skimguard.telemetry/1"
MAX_REPORT_ROWS = 5000  # most recently seen aggregated report rows read per site and check

telemetry_app = typer.Typer(
    help="Findings from the reports shoppers' browsers send to `skimguard serve` (SG601-SG605).",
    no_args_is_help=True,
)
app.add_typer(telemetry_app, name="telemetry")


@dataclass(frozen=True)
class CheckOutcome:
    """One site's check: its findings, the scan they were stored as (None: nothing new), alerts."""

    site: str
    checked_at: datetime
    findings: tuple[Finding, ...]
    scan_id: str | None
    alerts: DispatchReport | None


def check_site(
    config: Config,
    site: Site,
    store: Store,
    *,
    now: datetime,
    policy: HeartbeatPolicy,
    alert: bool = True,
    console: Console | None = None,
) -> CheckOutcome:
    """Evaluate, store (when something is new or changed) and alert one site's telemetry."""
    from skimguard.baseline.snapshot import SiteSnapshot
    from skimguard.recording import record_findings
    from skimguard.telemetry import TELEMETRY_SCAN_PREFIX, telemetry_findings

    store.ensure_site(site.name, site.base_url)
    row = store.baseline(site.name)
    findings = telemetry_findings(
        site,
        store.reports(site.name, limit=MAX_REPORT_ROWS),
        store.inventory(site.name),
        store.decisions(site.name),
        SiteSnapshot.from_json(row.snapshot) if row else None,
        store.report_activity(site.name),
        now,
        heartbeat=policy,
    )
    done = record_findings(
        config,
        site,
        store,
        findings,
        prefix=TELEMETRY_SCAN_PREFIX,
        category=Category.TELEMETRY,
        started_at=now,
        finished_at=now,
        alert=alert,
        console=console,
    )
    return CheckOutcome(site.name, now, done.findings, done.scan_id, done.alerts)


def outcomes_to_json(outcomes: Sequence[CheckOutcome]) -> dict[str, Any]:
    from skimguard.alerts.format import finding_to_dict

    return {
        "schema": TELEMETRY_SCHEMA,
        "sites": [
            {
                "site": o.site,
                "checked_at": o.checked_at.isoformat(),
                "scan_id": o.scan_id,
                "findings": [finding_to_dict(f) for f in o.findings],
            }
            for o in outcomes
        ],
    }


def render_outcomes(console: Console, outcomes: Sequence[CheckOutcome]) -> None:
    from skimguard.output import findings_table

    for o in outcomes:
        stored = f"stored as scan {o.scan_id}" if o.scan_id else "nothing new to store"
        console.print(f"[bold]{escape(o.site)}[/]  telemetry check  {len(o.findings)} finding(s), {stored}")
        if o.findings:
            console.print(findings_table(o.findings))


@telemetry_app.command("check")
def check(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: Annotated[
        list[str] | None, typer.Option("--site", "-s", help="Check only this site (repeatable; default: all).")
    ] = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    fail_on: FailOnOpt = "high",
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help="Send alerts to the configured sinks.")] = True,
    min_rate: Annotated[
        float, typer.Option("--min-rate", min=0, help="Heartbeat: reports per hour a site must average to be watched.")
    ] = 1.0,
    min_history: Annotated[
        float, typer.Option("--min-history", min=1, help="Heartbeat: hours of report history needed first.")
    ] = 48.0,
    gap_factor: Annotated[
        float, typer.Option("--gap-factor", min=1, help="Heartbeat: silence longer than this many usual gaps alarms.")
    ] = 3.0,
    floor: Annotated[float, typer.Option("--floor", min=0, help="Heartbeat: never alarm before this many hours.")] = (
        2.0
    ),
) -> None:
    """Turn the reports shoppers' browsers sent into findings (SG601-SG605); store and alert them."""
    from skimguard.telemetry import HeartbeatPolicy

    threshold = parse_severity(fail_on)
    policy = HeartbeatPolicy(
        min_reports_per_hour=min_rate,
        min_history=timedelta(hours=min_history),
        gap_factor=gap_factor,
        floor=timedelta(hours=floor),
    )
    with errors():
        config = load_config(config_path)
        sites = [config.site(n) for n in site] if site else list(config.sites)
        now = datetime.now(UTC)
        with opened(config) as store:
            outcomes = [check_site(config, s, store, now=now, policy=policy, alert=alerts, console=err) for s in sites]
    if format is Format.json:
        emit(dumps(outcomes_to_json(outcomes)), output)
    else:
        console = out if output is None else Console(file=io.StringIO(), width=140, highlight=False)
        render_outcomes(console, outcomes)
        if output is not None:
            emit(console.file.getvalue(), output)  # type: ignore[attr-defined]
    worst = max((f.severity for o in outcomes for f in o.findings), default=None)
    raise typer.Exit(1 if worst is not None and worst >= threshold else 0)
