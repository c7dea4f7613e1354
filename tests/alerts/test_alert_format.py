from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from alerts_helpers import make_finding

from skimguard.alerts import finding_to_dict, iso_utc, one_line, to_jsonable
from skimguard.models import Severity

DESIGN_FIELDS = [
    "rule_id",
    "category",
    "severity",
    "confidence",
    "title",
    "page",
    "script_url",
    "destination",
    "evidence",
    "first_seen",
]


def test_finding_to_dict_fields_and_labels() -> None:
    f = make_finding(severity=Severity.HIGH)
    d = finding_to_dict(f)
    assert list(d) == [*DESIGN_FIELDS, "fingerprint", "site", "subject"]
    assert d["rule_id"] == "SG301"
    assert d["category"] == "exfil"
    assert d["severity"] == "high"
    assert d["confidence"] == "high"
    assert d["first_seen"] == "2024-05-01T09:30:00Z"
    assert d["fingerprint"] == f.fingerprint
    assert d["site"] == "demo-shop"
    assert d["subject"] == "collect.evil.test"
    assert d["evidence"] == {"request": "https://collect.evil.test/c?d=...", "encoding": ["base64", "url"]}
    json.dumps(d, allow_nan=False)


def test_finding_to_dict_makes_evidence_json_safe() -> None:
    jst = timezone(timedelta(hours=9))
    f = make_finding(
        first_seen=datetime(2024, 5, 1, 18, 30, tzinfo=jst),
        evidence={
            "when": datetime(2024, 5, 1, 18, 30, tzinfo=jst),
            "naive": datetime(2024, 5, 1, 9, 30),
            "raw": b"\x00\xff",
            "sev": Severity.CRITICAL,
            "hosts": frozenset({"b.test", "a.test"}),
            "pair": (1, 2.5),
            "nan": float("nan"),
            "nested": {1: {"deep": [object.__name__]}},
            "obj": object,
        },
    )
    d = finding_to_dict(f)
    ev = d["evidence"]
    assert d["first_seen"] == "2024-05-01T09:30:00Z"
    assert ev["when"] == "2024-05-01T09:30:00Z"
    assert ev["naive"] == "2024-05-01T09:30:00Z"
    assert ev["raw"] == {"base64": "AP8="}
    assert ev["sev"] == "critical"
    assert ev["hosts"] == ["a.test", "b.test"]
    assert ev["pair"] == [1, 2.5]
    assert ev["nan"] == "nan"
    assert ev["nested"] == {"1": {"deep": ["object"]}}
    assert ev["obj"] == "<class 'object'>"
    json.dumps(d, allow_nan=False)


def test_to_jsonable_depth_is_bounded() -> None:
    value: list[object] = []
    for _ in range(100):
        value = [value]
    json.dumps(to_jsonable(value))


def test_iso_utc() -> None:
    assert iso_utc(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"


def test_one_line_removes_controls_and_truncates() -> None:
    assert one_line("a\nb\r\n\x1b[31mred\u202eevil\t ok") == "a b [31mred evil ok"
    assert one_line(None) == ""
    assert one_line("x" * 50, 10) == "x" * 9 + "…"
