"""Runtime attribution: a script that reads the card fields and then sends data out (``exfil``).

The runtime hooks (``capture/hooks.js``) report, with the script on the stack, every read of a
card field's value and every network sink (fetch, XHR, beacon, WebSocket, image/script/iframe
src, form submit, window.open, script navigation). A skimmer that encrypts the card before
sending hides it from the canary search (SG501), but it cannot hide that the same script read the
card fields and then sent something to a host that is neither the shop's nor a payment host.

Where the canary search already found that script's data at that host, SG501 says it better and
SG510 stays silent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag

from skimguard.capture.fields import card_role
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.detect.exfil import canary_values
from skimguard.exfil.match import Matcher
from skimguard.models import Capture, Category, Confidence, Finding, HookEvent, Severity, host_of

SG510 = Rule(
    id="SG510",
    title="Script reads card fields and sends data to a non-approved host",
    category=Category.EXFIL,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A script read the value of a card field (number, expiry, CVC, holder) and, at or after
that read on the same page, sent a request (fetch, XHR, beacon, WebSocket, image/script/iframe
src, form, window.open or navigation) to a host that is neither the site's own host nor a payment
host, while the scan's test values were not found in what that script sent to that host (nor in
what reached that host from an unnamed sender): then SG501/SG502 report it.

Why: skimmers encrypt the card (AES, RC4, XOR with a key in the script) so nothing on the wire
matches the card; the runtime hooks still see which script read the fields and which sent.
Known false positives: a script that both validates card fields and sends unrelated telemetry to
its own vendor host; a shared library (jQuery and the like) that reads fields and sends requests
on behalf of different callers, because the innermost script on the stack is named.
How to fix: read the named script (the inventory holds its body); if it is not a payment
provider's and has no reason to read card fields, remove it and treat the scan as an incident; if
it is legitimate, move the card fields into the payment provider's hosted fields.""",
)

SG511 = Rule(
    id="SG511",
    title="Script checks for devtools or automation and reads card fields",
    category=Category.EXFIL,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A script that is not a payment provider's read the value of a card field and, on the same
journey, checked whether the browser is automated or being inspected: it read
``navigator.webdriver``, compared the window's outer and inner size (the classic "devtools open"
test), or asked for the source of a built-in function to see whether it had been wrapped.

