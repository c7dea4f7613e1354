"""Command groups of ``skimguard``: ``baseline``, ``inventory``, ``findings``."""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from skimguard.cli import (
    DEFAULT_CONFIG,
    ByOpt,
    ConfigOpt,
    Format,
    FormatOpt,
    OutputOpt,
    SiteOpt,
    actor,
    app,
    dumps,
    emit,
    errors,
    fail,
    opened,
    out,
    parse_severity,
    pick_site,
)
from skimguard.config import load_config
from skimguard.inventory.authorize import Authorization, authorize
from skimguard.models import ChangeRule, Decision, InventoryItem, MatchType

if TYPE_CHECKING:
    from skimguard.store import Store

baseline_app = typer.Typer(
    help="The approved state every scan is compared with (PCI DSS 11.6.1).", no_args_is_help=True
)
inventory_app = typer.Typer(
    help="Every script seen on monitored pages and its authorization (PCI DSS 6.4.3).", no_args_is_help=True
)
findings_app = typer.Typer(help="Findings, and acknowledging them.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")
app.add_typer(inventory_app, name="inventory")
app.add_typer(findings_app, name="findings")


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


# ------------------------------------------------------------------------------------------ baseline


@baseline_app.command("accept")
def baseline_accept(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: SiteOpt = None,
    scan_id: Annotated[str | None, typer.Option("--scan", help="Scan to accept (default: the latest).")] = None,
    note: Annotated[str, typer.Option("--note", help="Why this state is approved.")] = "",
    by: ByOpt = None,
) -> None:
    """Take a scan (default: the latest finished one) as the site's approved state."""
    from skimguard.monitor import accept_baseline

    with errors():
        config = load_config(config_path)
        target = pick_site(config, site)
        with opened(config) as store:
            baseline_id, accepted = accept_baseline(store, target, scan_id=scan_id, actor=actor(by), note=note)
            row = store.scan(accepted)
    warn = ""
    if row is not None and row.status != "ok":
        warn = f" [yellow](that scan was {row.status}: pages it did not reach are not in the baseline)[/]"
    out.print(f"baseline {baseline_id} of {escape(target.name)} accepted from scan {accepted}{warn}")


@baseline_app.command("show")
def baseline_show(
    config_path: ConfigOpt = DEFAULT_CONFIG, site: SiteOpt = None, format: FormatOpt = Format.table
) -> None:
    """The approved state of a site: pages, scripts, forms, destinations, headers."""
    with errors():
        config = load_config(config_path)
        target = pick_site(config, site)
        with opened(config) as store:
            row = store.baseline(target.name)
    if row is None:
        fail(f"no baseline for {target.name}", f"run `skimguard baseline accept --site {target.name}`")
    if format is Format.json:
        emit(
            dumps(
                {
                    "id": row.id,
                    "accepted_at": row.accepted_at,
                    "accepted_by": row.accepted_by,
                    "note": row.note,
                    "scan_id": row.scan_id,
                    "snapshot": row.snapshot,
                }
            ),
            None,
        )
        return
    out.print(
        f"baseline {row.id} of {escape(target.name)}, accepted {row.accepted_at:%Y-%m-%d %H:%M} UTC "
        f"by {escape(row.accepted_by)} from scan {row.scan_id}"
    )
    table = Table("page", "card page", "scripts", "forms", "destinations", "security headers")
    for name, page in sorted(row.snapshot.get("pages", {}).items()):
        table.add_row(
            escape(name),
            "yes" if page.get("card_page") else "",
            str(len(page.get("scripts", {}))),
            str(len(page.get("forms", {}))),
            str(len(page.get("destinations", {}))),
            escape(", ".join(sorted(page.get("headers", {})))),
        )
    out.print(table)


# ------------------------------------------------------------------------------------------ inventory


def authorizations(store: Store, site: str) -> tuple[list[InventoryItem], dict[str, Authorization]]:
    items = store.inventory(site)
    decisions = store.decisions(site)
    return items, {i.key: authorize(i.key, i.url, i.sha256, decisions) for i in items}


def item_dict(item: InventoryItem, auth: Authorization) -> dict[str, Any]:
    d = auth.decision
    return {
        "site": item.site,
        "key": item.key,
        "kind": item.kind.value,
        "url": item.url,
        "origin": item.origin,
        "sha256": item.sha256,
        "size": item.size,
        "first_seen": item.first_seen.isoformat(),
        "last_seen": item.last_seen.isoformat(),
        "pages": list(item.pages),
        "versions_seen": item.hashes_seen,
        "authorization": auth.status,
        "reason": auth.reason,
        "decision_id": d.id if d else None,
        "approved_by": d.actor if d else None,
        "approved_at": d.at.isoformat() if d else None,
        "justification": d.justification if d else None,
        "owner": d.owner if d else None,
        "change_rule": d.change_rule.value if d else None,
    }


