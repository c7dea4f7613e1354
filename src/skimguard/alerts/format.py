"""Pure, JSON-safe renderings of findings, shared by the alert sinks and the CLI's JSON output.

Nothing here does I/O. ``finding_to_dict`` uses the field names of DESIGN §5 exactly, plus the
identity fields ``fingerprint``, ``site`` and ``subject``.
"""

from __future__ import annotations

import base64
import enum
import math
import re
from collections.abc import Mapping, Set
from datetime import UTC, date, datetime
from typing import Any

from skimguard.models import Finding

#: How deep nested evidence is converted; deeper values become the string ``"…"``.
MAX_DEPTH = 16

# C0/C1 controls (incl. ESC, CR, LF, TAB), DEL, and the bidi/zero-width marks that can spoof text.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix. Naive datetimes are taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def one_line(text: object, limit: int = 200) -> str:
    """Hostile text made fit for one line of a terminal, mail or table: controls replaced by
    spaces, runs of whitespace collapsed, cut at ``limit`` characters with an ellipsis.

    This is not escaping: each output format still escapes (Rich, ``html.escape``).
    """
    if text is None:
        return ""
    cleaned = " ".join(_UNSAFE.sub(" ", str(text)).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: max(limit - 1, 0)] + "…"
    return cleaned


def to_jsonable(value: Any, *, _depth: int = 0) -> JsonValue:
    """Convert ``value`` into something ``json.dumps(..., allow_nan=False)`` accepts.

    Mappings become objects with string keys, sequences and sets become lists (sets sorted by their
    string form so the output is stable), enums become their ``label``/value, datetimes ISO-8601
    UTC, bytes base64 (``{"base64": ...}``), non-finite floats strings, anything else ``str()``.
    """
    if _depth > MAX_DEPTH:
        return "…"
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        label = getattr(value, "label", None)
        if isinstance(label, str):
            return label
        inner = value.value
        return inner if isinstance(inner, str | int) and not isinstance(inner, bool) else str(inner)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        deeper = _depth + 1
        return {str(to_jsonable(k, _depth=deeper)): to_jsonable(v, _depth=deeper) for k, v in value.items()}
    if isinstance(value, Set):
        items = [to_jsonable(v, _depth=_depth + 1) for v in value]
        return sorted(items, key=str)
    if isinstance(value, list | tuple):
        return [to_jsonable(v, _depth=_depth + 1) for v in value]
    return str(value)


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """A finding as a JSON-safe dict (DESIGN §5 field names, plus identity)."""
    evidence = to_jsonable(f.evidence)
    return {
        "rule_id": f.rule_id,
        "category": f.category.value,
        "severity": f.severity.label,
        "confidence": f.confidence.label,
        "title": f.title,
        "page": f.page,
        "script_url": f.script_url,
        "destination": f.destination,
        "evidence": evidence if isinstance(evidence, dict) else {"value": evidence},
        "first_seen": iso_utc(f.first_seen) if f.first_seen is not None else None,
        "fingerprint": f.fingerprint,
        "site": f.site,
        "subject": f.subject,
    }
