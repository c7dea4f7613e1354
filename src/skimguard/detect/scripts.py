"""Scripts: new, changed and removed scripts against the baseline, and the inventory (``inventory``).

This is the vendor-tamper case: a trusted third-party script on the card page, same URL, new bytes.
The shop's own code never changed, so only comparing what the shopper's browser receives with the
approved state catches it. Changed scripts are compared *normalized* (see :mod:`skimguard.jsdiff`):
re-minification, whitespace and comments do not count, and the evidence is a readable diff with the
hosts and sinks the new code introduces.

Inventory decisions modulate the change rules (:func:`skimguard.inventory.authorize.authorize`):
bytes approved by hash, or served from a URL/pattern approved with ``allow`` (or pinned to exactly
these bytes), raise nothing; ``review`` approvals report a change at ``low`` with the diff; ``pin``
approvals with other bytes, revoked or missing approvals report at the normal severity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from skimguard.baseline.snapshot import PageSnapshot, ScriptEntry
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.inventory.authorize import Authorization, AuthStatus, authorize
from skimguard.jsdiff import ScriptDiff, script_diff
from skimguard.models import Category, Confidence, Decision, Finding, ScriptKind, Severity, origin_of

MAX_DIFF_LINES = 200  # unified diff lines kept in evidence

SG101 = Rule(
    id="SG101",
    title="New external script",
    category=Category.INVENTORY,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""A page loads an external script (by URL, query ignored) that the baseline did not have.
High on a page with card fields, medium elsewhere; low when an inventory approval under `review`
covers the URL.

Why: a new script on a payment page runs with full access to what the shopper types; injecting a
<script src> is the most common web-skimming technique (PCI DSS 6.4.3 / 11.6.1).
Known false positives: a planned release, an A/B test or tag manager adding a vendor, a CDN
path that embeds a version number.
How to fix: if expected, approve it in the inventory (`skimguard inventory approve`, with a
justification) and accept a new baseline; otherwise find what inserted it (see `initiator` in the
evidence) and remove it.""",
)

SG102 = Rule(
    id="SG102",
    title="Script content changed",
    category=Category.INVENTORY,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""A script at the same URL now serves different code: the normalized code (no comments,
canonical layout) differs from the baseline. High on a page with card fields, medium elsewhere;
low when its inventory approval says `review`. Evidence: the added/removed line counts, URLs and
hosts that appear only in the new code, suspicious calls in the added code (beacons, fetch,
WebSocket, base64, eval, card-field reads, submit/blur listeners) and a bounded unified diff.

Why: this is how a trusted vendor script is turned into a skimmer without the shop changing
anything. Whitespace, comment and re-minification changes are ignored on purpose.
Known false positives: vendors that ship new versions at the same URL; a build that renames
variables (a re-minification with different names shows as a change).
How to fix: read the diff. An expected vendor update: approve the new hash (or approve the URL
with change rule `allow`/`review`) and accept a new baseline. Unexpected new hosts or sinks: treat
as an incident, remove the script, contact the vendor.""",
)

SG103 = Rule(
    id="SG103",
    title="Script removed",
    category=Category.INVENTORY,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""An external or inline script of the baseline no longer runs on the page.

Why: usually a release; also part of a picture when a script was replaced by another (see SG101,
SG104 on the same page). Code generated at run time (dynamic) comes and goes and is not reported.
Known false positives: releases, consent banners that load scripts only after consent.
How to fix: if expected, accept a new baseline.""",
)

SG104 = Rule(
    id="SG104",
    title="New inline script",
    category=Category.INVENTORY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc="""The HTML of the page carries inline script code the baseline did not have (inline scripts
are identified by their hash). Medium on a page with card or personal-data fields (e-mail,
password, phone, address), low elsewhere. When exactly one
inline script of the same frame disappeared at the same time, the evidence holds the diff against
it; when the two differ only in whitespace or comments nothing is reported.

Why: a planted fake card form or skimmer in the shop's own templates (the site-vulnerability
case) shows up as new inline code.
Known false positives: inline code with per-request values (timestamps, tokens, nonces in the
code), which changes its hash on every scan; CMS edits.
How to fix: if expected, approve the hash or accept a new baseline; otherwise find the template or
database row that emits it (see the server-side scan).""",
)

SG105 = Rule(
    id="SG105",
    title="New dynamic script",
    category=Category.INVENTORY,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc="""Code created at run time (inserted script text, eval, new Function) that the baseline did
not have. Medium on a page with card or personal-data fields, low elsewhere.

Why: loaders fetch and evaluate the real skimmer at run time so that no new URL appears.
Known false positives: tag managers and A/B tools that generate code with per-visit values.
How to fix: see the initiator in the evidence for who created it; approve its hash if expected.""",
)

