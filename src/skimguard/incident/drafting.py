"""From a scoped incident to the drafts' input (:class:`~skimguard.incident.documents.DraftContext`).

Pure: the caller hands in the incident, its windows, the stored scoping summary and people, the
clocks and the shop facts the user recorded (``skimguard incident set``); nothing is read here.
What skimguard cannot know (the enquiry desk, prevention measures, report dates) stays empty and
the drafts mark it for a human to complete.

Shop facts (``details`` of the stored incident) understood here, all optional::

    operator, shop_name, site_url, detected_how, secondary_harm, publication_delay_reason,
    card_payment_restart, police_station, investigator, stage (preliminary|final),
    card_payment_stopped_at, skimmer_removed_at (ISO times), published_on, regulator_reported_on,
    police_reported_on (ISO dates), fraud_reports (int), prevention (list of text),
    enquiry {name, phone, email, url, hours}, cause {kind, vendor, detail},
    card_items / registration_items (lists of documents.DataItem values)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from skimguard.incident import documents as d
from skimguard.incident.deadlines import Clock, ClockName
from skimguard.incident.model import ExposureWindow, Incident, WindowBasis
from skimguard.incident.storage import PersonRow

__all__ = ["CARD_ITEMS", "PERSONAL_ITEMS", "draft_context"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CARD_ITEMS = (d.DataItem.CARD_NUMBER, d.DataItem.CARD_EXPIRY, d.DataItem.CARD_CVC, d.DataItem.CARDHOLDER_NAME)
PERSONAL_ITEMS = (d.DataItem.NAME, d.DataItem.EMAIL, d.DataItem.PHONE, d.DataItem.ADDRESS)

_BASIS = {
    WindowBasis.LAST_CLEAN: d.Localized(
        "直前に改ざんがないことを確認した時点", "the last check that showed the page clean"
    ),
    WindowBasis.EARLIEST_DATA: d.Localized(
        "保有記録の最古の時点（開始は未確定）", "the oldest record held (start not established)"
    ),
    WindowBasis.FIRST_CLEAN: d.Localized(
        "改ざんの解消を最初に確認した時点", "the first check that showed the page clean again"
    ),
    WindowBasis.ONGOING: d.Localized("解消未確認", "not yet shown clean"),
    WindowBasis.EVIDENCE: d.Localized("調査で判明した時点", "a time established by the investigation"),
    WindowBasis.FORCED: d.Localized("担当者が指定した時点", "a time set by the investigator"),
}

_CLOCK_NAMES = {
    ClockName.PRELIMINARY: d.Localized("個人情報保護委員会への速報", "Preliminary report to the PPC"),
    ClockName.FINAL: d.Localized("個人情報保護委員会への確報", "Final report to the PPC"),
    ClockName.NOTICE: d.Localized("本人への通知", "Notice to individuals"),
}


def _text(details: Mapping[str, Any], key: str) -> str | None:
    value = details.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _time(details: Mapping[str, Any], key: str) -> datetime | None:
    value = _text(details, key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _date(details: Mapping[str, Any], key: str) -> date | None:
    value = _text(details, key)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _items(details: Mapping[str, Any], key: str, default: Sequence[d.DataItem]) -> tuple[d.DataItem, ...]:
    raw = details.get(key)
    if isinstance(raw, list):
        known = {i.value for i in d.DataItem}
        return tuple(d.DataItem(v) for v in raw if isinstance(v, str) and v in known)
    return tuple(default)


def _windows(windows: Sequence[ExposureWindow]) -> tuple[d.ExposureWindow, ...]:
    return tuple(
        d.ExposureWindow(
            variant=w.variant,
            pages=(w.page,),
            start=w.start,
            end=w.end,
            ongoing=w.ongoing,
            start_basis=_BASIS.get(w.start_basis),
            end_basis=_BASIS.get(w.end_basis),
        )
        for w in windows
    )


def _counts(summary: Mapping[str, Any] | None) -> d.Counts:
    if not summary:
        return d.Counts()
    c = summary.get("counts", {})

    def num(key: str) -> int | None:
        value = c.get(key)
        return value if isinstance(value, int) else None

    def by(key: str) -> tuple[d.IdentifierCount, ...]:
        known = {i.value for i in d.Identifier}
        raw = c.get(key, {})
        return tuple(
            d.IdentifierCount(d.Identifier(k), v)
            for k, v in sorted(raw.items())
            if k in known and isinstance(v, int) and v
        )

    return d.Counts(
        people=num("people"),
        cards=num("cards"),
        card_orders=num("card_orders"),
        sessions_card_no_order=num("sessions_card_entered_no_card_order"),
        sessions_page_reached=num("sessions_card_page_reached"),
        registrations=num("registrations"),
        people_by=by("people_by_basis"),
        cards_by=by("cards_by_basis"),
    )


def _non_card(incident: Incident, summary: Mapping[str, Any] | None, key: str) -> d.NonCardImpact | None:
    if summary is None:
        return None
    if summary.get(key):
        return d.NonCardImpact.AFFECTED
    if any(v.fake_form for v in incident.variants):
        return d.NonCardImpact.IF_CARD_ENTERED
    return d.NonCardImpact.NOT_AFFECTED


def _causes(
    incident: Incident, details: Mapping[str, Any], script_urls: Mapping[str, str], site_host: str
) -> tuple[d.Cause, ...]:
    given = details.get("cause")
    if isinstance(given, Mapping) and given.get("kind") in {k.value for k in d.CauseKind}:
        return (
            d.Cause(
                kind=d.CauseKind(given["kind"]),
                vendor=given.get("vendor") if isinstance(given.get("vendor"), str) else None,
                detail=given.get("detail") if isinstance(given.get("detail"), str) else None,
            ),
        )
    out: list[d.Cause] = []
    for v in incident.variants:
        url = next((script_urls[fp] for fp in v.fingerprints if fp in script_urls), None)
        host = (urlsplit(url).hostname or "") if url else ""
        if v.fake_form:
            out.append(d.Cause(kind=d.CauseKind.FAKE_CARD_FORM))
        elif not v.kind.takes_card and incident.registration_pages and set(v.pages) & set(incident.registration_pages):
            out.append(d.Cause(kind=d.CauseKind.REGISTRATION_PAGE))
        elif host and site_host and host != site_host and not host.endswith("." + site_host):
            out.append(d.Cause(kind=d.CauseKind.THIRD_PARTY_SCRIPT, vendor=host, script_url=url))
        else:
            out.append(d.Cause(kind=d.CauseKind.PAGE_SCRIPT, script_url=url))
    unique: dict[tuple[str, str | None], d.Cause] = {}
    for c in out:
        unique.setdefault((c.kind.value, c.vendor), c)
    return tuple(unique.values())


def _masked_cards(people: Sequence[PersonRow]) -> tuple[d.MaskedCard, ...]:
    cards: dict[str, d.MaskedCard] = {}
    for p in people:
        for c in p.exposure.get("cards", []):
            if not isinstance(c, Mapping) or not isinstance(c.get("masked"), str):
                continue
            key = str(c.get("key") or c["masked"])
            if key in cards:
                continue
            cards[key] = d.MaskedCard(
                masked=c["masked"],
                expiry=c.get("expiry") if isinstance(c.get("expiry"), str) else None,
                first_at=datetime.fromisoformat(c["first_at"]) if isinstance(c.get("first_at"), str) else None,
                last_at=datetime.fromisoformat(c["last_at"]) if isinstance(c.get("last_at"), str) else None,
                uses=c["uses"] if isinstance(c.get("uses"), int) else 1,
            )
    return tuple(sorted(cards.values(), key=lambda m: (m.first_at or _EPOCH, m.masked)))


def _timeline(
    incident: Incident, windows: Sequence[ExposureWindow], details: Mapping[str, Any]
) -> tuple[d.TimelineEvent, ...]:
    events: list[d.TimelineEvent] = []
    firsts = [w.first_skimmer for w in windows if w.first_skimmer is not None]
    if firsts:
        events.append(
            d.TimelineEvent(
                min(firsts),
                d.Localized("監視ツールが決済画面の改ざんを検知", "Monitoring detected the altered payment page"),
                public=False,
            )
        )
    events.append(d.TimelineEvent(incident.known_at, d.Localized("当社が本件を認識", "We learned of the incident")))
    stopped = _time(details, "card_payment_stopped_at")
    if stopped is not None:
        events.append(d.TimelineEvent(stopped, d.Localized("クレジットカード決済を停止", "Card payment stopped")))
    removed = _time(details, "skimmer_removed_at")
    if removed is not None:
        events.append(d.TimelineEvent(removed, d.Localized("不正なプログラムを除去", "The malicious code was removed")))
    events.sort(key=lambda e: e.at if isinstance(e.at, datetime) else datetime.combine(e.at, time(), UTC))
    return tuple(events)


def draft_context(
    incident: Incident,
    windows: Sequence[ExposureWindow],
    *,
    details: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    people: Sequence[PersonRow],
    clocks: Sequence[Clock],
    findings: Sequence[tuple[str, str, str]],  # (fingerprint, rule ID, title)
    script_urls: Mapping[str, str],  # fingerprint -> the script the finding names
    site_url: str | None,
    operator: str | None = None,
    shop_name: str | None = None,
    issued_on: date | None = None,
) -> d.DraftContext:
    """The drafts' input for ``incident``; ``details`` (recorded shop facts) win over defaults."""
    site_host = (urlsplit(site_url).hostname or "") if site_url else ""
    takes_card = any(v.kind.takes_card for v in incident.variants)
    takes_personal = any(v.kind.takes_personal for v in incident.variants)
    enquiry_raw = details.get("enquiry")
    enquiry = None
    if isinstance(enquiry_raw, Mapping):
        enquiry = d.Enquiry(
            **{
                k: enquiry_raw[k]
                for k in ("name", "phone", "email", "url", "hours")
                if isinstance(enquiry_raw.get(k), str)
            }
        )
    prevention_raw = details.get("prevention")
    prevention = tuple(p for p in prevention_raw if isinstance(p, str)) if isinstance(prevention_raw, list) else ()
    channels = {"email": 0, "postal": 0, "substitute": 0}
    for p in people:
        channels[p.channel] = channels.get(p.channel, 0) + 1
    stage_text = _text(details, "stage")
    fraud = details.get("fraud_reports")
    return d.DraftContext(
        incident_id=incident.id,
        known_at=incident.known_at,
        windows=_windows(windows),
        zone=incident.zone,
        operator=_text(details, "operator") or operator,
        shop_name=_text(details, "shop_name") or shop_name,
        site_url=_text(details, "site_url") or site_url,
        issued_on=issued_on,
        stage=d.ReportStage(stage_text)
        if stage_text in {s.value for s in d.ReportStage}
        else d.ReportStage.PRELIMINARY,
        detected_how=_text(details, "detected_how"),
        card_items=_items(details, "card_items", CARD_ITEMS if takes_card else ()),
        registration_items=_items(details, "registration_items", PERSONAL_ITEMS if takes_personal else ()),
        counts=_counts(summary),
        pickup=_non_card(incident, summary, "store_pickup_affected"),
        cash_on_delivery=_non_card(incident, summary, "cash_on_delivery_affected"),
        causes=_causes(incident, details, script_urls, site_host),
        fraud_reports=fraud if isinstance(fraud, int) else None,
        secondary_harm=_text(details, "secondary_harm"),
        timeline=_timeline(incident, windows, details),
        notices=d.NoticeStats(email=channels["email"], letter=channels["postal"], substitute=channels["substitute"]),
        published_on=_date(details, "published_on"),
        publication_delay_reason=_text(details, "publication_delay_reason"),
        card_payment_stopped_at=_time(details, "card_payment_stopped_at"),
        skimmer_removed_at=_time(details, "skimmer_removed_at"),
        card_payment_restart=_text(details, "card_payment_restart"),
        prevention=prevention,
        regulator_reported_on=_date(details, "regulator_reported_on"),
        police_reported_on=_date(details, "police_reported_on"),
        police_station=_text(details, "police_station"),
        investigator=_text(details, "investigator"),
        deadlines=tuple(
            d.Deadline(
                name=_CLOCK_NAMES[c.name],
                due=c.due_on,
                basis=d.Localized(
                    f"認識日から{c.days}日以内" if c.days else "速やかに",
                    f"within {c.days} days of learning of it" if c.days else "promptly",
                ),
                done_on=c.done_at.date() if c.done_at is not None else None,
            )
            for c in clocks
            if c.applies and c.due_on is not None
        ),
        enquiry=enquiry,
        masked_cards=_masked_cards(people),
        findings=tuple(d.FindingRef(fp[:12], rule, title) for fp, rule, title in findings),
    )
