"""SARIF 2.1.0 output of ``skimguard webroot scan --format sarif`` (code-scanning tools).

One run; the tool's rules are SG701-SG719 with their documentation; each finding is a result
whose location is the file relative to the web root (``uriBaseId`` ``WEBROOT``, declared in
``originalUriBaseIds``) with the line and excerpt of the strongest engine hit. Severity maps to
``level`` (critical/high: error, medium: warning, low/info: note) and to the ``security-severity``
property GitHub code scanning sorts by. ``partialFingerprints`` carries skimguard's own identity
(rule + site + page + path), so a code-scanning tool tracks a finding across scans as we do.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from skimguard import __version__
from skimguard.alerts.format import iso_utc
from skimguard.detect.base import Rule
from skimguard.models import Finding, Severity
from skimguard.webroot.rules import WEBROOT_RULES

if TYPE_CHECKING:
    from skimguard.webroot.runner import ScanOutcome

SARIF_VERSION: Final = "2.1.0"
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI: Final = "https://github.com/skimguard/skimguard"
LEVEL: Final = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY: Final = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _rule(rule: Rule) -> dict[str, Any]:
    summary = rule.doc.split("\n\n", 1)[0].replace("\n", " ")
    return {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.title.replace("-", " ").split()[:8]),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": summary},
        "help": {"text": rule.doc},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "tags": ["security", "skimming", rule.category.value],
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": {2: "high", 1: "medium", 0: "low"}[int(rule.confidence)],
        },
    }


def root_uri(root: str) -> str:
    """The web root as a ``file://`` URI ending in ``/`` (SARIF base URIs must)."""
    path = PurePosixPath(root).as_posix().rstrip("/") + "/"
    return "file://" + quote(path, safe="/")


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    ev = f.evidence
    path = str(ev.get("path") or "")
    message = f.title
    if ev.get("rule"):
        message += f" ({ev['rule']}: {str(ev.get('excerpt') or '')[:200]})"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "level": LEVEL[f.severity],
        "message": {"text": message},
        "partialFingerprints": {"skimguard/v1": f.fingerprint},
        "properties": {
            "severity": f.severity.label,
            "confidence": f.confidence.label,
            "security-severity": SECURITY_SEVERITY[f.severity],
            "change": ev.get("change"),
            "zone": ev.get("zone"),
            "mtime": ev.get("mtime"),
            "sha256": ev.get("sha256"),
        },
    }
    if f.rule_id in index:
        result["ruleIndex"] = index[f.rule_id]
    if path:
        physical: dict[str, Any] = {"artifactLocation": {"uri": quote(path, safe="/"), "uriBaseId": "WEBROOT"}}
        line = ev.get("line")
        if isinstance(line, int) and line >= 1:
            region: dict[str, Any] = {"startLine": line}
            if ev.get("excerpt"):
                region["snippet"] = {"text": str(ev["excerpt"])}
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    hits = ev.get("hits")
    if isinstance(hits, list) and hits:
        result["properties"]["engine_hits"] = [h.get("rule_id") for h in hits if isinstance(h, dict)]
    return result


def to_sarif(outcome: ScanOutcome) -> dict[str, Any]:
    """The scan as a SARIF 2.1.0 log (a dict ready for ``json.dumps``)."""
    index = {rule.id: i for i, rule in enumerate(WEBROOT_RULES)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "skimguard",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(r) for r in WEBROOT_RULES],
                    }
                },
                "automationDetails": {"id": f"skimguard-webroot/{outcome.site}/"},
                "originalUriBaseIds": {"WEBROOT": {"uri": root_uri(outcome.root)}},
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "startTimeUtc": iso_utc(outcome.started_at),
                        "endTimeUtc": iso_utc(outcome.finished_at),
                    }
                ],
                "results": [_result(f, index) for f in outcome.findings],
                "properties": {
                    "site": outcome.site,
                    "platforms": list(outcome.platforms),
                    "scan_id": outcome.scan_id,
                },
            }
        ],
    }
