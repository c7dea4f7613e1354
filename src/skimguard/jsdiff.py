"""A normalized, readable diff of two versions of a script.

Script bytes change all the time for reasons that do not matter: the vendor re-minified, a build
stamped a new comment, whitespace moved. What matters is whether the *code* changed and, if it did,
what the new code can do: reach a new host, read card fields, send data out. So both versions are

1. stripped of comments with a small scanner that knows strings, template literals and regular
   expression literals (``"http://x"`` is a string, not a comment),
2. beautified with jsbeautifier (one statement a line, canonical spacing; its "unpackers" are
   switched off so no hostile unpacking runs), or cut cheaply at ``;``, ``{`` and ``}`` when a
   source is too large to beautify quickly,
3. reduced to lines with collapsed whitespace and no trailing ``;``, empty lines dropped,

and the normalized lines are compared. Everything is bounded: hostile scripts can be large, deeply
nested or made of one giant line, and the result of :func:`script_diff` stays small.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jsbeautifier
from jsbeautifier.javascript.beautifier import Beautifier

from skimguard.models import host_of

# Sources larger than this are normalized by the cheap splitter instead of jsbeautifier
# (jsbeautifier runs at roughly 3-10 s per MiB in pure Python).
MAX_BEAUTIFY_CHARS = 512 * 1024  # jsbeautifier runs ~4 s per MiB; larger code takes the cheap path
# Anything beyond this is not looked at at all (the diff says it was truncated).
MAX_SOURCE_CHARS = 8 * 1024 * 1024
# difflib's matcher is quadratic in the worst case: above this many differing lines per side the
# unified diff is a coarse "all removed, then all added" hunk.
MAX_MATCH_LINES = 5000
MAX_REGEX_LITERAL = 1024  # longer regular expression literals are scanned as code (bounds backtracking)
MAX_LINE_CHARS = 300
MAX_KEPT_LINES = 1000  # lines kept in ScriptDiff.added / .removed (counts are exact)
MAX_URLS = 100
MAX_HOSTS = 50
MAX_SCAN_CHARS = 4 * 1024 * 1024  # added code searched for URLs and suspicious calls

__all__ = [
    "MAX_BEAUTIFY_CHARS",
    "ScriptDiff",
    "normalize_js",
    "script_diff",
    "strip_comments",
]


# --------------------------------------------------------------------------------------------
# Comment stripping: a scanner that knows strings, templates and regular expression literals
# --------------------------------------------------------------------------------------------

_SCAN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<line_comment>//[^\n\r\u2028\u2029]*)
    |(?P<block_comment>/\*[\s\S]*?(?:\*/|\Z))
    |(?P<string>"(?:[^"\\\n\r]|\\[\s\S])*"?|'(?:[^'\\\n\r]|\\[\s\S])*'?)
    |(?P<tick>`)
    |(?P<punct>[{};])
    |(?P<slash>/)
    |(?P<code>[^\s/"'`{};]+)
    """,
    re.VERBOSE,
)
_TEMPLATE_BODY = re.compile(r"(?:[^`\\$]|\\[\s\S]|\$(?!\{))*")
_REGEX_LITERAL = re.compile(r"/(?:[^/\\\[\n\r]|\\[^\n\r]|\[(?:[^\]\\\n\r]|\\[^\n\r])*\])+/[A-Za-z]*")
_TRAILING_WORD = re.compile(r"[\w$]+$")
# After these words a "/" starts a regular expression, not a division.
_REGEX_AFTER_WORDS = frozenset(
    {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else"}
    | {"yield", "await"}
)


def _regex_allowed_after(code: str) -> bool:
    last = code[-1]
    if last in ")]":
        return False
    if last.isalnum() or last in "_$":
        word = _TRAILING_WORD.search(code[-16:])  # keywords are short; a long tail must not cost O(n^2)
        return word is not None and word.group(0) in _REGEX_AFTER_WORDS
    return True  # an operator or punctuation: ( , = : [ ! & | ? + - * % < > ~ ^


def _tokens(source: str) -> Iterator[tuple[str, str]]:
    """Split JavaScript into (kind, text) tokens; kinds: ws, comment, string, template, regex,
    punct, code. Lossless (the texts join back to the source). Linear time, no recursion."""
    pos = 0
    end = len(source)
    regex_ok = True
    # Failed regex-literal attempts rescan up to MAX_REGEX_LITERAL characters each; hostile input
    # made of them ("(/[" repeated) would be quadratic. Past this budget "/" is always division.
    regex_budget = 2 * end + 1_000_000
    stack: list[str] = []  # "{" for a block, "${" for a template substitution
    while pos < end:
        m = _SCAN.match(source, pos)
        if m is None:  # cannot happen (the alternatives cover every character); stay safe
            yield "code", source[pos:]
            return
        kind = m.lastgroup or "code"
        text = m.group(0)
        if kind in ("line_comment", "block_comment"):
            yield "comment", text
        elif kind == "ws":
            yield "ws", text
        elif kind == "string":
            yield "string", text
            regex_ok = False
        elif kind == "tick" or (kind == "punct" and text == "}" and stack and stack[-1] == "${"):
            if kind == "punct":
                stack.pop()
            body = _TEMPLATE_BODY.match(source, m.end())
            stop = body.end() if body else m.end()
            if source.startswith("${", stop):
                stack.append("${")
                stop += 2
                regex_ok = True
            else:
                stop = min(stop + 1, end)  # the closing backtick (or the end of an unterminated one)
                regex_ok = False
            yield "template", source[pos:stop]
            pos = stop
            continue
        elif kind == "punct":
            if text == "{":
                stack.append("{")
            elif text == "}" and stack:
                stack.pop()
            yield "punct", text
            regex_ok = True
        elif kind == "slash":
            literal = None
            if regex_ok and regex_budget > 0:
                line_end = source.find("\n", pos, pos + MAX_REGEX_LITERAL)
                window = line_end if line_end >= 0 else min(end, pos + MAX_REGEX_LITERAL)
                literal = _REGEX_LITERAL.match(source, pos, window)
                if literal is None:
                    regex_budget -= window - pos
            if literal:
                text = literal.group(0)
                yield "regex", text
                regex_ok = False
            else:
                yield "code", text
                regex_ok = True
        else:
            yield "code", text
            regex_ok = _regex_allowed_after(text)
        pos += len(text)


def strip_comments(source: str) -> str:
    """Remove ``//`` and ``/* */`` comments, leaving strings, templates and regexes intact.

    A block comment that spans lines becomes a line break (it ends a statement for ASI)."""
    if "/" not in source:
        return source
    out: list[str] = []
    for kind, text in _tokens(source):
        if kind != "comment":
            out.append(text)
        elif text.startswith("/*"):
            out.append("\n" if ("\n" in text or "\r" in text) else " ")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------


class _QuietBeautifier(Beautifier):  # type: ignore[misc]
    """jsbeautifier without its unpackers: hostile input is never "unpacked" (or evaluated)."""

    def unpack(self, source: str, evalcode: bool = False) -> str:
        return source


def _beautify_options() -> Any:
    opts = jsbeautifier.default_options()
    opts.indent_size = 0  # indentation is dropped anyway; deep nesting must not grow the output
    opts.indent_char = ""
    opts.preserve_newlines = False  # the beautifier, not the author, decides where lines break
    opts.wrap_line_length = 0
    opts.eval_code = False
    opts.unescape_strings = False
    opts.end_with_newline = False
    return opts


_WORD_CHAR = re.compile(r"[\w$]")


def _cheap_lines(code: str) -> list[str]:
    """Cut code at ; { } outside strings, keeping a space only between two words: a stand-in for
    beautification that is linear and fast on any input (line breaks do not count)."""
    lines: list[str] = []
    cur: list[str] = []

    def flush() -> None:
        if cur:
            lines.append("".join(cur))
            cur.clear()

    prev_char = ""
    pending_space = False
    for kind, text in _tokens(code):
        if kind == "comment":
            continue
        if kind == "ws":  # line ends too: re-wrapping must not count as a change
            pending_space = True
            continue
        if pending_space and _WORD_CHAR.match(prev_char or " ") and _WORD_CHAR.match(text[0]):
            cur.append(" ")
        pending_space = False
        if kind == "punct":
            if text == "}":
                flush()
                lines.append("}")
            else:
                cur.append(text)
                flush()
            prev_char = ""
            continue
        cur.append(text)
        prev_char = text[-1]
    flush()
    return lines


def normalize_js(source: str, *, cheap: bool | None = None) -> list[str]:
    """Normalized lines of a script: no comments, canonical layout, collapsed whitespace, no
    trailing ``;``, no empty lines.

    ``cheap`` forces (True) or forbids (False) the fast splitter; by default it is used for
    sources above :data:`MAX_BEAUTIFY_CHARS`. Input above :data:`MAX_SOURCE_CHARS` is cut.
    """
    source = source[:MAX_SOURCE_CHARS]
    if cheap is None:
        cheap = len(source) > MAX_BEAUTIFY_CHARS
    raw: Sequence[str]
    if cheap:
        raw = _cheap_lines(source)  # skips comments itself
    else:
        code = strip_comments(source)
        try:
            raw = _QuietBeautifier().beautify(code, _beautify_options()).splitlines()
        except Exception:  # jsbeautifier on hostile input (e.g. RecursionError): degrade, never fail
            raw = _cheap_lines(code)
    lines: list[str] = []
    for line in raw:
        flat = " ".join(line.split()).rstrip("; ")
        if flat:
            lines.append(flat)
    return lines


# --------------------------------------------------------------------------------------------
# What added code can do
# --------------------------------------------------------------------------------------------

_URL = re.compile(r"""https?://[^\s"'`<>\\()\[\]{},;|^]{1,2000}""", re.IGNORECASE)
_PROTOCOL_RELATIVE = re.compile(
    r"""["'`](//[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,10}(?::\d{1,5})?(?:[/?#][^\s"'`<>\\]{0,2000})?)"""
    r"""(?=["'`])"""
)

_EVENTS = r"submit|blur|change|input|keyup|keydown|keypress|paste|focusout"
_CARD_HINT = (
    r"card|cc[-_]?(?:num|no|number|exp|cvv|cvc|csc)|\bcc\b|cvv|cvc|csc|\bpan\b|expir|exp[-_]?(?:date|month|year)"
    r"|security[-_ ]?code|cardholder"
)
# (name, pattern). A pattern with a group names the call after the group, e.g. addEventListener('submit').
_SUSPICIOUS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("new Image", re.compile(r"\bnew\s+Image\b")),
    (".src=", re.compile(r"\.src\s*=(?!=)")),
    ("fetch(", re.compile(r"\bfetch\s*\(")),
    ("XMLHttpRequest", re.compile(r"\bXMLHttpRequest\b")),
    (".open(", re.compile(r"(?<!window)\.open\s*\(")),
    ("sendBeacon", re.compile(r"\bsendBeacon\b")),
    ("WebSocket", re.compile(r"\bWebSocket\b")),
    ("atob", re.compile(r"\batob\s*\(")),
    ("btoa", re.compile(r"\bbtoa\s*\(")),
    ("eval", re.compile(r"\beval\s*\(")),
    ("Function(", re.compile(r"\bFunction\s*\(")),
    ("fromCharCode", re.compile(r"\bfromCharCode\b")),
    ("createElement('script')", re.compile(r"createElement\s*\(\s*[\"'`]script[\"'`]", re.IGNORECASE)),
    (
        "addEventListener('{}')",
        re.compile(rf"addEventListener\s*\(\s*[\"'`]({_EVENTS})[\"'`]", re.IGNORECASE),
    ),
    (".on{}=", re.compile(rf"\.on({_EVENTS})\s*=(?!=)", re.IGNORECASE)),
    (
        "card field .value",
        re.compile(rf"(?:{_CARD_HINT})[^\n]{{0,300}}\.value\b|\.value\b[^\n]{{0,300}}(?:{_CARD_HINT})", re.IGNORECASE),
    ),
    ("localStorage", re.compile(r"\blocalStorage\b")),
    ("sessionStorage", re.compile(r"\bsessionStorage\b")),
    ("document.cookie", re.compile(r"\bdocument\s*\.\s*cookie\b")),
    ("postMessage", re.compile(r"\bpostMessage\s*\(")),
    ("window.open", re.compile(r"\bwindow\s*\.\s*open\s*\(")),
    (
        "location assignment",
        re.compile(r"\blocation(?:\s*\.\s*href)?\s*=(?!=)|\blocation\s*\.\s*(?:assign|replace)\s*\("),
    ),
    ("document.write", re.compile(r"\bdocument\s*\.\s*write(?:ln)?\s*\(")),
)


