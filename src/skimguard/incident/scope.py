"""Who was affected: card payments, card-page visits and registrations inside the exposure windows.

The rules, in the words the reports use:

- **Card orders.** An order paid by card (or by a method the import could not tell, counted as card)
  on an affected page within a window of a card-taking variant. An order that does not say on
  which page the card was entered was paid on the site's card page(s) (:attr:`Incident.card_pages`).
  Cancelled orders count: the card was typed all the same.
- **Card entered, no card order.** A checkout session that posted the card form, or reached the
  card page, within a window, and did not become one of those card orders: the shopper abandoned
  the checkout or switched to cash on delivery or store pickup. With a fake card form (founding
  incident 2) these shoppers lost their card data without any card payment on record. Reached-only
  sessions are flagged apart (``count_reached=False`` leaves them out).
- **Registrations** through an affected registration page within a window of a variant that takes
  personal data.
- Cash on delivery, store pickup and other non-card orders are out, unless a session shows the
  shopper entered a card first.

People and cards are counted separately. A person is a customer ID; without one, a normalized
e-mail; without that, the session or order itself (an upper bound: access logs give no person).
Two customer IDs are never merged, even with one e-mail; an e-mail-only person is merged into the
customer with that e-mail when exactly one customer has it. A card is the payment provider's token;
without one, the masked number (first six and last four) with the expiry; a weaker reference (last
four only, or no expiry) is counted per person, since it cannot tell two people's cards apart; an
order with no reference at all counts as its own card. A token and a masked number with expiry seen
on the same order are the same card. The counts say how many rest on each identifier.

Scoping streams: records are read once from any iterable and only the affected ones (and the
non-card orders in a window, to link sessions to them) are kept, as small tuples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from skimguard.gcpause import gc_paused
from skimguard.incident.model import (
    AffectedCard,
    AffectedPerson,
    AffectedSet,
    CardBasis,
    DataKind,
    ExposureWindow,
    Incident,
    IncidentError,
    PersonBasis,
    Reason,
    ScopeCounts,
    normalize_path,
)
from skimguard.incident.records import (
    CheckoutSession,
    Contact,
    Order,
    PaymentMethod,
    Registration,
    mask_card,
    normalize_email,
)

__all__ = ["MAX_ORDERS_PER_PERSON", "SCHEMA", "Scoper", "scope", "scope_summary"]

SCHEMA = "skimguard.incident-scope/1"

MAX_ORDERS_PER_PERSON = 50  # order IDs kept per person (the count is exact; the list is for humans)
_MAX_PAGE_CACHE = 4096  # distinct raw paths remembered (access logs hold endless query strings)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_CARD_METHODS = frozenset({PaymentMethod.CARD, PaymentMethod.UNKNOWN})
_STRONG_DIGITS = 10  # first six and last four: strong enough to tell two people's cards apart

Spans = tuple[tuple[datetime, datetime], ...]


class _Hit(NamedTuple):
    """One affected event, as little as counting and contacting need."""

    at: datetime
    customer_id: str | None
    email: str | None  # normalized
    fallback: str  # the key when there is neither
    contact: Contact
    reason: Reason
    data: frozenset[DataKind]
    order_id: str | None
    card: tuple[str | None, str | None, str | None] | None  # (token, masked, expiry) for card orders


class _Session(NamedTuple):
    at: datetime
    posted: bool
    order_id: str | None
    customer_id: str | None
    email: str | None
    contact: Contact
    personal: bool  # the page also had a variant taking personal data


class _NonCard(NamedTuple):
    method: str
    customer_id: str | None
    email: str | None
    contact: Contact


def _merge(spans: list[tuple[datetime, datetime]]) -> Spans:
    spans.sort()
    out: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def _inside(spans: Spans, at: datetime) -> bool:
    for start, end in spans:  # noqa: SIM110 - a plain loop: this runs once per record
        if start <= at <= end:
            return True
    return False


def _masked_ref(value: str | None) -> str | None:
    """The masked card number as the importer kept it (``411111******1111``, ``****1111``); a bare
    full number that slipped through is masked here, never kept."""
    if value is None:
        return None
    if value.isdigit() and len(value) >= 12:
        return mask_card(value)
    return value


def _strong(masked: str) -> bool:
    """Does a masked number show enough digits (first six and last four) to tell cards apart?"""
    return len(masked) - masked.count("*") >= _STRONG_DIGITS


def _contact_score(c: Contact) -> int:
    return (c.email is not None) * 4 + (c.address is not None) * 2 + (c.name is not None) + (c.postal_code is not None)


class _PageIndex:
    """Spans per page for one data kind, with ``*`` prefix patterns and a bounded cache of raw paths."""

    def __init__(self, spans: dict[str, list[tuple[datetime, datetime]]]) -> None:
        self.exact: dict[str, Spans] = {}
        self.prefixes: list[tuple[str, Spans]] = []
        for page, items in spans.items():
            merged = _merge(items)
            if page.endswith("*"):
                self.prefixes.append((page[:-1], merged))
            else:
                self.exact[page] = merged
        self.cache: dict[str, Spans] = {}
        every = [s for v in self.exact.values() for s in v] + [s for _, v in self.prefixes for s in v]
        self.lo = min((s for s, _ in every), default=_LATEST)
        self.hi = max((e for _, e in every), default=_EARLIEST)

    def lookup(self, raw: str) -> Spans:
        hit = self.cache.get(raw)
        if hit is not None:
            return hit
        path = normalize_path(raw)
        found = list(self.exact.get(path, ()))
        for prefix, spans in self.prefixes:
            if path.startswith(prefix):
                found.extend(spans)
        result = _merge(found) if found else ()
        if len(self.cache) < _MAX_PAGE_CACHE:
            self.cache[raw] = result
        return result

    def union(self, pages: Iterable[str]) -> Spans:
        found: list[tuple[datetime, datetime]] = []
        for page in pages:
            found.extend(self.lookup(page))
        return _merge(found)


class _Union:
    """Union-find over card keys: a token and a masked number + expiry on one order are one card."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        parent = self.parent.get(key)
        if parent is None:  # never linked to anything: its own card
            return key
        while parent != key:
            grand = self.parent[parent]
            self.parent[key] = grand
            key, parent = parent, grand
        return key

    def union(self, a: str, b: str) -> None:
        self.parent.setdefault(a, a)
        self.parent.setdefault(b, b)
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class Scoper:
    """Streaming scoping: feed orders, sessions and registrations in any order, then :meth:`result`."""

    def __init__(self, incident: Incident, windows: Iterable[ExposureWindow], *, count_reached: bool = True) -> None:
        self.incident = incident
        self.windows = tuple(windows)
        self.count_reached = count_reached
        card: dict[str, list[tuple[datetime, datetime]]] = {}
        personal: dict[str, list[tuple[datetime, datetime]]] = {}
        kinds = {v.name: v.kind for v in incident.variants}
        for w in self.windows:
            kind = kinds.get(w.variant)
            if kind is None:
                raise IncidentError(f"window of unknown variant {w.variant!r} for incident {incident.id}")
            span = (w.start or _EARLIEST, w.end or _LATEST)
            if kind.takes_card:
                card.setdefault(w.page, []).append(span)
            if kind.takes_personal:
                personal.setdefault(w.page, []).append(span)
        self._card = _PageIndex(card)
        self._personal = _PageIndex(personal)
        self._card_default = self._card.union(incident.default_card_pages)
        self._personal_on_card_default = self._personal.union(incident.default_card_pages)
        self._reg_default = self._personal.union(incident.default_registration_pages)
        self._hits: list[_Hit] = []
        self._sessions: dict[str, _Session] = {}
        self._non_card: dict[str, _NonCard] = {}
        self._affected_orders: set[str] = set()
        self._non_card_in_window: Counter[str] = Counter()
        self._unknown_method = 0
        self._seen: Counter[str] = Counter()
        self._linked = 0
        self._entered_then_other: Counter[str] = Counter()

    # -- streams ---------------------------------------------------------------------------

    def add_orders(self, orders: Iterable[Order]) -> None:
        lo, hi = self._card.lo, self._card.hi
        default = self._card_default
        lookup = self._card.lookup
        personal = self._personal
        hits = self._hits
        n = 0
        order: Order | None = None
        try:
            for order in orders:
                n += 1
                at = order.placed_at
                if at < lo or at > hi:
                    continue
                page = order.page
                spans = default if page is None else lookup(page)
                if not spans or not _inside(spans, at):
                    continue
                if order.payment not in _CARD_METHODS:
                    self._non_card_in_window[order.payment.value] += 1
                    self._non_card[order.order_id] = _NonCard(
                        order.payment.value, order.customer_id, normalize_email(order.contact.email), order.contact
                    )
                    continue
                if order.order_id in self._affected_orders:  # the same order imported twice
                    self._seen["duplicate orders"] += 1
                    continue
                if order.payment is PaymentMethod.UNKNOWN:
                    self._unknown_method += 1
                personal_spans = self._personal_on_card_default if page is None else personal.lookup(page)
                data = _CARD_AND_PERSONAL if personal_spans and _inside(personal_spans, at) else _CARD_ONLY
                self._affected_orders.add(order.order_id)
                hits.append(
                    _Hit(
                        at,
                        order.customer_id,
                        normalize_email(order.contact.email),
                        f"order:{order.order_id}",
                        order.contact,
                        Reason.CARD_ORDER,
                        data,
                        order.order_id,
                        (order.card_token, _masked_ref(order.card_masked), order.card_expiry),
                    )
                )
        except TypeError as exc:
            ref = order.order_id if order is not None else "?"
            raise IncidentError(f"order {ref!r}: time without a zone ({exc})", hint=_NAIVE_HINT) from exc
        finally:
            self._seen["orders"] += n

    def add_sessions(self, sessions: Iterable[CheckoutSession]) -> None:
        lo, hi = self._card.lo, self._card.hi
        lookup = self._card.lookup
        personal = self._personal
        kept = self._sessions
        n = 0
        session: CheckoutSession | None = None
        try:
            for session in sessions:
                n += 1
                at = session.at
                if at < lo or at > hi:
                    continue
                spans = lookup(session.path)
                if not spans or not _inside(spans, at):
                    continue
                if not session.posted and not self.count_reached:
                    continue
                sid = session.session_id
                before = kept.get(sid)
                pspans = personal.lookup(session.path)
                is_personal = bool(pspans) and _inside(pspans, at)
                if before is None:
                    kept[sid] = _Session(
                        at,
                        session.posted,
                        session.order_id,
                        session.customer_id,
                        normalize_email(session.contact.email),
                        session.contact,
                        is_personal,
                    )
                else:  # the same visit seen again (page reached, then form posted): keep what we learn
                    kept[sid] = _Session(
                        min(before.at, at),
                        before.posted or session.posted,
                        before.order_id or session.order_id,
                        before.customer_id or session.customer_id,
                        before.email or normalize_email(session.contact.email),
                        before.contact
                        if _contact_score(before.contact) >= _contact_score(session.contact)
                        else session.contact,
                        before.personal or is_personal,
                    )
        except TypeError as exc:
            ref = session.session_id if session is not None else "?"
            raise IncidentError(f"session {ref!r}: time without a zone ({exc})", hint=_NAIVE_HINT) from exc
        finally:
            self._seen["sessions"] += n

    def add_registrations(self, registrations: Iterable[Registration]) -> None:
        lo, hi = self._personal.lo, self._personal.hi
        default = self._reg_default
        lookup = self._personal.lookup
        n = 0
        reg: Registration | None = None
        try:
            for reg in registrations:
                n += 1
                at = reg.at
                if at < lo or at > hi:
                    continue
                spans = default if reg.page is None else lookup(reg.page)
                if not spans or not _inside(spans, at):
                    continue
                self._hits.append(
                    _Hit(
                        at,
                        reg.customer_id,
                        normalize_email(reg.contact.email),
                        f"customer:{reg.customer_id}",
                        reg.contact,
                        Reason.REGISTRATION,
                        _PERSONAL_ONLY,
                        None,
                        None,
                    )
                )
        except TypeError as exc:
            ref = reg.customer_id if reg is not None else "?"
            raise IncidentError(f"registration of {ref!r}: time without a zone ({exc})", hint=_NAIVE_HINT) from exc
        finally:
            self._seen["registrations"] += n

    # -- result ----------------------------------------------------------------------------

    def _session_hits(self) -> Iterator[_Hit]:
        """Sessions that did not become an affected card order, as hits; counts the linked ones."""
        for sid, s in self._sessions.items():
            if s.order_id is not None and s.order_id in self._affected_orders:
                self._linked += 1
                continue
            customer_id, email, contact = s.customer_id, s.email, s.contact
            other = self._non_card.get(s.order_id) if s.order_id is not None else None
            if other is not None:
                self._entered_then_other[other.method] += 1
                customer_id = customer_id or other.customer_id
                email = email or other.email
                if _contact_score(other.contact) > _contact_score(contact):
                    contact = other.contact
            reason = Reason.CARD_ENTERED_NO_CARD_ORDER if s.posted else Reason.CARD_PAGE_REACHED
            data = _CARD_AND_PERSONAL if s.personal else _CARD_ONLY
            yield _Hit(s.at, customer_id, email, f"session:{sid}", contact, reason, data, s.order_id, None)

    def result(self) -> AffectedSet:
        """The affected set from everything fed so far (may be called again after feeding more)."""
        with gc_paused():
            return self._result()

    def _result(self) -> AffectedSet:
        self._linked = 0
        self._entered_then_other = Counter()
        hits = [*self._hits, *self._session_hits()]
        reasons = Counter(h.reason for h in hits)

        # people: customer ID, else e-mail (merged into the one customer with it), else the fallback
        customers_by_email: dict[str, set[str]] = {}
        for h in hits:
            if h.customer_id is not None and h.email is not None:
                customers_by_email.setdefault(h.email, set()).add(h.customer_id)
        # cards: a token and a strong masked number + expiry on one order are one card
        links = _Union()
        for h in self._hits:
            card = h.card
            if card is not None and card[0] and card[2] and card[1] is not None and _strong(card[1]):
                links.union("token:" + card[0], "masked:" + card[1] + "|" + card[2])

        merged_emails: set[str] = set()
        without_id = no_ref = 0
        people: dict[str, _PersonAcc] = {}
        cards: dict[str, _CardAcc] = {}
        card_order = Reason.CARD_ORDER
        find = links.find
        for h in hits:
            if h.customer_id is not None:
                key, basis = "customer:" + h.customer_id, PersonBasis.CUSTOMER_ID
            elif h.email is not None:
                owners = customers_by_email.get(h.email)
                if owners is not None and len(owners) == 1:
                    merged_emails.add(h.email)
                    key, basis = "customer:" + next(iter(owners)), PersonBasis.CUSTOMER_ID
                else:
                    key, basis = "email:" + h.email, PersonBasis.EMAIL
            else:
                if h.reason is card_order:
                    without_id += 1
                key = h.fallback
                basis = PersonBasis.SESSION if key.startswith("session:") else PersonBasis.ORDER
            acc = people.get(key)
            if acc is None:
                acc = people[key] = _PersonAcc(key, basis, h)
            else:
                acc.add(h)
            if h.card is None:
                continue
            token, masked, expiry = h.card
            if token:
                root, cbasis = find("token:" + token), CardBasis.TOKEN
            elif masked is not None and expiry and _strong(masked):
                root, cbasis = find("masked:" + masked + "|" + expiry), CardBasis.MASKED_EXPIRY
            elif masked is not None:  # too weak to tell people's cards apart: counted per person
                root = "masked:" + masked + "|" + (expiry or "") + "|" + key
                cbasis = CardBasis.MASKED_EXPIRY if expiry else CardBasis.MASKED
            else:
                no_ref += 1
                root, cbasis = "none:" + (h.order_id or key), CardBasis.NONE
            card_acc = cards.get(root)
            if card_acc is None:
                card_acc = cards[root] = _CardAcc(root)
            card_acc.add(key, h, cbasis)
            acc.cards.append(root)

        person_out = tuple(acc.freeze() for _, acc in sorted(people.items()))
        card_out = tuple(acc.freeze() for _, acc in sorted(cards.items()))
        counts = ScopeCounts(
            people=len(person_out),
            cards=len(card_out),
            card_orders=len(self._affected_orders),
            unknown_method_orders=self._unknown_method,
            sessions_card_entered_no_card_order=reasons[Reason.CARD_ENTERED_NO_CARD_ORDER],
            sessions_card_page_reached=reasons[Reason.CARD_PAGE_REACHED],
            sessions_linked_to_card_orders=self._linked,
            registrations=reasons[Reason.REGISTRATION],
            non_card_orders_in_window=dict(sorted(self._non_card_in_window.items())),
            non_card_orders_with_card_entered=dict(sorted(self._entered_then_other.items())),
            people_by_basis=dict(sorted(Counter(p.basis.value for p in person_out).items())),
            cards_by_basis=dict(sorted(Counter(c.basis.value for c in card_out).items())),
            orders_without_person_id=without_id,
            orders_without_card_ref=no_ref,
            guests_merged_by_email=len(merged_emails),
            seen=dict(sorted(self._seen.items())),
        )
        return AffectedSet(
            incident=self.incident.id,
            windows=self.windows,
            people=person_out,
            cards=card_out,
            counts=counts,
            store_pickup_affected=self._entered_then_other[PaymentMethod.STORE_PICKUP.value] > 0,
            cash_on_delivery_affected=self._entered_then_other[PaymentMethod.CASH_ON_DELIVERY.value] > 0,
        )


