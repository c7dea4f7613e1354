"""Factories for captures, sites and decisions, used by tests across the project.

The defaults describe one small, clean shop (``shop`` at ``http://shop.test/``, payments at
``pay.psp.test``):

- page ``cart``: the shop's own ``app.js``, no card fields;
- page ``payment``: ``app.js`` plus a vendor form-assist script from ``cdn.vendor.test``, a card
  form posting to ``https://pay.psp.test/charge`` and a CSP (plus HSTS, X-Frame-Options,
  Referrer-Policy);
- one journey ``checkout`` and its capture holding both script bodies.

Every factory takes overrides; :func:`replace_script_body` and :func:`with_page` make the common
"same capture, one thing changed" cases one line. Scripts are identified by sha256 of their body,
so a capture must carry the bodies of its scripts (:func:`make_capture` adds the defaults).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from skimguard.baseline.snapshot import SiteSnapshot, snapshot_from_captures
from skimguard.config import Site
from skimguard.detect.base import DetectContext
from skimguard.models import (
    Capture,
    ChangeRule,
    Decision,
    FieldRecord,
    Finding,
    FormRecord,
    FrameRecord,
    MatchType,
    PageCapture,
    Problem,
    RequestRecord,
    ScanStatus,
    ScriptKind,
    ScriptRecord,
    script_url_key,
    sha256_hex,
)

__all__ = [
    "APP_JS",
    "APP_URL",
    "BASE_URL",
    "CSP",
    "NOW",
    "PAYMENT_HOST",
    "SECURITY_HEADERS",
    "SITE",
    "VENDOR_JS",
    "VENDOR_URL",
    "body_of",
    "brief",
    "card_form",
    "cart_page",
    "make_capture",
    "make_context",
    "make_decision",
    "make_field",
    "make_form",
    "make_page",
    "make_request",
    "make_script",
    "make_site",
    "payment_page",
    "replace_script_body",
    "with_page",
]

SITE = "shop"
BASE_URL = "http://shop.test/"
PAYMENT_HOST = "pay.psp.test"
APP_URL = "http://shop.test/static/app.js?v=3"
VENDOR_URL = "https://cdn.vendor.test/form-assist/v1/assist.js"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

APP_JS = """/* shop.test app bundle */
(function () {
  'use strict';
  function updateCart(count) {
    var badge = document.getElementById('cart-count');
    if (badge) { badge.textContent = String(count); }
  }
  document.addEventListener('DOMContentLoaded', function () {
    updateCart(window.cartCount || 0);
  });
})();
"""

VENDOR_JS = """/*! form-assist v1.4.2 (c) vendor.test */
(function (w, d) {
  // convert full-width digits to half-width as the shopper types
  function toHalfWidth(s) {
    return s.replace(/[\\uFF10-\\uFF19]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
    });
  }
  function attach(input) {
    input.addEventListener('keyup', function () {
      input.value = toHalfWidth(input.value);
    });
  }
  var docs = "https://docs.vendor.test/form-assist";
  d.querySelectorAll('input[data-assist]').forEach(attach);
  w.FormAssist = { version: '1.4.2', docs: docs };
})(window, document);
"""

CSP = (
    "default-src 'self'; script-src 'self' https://cdn.vendor.test; connect-src 'self' https://pay.psp.test; "
    "form-action 'self' https://pay.psp.test; frame-ancestors 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": CSP,
    "strict-transport-security": "max-age=31536000",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def body_of(text: str | bytes) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else text


# --------------------------------------------------------------------------------------------
# Site and decisions
# --------------------------------------------------------------------------------------------


def make_site(**overrides: Any) -> Site:
    data: dict[str, Any] = {
        "name": SITE,
        "base_url": BASE_URL,
        "payment_hosts": [PAYMENT_HOST],
        "journeys": [
            {
                "name": "checkout",
                "steps": [
                    {"goto": "/cart", "page": "cart"},
                    {"click": "#checkout", "page": "payment"},
                    {"fill_card": {"number": "#cc-number", "expiry": "#cc-exp", "cvc": "#cc-csc"}},
                    {"submit": "#pay"},
                ],
            }
        ],
    }
    data.update(overrides)
    return Site.model_validate(data)


def make_decision(
    value: str = script_url_key(VENDOR_URL),
    *,
    match: MatchType = MatchType.URL,
    change_rule: ChangeRule = ChangeRule.PIN,
    pinned_sha256: str | None = None,
    id: int = 1,
    site: str = SITE,
    at: datetime = NOW - timedelta(days=30),
    revoked: bool = False,
    justification: str = "form-assist converts full-width digits on the card form",
    owner: str = "ec-team",
    actor: str = "alice",
) -> Decision:
    return Decision(
        id=id,
        site=site,
        match=match,
        value=value,
        justification=justification,
        owner=owner,
        actor=actor,
        at=at,
        change_rule=change_rule,
        pinned_sha256=pinned_sha256,
        revoked_at=at + timedelta(days=1) if revoked else None,
        revoked_by="bob" if revoked else None,
        revoke_reason="vendor contract ended" if revoked else None,
    )


# --------------------------------------------------------------------------------------------
# What the browser saw
# --------------------------------------------------------------------------------------------


def make_script(
    url: str | None = VENDOR_URL,
    body: str | bytes = VENDOR_JS,
    *,
    kind: ScriptKind | None = None,
    frame_url: str = "http://shop.test/checkout/payment",
    initiator: str | None = None,
    main_frame: bool = True,
) -> ScriptRecord:
    """A script record whose sha256 and size come from ``body`` (external when it has a URL)."""
    data = body_of(body)
    return ScriptRecord(
        kind=kind or (ScriptKind.EXTERNAL if url else ScriptKind.INLINE),
        url=url,
        sha256=sha256_hex(data),
        size=len(data),
        frame_url=frame_url,
        initiator=initiator,
        initiator_type="parser" if initiator is None else "script",
        main_frame=main_frame,
    )


def make_request(
    url: str,
    *,
    method: str = "GET",
    resource_type: str = "script",
    initiator: str | None = None,
    post_data_size: int = 0,
    status: int | None = 200,
) -> RequestRecord:
    return RequestRecord(
        url=url,
        method=method,
        resource_type=resource_type,
        initiator=initiator,
        post_data_size=post_data_size,
        status=status,
    )


def make_field(
    name: str,
    *,
    type: str = "text",
    card_role: str | None = None,
    autocomplete: str = "",
    tag: str = "input",
) -> FieldRecord:
    return FieldRecord(tag=tag, type=type, name=name, id=name, autocomplete=autocomplete, card_role=card_role)


def make_form(
    action: str = "http://shop.test/account/register",
    *,
    fields: Sequence[FieldRecord] = (make_field("email", type="email"), make_field("name")),
    method: str = "POST",
    id: str = "",
    name: str = "",
    frame_url: str = "http://shop.test/checkout/payment",
    visible: bool = True,
) -> FormRecord:
    return FormRecord(
        action=action,
        method=method,
        frame_url=frame_url,
        id=id,
        name=name,
        fields=tuple(fields),
        visible=visible,
    )


def card_form(
    action: str = f"https://{PAYMENT_HOST}/charge",
    *,
    id: str = "payment-form",
    frame_url: str = "http://shop.test/checkout/payment",
    extra_fields: Sequence[FieldRecord] = (),
) -> FormRecord:
    """The shop's card form: number, expiry, security code, holder."""
    fields = (
        make_field("cc-number", card_role="number", autocomplete="cc-number"),
        make_field("cc-exp", card_role="expiry", autocomplete="cc-exp"),
        make_field("cc-csc", card_role="cvc", autocomplete="cc-csc"),
        make_field("cc-name", card_role="holder", autocomplete="cc-name"),
        *extra_fields,
    )
    return make_form(action, fields=fields, id=id, frame_url=frame_url)