def _urls(text: str) -> Iterator[str]:
    for m in _URL.finditer(text):
        yield m.group(0).rstrip(".:!?")
    for m in _PROTOCOL_RELATIVE.finditer(text):
        yield m.group(1)


def _url_host(url: str) -> str:
    return host_of("https:" + url if url.startswith("//") else url)


def _suspicious_calls(text: str) -> tuple[tuple[str, int], ...]:
    counts: Counter[str] = Counter()
    order: list[str] = []
    for name, pattern in _SUSPICIOUS:
        for m in pattern.finditer(text):
            label = name.format(m.group(1).lower()) if pattern.groups else name
            if label not in counts:
                order.append(label)
            counts[label] += 1
    return tuple((label, counts[label]) for label in order)


# --------------------------------------------------------------------------------------------
# The diff
# --------------------------------------------------------------------------------------------


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


@dataclass(frozen=True)
class ScriptDiff:
    """The difference between two versions of a script, after normalization.

    ``added``/``removed`` are the normalized lines present in one version and not the other
    (as multisets: moved lines are neither), at most :data:`MAX_KEPT_LINES` each, clipped to
    300 characters; ``added_count``/``removed_count`` are exact. ``new_urls``/``new_hosts`` appear in
    added code and nowhere in the old code. ``suspicious_calls`` are (call, count) pairs found in
    added lines. ``truncated`` says some part of the output hit a bound.
    """

    changed: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unified: str = ""
    new_urls: tuple[str, ...] = ()
    new_hosts: tuple[str, ...] = ()
    suspicious_calls: tuple[tuple[str, int], ...] = ()
    added_count: int = 0
    removed_count: int = 0
    truncated: bool = False
    cheap: bool = False  # normalized by the fast splitter rather than jsbeautifier

    def summary(self, max_unified_lines: int = 200) -> dict[str, Any]:
        """JSON-ready evidence: counts, new URLs and hosts, suspicious calls, a bounded diff."""
        lines = self.unified.splitlines()
        diff = "\n".join(lines[:max_unified_lines])
        if len(lines) > max_unified_lines:
            diff += f"\n… ({len(lines) - max_unified_lines} more diff lines)"
        return {
            "changed": self.changed,
            "added_lines": self.added_count,
            "removed_lines": self.removed_count,
            "new_urls": list(self.new_urls),
            "new_hosts": list(self.new_hosts),
            "suspicious_calls": dict(self.suspicious_calls),
            "diff": diff,
            "truncated": self.truncated or len(lines) > max_unified_lines,
        }