_NAIVE_HINT = "importers must give aware UTC times (convert the shop's local time first)"
_CARD_ONLY = frozenset({DataKind.CARD})
_PERSONAL_ONLY = frozenset({DataKind.PERSONAL})
_CARD_AND_PERSONAL = frozenset({DataKind.CARD, DataKind.PERSONAL})


_BITS: dict[DataKind | Reason, int] = {
    **{k: 1 << n for n, k in enumerate(DataKind)},
    **{k: 1 << (8 + n) for n, k in enumerate(Reason)},
}
_SETS: dict[int, tuple[frozenset[DataKind], frozenset[Reason]]] = {}


def _sets(mask: int) -> tuple[frozenset[DataKind], frozenset[Reason]]:
    """The data kinds and reasons a bit mask stands for (a handful of combinations, made once)."""
    found = _SETS.get(mask)
    if found is None:
        found = _SETS[mask] = (
            frozenset(k for k in DataKind if mask & _BITS[k]),
            frozenset(k for k in Reason if mask & _BITS[k]),
        )
    return found


def _mask(h: _Hit) -> int:
    mask = _BITS[h.reason]
    for kind in h.data:
        mask |= _BITS[kind]
    return mask


class _PersonAcc:
    """What we gather about one person while building the result (ints and lists: there may be
    hundreds of thousands of them)."""

    __slots__ = ("basis", "cards", "contact", "first", "key", "last", "mask", "orders", "rank", "sessions")

    def __init__(self, key: str, basis: PersonBasis, h: _Hit) -> None:
        self.key = key
        self.basis = basis
        self.contact = h.contact
        self.rank = (_contact_score(h.contact), h.at)
        self.mask = _mask(h)
        self.cards: list[str] = []
        self.orders: list[str] = []
        self.sessions = 0
        self.first = self.last = h.at
        self._count(h)

    def _count(self, h: _Hit) -> None:
        if h.reason is Reason.CARD_ORDER:
            if h.order_id is not None and len(self.orders) < MAX_ORDERS_PER_PERSON:
                self.orders.append(h.order_id)
        elif h.reason is not Reason.REGISTRATION:
            self.sessions += 1

    def add(self, h: _Hit) -> None:
        rank = (_contact_score(h.contact), h.at)
        if rank > self.rank:  # the most complete contact, the latest among equals
            self.contact, self.rank = h.contact, rank
        self.mask |= _mask(h)
        self._count(h)
        if h.at < self.first:
            self.first = h.at
        elif h.at > self.last:
            self.last = h.at

    def freeze(self) -> AffectedPerson:
        data, reasons = _sets(self.mask)
        cards = self.cards
        orders = self.orders
        return AffectedPerson(
            key=self.key,
            basis=self.basis,
            contact=self.contact,
            data=data,
            reasons=reasons,
            customer_id=self.key[9:] if self.basis is PersonBasis.CUSTOMER_ID else None,
            cards=tuple(cards) if len(cards) < 2 else tuple(sorted(set(cards))),
            orders=tuple(orders) if len(orders) < 2 else tuple(sorted(orders)),
            sessions=self.sessions,
            first_at=self.first,
            last_at=self.last,
        )


