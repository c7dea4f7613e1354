"""A yara-x prefilter that decides, before any parsing, whether a PHP file needs the engine.

Most files of a shop are PHP classes of the platform and its modules; the engine costs about a
millisecond on each (extraction, triage, rules, in Python), which dominates a first scan. One
yara-x scan of the raw bytes (in C) decides whether the engine could find anything:

* ``prefilter_atoms``: for every packaged rule (``analyze/rules/*.yar``), strings it cannot match
  without. They are read from the rule's condition (:func:`necessary`): a disjunction needs one of
  its branches, a conjunction one of its parts (the part whose strings are rarest in ordinary shop
  code is chosen), a leaf the strings it names; a leaf that can hold without any string (``not``,
  ``for all``, counts compared with ``<``, ``filesize``) is never chosen, and a magic-number test at
  offset 0 becomes a hex string. Every engine segment is a piece of the file as written, so a file
  with none of these strings cannot match a rule as written;
* ``prefilter_hidden``: what makes the engine look at text that is *not* in the file as written,
  mirroring :mod:`skimguard.analyze.triage` and :mod:`skimguard.analyze.extract`: decoder and
  ``eval`` calls on a foldable argument (normalization), escapes, short literals glued with ``.``,
  markup or JavaScript in the file or its string literals (``php-echo`` segments, inline scripts and
  handlers, which the structure layer parses).

Only PHP-family files are filtered: JavaScript, HTML and templates always get the engine (its
structure layer works on code shape, not on words a filter could list). With a threat-intel feed
loaded the filter is off (an indicator can be any host name). When a rule's condition can hold
without any string, or uses a syntax this reader does not know, there is no filter at all (every
file is analysed): weaker, never unsound. A test checks that the packaged rules give a filter,
and on hostile samples that every file the engine flags passes it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import yara_x

from skimguard.analyze import yara_rules
from skimguard.webroot import kinds

MAX_SCAN: Final = yara_rules.MAX_SCAN_BYTES
PHP_FAMILY: Final = frozenset(
    {".php", ".php3", ".php4", ".php5", ".php6", ".php7", ".php8", ".phtml", ".pht", ".phps", ".inc"}
)

# What ordinary shop code looks like: the part of a condition whose strings match this least wins.
BOILERPLATE: Final = b"""<?php
/**
 * Copyright Magento, Inc. All rights reserved.
 */
declare(strict_types=1);
namespace Vendor\\Module\\Model;

use Magento\\Framework\\App\\RequestInterface;

class OrderRepository extends AbstractModel implements OrderRepositoryInterface
{
    public function __construct(private readonly LoggerInterface $logger, array $data = [])
    {
        parent::__construct($data);
    }

    public function save(OrderInterface $order, $payment = null): OrderInterface
    {
        $request = $this->request->getParam('order_id');
        if (!$order->getId() || $payment === null) {
            throw new LocalizedException(__('The order "%1" was not saved.', $request));
        }
        $this->logger->info(sprintf('Order %s saved', $order->getIncrementId()), ['email' => $order->getEmail()]);
        $result = json_encode(['success' => true, 'message' => $this->escaper->escapeHtml($message)]);
        file_put_contents($this->directory->getPath() . '/export.csv', implode(',', $row) . PHP_EOL, FILE_APPEND);
        return $this->resource->save($order);
    }
}
?>
<div class="checkout-payment-method" data-bind="scope: 'checkout.steps'">
    <form method="post" action="<?= $block->escapeUrl($block->getPostActionUrl()) ?>" id="form-validate">
        <input type="hidden" name="form_key" value="<?= $block->getFormKey() ?>"/>
        <?= $block->getChildHtml('payment.methods') ?>
    </form>
