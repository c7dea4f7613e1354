"""The payment flow as one journey walked it (category ``flow``), no baseline needed.

Two shapes of the fake-form attack show within a single journey: the card is asked for twice
(a planted form takes it, an "error" sends the shopper to the real form), and a frame or another
form is laid over the real payment fields so the shopper types into the attacker's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from skimguard.baseline.snapshot import redact_url
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.models import Capture, Category, Confidence, Finding, FormRecord, PageCapture, Severity, host_of

SG307 = Rule(
    id="SG307",
    title="Card asked for twice in one checkout",
    category=Category.FLOW,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""One journey met a visible card-number field on one page and, after leaving that page, a
card-number field again on a later page, in a different form (another action, another frame or
another form) than the first. Critical when the first form submits to a host that is neither the
site's own nor a payment host.

Why: this is how the second founding incident looked to shoppers: a planted card form takes the
card, then an "error, please re-enter your card" page shows the real form. Customers noticed the
odd transition long before the shop did.
Known false positives: a checkout that asks for the card on a page of the shop and again on the
payment provider's page (a legacy two-step integration: accept it once understood); a declined test
card that leads to a different retry form.
How to fix: open both pages in the evidence; the first form's action and the template or script
that renders it are where to look.""",
)

SG308 = Rule(
    id="SG308",
    title="Payment field or frame covered by another frame or form",
    category=Category.FLOW,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A card field (number, expiry, security code, holder) or a payment provider's frame is
covered: a click at its centre lands on an iframe, on another form's field or on an element of
another form. Critical when the covering frame or form belongs to a host that is neither the
site's own nor a payment host.

Why: overlay skimmers lay their own card form or iframe exactly over the real payment fields;
the page looks unchanged and the shopper types into the attacker's form.
Known false positives: a cookie banner or chat widget frame that happens to sit over the payment
form at the moment of the scan (it also hides the form from shoppers: worth fixing).
How to fix: find the element named in the evidence and the script or template that places it.""",
)


@dataclass(frozen=True)
class _Ask:
    page: PageCapture
    form: FormRecord

    @property
    def where(self) -> tuple[str, str, str]:
        """What makes two card forms the same form: frame origin, action (no query), identity."""
        return host_of(self.form.frame_url), self.form.action.split("?", 1)[0], self.form.ident


def _card_form(page: PageCapture) -> FormRecord | None:
    for form in page.forms:
        if form.visible and any(f.card_role == "number" and f.visible for f in form.fields):
            return form
    return None


class PaymentFlowDetector:
    rules: tuple[Rule, ...] = (SG307, SG308)

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        for capture in ctx.captures:
            yield from self._asked_twice(ctx, capture)
            yield from self._overlays(ctx, capture)

    def _asked_twice(self, ctx: DetectContext, capture: Capture) -> Iterator[Finding]:
        asks = [_Ask(page, form) for page in capture.pages if (form := _card_form(page)) is not None]
        if len(asks) < 2:
            return
        first = asks[0]
        second = next((a for a in asks[1:] if a.where != first.where), None)
        if second is None:
            return  # the same form again: a retry after a decline
        action_host = host_of(first.form.action)
        outside = bool(action_host) and not ctx.is_trusted_host(action_host)
        yield SG307.finding(
            ctx.site.name,
            page=second.page.name or None,
            subject=f"{first.page.name}>{second.page.name}",
            severity=Severity.CRITICAL if outside else None,
            title=f"Card asked for on {clip(first.page.name, 60)} and again on {clip(second.page.name, 60)}"
            + (f" (first form posts to {clip(action_host, 120)})" if outside else ""),
            destination=action_host if outside else None,
            evidence={
                "journey": capture.journey,
                "first": self._ask_evidence(first),
                "second": self._ask_evidence(second),
            },
        )

    @staticmethod
    def _ask_evidence(ask: _Ask) -> dict[str, str]:
        return {
            "page": ask.page.name,
            "url": clip(redact_url(ask.page.final_url), 300),
            "form": clip(ask.form.ident, 120),
            "action": clip(redact_url(ask.form.action), 300),
            "frame": clip(redact_url(ask.form.frame_url), 300),
        }

    @staticmethod
    def _overlays(ctx: DetectContext, capture: Capture) -> Iterator[Finding]:
        for page in capture.pages:
            for overlay in page.overlays:
                field = overlay.field
                if field is not None and field.card_role is None:
                    continue
                if field is None and not ctx.site.is_payment_host(host_of(overlay.frame)):
                    continue
                target = field.ident if field is not None else overlay.frame
                cover_url = overlay.cover.split(" ")[-1]
                cover_host = host_of(cover_url) if "://" in cover_url else ""
                outside = bool(cover_host) and not ctx.is_trusted_host(cover_host)
                yield SG308.finding(
                    ctx.site.name,
                    page=page.name or None,
                    subject=f"{clip(target, 120)}|{cover_host or overlay.cover.split(' ', 1)[0]}",
                    severity=Severity.CRITICAL if outside else None,
                    title=f"{'Card field' if field else 'Payment frame'} {clip(target, 80)} is covered by "
                    f"{clip(overlay.cover, 160)}",
                    destination=cover_host if outside else None,
                    evidence={
                        "journey": capture.journey,
                        "covered": clip(target, 300),
                        "role": field.card_role if field is not None else "payment-frame",
                        "cover": clip(redact_url(cover_url) if cover_host else overlay.cover, 300),
                        "frame": clip(redact_url(overlay.frame_url), 300),
                    },
                )
