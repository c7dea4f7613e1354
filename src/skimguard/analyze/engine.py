"""The static analysis engine: one file (or captured script) in, a verdict that explains itself out.

Pipeline, cheapest first:

1. **Known good.** A file whose sha256 is on a known-good list (marked by a human, or a shipped
   list of library releases) is clean without further work.
2. **Extract.** The file is cut into segments (:mod:`.extract`): a JavaScript file is one; an HTML
   page gives each inline script and event handler plus the markup; PHP gives its code and what it
   prints.
3. **Normalize.** Each segment is deobfuscated without running it (:mod:`.normalize`), only when a
   cheap look says there is something to undo.
4. **Rules, structure, intel.** yara-x rules (:mod:`.yara_rules`) run on the segment as written and,
   when it changed, as normalized; the tree-sitter structure layer (:mod:`.structure`) runs on
   JavaScript its own prefilter selects; threat-intel indicators (when a feed is loaded) are looked
   up in the URLs and host names the code mentions (SG450).
5. **Verdict.** Each distinct rule adds points by severity (halved for low confidence); the
   structure layer's convicting combinations (staging of card data, a fake payment form) or any
   critical hit (card data + a computed sink + a strong aggravator) make it ``malicious``.

Pure apart from the yara-x and tree-sitter libraries: no I/O, bounded in size and time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from skimguard.analyze import structure, yara_rules
from skimguard.analyze.extract import MAX_ANALYZE_CHARS, detect_language, extract_segments, segment_position
from skimguard.analyze.model import CodeHit, FileVerdict, Language, Layer, RuleInfo, Segment, Verdict
from skimguard.analyze.normalize import normalize
from skimguard.errors import SkimguardError
from skimguard.intel import IntelIndex
from skimguard.models import Confidence, Severity

POINTS = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 3, Severity.HIGH: 6, Severity.CRITICAL: 10}
MALICIOUS_AT = 10
SUSPICIOUS_AT = 4
# Structure combinations that convict on their own (see structure.structure_catalog()): card data
# staged for later, a fake payment form; SG440 (card data sent to a computed URL) convicts only at
# critical, with a strong aggravator (checkout gate, real encoding, decoded URL, anti-analysis).
CONVICTING = frozenset({"SG441", "SG442"})
MAX_EXCERPT = 200

SG450 = RuleInfo(
    rule_id="SG450",
    layer=Layer.INTEL,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    title="Code names a host or URL listed by threat intel",
    description=(
        "The code contains a URL, host name or gate path that an imported threat-intelligence feed "
        "lists as a skimmer or collector. Feeds are optional; without one this rule is silent."
    ),
    false_positives="Stale feed entries; a listed path that legitimate software also uses.",
)


def catalog() -> tuple[RuleInfo, ...]:
    """Every code rule the engine can report, sorted by ID (the documentation of ``SG4xx``)."""
    rules = [*yara_rules.rule_catalog(), *structure.structure_catalog(), SG450]
    return tuple(sorted(rules, key=lambda r: r.rule_id))


@dataclass(frozen=True)
class Options:
    intel: IntelIndex | None = None
    known_good: Collection[str] = ()  # sha256 digests


def analyze_bytes(
    data: bytes,
    path: str = "-",
    options: Options | None = None,
    *,
    sha256: str | None = None,
    size: int | None = None,
) -> FileVerdict:
    """Analyse one file's bytes; ``path`` picks the language (by extension, else by content).
    ``sha256``/``size`` describe the whole file when ``data`` is only its head."""
    options = options or Options()
    digest = sha256 or hashlib.sha256(data).hexdigest()
    size = len(data) if size is None else size
    language = detect_language(path, data[:4096])
    if digest in options.known_good:
        return FileVerdict(path, digest, language, size, Verdict.CLEAN, 0, problems=("known good (by hash)",))
    problems: list[str] = []
    text = _decode(data, problems)
    if len(text) > MAX_ANALYZE_CHARS:
        problems.append(f"too large: the first {MAX_ANALYZE_CHARS // (1024 * 1024)} MiB analysed")
        text = text[:MAX_ANALYZE_CHARS]
    hits, traits = analyze_text(text, language, intel=options.intel, problems=problems)
    score, verdict = judge(hits)
    return FileVerdict(
        path=path,
        sha256=digest,
        language=language,
        size=size,
        verdict=verdict,
        score=score,
        hits=tuple(hits),
        problems=tuple(problems),
        traits=tuple(traits),
    )


def _decode(data: bytes, problems: list[str]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("not UTF-8: read as Latin-1")
        return data.decode("latin-1")


def analyze_text(
    text: str, language: Language, *, intel: IntelIndex | None = None, problems: list[str] | None = None
) -> tuple[list[CodeHit], list[str]]:
    """Hits (one per rule, the strongest) and the traits seen, for a whole file's text."""
    problems = problems if problems is not None else []
    found: dict[str, CodeHit] = {}
    traits: list[str] = []
    for segment in extract_segments(text, language):
        for hit in _segment_hits(segment, intel, traits, problems):
            old = found.get(hit.rule_id)
            if old is None or (hit.severity, -hit.normalized) > (old.severity, -old.normalized):
                found[hit.rule_id] = hit
    hits = sorted(found.values(), key=lambda h: (-h.severity, h.rule_id))
    return hits, traits


