"""Alerting: deduplicate findings per sink and deliver them (console, webhook, e-mail).

``dispatch`` is the entry point for a scan; ``select_for_sink`` is the pure deduplication core;
``finding_to_dict`` is the JSON form of a finding shared with the CLI's JSON output.
"""

from skimguard.alerts.dedupe import AlertLog, SentAlert, is_due, select_for_sink, unique_findings
from skimguard.alerts.dispatch import DispatchReport, RecordFn, SinkResult, build_sinks, dispatch
from skimguard.alerts.format import finding_to_dict, iso_utc, one_line, to_jsonable
from skimguard.alerts.interface import AlertBatch, Sink
from skimguard.alerts.sinks import (
    WEBHOOK_SCHEMA,
    ConsoleSink,
    EmailSink,
    WebhookError,
    WebhookSink,
    strip_url_secrets,
)

__all__ = [
    "WEBHOOK_SCHEMA",
    "AlertBatch",
    "AlertLog",
    "ConsoleSink",
    "DispatchReport",
    "EmailSink",
    "RecordFn",
    "SentAlert",
    "Sink",
    "SinkResult",
    "WebhookError",
    "WebhookSink",
    "build_sinks",
    "dispatch",
    "finding_to_dict",
    "is_due",
    "iso_utc",
    "one_line",
    "select_for_sink",
    "strip_url_secrets",
    "to_jsonable",
    "unique_findings",
]
