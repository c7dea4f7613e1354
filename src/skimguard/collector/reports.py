"""Parsing and normalizing the reports shoppers' browsers send to the collector (pure, no I/O).

A site that serves ``Content-Security-Policy(-Report-Only)`` with ``report-uri`` / ``report-to``
(and, in Chromium, ``Integrity-Policy`` and the ``default`` reporting endpoint) makes every
shopper's browser POST reports to ``skimguard serve``. Anyone on the internet can POST there too,
so every body is hostile: this module turns one request body into a tuple of small, bounded,
frozen :class:`Report` values, or into an error reason, and never raises.

Accepted bodies (``parse_body``):

* ``application/csp-report``: the legacy ``report-uri`` shape ``{"csp-report": {...}}`` with
  ``document-uri``, ``blocked-uri``, ``effective-directive``... (Chromium, Firefox, Safari; Safari
  adds top-level ``type``/``url`` and omits ``disposition`` and ``script-sample``).
* ``application/reports+json``: the Reporting API, a JSON array of ``{"type", "age", "url",
  "user_agent", "body"}``. Chromium 156 sends ``csp-violation``, ``csp-hash`` (``'report-sha256'``
  in ``script-src``), ``integrity-violation`` (``Integrity-Policy``), ``deprecation`` and
  ``intervention`` this way; any other type (``crash``, ``coep``...) is kept as kind ``other``.
  A single report object is accepted too (WebKit builds one per request).
* ``application/json``: any of the above shapes.

Field names are matched case-insensitively with ``-`` and ``_`` ignored, so ``blocked-uri``,
``blockedURL`` and ``blocked_uri`` are the same field.

Normalization (what a :class:`Report` holds):

* Every string has control, bidi and zero-width characters and lone surrogates removed, and is
  bounded: URLs :data:`MAX_URL` chars, user agent :data:`MAX_USER_AGENT`, the rest
  :data:`MAX_TEXT`. ``sample`` is cut to :data:`MAX_SAMPLE` (40) chars, the length browsers send,
  because it can carry what a shopper typed.
* Card numbers never survive: a Luhn-valid run of 13-19 digits in any string becomes ``[card]``,
  and in ``sample`` any run of 8 or more digits becomes ``[digits]`` (a sample cut at 40 chars
  ends in a partial card number, which no Luhn check catches).
* ``blocked`` and ``source_file`` are URLs without query and fragment (the query is dropped, not
  hashed: it is where a skimmer puts stolen data, and it differs per shopper, so keeping even a
  hash of it would defeat aggregation), without user:password, default port and with a lowercase
  scheme and host; or a keyword (``inline``, ``eval``, ``wasm-eval``, ``trusted-types-policy``,
  ``trusted-types-sink``, ``self``...); or a bare scheme (``data``, ``blob``, ``filesystem``...).
* ``document_url`` keeps its query (without fragment, with cards masked); :func:`aggregate_key`
  drops it.

Noise rules (a dropped report is counted in :attr:`ParseResult.rejected`):

* the document URL is not ``http``/``https`` (``about:blank``, extension pages, ``file:``);
* ``blocked`` or ``source_file`` has a browser-internal or extension scheme
  (:data:`NOISE_SCHEMES`: ``chrome-extension``, ``moz-extension``, ``safari-web-extension``,
  ``webkit-masked-url``, ``about``...): extensions inject scripts and styles everywhere;
* ``blocked`` is ``data`` or ``blob`` under a passive-content directive (:data:`PASSIVE_DIRECTIVES`:
  images, fonts, media, styles, manifests). Under a script-related directive they are kept: a
  ``blob:`` or ``data:`` script is a classic way to run a skimmer that no URL names;
* a Reporting API entry that is not an object with a string ``type`` and an object ``body``.

Speed (the collector parses every report of every shopper, under one interpreter lock): browsers
repeat themselves, so the string normalizers remember their recent results (:class:`_Memo`) and a
Reporting API report whose body holds only short scalars is remembered whole (:data:`_REPORTS`);
both are bounded and give the same answers as computing afresh. Depth is measured on the parsed
value, and the text is scanned only when it is not JSON (to tell "too deep" from "broken").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

ReportKind = Literal["csp-violation", "csp-hash", "integrity-violation", "deprecation", "intervention", "other"]

MAX_BODY = 64 * 1024
MAX_DEPTH = 20
MAX_URL = 2000
MAX_USER_AGENT = 300
MAX_TEXT = 200
MAX_SAMPLE = 40
MAX_TYPE = 40
MAX_NUMBER = 10_000_000

CSP_REPORT = "application/csp-report"
REPORTS_JSON = "application/reports+json"
JSON_TYPE = "application/json"
CONTENT_TYPES = frozenset({CSP_REPORT, REPORTS_JSON, JSON_TYPE})

NOISE_SCHEMES = frozenset(
    {
        "chrome-extension",
        "moz-extension",
        "safari-extension",
        "safari-web-extension",
        "ms-browser-extension",
        "webkit-masked-url",
        "about",
        "chrome",
        "resource",
        "view-source",
    }
)
PASSIVE_DIRECTIVES = frozenset(
    {
        "img-src",
        "font-src",
        "media-src",
        "style-src",
        "style-src-elem",
        "style-src-attr",
        "manifest-src",
        "prefetch-src",
    }
)
KEYWORDS = frozenset(
    {
        "inline",
        "eval",
        "wasm-eval",
        "self",
        "trusted-types-policy",
        "trusted-types-sink",
        "data",
        "blob",
    }
)
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_WEB_PREFIXES = ("http://", "https://", "ws://", "wss://")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_KINDS: dict[str, ReportKind] = {
    "csp-violation": "csp-violation",
    "csp-hash": "csp-hash",
    "csp-hash-report": "csp-hash",
    "integrity-violation": "integrity-violation",
    "deprecation": "deprecation",
    "intervention": "intervention",
}
_HASH_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}

_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){7,}")
_DIRECTIVE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,63}")
_DETAIL = re.compile(r"[^A-Za-z0-9_.:/-]")
_TYPE_JUNK = re.compile(r"[^a-z0-9_.-]")
_HASH = re.compile(r"(sha256|sha384|sha512)-([A-Za-z0-9+/_-]{40,88}={0,2})")

MEMO_ITEMS = 1024  # values remembered per normalizing function
MEMO_MAX_LEN = 1024  # longer values are normalized every time, never remembered


class _Memo:
    """A bounded memo of a pure ``str -> str`` normalization.

    Browsers repeat themselves: every report of a page names the same page, agent, directive and
    often the same blocked URL, and a batch holds many reports of one page. Normalizing a URL costs
    more than a dict lookup, so each normalizer remembers its last results. Hostile input cannot
    make it grow: values longer than :data:`MEMO_MAX_LEN` are not remembered, and it is emptied
    when it holds :data:`MEMO_ITEMS` values. It only saves time; results are the same without it.
    """

    __slots__ = ("_data", "_fn")

    def __init__(self, fn: Callable[[str], str]) -> None:
        self._fn = fn
        self._data: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        result = self._data.get(value)
        if result is None:
            result = self._fn(value)
            if len(value) <= MEMO_MAX_LEN:
                if len(self._data) >= MEMO_ITEMS:
                    self._data.clear()
                self._data[value] = result
        return result


@dataclass(frozen=True, slots=True)
class Report:
    """One report, normalized and bounded. Empty string / 0 means "not sent or not applicable".

    ``kind`` is the family; ``report_type`` the type name as sent (``csp-violation`` for legacy
    bodies, ``crash``/``coep``... for kind ``other``). ``blocked`` is the blocked resource
    (``subresourceURL`` for hash reports). ``detail`` is the short kind-specific label: the
    ``id`` of a deprecation or intervention, the ``destination`` of a hash or integrity report,
    the ``reason`` of a crash. ``hash`` is ``sha256-<base64>`` (or sha384/sha512) for hash reports,
    empty when the browser could not hash the script (cross-origin without CORS).
    ``disposition`` is ``enforce``, ``report`` or empty.
    """

    kind: ReportKind
    report_type: str
    document_url: str
    blocked: str
    directive: str
    disposition: str
    sample: str
    source_file: str
    line: int
    column: int
    hash: str
    detail: str
    user_agent: str
    status_code: int


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What one request body held: the kept reports, how many were dropped, or why it was junk."""

    reports: tuple[Report, ...] = ()
    rejected: int = 0
    error: str | None = None


