"""SG001-SG007: capture problems become health findings."""

from __future__ import annotations

from skimguard.detect.health import HealthDetector, rule_for_code
from skimguard.detect.registry import sort_findings
from skimguard.models import Capture, Finding, Problem, ScanStatus
from skimguard.testing.factories import brief, cart_page, make_capture, make_context


def run(*captures: Capture) -> list[Finding]:
    return sort_findings(list(HealthDetector().run(make_context(list(captures)))))


def test_no_problems_no_findings() -> None:
    assert run(make_capture()) == []


def test_unreachable_site() -> None:
    capture = make_capture(
        [],
        problems=(Problem("unreachable", "step 1 (goto /cart): net::ERR_NAME_NOT_RESOLVED", step=0),),
        status=ScanStatus.FAILED,
    )
    findings = run(capture)
    assert brief(findings) == [("SG001", "high", None, "unreachable@checkout#0")]
    assert findings[0].evidence == {
        "journey": "checkout",
        "code": "unreachable",
        "step_index": 0,
        "message": "step 1 (goto /cart): net::ERR_NAME_NOT_RESOLVED",
        "count": 1,
    }


def test_failed_journey_without_a_problem_code() -> None:
    capture = make_capture(
        [], problems=(Problem("journey-timeout", "journey did not end in time"),), status=ScanStatus.FAILED
    )
    assert brief(run(capture)) == [
        ("SG001", "high", None, "failed@checkout"),
        ("SG006", "medium", None, "journey-timeout@checkout"),
    ]


def test_each_known_code_maps_to_its_rule() -> None:
    problems = (
        Problem("step-timeout", "step 3 exceeded 20s", page="payment", step=2),
        Problem("step-failed", "step 4: #pay not found", page="payment", step=3),
        Problem("navigation-error", "net::ERR_CONNECTION_RESET", page="cart", step=0),
        Problem("script-too-large", "script of 9000000 bytes not read: https://cdn.vendor.test/big.js"),
        Problem("dialog", "the page opened a alert dialog (dismissed)"),
        Problem("dialog", "the page opened 20+ dialogs (a dialog loop)"),
        Problem("popup", "the page opened a new window (closed)"),
        Problem("page-closed", "the page closed itself; journey stopped", page="payment", step=3),
        Problem("crash", "the page crashed; journey stopped", page="payment", step=3),
        Problem("evaluate-failed", "DOM snapshot failed"),
        Problem("journey-timeout", "journey checkout hit its 180s limit"),
    )
    findings = run(make_capture(problems=problems))
    assert brief(findings) == [
        ("SG002", "medium", "payment", "crash@checkout#3"),
        ("SG002", "medium", "payment", "step-failed@checkout#3"),
        ("SG002", "medium", "payment", "step-timeout@checkout#2"),
        ("SG003", "medium", "cart", "navigation-error@checkout#0"),
        ("SG006", "medium", None, "journey-timeout@checkout"),
        ("SG004", "low", None, "script-too-large@checkout"),
        ("SG005", "low", None, "dialog@checkout"),
        ("SG005", "low", None, "evaluate-failed@checkout"),
        ("SG005", "low", None, "popup@checkout"),
        ("SG005", "low", "payment", "page-closed@checkout#3"),
    ]
    dialog = next(f for f in findings if f.subject == "dialog@checkout")
    assert dialog.evidence["count"] == 2


def test_unknown_codes_are_generic() -> None:
    assert rule_for_code("body-too-large").id == "SG004"
    assert rule_for_code("request-limit").id == "SG004"
    assert rule_for_code("Something-New").id == "SG007"
    findings = run(make_capture(problems=(Problem("something-new", "x" * 2000, page="cart"),)))
    assert brief(findings) == [("SG007", "low", "cart", "something-new@checkout")]
    assert findings[0].title == "Capture problem: something-new"
    assert len(findings[0].evidence["message"]) == 500


def test_page_problems_become_stable_sg007() -> None:
    first = make_capture([cart_page(problems=("1234 requests over the limit not recorded",))])
    second = make_capture([cart_page(problems=("99 requests over the limit not recorded",))])
    a, b = run(first), run(second)
    assert brief(a) == [("SG007", "low", "cart", "page-problem:# requests over the limit not recorded")]
    assert a[0].fingerprint == b[0].fingerprint


def test_journeys_are_told_apart() -> None:
    one = make_capture(problems=(Problem("step-timeout", "slow", step=1),), journey="checkout")
    two = make_capture(problems=(Problem("step-timeout", "slow", step=1),), journey="register")
    assert [f.subject for f in run(one, two)] == ["step-timeout@checkout#1", "step-timeout@register#1"]
