"""Plain data of the static analysis engine (``skimguard analyze``).

The engine works on *segments*: pieces of code cut out of a file (a JavaScript file is one segment;
an HTML page gives one per inline script and event handler; a PHP file gives its PHP and the
JavaScript/HTML it prints). Each layer — normalization, yara-x rules, tree-sitter structure, threat
intelligence — turns segments into :class:`CodeHit` objects; the engine scores them into a
:class:`FileVerdict`. Everything here is frozen and free of I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from skimguard.models import Confidence, Severity


class Language(enum.StrEnum):
    JS = "js"
    HTML = "html"
    PHP = "php"
    TEXT = "text"  # anything else (templates we could not split, .htaccess, unknown)


class Verdict(enum.StrEnum):
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"


class Layer(enum.StrEnum):
    RULE = "rule"  # a yara-x rule
    STRUCTURE = "structure"  # tree-sitter traits that combine in one scope
    INTEL = "intel"  # a threat-intelligence indicator


@dataclass(frozen=True)
class Segment:
    """A piece of code cut out of a file.

    ``line`` and ``column`` (1-based) are where ``text`` starts in the original file, so a hit at
    offset ``n`` of ``text`` can be mapped back. ``origin`` says how it was found
    (``file``, ``script``, ``handler:onclick``, ``php``, ``php-echo``, ``decoded:atob`` ...).
    """

    language: Language
    text: str
    line: int = 1
    column: int = 1
    origin: str = "file"


@dataclass(frozen=True)
class Normalized:
    """A segment after light deobfuscation. ``steps`` names each transformation applied
    (``hex-escape``, ``concat``, ``fromCharCode``, ``atob``, ``string-array``, ``eval-literal`` ...),
    in order; empty when the text was already plain."""

    segment: Segment
    text: str
    steps: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.steps)


@dataclass(frozen=True)
class CodeHit:
    """One reason to suspect the code. ``excerpt`` is at most 200 characters of the matched text
    (hostile: escape it wherever it is shown); ``line``/``column`` are 1-based positions in the
    original file (approximate when the match is in normalized text)."""

    rule_id: str
    layer: Layer
    severity: Severity
    confidence: Confidence
    title: str
    explanation: str  # one sentence: what was found and why it matters
    excerpt: str = ""
    line: int = 0
    column: int = 0
    traits: tuple[str, ...] = ()  # structure layer: the traits that combined
    normalized: bool = False  # the match is in deobfuscated text, not in the file as written


@dataclass(frozen=True)
class RuleInfo:
    """Documentation of a rule: every rule ID has exactly one."""

    rule_id: str
    layer: Layer
    severity: Severity
    confidence: Confidence
    title: str
    description: str
    references: tuple[str, ...] = ()
    false_positives: str = ""


@dataclass(frozen=True)
class FileVerdict:
    path: str
    sha256: str
    language: Language
    size: int
    verdict: Verdict
    score: int
    hits: tuple[CodeHit, ...] = ()
    problems: tuple[str, ...] = ()  # e.g. "too large: first 2 MiB analysed", "not UTF-8"
    traits: tuple[str, ...] = field(default=())