AggregateKey = tuple[str, str, str, str, str, str, str, str]


def aggregate_key(report: Report) -> AggregateKey:
    """The identity of a report for counting: equal keys are the same observation.

    Site-independent (the collector adds the site): kind, type, directive, blocked, document URL
    without query, hash, disposition and detail. Line, column, sample, source file, status code
    and user agent vary between shoppers and are left out, so a million identical reports become
    one row with a count.
    """
    document = report.document_url.split("?", 1)[0]
    return (
        report.kind,
        report.report_type,
        report.directive,
        report.blocked,
        document,
        report.hash,
        report.disposition,
        report.detail,
    )


def parse_body(content_type: str, body: bytes, *, user_agent: str = "", max_reports: int = 100) -> ParseResult:
    """Parse one POST body into reports. Never raises; junk gives ``error`` and no reports.

    ``user_agent`` (the request's header) is used for reports that do not carry their own.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in CONTENT_TYPES:
        return ParseResult(error=f"unsupported content type {_clean(media_type, 60)!r}")
    if len(body) > MAX_BODY:
        return ParseResult(error=f"body too large ({len(body)} bytes > {MAX_BODY})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return ParseResult(error="body is not valid UTF-8")
    text = text.removeprefix("\ufeff")
    if not text or text.isspace():
        return ParseResult(error="empty body")
    # Depth: a body with few brackets cannot nest deeply; otherwise the parsed value is measured
    # (json.loads itself stops at about 1,000 levels). Only a body that is not JSON is scanned as
    # text, to say whether it was too deep or just broken: the same answers as scanning every
    # body first, at a fraction of the cost for the bodies browsers send.
    brackets = text.count("[") + text.count("{")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        if brackets > MAX_DEPTH and _too_deep(text):
            return ParseResult(error=f"JSON nested deeper than {MAX_DEPTH} levels")
        return ParseResult(error="body is not JSON")
    if brackets > MAX_DEPTH:
        # A path from the top down passes through one member of a top-level array: the other
        # members that are arrays or objects hold brackets off that path (a batch of 10 reports has
        # 21 brackets but nests 3 deep). Only when this bound is too high is the value walked.
        if type(data) is list:
            brackets -= max(0, sum(type(member) in (dict, list) for member in data) - 1)
        if brackets > MAX_DEPTH and _nested_deeper(data, MAX_DEPTH):
            return ParseResult(error=f"JSON nested deeper than {MAX_DEPTH} levels")

    items: list[tuple[str, Any]]
    if isinstance(data, dict) and "csp-report" in data and media_type != REPORTS_JSON:
        if not isinstance(data["csp-report"], dict):
            return ParseResult(error="'csp-report' is not an object")
        items = [("legacy", data["csp-report"])]
    elif isinstance(data, list) and media_type != CSP_REPORT:
        if len(data) > max_reports:
            return ParseResult(error=f"too many reports ({len(data)} > {max_reports})")
        items = [("api", item) for item in data]
    elif isinstance(data, dict) and "type" in data and "body" in data and media_type != CSP_REPORT:
        items = [("api", data)]
    else:
        return ParseResult(error=f"not a report shape for {media_type}")

    fallback_agent = _clean(user_agent, MAX_USER_AGENT)
    reports: list[Report] = []
    rejected = 0
    for shape, item in items:
        report = _legacy(item, fallback_agent) if shape == "legacy" else _reporting_api(item, fallback_agent)
        if report is None or _is_noise(report):
            rejected += 1
        else:
            reports.append(report)
    return ParseResult(reports=tuple(reports), rejected=rejected)


def _too_deep(text: str) -> bool:
    """True when brackets outside JSON strings nest deeper than MAX_DEPTH (linear, no recursion).

    Escaped backslashes, then escaped quotes, are removed first, so every remaining ``"`` opens or
    closes a string and the even pieces of a split on ``"`` are outside strings.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    outside = "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[::2])
    depth = 0
    for char in _NOT_BRACKET.sub("", outside):  # only the brackets are walked in Python
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _nested_deeper(data: Any, limit: int) -> bool:
    """True when arrays and objects in the parsed ``data`` nest deeper than ``limit`` (no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)] if type(data) in (dict, list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        for child in value.values() if type(value) is dict else value:
            if type(child) in (dict, list):
                stack.append((child, depth + 1))
    return False


def _legacy(raw: dict[str, Any], user_agent: str) -> Report:
    return _report("csp-violation", "csp-violation", _fields(raw), document_raw=None, user_agent=user_agent)


def _reporting_api(item: Any, user_agent: str) -> Report | None:
    if not isinstance(item, dict):
        return None
    top = _fields(item)
    kind_name = top.get("type")
    body = top.get("body")
    if not isinstance(kind_name, str) or not isinstance(body, dict):
        return None
    report_type = _type_memo(kind_name)
    if not report_type:
        return None
    kind = _KINDS.get(report_type, "other")
    agent = top.get("useragent")
    agent = (_agent_memo(agent) if isinstance(agent, str) else "") or user_agent
    document_raw = top.get("url")
    ident = _report_ident(report_type, document_raw, agent, body)
    if ident is not None:
        known = _REPORTS.get(ident)
        if known is not None:
            return known
    report = _report(kind, report_type, _fields(body), document_raw=document_raw, user_agent=agent)
    if ident is not None:
        if len(_REPORTS) >= MEMO_ITEMS:
            _REPORTS.clear()
        _REPORTS[ident] = report
    return report


# The same report arrives again and again: every shopper of a page whose policy blocks a script
# (Chromium's reduced user agent is the same for most of them) sends it, with the same body. A
# Reporting API body whose values are all short strings, integers or null is remembered with its
# Report (bounded like the memos). Types are part of the identity: ``True == 1`` in Python, but a
# ``lineNumber`` of ``true`` does not normalize like one of ``1``.
MEMO_REPORT_CHARS = 2048  # a body whose strings are longer than this in total is not remembered
_REPORTS: dict[tuple[Any, ...], Report] = {}


def _report_ident(report_type: str, document_raw: Any, agent: str, body: dict[str, Any]) -> tuple[Any, ...] | None:
    """The memo key of one Reporting API report, or None when it is not to be remembered."""
    if document_raw is not None and type(document_raw) is not str:
        return None
    size = len(agent) + (len(document_raw) if document_raw else 0)
    for value in body.values():
        kind = type(value)
        if kind is str:
            size += len(value)
        elif kind is not int and value is not None:
            return None
    if size > MEMO_REPORT_CHARS:
        return None
    return (report_type, document_raw, agent, *body.items())


def _report(kind: ReportKind, report_type: str, f: Mapping[str, Any], *, document_raw: Any, user_agent: str) -> Report:
    # Only non-empty strings count for the text fields (the first of several spellings that is one).
    t = {name: value for name, value in f.items() if isinstance(value, str) and value}
    get = t.get
    document = get("documenturi") or get("documenturl") or document_raw
    disposition = _disposition_memo(f["disposition"]) if "disposition" in t else ""
    if not disposition:
        report_only = f.get("reportonly")
        if isinstance(report_only, bool):
            disposition = "report" if report_only else "enforce"
    blocked = get("blockeduri") or get("blockedurl") or get("subresourceurl")
    directive = get("effectivedirective") or get("violateddirective")
    sample = get("scriptsample") or get("sample")
    source_file = get("sourcefile")
    digest = get("hash")
    detail = get("id") or get("destination") or get("reason")
    return Report(
        kind=kind,
        report_type=report_type,
        document_url=_document_memo(document) if isinstance(document, str) else "",
        blocked=_blocked_memo(blocked) if blocked else "",
        directive=_directive_memo(directive) if directive else "",
        disposition=disposition,
        sample=_sample_memo(sample) if sample else "",
        source_file=_resource_memo(source_file) if source_file else "",
        line=_number(f.get("linenumber"), MAX_NUMBER),
        column=_number(f.get("columnnumber"), MAX_NUMBER),
        hash=_hash_memo(digest) if digest else "",
        detail=_detail_memo(detail) if detail else "",
        user_agent=user_agent,
        status_code=_number(f.get("statuscode"), 999),
    )


def _field_name(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


# Raw key -> normalized name, for the spellings browsers send (and, bounded, any other short key).
_FIELD_NAMES: dict[str, str] = {}


def _fields(raw: dict[str, Any]) -> dict[str, Any]:
    """Keys lowercased without ``-`` and ``_``; the first spelling wins (so the items are walked
    backwards: a later assignment wins in a dict comprehension)."""
    names = _FIELD_NAMES
    try:  # the common case: every key is a known spelling
        return {names[key]: value for key, value in reversed(raw.items())}
    except KeyError:
        pass
    for key in raw:
        if key not in names and len(key) <= 64 and len(names) < MEMO_ITEMS:
            names[key] = _field_name(key)
    return {names.get(key) or _field_name(key): value for key, value in reversed(raw.items())}


def _is_noise(report: Report) -> bool:
    if not report.document_url.startswith(("http://", "https://")):
        return True
    for value in (report.blocked, report.source_file):
        if value and not value.startswith(_WEB_PREFIXES) and _scheme_of(value) in NOISE_SCHEMES:
            return True
    return report.blocked in ("data", "blob") and report.directive in PASSIVE_DIRECTIVES


def _scheme_of(value: str) -> str:
    head = value.split(":", 1)[0].lower()
    return head if _SCHEME.fullmatch(head) else ""


def _clean(value: Any, limit: int) -> str:
    """A string without control/bidi/zero-width characters or lone surrogates, at most ``limit`` chars."""
    if not isinstance(value, str):
        return ""
    head = value[: limit * 4]
    if head.isascii() and head.isprintable():  # the common case: nothing to remove (no regex pass)
        return head.strip()[:limit]
    return _UNSAFE_CHARS.sub("", head).strip()[:limit]


def _mask_cards(value: str) -> str:
    return _CARD.sub(lambda m: "[card]" if _luhn(m.group()) else m.group(), value)


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _sample_text(value: str) -> str:
    text = _DIGIT_RUN.sub("[digits]", _mask_cards(_clean(value, MAX_TEXT)))
    return text[:MAX_SAMPLE].strip()


def _directive_text(value: str) -> str:
    # violated-directive may be "script-src 'self'" in old browsers: keep the name only.
    parts = _clean(value, MAX_TEXT).lower().split()
    if parts and _DIRECTIVE.fullmatch(parts[0]):
        return parts[0]
    return ""


def _blocked_text(value: str) -> str:
    text = _clean(value, MAX_URL * 2)
    lowered = text.lower()
    if lowered in KEYWORDS or lowered in NOISE_SCHEMES:
        return lowered
    return _url_text(text, keep_query=False)


def _detail_text(value: str) -> str:
    return _DETAIL.sub("", _clean(value, MAX_TEXT))


def _url_text(value: str, *, keep_query: bool) -> str:
    """Normalize a URL: no fragment, no credentials, no default port; query only if ``keep_query``."""
    text = _clean(value, MAX_URL * 2)
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme in _WEB_SCHEMES:
        host = (parts.hostname or "").rstrip(".")
        if ":" in host:
            host = f"[{host}]"
        netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
        result = f"{scheme}://{netloc}{parts.path or '/'}"
        if keep_query and parts.query:
            result += "?" + parts.query
    elif scheme and _SCHEME.fullmatch(scheme):
        # data:, blob:, chrome-extension://id/...: the scheme tells what it was, the rest is noise or data.
        return scheme
    else:
        result = text.split("#", 1)[0] if keep_query else text.split("#", 1)[0].split("?", 1)[0]
    return _mask_cards(result)[:MAX_URL]


def _type_text(value: str) -> str:
    return _TYPE_JUNK.sub("", _clean(value, MAX_TYPE).lower())


def _disposition_text(value: str) -> str:
    disposition = _clean(value, 20).lower()
    return disposition if disposition in ("enforce", "report") else ""


_type_memo = _Memo(_type_text)
_agent_memo = _Memo(lambda value: _clean(value, MAX_USER_AGENT))
_disposition_memo = _Memo(_disposition_text)
_sample_memo = _Memo(_sample_text)
_directive_memo = _Memo(_directive_text)
_blocked_memo = _Memo(_blocked_text)
_detail_memo = _Memo(_detail_text)
_document_memo = _Memo(lambda value: _url_text(value, keep_query=True))
_resource_memo = _Memo(lambda value: _url_text(value, keep_query=False))


def _number(value: Any, limit: int) -> int:
    if type(value) is int and 0 <= value <= limit:  # the common case (bool is not int here)
        return value
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= limit:
        return value
    return 0


def _hash_text(value: str) -> str:
    """``sha256-<base64>`` when the value is a well-formed digest of the named algorithm, else ""."""
    match = _HASH.fullmatch(_clean(value, MAX_TEXT))
    if match is None:
        return ""
    algorithm, digest = match.groups()
    try:
        raw = base64.b64decode(digest.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return ""
    if len(raw) != _HASH_SIZES[algorithm]:
        return ""
    return f"{algorithm}-{base64.b64encode(raw).decode('ascii')}"


_hash_memo = _Memo(_hash_text)

for _key in (
    "type", "age", "url", "user_agent", "body", "csp-report", "document-uri", "referrer", "violated-directive",
    "effective-directive", "original-policy", "disposition", "blocked-uri", "status-code", "script-sample",
    "source-file", "line-number", "column-number", "documentURL", "blockedURL", "effectiveDirective", "originalPolicy",
    "sample", "sourceFile", "lineNumber", "columnNumber", "statusCode", "destination", "hash", "subresourceURL",
    "reportOnly", "id", "message", "anticipatedRemoval", "reason",
):  # fmt: skip
    _FIELD_NAMES[_key] = _field_name(_key)
