"""Tests of the server-side rules (SG461-SG479, ``rules/skimmer_server.yar``) and of the
language mapping they rely on (polyglot images, ``.htaccess``, ``.user.ini``, templates).

The fixtures in ``fixtures/rules/server`` are annotated like semgrep rule tests: a line holding
``ruleid: SG4NN ...`` or ``ok: SG4NN ...`` (in the file's own comment syntax) starts a *case*,
which runs to the next annotated line. Each case is scanned alone: a ``ruleid`` case must raise
exactly the listed server rules, an ``ok`` case (a hard negative) none of them and nothing above
``low`` from any other rule. The numbers of cases per rule are pinned, so a fixture lost or a rule
that stops firing shows up as a count, not as silence. Polyglot images are built here as bytes.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from skimguard.analyze.engine import analyze_bytes
from skimguard.analyze.extract import detect_language
from skimguard.analyze.model import Language, Verdict
from skimguard.analyze.polyglot import image_kind
from skimguard.analyze.yara_rules import (
    MAX_SCAN_BYTES,
    compile_rules,
    packaged_rule_sources,
    rule_catalog,
    scan_rules,
)
from skimguard.models import Confidence, Severity

FIXTURES = Path(__file__).parent / "fixtures" / "rules" / "server"
SERVER_IDS = frozenset(f"SG4{n}" for n in range(61, 80))
_ANNOTATION = re.compile(r"\b(?P<kind>ruleid|ok):\s*(?P<ids>SG4\d\d(?:\s+SG4\d\d)*)")

# ruleid cases per rule in the fixtures (SG475, PHP inside an image, is tested with built bytes)
EXPECTED_POSITIVES = {
    "SG461": 10,
    "SG462": 7,
    "SG463": 8,
    "SG464": 3,
    "SG465": 3,
    "SG466": 1,
    "SG467": 1,
    "SG468": 2,
    "SG469": 3,
    "SG470": 4,
    "SG471": 3,
    "SG472": 1,
    "SG473": 4,
    "SG474": 3,
    "SG476": 2,
    "SG477": 1,
    "SG478": 7,
    "SG479": 2,
}
CRITICAL = {"SG461", "SG462", "SG466", "SG468", "SG470", "SG474", "SG475", "SG478"}
HIGH = {"SG463", "SG464", "SG467", "SG469", "SG471", "SG473", "SG476", "SG477"}
MEDIUM_LOW_CONFIDENCE = {"SG465", "SG472", "SG479"}


@dataclass(frozen=True)
class Case:
    fixture: str
    line: int
    kind: str  # "ruleid" or "ok"
    ids: frozenset[str]
    text: str
    language: Language

    @property
    def expected(self) -> frozenset[str]:
        return self.ids if self.kind == "ruleid" else frozenset()

    def as_file(self) -> bytes:
        """The case as a file of its own (PHP cases after the first lack the open tag)."""
        text = self.text
        if self.language is Language.PHP and not text.lstrip().startswith("<?php"):
            text = "<?php\n" + text
        return text.encode("utf-8")

    def __str__(self) -> str:
        return f"{self.fixture}:{self.line}"


def _cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(FIXTURES.iterdir()):
        raw = path.read_bytes()
        language = detect_language(path.name, raw[:4096])
        lines = raw.decode("utf-8").splitlines(keepends=True)
        starts = [(i, m) for i, line in enumerate(lines) if (m := _ANNOTATION.search(line))]
        assert starts, f"{path.name} has no annotated case"
        for k, (i, m) in enumerate(starts):
            end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
            ids = frozenset(m.group("ids").split())
            assert ids <= SERVER_IDS, f"{path.name}:{i + 1} annotates a rule outside SG461-SG479"
            cases.append(Case(path.name, i + 1, m.group("kind"), ids, "".join(lines[i:end]), language))
    return cases


CASES = _cases()


def _server_hits(text: str, language: Language) -> set[str]:
    return {hit.rule_id for hit in scan_rules(text, language=language) if hit.rule_id in SERVER_IDS}


# --- the rule file ------------------------------------------------------------------------------


def test_server_rules_compile_alone_with_slow_patterns_rejected() -> None:
    rules = compile_rules({"skimmer_server.yar": packaged_rule_sources()["skimmer_server.yar"]})
    ids = [dict(rule.metadata)["id"] for rule in rules]
    assert sorted(ids) == sorted(SERVER_IDS)
    for rule in rules:
        meta = dict(rule.metadata)
        assert rule.identifier.startswith(str(meta["id"]) + "_")
        assert meta["language"] in {"php", "html", "any"}


def test_calibration_of_severity_and_confidence() -> None:
    catalog = {info.rule_id: info for info in rule_catalog() if info.rule_id in SERVER_IDS}
    assert set(catalog) == SERVER_IDS
    assert {r for r, i in catalog.items() if i.severity is Severity.CRITICAL} == CRITICAL
    assert {r for r, i in catalog.items() if i.severity is Severity.HIGH} == HIGH
    for rule_id in MEDIUM_LOW_CONFIDENCE:  # smells legitimate code shows too: never convict alone
        assert (catalog[rule_id].severity, catalog[rule_id].confidence) == (Severity.MEDIUM, Confidence.LOW)
    for rule_id in CRITICAL:  # a critical rule convicts on its own, so it must be sure
        assert catalog[rule_id].confidence is Confidence.HIGH, rule_id
    for info in catalog.values():
        assert info.description.count(". ") >= 1, info.rule_id
        assert info.false_positives, info.rule_id
        assert info.references and all(ref.startswith("https://") for ref in info.references), info.rule_id


# --- annotated fixtures ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_raises_exactly_the_annotated_server_rules(case: Case) -> None:
    assert _server_hits(case.text, case.language) == case.expected


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "ok"], ids=str)
def test_hard_negative_is_clean_in_the_engine(case: Case) -> None:
    verdict = analyze_bytes(case.as_file(), case.fixture)
    assert verdict.verdict is Verdict.CLEAN
    assert all(hit.severity <= Severity.LOW for hit in verdict.hits), [h.rule_id for h in verdict.hits]


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "ruleid"], ids=str)
def test_positive_case_verdict_follows_its_strongest_rule(case: Case) -> None:
    verdict = analyze_bytes(case.as_file(), case.fixture)
    assert case.ids <= {hit.rule_id for hit in verdict.hits}
    if case.ids & CRITICAL:
        assert verdict.verdict is Verdict.MALICIOUS
    elif case.ids & HIGH:
        assert verdict.verdict in (Verdict.SUSPICIOUS, Verdict.MALICIOUS)


def test_exact_counts_per_rule() -> None:
    annotated = Counter(rule_id for case in CASES if case.kind == "ruleid" for rule_id in case.ids)
    found = Counter(rule_id for case in CASES for rule_id in _server_hits(case.text, case.language))
    assert annotated == Counter(EXPECTED_POSITIVES)
    assert found == Counter(EXPECTED_POSITIVES)


def test_every_rule_has_a_hard_negative() -> None:
    negated = set().union(*(case.ids for case in CASES if case.kind == "ok"))
    assert negated == SERVER_IDS


def test_fixture_languages() -> None:
    languages = {case.fixture: case.language for case in CASES}
    assert languages == {
        "ok_admin_tools.php": Language.PHP,
        "ok_image_resize.php": Language.PHP,
        "persistence.php": Language.PHP,
        "prepend.user.ini": Language.TEXT,
        "redirect_cloak.php": Language.PHP,
        "redirects.htaccess": Language.TEXT,
        "templates.tpl": Language.HTML,
        "templates.twig": Language.HTML,
        "uploaders.php": Language.PHP,
        "webshell_family.php": Language.PHP,
        "webshell_panel.php": Language.PHP,
        "webshells.php": Language.PHP,
    }


def test_whole_htaccess_fixture_in_the_engine() -> None:
    path = FIXTURES / "redirects.htaccess"
    verdict = analyze_bytes(path.read_bytes(), ".htaccess")
    assert verdict.language is Language.TEXT
    assert {hit.rule_id for hit in verdict.hits} == {"SG471", "SG472", "SG473", "SG474"}
    assert verdict.verdict is Verdict.MALICIOUS
    first = {hit.rule_id: hit for hit in verdict.hits}
    assert first["SG474"].line == 24  # the first AddType line, located in the file
    assert first["SG474"].excerpt.startswith("AddType application/x-httpd-php .php .jpg")


# --- details of single rules ------------------------------------------------------------------------


def _ids(text: str, language: Language = Language.PHP) -> set[str]:
    return _server_hits(text, language)


def test_escaped_request_in_a_string_is_not_a_shell() -> None:
    # a tool that *prints* a web shell as text, and SQL identifiers in backticks
    assert _ids("<?php $s = \"if(isset(\\$_GET['c'])){ echo `{\\$_GET['c']}`; }\";") == set()
    assert _ids("<?php $q = 'SELECT * FROM `' . $_POST['table'] . '` LIMIT 10';") == set()
    assert _ids("<?php /* set up $_REQUEST ( $_GET + $_POST ) */ $x = 1;") == set()
    assert _ids("<?php $r = `ls {$_GET['d']}`;") == {"SG462"}


def test_request_through_a_variable_must_be_close() -> None:
    near = "<?php $c = $_POST['c'];\nsystem($c);"
    far = "<?php $c = $_POST['c'];\n" + "$pad = 1;\n" * 40 + "system($c);"
    assert _ids(near) == {"SG462"}
    assert _ids(far) == set()


def test_licence_encoder_hiding_only_a_decoder_is_not_high() -> None:
    # commercial extensions do this; the payload decides (the engine decodes and rescans it)
    text = "<?php $d = 'base64_decode'; $k = 'YmFzZTY0X2RlY29kZQ=='; @eval(gzinflate(base64_decode('S0lNzs8pSgUA')));"
    hits = {hit.rule_id: hit for hit in scan_rules(text, language=Language.PHP) if hit.rule_id in SERVER_IDS}
    assert set(hits) == {"SG465"}
    assert hits["SG465"].severity is Severity.MEDIUM


def test_uploader_with_any_type_check_is_not_flagged() -> None:
    bare = "<?php move_uploaded_file($_FILES['f']['tmp_name'], 'up/' . $_FILES['f']['name']);"
    checked = bare.replace("<?php ", "<?php if (!in_array($ext, $allowed, true)) exit; ")
    assert _ids(bare) == {"SG469"}
    assert _ids(checked) == set()


def test_password_gate_needs_a_dangerous_sink() -> None:
    gate = "<?php if (md5($_GET['k']) != '5ebe2294ecd0e0f08eab7690d2a6ee69') { exit; }\n"
    assert _ids(gate + "echo 'hello';") == set()
    assert _ids(gate + "$x = 1;\n" * 200 + "assert($stash);") == {"SG468"}


def test_auto_prepend_of_an_ordinary_php_file_is_fine() -> None:
    assert _ids("php_value auto_prepend_file /srv/shop/waf/bootstrap.php\n", Language.TEXT) == set()
    assert _ids("php_value auto_prepend_file /srv/shop/pub/media/logo.gif\n", Language.TEXT) == {"SG473"}
    # a PHP dropper writing the same line into .htaccess is caught as well (rule language "any")
    dropper = "<?php file_put_contents('.htaccess', \"php_value auto_prepend_file /tmp/.x.jpg\\n\", FILE_APPEND);"
    assert _ids(dropper) == {"SG473"}


def test_smarty_and_twig_rules_ignore_script_code() -> None:
    page = "<html><script>function f(a){system(a)} var o={exec:1};</script><p>{$name|escape}</p></html>"
    assert _ids(page, Language.HTML) == set()
    assert _ids("while ($b = fread($fp, 8)) {\n\tfwrite($out, $b);\n}", Language.TEXT) == set()


# --- polyglots and the language mapping --------------------------------------------------------------

_JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
_PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
_BODY = bytes(range(256)).replace(b"<", b"") * 8  # binary noise without any open tag


def test_image_kind() -> None:
    assert image_kind(_JPEG_HEAD) == "jpeg"
    assert image_kind(_PNG_HEAD) == "png"
    assert image_kind(b"GIF89a;<?php") == "gif"
    assert image_kind(b"GIF87a") == "gif"
    assert image_kind(b"\x00\x00\x01\x00\x01\x00") == "ico"
    assert image_kind(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == "webp"
    assert image_kind(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert image_kind(b"<?php echo 1;") is None
    assert image_kind(b"") is None


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("avatar.jpg", _JPEG_HEAD + _BODY + b"\xff\xfe\x00\x20<?php system($_GET['c']); ?>" + _BODY + b"\xff\xd9"),
        ("shell.php", b"GIF89a;\n<?php eval($_POST['x']); ?>\n"),
        ("logo.png", _PNG_HEAD + _BODY + b"<?=$_COOKIE['k']?>" + _BODY),
        ("thumb.webp", b"RIFF\x40\x00\x00\x00WEBPVP8 " + _BODY + b"<?php\n@include '/tmp/.s';" + _BODY),
    ],
)
def test_php_inside_an_image_is_convicted(name: str, data: bytes) -> None:
    assert detect_language(name, data[:4096]) is Language.TEXT
    verdict = analyze_bytes(data, name)
    assert "SG475" in {hit.rule_id for hit in verdict.hits}
    assert verdict.verdict is Verdict.MALICIOUS


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.jpg", _JPEG_HEAD + b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta/>' + _BODY),
        ("icon.png", _PNG_HEAD + _BODY * 4),
        ("anim.gif", b"GIF89a\x10\x00\x10\x00" + _BODY),
    ],
)
def test_real_images_are_clean(name: str, data: bytes) -> None:
    verdict = analyze_bytes(data, name)
    assert verdict.language is Language.TEXT
    assert verdict.hits == ()
    assert verdict.verdict is Verdict.CLEAN


def test_php_named_like_an_image_without_image_bytes_stays_php() -> None:
    # a fake favicon that is plain PHP: analysed as PHP (segments, normalization)
    data = b'<?php @include "\\x2fvar\\x2fwww\\x2f.cache"; ?>'
    assert detect_language("favicon_3ab1.ico", data) is Language.PHP


@pytest.mark.parametrize(
    ("name", "language"),
    [
        (".htaccess", Language.TEXT),
        ("shop/pub/.htaccess", Language.TEXT),
        (".user.ini", Language.TEXT),
        ("php.ini", Language.TEXT),
        ("checkout.twig", Language.HTML),
        ("payment.tpl", Language.HTML),
        ("success.phtml", Language.PHP),
    ],
)
def test_language_of_server_files(name: str, language: Language) -> None:
    assert detect_language(name, b"RewriteEngine On\n") is language


# --- speed -------------------------------------------------------------------------------------------


def test_server_rules_scan_hostile_input_quickly() -> None:
    # near misses for every proximity and gap pattern, repeated to the scan limit
    chunk = (
        "$a = $_GET['x']; eval($b); system($c); md5($_GET['p']) == '" + "z" * 40 + "'; "
        "extract($_POST); $f($g); $x = 'system'; $s[1] . $s[2] . $s[3] . "
        "'b-a-s-e-6-4-_-d-e-c-o' chr(97).chr(98).chr(99). <Files x.jpg> {php {system( "
        "RewriteCond %{HTTP_REFERER} google\n" + "RewriteCond %{HTTP_HOST} x\n" * 3 + " " * 300
    )
    text = (chunk * (MAX_SCAN_BYTES // len(chunk) + 1))[:MAX_SCAN_BYTES]
    scan_rules("warm up", language=Language.TEXT)
    started = time.monotonic()
    hits = scan_rules(text, language=Language.TEXT)
    assert time.monotonic() - started < 5.0
    assert {hit.rule_id for hit in hits} & SERVER_IDS == {"SG461", "SG462"}
