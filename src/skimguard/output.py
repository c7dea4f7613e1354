"""Scan results as versioned JSON (``skimguard.scan/1``) and as Rich tables.

JSON is built by pure functions; the table renderers only write to the console they are given.
Every string that came from a page is escaped before Rich sees it (page text may hold markup).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skimguard.alerts.format import finding_to_dict
from skimguard.models import Finding, PageCapture, ScanResult, ScriptRecord, Severity

SCAN_SCHEMA = "skimguard.scan/1"

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def script_to_dict(script: ScriptRecord) -> dict[str, Any]:
    return {
        "kind": script.kind.value,
        "url": script.url,
        "sha256": script.sha256,
        "size": script.size,
        "inline": script.url is None,
        "frame": script.frame_url,
        "main_frame": script.main_frame,
        "initiator": script.initiator,
        "initiator_type": script.initiator_type,
    }


def page_to_dict(page: PageCapture, journey: str) -> dict[str, Any]:
    return {
        "name": page.name,
        "journey": journey,
        "url": page.url,
        "final_url": page.final_url,
        "redirect_chain": list(page.redirect_chain),
        "status": page.status,
        "card_page": page.has_card_fields,
        "scripts": [script_to_dict(s) for s in page.scripts],
        "requests": len(page.requests),
        "forms": [
            {
                "action": f.action,
                "method": f.method,
                "frame": f.frame_url,
                "fields": [
                    {
                        "name": x.name,
                        "id": x.id,
                        "type": x.type,
                        "autocomplete": x.autocomplete,
                        "label": x.label,
                        "card_role": x.card_role,
                    }
                    for x in f.fields
                ],
            }
            for f in page.forms
        ],
        "frames": [{"url": fr.url, "origin": fr.origin} for fr in page.frames],
        "problems": list(page.problems),
    }


def scan_to_json(result: ScanResult) -> dict[str, Any]:
    return {
        "schema": SCAN_SCHEMA,
        "site": result.site,
        "scan_id": result.scan_id,
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat(),
        "status": result.status.value,
        "journeys": [
            {
                "name": c.journey,
                "identity": c.identity,
                "status": c.status.value,
                "problems": [p.message for p in c.problems],
            }
            for c in result.captures
        ],
        "pages": [page_to_dict(p, c.journey) for c in result.captures for p in c.pages],
        "findings": [finding_to_dict(f) for f in result.findings],
    }


def scans_to_json(results: Sequence[ScanResult]) -> dict[str, Any]:
    """Several sites at once: ``{"schema": ..., "scans": [...]}``; one site: the scan itself."""
    if len(results) == 1:
        return scan_to_json(results[0])
    return {"schema": SCAN_SCHEMA, "scans": [scan_to_json(r) for r in results]}


def severity_text(severity: Severity) -> str:
    return f"[{SEVERITY_STYLE[severity]}]{severity.label}[/]"


def findings_table(findings: Iterable[Finding], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("page")
    table.add_column("title", overflow="fold")
    table.add_column("where / what", overflow="fold")
    for f in findings:
        where = f.destination or f.script_url or f.subject
        table.add_row(
            severity_text(f.severity),
            f.rule_id,
            escape(f.page or "-"),
            escape(f.title),
            escape((where or "-")[:160]),
        )
    return table


def render_scan(console: Console, result: ScanResult, *, min_severity: Severity = Severity.INFO) -> None:
    pages = result.pages
    scripts = sum(len(p.scripts) for p in pages)
    status_style = {"ok": "green", "partial": "yellow", "failed": "bold red"}[result.status.value]
    console.print(
        f"[bold]{escape(result.site)}[/]  scan {result.scan_id}  "
        f"[{status_style}]{result.status.value}[/]  "
        f"{len(result.captures)} journey(s), {len(pages)} page(s), {scripts} script(s)"
    )
    shown = [f for f in result.findings if f.severity >= min_severity]
    if not shown:
        console.print("  no findings" + (f" at or above {min_severity.label}" if min_severity else ""))
        return
    console.print(findings_table(shown))
    hidden = len(result.findings) - len(shown)
    if hidden:
        console.print(f"  ({hidden} finding(s) below {min_severity.label} not shown)")
