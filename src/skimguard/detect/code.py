"""Static analysis of captured scripts (category ``code``): the verdict on a new or changed script.

Every script a scan captured whose bytes the baseline has not seen (every script when there is no
baseline yet) goes through the same engine as ``skimguard analyze``: rules,
structure, light deobfuscation and threat intel. Verdicts are cached by sha256 for the life of the
process, so a library seen on every page and every scan is analysed once. A script the analysis
finds ``malicious`` yields one finding per rule at medium or above, under that rule's ID
(``SG4xx``), so "this new code reads the card fields and sends them to a foreign host" arrives with
the change alert; a ``suspicious`` one yields the same findings capped at low (a lead to review,
well below the default alert threshold).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from skimguard.analyze.engine import Options, analyze_bytes, catalog
from skimguard.analyze.model import FileVerdict, RuleInfo, Verdict
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.models import Category, Finding, ScriptRecord, Severity

CACHE_SIZE = 4096
MIN_SEVERITY = Severity.MEDIUM


def _rule(info: RuleInfo) -> Rule:
    """A code rule as the scanner reports it; its documentation comes from the rule itself."""
    doc = (
        f"{info.description}\n\n"
        f"Why: web skimmers show this {info.layer.value} trait; the script's verdict weighs it with the "
        "other traits found in the same code (run `skimguard analyze` on the body for the whole explanation).\n"
        f"Known false positives: {info.false_positives or 'none known'}\n"
        "How to fix: read the script named in the finding (the inventory keeps its body). If the verdict is "
        "malicious, remove it and treat the scan as an incident; if it is a library you trust, approve it "
        "in the inventory and mark its hash known good."
    )
    if info.references:
        doc += "\nReferences: " + ", ".join(info.references)
    return Rule(info.rule_id, info.title, Category.CODE, info.severity, info.confidence, doc)


RULES: tuple[Rule, ...] = tuple(_rule(i) for i in catalog())

_cache: OrderedDict[tuple[str, bool], FileVerdict] = OrderedDict()


def verdict_for(sha256: str, body: bytes, options: Options) -> FileVerdict:
    """The engine's verdict on a script body, from the process-wide cache when seen before."""
    if sha256 in options.known_good:
        return analyze_bytes(b"", "script.js", options, sha256=sha256, size=len(body))
    key = (sha256, options.intel is not None and len(options.intel) > 0)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    verdict = analyze_bytes(body, "script.js", options, sha256=sha256)
    _cache[key] = verdict
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return verdict


class CodeDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        options = Options(intel=ctx.intel if len(ctx.intel) else None, known_good=ctx.known_good)
        seen: set[tuple[str, str]] = set()
        for page_name, script in self._new_scripts(ctx):
            if not script.sha256 or (page_name, script.sha256) in seen:
                continue
            seen.add((page_name, script.sha256))
            body = ctx.read_body(script.sha256)
            if body is None:
                continue
            verdict = verdict_for(script.sha256, body, options)
            if verdict.verdict is Verdict.CLEAN:
                continue
            yield from self._findings(ctx, page_name, script, verdict)

    # A suspicious verdict is a lead for review, not an alarm: its findings are capped at low
    # (direct-post tokenizers read the card on submit and post it as JSON, like many skimmers).
    SUSPICIOUS_CAP = Severity.LOW

    @staticmethod
    def _new_scripts(ctx: DetectContext) -> Iterator[tuple[str, ScriptRecord]]:
        """Scripts whose bytes the baseline did not have on any page (all of them without one)."""
        known: set[str] = set()
        if ctx.baseline is not None:
            for old in ctx.baseline.pages.values():
                for entry in old.scripts.values():
                    known.update(entry.hashes)
                    if entry.sha256:
                        known.add(entry.sha256)
        for capture in ctx.captures:
            for page in capture.pages:
                for script in page.scripts:
                    if script.sha256 not in known:
                        yield page.name, script

    @staticmethod
    def _findings(ctx: DetectContext, page: str, script: ScriptRecord, verdict: FileVerdict) -> Iterator[Finding]:
        what = script.url or f"{script.kind.value} script {script.sha256[:12] if script.sha256 else ''}"
        for hit in verdict.hits:
            if hit.severity < MIN_SEVERITY:
                continue
            severity = hit.severity
            if verdict.verdict is Verdict.SUSPICIOUS:
                severity = min(severity, CodeDetector.SUSPICIOUS_CAP)
            yield Finding(
                rule_id=hit.rule_id,
                category=Category.CODE,
                severity=severity,
                confidence=hit.confidence,
                title=f"{clip(what, 120)}: {clip(hit.title, 160)}",
                site=ctx.site.name,
                page=page or None,
                script_url=script.url,
                subject=script.key,
                evidence={
                    "verdict": verdict.verdict.value,
                    "score": verdict.score,
                    "explanation": clip(hit.explanation, 400),
                    "excerpt": clip(hit.excerpt, 200),
                    "line": hit.line,
                    "column": hit.column,
                    "decoded": hit.normalized,
                    "traits": [clip(t, 60) for t in verdict.traits[:20]],
                    "other_rules": [h.rule_id for h in verdict.hits if h.rule_id != hit.rule_id][:20],
                    "sha256": script.sha256,
                },
            )
