from __future__ import annotations

from datetime import UTC, datetime

from alerts_helpers import make_finding
from rich.console import Console

from skimguard.alerts import AlertBatch, ConsoleSink
from skimguard.models import Finding, Severity


def _batch(*findings: Finding, hint: str | None = None) -> AlertBatch:
    return AlertBatch(
        site="demo-shop",
        scan_id="scan-42",
        findings=findings,
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        dashboard_hint=hint,
    )


def test_console_table_shows_rule_and_escapes_markup() -> None:
    console = Console(record=True, width=120, color_system="truecolor", force_terminal=True)
    hostile = make_finding(
        title="[bold]Pay now[/bold] :smile: \x1b[2J[link=https://evil.test]x[/link]",
        page="payment",
    )
    other = make_finding(rule_id="SG205", severity=Severity.HIGH, subject="other", title="Header removed")
    sink = ConsoleSink(console)
    assert sink.name == "console"
    sink.send(_batch(other, hostile, hint="skimguard dashboard [red]x[/red]"))
    text = console.export_text()
    assert "SG301" in text
    assert "SG205" in text
    assert "[bold]Pay now[/bold]" in text
    assert ":smile:" in text
    assert "[link=https://evil.test]x[/link]" in text
    assert "\x1b[2J" not in console.export_text(styles=True)
    assert "CRITICAL" in text and "collect.evil.test" in text and "demo-shop" in text
    assert "skimguard dashboard [red]x[/red]" in text
    # Worst first.
    assert text.index("SG301") < text.index("SG205")


def test_console_nothing_to_say_prints_nothing() -> None:
    console = Console(record=True, width=120)
    ConsoleSink(console).send(_batch())
    assert console.export_text() == ""