def _segment_hits(
    segment: Segment, intel: IntelIndex | None, traits: list[str], problems: list[str]
) -> Iterable[CodeHit]:
    try:
        normalized = normalize(segment)
    except Exception as exc:  # a normalizer bug must not cost the file its verdict
        problems.append(f"normalization failed in {segment.origin}: {type(exc).__name__}")
        normalized = None
    texts = [(segment.text, False)]
    if normalized is not None and normalized.changed:
        texts.append((normalized.text, True))
        for step in normalized.steps:
            if f"decoded:{step}" not in traits and len(traits) < 40:
                traits.append(f"decoded:{step}")
    for code, is_normalized in texts:
        try:
            rule_hits = yara_rules.scan_rules(code, language=segment.language)
        except SkimguardError as exc:  # a rule scan that hit its time limit
            problems.append(f"rules: {exc}")
            rule_hits = []
        for hit in rule_hits:
            yield _place(hit, segment, is_normalized)
        if segment.language is Language.JS:
            for hit in structure.structure_hits(code):
                for trait in hit.traits:
                    if trait not in traits and len(traits) < 40:
                        traits.append(trait)
                yield _place(hit, segment, is_normalized)
        if intel is not None and len(intel):
            for offset, matched, indicator in intel.scan_text(code, limit=5):
                line, column = (0, 0) if is_normalized else segment_position(segment, offset)
                yield CodeHit(
                    rule_id=SG450.rule_id,
                    layer=Layer.INTEL,
                    severity=SG450.severity,
                    confidence=SG450.confidence,
                    title=f"{SG450.title}: {matched[:80]}",
                    explanation=f"{matched[:120]} is listed by {indicator.source} ({indicator.kind.value} "
                    f"{indicator.value[:120]}).",
                    excerpt=matched[:MAX_EXCERPT],
                    line=line or segment.line,
                    column=column or segment.column,
                    normalized=is_normalized,
                )


def _place(hit: CodeHit, segment: Segment, is_normalized: bool) -> CodeHit:
    """A hit's position in the file: exact for text as written, the segment's start otherwise."""
    if is_normalized or hit.line <= 0:
        return replace(hit, line=segment.line, column=segment.column, normalized=is_normalized,
                       excerpt=hit.excerpt[:MAX_EXCERPT])  # fmt: skip
    if hit.line == 1:
        line, column = segment.line, segment.column + hit.column - 1
    else:
        line, column = segment.line + hit.line - 1, hit.column
    return replace(hit, line=line, column=column, excerpt=hit.excerpt[:MAX_EXCERPT])


def judge(hits: Iterable[CodeHit]) -> tuple[int, Verdict]:
    """Score and verdict of a file's hits (one per rule)."""
    score = 0
    convicted = False
    high = False
    for hit in hits:
        points = POINTS[hit.severity]
        score += points if hit.confidence >= Confidence.MEDIUM else (points + 1) // 2
        convicted = convicted or hit.rule_id in CONVICTING or hit.severity is Severity.CRITICAL
        high = high or hit.severity >= Severity.HIGH
    if convicted or score >= MALICIOUS_AT:
        return score, Verdict.MALICIOUS
    if high or score >= SUSPICIOUS_AT:
        return score, Verdict.SUSPICIOUS
    return score, Verdict.CLEAN
