"""The yara-x rule layer of the static analysis engine.

The ``.yar`` files packaged in ``skimguard/analyze/rules/`` describe *traits* of web skimmers:
card field names, checkout-URL gates, collector URL shapes, exfiltration sinks, encodings,
anti-analysis checks, loaders, and their server-side (PHP) counterparts. A rule is not a verdict:
the engine adds the hits of this layer to the tree-sitter structure traits and threat intelligence
and scores the file. Benign code shows many single traits, so those rules are ``info``/``low``;
only combinations benign code does not show are ``high``.

Every rule carries the meta keys ``id`` (``SG4NN``, stable once released), ``severity``,
``confidence``, ``title``, ``description`` (its documentation: what and why), ``references``
(comma-separated URLs), ``false_positives`` and ``language`` (``js|html|php|any``). The compiler
enforces them, and it rejects slow patterns (``error_on_slow_pattern``), so a badly written rule
fails at compile time instead of slowing every scan.

Public functions:

* :func:`compile_rules` compiles rule sources (used for the packaged set and by tests);
* :func:`compile_rule_sets` compiles them once per segment language, each set holding only the
  rules that apply to that language (see below);
* :func:`rule_catalog` documents every packaged rule as a :class:`RuleInfo`;
* :func:`scan_rules` scans one piece of text and returns one :class:`CodeHit` per matching rule.

Speed: a PHP block need not pay for the JavaScript rules, nor a script for the web-shell rules, so
each language has its own compiled set (:data:`APPLICABLE_RULE_LANGUAGES`), and each thread keeps
one ``yara_x.Scanner`` per set instead of building one per scan (a scan of a small segment costs
less than building a scanner).

Apart from reading the packaged ``.yar`` files once (cached), everything here is pure. Scanned
text is hostile: it is bounded to :data:`MAX_SCAN_BYTES` and every scan has a timeout.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import yara_x

from skimguard.analyze.model import CodeHit, Language, Layer, RuleInfo
from skimguard.errors import SkimguardError
from skimguard.models import Confidence, Severity

RULES_DIR = Path(__file__).with_name("rules")
MAX_SCAN_BYTES = 2 * 1024 * 1024  # the engine passes at most 2 MiB; anything beyond is not scanned
SCAN_TIMEOUT_SECONDS = 10
MAX_MATCHES_PER_PATTERN = 200  # bounds the proximity loops in rule conditions
EXCERPT_CHARS = 200
_CONTEXT_CHARS = 60  # context on each side of a short match, within its line

# Which rule ``language`` meta values apply to a segment of each language. The extractor cuts the
# scripts of an HTML page into segments of their own, but a script file sniffed as HTML (or markup
# the extractor could not split) must not escape the JavaScript rules, so they apply to HTML too;
# a hit found twice (page and script) has the same rule ID. Text of unknown type gets every rule.
APPLICABLE_RULE_LANGUAGES: Mapping[Language, frozenset[str]] = {
    Language.JS: frozenset({"js", "any"}),
    Language.HTML: frozenset({"html", "js", "any"}),
    Language.PHP: frozenset({"php", "any"}),
    Language.TEXT: frozenset({"js", "html", "php", "any"}),
}

# meta key -> regular expression its (string) value must match
_META_CONTRACT: Mapping[str, str] = {
    "id": r"^SG4[0-9]{2}$",
    "severity": r"^(info|low|medium|high|critical)$",
    "confidence": r"^(low|medium|high)$",
    "title": r"^\S.{0,79}$",
    "description": r"^\S.{9,}$",
    "references": r"^(https?://[^\s,]+(, ?https?://[^\s,]+)*)?$",
    "false_positives": r"^[^\n]*$",
    "language": r"^(js|html|php|any)$",
}


# the type stubs of yara_x declare the enum members as int
_META_STRING = cast(yara_x.MetaType, yara_x.MetaType.STRING)


class RuleCompileError(SkimguardError):
    """Rule sources do not compile: a syntax error, a slow pattern, bad or missing meta, a duplicate ID."""

    hint = "fix the rule named above; every pattern needs a literal of 3+ bytes and bounded gaps"


class RuleScanTimeout(SkimguardError):
    """A scan did not finish within :data:`SCAN_TIMEOUT_SECONDS` (hostile or pathological input)."""

    hint = "the input was not analysed by the rule layer; report it as a partial result"


@dataclass(frozen=True)
class _RuleMeta:
    rule_id: str
    severity: Severity
    confidence: Confidence
    title: str
    description: str
    references: tuple[str, ...]
    false_positives: str
    language: str

    @property
    def explanation(self) -> str:
        return _first_sentence(self.description)


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _meta_value(value: object) -> str:
    """A meta value as text: yara-x hands strings that contain escapes (``\\"``) over as bytes."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _meta_of(rule_name: str, metadata: tuple[tuple[str, object], ...]) -> _RuleMeta:
    meta = {key: _meta_value(value) for key, value in metadata}
    missing = [key for key in _META_CONTRACT if key not in meta]
    if missing:  # the compiler enforces this already; kept for rules compiled elsewhere
        raise RuleCompileError(f"rule {rule_name}: missing meta {', '.join(missing)}")
    references = tuple(ref.strip() for ref in meta["references"].split(",") if ref.strip())
    return _RuleMeta(
        rule_id=meta["id"],
        severity=Severity[meta["severity"].upper()],
        confidence=Confidence[meta["confidence"].upper()],
        title=meta["title"],
        description=meta["description"],
        references=references,
        false_positives=meta["false_positives"],
        language=meta["language"],
    )


def compile_rules(sources: Mapping[str, str]) -> yara_x.Rules:
    """Compile rule sources (origin name -> YARA text) with slow patterns and bad meta rejected.

    Raises :class:`RuleCompileError` with the first compiler error, or when two rules share an ID.
    """
    compiler = yara_x.Compiler(error_on_slow_pattern=True)
    for key, regexp in _META_CONTRACT.items():
        compiler.allowed_metadata(key, _META_STRING, required=True, error=True, regexp=regexp)
    for origin in sorted(sources):
        try:
            compiler.add_source(sources[origin], origin=origin)
        except yara_x.CompileError as exc:
            raise RuleCompileError(f"rule source {origin} does not compile: {exc}") from exc
    rules = compiler.build()
    _check_ids(rules)
    return rules


def _check_ids(rules: yara_x.Rules) -> None:
    seen: dict[str, str] = {}
    for rule in rules:
        rule_id = _meta_of(rule.identifier, rule.metadata).rule_id
        if rule_id in seen:
            raise RuleCompileError(f"rule ID {rule_id} is used by both {seen[rule_id]} and {rule.identifier}")
        seen[rule_id] = rule.identifier


# The start of a rule declaration at the beginning of a line (``rule``, ``private rule``...).
_RULE_START = re.compile(r"^[ \t]*(?:(?:private|global)[ \t]+)*rule[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def _split_rules(source: str) -> tuple[str, list[tuple[str, str]]]:
    """A rule file as (preamble, [(rule name, text of the rule up to the next one)]).

    A plain text cut, checked afterwards: :func:`compile_rule_sets` compiles the pieces again and
    compares the rule names each set holds with what the whole file gives, so a cut in the wrong
    place (``rule x`` at the start of a comment line) fails loudly instead of losing a rule."""
    starts = list(_RULE_START.finditer(source))
    if not starts:
        return source, []
    preamble = source[: starts[0].start()]
    pieces = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(source)
        pieces.append((match.group(1), source[match.start() : end]))
    return preamble, pieces


def compile_rule_set(sources: Mapping[str, str], language: Language, whole: yara_x.Rules | None = None) -> yara_x.Rules:
    """The rules of ``sources`` whose ``language`` meta applies to segments of ``language``
    (:data:`APPLICABLE_RULE_LANGUAGES`), compiled on their own; when every rule applies, the whole
    set. ``whole``: ``sources`` already compiled with :func:`compile_rules`, to save compiling them
    again.

    A scan with it gives the hits of the whole set filtered by language, as before; only the time
    differs (yara-x pays for every pattern's atoms, whether its rule applies or not). Raises
    :class:`RuleCompileError` like :func:`compile_rules`, also when a rule refers to a rule of
    another language or a file cannot be cut into rules cleanly (the names compiled differ).
    """
    whole = compile_rules(sources) if whole is None else whole
    language_of = {rule.identifier: _meta_of(rule.identifier, rule.metadata).language for rule in whole}
    applicable = APPLICABLE_RULE_LANGUAGES[language]
    wanted = {name for name, rule_language in language_of.items() if rule_language in applicable}
    if wanted == set(language_of):
        return whole
    subset: dict[str, str] = {}
    for origin in sources:
        preamble, pieces = _split_rules(sources[origin])
        kept = [text for name, text in pieces if language_of.get(name) in applicable]
        if kept:
            subset[origin] = preamble + "".join(kept)
    rules = compile_rules(subset)
    names = {rule.identifier for rule in rules}
    if names != wanted:
        raise RuleCompileError(
            f"the {language.value} rule set does not hold the rules it should (missing "
            f"{', '.join(sorted(wanted - names)) or '-'}, extra {', '.join(sorted(names - wanted)) or '-'}): "
            "does a rule declaration start inside a comment?"
        )
    return rules


def compile_rule_sets(sources: Mapping[str, str]) -> dict[Language, yara_x.Rules]:
    """:func:`compile_rule_set` for every segment language."""
    whole = compile_rules(sources)
    return {language: compile_rule_set(sources, language, whole) for language in APPLICABLE_RULE_LANGUAGES}


def packaged_rule_sources() -> dict[str, str]:
    """The packaged ``.yar`` files, file name -> text."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(RULES_DIR.glob("*.yar"))}


@functools.cache
def packaged_rules() -> yara_x.Rules:
    """The packaged rule set, compiled once per process (or loaded from the cache of compiled
    rules: :func:`_compiled`)."""
    return _compiled("all", lambda: compile_rules(packaged_rule_sources()))


@functools.cache
def packaged_rule_set(language: Language) -> yara_x.Rules:
    """The packaged rules that apply to segments of ``language`` (see :func:`compile_rule_set`),
    compiled on first use, once per process (or loaded from the cache: :func:`_compiled`)."""
    if APPLICABLE_RULE_LANGUAGES[language] >= {meta.language for meta in _packaged_meta().values()}:
        return packaged_rules()  # every rule applies: the whole set, as compile_rule_set gives it
    sources = packaged_rule_sources()
    return _compiled(language.value, lambda: compile_rule_set(sources, language, whole=packaged_rules()))


# ---------------------------------------------------------------------------------------------
# the cache of compiled packaged rules
# ---------------------------------------------------------------------------------------------

CACHE_ENV = "SKIMGUARD_CACHE_DIR"  # where compiled rules are kept; empty: no cache


def cache_dir() -> Path | None:
    """The folder for skimguard's caches: ``$SKIMGUARD_CACHE_DIR``, else ``$XDG_CACHE_HOME/skimguard``
    or ``~/.cache/skimguard``; None when ``SKIMGUARD_CACHE_DIR`` is set empty."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return Path(chosen) if chosen.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "skimguard"


@functools.cache
def _generation() -> str:
    """What compiled packaged rules depend on: the rule files, this module's code (the meta
    contract, how a language's set is cut) and the yara-x build that compiled them."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    binary = Path(getattr(sys.modules.get("yara_x.yara_x"), "__file__", None) or yara_x.__file__)  # the build
    with contextlib.suppress(OSError):
        info = binary.stat()
        digest.update(f"\0{binary}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    for name, text in sorted(packaged_rule_sources().items()):
        digest.update(b"\0" + name.encode() + b"\0" + text.encode())
    return digest.hexdigest()[:24]


def _private_folder(path: Path) -> bool:
    """Is ``path`` a folder (not a link) of this user that nobody else can write to? A compiled
    rules file is code for yara-x: it must come from us."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _compiled(name: str, build: Callable[[], yara_x.Rules]) -> yara_x.Rules:
    """The packaged rules ``name`` from the cache of compiled rules, else built with ``build`` and
    kept there for the next process: compiling the packaged rules takes most of a second, loading
    them a few milliseconds. The cache lives in ``<cache_dir>/rules/<generation>/`` (one folder per
    :func:`_generation`; writing a new one removes the others). A file that cannot be read or
    loaded is compiled again and replaced; folders that are not this user's alone are not used;
    a failure to write only costs the next process its compile."""
    top = cache_dir()
    if top is None:
        return build()
    chain = (top, top / "rules", top / "rules" / _generation())
    file = chain[-1] / f"{name}.yrx"
    if all(_private_folder(folder) for folder in chain):
        try:
            with file.open("rb") as source:
                return yara_x.Rules.deserialize_from(source)
        except Exception:  # missing, damaged, from an incompatible build: compile again, replace it
            pass
    rules = build()
    with contextlib.suppress(OSError):
        _keep(chain, file, rules)
    return rules


def _keep(chain: tuple[Path, Path, Path], file: Path, rules: yara_x.Rules) -> None:
    """Write ``rules`` to ``file`` atomically, creating the folders of ``chain`` (top, rules,
    generation) for this user alone; nothing when one of them is not private."""
    top, rules_folder, folder = chain
    for path in chain:
        path.mkdir(mode=0o700, parents=path is top, exist_ok=True)
        if not _private_folder(path):
            return
    for other in rules_folder.iterdir():  # another generation's rules: never loaded again
        if other != folder and _private_folder(other):
            shutil.rmtree(other, ignore_errors=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{file.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as sink:
            rules.serialize_into(sink)
        os.replace(temporary, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def clear_caches() -> None:
    """Forget the compiled packaged rules (after :func:`packaged_rule_sources` changed)."""
    packaged_rules.cache_clear()
    packaged_rule_set.cache_clear()
    _packaged_meta.cache_clear()
    _generation.cache_clear()
    _local.__dict__.clear()


@functools.cache
def _packaged_meta() -> Mapping[str, _RuleMeta]:
    return {rule.identifier: _meta_of(rule.identifier, rule.metadata) for rule in packaged_rules()}


def rule_catalog() -> tuple[RuleInfo, ...]:
    """Documentation of every packaged rule, sorted by rule ID."""
    infos = (
        RuleInfo(
            rule_id=meta.rule_id,
            layer=Layer.RULE,
            severity=meta.severity,
            confidence=meta.confidence,
            title=meta.title,
            description=meta.description,
            references=meta.references,
            false_positives=meta.false_positives,
        )
        for meta in _packaged_meta().values()
    )
    return tuple(sorted(infos, key=lambda info: info.rule_id))


def _skip_leading_space(data: bytes, match: tuple[int, int]) -> tuple[int, int]:
    """Patterns often start with a boundary character (``[^a-z]mail(``); when that character is
    white space, report the match from the first visible character instead."""
    offset, length = match
    stripped = len(data[offset : offset + length]) - len(data[offset : offset + length].lstrip())
    if stripped == length:
        return match
    return offset + stripped, length - stripped


def _position(data: bytes, offset: int) -> tuple[int, int, int, int]:
    """(line, column, line start, line end) of a byte offset; line and column are 1-based and the
    column counts characters, not bytes."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    line_end = data.find(b"\n", offset)
    if line_end < 0:
        line_end = len(data)
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="ignore")) + 1
    return line, column, line_start, line_end


def _excerpt(data: bytes, offset: int, length: int, line_start: int, line_end: int) -> str:
    matched = data[offset : offset + length].decode("utf-8", errors="ignore")
    if len(matched) >= EXCERPT_CHARS:
        return matched[:EXCERPT_CHARS]
    room = EXCERPT_CHARS - len(matched)
    window = 4 * _CONTEXT_CHARS  # bytes; enough for the context in any UTF-8 text
    before = data[max(line_start, offset - window) : offset].decode("utf-8", errors="ignore")
    after = data[offset + length : min(line_end, offset + length + window)].decode("utf-8", errors="ignore")
    before = before[-min(_CONTEXT_CHARS, room // 2) :] if room // 2 else ""
    after = after[: min(_CONTEXT_CHARS, room - len(before))]
    return before + matched + after


_local = threading.local()  # per thread: {id(rules): (rules, scanner)}
_MAX_SCANNERS = 16


def _scanner(rules: yara_x.Rules) -> yara_x.Scanner:
    """This thread's scanner for ``rules``, built once: a ``yara_x.Scanner`` is not shared between
    threads, and building one costs several scans of a small segment."""
    scanners: dict[int, tuple[yara_x.Rules, yara_x.Scanner]] | None = getattr(_local, "scanners", None)
    if scanners is None:
        scanners = _local.scanners = {}
    entry = scanners.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    if len(scanners) >= _MAX_SCANNERS:  # rule sets recompiled after a cache clear; drop the old ones
        scanners.clear()
    scanner = yara_x.Scanner(rules)
    scanner.set_timeout(SCAN_TIMEOUT_SECONDS)
    scanner.max_matches_per_pattern(MAX_MATCHES_PER_PATTERN)
    scanners[id(rules)] = (rules, scanner)
    return scanner


def scan_rules(text: str, *, language: Language) -> list[CodeHit]:
    """Scan ``text`` with the packaged rules that apply to ``language``.

    Returns one :class:`CodeHit` per matching rule, sorted by rule ID, located at the rule's first
    match (1-based line and character column in ``text``). Only the first :data:`MAX_SCAN_BYTES`
    bytes of the UTF-8 encoding are scanned. Raises :class:`RuleScanTimeout` when the scan exceeds
    :data:`SCAN_TIMEOUT_SECONDS`.
    """
    data = text.encode("utf-8", errors="replace")[:MAX_SCAN_BYTES]
    scanner = _scanner(packaged_rule_set(language))
    try:
        results = scanner.scan(data)
    except yara_x.TimeoutError as exc:
        raise RuleScanTimeout(f"rule scan of {len(data)} bytes timed out after {SCAN_TIMEOUT_SECONDS} s") from exc
    applicable = APPLICABLE_RULE_LANGUAGES[language]
    metas = _packaged_meta()
    hits: list[CodeHit] = []
    for rule in results.matching_rules:
        meta = metas[rule.identifier]
        if meta.language not in applicable:
            continue
        offset, length = _skip_leading_space(
            data,
            min(((m.offset, m.length) for pattern in rule.patterns for m in pattern.matches), default=(0, 0)),
        )
        line, column, line_start, line_end = _position(data, offset)
        hits.append(
            CodeHit(
                rule_id=meta.rule_id,
                layer=Layer.RULE,
                severity=meta.severity,
                confidence=meta.confidence,
                title=meta.title,
                explanation=meta.explanation,
                excerpt=_excerpt(data, offset, length, line_start, line_end),
                line=line,
                column=column,
            )
        )
    return sorted(hits, key=lambda hit: hit.rule_id)
