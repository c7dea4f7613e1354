"""Output of ``skimguard analyze``: the ``skimguard.analyze/1`` JSON document and the table.

Pure functions over :class:`~skimguard.analyze.model.FileVerdict`. Excerpts come from hostile
files: the table escapes Rich markup and control characters; JSON is escaped by the encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skimguard.analyze.model import CodeHit, FileVerdict, Verdict
from skimguard.models import Category

SCHEMA = "skimguard.analyze/1"
_VERDICT_STYLE = {Verdict.MALICIOUS: "bold red", Verdict.SUSPICIOUS: "yellow", Verdict.CLEAN: "green"}


def hit_to_dict(hit: CodeHit) -> dict[str, Any]:
    return {
        "rule_id": hit.rule_id,
        "category": Category.CODE.value,
        "layer": hit.layer.value,
        "severity": hit.severity.label,
        "confidence": hit.confidence.label,
        "title": hit.title,
        "explanation": hit.explanation,
        "excerpt": hit.excerpt,
        "line": hit.line,
        "column": hit.column,
        "normalized": hit.normalized,
        "traits": list(hit.traits),
    }


def verdict_to_dict(v: FileVerdict) -> dict[str, Any]:
    return {
        "path": v.path,
        "sha256": v.sha256,
        "language": v.language.value,
        "size": v.size,
        "verdict": v.verdict.value,
        "score": v.score,
        "traits": list(v.traits),
        "problems": list(v.problems),
        "findings": [hit_to_dict(h) for h in v.hits],
    }


def to_json(verdicts: Sequence[FileVerdict], unreadable: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    counts = {v.value: sum(1 for x in verdicts if x.verdict is v) for v in Verdict}
    return {
        "schema": SCHEMA,
        "summary": {"files": len(verdicts), **counts, "unreadable": len(unreadable)},
        "files": [verdict_to_dict(v) for v in verdicts],
        "unreadable": [{"path": p, "reason": r} for p, r in unreadable],
    }


def _safe(text: str, limit: int = 120) -> str:
    cleaned = "".join(c if c.isprintable() else "·" for c in text[:limit])
    return escape(cleaned + ("…" if len(text) > limit else ""))


def render(console: Console, verdicts: Sequence[FileVerdict], unreadable: Sequence[tuple[str, str]] = (),
           *, show_clean: bool = False) -> None:  # fmt: skip
    """Flagged files with their findings (and clean ones with ``show_clean``), then a summary."""
    shown = [v for v in verdicts if show_clean or v.verdict is not Verdict.CLEAN]
    for v in shown:
        style = _VERDICT_STYLE[v.verdict]
        console.print(
            f"[{style}]{v.verdict.value.upper()}[/] {_safe(v.path, 200)}  score {v.score}  "
            f"[dim]{v.language.value} {v.size} bytes sha256 {v.sha256[:16]}…[/]"
        )
        if v.hits:
            table = Table("rule", "severity", "where", "what", "excerpt", box=None, pad_edge=False)
            for h in v.hits:
                where = f"{h.line}:{h.column}" + (" (decoded)" if h.normalized else "")
                table.add_row(h.rule_id, h.severity.label, where, _safe(h.explanation, 160), _safe(h.excerpt, 80))
            console.print(table)
        if v.traits:
            console.print(f"  [dim]traits: {_safe(', '.join(v.traits), 300)}[/]")
        for problem in v.problems:
            console.print(f"  [dim]note: {_safe(problem, 200)}[/]")
    for path, reason in unreadable:
        console.print(f"[yellow]UNREADABLE[/] {_safe(path, 200)}: {_safe(reason)}")
    counts = {v: sum(1 for x in verdicts if x.verdict is v) for v in Verdict}
    console.print(
        f"{len(verdicts)} file(s): {counts[Verdict.MALICIOUS]} malicious, {counts[Verdict.SUSPICIOUS]} suspicious, "
        f"{counts[Verdict.CLEAN]} clean" + (f", {len(unreadable)} unreadable" if unreadable else "")
    )
