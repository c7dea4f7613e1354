"""Output of ``skimguard webroot``: JSON (``skimguard.webroot/1``) and the table for people.

Pure functions over the outcomes of :mod:`.runner`; every string from the web root (paths,
excerpts) is hostile and is escaped for Rich markup here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skimguard.alerts.format import finding_to_dict, iso_utc
from skimguard.models import Finding, Severity
from skimguard.output import severity_text

if TYPE_CHECKING:
    from skimguard.webroot.runner import BaselineOutcome, ScanOutcome

SCHEMA: Final = "skimguard.webroot/1"
BASELINE_SCHEMA: Final = "skimguard.webroot-baseline/1"


def _file_fields(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The fields every consumer wants at the top of a web-root finding."""
    return {
        "path": evidence.get("path"),
        "line": evidence.get("line"),
        "excerpt": evidence.get("excerpt"),
        "rule": evidence.get("rule"),
        "mtime": evidence.get("mtime"),
        "sha256": evidence.get("sha256"),
        "change": evidence.get("change"),
        "zone": evidence.get("zone"),
    }


def finding_json(f: Finding) -> dict[str, Any]:
    """A finding (DESIGN §5 fields) with ``path``, ``line``, ``excerpt``, ``rule`` (the strongest
    engine hit), ``mtime``, ``sha256``, ``change`` and ``zone`` lifted from its evidence."""
    return {**finding_to_dict(f), **_file_fields(f.evidence)}


def scan_to_json(outcome: ScanOutcome) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "site": outcome.site,
        "root": outcome.root,
        "scan_id": outcome.scan_id,
        "started_at": iso_utc(outcome.started_at),
        "finished_at": iso_utc(outcome.finished_at),
        "platforms": list(outcome.platforms),
        "releases": list(outcome.releases),
        "baseline_at": iso_utc(outcome.baseline_at) if outcome.baseline_at else None,
        "complete": outcome.complete,
        "changes": outcome.counts.as_dict(),
        "files": outcome.stats.as_dict(),
        "resolved": outcome.resolved,
        "notes": list(outcome.notes),
        "findings": [finding_json(f) for f in outcome.findings],
    }


def baseline_to_json(outcome: BaselineOutcome) -> dict[str, Any]:
    return {
        "schema": BASELINE_SCHEMA,
        "site": outcome.site,
        "root": outcome.root,
        "taken_at": iso_utc(outcome.taken_at),
        "platforms": list(outcome.platforms),
        "files": outcome.files,
        "unreadable": list(outcome.unreadable),
        "include": list(outcome.scope.include),
        "exclude": list(outcome.scope.exclude),
        "stats": outcome.stats.as_dict(),
        "notes": list(outcome.notes),
    }


def _where(f: Finding) -> str:
    ev = f.evidence
    line = ev.get("line")
    path = str(ev.get("path") or f.subject)
    return f"{path}:{line}" if isinstance(line, int) and line > 0 else path


def findings_table(findings: tuple[Finding, ...]) -> Table:
    table = Table(show_lines=False, expand=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("what", overflow="fold")
    table.add_column("modified (UTC)", no_wrap=True)
    for f in findings:
        ev = f.evidence
        what = str(ev.get("rule") or "")
        excerpt = str(ev.get("excerpt") or "")
        detail = f"{what} {excerpt[:100]}".strip() if what else str(ev.get("change") or "")
        mtime = str(ev.get("mtime") or "")[:19].replace("T", " ")
        table.add_row(severity_text(f.severity), f.rule_id, escape(_where(f)[:200]), escape(detail), mtime)
    return table


def render_scan(console: Console, outcome: ScanOutcome, *, min_severity: Severity = Severity.INFO) -> None:
    from skimguard.webroot.runner import platforms_line

    s = outcome.stats
    c = outcome.counts
    baseline = f"baseline {outcome.baseline_at:%Y-%m-%d %H:%M}" if outcome.baseline_at else "no baseline"
    console.print(
        f"[bold]{escape(outcome.site)}[/]  web root {escape(outcome.root)}  "
        f"{escape(platforms_line(outcome.platforms))}  {baseline}"
    )
    console.print(
        f"{s.files} file(s): {s.read} read, {s.reused} unchanged (cached), {s.analysed} analysed; "
        f"{c.new} new, {c.modified} modified, {c.deleted} deleted, {c.permissions} permission change(s); "
        f"{s.seconds:.1f} s"
    )
    shown = tuple(f for f in outcome.findings if f.severity >= min_severity)
    if shown:
        console.print(findings_table(shown))
    else:
        console.print("no findings")
    stored = f"stored as scan {outcome.scan_id}" if outcome.scan_id else "nothing new to store"
    resolved = f", {outcome.resolved} resolved" if outcome.resolved else ""
    console.print(f"{len(outcome.findings)} finding(s), {stored}{resolved}")
    for note in outcome.notes:
        console.print(f"note: {escape(note)}")


def render_baseline(console: Console, outcome: BaselineOutcome) -> None:
    from skimguard.webroot.runner import platforms_line

    s = outcome.stats
    console.print(
        f"[bold]{escape(outcome.site)}[/]  baseline of {escape(outcome.root)} "
        f"({escape(platforms_line(outcome.platforms))}): {outcome.files} file(s) recorded; "
        f"{s.read} read, {s.reused} unchanged (cached); {s.seconds:.1f} s"
    )
    if outcome.scope.include or outcome.scope.exclude:
        console.print(
            f"include {escape(', '.join(outcome.scope.include) or '-')}; "
            f"exclude {escape(', '.join(outcome.scope.exclude) or '-')}"
        )
    if outcome.unreadable:
        console.print(
            f"[yellow]{len(outcome.unreadable)} file(s) could not be read and are not in the baseline[/], "
            f"e.g. {escape(outcome.unreadable[0])}"
        )
    for note in outcome.notes:
        console.print(f"note: {escape(note)}")
    console.print("next: `skimguard webroot scan` (the first scan analyses every code file once)")