def _multiset_difference(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """Lines of ``a`` (in order) that ``b`` does not account for, counting repeats."""
    remaining = Counter(b)
    out: list[str] = []
    for line in a:
        if remaining[line] > 0:
            remaining[line] -= 1
        else:
            out.append(line)
    return out


def _unified(old: Sequence[str], new: Sequence[str], context: int, max_lines: int) -> tuple[str, bool]:
    """A unified diff (``---``/``+++`` headers, ``@@`` hunks with true line numbers), bounded."""
    # Trim the common head and tail first: cheap, and it keeps difflib's input small.
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    start = max(0, head - context)
    a = old[start : len(old) - max(0, tail - context)]
    b = new[start : len(new) - max(0, tail - context)]

    out = ["--- old", "+++ new"]
    if len(a) <= MAX_MATCH_LINES and len(b) <= MAX_MATCH_LINES:
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=len(a) + len(b) > 2000)
        for group in matcher.get_grouped_opcodes(context):
            i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
            out.append(f"@@ -{start + i1 + 1},{i2 - i1} +{start + j1 + 1},{j2 - j1} @@")
            for tag, ai1, ai2, bj1, bj2 in group:
                if tag == "equal":
                    out.extend(" " + line for line in a[ai1:ai2])
                    continue
                out.extend("-" + line for line in a[ai1:ai2])
                out.extend("+" + line for line in b[bj1:bj2])
                if len(out) > max_lines:
                    break
            if len(out) > max_lines:
                break
    else:  # too large to match line by line: one coarse hunk
        out.append(f"@@ -{start + 1},{len(a)} +{start + 1},{len(b)} @@ (coarse: too many changed lines)")
        for line in a:
            out.append("-" + line)
            if len(out) > max_lines:
                break
        for line in b:
            if len(out) > max_lines:
                break
            out.append("+" + line)
    truncated = len(out) > max_lines
    out = [_clip(line) for line in out[:max_lines]]
    if truncated:
        out.append("… (diff truncated)")
    return "\n".join(out), truncated