_CARD_RANK = {CardBasis.TOKEN: 0, CardBasis.MASKED_EXPIRY: 1, CardBasis.MASKED: 2, CardBasis.NONE: 3}


class _CardAcc:
    __slots__ = ("basis", "expiry", "first", "key", "last", "masked", "payments", "people")

    def __init__(self, key: str) -> None:
        self.key = key
        self.basis = CardBasis.NONE
        self.masked: str | None = None
        self.expiry: str | None = None
        self.payments = 0
        self.people: set[str] = set()
        self.first: datetime | None = None
        self.last: datetime | None = None

    def add(self, person: str, h: _Hit, basis: CardBasis) -> None:
        assert h.card is not None
        _token, masked, expiry = h.card
        if _CARD_RANK[basis] < _CARD_RANK[self.basis] or self.payments == 0:
            self.basis = basis
        self.masked = self.masked or masked
        self.expiry = self.expiry or expiry
        self.payments += 1
        self.people.add(person)
        self.first = h.at if self.first is None else min(self.first, h.at)
        self.last = h.at if self.last is None else max(self.last, h.at)

    def freeze(self) -> AffectedCard:
        assert self.first is not None and self.last is not None
        return AffectedCard(
            key=self.key,
            basis=self.basis,
            masked=self.masked,
            expiry=self.expiry,
            payments=self.payments,
            people=tuple(sorted(self.people)),
            first_at=self.first,
            last_at=self.last,
        )


