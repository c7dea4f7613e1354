"""Plain-data <-> JSON/row conversion for what the store persists. Pure functions, no I/O.

Everything a scanned page gives us is hostile, so every string passes through :func:`clean`
on its way in: it is cut to a size limit, NUL characters (which PostgreSQL text cannot hold)
are replaced and unencodable surrogates are made valid UTF-8. Lists are bounded too. For
ordinary data the conversion is lossless: ``page_from_json(page_to_json(p)) == p``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from skimguard.models import (
    FieldRecord,
    FormRecord,
    FrameRecord,
    PageCapture,
    Problem,
    RequestRecord,
    ScriptKind,
    ScriptRecord,
)

# Size limits (characters) for strings that come from scanned pages.
MAX_URL = 8 * 1024
MAX_HEADER_VALUE = 16 * 1024
MAX_HEADER_NAME = 256
MAX_SHORT = 1024  # names, ids, labels, methods, kinds
MAX_TEXT = 4 * 1024  # messages, error texts
MAX_EVIDENCE_STRING = 16 * 1024
MAX_JSON_BYTES = 256 * 1024  # one evidence object / snapshot part after encoding
MAX_JSON_DEPTH = 24
# Count limits.
MAX_HEADERS = 256
MAX_REDIRECTS = 64
MAX_FORMS = 256
MAX_FIELDS = 512
MAX_FRAMES = 512
MAX_PROBLEMS = 256
MAX_SCRIPTS = 5_000
MAX_REQUESTS = 20_000
MAX_INT = 2**63 - 1


def clean(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, without NULs, encodable as UTF-8."""
    if len(value) > limit:
        value = value[:limit]
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_opt(value: str | None, limit: int) -> str | None:
    return None if value is None else clean(value, limit)


def clean_url(value: str) -> str:
    return clean(value, MAX_URL)


def clean_url_opt(value: str | None) -> str | None:
    return clean_opt(value, MAX_URL)


def bound_int(value: int, lo: int = 0, hi: int = MAX_INT) -> int:
    return max(lo, min(hi, int(value)))


def bound_int_opt(value: int | None, lo: int = -(2**31), hi: int = 2**31 - 1) -> int | None:
    return None if value is None else bound_int(value, lo, hi)


# --------------------------------------------------------------------------------------------
# Generic JSON (finding evidence, baseline snapshots, summaries)
# --------------------------------------------------------------------------------------------