SG110 = Rule(
    id="SG110",
    title="Script not authorized in the inventory",
    category=Category.INVENTORY,
    severity=Severity.INFO,
    confidence=Confidence.HIGH,
    doc="""A script runs on a monitored page without an active inventory decision (no approval, an
approval revoked, or a `pin` approval for other bytes). Reported only once the site's inventory
has at least one decision, so a fresh installation is not flooded.

Why: PCI DSS 6.4.3 asks that every payment-page script be authorized, with a written reason.
Known false positives: none as such; it is a to-do list.
How to fix: `skimguard inventory approve` with a justification and owner, or remove the script.""",
)

RULES: tuple[Rule, ...] = (SG101, SG102, SG103, SG104, SG105, SG110)
_NEW_RULE = {ScriptKind.EXTERNAL: SG101, ScriptKind.INLINE: SG104, ScriptKind.DYNAMIC: SG105}


def _auth_evidence(auth: Authorization) -> dict[str, Any]:
    return {
        "status": auth.status.value,
        "reason": clip(auth.reason),
        "decision": auth.decision.id if auth.decision else None,
    }


def _script_evidence(entry: ScriptEntry) -> dict[str, Any]:
    return {
        "url": clip(entry.url, 300) or None,
        "sha256": entry.sha256,
        "size": entry.size,
        "kind": entry.kind.value,
        "frame_url": clip(entry.frame_url, 300),
        "main_frame": entry.main_frame,
        "initiator": clip(entry.initiator, 300) or None,
    }


class ScriptChangeDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        decisions = ctx.site_decisions
        differ = _Differ(ctx)  # one diff per (old, new) pair even when a script is on many pages
        for name, old, new in ctx.compared_pages():
            yield from self._compare(ctx, differ, name, old, new, decisions)
        if decisions:
            yield from self._unauthorized(ctx, decisions)

    # ---- baseline comparison ---------------------------------------------------------------

    def _compare(
        self,
        ctx: DetectContext,
        differ: _Differ,
        page: str,
        old: PageSnapshot,
        new: PageSnapshot,
        decisions: Sequence[Decision],
    ) -> Iterator[Finding]:
        card = old.card_page or new.card_page
        added = [k for k in new.scripts if k not in old.scripts]
        removed = [k for k in old.scripts if k not in new.scripts]

        # An inline script replaced by another in the same frame: diff the two, and say nothing
        # when only whitespace or comments changed.
        replaced: dict[str, tuple[str, ScriptDiff | None, str | None]] = {}
        silent: set[str] = set()
        for new_key, old_key in _inline_pairs(old, new, added, removed):
            diff, note = differ.diff(old.scripts[old_key].sha256, new.scripts[new_key].sha256)
            if diff is not None and not diff.changed and not diff.truncated:
                silent.update((new_key, old_key))
            else:
                replaced[new_key] = (old_key, diff, note)

        for key in added:
            if key in silent:
                continue
            entry = new.scripts[key]
            auth = authorize(key, entry.url, entry.sha256, decisions)
            if auth.status is AuthStatus.APPROVED:
                continue
            rule = _NEW_RULE[entry.kind]
            if auth.status is AuthStatus.CHANGED:
                severity = Severity.LOW
            elif rule is SG101:
                severity = Severity.HIGH if card else Severity.MEDIUM
            else:
                severity = Severity.MEDIUM if card or old.personal_page or new.personal_page else Severity.LOW
            evidence = {**_script_evidence(entry), "card_page": card, "authorization": _auth_evidence(auth)}
            if key in replaced:
                old_key, diff, note = replaced[key]
                evidence["replaces"] = old_key
                evidence["diff"] = diff.summary(MAX_DIFF_LINES) if diff else {"unavailable": note}
            yield rule.finding(
                ctx.site.name,
                page=page,
                subject=key,
                severity=severity,
                title=f"{rule.title}: {clip(entry.url or key, 200)}",
                script_url=entry.url,
                evidence=evidence,
            )

        for key, old_entry in old.scripts.items():
            new_entry = new.scripts.get(key)
            if new_entry is not None:
                yield from self._changed(ctx, differ, page, card, old_entry, new_entry, decisions)

        for key in removed:
            entry = old.scripts[key]
            if key in silent or entry.kind is ScriptKind.DYNAMIC:
                continue
            yield SG103.finding(
                ctx.site.name,
                page=page,
                subject=key,
                title=f"{SG103.title}: {clip(entry.url or key, 200)}",
                script_url=entry.url,
                evidence={**_script_evidence(entry), "card_page": card},
            )

    def _changed(
        self,
        ctx: DetectContext,
        differ: _Differ,
        page: str,
        card: bool,
        old: ScriptEntry,
        new: ScriptEntry,
        decisions: Sequence[Decision],
    ) -> Iterator[Finding]:
        new_sha: str | None
        if old.hashes and new.hashes:
            fresh = [h for h in new.hashes if h not in old.hashes]
            if not fresh:
                return
            new_sha = new.sha256 if new.sha256 in fresh else fresh[0]
        else:
            # The bytes were not read on one side (too large for the capture): only a size change
            # says anything, and it is reported unverified.
            if new.size == old.size:
                return
            new_sha = new.sha256

        auth = authorize(new.key, new.url, new_sha, decisions)
        if auth.status is AuthStatus.APPROVED:
            return
        diff, note = differ.diff(old.sha256, new_sha)
        if diff is not None and not diff.changed and not diff.truncated:
            return  # whitespace, comments, re-minification: the code is the same

        normal = Severity.HIGH if card else Severity.MEDIUM
        severity = Severity.LOW if auth.status is AuthStatus.CHANGED else normal
        evidence: dict[str, Any] = {
            "url": clip(new.url, 300) or None,
            "old_sha256": old.sha256,
            "new_sha256": new_sha,
            "old_size": old.size,
            "new_size": new.size,
            "card_page": card,
            "authorization": _auth_evidence(auth),
        }
        if diff is not None:
            evidence.update(diff.summary(MAX_DIFF_LINES))
        else:
            evidence["diff_unavailable"] = note
        hosts = f" (new hosts: {', '.join(diff.new_hosts[:3])})" if diff and diff.new_hosts else ""
        yield SG102.finding(
            ctx.site.name,
            page=page,
            subject=new.key,
            severity=severity,
            confidence=Confidence.HIGH if diff is not None else (Confidence.MEDIUM if new_sha else Confidence.LOW),
            title=f"{SG102.title}: {clip(new.url or new.key, 200)}{hosts}",
            script_url=new.url,
            destination=diff.new_hosts[0] if diff and diff.new_hosts else None,
            evidence=evidence,
        )

    # ---- inventory -------------------------------------------------------------------------

    def _unauthorized(self, ctx: DetectContext, decisions: Sequence[Decision]) -> Iterator[Finding]:
        for page_name, page in ctx.current.pages.items():
            for key, entry in page.scripts.items():
                auth = authorize(key, entry.url, entry.sha256, decisions)
                if auth.status is not AuthStatus.UNAPPROVED:
                    continue
                yield SG110.finding(
                    ctx.site.name,
                    page=page_name,
                    subject=key,
                    title=f"{SG110.title}: {clip(entry.url or key, 200)}",
                    script_url=entry.url,
                    evidence={**_script_evidence(entry), "authorization": _auth_evidence(auth)},
                )


