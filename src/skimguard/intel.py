"""Threat intelligence: indicator lists (skimmer domains, URLs, hashes) and matching against them.

A feed is plain text, one indicator a line, ``#`` comments, the format of Maltrail's
``magentocore.txt``: a comment ``# Reference: URL`` applies to the indicators below it. Lines
that are neither a host name, a URL nor a hash are skipped and counted, never guessed at.
Detection never depends on a feed: an indicator match is an extra finding (SG312 for a
destination a scan saw, SG450 for a URL written in code).

Pure: parsing and matching do no I/O; the store keeps imported indicators with source and date.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_FEED_BYTES = 32 * 1024 * 1024
MAX_INDICATORS = 500_000
MAX_VALUE = 2000

_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z][a-z0-9-]{0,62}$")
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
_HASH = re.compile(r"^([0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$")
_REFERENCE = re.compile(r"^#\s*reference:\s*(\S+)", re.I)
# Host names and URLs written in code or text: what SG450 looks up.
_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?:)?//([a-z0-9][a-z0-9.-]{0,251}[a-z0-9])(?::\d{1,5})?(/[^\s\"'<>`)]*)?")
_HOST_IN_TEXT = re.compile(r"(?i)(?<![a-z0-9.-])([a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9][a-z0-9-]{0,62})+)(?![a-z0-9-])")


class IndicatorKind(enum.StrEnum):
    DOMAIN = "domain"  # the host and every subdomain
    URL = "url"  # a URL prefix (scheme ignored)
    HASH = "hash"  # md5 / sha1 / sha256 of a file or script
    PATH = "path"  # a path skimmer gates use on any host (``/errors/default/gate.php``)


@dataclass(frozen=True)
class Indicator:
    kind: IndicatorKind
    value: str
    source: str
    reference: str = ""


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its indicators (deduplicated, in file order) and what was skipped."""

    source: str
    indicators: tuple[Indicator, ...]
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()


def _valid_ipv4(text: str) -> bool:
    m = _IPV4.match(text)
    return m is not None and all(int(part) <= 255 for part in m.groups())


def classify(raw: str) -> tuple[IndicatorKind, str] | None:
    """One line of a feed -> (kind, normalized value), or None when it is not an indicator."""
    value = raw.strip().strip(",;").strip()
    if not value or len(value) > MAX_VALUE or any(c.isspace() for c in value):
        return None
    lowered = value.lower()
    if _HASH.match(lowered):
        return IndicatorKind.HASH, lowered
    if value.startswith("/") and not value.startswith("//"):
        return (IndicatorKind.PATH, value) if len(value) > 4 else None
    if "/" in value:
        url = value if "://" in value else "http://" + value.lstrip("/")
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if not host or not (_HOST.match(host) or _valid_ipv4(host)):
            return None
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return IndicatorKind.URL, host + (rest if rest != "/" else "")
    host = lowered.rstrip(".")
    if host.count(":") == 1 and host.rsplit(":", 1)[1].isdigit():
        host = host.rsplit(":", 1)[0]  # host:port -> the host
    if host.startswith("*."):
        host = host[2:]
    if _HOST.match(host) or _valid_ipv4(host):
        return IndicatorKind.DOMAIN, host
    return None


def parse_feed(text: str, source: str) -> Feed:
    """Parse a feed. ``# Reference: URL`` comments name the reference of the lines that follow."""
    seen: set[tuple[IndicatorKind, str]] = set()
    out: list[Indicator] = []
    skipped: list[str] = []
    skipped_count = 0
    reference = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            m = _REFERENCE.match(stripped)
            if m:
                reference = m.group(1)[:MAX_VALUE]
            continue
        hit = classify(stripped.split("#", 1)[0])
        if hit is None:
            skipped_count += 1
            if len(skipped) < 5:
                skipped.append(stripped[:120])
            continue
        if hit in seen or len(out) >= MAX_INDICATORS:
            continue
        seen.add(hit)
        out.append(Indicator(kind=hit[0], value=hit[1], source=source, reference=reference))
    return Feed(source=source, indicators=tuple(out), skipped=skipped_count, skipped_examples=tuple(skipped))


@dataclass
class IntelIndex:
    """Indicators ready for look-up: a host matches a domain indicator for itself and every parent
    domain; a URL matches a URL indicator that is a prefix of host+path (scheme ignored)."""

    domains: dict[str, Indicator] = field(default_factory=dict)
    urls: dict[str, list[Indicator]] = field(default_factory=dict)  # by host
    hashes: dict[str, Indicator] = field(default_factory=dict)
    paths: list[Indicator] = field(default_factory=list)

    @classmethod
    def build(cls, indicators: Iterable[Indicator]) -> IntelIndex:
        index = cls()
        for ind in indicators:
            if ind.kind is IndicatorKind.DOMAIN:
                index.domains.setdefault(ind.value, ind)
            elif ind.kind is IndicatorKind.HASH:
                index.hashes.setdefault(ind.value, ind)
            elif ind.kind is IndicatorKind.PATH:
                index.paths.append(ind)
            else:
                index.urls.setdefault(ind.value.split("/", 1)[0].split("?", 1)[0], []).append(ind)
        return index

    def __len__(self) -> int:
        return len(self.domains) + len(self.hashes) + len(self.paths) + sum(map(len, self.urls.values()))

    def __bool__(self) -> bool:  # (asked for every text the engine looks up: without counting)
        return bool(self.domains or self.hashes or self.paths or any(self.urls.values()))

    def match_host(self, host: str) -> Indicator | None:
        host = host.lower().rstrip(".")
        labels = host.split(".")
        for i in range(len(labels) - 1):
            hit = self.domains.get(".".join(labels[i:]))
            if hit is not None:
                return hit
        return None

    def match_url(self, url: str) -> Indicator | None:
        """A domain indicator for the URL's host, a URL indicator that prefixes it, or a path
        indicator that prefixes its path."""
        parts = urlsplit(url if "://" in url else "http://" + url.lstrip("/"))
        host = (parts.hostname or "").lower()
        if not host:
            return None
        hit = self.match_host(host)
        if hit is not None:
            return hit
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for ind in self.urls.get(host, ()):
            if (host + path).startswith(ind.value):
                return ind
        for ind in self.paths:
            if path.startswith(ind.value):
                return ind
        return None

    def match_hash(self, digest: str) -> Indicator | None:
        return self.hashes.get(digest.lower())

    def scan_text(self, text: str, *, limit: int = 20) -> Iterator[tuple[int, str, Indicator]]:
        """(offset, matched text, indicator) of URLs and bare host names in ``text`` that match."""
        if not self:
            return
        found = 0
        seen: set[str] = set()
        for m in _URL_IN_TEXT.finditer(text):
            candidate = m.group(0)
            if candidate in seen:
                continue
            seen.add(candidate)
            seen.add(m.group(1).lower())  # the bare-host pass must not report it again
            hit = self.match_url(candidate.split("//", 1)[1])
            if hit is not None:
                yield m.start(), candidate, hit
                found += 1
                if found >= limit:
                    return
        if not self.domains:
            return
        for m in _HOST_IN_TEXT.finditer(text):
            candidate = m.group(1).lower()
            if candidate in seen or "." not in candidate:
                continue
            seen.add(candidate)
            hit = self.match_host(candidate)
            if hit is not None:
                yield m.start(1), m.group(1), hit
                found += 1
                if found >= limit:
                    return
