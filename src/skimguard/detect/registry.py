"""The detectors, in order: an explicit tuple, no discovery.

:func:`run_detectors` runs them all over one context. A detector that raises loses nothing of the
others (nor its own findings so far): the crash becomes an SG009 ``health`` finding. A detector
that produces an absurd number of findings (a hostile page with thousands of scripts) is cut to
its worst :data:`MAX_FINDINGS_PER_DETECTOR`, and SG008 says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from skimguard.detect.attribution import AttributionDetector
from skimguard.detect.base import DetectContext, Detector, Rule, clip
from skimguard.detect.code import CodeDetector
from skimguard.detect.destinations import DestinationDetector
from skimguard.detect.exfil import ExfilDetector
from skimguard.detect.forms import FormDetector
from skimguard.detect.headers import HeaderDetector
from skimguard.detect.health import HealthDetector
from skimguard.detect.navigation import NavigationDetector
from skimguard.detect.payment_flow import PaymentFlowDetector
from skimguard.detect.scripts import ScriptChangeDetector
from skimguard.models import Category, Confidence, Finding, Severity
from skimguard.telemetry import TELEMETRY_RULES
from skimguard.webroot.db_rules import DB_RULES
from skimguard.webroot.rules import WEBROOT_RULES

__all__ = ["ALL_RULES", "DETECTORS", "SG008", "SG009", "rule", "run_detectors", "sort_findings"]

MAX_FINDINGS_PER_DETECTOR = 1000
MAX_CONSUMED_PER_DETECTOR = 10 * MAX_FINDINGS_PER_DETECTOR  # stop asking a detector after this many

SG008 = Rule(
    id="SG008",
    title="Too many findings from one detector",
    category=Category.HEALTH,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc=f"""One detector reported more than {MAX_FINDINGS_PER_DETECTOR} findings in a scan; only the
most severe were kept.

Why: a page with thousands of new scripts, forms or hosts is itself suspicious (or the baseline is
stale), and reporting every one would bury the important ones.
Known false positives: a complete redesign compared with an old baseline.
How to fix: look at the kept findings; accept a new baseline once the change is understood.""",
)

SG009 = Rule(
    id="SG009",
    title="Detector crashed",
    category=Category.HEALTH,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""A detector raised an error, so its checks are missing from this scan (the other detectors
ran). The evidence names the detector and the error.

Why: a blind spot must be visible; unusual page content can trigger bugs.
Known false positives: none.
How to fix: report the error (with the scan ID) to the skimguard maintainers.""",
)

DETECTORS: tuple[Detector, ...] = (
    HealthDetector(),
    ScriptChangeDetector(),
    CodeDetector(),
    HeaderDetector(),
    FormDetector(),
    NavigationDetector(),
    PaymentFlowDetector(),
    DestinationDetector(),
    ExfilDetector(),
    AttributionDetector(),
)

# Every rule: the detectors' (run on captures), SG008/SG009, the telemetry rules (SG6xx, run on
# shoppers' reports by `skimguard telemetry check`, see skimguard.telemetry) and the server-side
# rules (SG7xx: `skimguard webroot scan`, `skimguard db scan`, see skimguard.webroot).
ALL_RULES: tuple[Rule, ...] = tuple(
    sorted(
        (*(r for d in DETECTORS for r in d.rules), SG008, SG009, *TELEMETRY_RULES, *WEBROOT_RULES, *DB_RULES),
        key=lambda r: r.id,
    )
)
_BY_ID = {r.id: r for r in ALL_RULES}


def rule(rule_id: str) -> Rule:
    """The rule with this ID (KeyError naming the known IDs when there is none)."""
    try:
        return _BY_ID[rule_id.upper()]
    except KeyError:
        raise KeyError(f"no rule {rule_id!r} (known: {', '.join(_BY_ID)})") from None


def _order(f: Finding) -> tuple[int, str, str, str]:
    return (-int(f.severity), f.rule_id, f.page or "", f.subject)


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Most severe first, then by rule ID, page and subject (a stable, readable order)."""
    return sorted(findings, key=_order)


def run_detectors(ctx: DetectContext, detectors: Sequence[Detector] = DETECTORS) -> list[Finding]:
    """Every detector's findings, deduplicated by identity (the most severe kept), sorted."""
    collected: list[Finding] = []
    for detector in detectors:
        name = type(detector).__name__
        found: list[Finding] = []
        try:
            for finding in detector.run(ctx):
                found.append(finding)
                if len(found) >= MAX_CONSUMED_PER_DETECTOR:
                    break
        except Exception as err:  # one broken detector must not cost the others' findings
            collected.append(
                SG009.finding(
                    ctx.site.name,
                    page=None,
                    subject=name,
                    title=f"{SG009.title}: {name}",
                    evidence={"detector": name, "error_type": type(err).__name__, "message": clip(str(err))},
                )
            )
        if len(found) > MAX_FINDINGS_PER_DETECTOR:
            dropped = len(found) - MAX_FINDINGS_PER_DETECTOR
            found = sort_findings(found)[:MAX_FINDINGS_PER_DETECTOR]
            collected.append(
                SG008.finding(
                    ctx.site.name,
                    page=None,
                    subject=name,
                    title=f"{SG008.title}: {name}",
                    evidence={
                        "detector": name,
                        "kept": MAX_FINDINGS_PER_DETECTOR,
                        "dropped_at_least": dropped,
                    },
                )
            )
        collected.extend(found)

    best: dict[str, Finding] = {}
    for finding in collected:
        key = finding.fingerprint
        if key not in best or finding.severity > best[key].severity:
            best[key] = finding
    return sort_findings(list(best.values()))