class _Differ:
    """Normalized diffs of stored bodies for one detector run, memoized by (old, new) sha256."""

    def __init__(self, ctx: DetectContext) -> None:
        self._ctx = ctx
        self._done: dict[tuple[str | None, str | None], tuple[ScriptDiff | None, str | None]] = {}

    def diff(self, old_sha: str | None, new_sha: str | None) -> tuple[ScriptDiff | None, str | None]:
        """The diff of two bodies, or (None, why there is none)."""
        key = (old_sha, new_sha)
        if key not in self._done:
            self._done[key] = self._compute(old_sha, new_sha)
        return self._done[key]

    def _compute(self, old_sha: str | None, new_sha: str | None) -> tuple[ScriptDiff | None, str | None]:
        old_body = self._ctx.read_body(old_sha)
        new_body = self._ctx.read_body(new_sha)
        if old_body is None or new_body is None:
            missing = [what for what, body in (("old", old_body), ("new", new_body)) if body is None]
            return None, f"{' and '.join(missing)} script body not available: content not compared"
        return script_diff(old_body.decode("utf-8", "replace"), new_body.decode("utf-8", "replace")), None


def _inline_pairs(
    old: PageSnapshot, new: PageSnapshot, added: Sequence[str], removed: Sequence[str]
) -> Iterator[tuple[str, str]]:
    """(new key, old key) for inline scripts replaced one-for-one within the same frame origin."""

    def by_frame(page: PageSnapshot, keys: Sequence[str]) -> dict[tuple[bool, str], list[str]]:
        out: dict[tuple[bool, str], list[str]] = {}
        for key in keys:
            entry = page.scripts[key]
            if entry.kind is ScriptKind.INLINE:
                frame = (entry.main_frame, origin_of(entry.frame_url) or entry.frame_url)
                out.setdefault(frame, []).append(key)
        return out

    gone = by_frame(old, removed)
    for frame, new_keys in by_frame(new, added).items():
        old_keys = gone.get(frame, [])
        if len(new_keys) == 1 and len(old_keys) == 1:
            yield new_keys[0], old_keys[0]