def decision_dict(d: Decision) -> dict[str, Any]:
    return {
        "id": d.id,
        "match": d.match.value,
        "value": d.value,
        "change_rule": d.change_rule.value,
        "pinned_sha256": d.pinned_sha256,
        "justification": d.justification,
        "owner": d.owner,
        "approved_by": d.actor,
        "approved_at": d.at.isoformat(),
        "revoked_at": d.revoked_at.isoformat() if d.revoked_at else None,
        "revoked_by": d.revoked_by,
        "revoke_reason": d.revoke_reason,
    }


AUTH_STYLE = {"approved": "green", "changed": "yellow", "unapproved": "red"}


@inventory_app.command("list")
def inventory_list(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: SiteOpt = None,
    format: FormatOpt = Format.table,
    unapproved: Annotated[bool, typer.Option("--unapproved", help="Only scripts that are not authorized.")] = False,
) -> None:
    """Every script ever seen on the site's monitored pages, with its authorization."""
    with errors():
        config = load_config(config_path)
        target = pick_site(config, site)
        with opened(config) as store:
            items, auths = authorizations(store, target.name)
    if unapproved:
        items = [i for i in items if auths[i.key].status != "approved"]
    if format is Format.json:
        emit(
            dumps(
                {
                    "schema": "skimguard.inventory/1",
                    "site": target.name,
                    "scripts": [item_dict(i, auths[i.key]) for i in items],
                }
            ),
            None,
        )
        return
    table = Table(title=f"script inventory of {escape(target.name)}: {len(items)} script(s)")
    for col in ("status", "kind", "script", "sha256", "size", "pages", "last seen (UTC)"):
        table.add_column(col, overflow="fold")
    for i in items:
        status = auths[i.key].status
        table.add_row(
            f"[{AUTH_STYLE.get(status, 'white')}]{status}[/]",
            i.kind.value,
            escape(i.url or i.key),
            (i.sha256 or "")[:12],
            str(i.size),
            escape(", ".join(i.pages)[:60]),
            f"{i.last_seen:%Y-%m-%d %H:%M}",
        )
    out.print(table)


def find_item(store: Store, site: str, query: str) -> InventoryItem:
    matches = store.find_inventory(site, query)
    if not matches:
        fail(f"no script in the inventory of {site} matches {query!r}", "see `skimguard inventory list`")
    if len(matches) > 1:
        fail(f"{query!r} matches {len(matches)} scripts", "give the full key or a longer sha256 prefix")
    return matches[0]


