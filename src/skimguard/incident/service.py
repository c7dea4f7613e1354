"""The incident workflow over the store: what ``skimguard incident ...`` does, without the CLI.

It joins the pure parts: the stored incident and the scanner's history become the scoping model
(:mod:`skimguard.incident.model`), the windows are computed (:mod:`~skimguard.incident.window`),
imports are scoped (:mod:`~skimguard.incident.scope`), people get a channel
(:mod:`~skimguard.incident.notify`), clocks run (:mod:`~skimguard.incident.deadlines`) and drafts are
filled (:mod:`~skimguard.incident.drafting`). Store access goes through
:mod:`skimguard.incident.storage`.

A variant is the set of findings the user grouped under one name; its pages are the URL paths where
the scanner saw those findings (or the pages the user gave). Its kind comes from the rules: a fake
card form (SG307 card asked twice, SG308 overlay) is a fake-form variant, whose window a
"payment stopped" end does not close; personal data alone (SG502) is a personal-data variant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skimguard.incident import storage
from skimguard.incident.deadlines import APPI, Clock, ClockName, Deadlines, Trigger, assess, clocks, incident_triggers
from skimguard.incident.model import (
    AffectedSet,
    DataKind,
    Edge,
    EvidenceKind,
    ExposureWindow,
    Incident,
    IncidentError,
    Observation,
    Reason,
    Variant,
    VariantKind,
    WindowEvidence,
)
from skimguard.incident.notify import Channel, ChannelReason, Notification, notification_list, person_ref
from skimguard.incident.records import Bounce, CheckoutSession, Order, Registration
from skimguard.incident.scope import scope, scope_summary
from skimguard.incident.window import incident_windows, observations_from_sightings
from skimguard.store import Store

__all__ = [
    "FAKE_FORM_RULES",
    "PERSONAL_RULES",
    "Loaded",
    "Suggestion",
    "deadlines_from_settings",
    "done_times",
    "load_incident",
    "notifications_from_people",
    "people_rows",
    "run_scope",
    "status_clocks",
    "suggestions",
    "summary",
]

FAKE_FORM_RULES = frozenset({"SG307", "SG308"})  # the page shows a card form of the attacker's
PERSONAL_RULES = frozenset({"SG502"})  # personal data (not card data) left the page


@dataclass(frozen=True)
class Loaded:
    """A stored incident as the pure parts need it."""

    row: storage.IncidentRow
    incident: Incident
    observations: tuple[Observation, ...]
    evidence: tuple[WindowEvidence, ...]

    def windows(self, *, earliest_data: datetime | None = None) -> tuple[ExposureWindow, ...]:
        return incident_windows(self.incident, self.observations, self.evidence, earliest_data=earliest_data)


def _variant_settings(row: storage.IncidentRow) -> Mapping[str, Mapping[str, Any]]:
    raw = row.details.get("variants", {})
    return raw if isinstance(raw, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if isinstance(v, str) and v)
    return ()


def load_incident(store: Store, incident_id: str) -> Loaded:
    """The stored incident, its variants (with pages from the scanner's sightings), observations
    and window evidence. Raises :class:`IncidentError` when it cannot be scoped (a variant on no page)."""
    row = storage.get_incident(store, incident_id)
    if row is None:
        raise IncidentError(f"no incident {incident_id!r}", hint="see 'skimguard incident list'")
    sightings = storage.sightings(store, incident_id)
    rules = _rule_ids(store, row)
    settings = _variant_settings(row)
    variants: list[Variant] = []
    for name, fingerprints in row.variants.items():
        fps = set(fingerprints)
        seen_paths = tuple(dict.fromkeys(s.path for s in sightings if s.fingerprint in fps and s.seen))
        own = settings.get(name, {})
        pages = _strings(own.get("pages")) or seen_paths
        if not pages:
            raise IncidentError(
                f"variant {name!r} of {incident_id} was never seen on a page",
                hint=f"give its pages: skimguard incident set {incident_id} --variant {name} --page /path",
            )
        variant_rules = tuple(sorted({rules[fp] for fp in fps if fp in rules}))
        kind_text = own.get("kind")
        if isinstance(kind_text, str) and kind_text in {k.value for k in VariantKind}:
            kind = VariantKind(kind_text)
        elif variant_rules and set(variant_rules) <= PERSONAL_RULES:
            kind = VariantKind.PERSONAL
        else:
            kind = VariantKind.CARD
        fake = own.get("fake_form")
        fake_form = bool(fake) if isinstance(fake, bool) else bool(FAKE_FORM_RULES & set(variant_rules))
        variants.append(
            Variant(
                name=name,
                pages=pages,
                kind=kind,
                fingerprints=tuple(sorted(fps)),
                rule_ids=variant_rules,
                fake_form=fake_form,
            )
        )
    incident = Incident(
        id=row.id,
        site=row.site,
        known_at=row.known_at,
        variants=tuple(variants),
        zone=row.zone,
        card_pages=_strings(row.details.get("card_pages")),
        registration_pages=_strings(row.details.get("registration_pages")),
        title=row.title,
    )
    evidence = tuple(
        WindowEvidence(
            kind=EvidenceKind(e.kind),
            at=e.at,
            edge=Edge(e.edge),
            source=e.source,
            variant=e.variant or None,
            page=e.page or None,
            forced=e.forced,
        )
        for e in storage.evidence(store, incident_id)
    )
    return Loaded(row, incident, observations_from_sightings(incident, sightings), evidence)


@dataclass(frozen=True)
class Suggestion:
    """A window refinement the server side suggests: a file or row that explains one of the
    incident's findings (``webroot scan --correlate``, ``db scan --correlate``) and its mtime.
    Shown, never applied on its own: a later start means fewer people told, so a human decides."""

    variant: str
    at: datetime
    location: str
    reason: str


def suggestions(store: Store, loaded: Loaded) -> list[Suggestion]:
    """Start-edge suggestions from the correlation links on the incident's findings."""
    from skimguard.webroot.links import explained_by

    variant_of = {fp: variant for fp, variant in loaded.row.findings}
    out: dict[tuple[str, str], Suggestion] = {}
    for sf in store.findings(loaded.row.site, status=None):
        variant = variant_of.get(sf.fingerprint)
        if variant is None:
            continue
        for link in explained_by(sf.finding.evidence):
            mtime, location = link.get("mtime"), link.get("location")
            if not isinstance(mtime, str) or not isinstance(location, str):
                continue
            try:
                at = datetime.fromisoformat(mtime)
            except ValueError:
                continue
            if at.tzinfo is None:
                continue
            out.setdefault((variant, location), Suggestion(variant, at, location, str(link.get("reason", ""))))
    return sorted(out.values(), key=lambda x: (x.variant, x.at, x.location))


def _rule_ids(store: Store, row: storage.IncidentRow) -> dict[str, str]:
    wanted = {fp for fp, _ in row.findings}
    return {
        sf.fingerprint: sf.finding.rule_id for sf in store.findings(row.site, status=None) if sf.fingerprint in wanted
    }


# ---- scoping --------------------------------------------------------------------------------


def run_scope(
    loaded: Loaded,
    *,
    orders: Iterable[Order] = (),
    sessions: Iterable[CheckoutSession] = (),
    registrations: Iterable[Registration] = (),
    earliest_data: datetime | None = None,
) -> AffectedSet:
    return scope(
        loaded.incident,
        loaded.windows(earliest_data=earliest_data),
        orders=orders,
        sessions=sessions,
        registrations=registrations,
    )


def people_rows(affected: AffectedSet, bounces: Iterable[Bounce] = ()) -> list[storage.PersonRow]:
    """The people to store: reference (never the e-mail), channel, contact and exposure (with the
    masked cards, for the acquirer's list)."""
    cards = {c.key: c for c in affected.cards}
    by_key = {p.key: p for p in affected.people}
    rows: list[storage.PersonRow] = []
    for n in notification_list(affected, bounces):
        person = by_key.get(n.person)
        basis = person.basis.value if person is not None else n.person.split(":", 1)[0]
        own_cards = [cards[k] for k in (person.cards if person is not None else ()) if k in cards]
        rows.append(
            storage.PersonRow(
                person=n.ref,
                basis=basis,
                channel=n.channel.value,
                contact={
                    "name": n.name,
                    "email": n.email,
                    "postal_code": n.postal_code,
                    "address": n.address,
                    "phone": n.phone,
                },
                exposure={
                    "reason": n.reason.value,
                    "data": sorted(d.value for d in n.data),
                    "reasons": sorted(r.value for r in n.reasons),
                    "card_last4": list(n.card_last4),
                    "cards": [
                        {
                            "masked": c.masked,
                            "expiry": c.expiry,
                            "first_at": c.first_at.isoformat(),
                            "last_at": c.last_at.isoformat(),
                            "uses": c.payments,
                            "key": person_ref(c.key),
                        }
                        for c in own_cards
                    ],
                    "orders": list(person.orders) if person is not None else [],
                    "first_at": n.first_at.isoformat(),
                    "last_at": n.last_at.isoformat(),
                },
            )
        )
    return rows


def summary(affected: AffectedSet, zone: str) -> dict[str, Any]:
    return scope_summary(affected, zone)


def notifications_from_people(rows: Sequence[storage.PersonRow]) -> list[Notification]:
    """The stored people as notifications again (for the mail-merge export and the drafts)."""
    out: list[Notification] = []
    for r in rows:
        c, e = r.contact, r.exposure
        out.append(
            Notification(
                person=r.person,
                ref=r.person,
                channel=Channel(r.channel),
                reason=ChannelReason(str(e.get("reason", ChannelReason.NO_EMAIL.value))),
                name=c.get("name"),
                email=c.get("email"),
                postal_code=c.get("postal_code"),
                address=c.get("address"),
                phone=c.get("phone"),
                data=frozenset(DataKind(d) for d in e.get("data", [])),
                reasons=frozenset(Reason(x) for x in e.get("reasons", [])),
                card_last4=tuple(str(x) for x in e.get("card_last4", [])),
                first_at=datetime.fromisoformat(str(e["first_at"])),
                last_at=datetime.fromisoformat(str(e["last_at"])),
            )
        )
    return out


# ---- clocks ---------------------------------------------------------------------------------


def deadlines_from_settings(settings: Any) -> Deadlines:
    """The configured deadlines (``incident.deadlines`` in skimguard.yaml) as the pure config."""
    if settings is None:
        return APPI
    return Deadlines(
        preliminary_target_days=tuple(settings.preliminary_target_days),
        final_days_default=settings.final_days,
        final_days={Trigger.WRONGFUL_PURPOSE: settings.final_days_wrongful_purpose},
        people_threshold=settings.people_threshold,
        known_day_is_day_one=settings.known_day_is_day_one,
        notice_days=settings.notice_days,
    )


def done_times(row: storage.IncidentRow) -> dict[ClockName, datetime]:
    """When reports were filed / notices completed, as recorded with ``incident set --done``."""
    raw = row.details.get("done", {})
    out: dict[ClockName, datetime] = {}
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            if name in {c.value for c in ClockName} and isinstance(value, str):
                try:
                    out[ClockName(name)] = datetime.fromisoformat(value)
                except ValueError:
                    continue
    return out


def status_clocks(
    loaded: Loaded, people: int | None, now: datetime, config: Deadlines = APPI
) -> tuple[tuple[Clock, ...], Any]:
    """The regulatory clocks at ``now`` and the reportability assessment behind them."""
    sensitive = bool(loaded.row.details.get("sensitive", False))
    triggers = incident_triggers(loaded.incident, sensitive=sensitive)
    assessment = assess(triggers, people, config)
    return (
        clocks(
            loaded.incident.known_at,
            assessment,
            now,
            zone=loaded.incident.zone,
            config=config,
            done=done_times(loaded.row),
        ),
        assessment,
    )