</div>
"""

HIDDEN: Final = r"""
    $dec1 = /(base64_decode|gzinflate|gzuncompress|gzdecode)\s*\(\s*(@\s*)?(['"(\d\-]|[A-Za-z_]\w{0,40}\s*\()/ nocase
    $dec2 = /(str_rot13|strrev|hex2bin|urldecode)\s*\(\s*(@\s*)?(['"(\d\-]|[A-Za-z_]\w{0,40}\s*\()/ nocase
    $dec3 = /(convert_uudecode|str_replace|create_function)\s*\(\s*(@\s*)?(['"(\d\-]|[A-Za-z_]\w{0,40}\s*\()/ nocase
    $dec4 = /(eval|assert|chr|pack)\s*\(\s*(@\s*)?(['"(\d\-]|[A-Za-z_]\w{0,40}\s*\()/ nocase
        $esc1 = /\\x[0-9a-fA-F]{2}/
        $esc2 = /\\u\{?[0-9a-fA-F]{2}/
        $esc3 = /\\[0-7]{2,3}/
        $glue = /['"][\w$.\/:\-]{0,12}['"]\s*\.\s*['"]/
        $markup = /<(script|iframe|form|input)\b/ nocase
        $handler = /\son[a-z]{3,24}\s*=/ nocase
        $jsurl = "javascript:" nocase
        $js1 = /function\s*[\w$]{0,40}\s*\([^)\n]{0,80}\)\s*\{[^}\n]{0,80}(document|window|\$\(|jQuery)/
        $js2 = /=>\s*\{/
        $js3 = "addEventListener"
        $js4 = "XMLHttpRequest"
        $js5 = /(^|[^>\w$])(fetch|sendBeacon|WebSocket|EventSource|ajax|createElement|insertAdjacentHTML)\s*\(/
        $js6 = /(new\s+Image|\.src\s*=|innerHTML|document\.write|\$\.(post|get)\s*\()/
        $heredoc = "<<<"
"""

_RULE = re.compile(r"^(?:private\s+|global\s+)*rule\s+(\w+)", re.M)
_STRING = re.compile(r"^\s*\$(\w*)\s*=\s*(.+?)\s*$")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_UNSAFE = re.compile(
    r"\bnot\b|\bfor\s+all\b|\bnone\s+of\b|\b0\s+of\b|\bfilesize\b|\bdefined\b|\btrue\b|\bentrypoint\b"
    r"|#\w*\s*(<|<=|==|!=)|>=\s*0\b|>\s*-|\bint(8|16|32)(be)?\s*\("
)
_MAGIC = re.compile(r"^uint(16|32)(be)?\s*\(\s*0\s*\)\s*==\s*0x([0-9A-Fa-f]+)$")
_REF = re.compile(r"[$#@!](\w*)(\*)?")
_FOR_RANGE = re.compile(r"^for\s+any\s+\w+\s+in\s+\(\s*1\s*\.\.\s*#(\w+)\s*\)\s*:")
_FOR_SET = re.compile(
    r"^for\s+(?:any|[1-9]\d*)\s+of\s+\(([^)]*)\)\s*:\s*\(\s*"
    r"(?:for\s+any\s+\w+\s+in\s+\(\s*1\s*\.\.\s*#\s*\)|\$\s*\))"
)


@dataclass(frozen=True)
class _Rule:
    name: str
    strings: dict[str, str]  # name -> definition
    condition: str


_TEXT = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*(.*)$')
_REGEX = re.compile(r"^/(.*)/([is]*)\s*(.*)$", re.S)


@functools.cache
def _common(definition: str) -> bool:
    """Whether a yara string definition matches :data:`BOILERPLATE` (True when unsure)."""
    text, regex = _TEXT.match(definition), _REGEX.match(definition)
    try:
        if text:
            value = text.group(1).encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
            modifiers = text.group(2)
            haystack = BOILERPLATE.lower() if "nocase" in modifiers else BOILERPLATE
            return (value.lower() if "nocase" in modifiers else value) in haystack
        if regex:
            flags = re.IGNORECASE if "nocase" in regex.group(3) or "i" in regex.group(2) else 0
            flags |= re.DOTALL if "s" in regex.group(2) else 0
            return re.search(regex.group(1).encode("latin-1"), BOILERPLATE, flags) is not None
    except (re.error, UnicodeError, ValueError):
        return True
    return True


def parse(sources: Mapping[str, str]) -> dict[str, _Rule]:
    """Rules by name: their strings and condition (comments removed)."""
    out: dict[str, _Rule] = {}
    for _, text in sorted(sources.items()):
        starts = [(m.start(), m.group(1)) for m in _RULE.finditer(text)]
        for index, (start, name) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
            body = text[start:end]
            strings: dict[str, str] = {}
            if "strings:" in body:
                section = body.split("strings:", 1)[1].split("condition:", 1)[0]
                for line in section.splitlines():
                    found = _STRING.match(line)
                    if found:
                        strings[found.group(1)] = found.group(2)
            condition = body.split("condition:", 1)[1] if "condition:" in body else ""
            condition = _COMMENT.sub(" ", condition).rsplit("}", 1)[0]
            out[name] = _Rule(name, strings, " ".join(condition.split()))
    return out


def _split(expr: str, word: str) -> list[str]:
    """``expr`` split at ``word`` (``and``/``or``) outside parentheses."""
    parts, depth, start = [], 0, 0
    pattern = re.compile(rf"\b{word}\b|[()]")
    for m in pattern.finditer(expr):
        if m.group() == "(":
            depth += 1
        elif m.group() == ")":
            depth -= 1
        elif depth == 0:
            parts.append(expr[start : m.start()])
            start = m.end()
    parts.append(expr[start:])
    return [p.strip() for p in parts]


def _unwrap(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        depth = 0
        for i, ch in enumerate(expr):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(expr) - 1:
                return expr
        expr = expr[1:-1].strip()
    return expr


Atoms = frozenset[tuple[str, str]]  # (rule, string name); ("", "hex:...") for magic numbers


class PrefilterError(ValueError):
    """A packaged rule can match without any of its strings: the filter would be unsound."""


class _Reader:
    def __init__(self, rules: dict[str, _Rule]) -> None:
        self.rules = rules
        self.memo: dict[str, Atoms] = {}
        self.boilerplate = self._boilerplate_matches()

    def _boilerplate_matches(self) -> frozenset[tuple[str, str]]:
        """The strings of all rules that match :data:`BOILERPLATE`, judged with Python's ``re``
        (a yara-x compile of 300 probes costs a second per process). Only the choice between the
        parts of a condition rests on it, never soundness: a string it cannot judge counts as
        common."""
        return frozenset((r.name, name) for r in self.rules.values() for name, d in r.strings.items() if _common(d))

    def rule(self, name: str, stack: tuple[str, ...] = ()) -> Atoms:
        if name in self.memo:
            return self.memo[name]
        rule = self.rules[name]
        found = self.need(rule, rule.condition, (*stack, name))
        if found is None:  # the rule may match a text without any string: no sound filter
            raise PrefilterError(f"rule {name}: cannot tell which strings its condition needs")
        self.memo[name] = found
        return found

    def need(self, rule: _Rule, expr: str, stack: tuple[str, ...]) -> Atoms | None:
        """Strings of which at least one must match for ``expr`` to hold; None: cannot tell."""
        expr = _unwrap(expr)
        alternatives = _split(expr, "or")
        if len(alternatives) > 1:
            union: set[tuple[str, str]] = set()
            for alternative in alternatives:
                found = self.need(rule, alternative, stack)
                if found is None:
                    return None
                union |= found
            return frozenset(union)
        parts = _split(expr, "and")
        if len(parts) > 1:
            usable = [n for n in (self.need(rule, p, stack) for p in parts) if n]
            return min(usable, key=lambda n: (self.common(n), len(n))) if usable else None
        return self.leaf(rule, expr, stack)

    def leaf(self, rule: _Rule, expr: str, stack: tuple[str, ...]) -> Atoms | None:
        # a quantifier over the matches of a string needs that string, whatever its body says
        ranged = _FOR_RANGE.match(expr)
        if ranged and ranged.group(1) in rule.strings:
            return frozenset({(rule.name, ranged.group(1))})
        over = _FOR_SET.match(expr)
        if over:
            return self.names(rule, over.group(1))
        magic = _MAGIC.match(expr)
        if magic:
            width, big, value = int(magic.group(1)) // 8, magic.group(2), int(magic.group(3), 16)
            raw = value.to_bytes(width, "big" if big else "little")
            return frozenset({("", "hex:" + raw.hex())})
        if _UNSAFE.search(expr) or "uint" in expr:
            return None
        return self.names(rule, expr, stack)

    def names(self, rule: _Rule, expr: str, stack: tuple[str, ...] = ()) -> Atoms | None:
        """The strings (and rules) ``expr`` names: ``$a``, ``#a``, ``@a``, ``$a*``, ``them``."""
        found: set[tuple[str, str]] = set()
        if re.search(r"\b(any|all|\d+)\s+of\s+them\b", expr) or expr.strip() == "them":
            found |= {(rule.name, s) for s in rule.strings}
        for m in _REF.finditer(expr):
            name, wildcard = m.group(1), m.group(2)
            if wildcard:
                found |= {(rule.name, s) for s in rule.strings if s.startswith(name)}
            elif name in rule.strings:
                found.add((rule.name, name))
        for word in re.findall(r"\b[A-Za-z_]\w*\b", expr):
            if word in self.rules and word != rule.name and word not in stack:
                found |= self.rule(word, stack)
        return frozenset(found) or None

    def common(self, atoms: Atoms) -> int:
        """How many of ``atoms`` match ordinary shop code (:data:`BOILERPLATE`)."""
        return sum(a in self.boilerplate for a in atoms)

    def definition(self, atom: tuple[str, str]) -> str:
        rule, name = atom
        if name.startswith("hex:"):
            data = bytes.fromhex(name[4:])
            return "{ " + " ".join(f"{b:02X}" for b in data) + " }"
        return self.rules[rule].strings[name]


def necessary(sources: Mapping[str, str]) -> list[str]:
    """String definitions such that no packaged rule can match a text that has none of them."""
    reader = _Reader(parse(sources))
    atoms: set[tuple[str, str]] = set()
    for name in reader.rules:
        atoms |= reader.rule(name)
    return sorted({reader.definition(a) for a in atoms})


def source_of(sources: Mapping[str, str]) -> str:
    atoms = "\n".join(f"        $a{i} = {d}" for i, d in enumerate(necessary(sources)))
    return (
        "rule prefilter_atoms\n{\n    strings:\n" + atoms + "\n    condition:\n        any of them\n}\n\n"
        "rule prefilter_hidden\n{\n    strings:\n" + HIDDEN + "    condition:\n        any of them\n}\n"
    )


@functools.cache
def rules() -> yara_x.Rules | None:
    """The compiled prefilter, or None when it cannot be built (then every file is analysed)."""
    try:
        compiler = yara_x.Compiler()
        compiler.add_source(source_of(yara_rules.packaged_rule_sources()), origin="prefilter")
        return compiler.build()
    except (yara_x.CompileError, KeyError, ValueError):  # PrefilterError is a ValueError
        return None


def applies(path: str) -> bool:
    """Whether files with this name are filtered (the PHP family only)."""
    return kinds.extension(kinds.name_of(path)) in PHP_FAMILY


def needs_engine(data: bytes) -> tuple[bool, str]:
    """Whether ``data`` (a PHP file's head) may give the engine anything, and why: the prefilter
    rule that matched, ``no-filter`` when there is no filter, ``timeout``; '' when nothing did."""
    compiled = rules()
    if compiled is None:
        return True, "no-filter"
    scanner = yara_x.Scanner(compiled)
    scanner.set_timeout(yara_rules.SCAN_TIMEOUT_SECONDS)
    try:
        matched = scanner.scan(data[:MAX_SCAN]).matching_rules
    except yara_x.TimeoutError:
        return True, "timeout"
    return (True, matched[0].identifier) if matched else (False, "")
