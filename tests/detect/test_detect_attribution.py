"""SG510: a script that reads card fields and then sends data to a non-approved host."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

from skimguard.canary import new_canary
from skimguard.detect.attribution import AttributionDetector
from skimguard.models import Channel, Finding, HookEvent, Outbound, host_of
from skimguard.testing.factories import VENDOR_URL, brief, make_capture, make_context

CANARY = new_canary(datetime(2026, 11, 21, tzinfo=UTC))
EVIL = "http://collect.evil.test/i.gif?d=c2VhbGVk"


def read(field: str, *, script: str = VENDOR_URL, page: str = "payment") -> HookEvent:
    return HookEvent(
        "field-read", script, page=page, step=5,
        detail={"autocomplete": field, "name": field.replace("-", "_"), "id": field, "via": "value"},
    )  # fmt: skip


def send(url: str = EVIL, *, kind: str = "image", script: str = VENDOR_URL, page: str = "payment") -> HookEvent:
    return HookEvent("sink", script, page=page, step=6, detail={"kind": kind, "url": url}, target_host=host_of(url))


def run(*events: HookEvent, outbound: tuple[Outbound, ...] = ()) -> list[Finding]:
    capture = dataclasses.replace(make_capture(), events=events, outbound=outbound, canary=CANARY)
    return list(AttributionDetector().run(make_context(capture)))


def test_script_that_reads_the_card_and_sends_outside_is_sg510() -> None:
    # ruleid: SG510 — an encrypting skimmer: reads the four fields, then an image beacon
    findings = run(read("cc-number"), read("cc-exp"), read("cc-csc"), read("cc-name"), send(), send())
    assert brief(findings) == [("SG510", "high", "payment", f"{VENDOR_URL}|collect.evil.test")]
    f = findings[0]
    assert f.script_url == VENDOR_URL and f.destination == "collect.evil.test"
    assert f.evidence["fields_read"] == [
        {"field": "cc_csc", "role": "cvc"},
        {"field": "cc_exp", "role": "expiry"},
        {"field": "cc_name", "role": "holder"},
        {"field": "cc_number", "role": "number"},
    ]
    assert f.evidence["sink_kinds"] == ["image"] and f.evidence["sinks"] == 2 and f.evidence["field_reads"] == 4
    assert f.evidence["first_destination"] == "http://collect.evil.test/i.gif"  # query values left out


def test_read_without_send_is_not_a_finding() -> None:
    # ok: SG510 — a validator reads the number and sends nothing
    assert run(read("cc-number"), read("cc-number")) == []


def test_send_without_read_is_not_a_finding() -> None:
    # ok: SG510 — analytics beacon from a script that never touched a card field
    assert run(send(), send(kind="fetch")) == []


def test_send_before_the_read_is_not_a_finding() -> None:
    # ok: SG510 — the beacon left before the script read anything
    assert run(send(), read("cc-number")) == []


def test_send_by_another_script_is_not_a_finding() -> None:
    # ok: SG510 — one script reads, a different one sends
    assert run(read("cc-number"), send(script="https://stats.analytics.test/a.js")) == []


def test_send_to_the_payment_host_or_own_host_is_not_a_finding() -> None:
    # ok: SG510 — the token API and the shop's own endpoint
    assert run(read("cc-number"), send("https://pay.psp.test/v1/tokens", kind="fetch"),
               send("http://shop.test/done", kind="navigation")) == []  # fmt: skip


def test_payment_provider_script_is_not_a_finding() -> None:
    # ok: SG510 — the provider's own script may read its fields (and sends where it likes)
    psp = "https://pay.psp.test/fields.js"
    assert run(read("cc-number", script=psp), send(script=psp)) == []


def test_canary_already_found_for_that_script_and_host_is_left_to_sg501() -> None:
    # ok: SG510 — SG501 already reports this script's beacon with the card in it
    payload = base64.b64encode(f"{CANARY.card_number}|{CANARY.expiry}|{CANARY.cvc}".encode()).decode()
    url = f"http://collect.evil.test/i.gif?d={payload}"
    beacon = Outbound(Channel.URL, url, url.encode(), page="payment", step=6, resource_type="image",
                      method="GET", initiator=VENDOR_URL)  # fmt: skip
    assert run(read("cc-number"), send(url), outbound=(beacon,)) == []
    # a hit whose sender CDP could not name (a form posted into a hidden frame) covers it too
    unnamed = dataclasses.replace(beacon, initiator=None)
    assert run(read("cc-number"), send(url), outbound=(unnamed,)) == []
    # ... but a canary hit from another script at that host does not cover this one
    other = dataclasses.replace(beacon, initiator="https://cdn.other.test/x.js")
    assert brief(run(read("cc-number"), send(url), outbound=(other,))) == [
        ("SG510", "high", "payment", f"{VENDOR_URL}|collect.evil.test")
    ]


def test_one_finding_per_page_script_and_host() -> None:
    findings = run(
        read("cc-number"), send(), send("wss://ws.evil.test/s", kind="websocket"),
        read("cc-number", page="done"), send(page="done"),
    )  # fmt: skip
    assert sorted(brief(findings)) == [
        ("SG510", "high", "done", f"{VENDOR_URL}|collect.evil.test"),
        ("SG510", "high", "payment", f"{VENDOR_URL}|collect.evil.test"),
        ("SG510", "high", "payment", f"{VENDOR_URL}|ws.evil.test"),
    ]


# ---------------------------------------------------------------------------- SG511


def probe(what: str, *, script: str = VENDOR_URL, page: str = "payment") -> HookEvent:
    return HookEvent("probe", script, page=page, step=1, detail={"what": what})


def test_script_that_probes_for_automation_and_reads_the_card_is_sg511() -> None:
    # ruleid: SG511 — checks navigator.webdriver and the window size, then reads the card
    findings = run(probe("navigator.webdriver"), probe("window-size"), read("cc-number"), read("cc-csc"))
    assert brief(findings) == [("SG511", "high", "payment", VENDOR_URL)]
    assert findings[0].evidence["probes"] == ["navigator.webdriver", "window-size"]
    assert [f["role"] for f in findings[0].evidence["fields_read"]] == ["cvc", "number"]


def test_probes_without_card_reads_or_by_the_payment_provider_are_not_sg511() -> None:
    # ok: SG511 — a bot-detection script that never touches the card form
    assert run(probe("navigator.webdriver"), read("cc-number", script="https://stats.analytics.test/a.js")) == []
    # ok: SG511 — the payment provider's own fields script fingerprints the device
    psp = "https://pay.psp.test/fields.js"
    assert run(probe("navigator.webdriver", script=psp), read("cc-number", script=psp)) == []


def test_sg511_and_sg510_both_name_a_probing_encrypting_skimmer() -> None:
    findings = run(probe("native-check"), read("cc-number"), send())
    assert sorted(f.rule_id for f in findings) == ["SG510", "SG511"]
