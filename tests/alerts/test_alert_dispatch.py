from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from alerts_helpers import Entry, FakeSink, MemoryLog, make_finding
from rich.console import Console

from skimguard.alerts import AlertBatch, ConsoleSink, EmailSink, WebhookSink, build_sinks, dispatch
from skimguard.config import Alerts
from skimguard.models import Severity


@dataclass
class CrashingSink:
    """A sink with a bug: raises something that is not an AlertError."""

    name: str = "crash"

    def send(self, batch: AlertBatch) -> None:
        raise RuntimeError("boom")


def test_failing_sinks_do_not_stop_the_others() -> None:
    log = MemoryLog()
    f = make_finding()
    down, crash, fine = FakeSink("down", fail=True), CrashingSink(), FakeSink("fine")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    report = dispatch(
        [f],
        site="demo-shop",
        scan_id="scan-1",
        sinks=[down, crash, fine],
        log=log,
        record=log.record,
        min_severity=Severity.HIGH,
        dashboard_hint="skimguard dashboard",
        now=when,
    )
    assert not report.ok
    assert report.sent == 1
    assert [(r.sink, r.sent, r.failed) for r in report.results] == [
        ("down", 0, 1),
        ("crash", 0, 1),
        ("fine", 1, 0),
    ]
    assert report.errors == ("down: down: down", "crash: RuntimeError: boom")
    assert [(e.sink, e.ok) for e in log.entries] == [("down", False), ("crash", False), ("fine", True)]
    (batch,) = fine.batches
    assert (batch.site, batch.scan_id, batch.created_at, batch.dashboard_hint) == (
        "demo-shop",
        "scan-1",
        when,
        "skimguard dashboard",
    )

    # Next scan: only the sinks that failed get it again.
    down.fail = False
    report = dispatch(
        [f],
        site="demo-shop",
        scan_id="scan-2",
        sinks=[down, fine],
        log=log,
        record=log.record,
        min_severity=Severity.HIGH,
    )
    assert [(r.sink, r.sent, r.skipped) for r in report.results] == [("down", 1, 0), ("fine", 0, 1)]
    assert report.ok


def test_broken_log_and_record_do_not_raise() -> None:
    class BrokenLog:
        def last_alert(self, fingerprint: str, sink: str) -> Entry | None:
            raise OSError("database is locked")

    def broken_record(*args: object) -> None:
        raise OSError("disk full")

    sink = FakeSink()
    report = dispatch(
        [make_finding()],
        site="demo-shop",
        scan_id=None,
        sinks=[sink],
        log=BrokenLog(),
        record=broken_record,
        min_severity=Severity.HIGH,
    )
    assert "database is locked" in (report.results[0].error or "")
    assert sink.batches == []

    report = dispatch(
        [make_finding()],
        site="demo-shop",
        scan_id=None,
        sinks=[sink],
        log=MemoryLog(),
        record=broken_record,
        min_severity=Severity.HIGH,
    )
    (result,) = report.results
    assert result.sent == 1
    assert "disk full" in (result.error or "")


def test_build_sinks_from_config() -> None:
    cfg = Alerts.model_validate(
        {
            "min_severity": "medium",
            "sinks": [
                {"type": "console"},
                {
                    "type": "webhook",
                    "url": "https://hooks.test/x?token=1",
                    "headers": {"A": "b"},
                    "timeout": "3s",
                },
                {"type": "webhook", "url": "https://hooks.test/x?token=2"},
                {
                    "type": "email",
                    "smtp_host": "mail.test",
                    "from": "sg@shop.test",
                    "to": ["a@shop.test", "b@shop.test"],
                    "username": "sg",
                    "password_env": "SG_PW",
                },
            ],
        }
    )
    console = Console(record=True)
    sinks = build_sinks(cfg, console)
    assert [s.name for s in sinks] == [
        "console",
        "webhook:https://hooks.test/x",
        "email:a@shop.test,b@shop.test",
    ]
    con, hook, mail = sinks
    assert isinstance(con, ConsoleSink) and con.console is console
    assert isinstance(hook, WebhookSink) and hook.headers == {"A": "b"} and hook.timeout == 3.0
    assert isinstance(mail, EmailSink)
    assert (mail.smtp_port, mail.starttls, mail.password_env, mail.sender) == (
        587,
        True,
        "SG_PW",
        "sg@shop.test",
    )


def test_build_sinks_default_console_goes_to_stderr() -> None:
    (sink,) = build_sinks(Alerts())
    assert isinstance(sink, ConsoleSink)
    assert sink.console.stderr
