"""Where sensitive pages send requests (category ``flow``).

Card data stolen in the browser has to leave it: a POST, a beacon, an image whose URL carries the
data, a WebSocket. A payment page talking to a host it never talked to before is worth a look; one
*sending data* to a host that is neither the shop nor its payment provider is the theft itself.
The same holds for pages where shoppers type personal data (registration, address, login): the
second founding incident stole names, addresses and passwords from the registration page.
Only sensitive pages (card or personal-data fields, in the baseline or now) present in both
snapshots are compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from skimguard.baseline.snapshot import LONG_QUERY, DestinationEntry, PageSnapshot, redact_url
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.intel import Indicator
from skimguard.models import Category, Confidence, Finding, Severity, host_of

SG310 = Rule(
    id="SG310",
    title="Sensitive page sends requests to a new host",
    category=Category.FLOW,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc=f"""A page with card fields (or personal-data fields: e-mail, password, phone, address)
made requests to a host it did not contact in the baseline. On a card page: critical when the host
is neither the site's own nor a configured payment host and the page sent it data (a
POST/PUT/PATCH or a request body, or an image/ping/beacon request with a query string longer than
{LONG_QUERY} characters); high when the host served a script (or opened a WebSocket to an outside
host); medium otherwise. On a page with personal-data fields only, sending data to such a host is
high.

Why: exfiltration needs a destination; a new destination that receives data from the card page is
the strongest sign of a skimmer short of seeing the card itself (see the canary rules).
Known false positives: a new analytics, fraud-screening or consent vendor; a PSP moving to a new
host (add it to payment_hosts).
How to fix: look at the initiator script and the sample URL (query values are dropped); if the
vendor is expected approve its scripts and accept a new baseline, otherwise remove the script that
sends the data and treat it as an incident.""",
)

SG311 = Rule(
    id="SG311",
    title="Payment page now sends data to a known outside host",
    category=Category.FLOW,
    severity=Severity.MEDIUM,
    confidence=Confidence.LOW,
    doc=f"""A host the page already contacted in the baseline (and that is neither the site's own
nor a payment host) now receives data from the page: a POST/PUT/PATCH or a request body, or an
image/ping/beacon with a query longer than {LONG_QUERY} characters, where the baseline only saw
plain requests.

Why: skimmers hide their traffic in hosts a shop already uses (analytics, tag managers, CDNs).
Known false positives: analytics that batch events into POST beacons only some of the time.
How to fix: check the initiator script in the evidence; accept a new baseline if expected.""",
)

SG312 = Rule(
    id="SG312",
    title="Page loads from or sends to a known skimmer host (threat intel)",
    category=Category.FLOW,
    severity=Severity.CRITICAL,
    confidence=Confidence.MEDIUM,
    doc="""A page made a request to a host, URL or path listed in an imported threat-intelligence
feed (`skimguard intel import`), or ran a script whose hash is listed. Every page counts, with or
without a baseline.

