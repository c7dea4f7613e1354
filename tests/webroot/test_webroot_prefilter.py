"""The yara-x prefilter: which strings it keeps from a rule's condition, and that it never skips a
PHP file the engine would flag (samples, and the development corpus when it is there)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from webroot_samples import MAILING_PAYMENT_MODEL, WEBSHELL

from skimguard.analyze.engine import analyze_bytes
from skimguard.analyze.model import Verdict
from skimguard.models import Severity
from skimguard.webroot import prefilter

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "dev"


def kept(source: str) -> list[str]:
    return prefilter.necessary({"t.yar": source})


def test_conditions_keep_the_rarest_necessary_strings() -> None:
    rule = """
rule a {
  meta: id = "x"
  strings:
    $php = "<?php"
    $rare = "gzinflate(" nocase
    $other = /eval\\s*\\(/
  condition:
    $php and ($rare or $other)
}
rule b {
  strings:
    $c = "cookie"
  condition:
    uint16be(0) == 0xFFD8 and $c
}
rule c {
  strings:
    $x = "aaa"
    $y = "bbb"
  condition:
    #x < 3 and $y
}
rule e {
  condition:
    a and b
}
"""
    atoms = kept(rule)
    # a: "<?php" is in every PHP file, so the other part is kept; b: one of the two parts, both
    # rare; c: the count can hold with no "aaa"; e: builds on a and b
    assert '"gzinflate(" nocase' in atoms and "/eval\\s*\\(/" in atoms and '"<?php"' not in atoms
    assert '"bbb"' in atoms and '"aaa"' not in atoms
    assert ("{ FF D8 }" in atoms) != ('"cookie"' in atoms)


@pytest.mark.parametrize(
    "condition", ["not $p or filesize < 10", "#p < 3", "for all i in (1..#p) : (@p[i] > 10)", "true", "uint8(4) == 1"]
)
def test_rules_that_can_match_without_strings_give_no_filter(condition: str) -> None:
    with pytest.raises(prefilter.PrefilterError):
        kept(f'rule d {{\n  strings:\n    $p = "ppp"\n  condition:\n    {condition}\n}}\n')


def test_the_packaged_rules_give_a_filter() -> None:
    assert prefilter.rules() is not None


def test_only_php_files_are_filtered() -> None:
    assert prefilter.applies("app/code/A/Model/B.php") and prefilter.applies("t/x.PHTML")
    assert not prefilter.applies("a.js") and not prefilter.applies("a.twig") and not prefilter.applies(".htaccess")


def test_plain_classes_are_skipped_and_threats_are_not() -> None:
    plain = (
        b"<?php\nnamespace A\\B;\n\nclass Repo\n{\n    public function get($id)\n    {\n"
        b"        return $this->items[$id] ?? null;\n    }\n}\n"
    )
    assert prefilter.needs_engine(plain) == (False, "")
    assert prefilter.needs_engine(WEBSHELL.encode())[0]
    assert prefilter.needs_engine(MAILING_PAYMENT_MODEL.encode())[0]
    hidden = b"<?php\n$f = 'ev' . 'al';\n"
    assert prefilter.needs_engine(hidden) == (True, "prefilter_hidden")
    template = b"<?php echo $x; ?>\n<div><script>var a = 1;</script></div>\n"
    assert prefilter.needs_engine(template)[0]


def _flagged(data: bytes, path: str) -> bool:
    verdict = analyze_bytes(data, path)
    return verdict.verdict is not Verdict.CLEAN or any(h.severity >= Severity.MEDIUM for h in verdict.hits)


def test_never_skips_what_the_engine_flags_in_the_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the development corpus is not at {CORPUS}")
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and prefilter.applies(str(p)))
    # a fixed sample (by content hash) keeps the test short
    sample = sorted(files, key=lambda p: hashlib.sha256(str(p.relative_to(CORPUS)).encode()).hexdigest())[:400]
    assert len(sample) >= 100
    missed = []
    for path in sample:
        data = path.read_bytes()[: prefilter.MAX_SCAN]
        if not prefilter.needs_engine(data)[0] and _flagged(data, path.name):
            missed.append(path.name)
    assert missed == []
