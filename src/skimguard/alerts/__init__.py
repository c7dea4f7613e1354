"""Alerting: deduplicate findings per sink and deliver them (console, webhook, e-mail).

``dispatch`` is the entry point for a scan; ``select_for_sink`` is the pure deduplication core;
``finding_to_dict`` is the JSON form of a finding shared with the CLI's JSON output.

The sinks (:mod:`.sinks`: HTTP and e-mail libraries) are loaded on first use (PEP 562), so a
command that only formats findings, or alerts nobody, does not pay for them at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skimguard.alerts.dedupe import AlertLog, SentAlert, is_due, select_for_sink, unique_findings
from skimguard.alerts.dispatch import DispatchReport, RecordFn, SinkResult, build_sinks, dispatch
from skimguard.alerts.format import finding_to_dict, iso_utc, one_line, to_jsonable
from skimguard.alerts.interface import AlertBatch, Sink

if TYPE_CHECKING:
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

_SINK_NAMES = frozenset(
    {"WEBHOOK_SCHEMA", "ConsoleSink", "EmailSink", "WebhookError", "WebhookSink", "strip_url_secrets"}
)


def __getattr__(name: str) -> Any:
    if name not in _SINK_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("skimguard.alerts.sinks"), name)
    globals()[name] = value
    return value
