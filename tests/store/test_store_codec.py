"""The pure JSON/row conversion of pages, forms and evidence."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import UTC, datetime

from store_factories import cart_page, payment_page

from skimguard.models import FieldRecord, FormRecord, FrameRecord, Problem, Severity
from skimguard.store import codec


def test_page_round_trip() -> None:
    for page in (payment_page(), cart_page()):
        data = codec.page_to_json(page)
        assert json.loads(json.dumps(data)) == data  # plain JSON
        assert codec.page_from_json(data) == page


def test_parts_round_trip() -> None:
    form = payment_page().forms[0]
    assert codec.form_from_json(codec.form_to_json(form)) == form
    assert codec.forms_from_json(codec.forms_to_json([form, FormRecord("a", "get", "f")])) == (
        form,
        FormRecord("a", "get", "f"),
    )
    field = FieldRecord(tag="input", type="tel", card_role=None, visible=False)
    assert codec.field_from_json(codec.field_to_json(field)) == field
    frame = FrameRecord(url="https://pay.psp.test/f")
    assert codec.frame_from_json(codec.frame_to_json(frame)) == frame
    problem = Problem("dialog", "an alert", None, None)
    assert codec.problem_from_json(codec.problem_to_json(problem)) == problem
    assert codec.forms_from_json(None) == () and codec.headers_from_json(None) == {}


def test_clean() -> None:
    assert codec.clean("abc", 2) == "ab"
    assert codec.clean("a\x00b", 10) == "a\ufffdb"
    assert codec.clean("a\udcffb", 10) == "a?b"
    assert codec.clean("日本語", 10) == "日本語"
    assert codec.clean_opt(None, 3) is None


def _nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def test_json_safe() -> None:
    class Color(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Point:
        x: int

    value = {
        "when": datetime(2026, 1, 1, tzinfo=UTC),
        "sev": Severity.HIGH,
        "color": Color.RED,
        "bytes": b"\x01\x02",
        "set": {1},
        "tuple": (1, 2.5, float("inf")),
        "point": Point(3),
        1: "int key",
        "deep": _nested(30),
        "other": object,
    }
    out = codec.json_safe(value)
    json.dumps(out, allow_nan=False)
    assert out["when"] == "2026-01-01T00:00:00+00:00"
    assert out["sev"] == 3 and out["color"] == "red" and out["bytes"] == "0102"
    assert out["tuple"] == [1, 2.5, "inf"] and out["point"] == {"x": 3} and out["1"] == "int key"
    assert "<too deep>" in json.dumps(out["deep"])


def test_bounded_json() -> None:
    small = {"a": 1}
    assert codec.bounded_json(small) == small
    big = {"k": ["x" * 10_000] * 100}
    out = codec.bounded_json(big)
    assert out["_truncated"] is True and len(out["preview"]) <= codec.MAX_JSON_BYTES // 4
    assert codec.bounded_json(5) == {"value": 5}