def _requests_for(url: str, scripts: Iterable[ScriptRecord]) -> tuple[RequestRecord, ...]:
    reqs = [make_request(url, resource_type="document")]
    reqs.extend(make_request(s.url, initiator=url) for s in scripts if s.url)
    return tuple(reqs)


def make_page(
    name: str = "payment",
    *,
    url: str | None = None,
    final_url: str | None = None,
    scripts: Sequence[ScriptRecord] | None = None,
    forms: Sequence[FormRecord] | None = None,
    headers: Mapping[str, str] | None = None,
    requests: Sequence[RequestRecord] | None = None,
    extra_requests: Sequence[RequestRecord] = (),
    frames: Sequence[FrameRecord] = (),
    status: int | None = 200,
    redirect_chain: Sequence[str] = (),
    problems: Sequence[str] = (),
) -> PageCapture:
    """A page; by default the payment page (app.js + vendor script, card form, CSP).

    ``requests`` defaults to the document and one GET per external script, plus ``extra_requests``.
    """
    url = url or f"http://shop.test/checkout/{name}"
    if scripts is None:
        scripts = (
            make_script(APP_URL, APP_JS, frame_url=url),
            make_script(VENDOR_URL, VENDOR_JS, frame_url=url),
        )
    if forms is None:
        forms = (card_form(frame_url=url),)
    if requests is None:
        requests = _requests_for(url, scripts)
    return PageCapture(
        name=name,
        url=url,
        final_url=final_url or url,
        redirect_chain=tuple(redirect_chain),
        status=status,
        headers=dict(SECURITY_HEADERS if headers is None else headers),
        scripts=tuple(scripts),
        requests=(*requests, *extra_requests),
        forms=tuple(forms),
        frames=tuple(frames),
        problems=tuple(problems),
    )


