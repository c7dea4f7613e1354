"""The collector's pure core: every report shape browsers send, noise rules, bounds, and junk.

Chromium fixtures in ``fixtures/`` were recorded from the real Chromium 156 by
``record_reports.py`` (the browser test at the end re-records live and compares); Firefox,
Safari and hostile bodies are written here by hand from those browsers' report code.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skimguard.collector.reports import (
    MAX_BODY,
    MAX_SAMPLE,
    MAX_TEXT,
    MAX_URL,
    MAX_USER_AGENT,
    ParseResult,
    Report,
    aggregate_key,
    parse_body,
)

FIXTURES = Path(__file__).parent / "fixtures"
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
)
SHOP = "https://shop.test:8443"
LEGACY, CHECKOUT = f"{SHOP}/legacy", f"{SHOP}/checkout"
LIB, NOCORS, APP = "https://cdn.vendor.test:8443/lib.js", "https://cdn.vendor.test:8443/nocors.js", f"{SHOP}/app.js"
PIXEL, BEACON = "https://collect.evil.test:8443/px.gif", "https://collect.evil.test:8443/c"
APP_HASH = "sha256-mdVARGl8iw+yF8OpOd+cD+xG3fnlkNcmvEnsJq9dDlk="

BLANK = Report(
    kind="csp-violation", report_type="csp-violation", document_url="", blocked="", directive="", disposition="",
    sample="", source_file="", line=0, column=0, hash="", detail="", user_agent="", status_code=0,
)


def rep(**changes: Any) -> Report:
    return replace(BLANK, **changes)


def fixture(name: str) -> ParseResult:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return parse_body(data["content_type"], data["body"].encode("utf-8"))


def legacy(**fields_: Any) -> bytes:
    return json.dumps({"csp-report": fields_}).encode()


def api(*reports: dict[str, Any]) -> bytes:
    return json.dumps(list(reports)).encode()


def violation(**body: Any) -> dict[str, Any]:
    base = {"documentURL": "https://shop.test/checkout", "effectiveDirective": "script-src-elem",
            "disposition": "report"}
    url = "https://shop.test/checkout"
    return {"type": "csp-violation", "age": 3, "url": url, "user_agent": "UA", "body": base | body}


# --- Chromium 156, legacy report-uri (recorded) ---------------------------------------------------

def test_chromium_legacy_external_script() -> None:
    result = fixture("chromium-csp-report-01.json")
    assert result == ParseResult(reports=(rep(
        document_url=LEGACY, blocked=LIB, directive="script-src-elem", disposition="report", status_code=200,
    ),))


def test_chromium_legacy_inline_script_sample_is_cut_and_card_digits_masked() -> None:
    # Chromium sent 'var card = document.title + " 4111 1111 ' (40 chars, a partial test card).
    (report,) = fixture("chromium-csp-report-03.json").reports
    assert report == rep(
        document_url=LEGACY, blocked="inline", directive="script-src-elem", disposition="report",
        sample='var card = document.title + " [digits]', source_file=LEGACY, line=6, column=9, status_code=200,
    )


def test_chromium_legacy_image_beacon_loses_its_query() -> None:
    # blocked-uri was https://collect.evil.test:8443/px.gif?c=4111111111111111
    (report,) = fixture("chromium-csp-report-04.json").reports
    assert report == rep(
        document_url=LEGACY, blocked=PIXEL, directive="img-src", disposition="report",
        source_file=LEGACY, line=7, column=72, status_code=200,
    )


def test_chromium_legacy_eval() -> None:
    (report,) = fixture("chromium-csp-report-08.json").reports
    assert report == rep(
        document_url=LEGACY, blocked="eval", directive="script-src", disposition="report", sample="1 + 1",
        source_file=LEGACY, line=9, column=15, status_code=200,
    )


def test_every_chromium_legacy_fixture_is_one_kept_report() -> None:
    blocked = []
    for path in sorted(FIXTURES.glob("chromium-csp-report-*.json")):
        result = fixture(path.name)
        assert (len(result.reports), result.rejected, result.error) == (1, 0, None), path.name
        blocked.append((result.reports[0].directive, result.reports[0].blocked))
    assert blocked == [
        ("script-src-elem", LIB), ("script-src-elem", NOCORS), ("script-src-elem", "inline"), ("img-src", PIXEL),
        ("connect-src", BEACON), ("script-src-elem", "inline"), ("script-src-elem", "inline"), ("script-src", "eval"),
        ("script-src-elem", "inline"),
    ]


# --- Chromium 156, Reporting API (recorded) --------------------------------------------------------

def test_chromium_integrity_violation_batch() -> None:
    result = fixture("chromium-reports-01.json")
    common = {"kind": "integrity-violation", "report_type": "integrity-violation", "document_url": CHECKOUT,
              "disposition": "report", "detail": "script", "user_agent": CHROME_UA}
    assert result == ParseResult(reports=tuple(rep(blocked=b, **common) for b in (NOCORS, LIB, APP)))


def test_chromium_mixed_batch_holds_hashes_violations_and_a_deprecation() -> None:
    result = fixture("chromium-reports-02.json")
    assert (len(result.reports), result.rejected, result.error) == (16, 0, None)
    ua = {"user_agent": CHROME_UA, "document_url": CHECKOUT}
    hashes = [r for r in result.reports if r.kind == "csp-hash"]
    assert hashes == [
        rep(kind="csp-hash", report_type="csp-hash", blocked=LIB, hash=APP_HASH, detail="script", **ua),
        # A cross-origin script without CORS: Chromium reports it with an empty hash.
        rep(kind="csp-hash", report_type="csp-hash", blocked=NOCORS, hash="", detail="script", **ua),
        rep(kind="csp-hash", report_type="csp-hash", blocked=APP, hash=APP_HASH, detail="script", **ua),
    ]
    inline = [r for r in result.reports if r.kind == "csp-violation" and r.blocked == "inline"]
    assert inline[1] == rep(
        blocked="inline", directive="script-src-elem", disposition="report",
        sample='var card = document.title + " [digits]', source_file=CHECKOUT, line=6, column=9, status_code=200, **ua,
    )
    assert result.reports[-1] == rep(
        kind="deprecation", report_type="deprecation", source_file=CHECKOUT, line=10, column=41,
        detail="XMLHttpRequestSynchronousInNonWorkerOutsideBeforeUnload", **ua,
    )
    assert [r.kind for r in result.reports].count("csp-violation") == 9


def test_chromium_intervention() -> None:
    assert fixture("chromium-reports-03.json").reports == (rep(
        kind="intervention", report_type="intervention", document_url=CHECKOUT, source_file=CHECKOUT,
        line=10, column=98, detail="NavigatorVibrate", user_agent=CHROME_UA,
    ),)


def test_legacy_and_reporting_api_reports_of_one_violation_aggregate_alike() -> None:
    legacy_img = fixture("chromium-csp-report-04.json").reports[0]
    api_img = next(r for r in fixture("chromium-reports-02.json").reports if r.directive == "img-src")
    assert api_img.line == 8 and legacy_img.line == 7
    as_checkout = replace(legacy_img, document_url=CHECKOUT)
    assert aggregate_key(as_checkout) == aggregate_key(api_img)


# --- Firefox, Safari, WebKit, Ladybird (hand-written from their report code) ----------------------

def test_firefox_legacy_inline_and_eval() -> None:
    body = legacy(**{
        "blocked-uri": "inline", "column-number": 5, "disposition": "enforce",
        "document-uri": "https://shop.test/checkout?step=2#pay", "effective-directive": "script-src-elem",
        "line-number": 42, "original-policy": "script-src 'self'; report-uri https://c.test/r",
        "referrer": "https://shop.test/cart", "script-sample": "document.forms[0].addEventListener('submit'",
        "source-file": "https://shop.test/checkout?step=2", "status-code": 0, "violated-directive": "script-src-elem",
    })
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:149.0) Gecko/20100101 Firefox/149.0"
    result = parse_body("application/csp-report", body, user_agent=firefox)
    assert result == ParseResult(reports=(rep(
        document_url="https://shop.test/checkout?step=2", blocked="inline", directive="script-src-elem",
        disposition="enforce", sample="document.forms[0].addEventListener('subm", source_file="https://shop.test/checkout",
        line=42, column=5, user_agent=firefox,
    ),))
    assert len(result.reports[0].sample) == MAX_SAMPLE


def test_firefox_self_and_moz_extension() -> None:
    kept = parse_body("application/csp-report", legacy(**{
        "blocked-uri": "self", "document-uri": "https://shop.test/", "effective-directive": "frame-ancestors"}))
    assert [(r.blocked, r.directive) for r in kept.reports] == [("self", "frame-ancestors")]
    extension = parse_body("application/csp-report", legacy(**{
        "blocked-uri": "moz-extension", "document-uri": "https://shop.test/",
        "effective-directive": "script-src-elem"}))
    assert extension == ParseResult(rejected=1)


def test_safari_legacy_without_disposition_and_with_type_and_url_on_top() -> None:
    body = json.dumps({"type": "csp-violation", "url": "https://shop.test/pay", "csp-report": {
        "document-uri": "https://shop.test/pay", "referrer": "", "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem", "original-policy": "script-src 'self'",
        "blocked-uri": "https://CDN.Vendor.test:443/a.js?v=3", "status-code": 200,
    }}).encode()
    assert parse_body("application/csp-report; charset=utf-8", body, user_agent="Safari").reports == (rep(
        document_url="https://shop.test/pay", blocked="https://cdn.vendor.test/a.js", directive="script-src-elem",
        user_agent="Safari", status_code=200,
    ),)


def test_old_safari_violated_directive_with_sources_and_lowercase_keys() -> None:
    body = json.dumps({"csp-report": {
        "document-uri": "https://shop.test/", "violated-directive": "script-src 'self' https://cdn.test",
        "blocked-uri": "", "sourcefile": "https://shop.test/", "linenumber": "12",
    }}).encode()
    assert parse_body("application/csp-report", body).reports == (rep(
        document_url="https://shop.test/", directive="script-src", source_file="https://shop.test/", line=12,
    ),)


def test_webkit_single_reporting_api_object_and_ladybird_underscore_key() -> None:
    webkit = json.dumps({"type": "csp-violation", "url": "https://shop.test/", "body": {
        "documentURL": "https://shop.test/", "disposition": "enforce", "effectiveDirective": "connect-src",
        "blockedURL": "wss://ws.evil.test:443/s?card=1", "sample": "", "statusCode": 200}}).encode()
    assert parse_body("application/reports+json", webkit).reports == (rep(
        document_url="https://shop.test/", blocked="wss://ws.evil.test/s", directive="connect-src",
        disposition="enforce", status_code=200,
    ),)
    ladybird = legacy(**{"document-uri": "https://shop.test/", "blocked_uri": "eval",
                         "effective-directive": "script-src"})
    assert parse_body("application/csp-report", ladybird).reports[0].blocked == "eval"


def test_plain_json_takes_every_shape() -> None:
    one = violation(blockedURL="https://x.test/a.js")
    for body in (legacy(**{"document-uri": "https://shop.test/checkout", "blocked-uri": "https://x.test/a.js",
                           "effective-directive": "script-src-elem", "disposition": "report"}),
                 api(one), json.dumps(one).encode()):
        result = parse_body("application/json", body)
        assert [(r.kind, r.blocked, r.document_url, r.disposition) for r in result.reports] == [
            ("csp-violation", "https://x.test/a.js", "https://shop.test/checkout", "report")]


def test_reporting_api_kinds_and_unknown_types() -> None:
    body = api(
        {"type": "crash", "url": "https://shop.test/", "body": {"reason": "oom"}},
        {"type": "COEP", "url": "https://shop.test/", "body": {}},
        {"type": "<b>Odd type</b>", "url": "https://shop.test/", "body": {}},
        {"type": "<>", "url": "https://shop.test/", "body": {}},
        {"type": "csp-hash", "url": "https://shop.test/", "body": {
            "subresourceURL": "https://cdn.test/x.js", "hash": "sha384-" + "A" * 64, "destination": "script"}},
    )
    result = parse_body("application/reports+json", body, user_agent="header UA")
    assert result.rejected == 1
    assert [(r.kind, r.report_type, r.detail, r.hash, r.user_agent) for r in result.reports] == [
        ("other", "crash", "oom", "", "header UA"),
        ("other", "coep", "", "", "header UA"),
        ("other", "boddtypeb", "", "", "header UA"),
        ("csp-hash", "csp-hash", "script", "sha384-" + "A" * 64, "header UA"),
    ]


@pytest.mark.parametrize("value", [
    "sha256-short=", "md5-" + "A" * 24, "sha256-" + "A" * 64, "sha512-" + "!" * 88, 42, "sha256-" + "A" * 43 + "=extra",
])
def test_malformed_hashes_become_empty(value: Any) -> None:
    body = api({"type": "csp-hash", "url": "https://shop.test/", "body": {"subresourceURL": "https://c.test/a.js",
                                                                             "hash": value}})
    assert [r.hash for r in parse_body("application/reports+json", body).reports] == [""]


def test_base64url_hash_is_written_in_standard_base64() -> None:
    body = api({"type": "csp-hash", "url": "https://shop.test/", "body": {"hash": "sha256-" + "-_" * 21 + "w="}})
    assert parse_body("application/reports+json", body).reports[0].hash == "sha256-" + "+/" * 21 + "w="


# --- noise rules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("blocked", [
    "chrome-extension", "chrome-extension://abcdef/content.js", "moz-extension://1234/x.js", "safari-extension://a/b",
    "safari-web-extension://a/b.js", "ms-browser-extension://x/y", "webkit-masked-url://hidden/", "about:blank",
    "about", "chrome://settings",
])
def test_extension_and_browser_schemes_are_noise(blocked: str) -> None:
    as_blocked = violation(blockedURL=blocked)
    as_source = violation(blockedURL="inline", sourceFile=blocked)
    result = parse_body("application/reports+json", api(as_blocked, as_source, violation(blockedURL="inline")))
    assert (len(result.reports), result.rejected) == (1, 2)


@pytest.mark.parametrize(("blocked", "directive", "kept"), [
    ("data", "img-src", False), ("data:image/png;base64,iVBOR", "img-src", False), ("blob", "font-src", False),
    ("data", "style-src-elem", False), ("data", "media-src", False),
    ("data", "script-src-elem", True), ("blob:https://shop.test/0b1c-44", "script-src-elem", True),
    ("blob", "worker-src", True), ("data", "frame-src", True), ("data", "default-src", True),
    ("data", "connect-src", True),
])
def test_data_and_blob_are_noise_only_for_passive_content(blocked: str, directive: str, kept: bool) -> None:
    result = parse_body("application/reports+json", api(violation(blockedURL=blocked, effectiveDirective=directive)))
    assert [r.blocked for r in result.reports] == ([blocked.split(":", 1)[0]] if kept else [])
    assert result.rejected == (0 if kept else 1)


@pytest.mark.parametrize("document", ["about:blank", "chrome-extension://abc/popup.html", "file:///tmp/x.html",
                                      "", "data:text/html,hi", "//shop.test/", "shop.test/checkout"])
def test_documents_that_are_not_http_are_noise(document: str) -> None:
    result = parse_body("application/csp-report", legacy(**{"document-uri": document, "blocked-uri": "inline"}))
    assert result == ParseResult(rejected=1)


def test_malformed_entries_in_a_batch_are_counted_not_fatal() -> None:
    body = api(violation(blockedURL="eval"), 5, "x", None, [], {"type": 3, "body": {}}, {"type": "csp-violation"},  # type: ignore[arg-type]
               {"type": "csp-violation", "body": []}, {"type": "", "body": {}})
    result = parse_body("application/reports+json", body)
    assert (len(result.reports), result.rejected, result.error) == (1, 8, None)


def test_reporting_api_document_falls_back_to_the_report_url() -> None:
    body = api({"type": "deprecation", "url": "https://shop.test/a#b", "body": {"id": "X y!z"}})
    assert parse_body("application/reports+json", body).reports == (rep(
        kind="deprecation", report_type="deprecation", document_url="https://shop.test/a", detail="Xyz"),)


# --- normalization -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("https://user:pw@Shop.Test:443/a/b.js?x=1#y", "https://shop.test/a/b.js"),
    ("http://shop.test:80", "http://shop.test/"),
    ("http://shop.test:8080/x", "http://shop.test:8080/x"),
    ("https://[::1]:8443/x", "https://[::1]:8443/x"),
    ("https://shop.test./x", "https://shop.test/x"),
    ("https://evil.test/c/4111111111111111/x", "https://evil.test/c/[card]/x"),
    ("https://evil.test/c/4111111111111112/x", "https://evil.test/c/4111111111111112/x"),
    ("https://[::1/x", ""),
    ("https://shop.test:99999/x", ""),
    ("HTTPS://SHOP.TEST/Path", "https://shop.test/Path"),
    ("Inline", "inline"),
    ("wasm-eval", "wasm-eval"),
    ("trusted-types-sink", "trusted-types-sink"),
    ("javascript:alert(document.cookie)", "javascript"),
    ("filesystem:https://shop.test/x", "filesystem"),
    ("relative/path.js?q=1#f", "relative/path.js"),
    ("https://shop.test/a\u202eb\x00c\u200bd", "https://shop.test/abcd"),
])
def test_blocked_url_normalization(raw: str, expected: str) -> None:
    result = parse_body("application/reports+json", api(violation(blockedURL=raw)))
    assert [r.blocked for r in result.reports] == [expected]


def test_document_url_keeps_its_query_but_not_card_numbers_fragment_or_credentials() -> None:
    body = api(violation(documentURL="https://a:b@shop.test/pay?order=7&pan=4111-1111-1111-1111#card"))
    (report,) = parse_body("application/reports+json", body).reports
    assert report.document_url == "https://shop.test/pay?order=7&pan=[card]"
    assert aggregate_key(report)[4] == "https://shop.test/pay"


def test_numbers_are_bounded_and_typed() -> None:
    body = api(violation(lineNumber=True, columnNumber=-4, statusCode=1000),
               violation(lineNumber=12.0, columnNumber="77", statusCode="200"),
               violation(lineNumber=10**30, columnNumber=float("1e300"), statusCode=12.5))
    assert [(r.line, r.column, r.status_code) for r in parse_body("application/json", body).reports] == [
        (0, 0, 0), (12, 77, 200), (0, 0, 0)]


def test_strings_are_bounded_and_cleaned() -> None:
    long_path = "https://shop.test/" + "a" * 5000
    body = api({**violation(blockedURL=long_path, sample="\x07" + "x" * 500, sourceFile=long_path,
                            effectiveDirective="script-src-elem\u202e"),
                "user_agent": "U" * 1000 + "\n"})
    (report,) = parse_body("application/reports+json", body).reports
    assert (len(report.blocked), len(report.source_file), len(report.sample), len(report.user_agent)) == (
        MAX_URL, MAX_URL, MAX_SAMPLE, MAX_USER_AGENT)
    assert report.directive == "script-src-elem" and report.sample == "x" * MAX_SAMPLE


def test_header_user_agent_is_used_for_legacy_reports_and_bounded() -> None:
    body = legacy(**{"document-uri": "https://shop.test/", "blocked-uri": "eval"})
    (report,) = parse_body("application/csp-report", body, user_agent="A\x00B" + "c" * 400).reports
    assert report.user_agent == "AB" + "c" * (MAX_USER_AGENT - 2)


def test_aggregate_key_ignores_what_varies_between_shoppers() -> None:
    a = rep(document_url="https://shop.test/pay?session=1", blocked="inline", directive="script-src-elem",
            disposition="report", sample="x=1", line=3, column=4, user_agent="A", status_code=200)
    b = replace(a, document_url="https://shop.test/pay?session=2", sample="y=2", line=9, user_agent="B",
                source_file="s")
    assert aggregate_key(a) == aggregate_key(b) == (
        "csp-violation", "csp-violation", "script-src-elem", "inline", "https://shop.test/pay", "", "report", "")
    changes: list[dict[str, Any]] = [
        {"blocked": "eval"}, {"directive": "script-src"}, {"disposition": "enforce"}, {"hash": APP_HASH},
        {"document_url": "https://shop.test/other"}, {"kind": "csp-hash"}, {"detail": "script"},
    ]
    for change in changes:
        assert aggregate_key(replace(a, **change)) != aggregate_key(a), change


# --- junk -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content_type", "body", "error"), [
    ("text/plain", b"{}", "unsupported content type 'text/plain'"),
    ("", b"{}", "unsupported content type ''"),
    ("application/csp-report", b"x" * (MAX_BODY + 1), f"body too large ({MAX_BODY + 1} bytes > {MAX_BODY})"),
    ("application/csp-report", b"", "empty body"),
    ("application/json", b" \n\t", "empty body"),
    ("application/json", b"\xff\xfe{}", "body is not valid UTF-8"),
    ("application/json", b"{'csp-report': {}}", "body is not JSON"),
    ("application/json", b'{"a": 1', "body is not JSON"),
    ("application/json", b"1" * 5000, "body is not JSON"),
    ("application/json", b"[" * 21 + b"]" * 21, "JSON nested deeper than 20 levels"),
    ("application/json", b'{"a":' * 30 + b"1" + b"}" * 30, "JSON nested deeper than 20 levels"),
    ("application/json", b"42", "not a report shape for application/json"),
    ("application/json", b'"csp-report"', "not a report shape for application/json"),
    ("application/json", b'{"document-uri": "https://shop.test/"}', "not a report shape for application/json"),
    ("application/csp-report", b'{"csp-report": "x"}', "'csp-report' is not an object"),
    ("application/csp-report", b"[]", "not a report shape for application/csp-report"),
    ("application/reports+json", b'{"csp-report": {}}', "not a report shape for application/reports+json"),
    ("application/json", api(*[violation()] * 101), "too many reports (101 > 100)"),
])
def test_junk_bodies_get_a_reason(content_type: str, body: bytes, error: str) -> None:
    assert parse_body(content_type, body) == ParseResult(error=error)


def test_depth_is_counted_outside_strings_only_and_twenty_levels_pass() -> None:
    inside_string = json.dumps([{"type": "x", "url": "https://shop.test/", "body": {"id": "[[[{{{" * 20 + '\\"['}}])
    assert parse_body("application/json", inside_string.encode()).error is None
    twenty = b"[" * 20 + b"]" * 20
    assert parse_body("application/json", twenty) == ParseResult(rejected=1)


def test_report_cap_is_configurable_and_empty_batch_is_fine() -> None:
    assert parse_body("application/reports+json", api(*[violation()] * 5), max_reports=4).error == (
        "too many reports (5 > 4)")
    assert len(parse_body("application/reports+json", api(*[violation()] * 100)).reports) == 100
    assert parse_body("application/reports+json", b"[]") == ParseResult()


def test_a_depth_bomb_of_the_largest_body_is_rejected_fast() -> None:
    for bomb in (b"[" * MAX_BODY, b'"' + b'\\"[' * (MAX_BODY // 3 - 1), b"[1," * (MAX_BODY // 3)):
        start = time.perf_counter()
        result = parse_body("application/json", bomb)
        assert result.error is not None
        assert time.perf_counter() - start < 0.1


# --- properties ---------------------------------------------------------------------------------------

def _check_invariants(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    if result.error is not None:
        assert result.reports == () and result.rejected == 0 and len(result.error) < 200
    for report in result.reports:
        for field in fields(Report):
            value = getattr(report, field.name)
            if isinstance(value, str):
                limit = {"document_url": MAX_URL, "blocked": MAX_URL, "source_file": MAX_URL,
                         "user_agent": MAX_USER_AGENT, "sample": MAX_SAMPLE}.get(field.name, MAX_TEXT)
                assert len(value) <= limit, field.name
                value.encode("utf-8")  # no lone surrogates
                assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value), field.name
            else:
                assert isinstance(value, int) and 0 <= value <= 10_000_000
        assert report.document_url.startswith(("http://", "https://"))
        assert report.disposition in ("", "enforce", "report")


CONTENT_TYPES = st.sampled_from(["application/json", "application/csp-report", "application/reports+json"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)
TEXT = st.text(max_size=300) | st.sampled_from(["inline", "eval", "data", "https://shop.test/x?y#z", "about:blank"])
URLS = st.builds(lambda host, path: f"https://{host}/{path}", st.text(max_size=40), st.text(max_size=80))
FIELD_NAMES = ["documentURL", "blockedURL", "effectiveDirective", "disposition", "sample", "sourceFile",
               "lineNumber", "columnNumber", "statusCode", "hash", "id", "destination", "subresourceURL"]


@settings(max_examples=300, deadline=None)
@given(CONTENT_TYPES, st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(content_type: str, body: bytes) -> None:
    _check_invariants(parse_body(content_type, body))


@settings(max_examples=300, deadline=None)
@given(CONTENT_TYPES, JSON_VALUES)
def test_arbitrary_json_never_raises(content_type: str, value: Any) -> None:
    _check_invariants(parse_body(content_type, json.dumps(value).encode()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({}, optional={n: TEXT | URLS | st.integers() for n in FIELD_NAMES}),
                min_size=1, max_size=5),
       st.sampled_from(["csp-violation", "csp-hash", "integrity-violation", "deprecation", "crash"]),
       URLS, st.text(max_size=500))
def test_report_shaped_input_is_always_bounded(bodies: list[dict[str, Any]], kind: str, url: str, agent: str) -> None:
    batch = [{"type": kind, "url": url, "user_agent": agent, "body": body} for body in bodies]
    result = parse_body("application/reports+json", json.dumps(batch).encode())
    _check_invariants(result)
    assert result.error is None and len(result.reports) + result.rejected == len(bodies)
    for report in result.reports:
        assert len(report.sample) <= MAX_SAMPLE and "?" not in report.blocked and "#" not in report.document_url


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_report_count_cap(count: int) -> None:
    tiny = {"type": "deprecation", "url": "https://shop.test/", "body": {}}
    result = parse_body("application/reports+json", api(*[tiny] * count))
    if count > 100:
        assert result == ParseResult(error=f"too many reports ({count} > 100)")
    else:
        assert (len(result.reports), result.error) == (count, None)


# --- the memos (speed only: the same answers, bounded) -----------------------------------------------

def test_remembered_reports_keep_types_apart_and_the_memo_stays_bounded() -> None:
    from skimguard.collector import reports as module

    one = api(violation(lineNumber=1, statusCode=200))
    true = api(violation(lineNumber=True, statusCode=200))
    decimal = api(violation(lineNumber=1.0, statusCode=200))
    for _ in range(2):  # the second time from the memo
        assert parse_body("application/reports+json", one).reports[0].line == 1
        assert parse_body("application/reports+json", true).reports[0].line == 0  # True == 1, but not a line
        assert parse_body("application/reports+json", decimal).reports[0].line == 1
    # the agent of the request is part of the identity when the report has none of its own
    bare = api({**violation(), "user_agent": ""})
    assert parse_body("application/reports+json", bare, user_agent="A").reports[0].user_agent == "A"
    assert parse_body("application/reports+json", bare, user_agent="B").reports[0].user_agent == "B"
    for i in range(module.MEMO_ITEMS + 10):  # many distinct reports and URLs: the memos stay bounded
        parse_body("application/reports+json", api(violation(blockedURL=f"https://x{i}.test/a.js")))
    assert len(module._REPORTS) <= module.MEMO_ITEMS
    assert len(module._blocked_memo._data) <= module.MEMO_ITEMS
    huge = "https://shop.test/" + "a" * module.MEMO_MAX_LEN
    before = len(module._document_memo._data)
    parse_body("application/reports+json", api(violation(documentURL=huge)))
    assert huge not in module._document_memo._data and len(module._document_memo._data) <= before + 1


def test_depth_bound_of_a_batch_still_finds_a_deep_member() -> None:
    deep = {"type": "x", "url": "https://shop.test/", "body": {"id": json.loads("[" * 18 + "]" * 18)}}
    flat = violation()
    ok = [flat] * 30 + [{**deep, "body": {"id": json.loads("[" * 17 + "]" * 17)}}]  # 3 + 17 = 20 levels
    assert parse_body("application/json", api(*ok)).error is None
    too_deep = [flat] * 30 + [deep]  # 21 levels in one member of many
    assert parse_body("application/json", api(*too_deep)) == ParseResult(error="JSON nested deeper than 20 levels")


# --- live recording from the real Chromium ----------------------------------------------------------

@pytest.mark.browser
def test_live_chromium_sends_what_the_fixtures_hold() -> None:
    import record_reports  # the helper beside this file; imports Playwright, so only here

    if not record_reports.openssl_available():
        pytest.skip("openssl is needed for the throwaway HTTPS certificate")
    version, port, received = record_reports.record()
    assert version.startswith("156.")
    live: set[tuple[str, ...]] = set()
    for item in received:
        expected_type = "application/csp-report" if item.path == "/csp" else "application/reports+json"
        assert item.content_type == expected_type
        result = parse_body(item.content_type, record_reports.fixed_port(item, port).encode())
        assert (result.error, result.rejected) == (None, 0)
        live.update(aggregate_key(r) for r in result.reports)
    recorded: set[tuple[str, ...]] = set()
    for path in FIXTURES.glob("chromium-*.json"):
        recorded.update(aggregate_key(r) for r in fixture(path.name).reports)
    assert live == recorded
    assert len(recorded) == 20  # 6 legacy + 14 Reporting API (all inline scripts of a page are one)
