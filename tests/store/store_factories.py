"""Small builders of captures, scan results and findings for the store tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from skimguard.models import (
    Capture,
    Category,
    Confidence,
    FieldRecord,
    Finding,
    FormRecord,
    FrameRecord,
    PageCapture,
    Problem,
    RequestRecord,
    ScanResult,
    ScanStatus,
    ScriptKind,
    ScriptRecord,
    Severity,
    sha256_hex,
)

SITE = "shop"
SHOP = "https://shop.test"
VENDOR = "https://cdn.vendor.test"
PSP = "https://pay.psp.test"
T0 = datetime(2026, 1, 10, 9, 0, 0, 123456, tzinfo=UTC)

VENDOR_JS = b"/* form assist v1 */ window.assist = function () { return 1; };\n"
VENDOR_JS_V2 = b"/* form assist v1 */ window.assist = function () { new Image().src = 'x'; };\n"
APP_JS = b"document.querySelector('#pay').addEventListener('submit', function () {});\n"
INLINE_JS = b"window.dataLayer = window.dataLayer || [];\n"
DYNAMIC_JS = b"console.log('inserted at run time');\n"
PSP_JS = b"/* psp hosted fields */\n"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ext(url: str, body: bytes, *, frame_url: str = f"{SHOP}/checkout/payment", **kw: Any) -> ScriptRecord:
    return ScriptRecord(
        kind=ScriptKind.EXTERNAL,
        url=url,
        sha256=sha256_hex(body),
        size=len(body),
        frame_url=frame_url,
        **kw,
    )


def code(
    kind: ScriptKind, body: bytes, *, frame_url: str = f"{SHOP}/checkout/payment", **kw: Any
) -> ScriptRecord:
    return ScriptRecord(
        kind=kind,
        url=None,
        sha256=sha256_hex(body),
        size=len(body),
        frame_url=frame_url,
        **kw,
    )


CARD_FORM = FormRecord(
    action=f"{SHOP}/checkout/confirm",
    method="post",
    frame_url=f"{SHOP}/checkout/payment",
    id="pay",
    fields=(
        FieldRecord(
            tag="input",
            type="text",
            name="cc-number",
            autocomplete="cc-number",
            label="Card number",
            card_role="number",
        ),
        FieldRecord(tag="input", type="text", name="cc-exp", id="exp", label="有効期限", card_role="expiry"),
        FieldRecord(tag="input", type="password", name="cvc", card_role="cvc", visible=True),
        FieldRecord(tag="select", type="select-one", name="installments"),
        FieldRecord(tag="input", type="hidden", name="token", visible=False),
    ),
)


def cart_page(vendor_body: bytes = VENDOR_JS) -> PageCapture:
    return PageCapture(
        name="cart",
        url=f"{SHOP}/cart",
        final_url=f"{SHOP}/cart",
        status=200,
        headers={"content-type": "text/html; charset=utf-8"},
        scripts=(ext(f"{SHOP}/static/app.js?v=3", APP_JS, frame_url=f"{SHOP}/cart"),),
        requests=(
            RequestRecord(url=f"{SHOP}/static/app.js?v=3", method="GET", resource_type="script", status=200),
        ),
    )


def payment_page(vendor_body: bytes = VENDOR_JS, *, extra: Iterable[ScriptRecord] = ()) -> PageCapture:
    payment = f"{SHOP}/checkout/payment"
    return PageCapture(
        name="payment",
        url=f"{SHOP}/checkout/pay",
        final_url=payment,
        redirect_chain=(f"{SHOP}/checkout/pay", payment),
        status=200,
        headers={
            "content-security-policy": "script-src 'self' https://cdn.vendor.test; frame-src https://pay.psp.test",
            "strict-transport-security": "max-age=63072000",
            "x-frame-options": "DENY",
        },
        scripts=(
            ext(f"{SHOP}/static/app.js?v=3", APP_JS, initiator=payment, initiator_type="parser"),
            ext(f"{VENDOR}/assist/form.js?ts=123", vendor_body, initiator=payment, initiator_type="parser"),
            code(ScriptKind.INLINE, INLINE_JS),
            code(
                ScriptKind.DYNAMIC,
                DYNAMIC_JS,
                initiator=f"{VENDOR}/assist/form.js?ts=123",
                initiator_type="script",
            ),
            ext(
                f"{PSP}/fields.js",
                PSP_JS,
                frame_url=f"{PSP}/frame",
                main_frame=False,
                initiator=f"{PSP}/frame",
            ),
            *extra,
        ),
        requests=(
            RequestRecord(url=payment, method="GET", resource_type="document", status=200),
            RequestRecord(
                url=f"{VENDOR}/assist/form.js?ts=123",
                method="GET",
                resource_type="script",
                initiator=payment,
                status=200,
                frame_url=payment,
            ),
            RequestRecord(
                url="https://collect.evil.test/c",
                method="POST",
                resource_type="xhr",
                initiator=f"{VENDOR}/assist/form.js?ts=123",
                post_data_size=512,
                status=None,
                frame_url=payment,
                failed="net::ERR_CONNECTION_REFUSED",
            ),
        ),
        forms=(CARD_FORM,),
        frames=(FrameRecord(url=f"{PSP}/frame", name="psp", parent_url=payment),),
        problems=("dialog dismissed",),
    )


def capture(
    pages: Iterable[PageCapture],
    *,
    start: datetime = T0,
    journey: str = "checkout",
    status: ScanStatus = ScanStatus.OK,
    bodies: Mapping[str, bytes] | None = None,
    problems: Iterable[Problem] = (),
) -> Capture:
    pages = tuple(pages)
    if bodies is None:
        bodies = {sha256_hex(b): b for b in (VENDOR_JS, APP_JS, INLINE_JS, DYNAMIC_JS, PSP_JS)}
    return Capture(
        site=SITE,
        journey=journey,
        started_at=start,
        finished_at=start + timedelta(seconds=30),
        status=status,
        pages=pages,
        problems=tuple(problems),
        bodies=dict(bodies),
        user_agent="Mozilla/5.0 skimguard-test",
    )


def result(
    scan_id: str,
    captures: Iterable[Capture],
    *,
    start: datetime = T0,
    status: ScanStatus = ScanStatus.OK,
    findings: Iterable[Finding] = (),
) -> ScanResult:
    return ScanResult(
        site=SITE,
        scan_id=scan_id,
        started_at=start,
        finished_at=start + timedelta(minutes=1),
        status=status,
        captures=tuple(captures),
        findings=tuple(findings),
    )


def finding(
    subject: str,
    *,
    rule_id: str = "SG101",
    category: Category = Category.INVENTORY,
    severity: Severity = Severity.HIGH,
    page: str | None = "payment",
    evidence: Mapping[str, object] | None = None,
    title: str | None = None,
) -> Finding:
    return Finding(
        rule_id=rule_id,
        category=category,
        severity=severity,
        confidence=Confidence.HIGH,
        title=title or f"{rule_id} about {subject}",
        site=SITE,
        page=page,
        script_url=subject if subject.startswith("http") else None,
        destination=None,
        subject=subject,
        evidence=dict(evidence or {"subject": subject}),
    )


def checkout_scan(
    scan_id: str,
    *,
    start: datetime = T0,
    vendor_body: bytes = VENDOR_JS,
    status: ScanStatus = ScanStatus.OK,
    findings: Iterable[Finding] = (),
) -> ScanResult:
    bodies = {sha256_hex(b): b for b in (vendor_body, APP_JS, INLINE_JS, DYNAMIC_JS, PSP_JS)}
    cap = capture([cart_page(), payment_page(vendor_body)], start=start, bodies=bodies)
    return result(scan_id, [cap], start=start, status=status, findings=findings)
