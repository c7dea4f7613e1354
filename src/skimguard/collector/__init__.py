"""The report collector behind ``skimguard serve``: shoppers' browsers POST CSP and Reporting API
reports here. :mod:`skimguard.collector.reports` is its pure core (parse, normalize, aggregate)."""

from skimguard.collector.reports import MAX_BODY, ParseResult, Report, ReportKind, aggregate_key, parse_body

__all__ = ["MAX_BODY", "ParseResult", "Report", "ReportKind", "aggregate_key", "parse_body"]
