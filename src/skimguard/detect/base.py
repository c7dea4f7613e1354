"""What every detector shares: the :class:`Rule` it reports under, the :class:`DetectContext` it
reads, and the :class:`Detector` protocol (``rules`` + ``run(ctx)``).

Detectors are pure: everything they need is in the context (the site's configuration, this scan's
captures and snapshot, the approved baseline, a look-up of script bodies by sha256, the inventory
decisions and the time). A finding's identity is rule + site + page + ``subject`` (a script key, a
header name, a form ident, a host): stable from scan to scan, never a line number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from skimguard.baseline.snapshot import PageSnapshot, SiteSnapshot, snapshot_from_captures
from skimguard.config import Site
from skimguard.intel import IntelIndex
from skimguard.models import Capture, Category, Confidence, Decision, Finding, Severity

__all__ = ["DetectContext", "Detector", "Rule", "clip", "page_shape"]

MAX_EVIDENCE_TEXT = 500


def clip(text: str | None, limit: int = MAX_EVIDENCE_TEXT) -> str:
    """Bound a hostile string for evidence."""
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Rule:
    """A stable rule: its ID never changes once released; ``doc`` is its documentation
    (what, why, known false positives, how to fix)."""

    id: str
    title: str
    category: Category
    severity: Severity  # the default; a detector may raise or lower it per finding
    confidence: Confidence
    doc: str

    def finding(
        self,
        site: str,
        *,
        page: str | None,
        subject: str,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        title: str | None = None,
        script_url: str | None = None,
        destination: str | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            category=self.category,
            severity=self.severity if severity is None else severity,
            confidence=self.confidence if confidence is None else confidence,
            title=title or self.title,
            site=site,
            page=page,
            script_url=script_url,
            destination=destination,
            subject=subject,
            evidence=dict(evidence or {}),
        )


_VARIABLE_SEGMENT = re.compile(r"^(\d+|[0-9a-f]{16,}|[0-9a-f-]{32,36})$", re.I)


def page_shape(url: str) -> str:
    """Host and path of a page URL with per-visit segments (order numbers, ids, hashes) replaced,
    so ``/order/10423/thanks`` and ``/order/10424/thanks`` are the same page."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    segments = ["*" if _VARIABLE_SEGMENT.match(seg) else seg for seg in parts.path.split("/")]
    return f"{(parts.hostname or '').lower()}{'/'.join(segments)}"


def _no_bodies(_sha256: str) -> bytes | None:
    return None


@dataclass(frozen=True)
class DetectContext:
    site: Site
    captures: tuple[Capture, ...]
    current: SiteSnapshot
    baseline: SiteSnapshot | None
    now: datetime
    body: Callable[[str], bytes | None] = field(default=_no_bodies, repr=False)
    decisions: tuple[Decision, ...] = ()
    intel: IntelIndex = field(default_factory=IntelIndex)  # imported threat intel (may be empty)
    known_good: frozenset[str] = frozenset()  # sha256 of files known good (analysis skips them)

    @classmethod
    def create(
        cls,
        site: Site,
        captures: Sequence[Capture],
        *,
        baseline: SiteSnapshot | None,
        now: datetime,
        decisions: Sequence[Decision] = (),
        bodies: Mapping[str, bytes] | None = None,
        body: Callable[[str], bytes | None] | None = None,
        intel: IntelIndex | None = None,
        known_good: frozenset[str] = frozenset(),
    ) -> DetectContext:
        """A context whose current snapshot is built from ``captures``; script bodies are looked up
        in the captures, then ``bodies``, then ``body``."""
        known: dict[str, bytes] = dict(bodies or {})
        for capture in captures:
            known.update(capture.bodies)
        fallback = body or _no_bodies

        def lookup(sha256: str) -> bytes | None:
            found = known.get(sha256)
            return found if found is not None else fallback(sha256)

        return cls(
            site=site,
            captures=tuple(captures),
            current=snapshot_from_captures(site.name, captures),
            baseline=baseline,
            body=lookup,
            decisions=tuple(decisions),
            now=now,
            intel=intel or IntelIndex(),
            known_good=known_good,
        )

    # ---- helpers shared by detectors ------------------------------------------------------

    @property
    def site_decisions(self) -> tuple[Decision, ...]:
        """Inventory decisions of this site (active and revoked)."""
        return tuple(d for d in self.decisions if d.site == self.site.name)

    def compared_pages(self) -> Iterator[tuple[str, PageSnapshot, PageSnapshot]]:
        """(name, baseline page, current page) for every page name in both snapshots that is still
        the same document (same host and path shape; see :func:`page_shape`).

        Pages missing from this scan (a journey that ended early) are not compared: their scripts,
        forms and headers are unknown this time, not removed. A page that now ends somewhere else is
        reported once by the navigation detector (SG306) instead of as a flood of differences."""
        if self.baseline is None:
            return
        for name, new in self.current.pages.items():
            old = self.baseline.pages.get(name)
            if old is not None and page_shape(old.final_url) == page_shape(new.final_url):
                yield name, old, new

    def is_trusted_host(self, host: str) -> bool:
        """The site's own host (or a subdomain of it) or a configured payment host."""
        return bool(host) and (self.site.is_own_host(host) or self.site.is_payment_host(host))

    def read_body(self, sha256: str | None) -> bytes | None:
        """A script body by sha256; None when unknown or when the look-up itself fails."""
        if not sha256:
            return None
        try:
            return self.body(sha256)
        except Exception:  # a failing store must not cost us the other findings
            return None


class Detector(Protocol):
    rules: tuple[Rule, ...]

    def run(self, ctx: DetectContext) -> Iterable[Finding]: ...