def scope(
    incident: Incident,
    windows: Iterable[ExposureWindow],
    *,
    orders: Iterable[Order] = (),
    sessions: Iterable[CheckoutSession] = (),
    registrations: Iterable[Registration] = (),
    count_reached: bool = True,
) -> AffectedSet:
    """Scope an incident in one pass over each stream (see the module docstring for the rules)."""
    s = Scoper(incident, windows, count_reached=count_reached)
    s.add_orders(orders)
    s.add_sessions(sessions)
    s.add_registrations(registrations)
    return s.result()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def scope_summary(affected: AffectedSet, zone: str | None = None) -> dict[str, Any]:
    """The scoping result as JSON-ready data (versioned ``schema``): windows with their bases and
    evidence, the counts and what they rest on. No person or card appears here (the people list
    is stored and exported apart); times are UTC, with the shop-zone rendering when ``zone`` is given."""
    from skimguard.incident.window import format_local

    def shown(value: datetime | None) -> dict[str, str | None]:
        out: dict[str, str | None] = {"utc": _iso(value)}
        if zone is not None:
            out["local"] = format_local(value, zone) if value is not None else None
        return out

    c = affected.counts
    return {
        "schema": SCHEMA,
        "incident": affected.incident,
        "windows": [
            {
                "variant": w.variant,
                "page": w.page,
                "episode": w.episode,
                "start": shown(w.start),
                "end": shown(w.end),
                "start_basis": w.start_basis.value,
                "end_basis": w.end_basis.value,
                "start_source": w.start_source,
                "end_source": w.end_source,
                "unbounded_start": w.unbounded_start,
                "ongoing": w.ongoing,
                "forced": w.forced,
                "evidence": [
                    {
                        "kind": e.kind.value,
                        "edge": e.edge.value,
                        "at": _iso(e.at),
                        "source": e.source,
                        "forced": e.forced,
                        "note": note.value,
                    }
                    for e, note in w.evidence
                ],
            }
            for w in affected.windows
        ],
        "counts": {
            "people": c.people,
            "cards": c.cards,
            "card_orders": c.card_orders,
            "unknown_method_orders": c.unknown_method_orders,
            "sessions_card_entered_no_card_order": c.sessions_card_entered_no_card_order,
            "sessions_card_page_reached": c.sessions_card_page_reached,
            "sessions_linked_to_card_orders": c.sessions_linked_to_card_orders,
            "registrations": c.registrations,
            "non_card_orders_in_window": dict(c.non_card_orders_in_window),
            "non_card_orders_with_card_entered": dict(c.non_card_orders_with_card_entered),
            "people_by_basis": dict(c.people_by_basis),
            "cards_by_basis": dict(c.cards_by_basis),
            "orders_without_person_id": c.orders_without_person_id,
            "orders_without_card_ref": c.orders_without_card_ref,
            "guests_merged_by_email": c.guests_merged_by_email,
            "seen": dict(c.seen),
        },
        "store_pickup_affected": affected.store_pickup_affected,
        "cash_on_delivery_affected": affected.cash_on_delivery_affected,
        "data": sorted({d.value for p in affected.people for d in p.data}),
    }
