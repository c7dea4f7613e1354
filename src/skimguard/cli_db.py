"""The ``skimguard db scan`` command: skimmers stored in a shop's database (SG720-SG723).

``SOURCE`` is a SQLAlchemy URL (``sqlite:///shop.db``, ``postgresql+psycopg://...``,
``mysql+pymysql://...``), opened read-only with bounded rows and a statement timeout, or a dump file
(mysqldump/mariadb-dump or pg_dump plain format, gzip/bzip2/xz too), streamed without a database.
See :mod:`skimguard.webroot.database` for what is read.

With ``--site`` the script hosts found in rows are checked against that site's approved inventory,
the threat intel and known-good hashes of the config's database are used, and the findings are
stored and alerted like ``telemetry check`` does: as a scan ``db-<time>-<hex>`` without captures
and with status ``failed`` (so it neither resolves the browser scan's findings nor counts as the
latest capture), only when a finding is new, changed, was resolved, or is gone: the site's open
database findings of the same source whose table this scan read whole and which it did not report
again are resolved (the row was cleaned). ``--correlate`` (with
``--site``) links the site's open browser findings to the rows that explain them.

Exit 0 when nothing is at or above ``--fail-on`` (default high), 1 otherwise, 2 on an error.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
    fail,
    opened,
    out,
    parse_severity,
    progress_display,
)
from skimguard.config import Config, Site, load_config
from skimguard.models import Category, Finding

if TYPE_CHECKING:
    from skimguard.alerts import DispatchReport
    from skimguard.store import Store
    from skimguard.webroot.correlate import Link
    from skimguard.webroot.database import ColumnSpec, DbScanOptions, DbScanResult

DEFAULT_TIMEOUT = 30.0

db_app = typer.Typer(
    help="The shop's database: skimmers stored in config, CMS, widget and page rows (SG720-SG723).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@dataclass(frozen=True)
class StoredOutcome:
    """What ``--site`` did with a scan's findings: the scan they were stored as (None: nothing
    new), the findings with their first-seen times, the alerts sent, and how many of the site's
    findings were resolved as gone."""

    scan_id: str | None
    findings: tuple[Finding, ...]
    alerts: DispatchReport | None
    resolved: int = 0


def store_findings(
    config: Config, site: Site, store: Store, result: DbScanResult, *, alert: bool, console: Console | None
) -> StoredOutcome:
    """Store (when something is new or changed, or gone) and alert one database scan's findings;
    resolve those of the site's open findings that the scan shows are gone."""
    from skimguard.recording import record_findings
    from skimguard.webroot.database import gone_findings

    gone = gone_findings(result, (s.finding for s in store.findings(site.name, status="open")))
    done = record_findings(
        config,
        site,
        store,
        result.findings,
        prefix="db-",
        category=Category.SERVER,
        started_at=result.started_at,
        finished_at=result.finished_at,
        alert=alert,
        console=console,
        gone=gone,
    )
    return StoredOutcome(done.scan_id, done.findings, done.alerts, done.resolved)


def correlate_with_store(store: Store, site: Site, result: DbScanResult) -> tuple[Link, ...]:
    """Link the site's open browser findings to the values this scan read."""
    from skimguard.webroot.correlate import correlate

    browser = [s.finding for s in store.findings(site.name, status="open")]
    items = ((t.location, t.text, t.mtime) for t in result.texts)
    return correlate(browser, items, body=store.body, own_hosts=(site.host,))


def render_result(
    console: Console,
    result: DbScanResult,
    findings: Sequence[Finding],
    links: Sequence[Link],
    scan_id: str | None,
    resolved: int = 0,
) -> None:
    from skimguard.output import findings_table

    rows = sum(t.rows_read for t in result.tables)
    analysed = sum(t.values_analysed for t in result.tables)
    style = "green" if result.status == "ok" else "yellow"
    console.print(
        f"[bold]{escape(result.source)}[/]  db scan ({result.kind}, {escape(result.dialect)})  "
        f"platform {escape(result.platform or 'unknown')}  [{style}]{result.status}[/]  "
        f"{len(result.tables)} table(s), {rows} row(s), {analysed} value(s) analysed"
        + (f"  stored as scan {scan_id}" if scan_id else "")
    )
    if result.tables:
        table = Table("table", "platform", "rows", "analysed", "complete")
        for t in result.tables:
            table.add_row(
                escape(t.table), t.platform, str(t.rows_read), str(t.values_analysed), "yes" if t.complete else "no"
            )
        console.print(table)
    if findings:
        console.print(findings_table(findings))
    else:
        console.print("  no findings")
    if resolved:
        console.print(f"resolved {resolved} finding(s) of this source that the scan no longer found")
    if result.referenced_files:
        console.print(f"block templates named by the database: {escape(', '.join(result.referenced_files[:10]))}")
    if result.plugins:
        console.print(f"plugins: {escape(', '.join(result.plugins[:20]))}")
    if links:
        lt = Table("browser finding", "explained by", "reason", "excerpt", title="correlation")
        for link in links:
            lt.add_row(f"{link.rule_id} {link.finding[:10]}", escape(link.location), link.reason, escape(link.excerpt))
        console.print(lt)


