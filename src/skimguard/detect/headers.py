"""Security headers: removed or changed against the baseline (category ``header``).

The Content-Security-Policy of a payment page is its strongest defence against injected scripts
and exfiltration: a removed or loosened CSP is often the first step of an attack done through the
server (or a misconfiguration that opens the door). The CSP is compared directive by directive;
per-response nonces are ignored. Header names are compared case-insensitively. Pages whose
document came back with an HTTP error (status >= 400) are not compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from skimguard.baseline.snapshot import SECURITY_HEADERS, PageSnapshot
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.models import Category, Confidence, Finding, Severity

CSP = "content-security-policy"
CSP_REPORT_ONLY = "content-security-policy-report-only"
MAX_POLICIES = 8
MAX_DIRECTIVES = 64
MAX_SOURCES = 200

SG201 = Rule(
    id="SG201",
    title="Content-Security-Policy removed",
    category=Category.HEADER,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""The page was served with a Content-Security-Policy in the baseline and now has none.
High on a page with card fields, medium elsewhere.

Why: without a CSP any injected script can load and send card data anywhere.
Known false positives: a deployment that moved the CSP into a <meta> tag (not seen as a header),
or switched it to report-only on purpose; a CDN or proxy change stripping headers.
How to fix: restore the header; if the change was intended, accept a new baseline
(`skimguard baseline accept`).""",
)

SG202 = Rule(
    id="SG202",
    title="Content-Security-Policy changed",
    category=Category.HEADER,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""The Content-Security-Policy differs from the baseline (compared per directive, nonces
ignored). A change that weakens what scripts may run or where data may go - 'unsafe-inline',
'unsafe-eval', a wildcard or a scheme-wide source, a new host in script-src, connect-src or
form-action (default-src counts where they fall back to it), or a directive dropped - is high on
a page with card fields and medium elsewhere; any other change is low.

Why: attackers who control the server loosen the CSP so their script and their beacon pass.
Known false positives: a release adding a legitimate vendor; 'unsafe-inline' next to a nonce or
hash (browsers ignore it then, still reported).
How to fix: compare the evidence with the release notes; revert or accept a new baseline.""",
)

SG203 = Rule(
    id="SG203",
    title="Security header removed",
    category=Category.HEADER,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""A security header of the baseline is gone: Strict-Transport-Security (or its max-age set
to 0), X-Frame-Options, Referrer-Policy, Permissions-Policy or Content-Security-Policy-Report-Only.
Medium on a page with card fields, low elsewhere; info for X-Frame-Options when the CSP still has
frame-ancestors (the same protection).

Why: these headers limit downgrade, framing (overlay forms) and leaks of the page URL; their
removal weakens a payment page and may come with a server change.
Known false positives: a deliberate migration (e.g. X-Frame-Options replaced by frame-ancestors).
How to fix: restore the header, or accept a new baseline if the change is intended.""",
)

