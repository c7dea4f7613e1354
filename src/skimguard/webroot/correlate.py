"""Link what the browser saw to the file or database row that put it there.

A browser-side finding says *what* shoppers get (a new or changed script, card data sent to a
collector host, a planted form posting elsewhere); the incident needs *where it came from*: the
template, the JavaScript file, the ``core_config_data`` row. :func:`correlate` takes the browser
findings and server-side items — ``(location, text, mtime)`` for files of the web root or values of
the database — and returns a :class:`Link` for every item that explains a finding, with the reason,
the matched excerpt and the item's mtime (window evidence for incident scoping).

What is looked for, strongest first (one link per finding and location, the strongest reason):

``same-bytes``   the item's bytes are the script the browser ran (its sha256);
``code``         the script's code (the body by sha256, or the lines a change added) is in the item,
                 whitespace-, quote- and case-insensitive; long bodies by three anchors, two of
                 which must match;
``served-file``  the item's path ends with the path of a script on the site's own host;
``script-url``   the script's URL (scheme and query dropped, with or without the port);
``form-action``  the URL a planted form posts to;
``url``          another URL of the finding (a request, a redirect);
``host``         a destination host (collector), as a whole host name;
``script-path``  the path of an own-host script (``/js/checkout.js``): the template that loads it.

A ``-decoded`` suffix means the match is in the engine's normalized text of the item (a host
spelled with ``atob`` or character codes), computed only for items whose code shows an
obfuscation marker and within a time budget. Pure: no I/O; bodies come from a look-up function.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from skimguard.analyze import triage
from skimguard.analyze.extract import detect_language, extract_segments
from skimguard.analyze.model import Language
from skimguard.analyze.normalize import normalize
from skimguard.models import Category, Finding, host_of

__all__ = ["REASONS", "Link", "ServerItem", "correlate", "links_by_finding"]

ServerItem = tuple[str, str, datetime | None]

REASONS = ("same-bytes", "code", "served-file", "script-url", "form-action", "url", "host", "script-path")
_RANK = {r: i for i, r in enumerate(REASONS)}
MAX_ITEM_CHARS = 8 * 1024 * 1024  # what is searched of one item
MAX_BODY_CHARS = 2 * 1024 * 1024
MIN_CODE_CHARS = 32  # shorter code (squeezed) is too generic to prove anything
WHOLE_CODE_CHARS = 600  # longer code is matched by anchors
ANCHOR_CHARS = 160
MIN_ADDED_LINE_CHARS = 40
MAX_LINKS_PER_FINDING = 20
DECODE_BUDGET_SECONDS = 5.0
MAX_DECODE_CHARS = 512 * 1024
EXCERPT_CHARS = 200
_SKIP_CATEGORIES = frozenset({Category.SERVER, Category.HEALTH})


@dataclass(frozen=True)
class Link:
    """A browser finding (``finding`` is its fingerprint) explained by a server-side item."""

    finding: str
    rule_id: str
    location: str
    reason: str
    needle: str  # what was looked for: a URL, a host, "script <sha256>"
    excerpt: str  # hostile text from the item: escape it wherever it is shown
    mtime: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding,
            "rule_id": self.rule_id,
            "location": self.location,
            "reason": self.reason,
            "needle": self.needle,
            "excerpt": self.excerpt,
            "mtime": self.mtime.isoformat() if self.mtime else None,
        }


# ---------------------------------------------------------------------------------------------
# text forms
# ---------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"'": '"', "`": '"'})
_RUNS = re.compile(r"\S+")


def _lower(text: str) -> str:
    """Lower case with every offset kept (non-ASCII letters whose lower case is longer become ?)."""
    low = text.lower()
    if len(low) != len(text):
        low = text.encode("ascii", "replace").decode("ascii").lower()
    return low


@dataclass(frozen=True)
class _Squeezed:
    """A text without white space, quotes unified, lower case; ``starts`` map back to offsets."""

    text: str
    squeezed_starts: tuple[int, ...]
    original_starts: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> _Squeezed:
        low = _lower(text).translate(_QUOTES)
        parts: list[str] = []
        sq: list[int] = []
        og: list[int] = []
        at = 0
        for m in _RUNS.finditer(low):
            sq.append(at)
            og.append(m.start())
            parts.append(m.group())
            at += m.end() - m.start()
        return cls("".join(parts), tuple(sq), tuple(og))

    def original(self, index: int) -> int:
        i = bisect.bisect_right(self.squeezed_starts, index) - 1
        if i < 0:
            return 0
        return self.original_starts[i] + index - self.squeezed_starts[i]


def squeeze(text: str) -> str:
    """The whitespace-, quote- and case-insensitive form code is compared in."""
    return _Squeezed.of(text).text


def _window(text: str, start: int, end: int) -> str:
    margin = max(0, (EXCERPT_CHARS - (end - start)) // 2)
    piece = text[max(0, start - margin) : end + margin]
    piece = " ".join(piece.split())
    return piece[: EXCERPT_CHARS - 1] + "…" if len(piece) > EXCERPT_CHARS else piece


# ---------------------------------------------------------------------------------------------
# what to look for
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Code:
    label: str  # "script <sha256[:12]>" or "added lines"
    whole: str | None  # squeezed code matched as a whole
    anchors: tuple[str, ...]  # or by anchors (two must match)
    sha256: str | None


@dataclass(frozen=True)
class _Needles:
    finding: Finding
    sha256s: frozenset[str]
    code: tuple[_Code, ...]
    urls: tuple[tuple[str, str, str], ...]  # (reason, URL for output, lower-case needle without scheme)
    hosts: tuple[str, ...]
    paths: tuple[str, ...]  # own-host script paths

    @property
    def empty(self) -> bool:
        return not (self.sha256s or self.code or self.urls or self.hosts or self.paths)


_SHA_KEYS = ("sha256", "new_sha256")
_URL_KEYS = {
    "url": "url",
    "action": "form-action",
    "new_action": "form-action",
    "destination": "url",
    "new_urls": "url",
    "redirect_chain": "url",
    "initiators": "script-url",
    "forms": "form-action",
    "first": "form-action",
    "second": "form-action",
}
_HOST_KEYS = ("new_hosts", "posts_outside")
_SHA_RE = re.compile(r"[0-9a-f]{64}\Z")


def _is_own(host: str, own: Collection[str]) -> bool:
    return any(host == h or host.endswith("." + h) for h in own)


def _url_needles(url: str) -> tuple[str, ...]:
    """``host[:port]/path`` forms of a URL (lower case, no scheme, no query): with and without the
    port. Empty for URLs without a host or a path worth matching."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ()
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return ()
    path = parts.path.lower()
    if path in ("", "/"):
        return ()  # a bare origin is a host needle, not a URL
    out = [f"//{host}{path}"]
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        out.insert(0, f"//{host}:{port}{path}")
    return tuple(out)


