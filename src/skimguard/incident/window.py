"""Exposure windows: since when and until when shoppers on a page met a skimmer variant.

The scanner looks at a page now and then; between a look that saw the page clean and the first look
that saw the skimmer, we do not know when the skimmer arrived. The conservative answer, and the
default here, is the last clean look: anyone who paid after it may have been skimmed. The same on
the other side: the window ends at the first clean look after the skimmer, or stays open (ongoing)
while no look has shown the page clean again.

Evidence narrows a window: the modification time of the altered file (web-root scan), the attacker's
first request (access log), a time a person knows ("vendor restored the script at 23:59:59"). Each
refinement is kept with its source, and it may only move an edge *inside* the bounds the looks allow
(a start no earlier than the last clean look and no later than the first skimmer look; an end no
earlier than the last skimmer look and no later than the first clean look). A human may force an
edge beyond them; that is recorded as forced, never silent.

Stopping card payment at the provider ends the exposure of a skimmer that reads the real card
form, but not of a fake card form (founding incident 2): the fake form kept taking cards after the
real payment step was switched off. An end of kind ``payment-stopped`` is therefore ignored (and
noted) for fake-form variants and for variants that take no card data.

A page can be infected twice (cleaned, reinfected): each appearance is its own episode and window.
All times are UTC, floored to the whole second (orders are stamped to the second; flooring both
edges keeps an order stamped in the edge's second inside, the conservative side). The shop's zone
(JST by default, any IANA zone, DST included) is only used to read and show times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skimguard.incident.model import (
    DEFAULT_ZONE,
    Edge,
    EvidenceKind,
    ExposureWindow,
    Incident,
    IncidentError,
    Observation,
    ObservationState,
    Variant,
    VariantKind,
    WindowBasis,
    WindowEvidence,
    WindowNote,
    normalize_path,
    require_utc,
)

__all__ = [
    "SightingLike",
    "exposure_windows",
    "floor_second",
    "format_local",
    "incident_windows",
    "local_day_span",
    "observations_from_sightings",
    "parse_time",
    "to_local",
    "zone_info",
]


# ---------------------------------------------------------------------------------------------
# Zones: read and show times in the shop's zone


def zone_info(name: str) -> ZoneInfo:
    """The IANA zone ``name``; an unknown zone is an :class:`IncidentError`, not a silent UTC."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IncidentError(f"unknown time zone {name!r}", hint="use an IANA zone name such as Asia/Tokyo") from exc


def floor_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def to_local(value: datetime, zone: str = DEFAULT_ZONE) -> datetime:
    return require_utc(value, "time").astimezone(zone_info(zone))


def format_local(value: datetime | None, zone: str = DEFAULT_ZONE, *, ongoing: str = "ongoing") -> str:
    """``2022-07-19 00:00:00 +09:00 (JST)``: the wall-clock time in the shop's zone with the
    offset shown, so a reader never has to guess which day an edge fell on. None gives ``ongoing``."""
    if value is None:
        return ongoing
    local = to_local(value, zone)
    offset = local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:5]}"
    return f"{local:%Y-%m-%d %H:%M:%S} {offset} ({local.tzname()})"


def _candidates(naive: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, bool]:
    """Both UTC readings of a wall-clock time (fold 0 and fold 1) and whether it exists at all."""
    early = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    exists = early.astimezone(zone).replace(tzinfo=None) == naive or late.astimezone(zone).replace(tzinfo=None) == naive
    return early, late, exists