@db_app.command("scan")
def db_scan(
    source: Annotated[
        str, typer.Argument(help="A database URL (opened read-only) or a dump file (.sql, .sql.gz, pg_dump plain).")
    ],
    platform: Annotated[
        str,
        typer.Option(
            "--platform", help="auto|magento2|magento1|woocommerce|eccube4|eccube3|eccube2 (default: every one found)."
        ),
    ] = "auto",
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Also scan this table (repeatable; every text column).")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="Only these columns of the --table(s); or TABLE.COLUMN (repeatable)."),
    ] = None,
    site: Annotated[
        str | None,
        typer.Option("--site", "-s", help="Check script hosts against this site's inventory; store and alert."),
    ] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    fail_on: FailOnOpt = "high",
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Rows read per table at most.")] = 100_000,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0.05, help="Seconds per statement (database, default 30) or for the whole dump read."
        ),
    ] = None,
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help="Send alerts (with --site).")] = True,
    correlate: Annotated[
        bool, typer.Option("--correlate", help="Link the site's open browser findings to the rows (needs --site).")
    ] = False,
) -> None:
    """Scan the tables where skimmers hide (config, CMS, widgets, page meta) with the analysis engine.

    Exit 1 when a finding is at or above --fail-on (default high), 2 on an error."""
    from skimguard.webroot.database import parse_named, result_to_json

    threshold = parse_severity(fail_on)
    if correlate and not site:
        fail("--correlate needs --site", "name the site whose browser findings to link")
    links: tuple[Link, ...] = ()
    resolved = 0
    with errors():
        named = parse_named(table or [], column or [])
        options = _options(platform, named, max_rows, timeout, correlate)
        if site is None:
            result = _run(source, options)
            findings, scan_id = result.findings, None
        else:
            config = load_config(config_path)
            chosen = config.site(site)
            with opened(config) as store:
                result = _run(source, _with_site(options, chosen, store))
                outcome = store_findings(config, chosen, store, result, alert=alerts, console=err)
                findings, scan_id, resolved = outcome.findings, outcome.scan_id, outcome.resolved
                if correlate:
                    from skimguard.webroot.links import record_links

                    links = correlate_with_store(store, chosen, result)
                    record_links(store, chosen.name, links, actor="db scan")
    if format is Format.json:
        document = result_to_json(result, scan_id=scan_id, links=links)
        document["findings"] = [_finding_dict(f) for f in findings]
        document["resolved"] = resolved
        emit(dumps(document), output)
    else:
        console = out if output is None else Console(file=io.StringIO(), width=160, highlight=False)
        render_result(console, result, findings, links, scan_id, resolved)
        if output is not None:
            emit(console.file.getvalue(), output)  # type: ignore[attr-defined]
    worst = max((f.severity for f in findings), default=None)
    raise typer.Exit(1 if worst is not None and worst >= threshold else 0)


def _finding_dict(f: Finding) -> dict[str, object]:
    from skimguard.alerts.format import finding_to_dict

    return finding_to_dict(f)


def _options(
    platform: str, named: tuple[ColumnSpec, ...], max_rows: int, timeout: float | None, keep: bool
) -> DbScanOptions:
    from skimguard.analyze.engine import Options
    from skimguard.analyze.known_good import known_good_set
    from skimguard.webroot.database import DbScanOptions

    return DbScanOptions(
        platform=platform.strip().lower(),
        named=named,
        max_rows=max_rows,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        dump_timeout=timeout,
        analysis=Options(known_good=known_good_set()),
        keep_texts=keep,
    )


def _with_site(options: DbScanOptions, site: Site, store: Store) -> DbScanOptions:
    """The options with the site's inventory decisions, threat intel and known-good hashes."""
    from skimguard.analyze.engine import Options
    from skimguard.analyze.known_good import known_good_set
    from skimguard.intel import IntelIndex

    indicators = store.indicators()
    analysis = Options(
        intel=IntelIndex.build(indicators) if indicators else None, known_good=known_good_set(store.known_good())
    )
    return replace(options, site=site, decisions=tuple(store.decisions(site.name)), analysis=analysis)


def _run(source: str, options: DbScanOptions) -> DbScanResult:
    from skimguard.webroot.database import redact_url, scan_source

    with progress_display() as progress:
        progress.add_task(f"db scan {escape(redact_url(source)[-60:])}", total=None)
        return scan_source(source, options, clock=lambda: datetime.now(UTC))
