"""The theft itself: the scan's canary values found in what left the page (category ``exfil``).

Every journey types a unique test card and test personal data. Everything the page sent (request
URLs, headers and cookies, bodies, WebSocket frames) or staged for later (cookies, localStorage,
sessionStorage) is searched for those values, decoded backwards through URL, base64 at every
offset, hex, reversal, JSON, compression and up to three nested layers, and encoded forwards
(hashes of the e-mail, char codes...). Where a value went decides the finding:

* the payment provider (``payment_hosts``): normal, the token API; no finding;
* any other outside host: card data is SG501, personal data SG502, both critical;
* the shop's own host, for card data outside ``card_endpoints``, or personal data sent by a beacon,
  image or script request rather than a form or API call: SG503, high (collectors hidden on the
  victim's own server);
* browser storage and cookies: SG504 (staging for later exfiltration).

Evidence never holds the values: it names which values (card number, CVC...), the channel, the
decoding chain, the initiator script and the destination with query values removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from skimguard.baseline.snapshot import redact_url
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.exfil.match import CanaryValue, Hit, Matcher
from skimguard.models import (
    CARD_VALUES,
    STAGING_CHANNELS,
    CanaryIdentity,
    Capture,
    Category,
    Channel,
    Confidence,
    Finding,
    Outbound,
    Severity,
)

# Values too short to convict alone: they count only next to a long canary value (see Matcher).
SHORT_VALUES = {"cvc": 6, "expiry": 6, "postal_code": 9}
# Requests that a shop's own pages make to send what the shopper typed on purpose.
FIRST_PARTY_DATA_TYPES = frozenset({"document", "fetch", "xhr"})

_WHY_FP_FIX = """
Known false positives: none for an outside host: our canary values exist only in this scan. At
the shop's own host: a server-side card integration that posts the card to the shop (list its
URL prefix in `card_endpoints`).
How to fix: this is an incident. The initiator names the script that sent the data; compare it
with the inventory and the baseline (SG102/SG104 point at the change), remove it, and scope the
exposure from the first scan that shows this finding."""

SG501 = Rule(
    id="SG501",
    title="Card data sent to an outside host",
    category=Category.EXFIL,
    severity=Severity.CRITICAL,
    confidence=Confidence.HIGH,
    doc="""The scan's test card (number, and with it expiry, CVC or holder) left the page for a host
that is neither the site's own nor one of its payment hosts, in any channel and encoding.

Why: this is card skimming itself, seen on the wire: the founding incidents' skimmers sent card
data to attacker hosts while the shop never stored any."""
    + _WHY_FP_FIX,
)

SG502 = Rule(
    id="SG502",
    title="Personal data sent to an outside host",
    category=Category.EXFIL,
    severity=Severity.CRITICAL,
    confidence=Confidence.HIGH,
    doc="""The scan's test personal data (e-mail, password, phone, address, name) left the page
for a host that is neither the site's own nor a payment host. Hashes of the e-mail count: ad
pixels that hash e-mails are reported too (decide whether that vendor is allowed).

Why: the second founding incident also stole names, addresses and passwords from the
registration page."""
    + _WHY_FP_FIX,
)

SG503 = Rule(
    id="SG503",
    title="Card or personal data sent to an unexpected first-party endpoint",
    category=Category.EXFIL,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""The test card reached the shop's own host outside the configured `card_endpoints`, or
test personal data reached it through a beacon, image, script or other non-form request.

Why: attackers hide collectors on the victim's own server (a PHP file among media uploads), where
no outside host shows in the traffic."""
    + _WHY_FP_FIX,
)