def parse_time(
    text: str,
    zone: str = DEFAULT_ZONE,
    *,
    ambiguous: Literal["raise", "earlier", "later"] = "raise",
) -> datetime:
    """A time a person typed, as UTC. ISO 8601 with an offset (``2022-07-19T00:00:00+09:00``, ``...Z``)
    is taken as given; without one it is wall-clock time in the shop's ``zone``.

    A wall-clock time that does not exist (skipped by a DST change) is refused; one that happens
    twice (the hour repeated when DST ends) is refused unless ``ambiguous`` picks a reading."""
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise IncidentError(
            f"cannot read time {raw[:80]!r}", hint="use ISO 8601, e.g. 2022-07-19T00:00:00+09:00 or 2022-07-19 00:00:00"
        ) from exc
    if parsed.tzinfo is not None:
        return floor_second(parsed.astimezone(UTC))
    tz = zone_info(zone)
    early, late, exists = _candidates(parsed, tz)
    if not exists:
        raise IncidentError(
            f"{raw[:80]!r} does not exist in {zone} (skipped by a daylight-saving change)",
            hint="give the time with its UTC offset",
        )
    if early != late:
        if ambiguous == "raise":
            raise IncidentError(
                f"{raw[:80]!r} happens twice in {zone} (daylight-saving change)",
                hint="give the time with its UTC offset",
            )
        return floor_second(early if ambiguous == "earlier" else late)
    return floor_second(early)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) whose local date is ``day``: midnight, or the end of a DST gap that
    swallowed midnight (some zones change at 00:00)."""
    naive = datetime(day.year, day.month, day.day)
    for minute in range(0, 24 * 60, 15):
        early, _late, exists = _candidates(naive + timedelta(minutes=minute), tz)
        if exists:
            if minute == 0:
                return early
            # the gap ended somewhere in the last 15 minutes: find the transition to the second
            lo = early - timedelta(minutes=15)
            while lo.astimezone(tz).date() < day:
                lo += timedelta(seconds=1)
            return lo
    raise IncidentError(f"{day} has no start in {tz.key}")  # pragma: no cover - no zone skips a day this way


def local_day_span(first: date, last: date, zone: str = DEFAULT_ZONE) -> tuple[datetime, datetime]:
    """The UTC instants of ``first`` 00:00:00 and ``last`` 23:59:59 in ``zone``: "19 to 28 July
    2022 JST" is 2022-07-18T15:00:00Z .. 2022-07-28T14:59:59Z. DST days are 23 or 25 hours long."""
    if last < first:
        raise IncidentError(f"day span {first}..{last} ends before it starts")
    tz = zone_info(zone)
    return _day_start(first, tz), _day_start(last + timedelta(days=1), tz) - timedelta(seconds=1)


# ---------------------------------------------------------------------------------------------
# Observations from the scanner's history


