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

from skimguard.baseline.snapshot import LONG_QUERY, DestinationEntry, PageSnapshot
from skimguard.detect.base import DetectContext, Rule, clip
from skimguard.models import Category, Confidence, Finding, Severity

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

RULES: tuple[Rule, ...] = (SG310, SG311)


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