SG504 = Rule(
    id="SG504",
    title="Card or personal data staged in browser storage",
    category=Category.EXFIL,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""The test card was written to a cookie, localStorage or sessionStorage (high); test
personal data there is low (forms that save drafts do this).

Why: skimmers stage what they read and send it later or from another page, so the send may fall
outside the scan; the staging is the part a scan can always see.
Known false positives: checkout scripts that keep the card in storage (a PCI DSS problem of its
own); form-draft features for personal data.
How to fix: find the script that writes the key (initiator in a later request, or search the
inventory for the key name) and remove it.""",
)

RULES: tuple[Rule, ...] = (SG501, SG502, SG503, SG504)


def canary_values(canary: CanaryIdentity) -> list[CanaryValue]:
    return [CanaryValue(name, value, min_len=SHORT_VALUES.get(name, 0)) for name, value in canary.values().items()]


@dataclass
class _Group:
    """Hits of one destination, channel and page: one finding."""

    rule: Rule
    severity: Severity
    page: str
    host: str
    channel: Channel
    first: Outbound
    values: set[str] = field(default_factory=set)
    chains: set[tuple[str, ...]] = field(default_factory=set)
    main: tuple[str, ...] | None = None  # the chain of the first item's most telling value
    initiators: list[str] = field(default_factory=list)
    steps: set[int] = field(default_factory=set)
    requests: int = 0


class ExfilDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        for capture in ctx.captures:
            if capture.canary is not None and capture.outbound:
                yield from self._capture(ctx, capture, capture.canary)

    def _capture(self, ctx: DetectContext, capture: Capture, canary: CanaryIdentity) -> Iterator[Finding]:
        hits = Matcher(canary_values(canary)).search([o.data for o in capture.outbound])
        groups: dict[tuple[str, str, str, str], _Group] = {}
        for item, item_hits in _by_item(hits).items():
            outbound = capture.outbound[item]
            item_hits = card_evidence(item_hits)
            if not item_hits:
                continue
            names = {h.value for h in item_hits}
            verdict = self._classify(ctx, outbound, names)
            if verdict is None:
                continue
            rule, severity = verdict
            key = (rule.id, outbound.page, outbound.host, outbound.channel.value)
            group = groups.setdefault(
                key, _Group(rule, severity, outbound.page, outbound.host, outbound.channel, outbound)
            )
            group.severity = max(group.severity, severity)
            group.values |= names
            group.chains |= {h.chain for h in item_hits}
            if group.main is None:
                group.main = main_chain(item_hits)
            group.requests += 1
            if outbound.initiator and outbound.initiator not in group.initiators and len(group.initiators) < 5:
                group.initiators.append(outbound.initiator)
            if outbound.step is not None:
                group.steps.add(outbound.step)
        for group in groups.values():
            if not group.initiators and group.channel is Channel.POSTMESSAGE:
                group.initiators = postmessage_senders(capture, group.page, group.host)
            yield self._finding(ctx, capture, canary, group)

    @staticmethod
    def _classify(ctx: DetectContext, outbound: Outbound, names: set[str]) -> tuple[Rule, Severity] | None:
        card = bool(names & CARD_VALUES)
        if outbound.channel in STAGING_CHANNELS:
            return SG504, Severity.HIGH if card else Severity.LOW
        host = outbound.host
        if ctx.site.is_payment_host(host):
            return None  # the token API: where card data belongs
        if ctx.site.is_own_host(host):
            if card:
                if any(outbound.destination.startswith(p) for p in ctx.site.card_endpoints):
                    return None
                return SG503, Severity.HIGH
            if outbound.resource_type in FIRST_PARTY_DATA_TYPES:
                return None  # the shop's own form or API receiving what the shopper typed
            return SG503, Severity.HIGH
        if card:
            return SG501, Severity.CRITICAL
        return SG502, Severity.CRITICAL

    @staticmethod
    def _finding(ctx: DetectContext, capture: Capture, canary: CanaryIdentity, group: _Group) -> Finding:
        first = group.first
        main = group.main or ()
        chains = [main, *sorted((c for c in group.chains if c != main), key=lambda c: (len(c), c))]
        how = "+".join(main) or "plain"
        kind = first.resource_type or group.channel.value
        evidence: dict[str, Any] = {
            "values": sorted(group.values),
            "channel": group.channel.value,
            "resource_type": first.resource_type,
            "method": first.method,
            "encoding_chains": ["+".join(c) or "plain" for c in chains[:10]],
            "destination": clip(
                redact_url(first.destination) if "://" in first.destination else first.destination, 300
            ),
            "initiators": [clip(i, 300) for i in group.initiators],
            "journey": capture.journey,
            # details of this sighting (not a change of the finding when they differ next scan)
            "_steps": sorted(group.steps),
            "_requests": group.requests,
            "_canary_tag": canary.tag,
        }
        what = "Card data" if group.values & CARD_VALUES else "Personal data"
        where = {SG503: "the shop's own host", SG504: f"{group.channel.value}"}.get(group.rule, group.host)
        return group.rule.finding(
            ctx.site.name,
            page=group.page or None,
            subject=f"{group.host}|{group.channel.value}",
            severity=group.severity,
            title=f"{what} sent to {clip(where, 120)} ({kind} {group.channel.value}, {how})"
            if group.rule is not SG504
            else f"{what} staged in {where} ({', '.join(sorted(group.values))})",
            script_url=group.initiators[0] if group.initiators else None,
            destination=group.host or None,
            evidence=evidence,
        )


# Card values long enough to identify the card; CVC and expiry are evidence only next to one of them
# (a 3-digit CVC turns up inside any phone number or postal code of the same identity).
CARD_ANCHORS = frozenset({"card_number", "holder"})


def postmessage_senders(capture: Capture, page: str, host: str) -> list[str]:
    """Who posted into a frame on ``host``: the receiving frame sees only the sender's origin, so
    the sender is the script that took a handle on that frame's window (``frame-handle`` from the
    runtime hooks) on the same page."""
    senders: list[str] = []
    for event in capture.events:
        if (
            event.kind == "sink"
            and event.detail.get("kind") == "frame-handle"
            and event.target_host == host
            and event.page == page
            and event.script_url
            and event.script_url not in senders
        ):
            senders.append(event.script_url)
    return senders[:5]


def card_evidence(hits: list[Hit]) -> list[Hit]:
    """Drop short card values (CVC, expiry) that no card number or holder name in the same item
    vouches for. (The matcher reports each value once, by its shortest chain: a CVC of "124" may
    show as plain inside a char-code list, so the encoding is taken from the anchor: main_chain.)"""
    if any(h.value in CARD_ANCHORS for h in hits):
        return hits
    return [h for h in hits if h.value not in CARD_VALUES]


def main_chain(hits: Sequence[Hit]) -> tuple[str, ...]:
    """How the data was encoded: the chain that revealed the most telling value."""
    rank = {"card_number": 0, "holder": 1, "email": 2, "password": 3}
    return min(hits, key=lambda h: (rank.get(h.value, 9), len(h.chain), h.chain)).chain


def _by_item(hits: Sequence[Hit]) -> dict[int, list[Hit]]:
    out: dict[int, list[Hit]] = {}
    for hit in hits:
        out.setdefault(hit.item, []).append(hit)
    return out
