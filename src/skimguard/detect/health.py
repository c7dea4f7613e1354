"""Health: what kept a scan from seeing the pages (category ``health``).

A scan that could not reach the checkout is a blind spot, not a clean result: these findings say
where the capture failed so nobody mistakes silence for safety. They come from the ``problems``
of each :class:`~skimguard.models.Capture` (typed codes) and of each page (free text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.models import Capture, Category, Confidence, Finding, Problem, ScanStatus, Severity

SG001 = Rule(
    id="SG001",
    title="Site unreachable or journey failed",
    category=Category.HEALTH,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""The first page of a journey could not be loaded, or the journey produced no page at all.

Why: nothing was checked. A skimmer could be running and this scan would not know.
Known false positives: planned maintenance, a firewall or bot protection blocking the scanner, a
wrong base_url.
How to fix: open the site from the scanning machine; check base_url, DNS and any allow-list; if
bot protection blocks the scanner, allow its address.""",
)

SG002 = Rule(
    id="SG002",
    title="Journey step failed",
    category=Category.HEALTH,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""A journey step failed or exceeded its time limit (a selector not found, a click that did
nothing, a page that crashed), so the pages after it were not checked.

Why: the checkout steps after the failure (often the payment page) were not scanned.
Known false positives: a changed page layout (update the step's selector), a slow test shop, an
optional step that did not apply (still reported, since the journey did not go as written).
How to fix: run `skimguard scan` with the journey and compare the message with the live page;
update the selector or the step/journey timeout in skimguard.yaml.""",
)

SG003 = Rule(
    id="SG003",
    title="Navigation error",
    category=Category.HEALTH,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""A navigation failed (DNS, TLS, connection reset, HTTP error page) during a journey.

Why: the page was not seen as shoppers see it; a redirect to an unexpected host also shows here.
Known false positives: short network outages, expired test certificates.
How to fix: load the URL in the message from the scanning machine; repeat the scan.""",
)

SG004 = Rule(
    id="SG004",
    title="Capture resource limit reached",
    category=Category.HEALTH,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""A capture limit was hit: a script too large to read (its hash is unknown), too many
requests, too much data.

Why: what exceeded the limit was not compared or analysed. Attackers pad scripts to slip past
size limits.
Known false positives: large legitimate bundles.
How to fix: raise max_script_bytes for the site if the script is expected to be that large;
otherwise look at the script named in the message.""",
)

SG005 = Rule(
    id="SG005",
    title="Page interfered with the scan",
    category=Category.HEALTH,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    doc="""The page opened dialogs or new windows, closed itself, or blocked the scanner's in-page
evaluation.

Why: the scanner dismisses dialogs and closes pop-ups, but anti-analysis tricks of this kind are
also how some skimmers hide from automated browsers.
Known false positives: cookie or newsletter pop-ups, "leave this page?" prompts, payment pages
that open the PSP in a new window.
How to fix: check the page by hand; if the behaviour is expected, no action is needed.""",
)

SG006 = Rule(
    id="SG006",
    title="Journey time limit reached",
    category=Category.HEALTH,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""The whole journey exceeded journey_timeout and was stopped.

Why: the remaining steps were not scanned.
Known false positives: a slow shop or a slow scanning machine.
How to fix: raise journey_timeout for the site, or find the step that hangs (see SG002).""",
)

SG007 = Rule(
    id="SG007",
    title="Capture problem",
    category=Category.HEALTH,
    severity=Severity.LOW,
    confidence=Confidence.MEDIUM,
    doc="""Any other capture problem: a code this version does not know, or a page-level note such
as "the page never loaded" or "DOM snapshot ran out of time".

Why: part of a page was not recorded.
Known false positives: transient slowness.
How to fix: read the message; repeat the scan.""",
)

RULES: tuple[Rule, ...] = (SG001, SG002, SG003, SG004, SG005, SG006, SG007)

_BY_CODE: dict[str, Rule] = {
    "unreachable": SG001,
    "step-failed": SG002,
    "step-timeout": SG002,
    "crash": SG002,  # the renderer crashed during a step: the journey stopped there
    "navigation-error": SG003,
    "script-too-large": SG004,
    "dialog": SG005,
    "popup": SG005,
    "page-closed": SG005,
    "evaluate-failed": SG005,
    "journey-timeout": SG006,
}
_LIMIT_CODE = re.compile(r"too-large|too-many|limit|overflow|truncated")


def rule_for_code(code: str) -> Rule:
    """The rule a problem code is reported under (unknown codes: by shape, else SG007)."""
    code = code.lower()
    if code in _BY_CODE:
        return _BY_CODE[code]
    if _LIMIT_CODE.search(code):
        return SG004
    return SG007


@dataclass
class _Tally:
    rule: Rule
    page: str | None
    subject: str
    journey: str
    code: str
    step: int | None
    message: str
    count: int = 1


def _shape(message: str) -> str:
    """A page problem message with numbers replaced, so it makes a stable subject."""
    return re.sub(r"\d+", "#", message)[:120]


class HealthDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        tallies: dict[tuple[str, str | None, str], _Tally] = {}

        def add(
            rule: Rule,
            page: str | None,
            subject: str,
            capture: Capture,
            code: str,
            step: int | None,
            message: str,
        ) -> None:
            key = (rule.id, page, subject)
            if key in tallies:
                tallies[key].count += 1
            else:
                tallies[key] = _Tally(rule, page, subject, capture.journey, code, step, message)

        for capture in ctx.captures:
            for problem in capture.problems:
                rule = rule_for_code(problem.code)
                add(
                    rule,
                    problem.page,
                    _subject(capture, problem),
                    capture,
                    problem.code,
                    problem.step,
                    problem.message,
                )
            journey_lost = capture.status is ScanStatus.FAILED or not capture.pages
            if journey_lost and not any(rule_for_code(p.code) is SG001 for p in capture.problems):
                add(
                    SG001,
                    None,
                    f"failed@{capture.journey}",
                    capture,
                    "journey-failed",
                    None,
                    f"journey {capture.journey} produced no usable page (status {capture.status.value})",
                )
            for page in capture.pages:
                for message in page.problems:
                    add(
                        SG007,
                        page.name,
                        f"page-problem:{_shape(message)}",
                        capture,
                        "page-problem",
                        None,
                        message,
                    )

        yield from self._findings(ctx, tallies.values())

    @staticmethod
    def _findings(ctx: DetectContext, tallies: Iterable[_Tally]) -> Iterator[Finding]:
        for t in tallies:
            yield t.rule.finding(
                ctx.site.name,
                page=t.page,
                subject=t.subject,
                title=f"{t.rule.title}: {t.code}" if t.rule is SG007 else None,
                evidence={
                    "journey": t.journey,
                    "code": clip(t.code, 80),
                    "step_index": t.step,
                    "message": clip(t.message),
                    "count": t.count,
                },
            )


def _subject(capture: Capture, problem: Problem) -> str:
    """Problem code + where: ``step-timeout@checkout#3`` (journey and 0-based step index)."""
    where = f"@{capture.journey}" + (f"#{problem.step}" if problem.step is not None else "")
    return clip(problem.code, 80) + where
