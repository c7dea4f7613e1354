"""Build the configured sinks and send each the findings it has not heard about yet.

``dispatch`` never raises because of a sink: each sink is tried on its own, every attempt is
recorded (``ok=False`` on failure, so that it is retried on the next scan) and the outcome is
returned as a :class:`DispatchReport`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console

from skimguard import config
from skimguard.alerts.dedupe import AlertLog, select_for_sink, unique_findings
from skimguard.alerts.format import one_line
from skimguard.alerts.interface import AlertBatch, Sink
from skimguard.errors import AlertError
from skimguard.models import Finding, Severity

logger = logging.getLogger("skimguard.alerts")

#: ``record(fingerprint, site, sink, content_hash, ok, error)``: append one attempt to the alert log.
RecordFn = Callable[[str, str, str, str, bool, str | None], None]


@dataclass(frozen=True)
class SinkResult:
    sink: str
    sent: int = 0  # findings delivered
    skipped: int = 0  # distinct findings not due for this sink (below threshold or already alerted)
    failed: int = 0  # findings that were due but could not be delivered (retried next time)
    error: str | None = None  # why the send (or recording it) failed

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DispatchReport:
    results: tuple[SinkResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def sent(self) -> int:
        return sum(r.sent for r in self.results)

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(f"{r.sink}: {r.error}" for r in self.results if r.error)


def build_sinks(cfg: config.Alerts, console: Console | None = None) -> list[Sink]:
    """The sinks of ``alerts.sinks`` in their configured order; the same sink twice is kept once.

    Console sinks write to ``console``, or to a new stderr console when none is given (stdout may
    carry JSON output).
    """
    from skimguard.alerts.sinks import ConsoleSink, EmailSink, WebhookSink  # HTTP and e-mail: only when alerting

    sinks: list[Sink] = []
    for spec in cfg.sinks:
        sink: Sink
        if isinstance(spec, config.ConsoleSink):
            sink = ConsoleSink(console if console is not None else Console(stderr=True))
        elif isinstance(spec, config.WebhookSink):
            sink = WebhookSink(spec.url, headers=spec.headers, timeout=spec.timeout)
        else:
            sink = EmailSink(
                smtp_host=spec.smtp_host,
                smtp_port=spec.smtp_port,
                sender=spec.sender,
                to=spec.to,
                username=spec.username,
                password_env=spec.password_env,
                starttls=spec.starttls,
                timeout=spec.timeout,
            )
        if all(s.name != sink.name for s in sinks):
            sinks.append(sink)
    return sinks


def _describe(err: BaseException) -> str:
    if isinstance(err, AlertError):
        return one_line(str(err), 300)
    return one_line(f"{type(err).__name__}: {err}", 300)


def _record_all(
    record: RecordFn, findings: Sequence[Finding], site: str, sink: str, ok: bool, error: str | None
) -> str | None:
    """Record one attempt per finding; returns an error text when the log could not be written."""
    try:
        for f in findings:
            record(f.fingerprint, site, sink, f.content_hash, ok, error)
    except Exception as err:
        logger.error("alerts: could not record %s alerts to %s: %s", len(findings), sink, _describe(err))
        return f"could not record the attempt: {_describe(err)}"
    return None


def dispatch(
    findings: Iterable[Finding],
    *,
    site: str,
    scan_id: str | None,
    sinks: Sequence[Sink],
    log: AlertLog,
    record: RecordFn,
    min_severity: Severity,
    reopened: Collection[str] = frozenset(),
    dashboard_hint: str | None = None,
    now: datetime | None = None,
) -> DispatchReport:
    """Send every sink the findings due for it (see :func:`select_for_sink`) as one batch."""
    candidates = unique_findings(findings)
    created_at = now if now is not None else datetime.now(UTC)
    results: list[SinkResult] = []
    for sink in sinks:
        name = "(unnamed sink)"
        try:
            name = sink.name
            due = select_for_sink(
                candidates, sink=name, log=log, min_severity=min_severity, reopened=reopened
            )
        except Exception as err:
            logger.error("alerts: cannot read the alert log for %s: %s", name, _describe(err))
            results.append(SinkResult(name, error=f"cannot read the alert log: {_describe(err)}"))
            continue
        skipped = len(candidates) - len(due)
        if not due:
            results.append(SinkResult(name, skipped=skipped))
            continue
        batch = AlertBatch(
            site=site,
            scan_id=scan_id,
            findings=tuple(due),
            created_at=created_at,
            dashboard_hint=dashboard_hint,
        )
        try:
            sink.send(batch)
        except Exception as err:  # a broken sink must not stop the others
            error = _describe(err)
            logger.warning("alerts: %s failed for %d finding(s): %s", name, len(due), error)
            record_error = _record_all(record, due, site, name, False, error)
            full = f"{error}; {record_error}" if record_error else error
            results.append(SinkResult(name, skipped=skipped, failed=len(due), error=full))
            continue
        record_error = _record_all(record, due, site, name, True, None)
        results.append(SinkResult(name, sent=len(due), skipped=skipped, error=record_error))
    return DispatchReport(tuple(results))