@inventory_app.command("show")
def inventory_show(
    query: Annotated[str, typer.Argument(help="Script key, URL or sha256 prefix (8+ characters).")],
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: SiteOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """One script: where it runs, its versions and its authorization history."""
    with errors():
        config = load_config(config_path)
        target = pick_site(config, site)
        with opened(config) as store:
            item = find_item(store, target.name, query)
            _, auths = authorizations(store, target.name)
            subjects: set[str] = {s for s in (item.key, item.sha256, item.url) if s}
            subjects |= {
                f"decision:{d.id}"
                for d in store.decisions(target.name, include_revoked=True)
                if d.value in subjects or (d.match is MatchType.PATTERN and fnmatchcase(item.key, d.value))
            }
            history = [a for a in store.audit(target.name) if a.subject in subjects]
    data = item_dict(item, auths[item.key])
    data["audit"] = [
        {"at": a.at.isoformat(), "actor": a.actor, "action": a.action, "details": a.details} for a in history
    ]
    if format is Format.json:
        emit(dumps(data), None)
        return
    for key, value in data.items():
        if key != "audit":
            out.print(f"[bold]{key:>15}[/] {escape(str(value))}")
    for a in history:
        out.print(f"{'audit':>15} {a.at:%Y-%m-%d %H:%M} {escape(a.actor)} {escape(a.action)}")


@inventory_app.command("approve")
def inventory_approve(
    query: Annotated[str | None, typer.Argument(help="Script key, URL or sha256 prefix from the inventory.")] = None,
    justification: Annotated[
        str, typer.Option("--justification", "-j", help="Why the script is needed (required, PCI DSS 6.4.3).")
    ] = "",
    owner: Annotated[str, typer.Option("--owner", help="Team or vendor responsible for the script.")] = "",
    pattern: Annotated[
        str | None, typer.Option("--pattern", help="Approve every script URL matching this glob.")
    ] = None,
    by_hash: Annotated[
        bool, typer.Option("--hash", help="Approve these exact bytes (always so for inline code).")
    ] = False,
    on_change: Annotated[
        ChangeRule,
        typer.Option(
            "--on-change",
            help="URL/pattern approvals: new bytes are unauthorized (pin), allowed but flagged "
            "(review), or allowed (allow).",
        ),
    ] = ChangeRule.PIN,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: SiteOpt = None,
    by: ByOpt = None,
) -> None:
    """Authorize a script by exact hash, by URL or by URL pattern, with a written justification."""
    if not justification.strip():
        fail("--justification is required: say why the script is needed (PCI DSS 6.4.3)")
    if not owner.strip():
        fail("--owner is required: who is responsible for this script")
    if (query is None) == (pattern is None):
        fail("give either a script (key, URL or sha256 prefix) or --pattern")
    with errors():
        config = load_config(config_path)
        target = pick_site(config, site)
        with opened(config) as store:
            pinned: str | None = None
            if pattern is not None:
                match, value = MatchType.PATTERN, pattern
            else:
                item = find_item(store, target.name, query or "")
                if by_hash or item.url is None:
                    if not item.sha256:
                        fail("this script's bytes were never read (too large?)", "approve it by URL instead")
                    match, value = MatchType.HASH, item.sha256
                else:
                    match, value, pinned = MatchType.URL, item.key, item.sha256
            decision = store.add_decision(
                target.name, match, value, justification.strip(), owner.strip(), actor(by), on_change, pinned
            )
    out.print(
        f"decision {decision.id}: {match.value} {escape(value)} approved "
        f"(on change: {on_change.value}) by {escape(decision.actor)}"
    )


@inventory_app.command("revoke")
def inventory_revoke(
    decision_id: Annotated[int, typer.Argument(help="Decision id (see `inventory export`).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the authorization ends (required).")] = "",
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Withdraw an authorization; the decision and its audit trail are kept."""
    if not reason.strip():
        fail("--reason is required")
    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            decision = store.revoke_decision(decision_id, actor(by), reason.strip())
    out.print(f"decision {decision.id} ({decision.match.value} {escape(decision.value)}) revoked")


def csv_cell(value: Any) -> str:
    text = "; ".join(map(str, value)) if isinstance(value, list) else "" if value is None else str(value)
    # Page-controlled text must not start a spreadsheet formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@inventory_app.command("export")
def inventory_export(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: SiteOpt = None,
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.csv,
    output: OutputOpt = None,
) -> None:
    """The inventory with justifications and decisions, for an assessor (CSV or JSON)."""
    with errors():
        config = load_config(config_path)
        target = pick_site(config, site)
        with opened(config) as store:
            items, auths = authorizations(store, target.name)
            decisions = store.decisions(target.name, include_revoked=True)
    rows = [item_dict(i, auths[i.key]) for i in items]
    if format is ExportFormat.json:
        emit(
            dumps(
                {
                    "schema": "skimguard.inventory/1",
                    "site": target.name,
                    "scripts": rows,
                    "decisions": [decision_dict(d) for d in decisions],
                }
            ),
            output,
        )
        return
    buf = io.StringIO()
    columns = list(rows[0]) if rows else ["site", "key", "kind", "url", "sha256", "authorization"]
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    emit(buf.getvalue(), output)


# ------------------------------------------------------------------------------------------ findings


@findings_app.command("list")
def findings_list(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: Annotated[str | None, typer.Option("--site", "-s")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved and acknowledged findings.")] = False,
    min_severity: Annotated[str, typer.Option("--min-severity")] = "info",
    format: FormatOpt = Format.table,
) -> None:
    """Findings still open (as of the latest scans)."""
    from skimguard.alerts.format import finding_to_dict
    from skimguard.output import findings_table

    threshold = parse_severity(min_severity, "--min-severity")
    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            rows = store.findings(site, status=None if all_ else "open", min_severity=threshold)
    if format is Format.json:
        emit(
            dumps(
                {
                    "schema": "skimguard.findings/1",
                    "findings": [
                        {
                            **finding_to_dict(r.finding),
                            "status": r.status,
                            "last_seen": r.last_seen.isoformat(),
                        }
                        for r in rows
                    ],
                }
            ),
            None,
        )
        return
    out.print(findings_table([r.finding for r in rows], title=f"{len(rows)} finding(s)"))


@findings_app.command("ack")
def findings_ack(
    fingerprint: Annotated[str, typer.Argument(help="Finding fingerprint (see `findings list --format json`).")],
    note: Annotated[str, typer.Option("--note", help="What was done about it (required).")] = "",
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Acknowledge a finding: it stays in the evidence, and is not alerted again."""
    if not note.strip():
        fail("--note is required")
    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            store.acknowledge(fingerprint, actor(by), note.strip())
    out.print(f"finding {escape(fingerprint)} acknowledged")