def json_safe(value: Any, *, depth: int = 0) -> Any:
    """``value`` as plain JSON data: str keys, lists, finite numbers, bounded strings.

    Datetimes become ISO strings, enums their value, dataclasses dicts, anything else ``str()``.
    """
    if depth > MAX_JSON_DEPTH:
        return "<too deep>"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value, depth=depth + 1)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean(value, MAX_EVIDENCE_STRING)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)[: MAX_EVIDENCE_STRING // 2].hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value), depth=depth + 1)
    if isinstance(value, Mapping):
        return {
            clean(str(k.value if isinstance(k, enum.Enum) else k), MAX_SHORT): json_safe(v, depth=depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, Sequence | set | frozenset):
        return [json_safe(v, depth=depth + 1) for v in value]
    return clean(str(value), MAX_EVIDENCE_STRING)


def bounded_json(value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """:func:`json_safe` of a mapping, replaced by a truncation note when it encodes too large."""
    safe = json_safe(value if isinstance(value, Mapping) else {"value": value})
    encoded = json.dumps(safe, ensure_ascii=False, sort_keys=True)
    if len(encoded.encode("utf-8")) <= max_bytes:
        return dict(safe)
    return {
        "_truncated": True,
        "_size": len(encoded),
        "preview": clean(encoded, max_bytes // 4),
    }


# --------------------------------------------------------------------------------------------
# Forms, fields, frames, headers, problems
# --------------------------------------------------------------------------------------------


def field_to_json(f: FieldRecord) -> dict[str, Any]:
    return {
        "tag": clean(f.tag, MAX_SHORT),
        "type": clean(f.type, MAX_SHORT),
        "name": clean(f.name, MAX_SHORT),
        "id": clean(f.id, MAX_SHORT),
        "autocomplete": clean(f.autocomplete, MAX_SHORT),
        "label": clean(f.label, MAX_SHORT),
        "card_role": clean_opt(f.card_role, MAX_SHORT),
        "visible": bool(f.visible),
    }


def field_from_json(d: Mapping[str, Any]) -> FieldRecord:
    return FieldRecord(
        tag=str(d.get("tag", "")),
        type=str(d.get("type", "")),
        name=str(d.get("name", "")),
        id=str(d.get("id", "")),
        autocomplete=str(d.get("autocomplete", "")),
        label=str(d.get("label", "")),
        card_role=_opt_str(d.get("card_role")),
        visible=bool(d.get("visible", True)),
    )


def form_to_json(f: FormRecord) -> dict[str, Any]:
    return {
        "action": clean_url(f.action),
        "method": clean(f.method, MAX_SHORT),
        "frame_url": clean_url(f.frame_url),
        "id": clean(f.id, MAX_SHORT),
        "name": clean(f.name, MAX_SHORT),
        "fields": [field_to_json(x) for x in f.fields[:MAX_FIELDS]],
        "visible": bool(f.visible),
    }


def form_from_json(d: Mapping[str, Any]) -> FormRecord:
    return FormRecord(
        action=str(d.get("action", "")),
        method=str(d.get("method", "")),
        frame_url=str(d.get("frame_url", "")),
        id=str(d.get("id", "")),
        name=str(d.get("name", "")),
        fields=tuple(field_from_json(x) for x in d.get("fields", ())),
        visible=bool(d.get("visible", True)),
    )


def forms_to_json(forms: Sequence[FormRecord]) -> list[dict[str, Any]]:
    return [form_to_json(f) for f in forms[:MAX_FORMS]]


def forms_from_json(data: Sequence[Mapping[str, Any]] | None) -> tuple[FormRecord, ...]:
    return tuple(form_from_json(d) for d in data or ())


def frame_to_json(f: FrameRecord) -> dict[str, Any]:
    return {
        "url": clean_url(f.url),
        "name": clean(f.name, MAX_SHORT),
        "parent_url": clean_url_opt(f.parent_url),
    }


def frame_from_json(d: Mapping[str, Any]) -> FrameRecord:
    return FrameRecord(
        url=str(d.get("url", "")), name=str(d.get("name", "")), parent_url=_opt_str(d.get("parent_url"))
    )


def frames_to_json(frames: Sequence[FrameRecord]) -> list[dict[str, Any]]:
    return [frame_to_json(f) for f in frames[:MAX_FRAMES]]


def frames_from_json(data: Sequence[Mapping[str, Any]] | None) -> tuple[FrameRecord, ...]:
    return tuple(frame_from_json(d) for d in data or ())


def headers_to_json(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        if len(out) >= MAX_HEADERS:
            break
        out[clean(str(name), MAX_HEADER_NAME)] = clean(str(value), MAX_HEADER_VALUE)
    return out


def headers_from_json(data: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (data or {}).items()}


def problem_to_json(p: Problem) -> dict[str, Any]:
    return {
        "code": clean(p.code, MAX_SHORT),
        "message": clean(p.message, MAX_TEXT),
        "page": clean_opt(p.page, MAX_SHORT),
        "step": bound_int_opt(p.step),
    }


def problem_from_json(d: Mapping[str, Any]) -> Problem:
    step = d.get("step")
    return Problem(
        code=str(d.get("code", "")),
        message=str(d.get("message", "")),
        page=_opt_str(d.get("page")),
        step=int(step) if step is not None else None,
    )


# --------------------------------------------------------------------------------------------
# Scripts and requests (rows of their own tables)
# --------------------------------------------------------------------------------------------


def script_to_json(s: ScriptRecord) -> dict[str, Any]:
    """Column values of a ``page_scripts`` row (without page id / position)."""
    return {
        "kind": s.kind.value,
        "url": clean_url_opt(s.url),
        "sha256": clean_opt(s.sha256, 64),
        "size": bound_int(s.size),
        "frame_url": clean_url(s.frame_url),
        "initiator": clean_url_opt(s.initiator),
        "initiator_type": clean_opt(s.initiator_type, MAX_SHORT),
        "main_frame": bool(s.main_frame),
    }


def script_from_json(d: Mapping[str, Any]) -> ScriptRecord:
    return ScriptRecord(
        kind=ScriptKind(d["kind"]),
        url=_opt_str(d.get("url")),
        sha256=_opt_str(d.get("sha256")),
        size=int(d.get("size") or 0),
        frame_url=str(d.get("frame_url", "")),
        initiator=_opt_str(d.get("initiator")),
        initiator_type=_opt_str(d.get("initiator_type")),
        main_frame=bool(d.get("main_frame", True)),
    )


def request_to_json(r: RequestRecord) -> dict[str, Any]:
    """Column values of a ``requests`` row (without page id / position)."""
    return {
        "url": clean_url(r.url),
        "method": clean(r.method, MAX_SHORT),
        "resource_type": clean(r.resource_type, MAX_SHORT),
        "initiator": clean_url_opt(r.initiator),
        "post_data_size": bound_int(r.post_data_size),
        "status": bound_int_opt(r.status),
        "frame_url": clean_url_opt(r.frame_url),
        "failed": clean_opt(r.failed, MAX_TEXT),
    }


def request_from_json(d: Mapping[str, Any]) -> RequestRecord:
    status = d.get("status")
    return RequestRecord(
        url=str(d.get("url", "")),
        method=str(d.get("method", "")),
        resource_type=str(d.get("resource_type", "")),
        initiator=_opt_str(d.get("initiator")),
        post_data_size=int(d.get("post_data_size") or 0),
        status=int(status) if status is not None else None,
        frame_url=_opt_str(d.get("frame_url")),
        failed=_opt_str(d.get("failed")),
    )


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


def page_columns(page: PageCapture) -> dict[str, Any]:
    """Column values of a ``pages`` row: everything but the scripts and requests.

    When the page holds more scripts or requests than the store keeps, a note is added to
    ``problems`` so the truncation is visible.
    """
    problems = [clean(p, MAX_TEXT) for p in page.problems[:MAX_PROBLEMS]]
    if len(page.scripts) > MAX_SCRIPTS:
        problems.append(f"store-truncated: kept {MAX_SCRIPTS} of {len(page.scripts)} scripts")
    if len(page.requests) > MAX_REQUESTS:
        problems.append(f"store-truncated: kept {MAX_REQUESTS} of {len(page.requests)} requests")
    return {
        "name": clean(page.name, MAX_SHORT),
        "url": clean_url(page.url),
        "final_url": clean_url(page.final_url),
        "redirect_chain": [clean_url(u) for u in page.redirect_chain[:MAX_REDIRECTS]],
        "status": bound_int_opt(page.status),
        "headers": headers_to_json(page.headers),
        "forms": forms_to_json(page.forms),
        "frames": frames_to_json(page.frames),
        "problems": problems,
    }


def page_from_columns(
    d: Mapping[str, Any],
    scripts: Sequence[ScriptRecord] = (),
    requests: Sequence[RequestRecord] = (),
) -> PageCapture:
    status = d.get("status")
    return PageCapture(
        name=str(d.get("name", "")),
        url=str(d.get("url", "")),
        final_url=str(d.get("final_url", "")),
        redirect_chain=tuple(str(u) for u in d.get("redirect_chain") or ()),
        status=int(status) if status is not None else None,
        headers=headers_from_json(d.get("headers")),
        scripts=tuple(scripts),
        requests=tuple(requests),
        forms=forms_from_json(d.get("forms")),
        frames=frames_from_json(d.get("frames")),
        problems=tuple(str(p) for p in d.get("problems") or ()),
    )


def page_to_json(page: PageCapture) -> dict[str, Any]:
    """The whole page, scripts and requests included, as bounded JSON data."""
    out = page_columns(page)
    out["scripts"] = [script_to_json(s) for s in page.scripts[:MAX_SCRIPTS]]
    out["requests"] = [request_to_json(r) for r in page.requests[:MAX_REQUESTS]]
    return out


def page_from_json(d: Mapping[str, Any]) -> PageCapture:
    return page_from_columns(
        d,
        [script_from_json(s) for s in d.get("scripts") or ()],
        [request_from_json(r) for r in d.get("requests") or ()],
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