def _walk_urls(value: Any, reason: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    if depth > 3:
        return
    if isinstance(value, str):
        if value.startswith(("http://", "https://")):
            yield reason, value
    elif isinstance(value, Mapping):
        for k, v in list(value.items())[:50]:
            sub = _URL_KEYS.get(str(k))
            if sub is not None or reason == "form-action":
                yield from _walk_urls(v, sub or reason, depth + 1)
    elif isinstance(value, list | tuple):
        for v in list(value)[:50]:
            yield from _walk_urls(v, reason, depth + 1)


def _code_needle(label: str, code: str, sha256: str | None) -> _Code | None:
    squeezed = squeeze(code[:MAX_BODY_CHARS])
    if len(squeezed) < MIN_CODE_CHARS:
        return None
    if len(squeezed) <= WHOLE_CODE_CHARS:
        return _Code(label, squeezed, (), sha256)
    mid = len(squeezed) // 2 - ANCHOR_CHARS // 2
    anchors = (squeezed[:ANCHOR_CHARS], squeezed[mid : mid + ANCHOR_CHARS], squeezed[-ANCHOR_CHARS:])
    return _Code(label, None, anchors, sha256)


def _needles(finding: Finding, body: Callable[[str], bytes | None] | None, own: Collection[str]) -> _Needles:
    evidence = finding.evidence
    sha256s = {str(evidence.get(k)).lower() for k in _SHA_KEYS if _SHA_RE.match(str(evidence.get(k) or ""))}
    code: list[_Code] = []
    for sha in sorted(sha256s):
        data = _safe_body(body, sha)
        if data is not None:
            needle = _code_needle(f"script {sha[:12]}", data[: MAX_BODY_CHARS * 2].decode("utf-8", "replace"), sha)
            if needle is not None:
                code.append(needle)
    diff = evidence.get("diff")
    if isinstance(diff, str) and not code:
        added = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
        for line in added[:50]:
            needle = _code_needle("added lines", line, None)
            if needle is not None and len(needle.whole or "") >= MIN_ADDED_LINE_CHARS:
                code.append(needle)
    urls: dict[str, tuple[str, str, str]] = {}
    paths: list[str] = []
    hosts: list[str] = []
    candidates: list[tuple[str, str]] = []
    if finding.script_url:
        candidates.append(("script-url", finding.script_url))
    candidates.extend(_walk_urls(dict(evidence), "url"))
    for reason, url in candidates:
        host = host_of(url)
        if not host:
            continue
        if own and _is_own(host, own):
            if reason == "script-url" and url == finding.script_url:
                path = urlsplit(url).path
                if len(path) >= 4 and "." in path.rsplit("/", 1)[-1]:
                    paths.append(path)
            continue
        for form in _url_needles(url):
            if form not in urls or _RANK[reason] < _RANK[urls[form][0]]:
                urls[form] = (reason, url.split("?", 1)[0].split("#", 1)[0][:300], form)
        if reason != "script-url":
            hosts.append(host)
    if finding.destination:
        hosts.insert(0, finding.destination.lower())
    for key in _HOST_KEYS:
        value = evidence.get(key)
        if isinstance(value, list | tuple):
            hosts.extend(str(h).lower() for h in value[:20] if isinstance(h, str))
    action_host = evidence.get("action_host")
    if isinstance(action_host, str) and evidence.get("trusted_host") is False:
        hosts.append(action_host.lower())
    hosts = [h for h in dict.fromkeys(hosts) if h and "." in h and not (own and _is_own(h, own))]
    return _Needles(
        finding=finding,
        sha256s=frozenset(sha256s),
        code=tuple(code),
        urls=tuple(urls.values()),
        hosts=tuple(hosts[:20]),
        paths=tuple(dict.fromkeys(paths)),
    )


def _safe_body(body: Callable[[str], bytes | None] | None, sha256: str) -> bytes | None:
    if body is None:
        return None
    try:
        return body(sha256)
    except Exception:  # a failing store must not cost the other links
        return None


# ---------------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------------

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_URL_END = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_./")


def _find_host(low: str, host: str, start: int = 0) -> int:
    """Offset of ``host`` as a whole host name in ``low``, or -1."""
    pos = low.find(host, start)
    while pos >= 0:
        before = low[pos - 1] if pos else ""
        end = pos + len(host)
        after = low[end] if end < len(low) else ""
        dotted = after == "." and end + 1 < len(low) and low[end + 1] in _HOST_CHARS
        if before not in _HOST_CHARS and before != "." and after not in _HOST_CHARS and not dotted:
            return pos
        pos = low.find(host, pos + 1)
    return -1


def _find_url(low: str, needle: str) -> int:
    """Offset of a ``//host/path`` needle that is not the head of a longer path, or -1."""
    for variant in (needle, needle.replace("/", "\\/")):
        pos = low.find(variant)
        while pos >= 0:
            end = pos + len(variant)
            if end >= len(low) or low[end] not in _URL_END:
                return pos
            pos = low.find(variant, pos + 1)
    return -1


_PATH_BEFORE = frozenset("\"'=( ")


def _find_path(low: str, path: str) -> int:
    pos = low.find(path)
    while pos >= 0:
        end = pos + len(path)
        before = low[pos - 1] if pos else " "
        if (before in _PATH_BEFORE or before == "}") and (end >= len(low) or low[end] not in _URL_END):
            return pos
        pos = low.find(path, pos + 1)
    return -1


@dataclass
class _Item:
    location: str
    text: str
    mtime: datetime | None
    _low: str | None = None
    _squeezed: _Squeezed | None = None
    _sha: str | None = None
    _decoded: list[str] | None = None

    @property
    def low(self) -> str:
        if self._low is None:
            self._low = _lower(self.text)
        return self._low

    @property
    def squeezed(self) -> _Squeezed:
        if self._squeezed is None:
            self._squeezed = _Squeezed.of(self.text)
        return self._squeezed

    @property
    def sha256(self) -> str:
        if self._sha is None:
            self._sha = hashlib.sha256(self.text.encode("utf-8", "surrogateescape")).hexdigest()
        return self._sha

    def decoded(self, budget: _Budget) -> list[str]:
        """The engine's normalized texts of the item's obfuscated code segments (lower case)."""
        if self._decoded is not None:
            return self._decoded
        self._decoded = []
        if len(self.text) > MAX_DECODE_CHARS or not budget.left():
            return self._decoded
        language = detect_language(self.location, self.text[:4096].encode("utf-8", "replace"))
        for segment in extract_segments(self.text, language)[:200]:
            if segment.language not in (Language.JS, Language.PHP):
                continue
            if not triage.obfuscation_markers(segment.text, segment.language) or not budget.left():
                continue
            try:
                normalized = normalize(segment, deadline=budget.deadline)
            except Exception:  # a normalizer bug must not cost the other links
                continue
            if normalized.changed:
                self._decoded.append(_lower(normalized.text))
        return self._decoded


@dataclass
class _Budget:
    deadline: float

    def left(self) -> bool:
        return time.monotonic() < self.deadline


def _match(needles: _Needles, item: _Item, budget: _Budget) -> tuple[str, str, str] | None:
    """The strongest (reason, needle, excerpt) of one finding in one item, or None."""
    text = item.text
    if needles.sha256s and item.sha256 in needles.sha256s:
        return "same-bytes", f"script {item.sha256[:12]}", _window(text, 0, 0)
    for code in needles.code:
        sq = item.squeezed
        if code.whole is not None:
            pos = sq.text.find(code.whole)
            if pos >= 0:
                start, end = sq.original(pos), sq.original(pos + len(code.whole) - 1) + 1
                return "code", code.label, _window(text, start, min(end, start + EXCERPT_CHARS))
        else:
            found = [p for p in (sq.text.find(a) for a in code.anchors) if p >= 0]
            if len(found) >= 2:
                start = sq.original(found[0])
                return "code", code.label, _window(text, start, start + EXCERPT_CHARS)
    location = item.location.replace("\\", "/")
    for path in needles.paths:
        rel = path.lstrip("/")
        if location == rel or location.endswith("/" + rel):
            return "served-file", path, _window(text, 0, 0)
    best: tuple[str, str, str] | None = None
    low = item.low
    for reason, url, needle in needles.urls:
        pos = _find_url(low, needle)
        if pos >= 0 and (best is None or _RANK[reason] < _RANK[best[0]]):
            best = (reason, url, _window(text, pos, pos + len(needle)))
    if best is not None:
        return best
    for host in needles.hosts:
        pos = _find_host(low, host)
        if pos >= 0:
            return "host", host, _window(text, pos, pos + len(host))
    for path in needles.paths:
        pos = _find_path(low, path.lower())
        if pos >= 0:
            return "script-path", path, _window(text, pos, pos + len(path))
    if needles.hosts or needles.urls:
        for decoded in item.decoded(budget):
            for reason, url, needle in needles.urls:
                pos = _find_url(decoded, needle)
                if pos >= 0:
                    return f"{reason}-decoded", url, _window(decoded, pos, pos + len(needle))
            for host in needles.hosts:
                pos = _find_host(decoded, host)
                if pos >= 0:
                    return "host-decoded", host, _window(decoded, pos, pos + len(host))
    return None


def _rank(reason: str) -> int:
    return _RANK.get(reason.removesuffix("-decoded"), len(_RANK)) * 2 + reason.endswith("-decoded")


def correlate(
    findings: Iterable[Finding],
    items: Iterable[ServerItem],
    *,
    body: Callable[[str], bytes | None] | None = None,
    own_hosts: Collection[str] = (),
    max_links_per_finding: int = MAX_LINKS_PER_FINDING,
    decode_budget: float = DECODE_BUDGET_SECONDS,
) -> tuple[Link, ...]:
    """Link each browser finding to the server items that explain it (see the module docstring).

    ``items`` is consumed once (a generator over a large tree is fine); each is ``(location,
    text, mtime)``. ``body`` looks up a script body by sha256 (the store's). ``own_hosts`` are the
    site's own host names: URLs on them are matched as paths of served files, never as hosts.
    Server and health findings are not linked. Links come per finding in the order of
    ``findings``, strongest reason first, then in the order of ``items``."""
    own = tuple(h.lower() for h in own_hosts)
    unique = {f.fingerprint: f for f in findings if f.category not in _SKIP_CATEGORIES}
    prepared = [n for n in (_needles(f, body, own) for f in unique.values()) if not n.empty]
    if not prepared:
        return ()
    budget = _Budget(time.monotonic() + decode_budget)
    found: dict[str, list[tuple[int, int, Link]]] = {n.finding.fingerprint: [] for n in prepared}
    for index, (location, text, mtime) in enumerate(items):
        item = _Item(location, text[:MAX_ITEM_CHARS], mtime)
        for needles in prepared:
            hit = _match(needles, item, budget)
            if hit is None:
                continue
            reason, needle, excerpt = hit
            f = needles.finding
            found[f.fingerprint].append(
                (_rank(reason), index, Link(f.fingerprint, f.rule_id, location, reason, needle, excerpt, mtime))
            )
    links: list[Link] = []
    for needles in prepared:
        ranked = sorted(found[needles.finding.fingerprint], key=lambda t: (t[0], t[1]))
        links.extend(link for _, _, link in ranked[:max_links_per_finding])
    return tuple(links)


def links_by_finding(links: Iterable[Link]) -> dict[str, list[Link]]:
    """Links grouped by the browser finding's fingerprint (for showing them on the finding)."""
    out: dict[str, list[Link]] = {}
    for link in links:
        out.setdefault(link.finding, []).append(link)
    return out