Why: skimmers hide from analysts and crawlers that way: they stay quiet when devtools are open or
the visitor is a bot. A script that reads card fields has no reason to care; together the two are
a strong sign of a skimmer even when it did not send anything during this scan.
Known false positives: anti-fraud and bot-detection services (device fingerprinting) that also
watch the card form; polyfills that check whether ``fetch`` is native, loaded in the same bundle as
a card-field validator.
How to fix: read the named script; unless it is a fraud-prevention service you contracted, treat it
as a skimmer. Approved fraud services should load from a host you list in payment_hosts.""",
)

RULES: tuple[Rule, ...] = (SG510, SG511)


def _norm(url: str | None) -> str:
    return urldefrag(url)[0] if url else ""


@dataclass
class _Group:
    page: str
    script: str
    host: str
    fields: dict[str, str] = field(default_factory=dict)  # field name/id -> role
    reads: int = 0
    sink_kinds: set[str] = field(default_factory=set)
    sinks: int = 0
    steps: set[int] = field(default_factory=set)
    first_url: str = ""


def _field_label(event: HookEvent) -> tuple[str, str]:
    d = event.detail
    ident = d.get("name") or d.get("id") or d.get("autocomplete") or "?"
    role = card_role(name=d.get("name", ""), id=d.get("id", ""), autocomplete=d.get("autocomplete", "")) or "card"
    return clip(ident, 80), role


def canary_senders(capture: Capture) -> set[tuple[str, str]]:
    """(initiator script, host) of every outbound item where the canary search found a value."""
    if capture.canary is None or not capture.outbound:
        return set()
    hits = Matcher(canary_values(capture.canary)).search([o.data for o in capture.outbound])
    out: set[tuple[str, str]] = set()
    for item in {h.item for h in hits}:
        outbound = capture.outbound[item]
        out.add((_norm(outbound.initiator), outbound.host))
    return out


class AttributionDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        for capture in ctx.captures:
            if capture.events:
                yield from self._capture(ctx, capture)
                yield from self._probes(ctx, capture)

    @staticmethod
    def _probes(ctx: DetectContext, capture: Capture) -> Iterator[Finding]:
        """SG511: the same script probed for devtools/automation and read card fields."""
        probes: dict[str, set[str]] = {}
        fields: dict[str, dict[str, str]] = {}
        pages: dict[str, str] = {}
        for event in capture.events:
            script = _norm(event.script_url)
            if not script or ctx.site.is_payment_host(host_of(script)):
                continue
            if event.kind == "probe" and len(probes.setdefault(script, set())) < 10:
                probes[script].add(clip(event.detail.get("what", "?"), 40))
                pages.setdefault(script, event.page)
            elif event.kind == "field-read" and len(fields.setdefault(script, {})) < 20:
                ident, role = _field_label(event)
                fields[script].setdefault(ident, role)
                pages[script] = pages.get(script) or event.page
        for script in sorted(probes):
            if not fields.get(script):
                continue
            yield SG511.finding(
                ctx.site.name,
                page=pages.get(script) or None,
                subject=script,
                title=f"{clip(script, 160)} checks for {', '.join(sorted(probes[script]))} and reads card fields",
                script_url=script,
                evidence={
                    "probes": sorted(probes[script]),
                    "fields_read": [{"field": n, "role": r} for n, r in sorted(fields[script].items())],
                    "journey": capture.journey,
                },
            )

    def _capture(self, ctx: DetectContext, capture: Capture) -> Iterator[Finding]:
        site = ctx.site
        read: dict[tuple[str, str], dict[str, str]] = {}  # (page, script) -> fields read so far
        read_counts: dict[tuple[str, str], int] = {}
        groups: dict[tuple[str, str, str], _Group] = {}
        for event in capture.events:
            script = _norm(event.script_url)
            if not script or site.is_payment_host(host_of(script)):
                continue
            key = (event.page, script)
            if event.kind == "field-read":
                ident, role = _field_label(event)
                fields = read.setdefault(key, {})
                if len(fields) < 20:
                    fields.setdefault(ident, role)
                read_counts[key] = read_counts.get(key, 0) + 1
                continue
            host = event.target_host
            if event.kind != "sink" or key not in read or not host:
                continue
            if site.is_own_host(host) or site.is_payment_host(host):
                continue
            group = groups.get((event.page, script, host))
            if group is None:
                if len(groups) >= 200:
                    continue
                group = groups[(event.page, script, host)] = _Group(
                    event.page, script, host, first_url=event.detail.get("url", "")
                )
            group.fields.update(read[key])
            group.reads = read_counts[key]
            group.sinks += 1
            if len(group.sink_kinds) < 20:
                group.sink_kinds.add(event.detail.get("kind", "?"))
            if event.step is not None:
                group.steps.add(event.step)
        if not groups:
            return
        covered = canary_senders(capture)  # SG501/SG502 already name these (script, host) pairs
        for group in groups.values():
            # A hit whose sender CDP could not name (a form posted into a hidden frame) covers
            # every script at that host: SG501 already reports the theft there.
            if (group.script, group.host) in covered or ("", group.host) in covered:
                continue
            yield self._finding(ctx, capture, group)

    @staticmethod
    def _finding(ctx: DetectContext, capture: Capture, group: _Group) -> Finding:
        evidence: dict[str, Any] = {
            "fields_read": [{"field": name, "role": role} for name, role in sorted(group.fields.items())],
            "field_reads": group.reads,
            "sink_kinds": sorted(group.sink_kinds),
            "sinks": group.sinks,
            "first_destination": clip(group.first_url.split("?", 1)[0], 300),
            "journey": capture.journey,
            "steps": sorted(group.steps),
        }
        return SG510.finding(
            ctx.site.name,
            page=group.page or None,
            subject=f"{group.script}|{group.host}",
            title=f"{clip(group.script, 160)} reads card fields and sends data to {clip(group.host, 120)}",
            script_url=group.script,
            destination=group.host,
            evidence=evidence,
        )