Why: Magecart groups reuse their domains and gate paths across thousands of shops; a feed match is
a reason to act now, whatever the other detectors say. Detection never depends on a feed: without
one this rule is silent.
Known false positives: stale feed entries (a domain that changed hands), paths shared with
legitimate software; the evidence names the feed and its reference.
How to fix: treat as an incident unless the reference shows the entry is wrong; remove the script
that makes the request.""",
)

RULES: tuple[Rule, ...] = (SG310, SG311, SG312)


def _evidence(entry: DestinationEntry, trusted: bool) -> dict[str, Any]:
    return {
        "host": entry.host,
        "methods": list(entry.methods),
        "resource_types": list(entry.resource_types),
        "sample_url": clip(entry.sample_url, 200),
        "initiators": [clip(i, 300) for i in entry.initiators],
        "sends_data": entry.sends_data,
        "long_query_beacon": entry.long_query_beacon,
        "_requests": entry.requests,  # varies from scan to scan: not a change of the finding
        "trusted_host": trusted,
    }


def _severity(entry: DestinationEntry, trusted: bool, card: bool) -> Severity:
    if not trusted and (entry.sends_data or entry.long_query_beacon):
        return Severity.CRITICAL if card else Severity.HIGH
    if "script" in entry.resource_types or (not trusted and "websocket" in entry.resource_types):
        return Severity.HIGH
    return Severity.MEDIUM


class DestinationDetector:
    rules: tuple[Rule, ...] = RULES

    def run(self, ctx: DetectContext) -> Iterable[Finding]:
        for name, old, new in ctx.compared_pages():
            if old.sensitive or new.sensitive:
                yield from self._compare(ctx, name, old.destinations, new, card=old.card_page or new.card_page)
        if len(ctx.intel):
            yield from self._intel(ctx)

    @staticmethod
    def _intel(ctx: DetectContext) -> Iterator[Finding]:
        """SG312: requests and script hashes that an imported feed lists (one finding per page and
        indicator)."""
        seen: set[tuple[str, str]] = set()
        for capture in ctx.captures:
            for page in capture.pages:
                matches: list[tuple[Indicator, str, str | None]] = []
                for request in page.requests:
                    hit = ctx.intel.match_url(request.url)
                    if hit is not None:
                        matches.append((hit, request.url, request.initiator))
                for script in page.scripts:
                    if not script.sha256:
                        continue
                    hit = ctx.intel.match_hash(script.sha256)
                    if hit is not None:
                        matches.append((hit, script.url or f"inline script {script.sha256[:12]}", script.url))
                for indicator, url, initiator in matches:
                    key = (page.name, f"{indicator.kind.value}:{indicator.value}")
                    if key in seen:
                        continue
                    seen.add(key)
                    host = host_of(url) if "://" in url else ""
                    yield SG312.finding(
                        ctx.site.name,
                        page=page.name or None,
                        subject=key[1],
                        title=f"{clip(page.name, 60)} reaches {clip(indicator.value, 160)}, listed by "
                        f"threat intel ({clip(indicator.source, 60)})",
                        destination=host or None,
                        script_url=initiator if initiator and initiator != page.final_url else None,
                        evidence={
                            "indicator": clip(indicator.value, 300),
                            "kind": indicator.kind.value,
                            "source": clip(indicator.source, 200),
                            "reference": clip(indicator.reference, 300),
                            "url": clip(redact_url(url) if host else url, 300),
                            "journey": capture.journey,
                        },
                    )

    def _compare(
        self,
        ctx: DetectContext,
        page: str,
        old: Mapping[str, DestinationEntry],
        page_now: PageSnapshot,
        *,
        card: bool,
    ) -> Iterator[Finding]:
        documents = {page_now.url, page_now.final_url}
        for host, entry in page_now.destinations.items():
            # The script that made the requests, when an initiator is a script and not the page.
            script = next((i for i in entry.initiators if i not in documents), None)
            trusted = ctx.is_trusted_host(host)
            before = old.get(host)
            if before is None:
                severity = _severity(entry, trusted, card)
                what = "Payment page" if card else "Page with personal-data fields"
                yield SG310.finding(
                    ctx.site.name,
                    page=page,
                    subject=host,
                    severity=severity,
                    confidence=Confidence.HIGH if severity is Severity.CRITICAL else Confidence.MEDIUM,
                    title=f"{what} sends requests to a new host: {clip(host, 200)}",
                    destination=host,
                    script_url=script,
                    evidence=_evidence(entry, trusted),
                )
                continue
            newly_sends = (entry.sends_data and not before.sends_data) or (
                entry.long_query_beacon and not before.long_query_beacon
            )
            if newly_sends and not trusted:
                yield SG311.finding(
                    ctx.site.name,
                    page=page,
                    subject=host,
                    title=f"{SG311.title}: {clip(host, 200)}",
                    destination=host,
                    script_url=script,
                    evidence={**_evidence(entry, trusted), "baseline_methods": list(before.methods)},
                )