SG204 = Rule(
    id="SG204",
    title="Security header changed",
    category=Category.HEADER,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""The value of a security header other than the CSP changed (case and spacing ignored).

Why: worth a look when nobody planned it.
Known false positives: routine configuration changes.
How to fix: accept a new baseline if the change is intended.""",
)

RULES: tuple[Rule, ...] = (SG201, SG202, SG203, SG204)

# Which directive governs what, in the order browsers fall back.
_FALLBACKS: dict[str, tuple[str, ...]] = {
    "script-src": ("script-src", "default-src"),
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "connect-src": ("connect-src", "default-src"),
    "form-action": ("form-action",),
}
_WEAK_SOURCES = frozenset(
    {
        "*",
        "'unsafe-inline'",
        "'unsafe-eval'",
        "'unsafe-hashes'",
        "data:",
        "blob:",
        "http:",
        "https:",
        "ws:",
        "wss:",
    }
)
_NONCE = re.compile(r"^'nonce-[^']*'$", re.IGNORECASE)
_HASH = re.compile(r"^'(sha256|sha384|sha512)-", re.IGNORECASE)


def _source(token: str) -> str:
    if _NONCE.match(token):
        return "'nonce-*'"  # a fresh nonce per response is not a change
    if _HASH.match(token):
        return token[:8].lower() + token[8:]  # base64 is case-sensitive
    return token.lower()


def parse_csp(value: str) -> dict[str, tuple[str, ...]]:
    """Directive name -> normalized sources. Several policies (comma- or line-separated) are
    merged; within them the first occurrence of a directive wins, as browsers do. Bounded."""
    directives: dict[str, tuple[str, ...]] = {}
    for policy in re.split(r"[,\n]", value[:65536])[:MAX_POLICIES]:
        for part in policy.split(";")[:MAX_DIRECTIVES]:
            tokens = part.split()
            if not tokens:
                continue
            name = tokens[0].lower()
            if name not in directives:
                directives[name] = tuple(dict.fromkeys(_source(t) for t in tokens[1 : MAX_SOURCES + 1]))
    return directives


def _effective(csp: Mapping[str, tuple[str, ...]], chain: tuple[str, ...]) -> tuple[str, ...] | None:
    for name in chain:
        if name in csp:
            return csp[name]
    return None  # unrestricted


def _is_host_source(source: str) -> bool:
    return not source.startswith("'") and not source.endswith(":") and source != "*"


def csp_weakening(old: Mapping[str, tuple[str, ...]], new: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Why ``new`` lets more scripts run or more data out than ``old`` (empty: it does not)."""
    reasons: list[str] = []
    for directive, chain in _FALLBACKS.items():
        before = _effective(old, chain)
        if before is None:
            continue  # was unrestricted already
        after = _effective(new, chain)
        if after is None:
            reasons.append(f"{directive}: no longer restricted")
            continue
        for source in after:
            if source in before:
                continue
            if source in _WEAK_SOURCES:
                reasons.append(f"{directive}: adds {source}")
            elif _is_host_source(source):
                reasons.append(f"{directive}: adds host {clip(source, 200)}")
    return reasons


def csp_changes(old: Mapping[str, tuple[str, ...]], new: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    changed = {}
    for name in sorted(set(old) & set(new)):
        if old[name] != new[name]:
            changed[name] = {
                "added": [clip(s, 200) for s in new[name] if s not in old[name]][:50],
                "removed": [clip(s, 200) for s in old[name] if s not in new[name]][:50],
            }
    return {
        "directives_added": sorted(set(new) - set(old))[:50],
        "directives_removed": sorted(set(old) - set(new))[:50],
        "directives_changed": changed,
    }


def _plain(value: str) -> str:
    return " ".join(value.lower().split())


def _hsts_disabled(value: str) -> bool:
    return re.search(r"max-age\s*=\s*\"?0+\"?(\s|;|$)", value.lower()) is not None


def _served_normally(page: PageSnapshot) -> bool:
    return page.status is None or page.status < 400


class HeaderDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        for name, old, new in ctx.compared_pages():
            if _served_normally(old) and _served_normally(new):
                yield from self._compare(ctx, name, old, new)

    def _compare(self, ctx: DetectContext, page: str, old: PageSnapshot, new: PageSnapshot) -> Iterator[Finding]:
        card = old.card_page or new.card_page
        before = {k.lower(): v for k, v in old.headers.items() if k.lower() in SECURITY_HEADERS}
        after = {k.lower(): v for k, v in new.headers.items() if k.lower() in SECURITY_HEADERS}
        new_csp = parse_csp(after.get(CSP, ""))

        if CSP in before and CSP not in after:
            yield SG201.finding(
                ctx.site.name,
                page=page,
                subject=CSP,
                severity=Severity.HIGH if card else Severity.MEDIUM,
                evidence={
                    "card_page": card,
                    "old": clip(before[CSP], 2000),
                    "report_only_now": clip(after.get(CSP_REPORT_ONLY), 2000) or None,
                },
            )
        elif CSP in before and CSP in after:
            old_csp = parse_csp(before[CSP])
            if old_csp != new_csp:
                weakening = csp_weakening(old_csp, new_csp)
                weak = Severity.HIGH if card else Severity.MEDIUM
                severity = weak if weakening else Severity.LOW
                yield SG202.finding(
                    ctx.site.name,
                    page=page,
                    subject=CSP,
                    severity=severity,
                    title=f"{SG202.title}: weakened" if weakening else None,
                    evidence={
                        "card_page": card,
                        "weakening": weakening[:50],
                        **csp_changes(old_csp, new_csp),
                        "old": clip(before[CSP], 2000),
                        "new": clip(after[CSP], 2000),
                    },
                )

        for header in SECURITY_HEADERS:
            if header == CSP or header not in before:
                continue
            old_value = before[header]
            new_value = after.get(header)
            disabled = header == "strict-transport-security" and new_value is not None and _hsts_disabled(new_value)
            if new_value is None or (disabled and not _hsts_disabled(old_value)):
                if header == "x-frame-options" and "frame-ancestors" in new_csp:
                    severity = Severity.INFO
                else:
                    severity = Severity.MEDIUM if card else Severity.LOW
                yield SG203.finding(
                    ctx.site.name,
                    page=page,
                    subject=header,
                    severity=severity,
                    title=f"{SG203.title}: {header}" + (" (max-age=0)" if disabled else ""),
                    evidence={
                        "card_page": card,
                        "old": clip(old_value, 2000),
                        "new": clip(new_value, 2000) or None,
                    },
                )
            elif not self._same(header, old_value, new_value):
                yield SG204.finding(
                    ctx.site.name,
                    page=page,
                    subject=header,
                    title=f"{SG204.title}: {header}",
                    evidence={"card_page": card, "old": clip(old_value, 2000), "new": clip(new_value, 2000)},
                )

    @staticmethod
    def _same(header: str, old: str, new: str) -> bool:
        if header == CSP_REPORT_ONLY:
            return parse_csp(old) == parse_csp(new)
        return _plain(old) == _plain(new)