class SightingLike(Protocol):
    """One scan's look at a finding's page (the store's ``SightingRow``)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def scan_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def path(self) -> str: ...
    @property
    def seen(self) -> bool: ...


def observations_from_sightings(incident: Incident, sightings: Iterable[SightingLike]) -> tuple[Observation, ...]:
    """Turn per-finding sightings into per-variant observations: a scan that visited a page saw the
    variant if it saw any of the variant's findings there, and saw the page clean of it if it saw
    none. Sightings of findings that belong to no variant are ignored."""
    by_fingerprint = {fp: v.name for v in incident.variants for fp in v.fingerprints}
    looks: dict[tuple[str, str, str], tuple[datetime, bool]] = {}
    for s in sightings:
        variant = by_fingerprint.get(s.fingerprint)
        if variant is None:
            continue
        key = (s.scan_id, variant, normalize_path(s.path))
        at = require_utc(s.at, f"scan {s.scan_id}")
        previous = looks.get(key)
        looks[key] = (min(at, previous[0]) if previous else at, s.seen or (previous is not None and previous[1]))
    out = [
        Observation(
            at=at,
            page=path,
            state=ObservationState.SKIMMER if seen else ObservationState.CLEAN,
            source=scan_id,
            variant=variant,
        )
        for (scan_id, variant, path), (at, seen) in looks.items()
    ]
    out.sort(key=lambda o: (o.at, o.page, o.variant or "", o.source))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Windows


@dataclass(frozen=True)
class _Episode:
    """One appearance of the skimmer on a page, as the looks bound it."""

    earliest_start: datetime | None  # the last clean look before (None: none)
    start_source: str
    first_skimmer: datetime | None
    first_source: str
    last_skimmer: datetime | None
    latest_end: datetime | None  # the first clean look after (None: still there)
    end_source: str


def _episodes(observations: Sequence[Observation]) -> list[_Episode]:
    # clean before skimmer at the same second: the skimmer appeared in that second, not before it
    ordered = sorted(observations, key=lambda o: (o.at, o.state is ObservationState.SKIMMER, o.source))
    episodes: list[_Episode] = []
    last_clean: tuple[datetime, str] | None = None
    current: _Episode | None = None
    for o in ordered:
        if o.state is ObservationState.CLEAN:
            if current is not None:
                episodes.append(dataclasses.replace(current, latest_end=o.at, end_source=o.source))
                current = None
            last_clean = (o.at, o.source)
        elif current is None:
            current = _Episode(
                earliest_start=last_clean[0] if last_clean else None,
                start_source=last_clean[1] if last_clean else "",
                first_skimmer=o.at,
                first_source=o.source,
                last_skimmer=o.at,
                latest_end=None,
                end_source="",
            )
        else:
            current = dataclasses.replace(current, last_skimmer=o.at)
    if current is not None:
        episodes.append(current)
    return episodes


def _payment_stop_ends(variant: Variant) -> bool:
    """Does switching card payment off end this variant's exposure? Only for a skimmer that reads the
    real card form: a fake form keeps taking cards, and a personal-data skimmer never needed them."""
    return variant.kind is VariantKind.CARD and not variant.fake_form


def _same_page(seen: str, page: str) -> bool:
    """Is ``seen`` (a path) the variant page ``page``? A page ending in ``*`` is a prefix pattern
    (``/shopping/*``), as scoping reads it; the pattern itself also matches (evidence given for it)."""
    path = normalize_path(seen)
    if page.endswith("*"):
        return path == page or path.startswith(page[:-1])
    return path == page


def _applies(ev: WindowEvidence, variant: str, page: str) -> bool:
    return (ev.variant is None or ev.variant == variant) and (ev.page is None or _same_page(ev.page, page))


def _rank(ev: WindowEvidence, forced_out: bool) -> int:
    """Which refinement of an edge wins: one a human forced past the looks, then a human's own time
    (including payment stopped), then file times and access logs."""
    if forced_out:
        return 0
    if ev.kind in (EvidenceKind.USER, EvidenceKind.PAYMENT_STOPPED):
        return 1
    return 2


def _describe(ev: WindowEvidence) -> str:
    return f"{ev.kind.value}: {ev.source}" if ev.source else ev.kind.value


def exposure_windows(
    variant: Variant,
    page: str,
    observations: Iterable[Observation],
    evidence: Iterable[WindowEvidence] = (),
    *,
    earliest_data: datetime | None = None,
) -> tuple[ExposureWindow, ...]:
    """The windows (one per appearance) of ``variant`` on ``page``.

    ``observations`` may hold looks at other pages and variants; only the relevant ones are used (an
    observation with no variant applies to every variant). ``earliest_data`` is the time of the
    oldest imported record: when no clean look precedes the skimmer, the window starts there and is
    flagged unbounded (None when not given: before everything). Raises :class:`IncidentError` when
    a forced edge would put the end before the start."""
    page = normalize_path(page)
    obs = [
        dataclasses.replace(o, at=floor_second(require_utc(o.at, f"observation {o.source}")))
        for o in observations
        if _same_page(o.page, page) and (o.variant is None or o.variant == variant.name)
    ]
    evs = [
        dataclasses.replace(e, at=floor_second(require_utc(e.at, f"evidence {e.source[:60]}")))
        for e in evidence
        if _applies(e, variant.name, page)
    ]
    data_start = floor_second(require_utc(earliest_data, "earliest data")) if earliest_data is not None else None
    episodes = _episodes(obs)
    if not episodes:
        return _evidence_only(variant, page, evs, data_start)

    notes: list[list[tuple[WindowEvidence, WindowNote]]] = [[] for _ in episodes]
    starts: list[list[tuple[int, WindowEvidence]]] = [[] for _ in episodes]
    ends: list[list[tuple[int, WindowEvidence]]] = [[] for _ in episodes]
    stops_card = _payment_stop_ends(variant)

    for ev in evs:
        t = ev.at
        if ev.edge is Edge.START:
            if ev.kind is EvidenceKind.PAYMENT_STOPPED:
                notes[0].append((ev, WindowNote.WRONG_EDGE))
                continue
            inside = [
                i
                for i, ep in enumerate(episodes)
                if (ep.earliest_start is None or ep.earliest_start <= t)
                and ep.first_skimmer is not None
                and t <= ep.first_skimmer
            ]
            if inside:
                starts[inside[0]].append((_rank(ev, False), ev))
                continue
            # nearest: the appearance this start would belong to (the next one seen after it)
            nearest = next(
                (i for i, ep in enumerate(episodes) if ep.first_skimmer is not None and ep.first_skimmer >= t),
                len(episodes) - 1,
            )
            if ev.forced:
                starts[nearest].append((_rank(ev, True), ev))
            else:
                notes[nearest].append((ev, WindowNote.OUT_OF_BOUNDS))
        else:
            if ev.kind is EvidenceKind.PAYMENT_STOPPED and not stops_card:
                notes[-1].append((ev, WindowNote.NOT_AN_END))
                continue
            inside = []
            for i, ep in enumerate(episodes):
                # payment stopped ends exposure even while the (now harmless) script is still seen
                lower = ep.earliest_start if ev.kind is EvidenceKind.PAYMENT_STOPPED else ep.last_skimmer
                if (lower is None or lower <= t) and (ep.latest_end is None or t <= ep.latest_end):
                    inside.append(i)
            if inside:
                ends[inside[0]].append((_rank(ev, False), ev))
                continue
            before = [i for i, ep in enumerate(episodes) if ep.last_skimmer is not None and ep.last_skimmer <= t]
            nearest = before[-1] if before else 0
            if ev.forced:
                ends[nearest].append((_rank(ev, True), ev))
            else:
                notes[nearest].append((ev, WindowNote.OUT_OF_BOUNDS))

    out: list[ExposureWindow] = []
    for i, ep in enumerate(episodes):
        start: datetime | None
        if ep.earliest_start is not None:
            start, start_basis, start_source = ep.earliest_start, WindowBasis.LAST_CLEAN, ep.start_source
        else:
            assert ep.first_skimmer is not None
            start = min(data_start, ep.first_skimmer) if data_start is not None else None
            start_basis, start_source = WindowBasis.EARLIEST_DATA, "no clean look before the first sighting"
        if starts[i]:
            best_rank = min(r for r, _ in starts[i])
            pool = [e for r, e in starts[i] if r == best_rank]
            chosen = min(pool, key=lambda e: e.at)  # the earliest: as far as all that evidence agrees
            start = chosen.at
            start_basis = WindowBasis.FORCED if best_rank == 0 else WindowBasis.EVIDENCE
            start_source = _describe(chosen)
            for r, e in starts[i]:
                if e is chosen:
                    notes[i].append((e, WindowNote.FORCED if r == 0 else WindowNote.USED))
                else:
                    notes[i].append((e, WindowNote.OVERRIDDEN))

        end: datetime | None
        if ep.latest_end is not None:
            end, end_basis, end_source = ep.latest_end, WindowBasis.FIRST_CLEAN, ep.end_source
        else:
            end, end_basis, end_source = None, WindowBasis.ONGOING, "no clean look since the skimmer was seen"
        if ends[i]:
            best_rank = min(r for r, _ in ends[i])
            pool = [e for r, e in ends[i] if r == best_rank]
            chosen = max(pool, key=lambda e: e.at)  # the latest: the conservative end
            end = chosen.at
            end_basis = WindowBasis.FORCED if best_rank == 0 else WindowBasis.EVIDENCE
            end_source = _describe(chosen)
            for r, e in ends[i]:
                if e is chosen:
                    notes[i].append((e, WindowNote.FORCED if r == 0 else WindowNote.USED))
                else:
                    notes[i].append((e, WindowNote.OVERRIDDEN))

        if start is not None and end is not None and end < start:
            raise IncidentError(
                f"window of {variant.name!r} on {page}: end {end.isoformat()} before start {start.isoformat()}",
                hint="check the forced or payment-stopped time",
            )
        out.append(
            ExposureWindow(
                variant=variant.name,
                page=page,
                start=start,
                end=end,
                start_basis=start_basis,
                end_basis=end_basis,
                first_skimmer=ep.first_skimmer,
                last_skimmer=ep.last_skimmer,
                earliest_start=ep.earliest_start,
                latest_end=ep.latest_end,
                start_source=start_source,
                end_source=end_source,
                evidence=_in_input_order(notes[i], evs),
                episode=i,
            )
        )
    return tuple(out)


def _in_input_order(
    notes: list[tuple[WindowEvidence, WindowNote]], evs: list[WindowEvidence]
) -> tuple[tuple[WindowEvidence, WindowNote], ...]:
    position = {id(e): n for n, e in enumerate(evs)}
    return tuple(sorted(notes, key=lambda pair: position[id(pair[0])]))


def _evidence_only(
    variant: Variant, page: str, evs: list[WindowEvidence], data_start: datetime | None
) -> tuple[ExposureWindow, ...]:
    """No look ever saw the skimmer on this page (it was found by the card company, or before
    skimguard watched the page): the window rests on the evidence alone. Clean looks are no bound
    for a skimmer the scanner never saw. With an end but no start, the start is unbounded; with
    neither, there is no window."""
    notes: list[tuple[WindowEvidence, WindowNote]] = []
    stops_card = _payment_stop_ends(variant)
    starts = [e for e in evs if e.edge is Edge.START and e.kind is not EvidenceKind.PAYMENT_STOPPED]
    ends = [e for e in evs if e.edge is Edge.END and (e.kind is not EvidenceKind.PAYMENT_STOPPED or stops_card)]
    start_ev = end_ev = None
    if starts:
        start_rank = min(_rank(e, False) for e in starts)
        start_ev = min((e for e in starts if _rank(e, False) == start_rank), key=lambda e: e.at)
    if ends:
        end_rank = min(_rank(e, False) for e in ends)
        end_ev = max((e for e in ends if _rank(e, False) == end_rank), key=lambda e: e.at)
    if start_ev is None and end_ev is None:
        return ()
    for e in evs:
        if e is start_ev or e is end_ev:
            notes.append((e, WindowNote.USED))
        elif e.kind is EvidenceKind.PAYMENT_STOPPED and e.edge is Edge.START:
            notes.append((e, WindowNote.WRONG_EDGE))
        elif e.kind is EvidenceKind.PAYMENT_STOPPED and not stops_card:
            notes.append((e, WindowNote.NOT_AN_END))
        else:
            notes.append((e, WindowNote.OVERRIDDEN))
    end = end_ev.at if end_ev is not None else None
    if start_ev is not None:
        start: datetime | None = start_ev.at
        start_basis, start_source = WindowBasis.EVIDENCE, _describe(start_ev)
    else:
        start = min(data_start, end) if data_start is not None and end is not None else data_start
        start_basis, start_source = WindowBasis.EARLIEST_DATA, "no start given and the skimmer was never seen"
    if start is not None and end is not None and end < start:
        raise IncidentError(
            f"window of {variant.name!r} on {page}: end {end.isoformat()} before start {start.isoformat()}",
            hint="check the evidence times",
        )
    return (
        ExposureWindow(
            variant=variant.name,
            page=page,
            start=start,
            end=end,
            start_basis=start_basis,
            end_basis=WindowBasis.EVIDENCE if end_ev is not None else WindowBasis.ONGOING,
            first_skimmer=None,
            last_skimmer=None,
            earliest_start=None,
            latest_end=None,
            start_source=start_source,
            end_source=_describe(end_ev) if end_ev is not None else "no end given",
            evidence=tuple(notes),
        ),
    )


def incident_windows(
    incident: Incident,
    observations: Iterable[Observation],
    evidence: Iterable[WindowEvidence] = (),
    *,
    earliest_data: datetime | None = None,
) -> tuple[ExposureWindow, ...]:
    """Every window of every variant on every one of its pages, in variant then page order."""
    obs = tuple(observations)
    evs = tuple(evidence)
    out: list[ExposureWindow] = []
    for variant in incident.variants:
        for page in variant.pages:
            out.extend(exposure_windows(variant, page, obs, evs, earliest_data=earliest_data))
    return tuple(out)
