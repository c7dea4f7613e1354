"""Forms and frames of payment pages: the fake-form attack (category ``flow``).

A planted card form on the shop's own checkout sent what shoppers typed to the attacker and then
passed them on to the real payment step. Card fields may appear only on approved pages, and card
forms may post only to the site itself or its payment hosts. Payment pages are the pages with card
fields in the baseline or now; pages absent from the baseline are only checked for card fields.

Forms are matched by ident (``form#id``/``form#name``, else the sorted field names). A form whose
ident changed (an anonymous form gaining a field) is paired with the baseline form it replaced when
the two share an action, or when each is the only unmatched form of its frame origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from skimguard.baseline.snapshot import FormEntry, PageSnapshot
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.models import Category, Confidence, Finding, Severity, host_of, origin_of

SG301 = Rule(
    id="SG301",
    title="New form on a payment page",
    category=Category.FLOW,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A payment page has a form the baseline did not have. Critical when the form has card
fields and posts to a host that is neither the site's own nor a configured payment host.

Why: fake card forms are injected next to (or instead of) the real payment form.
Known false positives: a redesigned checkout, a newsletter or coupon form added by a release.
How to fix: check the page; if expected accept a new baseline, otherwise find the template, script
or database row that adds it.""",
)

SG302 = Rule(
    id="SG302",
    title="Form action changed",
    category=Category.FLOW,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""A form on a payment page now submits to another URL (scheme, host or path; the query is
ignored). Critical when the new host is neither the site's own nor a configured payment host.

Why: pointing the real form at the attacker (who forwards the shopper on) is the quietest skimmer.
Known false positives: a payment provider migration (add the new host to payment_hosts), a moved
checkout route.
How to fix: restore the action, or update payment_hosts and accept a new baseline.""",
)

SG303 = Rule(
    id="SG303",
    title="Card fields on an unexpected page",
    category=Category.FLOW,
    severity=Severity.CRITICAL,
    confidence=Confidence.HIGH,
    doc="""A page that had no card fields in the baseline now asks for a card number, expiry or
security code. High (low confidence) when the page is not in the baseline at all.

Why: this is the fake-form attack: a card form planted on a page that never takes cards (cart,
confirmation, registration), collecting card data before the real payment step.
Known false positives: a redesign that moved card entry to another step (accept a new baseline).
How to fix: treat as an incident until explained; find what renders the form.""",
)

SG304 = Rule(
    id="SG304",
    title="Card form fields changed",
    category=Category.FLOW,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc="""Fields were added to, removed from or changed in a form that has card fields. High when
a card field (number, expiry, security code, holder) was added.

Why: skimmers add fields the real flow does not ask for (a security code on a tokenized form, a
PIN) or duplicate hidden card fields.
Known false positives: a checkout redesign, a PSP update of its hosted fields.
How to fix: compare the field list in the evidence with the intended form.""",
)

SG305 = Rule(
    id="SG305",
    title="New frame origin on a payment page",
    category=Category.FLOW,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A payment page embeds a frame from an origin the baseline did not have. Medium when the
host is a configured payment host.

Why: overlay and iframe-based fake forms come from a new frame origin.
Known false positives: a new PSP subdomain, consent or chat widgets, 3-D Secure frames that only
appear in some flows.
How to fix: check the origin; add PSP hosts to payment_hosts; accept a new baseline if expected.""",
)

RULES: tuple[Rule, ...] = (SG301, SG302, SG303, SG304, SG305)


def _action_host(ctx: DetectContext, page: PageSnapshot, action: str) -> str:
    """Host a form posts to ('' action or a relative one: the page's own host)."""
    host = host_of(action)
    return host or host_of(page.final_url or page.url) or ctx.site.host


def _action_key(action: str) -> str:
    try:
        parts = urlsplit(action)
    except ValueError:
        return action
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"


def _form_evidence(form: FormEntry) -> dict[str, Any]:
    return {
        "ident": clip(form.ident, 200),
        "action": clip(form.action, 300),
        "method": form.method,
        "visible": form.visible,
        "frame_url": clip(form.frame_url, 300),
        "card_roles": list(form.card_roles),
        "fields": [clip(f, 100) for f in list(form.fields)[:50]],
    }


def _pair_forms(old: PageSnapshot, new: PageSnapshot) -> list[tuple[FormEntry | None, FormEntry]]:
    """(baseline form or None, current form) for every current form."""
    pairs: list[tuple[FormEntry | None, FormEntry]] = []
    loose_new: list[FormEntry] = []
    for ident, form in new.forms.items():
        if ident in old.forms:
            pairs.append((old.forms[ident], form))
        else:
            loose_new.append(form)
    loose_old = [f for ident, f in old.forms.items() if ident not in new.forms]
    unpaired: list[FormEntry] = []
    for form in loose_new:
        same_action = [o for o in loose_old if o.action == form.action and o.method == form.method]
        if same_action:
            loose_old.remove(same_action[0])
            pairs.append((same_action[0], form))
        else:
            unpaired.append(form)
    for form in unpaired:
        origin = origin_of(form.frame_url)
        mine_new = [f for f in unpaired if origin_of(f.frame_url) == origin]
        mine_old = [o for o in loose_old if origin_of(o.frame_url) == origin]
        if len(mine_new) == 1 and len(mine_old) == 1:
            loose_old.remove(mine_old[0])
            pairs.append((mine_old[0], form))
        else:
            pairs.append((None, form))
    return pairs


class FormDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        if ctx.baseline is None:
            return
        for name, new in ctx.current.pages.items():
            old = ctx.baseline.pages.get(name)
            if old is None:
                if new.card_page:
                    yield self._card_fields(ctx, name, new, in_baseline=False)
                continue
            if not (old.card_page or new.card_page):
                continue
            yield from self._compare(ctx, name, old, new)

    def _card_fields(self, ctx: DetectContext, page: str, new: PageSnapshot, *, in_baseline: bool) -> Finding:
        forms = [f for f in new.forms.values() if f.has_card_fields]
        outside = [h for f in forms if not ctx.is_trusted_host(h := _action_host(ctx, new, f.action))]
        return SG303.finding(
            ctx.site.name,
            page=page,
            subject="card-fields",
            severity=Severity.CRITICAL if in_baseline else Severity.HIGH,
            confidence=Confidence.HIGH if in_baseline else Confidence.LOW,
            destination=outside[0] if outside else None,
            evidence={
                "page_in_baseline": in_baseline,
                "final_url": clip(new.final_url, 300),
                "forms": [_form_evidence(f) for f in forms[:10]],
                "posts_outside": sorted(set(outside))[:10],
            },
        )

    def _compare(self, ctx: DetectContext, page: str, old: PageSnapshot, new: PageSnapshot) -> Iterator[Finding]:
        unexpected = new.card_page and not old.card_page
        if unexpected:
            yield self._card_fields(ctx, page, new, in_baseline=True)

        for before, form in _pair_forms(old, new):
            host = _action_host(ctx, new, form.action)
            trusted = ctx.is_trusted_host(host)
            if before is None:
                if unexpected and form.has_card_fields:
                    continue  # already in SG303
                critical = form.has_card_fields and not trusted
                yield SG301.finding(
                    ctx.site.name,
                    page=page,
                    subject=form.ident,
                    severity=Severity.CRITICAL if critical else Severity.HIGH,
                    title=f"{SG301.title}: {clip(form.ident, 100)}",
                    destination=host if not trusted else None,
                    evidence={**_form_evidence(form), "action_host": host, "trusted_host": trusted},
                )
                continue
            if _action_key(before.action) != _action_key(form.action):
                yield SG302.finding(
                    ctx.site.name,
                    page=page,
                    subject=before.ident,
                    severity=Severity.HIGH if trusted else Severity.CRITICAL,
                    title=f"{SG302.title}: {clip(form.ident, 100)} now posts to {clip(host, 100)}",
                    destination=host if not trusted else None,
                    evidence={
                        "ident": clip(before.ident, 200),
                        "old_action": clip(before.action, 300),
                        "new_action": clip(form.action, 300),
                        "old_method": before.method,
                        "new_method": form.method,
                        "action_host": host,
                        "trusted_host": trusted,
                        "has_card_fields": form.has_card_fields,
                    },
                )
            if (before.has_card_fields or form.has_card_fields) and not (unexpected and form.has_card_fields):
                finding = self._fields(ctx, page, before, form)
                if finding is not None:
                    yield finding

        old_origins = set(old.frames)
        for origin in new.frames:
            if origin in old_origins or not origin:
                continue
            host = host_of(origin)
            yield SG305.finding(
                ctx.site.name,
                page=page,
                subject=origin,
                severity=Severity.MEDIUM if ctx.site.is_payment_host(host) else Severity.HIGH,
                title=f"{SG305.title}: {clip(origin, 200)}",
                evidence={
                    "origin": clip(origin, 300),
                    "urls": [clip(u, 300) for u in new.frames[origin][:10]],
                },
            )

    @staticmethod
    def _fields(ctx: DetectContext, page: str, before: FormEntry, form: FormEntry) -> Finding | None:
        added = [i for i in form.fields if i not in before.fields]
        removed = [i for i in before.fields if i not in form.fields]
        changed: dict[str, dict[str, Any]] = {}
        card_added = [i for i in added if form.fields[i].card_role]
        for ident in form.fields:
            if ident not in before.fields:
                continue
            a, b = before.fields[ident], form.fields[ident]
            diffs = {
                attr: {"old": getattr(a, attr), "new": getattr(b, attr)}
                for attr in ("type", "autocomplete", "card_role")
                if getattr(a, attr) != getattr(b, attr)
            }
            if diffs:
                changed[clip(ident, 100)] = diffs
                if b.card_role and b.card_role != a.card_role:
                    card_added.append(ident)
        if not (added or removed or changed):
            return None
        return SG304.finding(
            ctx.site.name,
            page=page,
            subject=before.ident,
            severity=Severity.HIGH if card_added else Severity.MEDIUM,
            title=f"{SG304.title}: {clip(form.ident, 100)}",
            evidence={
                "ident": clip(before.ident, 200),
                "added": [clip(i, 100) for i in added[:50]],
                "removed": [clip(i, 100) for i in removed[:50]],
                "changed": dict(list(changed.items())[:50]),
                "card_fields_added": [clip(i, 100) for i in card_added[:50]],
                "action": clip(form.action, 300),
            },
        )