def script_diff(old: str, new: str, *, context: int = 2, max_lines: int = 400) -> ScriptDiff:
    """Compare two versions of a script after :func:`normalize_js`.

    Both sides are normalized the same way (both cheap when either is large), so a size jump past
    :data:`MAX_BEAUTIFY_CHARS` does not look like a rewrite.
    """
    truncated = len(old) > MAX_SOURCE_CHARS or len(new) > MAX_SOURCE_CHARS
    cheap = max(len(old), len(new)) > MAX_BEAUTIFY_CHARS
    old_lines = normalize_js(old, cheap=cheap)
    new_lines = normalize_js(new, cheap=cheap)
    if old_lines == new_lines:
        return ScriptDiff(changed=False, truncated=truncated, cheap=cheap)

    added = _multiset_difference(new_lines, old_lines)
    removed = _multiset_difference(old_lines, new_lines)
    unified, diff_cut = _unified(old_lines, new_lines, max(0, context), max(1, max_lines))

    added_text = "\n".join(added)
    if len(added_text) > MAX_SCAN_CHARS:
        added_text = added_text[:MAX_SCAN_CHARS]
        truncated = True
    old_urls = set(_urls("\n".join(old_lines)))
    old_hosts = {_url_host(u) for u in old_urls}
    new_urls: list[str] = []
    new_hosts: list[str] = []
    for url in _urls(added_text):
        if url in old_urls:
            continue
        if url not in new_urls and len(new_urls) < MAX_URLS:
            new_urls.append(_clip(url))
        host = _url_host(url)
        if host and host not in old_hosts and host not in new_hosts and len(new_hosts) < MAX_HOSTS:
            new_hosts.append(host)

    return ScriptDiff(
        changed=True,
        added=tuple(_clip(line) for line in added[:MAX_KEPT_LINES]),
        removed=tuple(_clip(line) for line in removed[:MAX_KEPT_LINES]),
        unified=unified,
        new_urls=tuple(new_urls),
        new_hosts=tuple(new_hosts),
        suspicious_calls=_suspicious_calls(added_text),
        added_count=len(added),
        removed_count=len(removed),
        truncated=truncated or diff_cut or len(added) > MAX_KEPT_LINES or len(removed) > MAX_KEPT_LINES,
        cheap=cheap,
    )
