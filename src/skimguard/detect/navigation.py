"""How the shopper gets to each page (category ``flow``).

The second founding incident was noticed because of "an odd page transition": the fake card form
posted to the attacker, who sent the shopper back to the real payment step. A named journey page
that is now reached through an outside host, or that now ends on a different page, is that
transition. Pages compare by :func:`~skimguard.detect.base.page_shape` (per-visit ids ignored).
"""

from __future__ import annotations

from collections.abc import Iterable

from skimguard.detect.base import DetectContext, Rule, clip, page_shape
from skimguard.models import Category, Confidence, Finding, Severity, host_of

SG306 = Rule(
    id="SG306",
    title="Page reached through a different path",
    category=Category.FLOW,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""A journey page now ends on a different page than in the baseline, or its redirect chain
passes through a host the baseline chain did not. Critical when the new chain passes through a
host that is neither the site's own nor a payment host (the shopper's submission went to an
outside host and came back: the fake-payment-form pattern); high when it ends on a different page
after the card page; medium otherwise. The page's scripts, forms and headers are not compared with
the baseline's while it is a different page (that would only be noise).

Why: attackers who plant a fake card form forward the shopper to the real payment step so that
nobody notices; the redirect chain shows the detour.
Known false positives: a redesigned checkout flow, a new 3-D Secure or wallet step (add its host
to payment_hosts), a journey whose selectors now hit a different button.
How to fix: open the redirect chain in the evidence. An outside host in it is an incident: find
the template or script that changed the form action or link. Otherwise accept a new baseline.""",
)


class NavigationDetector:
    rules: tuple[Rule, ...] = (SG306,)

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        if ctx.baseline is None:
            return
        for name, new in ctx.current.pages.items():
            old = ctx.baseline.pages.get(name)
            if old is None:
                continue
            old_hosts = {host_of(u) for u in (*old.redirect_chain, old.final_url)}
            detour = [
                host_of(u)
                for u in new.redirect_chain
                if host_of(u) not in old_hosts and not ctx.is_trusted_host(host_of(u))
            ]
            moved = page_shape(old.final_url) != page_shape(new.final_url)
            if not detour and not moved:
                continue
            if detour:
                severity = Severity.CRITICAL
                title = f"Page {clip(name, 80)} is now reached through {clip(detour[0], 120)}"
            else:
                severity = Severity.HIGH if any(p.card_page for p in ctx.baseline.pages.values()) else Severity.MEDIUM
                title = f"Page {clip(name, 80)} now ends at a different page"
            yield SG306.finding(
                ctx.site.name,
                page=name,
                subject=f"{page_shape(new.final_url)}|{','.join(sorted(set(detour)))}",
                severity=severity,
                title=title,
                destination=detour[0] if detour else None,
                evidence={
                    "baseline_final_url": clip(old.final_url, 300),
                    "final_url": clip(new.final_url, 300),
                    "baseline_redirect_chain": [clip(u, 300) for u in old.redirect_chain[:20]],
                    "redirect_chain": [clip(u, 300) for u in new.redirect_chain[:20]],
                    "outside_hosts": sorted(set(detour)),
                    "now_has_card_fields": new.card_page,
                },
            )