def payment_page(**overrides: Any) -> PageCapture:
    return make_page("payment", **overrides)


def cart_page(**overrides: Any) -> PageCapture:
    """The cart: the shop's app.js only, no forms with card fields."""
    url = overrides.pop("url", "http://shop.test/cart")
    overrides.setdefault("scripts", (make_script(APP_URL, APP_JS, frame_url=url),))
    overrides.setdefault("forms", ())
    return make_page("cart", url=url, **overrides)


def make_capture(
    pages: Sequence[PageCapture] | None = None,
    *,
    bodies: Mapping[str, bytes] | Iterable[str | bytes] | None = None,
    problems: Sequence[Problem] = (),
    status: ScanStatus | None = None,
    site: str = SITE,
    journey: str = "checkout",
    started_at: datetime = NOW,
    duration: timedelta = timedelta(seconds=20),
) -> Capture:
    """A journey's capture: by default cart + payment page and the bodies of the default scripts.

    ``bodies`` are added to the defaults: a mapping sha256 -> bytes, or plain bodies (str/bytes)
    whose sha256 is computed. ``status`` defaults to partial when there are problems, else ok.
    """
    known: dict[str, bytes] = {sha256_hex(body_of(b)): body_of(b) for b in (APP_JS, VENDOR_JS)}
    if isinstance(bodies, Mapping):
        known.update(bodies)
    elif bodies is not None:
        known.update({sha256_hex(body_of(b)): body_of(b) for b in bodies})
    if status is None:
        status = ScanStatus.PARTIAL if problems else ScanStatus.OK
    return Capture(
        site=site,
        journey=journey,
        started_at=started_at,
        finished_at=started_at + duration,
        status=status,
        pages=tuple((cart_page(), payment_page()) if pages is None else pages),
        problems=tuple(problems),
        bodies=known,
    )


# --------------------------------------------------------------------------------------------
# "The same, with one thing changed"
# --------------------------------------------------------------------------------------------


def with_page(capture: Capture, page: PageCapture) -> Capture:
    """``capture`` with the page of the same name replaced by ``page`` (appended if none)."""
    pages = [page if p.name == page.name else p for p in capture.pages]
    if not any(p.name == page.name for p in capture.pages):
        pages.append(page)
    return dataclasses.replace(capture, pages=tuple(pages))


def replace_script_body(capture: Capture, url: str, body: str | bytes, *, new_url: str | None = None) -> Capture:
    """``capture`` where the external script with ``url``'s key now serves ``body`` (on every page),
    optionally from ``new_url`` (e.g. another cache-buster); the body is added to the capture."""
    data = body_of(body)
    key = script_url_key(url)
    pages = []
    for page in capture.pages:
        scripts = tuple(
            dataclasses.replace(s, sha256=sha256_hex(data), size=len(data), url=new_url or s.url)
            if s.kind is ScriptKind.EXTERNAL and s.key == key
            else s
            for s in page.scripts
        )
        pages.append(dataclasses.replace(page, scripts=scripts))
    return dataclasses.replace(capture, pages=tuple(pages), bodies={**capture.bodies, sha256_hex(data): data})


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def _captures(value: Capture | Sequence[Capture]) -> tuple[Capture, ...]:
    return (value,) if isinstance(value, Capture) else tuple(value)


def make_context(
    current: Capture | Sequence[Capture] | None = None,
    *,
    baseline: Capture | Sequence[Capture] | SiteSnapshot | None = None,
    decisions: Sequence[Decision] = (),
    site: Site | None = None,
    now: datetime = NOW,
) -> DetectContext:
    """A detection context: ``current`` captures (default: the clean capture) against a baseline
    given as captures or a snapshot. Bodies of both are available to ``ctx.body``."""
    site = site or make_site()
    captures = _captures(make_capture() if current is None else current)
    bodies: dict[str, bytes] = {}
    snapshot: SiteSnapshot | None
    if baseline is None or isinstance(baseline, SiteSnapshot):
        snapshot = baseline
    else:
        old = _captures(baseline)
        for capture in old:
            bodies.update(capture.bodies)
        snapshot = snapshot_from_captures(site.name, old)
    return DetectContext.create(site, captures, baseline=snapshot, now=now, decisions=decisions, bodies=bodies)


def brief(findings: Iterable[Finding]) -> list[tuple[str, str, str | None, str]]:
    """(rule ID, severity, page, subject) per finding: what tests compare exactly."""
    return [(f.rule_id, f.severity.label, f.page, f.subject) for f in findings]
